"""Names are not paths (issue 11, point 5).

A built-in id (``qrm-cci``, ``daily-phantom-qa``, ``cac-standard``, ``dose-reference``) is never
looked up in the working directory, even when a file or folder of that name (with or without
``.toml``) is planted there; only an argument that looks like a path (a folder separator, or a
name ending in ``.toml``) is read as a file; an unknown id is refused listing the known ones.
A site's own phantom with its own id is used with a procedure naming that id.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.errors import DefinitionError
from qa.procedures import (
    available_phantoms, available_procedures, available_protocols, load_dose_tables, load_phantom, load_procedure, load_protocol,
)
from qa.procedures.builtin import builtin_dir

PLANTED = 'this is no definition: a planted file must never be read\n[phantom]\nid = "planted"\n'


def _plant(folder: Path, name: str) -> None:
    """A file ./NAME, a file ./NAME.toml and a folder ./NAME.d, all hostile."""
    (folder / name).write_text(PLANTED)
    (folder / f"{name}.toml").write_text(PLANTED)
    (folder / f"{name}.d").mkdir()


def _qa(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("load, name, folder", [
    (load_phantom, "qrm-cci", "phantoms"),
    (load_procedure, "daily-phantom-qa", "procedures"),
    (load_protocol, "cac-standard", "procedures"),
    (load_protocol, "cac-ge", "procedures"),
    (load_dose_tables, "dose-reference", "procedures"),
])
def test_a_planted_file_named_like_a_builtin_is_ignored(tmp_path, monkeypatch, load, name, folder):
    _plant(tmp_path, name)
    monkeypatch.chdir(tmp_path)
    assert load(name).path == str(builtin_dir(folder) / f"{name}.toml")


def test_only_what_looks_like_a_path_is_read_as_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _plant(tmp_path, "qrm-cci")
    # a name ending in .toml, or with a folder in it, is a file: this one is the planted one, and refused as such
    for given in ("qrm-cci.toml", "./qrm-cci", str(tmp_path / "qrm-cci")):
        with pytest.raises(DefinitionError) as info:
            load_phantom(given)
        assert Path(info.value.path) == Path(given)  # the file named, not the built-in


@pytest.mark.parametrize("load, available, name", [
    (load_phantom, available_phantoms, "acme-cci"),
    (load_procedure, available_procedures, "weekly-qa"),
    (load_protocol, available_protocols, "cac-acme"),
    (load_dose_tables, lambda: ["dose-reference"], "dose-acme"),
])
def test_an_unknown_id_lists_the_known_ones(tmp_path, monkeypatch, load, available, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(PLANTED)  # even when the working directory has a file of that name
    with pytest.raises(DefinitionError, match=f"no built-in .* called '{name}'") as info:
        load(name)
    assert all(known in info.value.hint for known in available())


@pytest.mark.parametrize("odd", ["..", ".", "", " ", "-", "qrm-cci\x00", "~", "qrm cci", "README", "QRM-CCI"])
def test_odd_names_are_refused_never_an_internal_error(odd):
    with pytest.raises(DefinitionError):
        load_phantom(odd)


def test_the_command_ignores_planted_files_and_lists_known_ids(tmp_path, small_phantom):
    _plant(tmp_path, "qrm-cci")
    _plant(tmp_path, "daily-phantom-qa")
    run = _qa("phantom", str(small_phantom.out_dir), "--no-store", "--json", cwd=tmp_path)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    doc = json.loads(run.stdout)
    assert doc["phantom"] == "qrm-cci"
    unknown = _qa("phantom", str(small_phantom.out_dir), "--no-store", "--procedure", "weekly-qa", "--json", cwd=tmp_path)
    assert unknown.returncode == 2
    error = json.loads(unknown.stdout)["error"]
    assert "weekly-qa" in error["message"] and "daily-phantom-qa" in error["hint"]


def _site_phantom(folder: Path) -> Path:
    """A copy of the built-in phantom with its own id and one changed value (the insert's HU)."""
    text = (builtin_dir("phantoms") / "qrm-cci.toml").read_text(encoding="utf-8")
    assert 'id = "qrm-cci"' in text and "hu = 50.0" in text
    path = folder / "site" / "our-cci.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace('id = "qrm-cci"', 'id = "our-cci"', 1).replace("hu = 50.0", "hu = 55.0", 1), encoding="utf-8")
    return path


def _site_procedure(folder: Path, phantom: str) -> Path:
    text = (builtin_dir("procedures") / "daily-phantom-qa.toml").read_text(encoding="utf-8")
    assert 'phantom = "qrm-cci"' in text
    path = folder / "site" / "our-qa.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace('phantom = "qrm-cci"', f'phantom = "{phantom}"', 1), encoding="utf-8")
    return path


def test_a_sites_phantom_with_its_own_id_is_used_with_a_procedure_naming_it(tmp_path, small_phantom):
    phantom = _site_phantom(tmp_path)
    procedure = _site_procedure(tmp_path, "our-cci")
    definition = load_phantom(phantom)
    assert definition.id == "our-cci" and definition.insert_hu == 55.0
    record = load_procedure(procedure, phantom=definition)
    assert record.phantom == "our-cci" and record.phantom_path == str(phantom)
    # without the phantom's file, the procedure says what to give
    with pytest.raises(DefinitionError, match="--phantom PATH") as info:
        load_procedure(procedure)
    assert info.value.key == "procedure.phantom"
    db = tmp_path / "qa.sqlite"
    run = _qa("phantom", str(small_phantom.out_dir), "--phantom", str(phantom), "--procedure", str(procedure),
              "--db", f"sqlite:///{db}", "--json", cwd=tmp_path)
    assert run.returncode in (0, 1), run.stderr[-3000:]
    doc = json.loads(run.stdout)
    assert doc["phantom"] == "our-cci" and doc["stored"]["run_id"]
    sources = json.dumps(doc)
    assert str(phantom) in sources and str(procedure) in sources  # provenance names the site's files
    # baseline and trend read the same procedure, given the phantom
    trend = _qa("trend", "--scanner", doc["scanner"]["station_name"] or "1", "--procedure", str(procedure), "--phantom",
                str(phantom), "--db", f"sqlite:///{db}", "--json", cwd=tmp_path)
    assert trend.returncode == 0, trend.stderr[-2000:]


def test_a_procedure_for_another_phantom_is_refused_before_the_series_is_read(tmp_path):
    phantom = _site_phantom(tmp_path)
    run = _qa("phantom", str(tmp_path / "no-series-here"), "--phantom", str(phantom), "--no-store", "--json", cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    error = json.loads(run.stdout)["error"]
    assert error["field"] == "procedure.phantom" and "our-cci" in error["message"], error
    assert error["file"].endswith("daily-phantom-qa.toml")


def test_a_procedure_names_its_phantom_by_a_path_relative_to_itself(tmp_path):
    phantom = _site_phantom(tmp_path)
    procedure = _site_procedure(tmp_path, "our-cci.toml")  # next to the procedure, whatever the working directory
    record = load_procedure(procedure)
    assert record.phantom == "our-cci" and Path(record.phantom_path).resolve() == phantom.resolve()
