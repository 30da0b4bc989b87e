"""Every site-editable file fully validated (issue 11, point 8): thousands of mutants, never a crash.

Each built-in definition file (the phantom, the phantom-QA procedure, the exam protocols, the dose
tables) is mutated, seeded and deterministically (a key deleted or renamed, a list item
duplicated, a value replaced by a wrong type, [] / {} / nan / inf / -1 / 0 / huge / an empty or
odd text, a table duplicated, the file cut short, a stray byte), written to a file and loaded
through the real loader.  Either it loads, and then every number of the record is finite and
within its range, or it is refused with a DefinitionError naming the file and the key (only a
file that is not TOML at all has no key).  Never any other exception.  A smaller set runs
through the real ``qa`` command: exit 2 naming the file and key, never 3.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import tomllib
import zlib
from pathlib import Path

import pytest

from qa.errors import DefinitionError
from qa.procedures import load_dose_tables, load_phantom, load_procedure, load_protocol
from qa.procedures.builtin import builtin_dir

sys.path.insert(0, str(Path(__file__).parent))
from definition_mutants import Mutant, mutants  # noqa: E402

MUTANTS_PER_FILE = 400  # x 8 built-in files: 3200 mutants


def _builtin_files() -> list[tuple[str, Path]]:
    files = [("phantom", p) for p in sorted(builtin_dir("phantoms").glob("*.toml"))]
    for path in sorted(builtin_dir("procedures").glob("*.toml")):
        kind = "protocol" if path.stem.startswith("cac-") else "dose" if path.stem.startswith("dose-") else "procedure"
        files.append((kind, path))
    return files


LOADERS = {"phantom": load_phantom, "procedure": load_procedure, "protocol": load_protocol, "dose": load_dose_tables}
FILES = _builtin_files()


def _write(path: Path, mutant: Mutant) -> Path:
    path.write_bytes(mutant.text.encode("utf-8", "surrogatepass"))  # a lone surrogate stays an invalid byte
    return path


def _numbers(value, where: str = ""):
    """(dotted name, number) of every number in a record (dataclasses, mappings, sequences)."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield where, value
    elif dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            yield from _numbers(getattr(value, f.name), f"{where}.{f.name}" if where else f.name)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{where}[{k}]")
    elif isinstance(value, (list, tuple)):
        for n, v in enumerate(value):
            yield from _numbers(v, f"{where}[{n}]")


def _assert_in_range(record, what: str) -> None:
    """Every number of a loaded record is finite, and each kind of number within its range:
    percentages 0-100, sizes positive, densities not negative, k-factors in (0, 1), tolerances not
    negative, reference levels positive; nothing beyond the largest DLP a report can hold."""
    for name, value in _numbers(record):
        leaf = name.rsplit(".", 1)[-1].split("[")[0]
        assert math.isfinite(value), f"{what}: {name} = {value} loaded"
        assert abs(value) <= 1e7, f"{what}: {name} = {value} loaded"
        if leaf.endswith("_pct"):
            assert 0 <= value <= 100, f"{what}: {name} = {value} loaded"
        if leaf in ("diameter_mm", "length_mm", "insert_diameter_mm", "k_msv_per_mgycm"):
            assert value > 0, f"{what}: {name} = {value} loaded"
        if leaf.startswith("density") or leaf.startswith("tolerance") or leaf.startswith("physical_"):
            assert value >= 0, f"{what}: {name} = {value} loaded"
        if leaf == "k_msv_per_mgycm":
            assert value < 1, f"{what}: {name} = {value} loaded"
    for level in getattr(record, "reference_levels", ()):
        for quantity in ("ctdivol_mgy", "dlp_mgycm", "dose_msv"):
            value = getattr(level, quantity)
            assert value is None or value > 0, f"{what}: reference level {level.id} {quantity} = {value} loaded"


@pytest.mark.parametrize("kind, source", FILES, ids=[p.stem for _, p in FILES])
def test_every_mutant_loads_in_range_or_is_refused_naming_file_and_key(tmp_path, kind, source):
    text = source.read_text(encoding="utf-8")
    seed = zlib.crc32(source.name.encode())  # the same mutants on every run
    load = LOADERS[kind]
    path = tmp_path / source.name
    loaded = refused = 0
    for mutant in mutants(text, tomllib.loads(text), MUTANTS_PER_FILE, seed):
        _write(path, mutant)
        what = f"{source.name} with {mutant.what}"
        try:
            record = load(path)
        except DefinitionError as error:
            refused += 1
            assert error.path == str(path), f"{what}: the error names {error.path!r}, not the file"
            if error.key is None:  # only a file that is no TOML (or no UTF-8) at all has no key
                assert "TOML" in error.message or "UTF-8" in error.message or "nested" in error.message, f"{what}: {error}"
            else:
                assert error.key in str(error) and str(path) in str(error), f"{what}: {error}"
            assert error.hint, f"{what}: no hint"
        except Exception as error:  # noqa: BLE001  (anything else is the bug this test looks for)
            pytest.fail(f"{what}: {type(error).__name__}: {error}")
        else:
            loaded += 1
            _assert_in_range(record, what)
    assert refused > MUTANTS_PER_FILE // 3 and loaded > 0, (loaded, refused)  # the mutants do reach both outcomes


# ------------------------------------------------------------------------------------ through the real command

# The values that crashed the command before (issue 11) and their kin, each at a key of a kind of file.
COMMAND_CASES = [
    ("protocol", "cac-standard", ("protocol", "k_factor"), []),
    ("protocol", "cac-standard", ("rules", "kvp", "expected"), math.nan),
    ("protocol", "cac-standard", ("rules", "heart_rate", "maximum"), -1),
    ("protocol", "cac-standard", ("gating", "window_ms"), 1e308),
    ("dose", "dose-reference", ("reference_levels", 0, "protocols"), -1),
    ("dose", "dose-reference", ("k_factors", 0, "k_msv_per_mgycm"), math.inf),
    ("dose", "dose-reference", ("reference_levels", 0, "dlp_mgycm"), 0),
    ("phantom", "qrm-cci", ("calcifications", 0, "diameter_mm"), 1e308),
    ("phantom", "qrm-cci", ("insert", "z_max_mm"), -9223372036854775808),
    ("procedure", "daily-phantom-qa", ("checks", 0, "tolerance_pct"), {}),
    ("procedure", "daily-phantom-qa", ("baseline", "min_sd_pct"), 1e9),
]


def _mutated(tmp_path: Path, name: str, folder: str, key: tuple, value) -> Path:
    from definition_mutants import to_toml

    data = tomllib.loads((builtin_dir(folder) / f"{name}.toml").read_text(encoding="utf-8"))
    target = data
    for part in key[:-1]:
        target = target[part]
    target[key[-1]] = value
    path = tmp_path / f"site-{name}.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def _command(kind: str, path: Path, tmp_path: Path, exam: Path, phantom_series: Path) -> list[str]:
    if kind == "protocol":
        return ["check", str(exam), "--protocol", str(path), "--json"]
    if kind == "dose":
        return ["dose", str(exam), "--dose-tables", str(path), "--json"]
    if kind == "phantom":
        return ["synth", "phantom", str(tmp_path / "out"), "--phantom", str(path), "--json"]
    return ["phantom", str(phantom_series), "--procedure", str(path), "--no-store", "--json"]


def test_the_command_exits_2_naming_file_and_key(tmp_path, small_phantom):
    """Each mutant through its real command (run side by side): exit 2 and one qa.error/1 naming the file and key."""
    series = small_phantom.out_dir  # any CT series: the definition is refused before a series is read
    runs = []
    for n, (kind, name, key, value) in enumerate(COMMAND_CASES):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = _mutated(folder, name, "phantoms" if kind == "phantom" else "procedures", key, value)
        command = [sys.executable, "-m", "qa", *_command(kind, path, folder, series, series)]
        runs.append((kind, name, key, path, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                               text=True, cwd=folder)))
    for kind, name, key, path, proc in runs:
        out, err = proc.communicate(timeout=120)
        what = f"{name} with {'.'.join(map(str, key))} mutated"
        assert proc.returncode == 2, f"{what}: exit {proc.returncode}\n{err[-2000:]}"
        doc = json.loads(out)
        assert doc["schema"] == "qa.error/1" and doc["error"]["file"] == str(path), (what, doc)
        assert doc["error"]["field"] and doc["error"]["field"].startswith(str(key[0])), (what, doc)
        assert str(path) in err and doc["error"]["field"] in err and "Traceback" not in err, (what, err)


def test_files_no_person_writes_are_refused_naming_the_file(tmp_path):
    """Nested thousands deep, larger than any definition, a FIFO (never opened: it would block), a folder."""
    import os

    deep, big, fifo, folder = tmp_path / "deep.toml", tmp_path / "big.toml", tmp_path / "fifo.toml", tmp_path / "folder.toml"
    deep.write_text("a = " + "[" * 200_000)
    big.write_bytes(b"#" * (5 * 2**20))
    os.mkfifo(fifo)
    folder.mkdir()
    for path, words in ((deep, "nested too deeply"), (big, "no definition file is larger"), (fifo, "not a regular file"),
                        (folder, "is a folder")):
        for load in LOADERS.values():
            with pytest.raises(DefinitionError, match=words) as info:
                load(path)
            assert info.value.path == str(path)
