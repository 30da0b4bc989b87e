"""The ring measured from the image keys the baseline: a physicist who forgets --ring gets the same
configuration every day; qa baseline set selects the runs of one configuration and says which.

End to end through ``qa.cli.main`` on real synthetic DICOM and a real database (SQLite, and
PostgreSQL where QA_TEST_POSTGRES_URL names a server)."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from qa.cli import main

SCANNER = "CT-R"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """Five daily scans of the bare thorax, then two with the large ring (a 256 mm field of view)."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    root = tmp_path_factory.mktemp("ring_days")
    folders = []
    for day in range(7):
        folder = root / f"day{day + 1}"
        synthesize_phantom(folder, SynthOptions(
            pixel_mm=1.0, matrix=256, z_start_mm=-12.0, z_end_mm=45.0, noise_hu=8.0, seed=200 + day, ring=day >= 5,
            acquisition_datetime=f"2026-04-0{day + 1}T07:30:00", station_name=SCANNER, device_serial_number="R-001"))
        folders.append(folder)
    return folders


def _phantom(capsys, folder, db, *extra):
    code, out, err = run(capsys, "phantom", folder, "--db", db, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_without_ring_each_run_is_configured_by_the_ring_its_image_shows(capsys, days, tmp_path):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    bare, ringed = _phantom(capsys, days[0], db), _phantom(capsys, days[5], db)
    assert (bare["ring"]["ring"], bare["ring"]["source"], bare["configuration"]["ring"]) == ("none", "measured", "none")
    assert (ringed["ring"]["ring"], ringed["ring"]["source"], ringed["configuration"]["ring"]) == ("large", "measured", "large")
    assert ringed["acquisition"]["ring_source"] == "measured" and ringed["ring"]["measurement"]["evidence"]
    from qa.store import Store

    store = Store(db, read_only=True)
    try:  # the stored run keeps the measured ring, its source and the evidence
        stored = store.run_document(ringed["stored"]["run_id"])
    finally:
        store.close()
    assert stored["ring"] == ringed["ring"] and stored["acquisition"]["ring_source"] == "measured"


def test_baseline_set_selects_one_configuration_lists_the_others_and_its_hint_works(capsys, days, store_url):
    for folder in days:
        _phantom(capsys, folder, store_url)
    # the latest runs wear the ring: only two of them, and the hint names the bare thorax's five
    code, _, err = run(capsys, "baseline", "set", "--scanner", SCANNER, "--db", store_url)
    assert code == 2 and "only 2 usable run(s)" in err and "ring large" in err and "5 of ring none" in err
    hinted = re.search(r"(qa baseline set .*)$", err.strip().splitlines()[-1]).group(1)
    hinted = hinted.removesuffix(" (with your password in place of ***)")  # PostgreSQL: the password is never printed
    assert hinted.endswith("--ring none --from-last 5") and "--db " in hinted
    code, out, err = run(capsys, *shlex.split(hinted)[1:], "--db", store_url, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [r["run_id"] for r in doc["selected"]] == [1, 2, 3, 4, 5] and doc["baseline"]["configuration"]["ring"] == "none"
    assert doc["configuration_text"].startswith("ring none, 120 kV")
    assert [(r["run_id"], r["why"]) for r in doc["left_out"]] == [(6, "another configuration: ring large (not none)"),
                                                                   (7, "another configuration: ring large (not none)")]
    assert all(r["acquired_at"].startswith("2026-04-0") for r in doc["selected"] + doc["left_out"])
    code, out, _ = run(capsys, *shlex.split(hinted)[1:], "--db", store_url)
    assert code == 0 and "selected: #1 " in out and "#6 2026-04-06" in out and "another configuration: ring large (not none)" in out
    # a later run, still without --ring, finds that baseline by its measured ring; a ringed one is a configuration change
    again = _phantom(capsys, days[2], store_url, "--no-store")
    checks = {c["id"]: c for c in again["checks"]}
    assert checks["configuration"]["status"] == "pass" and checks["mass_800_5mm"]["status"] != "not_available"
    changed = {c["id"]: c for c in _phantom(capsys, days[6], store_url, "--no-store")["checks"]}
    assert changed["configuration"]["status"] == "warn" and "ring large (baseline none)" in changed["configuration"]["message"]


def test_too_few_runs_of_a_configuration_get_a_hint_that_fits(capsys, days, tmp_path):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in days:
        _phantom(capsys, folder, db)
    # enough for the procedure, fewer than asked: use the ones there are
    code, _, err = run(capsys, "baseline", "set", "--scanner", SCANNER, "--ring", "none", "--from-last", "6", "--db", db)
    assert code == 2 and "only 5 usable run(s)" in err and "--ring none --from-last 5" in err
    # a run's configuration, named by the run
    code, out, _ = run(capsys, "baseline", "set", "--scanner", SCANNER, "--like-run", "3", "--db", db, "--json")
    assert code == 0 and json.loads(out)["baseline"]["configuration"]["ring"] == "none"
    code, _, err = run(capsys, "baseline", "set", "--scanner", SCANNER, "--like-run", "99", "--db", db)
    assert code == 2 and "run #99 is not a stored run" in err


def test_too_few_runs_everywhere_says_how_many_more_to_acquire(capsys, days, tmp_path):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in days[5:]:
        _phantom(capsys, folder, db)
    code, _, err = run(capsys, "baseline", "set", "--scanner", SCANNER, "--db", db)
    assert code == 2 and "acquire 3 more daily run(s) in this configuration" in err
    # pasteable: the scanner as the user named it, and the store they gave
    assert f"qa baseline set --scanner {SCANNER} --db {db} --from-last 5" in err
    code, _, err = run(capsys, "baseline", "set", "--scanner", SCANNER, "--ring", "none", "--db", db)
    assert code == 2 and "no usable run of" in err and "the ring none" in err


def test_a_given_ring_the_image_contradicts_is_used_with_a_warning(capsys, days, tmp_path):
    code, out, err = run(capsys, "phantom", days[0], "--ring", "large", "--no-store", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["ring"]["ring"], doc["ring"]["source"], doc["configuration"]["ring"]) == ("large", "given", "large")
    assert doc["ring"]["measurement"]["ring"] == "none"
    assert any(w.startswith("--ring large contradicts the image, which shows the phantom without a ring") for w in doc["warnings"])
    assert "ring_from_image" in doc["verdict_message"] and doc["verdict"] == "warn"
    assert "ring large (given)" in err and "warning: --ring large contradicts the image" in err


def test_the_hint_of_baseline_set_pastes_as_printed_with_the_db_given(capsys, days, tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'my store.sqlite'}"
    for folder in days[:5]:
        _phantom(capsys, folder, db)
    code, _, err = run(capsys, "baseline", "set", "--scanner", SCANNER, "--from-last", "6", "--db", db)
    assert code == 2
    hinted = re.search(r"(qa baseline set .*)$", err.strip().splitlines()[-1]).group(1)
    assert shlex.split(hinted)[3:] == ["--scanner", SCANNER, "--db", db, "--from-last", "5"]
    monkeypatch.delenv("QA_DB_URL", raising=False)
    code, out, err = run(capsys, *shlex.split(hinted)[1:])  # pasted as printed: the same store, no --db to add
    assert code == 0 and "baseline version 1" in out, err
    # a password is never printed: shown as ***, with what to do about it
    from qa.workflows.baselines import set_command

    shown = set_command("CT 1", "postgresql://qa:secret@db.example/qa")
    assert "secret" not in shown and shown == "qa baseline set --scanner 'CT 1' --db 'postgresql://qa:***@db.example/qa'"
