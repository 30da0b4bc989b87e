"""The JSON contract: every ``qa.*/1`` document has a JSON Schema in ``schemas/``, and what every
command prints with ``--json`` (errors included) validates against it, on real inputs.

The commands run through ``qa.cli.main`` in this process; the synthetic series, exams and traces
are made once per module (or session) and shared.  Real public files (../shared/data) add the
MIT-BIH record 208 and every dose report; without them those parts are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

import qa
from qa.cli import main
from qa.procedures.builtin import builtin_dir

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DIR = builtin_dir("schemas")
URN = "urn:qa:schema:"


# ------------------------------------------------------------------------------------ the schemas


def _load_schemas() -> dict[str, dict]:
    """Every schema file by the document name it validates (``qa.score/1``)."""
    out = {}
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        out[schema["$id"].removeprefix(URN)] = schema
    return out


SCHEMAS = _load_schemas()
REGISTRY = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values())


def validate(doc: dict, name: str) -> dict:
    """``doc`` if it is a valid ``name`` document (its own ``schema`` field must say so too)."""
    assert doc.get("schema") == name, f"expected a {name} document, got {doc.get('schema')!r}"
    errors = sorted(Draft202012Validator(SCHEMAS[name], registry=REGISTRY).iter_errors(doc), key=lambda e: e.json_path)
    assert not errors, f"{name}: " + "\n".join(f"{e.json_path}: {e.message[:300]}" for e in errors[:10])
    return doc


def is_valid(doc: dict, name: str) -> bool:
    return Draft202012Validator(SCHEMAS[name], registry=REGISTRY).is_valid(doc)


def _printable_documents() -> set[str]:
    """The ``qa.<name>/<n>`` names the code can print: the literals of qa/ (json_out calls, the truth file)."""
    names = set()
    for path in (REPO / "qa").rglob("*.py"):
        names |= set(re.findall(r"""["'](qa\.[a-z0-9-]+/[0-9]+)["']""", path.read_text(encoding="utf-8")))
    return names


def _json_out_calls() -> list[tuple[str, str]]:
    """(file, the call's text) of every ``json_out(...)`` call in qa/."""
    calls = []
    for path in (REPO / "qa").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(?<![\w.])json_out\(", text):
            if text[max(0, match.start() - 4):match.start()] == "def ":
                continue
            depth, end = 0, match.end() - 1
            for end in range(match.end() - 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            calls.append((str(path.relative_to(REPO)), text[match.start():end + 1]))
    return calls


def test_every_schema_is_a_valid_draft_2020_12_schema_with_id_title_and_description():
    assert SCHEMAS, f"no schema in {SCHEMA_DIR}"
    for name, schema in SCHEMAS.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == URN + name
        file_name = name.replace("/", "-") + ".schema.json"
        assert (SCHEMA_DIR / file_name).is_file(), f"{name} should be in {file_name}"
        assert schema["title"].startswith(name + ":")
        assert "`qa " in schema["description"], f"{name}: the description names the command that prints it"
        assert schema["properties"]["schema"] == {"const": name}


def test_there_is_exactly_one_schema_per_document_qa_can_print():
    calls = _json_out_calls()
    assert len(calls) >= 10
    for where, call in calls:
        assert len(re.findall(r'"qa\.[a-z0-9-]+/[0-9]+"', call)) == 1, f"{where}: {call} names no (or several) document"
    printable = _printable_documents()
    assert {"qa.score/1", "qa.phantom/1", "qa.baseline/1", "qa.trend/1", "qa.check/1", "qa.gating/1", "qa.dose/1",
            "qa.ecg/1", "qa.synth/1", "qa.error/1"} <= printable
    assert sorted(SCHEMAS) == sorted(printable)
    assert len(list(SCHEMA_DIR.glob("*.schema.json"))) == len(SCHEMAS)  # no two files for one document


def test_the_schemas_readme_lists_every_schema():
    readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    for name in SCHEMAS:
        assert f"`{name.replace('/', '-')}.schema.json`" in readme


def test_pieces_shared_by_several_schemas_are_the_same_everywhere():
    seen: dict[str, tuple[str, dict]] = {}
    for name, schema in SCHEMAS.items():
        for key, definition in schema.get("$defs", {}).items():
            if key in seen:
                assert definition == seen[key][1], f"$defs/{key} differs between {seen[key][0]} and {name}"
            else:
                seen[key] = (name, definition)
    for shared in ("check", "provenance", "definition_ref", "scanner_identity", "coordinates_mm"):
        assert shared in seen
    check = seen["check"][1]
    assert check["required"] == ["id", "status", "measured", "expected", "message", "source"]
    assert seen["status"][1]["enum"] == ["pass", "warn", "fail", "not_available", "not_applicable"]


def test_every_definition_is_used():
    for name, schema in SCHEMAS.items():
        text = json.dumps(schema)
        for key in schema.get("$defs", {}):
            assert f'"#/$defs/{key}"' in text, f"{name}: $defs/{key} is never referred to"


# What DESIGN.md ("JSON shapes") says must exist: every one of these fields is required, at its place.
# A place is a dotted path through properties; "x[]" is an item of array x, "x{}" any value of mapping x.
DESIGN_FIELDS = {
    "*": {"": ["schema", "qa_version", "warnings"]},
    "qa.score/1": {
        "": ["agatston", "volume_mm3", "mass_mg", "settings", "series", "lesions"],
        "settings": ["method", "threshold_hu", "min_area_mm2", "connectivity", "volume_method", "increment_mm"],
        "series": ["series_instance_uid", "n_slices", "pixel_spacing_mm", "slice_thickness_mm", "slice_increment_mm", "kvp"],
        "lesions[]": ["slice_index", "z_mm", "area_mm2", "peak_hu", "mean_hu", "weight", "agatston", "volume_mm3", "centroid_mm"],
    },
    "qa.phantom/1": {
        "": ["phantom", "scanner", "calibration", "inserts", "totals", "checks", "verdict", "stored"],
        "scanner": ["manufacturer", "model", "station_name", "device_serial_number"],
        "calibration": ["water_hu", "ha200_hu", "c_ha_mg_per_cm3_hu", "noise_hu"],
        "inserts[]": ["id", "density_mgha_cm3", "diameter_mm", "detected", "agatston", "volume_mm3", "mass_mg", "physical_mass_mg",
                      "mass_error_pct", "centroid_mm"],
        "totals": ["agatston", "volume_mm3", "mass_mg", "physical_mass_mg"],
        "checks[]": ["id", "status", "measured", "expected", "message", "source"],
        "stored": ["run_id", "replaced", "database"],
    },
    "qa.trend/1": {
        "": ["scanner", "baseline_version", "metrics"],
        "scanner": ["manufacturer", "model", "serial", "station_name"],
        "metrics{}": ["baseline", "runs"],
        "metrics{}.baseline": ["mean", "sd", "n"],
        "metrics{}.runs[]": ["run_id", "acquired_at", "value", "z", "flags"],
    },
    "qa.check/1": {
        "": ["exam", "protocol", "checks", "verdict"],
        "checks[]": ["id", "status", "measured", "expected", "message", "source"],
    },
    "qa.gating/1": {
        "": ["ecg", "beats", "exposures", "checks", "verdict"],
        "ecg": ["source", "sampling_rate_hz", "duration_s", "lead", "start_time", "gaps"],
        "beats": ["r_peak_times_s", "heart_rate_bpm", "ectopic_indices"],
        "beats.heart_rate_bpm": ["mean", "min", "max", "sd"],
        "exposures[]": ["start_s", "duration_s", "rr_actual_ms", "rr_predicted_ms", "phase_pct", "delay_ms", "ends_before_next_r",
                        "ectopic_beat", "status"],
    },
    "qa.dose/1": {
        "": ["reports"],
        "reports[]": ["source_file", "study_key", "manufacturer", "model", "station_name", "study_datetime", "events", "dlp_total_mgycm",
                      "dlp_by_phantom_mgycm", "effective_dose_msv", "k_source", "icrp_basis"],
        "reports[].events[]": ["irradiation_event_uid", "acquisition_type", "protocol", "target_region", "kvp", "ctdivol_mgy", "dlp_mgycm",
                               "phantom", "k_msv_per_mgycm"],
    },
    "qa.motion/1": {
        "": ["stacks", "boundaries", "respiration", "status"],
        "stacks[]": ["index", "first_slice", "n_slices", "z_range_mm", "acquisition_time"],
        "boundaries[]": ["between", "shift_mm", "ncc", "robust_z", "status", "message"],
        "boundaries[].shift_mm": ["lr", "ap", "cc"],
    },
    "qa.trends/1": {
        "": ["kind", "by", "groups"],
        "groups[]": ["n_studies"],
        **{f"groups[].{q}": ["median", "p75", "mean"] for q in ("ctdivol_mgy", "dlp_total_mgycm", "dose_msv")},
        "groups[].scanner": ["manufacturer", "model", "serial", "station_name"],
    },
    "qa.error/1": {"": ["command", "exit_code", "error"], "error": ["type", "file", "field", "message", "hint"]},
}


def _resolve(schema: dict, node: dict) -> dict:
    """``node`` with local $refs followed and a nullable ``anyOf`` reduced to its object branch; an
    ``anyOf`` of several objects (qa.trends/1's dose and compliance groups) is one node requiring
    what every branch requires, with the properties of all."""
    while True:
        if "$ref" in node and node["$ref"].startswith("#/$defs/"):
            node = schema["$defs"][node["$ref"].split("/")[-1]]
        elif "anyOf" in node:
            branches = [_resolve(schema, b) for b in node["anyOf"] if b.get("type") != "null"]
            if len(branches) == 1:
                node = branches[0]
                continue
            required = set.intersection(*(set(b.get("required", ())) for b in branches))
            return {"required": sorted(required), "properties": {k: v for b in branches for k, v in b.get("properties", {}).items()}}
        else:
            return node


def _node_at(schema: dict, place: str) -> dict:
    node = _resolve(schema, schema)
    for part in filter(None, place.split(".")):
        name = part.rstrip("[]{}")
        node = _resolve(schema, node["properties"][name])
        if part.endswith("[]"):
            node = _resolve(schema, node["items"])
        elif part.endswith("{}"):
            node = _resolve(schema, node["additionalProperties"])
    return node


def test_every_field_the_design_names_is_required():
    for name, schema in SCHEMAS.items():
        places = {**DESIGN_FIELDS["*"], **DESIGN_FIELDS.get(name, {})}
        if name in ("qa.synth-phantom/1", "qa.synth-exam/1", "qa.synth-exams-truth/1"):  # truth files: no qa_version or warnings
            places = {"": ["schema"]}
        for place, fields in places.items():
            required = set(_node_at(schema, place).get("required", ()))
            assert not set(fields) - required, f"{name} {place or '(top)'}: {sorted(set(fields) - required)} not required"


# ------------------------------------------------------------------------------------ running commands


@contextlib.contextmanager
def qa_environment(root: Path):
    """The commands' environment: a default store and a site secret of their own, never the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QA_DB_URL", f"sqlite:///{root / 'default-qa.sqlite'}")
        mp.setenv("QA_SECRET_FILE", str(root / "site-secret"))
        yield


def run_json(*argv) -> tuple[int, dict]:
    """Run ``qa ARGV`` (with --json) in this process: its exit code and the one JSON object on stdout,
    which must be all that is on stdout and must carry this toolkit's version."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    text = out.getvalue()
    assert text.strip(), f"qa {' '.join(map(str, argv))}: nothing on stdout (exit {code}); stderr:\n{err.getvalue()[-2000:]}"
    try:
        doc = json.loads(text)  # fails if anything else shares stdout with the object
    except json.JSONDecodeError as exc:
        raise AssertionError(f"qa {' '.join(map(str, argv))}: stdout is not one JSON object ({exc}):\n{text[:2000]}") from None
    assert isinstance(doc, dict) and text.lstrip().startswith("{") and text.endswith("}\n")
    assert doc.get("qa_version") == qa.__version__
    return code, doc


def require_shared(shared_data: Path, *parts: str) -> Path:
    """A path under ../shared/data (the ``shared_data`` fixture skips when there is none), or a skip naming it."""
    path = shared_data.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("schemas")


@pytest.fixture(scope="module")
def phantom_runs(work, phantom_days, small_phantom):
    """Daily phantom QA of one scanner through its whole cycle, as the documents it printed:
    five stored runs, the trend without a baseline, the baseline set and shown, a sixth run judged
    against it, the trend with it; and a run with --no-store."""
    days, _ = phantom_days
    db = f"sqlite:///{work / 'phantom-qa.sqlite'}"
    docs = {}
    with qa_environment(work):
        docs["no-store"] = run_json("phantom", small_phantom.out_dir, "--no-store", "--json")
        docs["stored"] = [run_json("phantom", day, "--ring", "none", "--db", db, "--json") for day in days[:5]]
        docs["trend without baseline"] = run_json("trend", "--scanner", "CT-A", "--db", db, "--json")
        docs["baseline set"] = run_json("baseline", "set", "--scanner", "CT-A", "--from-last", "5", "--reason", "commissioning",
                                        "--db", db, "--json")
        docs["baseline show"] = run_json("baseline", "show", "--scanner", "CT-A", "--db", db, "--json")
        docs["against baseline"] = run_json("phantom", days[5], "--ring", "none", "--db", db, "--json")
        docs["trend"] = run_json("trend", "--scanner", "CT-A", "--db", db, "--json")
        docs["trend one metric"] = run_json("trend", "--scanner", "A-001", "--metric", "c_ha", "--db", db, "--json")
    return SimpleNamespace(docs=docs, db=db)


def test_qa_score_json_validates(work, small_phantom):
    with qa_environment(work):
        code, doc = run_json("score", small_phantom.out_dir, "--json")
        code_calibrated, calibrated = run_json("score", small_phantom.out_dir, "--c-ha", "0.75", "--connectivity", "8", "--json")
    assert code == code_calibrated == 0
    validate(doc, "qa.score/1")
    validate(calibrated, "qa.score/1")
    assert doc["mass_mg"] is None and calibrated["mass_mg"] > 0 and doc["lesions"]


def test_qa_phantom_json_validates_stored_and_not_stored(phantom_runs):
    docs = phantom_runs.docs
    code, doc = docs["no-store"]
    assert code in (0, 1)
    validate(doc, "qa.phantom/1")
    assert doc["stored"] is None
    for code, doc in docs["stored"] + [docs["against baseline"]]:
        validate(doc, "qa.phantom/1")
        assert doc["stored"]["run_id"] >= 1
    code, judged = docs["against baseline"]
    assert judged["baseline"]["version"] == 1 and any(c["source"].get("baseline_version") == 1 for c in judged["checks"])


def test_qa_phantom_score_and_check_json_validate_on_the_real_canon_phantom_scan(work, canon_phantom_dir):
    with qa_environment(work):
        code, phantom = run_json("phantom", canon_phantom_dir, "--ring", "large", "--no-store", "--json")
        code_score, score = run_json("score", canon_phantom_dir, "--json")
        code_check, check = run_json("check", canon_phantom_dir, "--json")
    validate(phantom, "qa.phantom/1")
    validate(score, "qa.score/1")
    validate(check, "qa.check/1")
    assert phantom["scanner"]["manufacturer"] and all(i["detected"] for i in phantom["inserts"] if i["diameter_mm"] >= 3.0)


def test_qa_phantom_json_carries_the_analysis_warnings(work):
    """The run's warnings (top-level ``warnings``) hold the analysis' own, e.g. a series not at 120 kVp."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    folder = work / "phantom-100kv"
    synthesize_phantom(folder, SynthOptions(pixel_mm=0.9, matrix=256, z_start_mm=-12.0, z_end_mm=45.0, noise_hu=10.0, seed=3, kvp=100.0))
    with qa_environment(work):
        code, doc = run_json("phantom", folder, "--no-store", "--json")
    validate(doc, "qa.phantom/1")
    assert any(w.startswith("kvp: the series was acquired at 100 kVp") for w in doc["warnings"])


def test_qa_baseline_set_and_show_json_validate(phantom_runs):
    code, changed = phantom_runs.docs["baseline set"]
    assert code == 0
    validate(changed, "qa.baseline/1")
    code, history = phantom_runs.docs["baseline show"]
    assert code == 0
    validate(history, "qa.baseline/1")
    assert "baselines" in history and "baselines" not in changed
    (entry,) = history["baselines"]  # the baseline's fields, with whether it is active, who set it and why
    assert entry["active"] and entry["reason"] == "commissioning"
    assert entry["version"] == changed["version"] == 1 and entry["run_ids"] == changed["baseline"]["run_ids"]
    assert history["baseline_min_runs"] == 5  # the shipped procedure's min_runs (what a hint asks for)
    both = copy.deepcopy(changed) | {"baselines": history["baselines"], "baseline_min_runs": history["baseline_min_runs"]}
    assert not is_valid(both, "qa.baseline/1")  # one shape or the other, never both


def test_qa_trend_json_validates_with_and_without_a_baseline(phantom_runs):
    defaults = {"mass_800_5mm", "mass_400_5mm", "mass_200_5mm", "total_mass", "c_ha", "water_hu", "noise_hu", "total_agatston"}
    code, before = phantom_runs.docs["trend without baseline"]
    validate(before, "qa.trend/1")
    assert before["baseline_version"] is None and set(before["metrics"]) == defaults
    assert all(chart["baseline"] is None for chart in before["metrics"].values())
    code, after = phantom_runs.docs["trend"]
    validate(after, "qa.trend/1")
    assert after["baseline_version"] == 1 and set(after["metrics"]) == defaults
    assert all(chart["baseline"] is not None for chart in after["metrics"].values())
    code, one = phantom_runs.docs["trend one metric"]
    validate(one, "qa.trend/1")
    assert list(one["metrics"]) == ["c_ha"]


def test_qa_trends_json_validates_for_dose_and_compliance_and_every_grouping(work):
    from trend_studies import fleet, save_all

    url = f"sqlite:///{work / 'trends.sqlite'}"
    save_all(url, fleet())
    with qa_environment(work):
        for argv in (["dose"], ["compliance"], ["dose", "--by", "none"], ["compliance", "--by", "month,scanner", "--from", "2026-02"],
                     ["dose", "--scanner", "CT-C", "--protocol", "cascore", "--xlsx", work / "trends.xlsx"],
                     ["dose", "--protocol", "nothing like it"], ["dose", "--studies", "--by", "scanner"]):
            code, doc = run_json("trends", *argv, "--db", url, "--json")
            assert code == 0
            validate(doc, "qa.trends/1")
    _, dose = run_json("trends", "dose", "--db", url, "--json")
    assert dose["outliers"] and any(g["reference_levels"] for g in dose["groups"])
    _, listed = run_json("trends", "dose", "--db", url, "--studies", "--json")
    assert any(e["dose_check"] and e["dose_check"]["notification_exceeded"] for s in listed["studies"] for e in s["events"])
    next(s for s in listed["studies"] if s["events"])["events"][0]["irradiation_event_uid"] = "1.2.3"
    assert not is_valid(listed, "qa.trends/1")
    dose["groups"][0]["dlp_total_mgycm"]["median"] = "55"
    assert not is_valid(dose, "qa.trends/1")
    _, compliance = run_json("trends", "compliance", "--db", url, "--json")
    compliance["groups"][0]["checks"][0].pop("fail")
    assert not is_valid(compliance, "qa.trends/1")


@pytest.fixture(scope="module")
def exam(work):
    """A synthetic Siemens calcium-score exam (the 3 mm series, a thin reconstruction, a scout) and
    an ECG trace whose clock matches the scanner's: every stack starts at 55 % of a 1 s beat."""
    from qa.dicom.headers import headers_of
    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    folder = work / "exam"
    base = dict(vendor="siemens", z_start_mm=-30.0, z_end_mm=72.0, thickness_mm=3.0, noise_hu=10.0, matrix=128, pixel_mm=1.6,
                series_description="CaScore 3.0 Qr36", scout=True, seed=5, study_key="schemas-exam", heart_rate_bpm=60.0)
    synthesize_phantom(folder / "cascore", SynthOptions(**base))
    synthesize_phantom(folder / "thin", SynthOptions(**{**base, "thickness_mm": 1.0, "z_start_mm": -6.0, "z_end_mm": 6.0,
                                                        "series_number": 4, "series_description": "CaScore 1.0 Qr36",
                                                        "scout": False, "seed": 6}))
    h = headers_of(folder / "cascore")
    first = dt.datetime.fromisoformat(h.stacks[0].acquisition_time)
    duration_s = 5.55 + h.stacks[-1].start_s + 4.0
    t, ecg = synthesize_ecg(beat_times(duration_s, 60.0, first_s=0.0), duration_s=duration_s, fs_hz=500.0, seed=3)
    trace = work / "exam-ecg.csv"
    write_ecg_csv(trace, t, ecg, start_time=first - dt.timedelta(seconds=5.55), fs_hz=500.0)
    return SimpleNamespace(folder=folder, series=folder / "cascore", trace=trace)


def test_qa_check_json_validates_with_and_without_the_exams_ecg(work, exam):
    with qa_environment(work):
        code, plain = run_json("check", exam.folder, "--json")
        code_ecg, with_ecg = run_json("check", exam.folder, "--ecg", exam.trace, "--json")
    validate(plain, "qa.check/1")
    validate(with_ecg, "qa.check/1")
    assert plain["ecg"] is None and plain["exam"]["dose"] is None
    assert with_ecg["ecg"]["exposures"] and {"rhythm", "exposure_timing"} <= {c["id"] for c in with_ecg["checks"]}
    assert {s["role"] for s in plain["exam"]["series"]} == {"checked", "other"}


def test_qa_motion_json_validates_with_stacks_and_for_a_single_stack(work):
    from motion_exams import ExamSpec, write_exam

    moved = write_exam(ExamSpec(n_stacks=3, slices_per_stack=5, matrix=96, pixel_mm=2.5, shifts_mm=((0, 0, 0), (0, 0, 0), (4.0, 0, 0))),
                       work / "motion-exam")
    single = write_exam(ExamSpec(n_stacks=1, slices_per_stack=6, matrix=64, pixel_mm=4.0), work / "motion-single")
    with qa_environment(work):
        code, doc = run_json("motion", moved, "--plot", work / "motion.png", "--json")
        code_single, one = run_json("motion", single, "--json")
    validate(doc, "qa.motion/1")
    validate(one, "qa.motion/1")
    assert code == 1 and doc["status"] == "fail" and [b["status"] for b in doc["boundaries"]] == ["pass", "fail"]
    assert doc["plot"] and (work / "motion.png").stat().st_size > 0
    assert code_single == 0 and one["status"] == "not_applicable" and one["boundaries"] == []


def test_qa_check_json_validates_with_a_dose_report_and_on_a_real_ge_exam(work, exam, tmp_path, shared_data):
    import pydicom

    report_file = require_shared(shared_data, "dicom", "rdsr", "CT-RDSR-Siemens_Flash-TAP-SS.dcm")
    ge_files = sorted(require_shared(shared_data, "dicom", "ct").glob("pydicom-dicomdirtests-98892001-CT*.dcm"))
    folder = tmp_path / "exam"
    shutil.copytree(exam.folder, folder)
    report = pydicom.dcmread(report_file)
    report.StudyInstanceUID = pydicom.dcmread(next((folder / "cascore").glob("*.dcm"))).StudyInstanceUID  # sent with this exam
    report.save_as(folder / "dose.dcm")
    with qa_environment(work):
        code, with_dose = run_json("check", folder, "--json")
        code_ge, ge = run_json("check", *ge_files, "--json")
    validate(with_dose, "qa.check/1")
    assert with_dose["exam"]["dose"]["events"] and with_dose["dose"]["dlp_mgycm"] == pytest.approx(724.52, abs=0.01)
    validate(ge, "qa.check/1")
    assert ge["protocol"]["id"] == "cac-ge"


@pytest.fixture(scope="module")
def trigger_trace(work) -> Path:
    """A synthetic trace with the monitor's trigger output (20 ms after each R-peak)."""
    from qa.ecg.synth import beat_times, synthesize_ecg, trigger_channel, write_ecg_csv

    r = beat_times(12.0, 60.0, first_s=0.4)
    t, ecg = synthesize_ecg(r, duration_s=12.0, fs_hz=500.0, seed=4)
    path = work / "trigger-ecg.csv"
    write_ecg_csv(path, t, ecg, fs_hz=500.0, trigger=trigger_channel(t, r, delay_ms=20.0))
    return path


def test_qa_gating_json_validates_on_synthetic_traces(work, exam, trigger_trace):
    with qa_environment(work):
        code_trigger, from_trigger = run_json("gating", "--ecg", trigger_trace, "--json")
        code_series, from_series = run_json("gating", "--ecg", exam.trace, "--series", exam.series, "--protocol", "cac-siemens", "--json")
    validate(from_trigger, "qa.gating/1")
    validate(from_series, "qa.gating/1")
    assert from_trigger["exposure_windows_from"].startswith("trigger channel") and from_trigger["exposures"]
    assert from_trigger["exposures"][-1]["status"] == "not_available" and from_trigger["exposures"][-1]["phase_pct"] is None
    assert all(e["approximate"] for e in from_series["exposures"]) and from_series["protocol"]["id"] == "cac-siemens"


def test_qa_gating_json_validates_on_mitbih_208_with_exposures(work, shared_data):
    record = require_shared(shared_data, "ecg", "208.hea")
    exposures = work / "208-exposures.csv"
    # 150 ms windows every 0.9 s through a stretch with frequent ventricular ectopy: some run into the next beat
    exposures.write_text("start_s,duration_s\n" + "".join(f"{380.0 + 0.9 * k:.3f},0.15\n" for k in range(22)))
    with qa_environment(work):
        code, doc = run_json("gating", "--ecg", record, "--exposures", exposures, "--json")
    assert code == 1  # an exposure ran into the next beat
    validate(doc, "qa.gating/1")
    assert doc["ecg"]["source"] == "208 (WFDB)" and doc["beats"]["ectopic_indices"]
    assert any(e["status"] == "fail" and e["ends_before_next_r"] is False for e in doc["exposures"])


def test_qa_dose_json_validates_on_every_public_dose_report(work, shared_data):
    folder = require_shared(shared_data, "dicom", "rdsr")
    files = sorted(folder.glob("*.dcm"))
    assert files
    with qa_environment(work):
        printed = {f.name: run_json("dose", f, "--json") for f in files}
        code_all, everything = run_json("dose", folder, "--json")
        code_level, with_level = run_json("dose", folder / "CT-ESR-GE_VCT.dcm", "--protocol", "cac-standard", "--json")
        philips = folder.parent / "ct" / "CT-SC-Philips_Brilliance16P.dcm"  # a pre-RDSR Philips dose info capture
        code_philips, from_capture = run_json("dose", philips, "--json") if philips.is_file() else (0, None)
    refused = set()
    for name, (code, doc) in printed.items():
        if doc["schema"] == "qa.error/1":
            validate(doc, "qa.error/1")
            assert code == 2 and doc["command"] == "dose" and doc["error"]["file"].endswith(name)
            refused.add(name)
        else:
            assert code in (0, 1)
            validate(doc, "qa.dose/1")
    assert refused == {"ESR_non-dose.dcm", "DX-RDSR-Canon_CXDI.dcm"}  # the two negative controls
    validate(everything, "qa.dose/1")
    assert len(everything["skipped"]) == 2 and len(everything["reports"]) < len(files) - 2  # re-sends merged
    validate(with_level, "qa.dose/1")
    assert with_level["protocol"]["id"] == "cac-standard" and with_level["reports"][0]["reference_level"] is not None
    if from_capture is not None:
        validate(from_capture, "qa.dose/1")
        assert from_capture["reports"][0]["manufacturer"].lower().startswith("philips")


def test_qa_synth_json_validates_and_so_does_its_truth_file(work):
    out = work / "synth"
    with qa_environment(work):
        code, doc = run_json("synth", "phantom", out, "--matrix", "64", "--pixel-mm", "3.5", "--z-range", "-10", "40", "--scout", "--json")
    assert code == 0
    validate(doc, "qa.synth/1")
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    validate(truth, "qa.synth-phantom/1")
    assert doc["truth"] == truth and doc["n_files"] == truth["n_slices"] == len(truth["files"]) - 1  # the scout
    broken = copy.deepcopy(doc)
    broken["truth"]["calcifications"][0]["center_mm"] = [0.0, 0.0]
    assert not is_valid(broken, "qa.synth/1")  # the truth is validated through its own schema


def test_qa_synth_exam_json_validates_and_so_does_its_truth_file(work):
    out = work / "synth-exam"
    with qa_environment(work):
        code, doc = run_json("synth", "exam", out, "--matrix", "64", "--pixel-mm", "4", "--stacks", "2", "--shift", "1:1,-1,0.5",
                             "--ecg", "--resp", "released-at-1", "--json")
    assert code == 0
    validate(doc, "qa.synth/1")
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    validate(truth, "qa.synth-exam/1")
    assert doc["truth"] == truth and doc["n_files"] == truth["n_slices"] == len(truth["files"]) - 1  # ecg.csv
    assert doc["ecg_path"] == str(out / "ecg.csv")
    broken = copy.deepcopy(doc)
    broken["truth"]["boundaries"][0]["shift_mm"].pop("cc")
    assert not is_valid(broken, "qa.synth/1")  # the exam's truth is validated through its own schema


def test_qa_synth_exams_json_validates_and_so_does_its_truth_file(work):
    out = work / "synth-exams"
    with qa_environment(work):
        code, doc = run_json("synth", "exams", out, "--exams", "12", "--scanners", "2", "--months", "1", "--json")
    assert code == 0
    validate(doc, "qa.synth-exams/1")
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    validate(truth, "qa.synth-exams-truth/1")
    assert doc["counts"] == truth["counts"] and doc["n_studies"] == len(truth["studies"]) and doc["truth_json"] == str(out / "truth.json")
    broken = copy.deepcopy(truth)
    broken["studies"][0]["expected_checks"] = {"kvp": "ok"}
    assert not is_valid(broken, "qa.synth-exams-truth/1")


def _ascii_device(master: int, seconds: float, fs: float, stop: threading.Event) -> None:
    """A device on the master side of a pty: ascii lines t_ms,ecg_uv at ``fs`` samples per second."""
    from qa.ecg.synth import beat_times, synthesize_ecg

    r = beat_times(seconds, 72.0, first_s=0.25)
    t, mv = synthesize_ecg(r, duration_s=seconds, fs_hz=fs, noise_mv=0.008, seed=1)
    lines = [b"\n"] + [f"{1000 * a:.3f},{1000 * b:.1f}\n".encode() for a, b in zip(t, mv)]
    start, sent = time.monotonic(), 0
    while sent < len(lines) and not stop.is_set():
        due = min(len(lines), int((time.monotonic() - start) * fs) + 1)
        if due > sent:
            os.write(master, b"".join(lines[sent:due]))
            sent = due
        time.sleep(0.01)


def test_qa_ecg_record_json_validates_over_a_pty(work):
    tty = pytest.importorskip("tty")
    if not hasattr(os, "openpty"):
        pytest.skip("no pseudo-terminals on this system")
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()
    device = threading.Thread(target=_ascii_device, args=(master, 4.0, 250.0, stop), daemon=True)
    device.start()
    try:
        with qa_environment(work):
            code, doc = run_json("ecg", "record", "--port", os.ttyname(slave), "--out", work / "recorded.csv", "--seconds", "1",
                                 "--quiet", "--json")
    finally:
        stop.set()
        device.join(5)
        os.close(master)
        os.close(slave)
    assert code == 0
    validate(doc, "qa.ecg/1")
    assert doc["samples_written"] > 100 and doc["stopped_by"] == "seconds" and Path(doc["path"]).is_file()


# ------------------------------------------------------------------------------------ errors


@pytest.fixture(scope="module")
def error_inputs(work, small_phantom, phantom_runs, trigger_trace):
    empty = work / "empty-folder"
    empty.mkdir()
    return SimpleNamespace(missing=work / "no-such-file", empty=empty, ct_file=small_phantom.files[0],
                           series=small_phantom.out_dir, db=phantom_runs.db, trace=trigger_trace, work=work)


ERRORS = {  # case: (the command qa.error/1 must name, its arguments)
    # qa score
    "score: a missing file": ("score", lambda x: ["score", x.missing]),
    "score: an empty folder": ("score", lambda x: ["score", x.empty]),
    "score: a bad option value": ("score", lambda x: ["score", x.series, "--threshold-hu", "abc"]),
    "score: an unknown option": ("score", lambda x: ["score", x.series, "--bogus"]),
    "score: no series": ("score", lambda x: ["score"]),
    # qa phantom
    "phantom: a missing file": ("phantom", lambda x: ["phantom", x.missing, "--no-store"]),
    "phantom: an empty folder": ("phantom", lambda x: ["phantom", x.empty, "--no-store"]),
    "phantom: a bad option value": ("phantom", lambda x: ["phantom", x.series, "--ring", "square"]),
    "phantom: an unknown procedure": ("phantom", lambda x: ["phantom", x.series, "--procedure", "no-such-procedure"]),
    "phantom: an unknown option": ("phantom", lambda x: ["phantom", x.series, "--bogus"]),
    # qa baseline
    "baseline: an unknown scanner (show)": ("baseline", lambda x: ["baseline", "show", "--scanner", "CT-Z", "--db", x.db]),
    "baseline: an unknown scanner (set)": ("baseline", lambda x: ["baseline", "set", "--scanner", "CT-Z", "--db", x.db]),
    "baseline: too few runs": ("baseline", lambda x: ["baseline", "set", "--scanner", "CT-A", "--from-last", "2", "--db", x.db]),
    "baseline: a bad option value": ("baseline", lambda x: ["baseline", "set", "--scanner", "CT-A", "--from-last", "-1", "--db", x.db]),
    "baseline: an unknown action": ("baseline", lambda x: ["baseline", "drop", "--scanner", "CT-A", "--db", x.db]),
    "baseline: no store": ("baseline", lambda x: ["baseline", "show", "--scanner", "CT-A", "--db", f"sqlite:///{x.missing}.sqlite"]),
    # qa trend
    "trend: an unknown scanner": ("trend", lambda x: ["trend", "--scanner", "CT-Z", "--db", x.db]),
    "trend: a bad option value": ("trend", lambda x: ["trend", "--scanner", "CT-A", "--last", "x", "--db", x.db]),
    "trend: an unknown option": ("trend", lambda x: ["trend", "--scanner", "CT-A", "--bogus", "--db", x.db]),
    "trend: no scanner": ("trend", lambda x: ["trend", "--db", x.db]),
    # qa trends
    "trends: no store": ("trends", lambda x: ["trends", "dose", "--db", f"sqlite:///{x.missing}.sqlite"]),
    "trends: an unknown grouping key": ("trends", lambda x: ["trends", "dose", "--by", "site", "--db", x.db]),
    "trends: a date that is not one": ("trends", lambda x: ["trends", "compliance", "--from", "2026-02-30", "--db", x.db]),
    "trends: an unknown scanner": ("trends", lambda x: ["trends", "dose", "--scanner", "CT-Z", "--db", x.db]),
    "trends: an unknown kind": ("trends", lambda x: ["trends", "phantom", "--db", x.db]),
    "trends: two exports": ("trends", lambda x: ["trends", "dose", "--csv", x.work / "never.csv", "--xlsx", x.work / "never"]),
    # qa check
    "check: a missing file": ("check", lambda x: ["check", x.missing]),
    "check: an empty folder": ("check", lambda x: ["check", x.empty]),
    "check: an unknown protocol": ("check", lambda x: ["check", x.series, "--protocol", "no-such-protocol"]),
    "check: a missing ECG trace": ("check", lambda x: ["check", x.series, "--ecg", x.missing]),
    "check: an unknown option": ("check", lambda x: ["check", x.series, "--bogus"]),
    # qa gating
    "gating: a missing trace": ("gating", lambda x: ["gating", "--ecg", x.missing]),
    "gating: a missing exposure file": ("gating", lambda x: ["gating", "--ecg", x.trace, "--exposures", x.missing]),
    "gating: a bad option value": ("gating", lambda x: ["gating", "--ecg", x.trace, "--fs", "-1"]),
    "gating: options that exclude each other": ("gating", lambda x: ["gating", "--ecg", x.trace, "--exposures", x.missing,
                                                                     "--series", x.series]),
    "gating: an unknown option": ("gating", lambda x: ["gating", "--ecg", x.trace, "--bogus"]),
    # qa dose
    "dose: a missing file": ("dose", lambda x: ["dose", x.missing]),
    "dose: an empty folder": ("dose", lambda x: ["dose", x.empty]),
    "dose: a file that is not a dose report": ("dose", lambda x: ["dose", x.ct_file]),
    "dose: a bad option value": ("dose", lambda x: ["dose", x.ct_file, "--k-factor", "no-such-k"]),
    "dose: an unknown option": ("dose", lambda x: ["dose", x.ct_file, "--bogus"]),
    # qa ecg record
    "ecg: a missing port": ("ecg", lambda x: ["ecg", "record", "--port", str(x.missing), "--out", x.work / "never.csv"]),
    "ecg: a bad option value": ("ecg", lambda x: ["ecg", "record", "--port", "loop://", "--out", x.work / "never.csv", "--seconds", "-1"]),
    "ecg: an unknown option": ("ecg", lambda x: ["ecg", "record", "--port", "loop://", "--out", x.work / "never.csv", "--bogus"]),
    "ecg: no port": ("ecg", lambda x: ["ecg", "record", "--out", x.work / "never.csv"]),
    # qa synth
    "synth: a folder that holds a series": ("synth", lambda x: ["synth", "phantom", x.series]),
    "synth: a bad option value": ("synth", lambda x: ["synth", "phantom", x.work / "never", "--matrix", "-3"]),
    "synth: an unknown option": ("synth", lambda x: ["synth", "phantom", x.work / "never", "--bogus"]),
    "synth: an unknown kind": ("synth", lambda x: ["synth", "patient", x.work / "never"]),
    "synth: impossible fleet options": ("synth", lambda x: ["synth", "exams", x.work / "never", "--exams", "0"]),
    "synth: a folder that holds a series (fleet)": ("synth", lambda x: ["synth", "exams", x.series]),
    # qa itself
    "an unknown command": ("frobnicate", lambda x: ["frobnicate", x.series]),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_every_error_with_json_prints_a_valid_qa_error(case, error_inputs):
    command, arguments = ERRORS[case]
    with qa_environment(error_inputs.work):
        code, doc = run_json(*arguments(error_inputs), "--json")
    assert code == 2
    validate(doc, "qa.error/1")
    assert doc["exit_code"] == 2 and doc["command"] == command
    assert doc["error"]["message"] and doc["error"]["type"] in ("InputError", "UsageError", "DefinitionError")
    if "missing file" in case or "missing trace" in case or "missing ECG" in case or "missing exposure" in case:
        assert doc["error"]["file"] == str(error_inputs.missing)  # the file is named in the document, not only in the message
    assert not (error_inputs.work / "never.csv").exists() and not (error_inputs.work / "never").exists()


# ------------------------------------------------------------------------------------ the schemas say no


def test_the_schemas_refuse_documents_that_break_the_contract(work, small_phantom, phantom_runs):
    with qa_environment(work):
        _, score = run_json("score", small_phantom.out_dir, "--json")
        _, error = run_json("score", work / "no-such-file", "--json")
    _, phantom = phantom_runs.docs["against baseline"]

    def broken(doc, edit):
        doc = copy.deepcopy(doc)
        edit(doc)
        return doc

    assert not is_valid(broken(score, lambda d: d.pop("mass_mg")), "qa.score/1")  # a field the design names
    assert not is_valid(broken(score, lambda d: d.update(agatston=str(d["agatston"]))), "qa.score/1")  # a string for a number
    assert not is_valid(broken(score, lambda d: d["lesions"][0].update(centroid_mm=[1.0, 2.0])), "qa.score/1")  # [x, y, z]
    assert not is_valid(broken(score, lambda d: d["lesions"][0].update(area_mm2=-1.0)), "qa.score/1")  # areas are not negative
    assert not is_valid(broken(score, lambda d: d["settings"].update(connectivity=6)), "qa.score/1")
    assert not is_valid(broken(score, lambda d: d["lesions"][0].update(volume_mm3=None)), "qa.score/1")  # null only where allowed
    assert not is_valid(broken(score, lambda d: d.update(warnings=[1])), "qa.score/1")
    assert not is_valid(broken(score, lambda d: d.update(schema="qa.phantom/1")), "qa.score/1")
    assert is_valid(broken(score, lambda d: d.update(more="fields are welcome")), "qa.score/1")
    assert not is_valid(broken(phantom, lambda d: d["checks"][0].update(status="ok")), "qa.phantom/1")
    assert not is_valid(broken(phantom, lambda d: d["checks"][0].pop("source")), "qa.phantom/1")
    assert not is_valid(broken(phantom, lambda d: d["checks"][0].update(expected=[1.0, 2.0, 3.0])), "qa.phantom/1")  # [low, high]
    assert not is_valid(broken(phantom, lambda d: d.update(verdict="not_available")), "qa.phantom/1")
    assert not is_valid(broken(phantom, lambda d: d["inserts"][0].update(physical_mass_mg=None)), "qa.phantom/1")
    assert not is_valid(broken(phantom, lambda d: d["provenance"].update(analysis_time="2026-03-01T07:30:00")), "qa.phantom/1")  # no offset
    assert not is_valid(broken(error, lambda d: d.update(exit_code=1)), "qa.error/1")
    assert not is_valid(broken(error, lambda d: d["error"].pop("hint")), "qa.error/1")


def test_a_clear_study_uid_is_never_a_valid_study_key(work, shared_data):
    path = require_shared(shared_data, "dicom", "rdsr", "CT-RDSR-Siemens-Multi-3.dcm")
    import pydicom

    with qa_environment(work):
        _, doc = run_json("dose", path, "--json")
    validate(doc, "qa.dose/1")
    uid = pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID
    assert uid not in json.dumps(doc)
    doc["reports"][0]["study_key"] = uid
    assert not is_valid(doc, "qa.dose/1")
    doc["reports"][0]["study_key"] = doc["reports"][0]["study_key"] + "x"
    assert not is_valid(doc, "qa.dose/1")
    doc["reports"][0]["compared"]["dlp_mgycm"] = -5.0
    assert not is_valid(doc, "qa.dose/1")

