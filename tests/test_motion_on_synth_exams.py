"""qa motion measures what qa synth exam put there: the two are written independently (the
synthesiser renders the shifted anatomy analytically; the analysis registers the images), so
agreement here checks both, through the real command line, on their shared axes and signs."""

from __future__ import annotations

import json
import math

import pytest

from qa.cli import main


def _qa(capsys, *args) -> tuple[int, dict]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("shifts, seed", [
    ((), 21),                                   # motion-free
    (("1:2,0,0", "2:2,0,0", "3:2,0,0"), 22),    # stacks 1-3 two mm to the patient's left: boundary 0|1
    (("2:0,-2.5,0", "3:0,-2.5,0"), 23),         # stacks 2-3 anterior: boundary 1|2
    (("3:1.2,1.6,0",), 24),                     # the last stack, oblique: boundary 2|3
])
def test_motion_recovers_the_synthesised_shift_at_its_own_boundary(shifts, seed, tmp_path, capsys):
    out = tmp_path / "exam"
    args = ["synth", "exam", out, "--seed", seed, "--matrix", 256, "--pixel-mm", 1.0, "--noise-hu", 20]
    for s in shifts:
        args += ["--shift", s]
    code, _ = _qa(capsys, *args, "--json")
    assert code == 0
    truth = json.loads((out / "truth.json").read_text())
    code, doc = _qa(capsys, "motion", out, "--json")
    assert code in (0, 1)
    expected = {tuple(b["between"]): b["shift_mm"] for b in truth["boundaries"]}
    assert [tuple(b["between"]) for b in doc["boundaries"]] == sorted(expected)
    for b in doc["boundaries"]:
        true = expected[tuple(b["between"])]
        for axis in ("lr", "ap"):
            assert b["shift_mm"][axis] == pytest.approx(true[axis], abs=0.5), (b, true)
        moved = math.hypot(true["lr"], true["ap"]) >= 2.0  # the in-plane displacement (warn above 1.5 mm at 3 mm slices)
        assert (b["status"] != "pass") == moved, (b, true)
    assert (doc["status"] == "pass") == (not shifts)
