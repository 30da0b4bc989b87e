"""Procedure files: the built-in daily QA, and malformed files refused with the file and key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import DefinitionError
from qa.procedures import available_procedures, load_procedure

BUILTIN = Path(__file__).resolve().parents[1] / "procedures" / "daily-phantom-qa.toml"


def test_the_builtin_daily_procedure():
    procedure = load_procedure("daily-phantom-qa")
    assert "daily-phantom-qa" in available_procedures()
    assert procedure.phantom == "qrm-cci" and procedure.scoring_method == "standard"
    assert set(procedure.required_detections) == {"800_5mm", "400_5mm", "200_5mm", "800_3mm", "400_3mm"}
    rules = {r.id: r for r in procedure.checks}
    assert (rules["mass_800_5mm"].tolerance, rules["mass_800_5mm"].action, rules["mass_800_5mm"].relative) == (10.0, 15.0, True)
    assert (rules["total_mass"].action, rules["c_ha"].action, rules["noise_hu"].action) == (10.0, 5.0, 20.0)
    assert (rules["water_hu"].action, rules["water_hu"].relative) == (10.0, False)
    assert procedure.baseline_min_runs == 5 and procedure.tighten_after_runs == 20 and procedure.tighten_sd == 3.0
    assert "not a published standard" in procedure.source
    assert len(procedure.sha256) == 64


@pytest.mark.parametrize(
    "old, new, key, message",
    [
        ('kind = "phantom-qa"', 'kind = "exam"', "procedure.kind", "phantom-qa"),
        ('phantom = "qrm-cci"', 'phantom = "acme"', "procedure.phantom", "not a built-in phantom"),
        ('method = "standard"', 'method = "fancy"', "scoring.method", "must be one of"),
        ("expected = 120\n", "expected = 120\nrange = [100, 140]\n", "acquisition.kvp", "exactly one of"),
        ('range = [0.5, 20.0]', 'range = [20.0, 0.5]', "acquisition.ctdivol_mgy.range", "[low, high]"),
        ('insert = "800_5mm"\nreference = "baseline"', 'insert = "800_7mm"\nreference = "baseline"', "checks[0].insert", "not an insert"),
        ('reference = "baseline"\ntolerance_pct = 10.0\naction_pct = 15.0', 'reference = "baseline"\ntolerance_pct = 20.0\naction_pct = 15.0',
         "checks[0].action_pct", "must not be tighter"),
        ('metric = "c_ha_mg_per_cm3_hu"', 'metric = "c_ha"', "checks[4].metric", "not a whole-phantom metric"),
        ('required = ["800_5mm"', 'required = ["900_5mm"', "detection.required[0]", "not an insert"),
        ('range = [1.0, 2000.0]\nseverity = "warn"', 'range = [1.0, 2000.0]\nseverity = "maybe"', "acquisition.exposure_mas.severity",
         "must be one of"),
        ('baseline_tolerance_pct = 10.0\n\n[acquisition.exposure_mas]', 'baseline_tolerance_pct = "ten"\n\n[acquisition.exposure_mas]',
         "acquisition.ctdivol_mgy.baseline_tolerance_pct", "must be a number"),
        ('[acquisition.kvp]\nexpected = 120', '[acquisition.kvp]\nexpected = 120\nbaseline_tolerance_pct = 5', "acquisition.kvp.baseline_tolerance_pct",
         "ctdivol_mgy and exposure_mas only"),
        ('[acquisition.kvp]\nexpected = 120', '[acquisition.kvp]\nexpected = 120\ntolerence = 5', "acquisition.kvp.tolerence", "unknown key"),
    ],
)
def test_malformed_procedures_name_the_file_and_key(tmp_path, old, new, key, message):
    text = BUILTIN.read_text()
    assert old in text
    path = tmp_path / "procedure.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DefinitionError) as info:
        load_procedure(path)
    assert info.value.key == key and message in str(info.value) and str(path) in str(info.value)
    assert info.value.hint


def test_unknown_procedures_and_broken_toml(tmp_path):
    with pytest.raises(DefinitionError, match="no built-in procedure"):
        load_procedure("weekly-everything")
    broken = tmp_path / "x.toml"
    broken.write_text("[procedure\n")
    with pytest.raises(DefinitionError, match="not valid TOML"):
        load_procedure(broken)
