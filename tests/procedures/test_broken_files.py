"""Broken definition files, one mistake each: refused with the file, the dotted key and plain words.

Each case edits a built-in file (the first occurrence of ``old`` becomes ``new``) and states the
key that must be named and words the message must hold.  Every kind has unknown keys, wrong
types, a text and a bool where a number belongs, NaN and infinity, a missing key, values out of
range, and each rule between keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import DefinitionError
from qa.procedures import load_dose_tables, load_phantom, load_procedure, load_protocol
from qa.procedures.builtin import builtin_dir


def _refused(load, source: Path, tmp_path: Path, old: str, new: str) -> DefinitionError:
    text = source.read_text()
    assert old in text, old
    path = tmp_path / source.name
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DefinitionError) as info:
        load(path)
    error = info.value
    assert error.path == str(path) and str(path) in str(error) and error.key in str(error) and error.hint
    return error


PHANTOM_CASES = [
    # unknown keys, with the keys that are allowed
    ("hu = 50.0\n", 'hu = 50.0\ncolour = "white"\n', "insert.colour", "unknown key; use one of diameter_mm, z_min_mm, z_max_mm, hu"),
    ("[charts]\n", "[chart]\n", "chart", "unknown key; use one of phantom, insert, calcifications, rods"),
    ('water_rod = "water"', 'water_rod = "water"\nphantom_rod = "x"', "calibration.phantom_rod", "use one of water_rod, ha_rod"),
    # wrong types
    ('manufacturer = "QRM GmbH, Moehrendorf, Germany"', 'manufacturer = ["QRM GmbH"]', "phantom.manufacturer",
     'must be a text, got ["QRM GmbH"]'),
    ("diameter_mm = 100.0", 'diameter_mm = "100"', "insert.diameter_mm", 'must be a number, got "100"'),
    ("angle_deg = 180.0", "angle_deg = true", "calcifications[0].angle_deg", "must be a number, got true"),
    ("only_with_ring = true", "only_with_ring = 1", "body[0].only_with_ring", "must be true or false, got 1"),
    ("z_mm = 0.0", "z_mm = nan", "calcifications[0].z_mm", "must be a finite number, got nan"),
    ("radius_mm = 37.5", "radius_mm = inf", "calcifications[0].radius_mm", "must be a finite number, got inf"),
    # missing keys
    ("z_min_mm = -45.0\n", "", "insert.z_min_mm", "is missing"),
    ("water_equivalent_hu = 20.0\n", "", "hu_model.water_equivalent_hu", "is missing"),
    # out of range
    ("diameter_mm = 5.0", "diameter_mm = -5.0", "calcifications[0].diameter_mm", "must be positive, got -5.0"),
    ("density_mgha_cm3 = 800.0", "density_mgha_cm3 = -800.0", "calcifications[0].density_mgha_cm3", "must not be negative"),
    ('shape = "ellipse"', 'shape = "box"', "body[0].shape", "must be one of 'ellipse', got \"box\""),
    ("center_mm = [0.0, 10.0]", "center_mm = [0.0]", "body[0].center_mm", "must hold exactly two values"),
    ('"80" = 1.95', '"80" = -1.95', "hu_model.ha_hu_per_mgha_cm3.80", "must be positive"),
    # rules between keys
    ("physical_volume_mm3 = 98.2", "physical_volume_mm3 = 80.0", "calcifications[0].physical_volume_mm3", "disagrees with pi r^2 L"),
    ("physical_mass_mg = 78.5", "physical_mass_mg = 50.0", "calcifications[0].physical_mass_mg", "disagrees with density x volume"),
    ("z_max_mm = 45.0", "z_max_mm = -50.0", "insert.z_max_mm", "must be larger than insert.z_min_mm"),
    ('id = "800_3mm"', 'id = "800_5mm"', "calcifications[1].id", "duplicate id '800_5mm'"),
    ('id = "water"', 'id = "ha200"', "rods[1].id", "duplicate id 'ha200'"),
    ('water_rod = "water"', 'water_rod = "ha200"', "calibration.water_rod", "must name a rod of density 0"),
    ('ha_rod = "ha200"', 'ha_rod = "water"', "calibration.ha_rod", "must name a rod of positive density"),
    ('metrics = ["mass_800_5mm", ', 'metrics = ["mass_800_7mm", ', "charts.metrics[0]", "is not a metric of this phantom"),
    ('"70" = 2.2', '"seventy" = 2.2', "hu_model.ha_hu_per_mgha_cm3.seventy", "key must be a kVp number"),
    ('{ "70" = 2.2,', '{ "70.0" = 2.3, "70" = 2.2,', "hu_model.ha_hu_per_mgha_cm3.70", "the same kVp as '70.0'"),
]


@pytest.mark.parametrize("old, new, key, message", PHANTOM_CASES)
def test_broken_phantom_definitions(tmp_path, old, new, key, message):
    error = _refused(load_phantom, builtin_dir("phantoms") / "qrm-cci.toml", tmp_path, old, new)
    assert (error.key, message in error.message) == (key, True), str(error)


PROCEDURE_CASES = [
    ('method = "standard"', 'method = "standard"\nsmoothing = 2', "scoring.smoothing", "unknown key; use one of method"),
    ("\n[baseline]\n", "\n[baselines]\n", "baselines",
     "unknown key; use one of procedure, scoring, acquisition, baseline, detection, checks"),
    ("[acquisition.kernel]", "[acquisition.kernels]", "acquisition.kernels",
     "use one of kvp, slice_thickness_mm, kernel, ctdivol_mgy, exposure_mas, ring"),
    ('allowed = ["none", "large"]', "range = [0, 1]", "acquisition.ring.range", "unknown key; use one of"),
    ('version = "1"', "version = 1", "procedure.version", "must be a text, got 1"),
    ("action_pct = 15.0", 'action_pct = "15"', "checks[0].action_pct", 'must be a number, got "15"'),
    ("expected = 120", 'expected = "120"', "acquisition.kvp.expected", 'must be a number, got "120"'),
    ("expected = 120", "expected = true", "acquisition.kvp.expected", "must be a number, got true"),
    ("allowed = [2.5, 3.0]", 'allowed = [2.5, "3.0"]', "acquisition.slice_thickness_mm.allowed[1]", "must be a number"),
    ('allowed = ["none", "large"]', 'allowed = ["none", 3]', "acquisition.ring.allowed[1]", "must be a text, got 3"),
    ("tighten_sd = 3.0", "tighten_sd = nan", "baseline.tighten_sd", "must be a finite number, got nan"),
    ("tolerance = 6.0", "tolerance = inf", "checks[5].tolerance", "must be a finite number, got inf"),
    ('metric = "mass_mg"\ninsert = "800_5mm"', 'insert = "800_5mm"', "checks[0].metric", "is missing"),
    ('insert = "800_5mm"\nreference = "baseline"', 'insert = "800_5mm"', "checks[0].reference", "is missing"),
    ("min_runs = 5 ", "min_runs = 1 ", "baseline.min_runs", "must be at least 2, got 1"),
    ("min_runs = 5 ", "min_runs = 5.5 ", "baseline.min_runs", "must be a whole number, got 5.5"),
    ("tolerance_pct = 10.0\naction_pct = 15.0", "tolerance_pct = -10.0\naction_pct = 15.0", "checks[0].tolerance_pct",
     "must be positive"),
    ("tolerance = 0.1", "tolerance = -0.1", "acquisition.slice_thickness_mm.tolerance", "must not be negative"),
    ('allowed = ["none", "large"]', "allowed = []", "acquisition.ring.allowed", "must hold at least 1 item"),
    ('severity = "warn"\nbaseline_tolerance_pct', 'severity = "maybe"\nbaseline_tolerance_pct', "acquisition.exposure_mas.severity",
     "must be one of 'fail', 'warn', got \"maybe\""),
    ('match = "prefix"', 'match = "suffix"', "acquisition.kernel.match", "must be one of 'exact', 'prefix'"),
    ('insert = "800_5mm"\nreference = "baseline"', 'insert = "800_5mm"\nreference = "yesterday"', "checks[0].reference",
     "must be one of 'baseline', 'physical'"),
    # rules between keys
    ('kind = "phantom-qa"', 'kind = "exam-protocol"', "procedure.kind", 'qa phantom needs [procedure] kind = "phantom-qa"'),
    ('phantom = "qrm-cci"', 'phantom = "acme"', "procedure.phantom", "names 'acme', which is not a built-in phantom: choose one of qrm-cci"),
    ("expected = 120\n", "expected = 120\nrange = [100, 140]\n", "acquisition.kvp",
     "needs exactly one of expected, allowed or range (got expected, range)"),
    ("[acquisition.kvp]\nexpected = 120\n", "[acquisition.kvp]\n", "acquisition.kvp", "needs exactly one of"),
    ("range = [0.5, 20.0]", "range = [20.0, 0.5]", "acquisition.ctdivol_mgy.range", "must be [low, high] with low <= high"),
    ("range = [0.5, 20.0]", "range = [0.5]", "acquisition.ctdivol_mgy.range", "must hold exactly two values"),
    ("[acquisition.kvp]\nexpected = 120", "[acquisition.kvp]\nexpected = 120\nbaseline_tolerance_pct = 5",
     "acquisition.kvp.baseline_tolerance_pct", "applies to ctdivol_mgy and exposure_mas only"),
    ("tighten_after_runs = 20", "tighten_after_runs = 3", "baseline.tighten_after_runs", "must be at least min_runs (5), got 3"),
    ('required = ["800_5mm"', 'required = ["900_5mm"', "detection.required[0]", "'900_5mm' is not an insert of qrm-cci"),
    ('insert = "800_5mm"', 'insert = "800_7mm"', "checks[0].insert", "'800_7mm' is not an insert of qrm-cci"),
    ('id = "total_mass"', 'id = "c_ha"', "checks[4].id", "duplicate check id 'c_ha'"),
    ('metric = "c_ha_mg_per_cm3_hu"', 'metric = "c_ha"', "checks[4].metric", "not a whole-phantom metric"),
    ('metric = "mass_mg"\ninsert = "800_5mm"', 'metric = "total_mass_mg"\ninsert = "800_5mm"', "checks[0].metric",
     "is not a per-insert metric"),
    ('metric = "mass_mg"\ninsert = "800_5mm"\nreference = "physical"', 'metric = "agatston"\ninsert = "800_5mm"\nreference = "physical"',
     "checks[7].reference", "the physical truth is known for insert mass_mg and volume_mm3 only"),
    ("tolerance_pct = 10.0\naction_pct = 15.0", "tolerance_pct = 10.0\naction = 15.0", "checks[0]",
     "either in % (tolerance_pct, action_pct) or absolute (tolerance, action)"),
    ("tolerance_pct = 10.0\naction_pct = 15.0", "tolerance_pct = 10.0", "checks[0].action_pct", "is missing"),
    ("tolerance_pct = 10.0\naction_pct = 15.0", "tolerance_pct = 20.0\naction_pct = 15.0", "checks[0].action_pct",
     "the action level (15) must not be tighter than the tolerance (20)"),
]


@pytest.mark.parametrize("old, new, key, message", PROCEDURE_CASES)
def test_broken_phantom_qa_procedures(tmp_path, old, new, key, message):
    error = _refused(load_procedure, builtin_dir("procedures") / "daily-phantom-qa.toml", tmp_path, old, new)
    assert (error.key, message in error.message) == (key, True), str(error)


PROTOCOL_CASES = [
    ("[rules.kvp]", "[rules.kvpp]", "rules.kvpp", "unknown key; use one of kvp, slice_thickness, slice_increment, kernel"),
    ("[rules.kvp]\nexpected = 120\n", '[rules.kvp]\nexpected = 120\nequal_to = "slice_thickness"\n', "rules.kvp.equal_to",
     "unknown key; use one of"),
    ("[rules.kvp]\nexpected = 120\n", '[rules.kvp]\nexpected = 120\nreference = "level"\n', "rules.kvp.reference", "unknown key"),
    ("window_ms = 200.0", "window_ms = 200.0\njitter_ms = 5.0", "gating.jitter_ms", "unknown key; use one of min_lead_ms, predict_beats"),
    ("vendors = []", 'vendors = "GE"', "protocol.vendors", 'must be a list [...], got "GE"'),
    ("vendors = []", "vendors = [3]", "protocol.vendors[0]", "must be a text, got 3"),
    ("maximum = 70.0", 'maximum = "seventy"', "rules.heart_rate.maximum", 'must be a number, got "seventy"'),
    ("[rules.kvp]\nexpected = 120", '[rules.kvp]\nexpected = "120kV"', "rules.kvp.expected", 'must be a number, got "120kV"'),
    ("expected = 3.0", "expected = true", "rules.slice_thickness.expected", "must be a number, got true"),
    ("min_lead_ms = 150.0", "min_lead_ms = nan", "gating.min_lead_ms", "must be a finite number, got nan"),
    ("range = [180.0, 260.0]", "range = [180.0, inf]", "rules.reconstruction_fov.range[1]", "must be a finite number, got inf"),
    ('name = "Coronary calcium scoring (vendor-neutral)"\n', "", "protocol.name", "is missing"),
    ('source = "reference level"\n', "", "rules.ctdivol.source", "is missing"),
    ('expected = "prospective"\n', "", "rules.gating_mode.expected", "is missing"),
    ('tolerance = 0.1\nseverity = "fail"', 'tolerance = -0.1\nseverity = "fail"', "rules.slice_thickness.tolerance", "must not be negative"),
    ("predict_beats = 3 ", "predict_beats = 0 ", "gating.predict_beats", "must be at least 1, got 0"),
    ("predict_beats = 3 ", "predict_beats = 2.5 ", "gating.predict_beats", "must be a whole number, got 2.5"),
    ("window_ms = 200.0", "window_ms = 0.5", "gating.window_ms", "must be at least 1, got 0.5"),
    ('severity = "fail"\nsource = "Agatston scoring', 'severity = "fatal"\nsource = "Agatston scoring', "rules.kvp.severity",
     "must be one of 'fail', 'warn', got \"fatal\""),
    ('expected = "prospective"', 'expected = "prospektive"', "rules.gating_mode.expected",
     "must be one of 'prospective', 'retrospective', 'none', got \"prospektive\""),
    ('retrospective = "warn"', 'retrospective = "maybe"', "rules.gating_mode.retrospective", "must be one of 'fail', 'warn'"),
    ('equal_to = "slice_thickness"', 'equal_to = "thickness"', "rules.slice_increment.equal_to", "must be one of 'slice_thickness'"),
    ('allowed = ["Qr36"', 'allowed = [36, "Qr36"', "rules.kernel.allowed[0]", "must be a text, got 36"),
    ('allowed = ["Qr36"', 'allowed = ["  ", "Qr36"', "rules.kernel.allowed[0]", "must not be empty"),
    # rules between keys
    ('kind = "exam-protocol"', 'kind = "phantom-qa"', "protocol.kind", 'is "phantom-qa"; qa check needs [protocol] kind = "exam-protocol"'),
    ("range = [60.0, 80.0]", "range = [60.0, 80.0]\nexpected = 70", "rules.cardiac_phase", "needs exactly one expectation"),
    ("[rules.kvp]\nexpected = 120\n", "[rules.kvp]\n", "rules.kvp",
     "needs exactly one expectation: expected, allowed, range or maximum/minimum"),
    ("range = [60.0, 80.0]", "range = [80.0, 60.0]", "rules.cardiac_phase.range", "must be [low, high] with low <= high"),
    ("range = [60.0, 80.0]", "range = [60.0, 80.0]\ndelay_range_ms = [500, 300]", "rules.cardiac_phase.delay_range_ms",
     "must be [low, high] with low <= high"),
    ('reference_level = "site-cac"\n', "", "rules.ctdivol.reference", "needs protocol.reference_level"),
    ("delay_pct = 70.0 ", "delay_pct = 70.0\ndelay_ms = 300.0 ", "gating", "either in % (delay_pct) or in ms (delay_ms)"),
]


@pytest.mark.parametrize("old, new, key, message", PROTOCOL_CASES)
def test_broken_exam_protocols(tmp_path, old, new, key, message):
    error = _refused(load_protocol, builtin_dir("procedures") / "cac-standard.toml", tmp_path, old, new)
    assert (error.key, message in error.message) == (key, True), str(error)


DOSE_CASES = [
    ('unknown = "chest"', 'unknown = "chest"\nchild = "head"', "defaults.child", "unknown key; use one of head16, body32, unknown"),
    ('icrp_basis = 103\nsource = "Trattner', 'icrp_basis = 103\nicrp = 103\nsource = "Trattner', "k_factors[0].icrp", "unknown key"),
    ('name = "Cardiac CT (adult)"', 'name = ["Cardiac CT"]', "k_factors[0].name", 'must be a text, got ["Cardiac CT"]'),
    ("k_msv_per_mgycm = 0.026", 'k_msv_per_mgycm = "0.026"', "k_factors[0].k_msv_per_mgycm", 'must be a number, got "0.026"'),
    ("dlp_mgycm = 200.0", "dlp_mgycm = true", "reference_levels[0].dlp_mgycm", "must be a number, got true"),
    ("ctdivol_mgy = 10.0", "ctdivol_mgy = nan", "reference_levels[0].ctdivol_mgy", "must be a finite number, got nan"),
    ("dose_msv = 5.2", "dose_msv = inf", "reference_levels[0].dose_msv", "must be a finite number, got inf"),
    ('name = "Cardiac CT (adult)"\n', "", "k_factors[0].name", "is missing"),
    ('head16 = "head"\n', "", "defaults.head16", "is missing"),
    ("k_msv_per_mgycm = 0.026", "k_msv_per_mgycm = 0.0", "k_factors[0].k_msv_per_mgycm", "must be positive, got 0.0"),
    ("k_msv_per_mgycm = 0.026", "k_msv_per_mgycm = 26", "k_factors[0].k_msv_per_mgycm", "must be less than 1, got 26"),
    ("dlp_mgycm = 200.0", "dlp_mgycm = -200.0", "reference_levels[0].dlp_mgycm", "must be positive"),
    ("icrp_basis = 103", "icrp_basis = 102", "k_factors[0].icrp_basis", "must be one of 60, 103, got 102"),
    ("icrp_basis = 103", "icrp_basis = true", "k_factors[0].icrp_basis", "must be one of 60, 103, got true"),
    ("icrp_basis = 103", 'icrp_basis = "103"', "k_factors[0].icrp_basis", 'must be one of 60, 103, got "103"'),
    ('kind = "site"', 'kind = "local"', "reference_levels[0].kind", "must be one of 'national', 'site'"),
    # every level says whether it is a DRL (compared with a median) or a per-exam alert level
    ('compares = "each_exam"\n', "", "reference_levels[0].compares", "is missing"),
    ('compares = "each_exam"', 'compares = "mean"', "reference_levels[0].compares", "must be one of 'median', 'each_exam'"),
    ('regions = [["T-32000", "SRT"]', 'regions = [["T-32000"]', "k_factors[0].regions[0]", "must hold exactly two values"),
    ('["80891009", "SCT"]', '[80891009, "SCT"]', "k_factors[0].regions[1][0]", "must be a text, got 80891009"),
    # rules between keys
    ('kind = "dose-tables"', 'kind = "dose"', "tables.kind", 'needs [tables] kind = "dose-tables"'),
    ('head16 = "head"', 'head16 = "skull"', "defaults.head16", "must name a k-factor id (cardiac, "),
    ('id = "cardiac-cac-prospective-axial"', 'id = "cardiac"', "k_factors[1].id", "duplicate id 'cardiac'"),
    ('id = "uk-ndrl-ccta-prospective-padding"', 'id = "site-cac"', "reference_levels[2].id", "duplicate id 'site-cac'"),
    ('ctdivol_mgy = 10.0\ndlp_mgycm = 200.0\nk_factor = "cardiac"\ndose_msv = 5.2\n', "", "reference_levels[0]", "gives no level"),
    # a DLP level and an effective-dose level agree through the k they name (issue 14: 200 mGy cm x 0.026 is not 3 mSv)
    ("dose_msv = 5.2", "dose_msv = 3.0", "reference_levels[0].dose_msv",
     "3 mSv disagrees with the DLP level: 200 mGy cm x k 0.026 (cardiac) = 5.2 mSv"),
    ('k_factor = "cardiac"\n', "", "reference_levels[0].k_factor", "name the k-factor that converts one into the other"),
    ('k_factor = "cardiac"', 'k_factor = "heart"', "reference_levels[0].k_factor", "must name a k-factor id (cardiac, "),
]


@pytest.mark.parametrize("old, new, key, message", DOSE_CASES)
def test_broken_dose_tables(tmp_path, old, new, key, message):
    error = _refused(load_dose_tables, builtin_dir("procedures") / "dose-reference.toml", tmp_path, old, new)
    assert (error.key, message in error.message) == (key, True), str(error)


def test_the_first_problem_in_file_order_is_named_with_how_many_more(tmp_path):
    """The model checks radius_mm before physical_volume_mm3; the file writes the volume first."""
    source = builtin_dir("phantoms") / "qrm-cci.toml"
    text = source.read_text().replace("physical_volume_mm3 = 98.2", 'physical_volume_mm3 = "98.2"', 1)
    text = text.replace("radius_mm = 37.5", 'radius_mm = "far"', 1).replace("[hu_model]", "[hu_model]\ngamma = 1", 1)
    path = tmp_path / "three.toml"
    path.write_text(text)
    with pytest.raises(DefinitionError) as info:
        load_phantom(path)
    assert info.value.key == "calcifications[0].physical_volume_mm3"
    assert info.value.message == 'must be a number, got "98.2" (and 2 more problems in this file)'
