"""The one loader of definition files: built-ins by id, a site's files by path, clear refusals, no pydantic at start-up."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.compliance.protocol import ExamProtocol
from qa.dose import DoseTables
from qa.errors import DefinitionError
from qa.phantom.definition import PhantomDefinition
from qa.phantom.procedure import PhantomProcedure
from qa.procedures import (
    available_phantoms, available_procedures, available_protocols, load_dose_tables, load_phantom, load_procedure, load_protocol,
)
from qa.procedures.builtin import builtin_dir

REPO = Path(__file__).resolve().parents[2]


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_every_builtin_definition_loads_with_its_path_and_hash():
    loaded = [load_phantom(i) for i in available_phantoms()] + [load_procedure(i) for i in available_procedures()]
    loaded += [load_protocol(i) for i in available_protocols()] + [load_dose_tables("dose-reference")]
    assert available_phantoms() == ["qrm-cci"] and available_procedures() == ["daily-phantom-qa"]
    assert available_protocols() == ["cac-canon", "cac-ge", "cac-philips", "cac-siemens", "cac-standard"]
    for record in loaded:
        assert Path(record.path).parent in (builtin_dir("phantoms"), builtin_dir("procedures"))
        assert record.sha256 == _sha256(record.path)
    kinds = [type(r) for r in loaded]
    assert kinds == [PhantomDefinition, PhantomProcedure] + [ExamProtocol] * 5 + [DoseTables]


def test_records_hold_what_the_files_say():
    protocol = load_protocol("cac-ge")
    assert protocol.vendors == ("GE",) and protocol.k_factor == "cardiac" and protocol.reference_level == "site-cac"
    kvp = protocol.rule("kvp")
    assert kvp.expected == 120 and isinstance(kvp.expected, int)  # kept as written: the report shows 120, not 120.0
    assert protocol.rule("gating_mode").mode_severity == (("retrospective", "warn"), ("none", "fail"))
    assert protocol.rule("slice_increment").equal_to == "slice_thickness" and protocol.rule("ctdivol").reference == "level"
    assert protocol.gating.predict_beats == 3 and protocol.gating.delay_pct == 70.0 and protocol.gating.delay_ms is None
    procedure = load_procedure("daily-phantom-qa")
    assert [r.key for r in procedure.acquisition] == ["kvp", "slice_thickness_mm", "kernel", "ctdivol_mgy", "exposure_mas", "ring"]
    assert procedure.acquisition[1].allowed == (2.5, 3.0) and procedure.acquisition[3].range == (0.5, 20.0)
    assert procedure.acquisition[3].baseline_tolerance_pct == 10.0 and procedure.detection_severity == "fail"
    tables = load_dose_tables()
    assert tables.k_factors["cardiac"].regions == (("T-32000", "SRT"), ("80891009", "SCT"))
    assert tables.defaults == {"head16": "head", "body32": "chest", "unknown": "chest"}
    phantom = load_phantom("qrm-cci")
    assert (phantom.water_rod_id, phantom.ha_rod_id) == ("water", "ha200") and phantom.insert_z_range_mm == (-45.0, 45.0)
    assert phantom.hu_model.ha_hu_per_mgha_cm3[0] == (70.0, 2.2) and phantom.body[0].only_with_ring


def _site_copy(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text()
    assert old in text
    path = tmp_path / "site" / f"ours-{source.name}"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_sites_own_files_load_by_path(tmp_path):
    procedures = builtin_dir("procedures")
    phantom = _site_copy(tmp_path, builtin_dir("phantoms") / "qrm-cci.toml", 'id = "qrm-cci"', 'id = "our-cci"')
    procedure = _site_copy(tmp_path, procedures / "daily-phantom-qa.toml", 'phantom = "qrm-cci"', f'phantom = "{phantom}"')
    protocol = _site_copy(tmp_path, procedures / "cac-siemens.toml", "maximum = 70.0", "maximum = 65.0")
    tables = _site_copy(tmp_path, procedures / "dose-reference.toml", "dose_msv = 5.2", "dose_msv = 5.0")  # 200 mGy cm x 0.026, rounded
    assert load_phantom(phantom).id == "our-cci"
    assert load_phantom(str(phantom)).sha256 == _sha256(str(phantom))
    # the procedure names its phantom by path: the record holds the phantom's id and its file
    assert load_procedure(procedure).phantom == "our-cci" and load_procedure(procedure).phantom_path == str(phantom)
    assert load_procedure(procedure).path == str(procedure)
    assert load_protocol(str(protocol)).rule("heart_rate").maximum == 65.0
    site = load_dose_tables(tables)
    assert site.reference_levels[0].dose_msv == 5.0 and site.sha256 != load_dose_tables().sha256


def test_a_builtin_id_is_never_looked_up_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qrm-cci").mkdir()  # a folder named like the built-in phantom
    (tmp_path / "cac-ge").write_text("not a protocol")
    assert load_phantom("qrm-cci").path == str(builtin_dir("phantoms") / "qrm-cci.toml")
    assert load_protocol("cac-ge").id == "cac-ge"
    with pytest.raises(DefinitionError, match="is a folder"):
        load_phantom(Path("qrm-cci"))  # a Path is always a path


def test_unknown_ids_missing_files_and_unreadable_toml_are_refused(tmp_path):
    with pytest.raises(DefinitionError, match="no built-in phantom called 'acme'") as info:
        load_phantom("acme")
    assert "qrm-cci" in info.value.hint
    with pytest.raises(DefinitionError, match="no built-in protocol called 'cac-acme'") as info:
        load_protocol("cac-acme")
    assert "cac-standard" in info.value.hint
    with pytest.raises(DefinitionError, match="no such file") as info:
        load_dose_tables(tmp_path / "nowhere.toml")
    assert info.value.path == str(tmp_path / "nowhere.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[procedure\n")
    with pytest.raises(DefinitionError, match="is not valid TOML") as info:
        load_procedure(broken)
    assert info.value.path == str(broken) and info.value.key is None
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[phantom]\nname = "Phantom f\xfcr CT"\n'.encode("latin-1"))
    with pytest.raises(DefinitionError, match="is not UTF-8 text, as TOML must be"):
        load_phantom(latin)


@pytest.mark.parametrize("load, name, key, words", [
    (load_procedure, "cac-ge", "protocol.kind", 'is "exam-protocol"; qa phantom needs [procedure] kind = "phantom-qa"'),
    (load_protocol, "daily-phantom-qa", "procedure.kind", 'qa check needs [protocol] kind = "exam-protocol"'),
    (load_dose_tables, "cac-standard", "protocol.kind", 'qa dose needs [tables] kind = "dose-tables"'),
])
def test_a_file_of_another_kind_is_named_as_such(load, name, key, words):
    with pytest.raises(DefinitionError) as info:
        load(name)
    assert info.value.key == key and words in info.value.message


def _broken_procedure(tmp_path: Path) -> Path:
    text = (builtin_dir("procedures") / "daily-phantom-qa.toml").read_text()
    path = tmp_path / "broken.toml"
    path.write_text(text.replace("tolerance_pct = 7.0", 'tolerance_pct = "seven"', 1))
    return path


def test_qa_phantom_with_a_broken_procedure_exits_2_naming_file_and_key(tmp_path, small_phantom):
    path = _broken_procedure(tmp_path)
    argv = [sys.executable, "-m", "qa", "phantom", str(small_phantom.out_dir), "--procedure", str(path), "--no-store"]
    human = subprocess.run(argv, capture_output=True, text=True)
    assert human.returncode == 2 and human.stdout == ""
    assert f'{path}: checks[3].tolerance_pct: must be a number, got "seven"' in human.stderr
    machine = subprocess.run(argv + ["--json"], capture_output=True, text=True)
    assert machine.returncode == 2
    doc = json.loads(machine.stdout)
    assert doc["schema"] == "qa.error/1" and doc["exit_code"] == 2 and doc["command"] == "phantom"
    assert doc["error"]["file"] == str(path) and doc["error"]["field"] == "checks[3].tolerance_pct"
    assert "must be a number" in doc["error"]["message"] and "checks[3].tolerance_pct" in doc["error"]["hint"]


def test_import_qa_and_the_help_never_import_pydantic():
    code = "import qa, qa.procedures, qa.cli; qa.cli.build_parser()"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    assert "pydantic" not in out.stderr
    loaded = subprocess.run([sys.executable, "-c", "import sys, qa; qa.load_phantom('qrm-cci'); print('pydantic' in sys.modules)"],
                            capture_output=True, text=True, check=True, env={**os.environ, "QA_DEFINITION_CACHE": "off"})
    assert loaded.stdout.strip() == "True"  # ... it comes with the first validation (not cached: tests/test_definition_cache.py)


ANALYSIS = ["calcium", "phantom", "ecg", "compliance", "records", "dicom", "dose", "control_charts.py"]


def test_analysis_and_records_never_import_pydantic_or_the_loader():
    offenders = []
    for name in ANALYSIS:
        target = REPO / "qa" / name
        for path in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
            for node in ast.walk(ast.parse(path.read_text())):
                modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                           else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(REPO)}: {m}" for m in modules
                              if m.split(".")[0] == "pydantic" or m.startswith("qa.procedures")]
    assert offenders == []


def test_a_protocol_without_an_essential_rule_is_refused(tmp_path):
    """kvp, slice_thickness and gating_mode are judged on every exam: a protocol leaving one out would
    let exams pass unchecked, so it is refused naming the missing rule."""
    from qa.errors import DefinitionError
    from qa.procedures import load_protocol
    from qa.procedures.builtin import builtin_dir

    text = (builtin_dir("procedures") / "cac-standard.toml").read_text()
    for rule in ("kvp", "gating_mode"):
        start = text.index(f"[rules.{rule}]")
        end = text.index("\n[", start + 1)
        path = tmp_path / f"no-{rule}.toml"
        path.write_text(text[:start] + text[end + 1:])
        with pytest.raises(DefinitionError) as info:
            load_protocol(path)
        assert info.value.key == f"rules.{rule}" and "is missing" in info.value.message and str(path) in str(info.value)
