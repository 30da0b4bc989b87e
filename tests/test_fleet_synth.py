"""``qa synth exams``: a fleet of header-only exams with dose reports, planted anomalies and a
ground-truth table, checked against what qa's own readers and dcmtk find in the files.

A small fleet (30 patient studies on 3 scanners over 3 months, plus the weekly phantom QA) is
written once per module by real processes; every dose report is read back with ``qa dose`` and
dcmtk's ``dsrdump``, every calcium score is checked with ``qa check``, and the planted drift,
outliers and reference-level exceedances are found in the truth and in the files.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from qa.errors import UsageError
from qa.exam_synth.fleet import FleetOptions, fleet_scanners, plan_fleet
from qa.workflows.synth import FLEET_FOLDER, fleet_rules, synthesize_exams
from tests.conftest import require_tool

SMALL = FleetOptions(exams=30, scanners=3, months=3, seed=11, start="2026-01")


@pytest.fixture(scope="module")
def rules():
    return fleet_rules()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """The small fleet, written by two worker processes, and its truth."""
    out = tmp_path_factory.mktemp("fleet") / "fleet"
    result = synthesize_exams(out, SMALL, workers=2)
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    return out, result, truth


def _rows(truth, **where):
    return [r for r in truth["studies"] if all(r[k] == v for k, v in where.items())]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ the plan


def test_the_plan_is_decided_by_the_seed_alone(rules, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, again = plan_fleet(SMALL, rules), plan_fleet(SMALL, rules)
    assert first == again and list(tmp_path.iterdir()) == []  # pure: nothing written
    other = plan_fleet(FleetOptions(**{**SMALL.to_dict(), "seed": 12}), rules)
    assert [e.start for e in other] != [e.start for e in first]
    starts = [e.start for e in first]
    assert starts == sorted(starts) and [e.number for e in first] == list(range(1, len(first) + 1))
    assert len({e.study_instance_uid for e in first}) == len(first)


def test_patient_exams_fall_on_working_days_in_working_hours_and_every_scanner_works(rules):
    plan = plan_fleet(SMALL, rules)
    patients = [e for e in plan if e.kind != "phantom_qa"]
    assert len(patients) == SMALL.exams and {e.scanner for e in patients} == {0, 1, 2}
    for exam in plan:
        assert "2026-01" <= exam.start[:7] <= "2026-03"
        when = datetime.fromisoformat(exam.start)
        assert when.weekday() < 5
        assert (7, 0) <= (when.hour, when.minute) <= (17, 30)
    qa = [e for e in plan if e.kind == "phantom_qa"]
    weeks = {datetime.fromisoformat(e.start).isocalendar()[:2] for e in qa}
    assert len(qa) == 3 * len(weeks)  # one phantom QA study per scanner a week


def test_a_year_plans_the_drift_and_the_outliers_visibly(rules):
    """Planning a year (no files): the first scanner's calcium-score CTDIvol rises by about 6 % a
    month after its start; the other scanners stay put; outliers sit at 3-5 x their scanner's median DLP."""
    opts = FleetOptions(exams=2000, scanners=4, months=12, seed=3)
    plan = plan_fleet(opts, rules)

    def median_ctdivol(scanner, months):
        return statistics.median(e.ctdivol_mgy for e in plan if e.scanner == scanner and e.kind == "cac" and e.start[5:7] in months
                                 and not set(e.planted) & {"dose_outlier", "above_reference_level", "retrospective_gating", "low_kvp"})

    early, late = ("01", "02", "03"), ("11", "12")
    assert median_ctdivol(0, late) / median_ctdivol(0, early) > 1.35  # about 1 + 0.06 x 7.5 months
    for scanner in (1, 2, 3):
        assert 0.9 < median_ctdivol(scanner, late) / median_ctdivol(scanner, early) < 1.1
    outliers = [e for e in plan if "dose_outlier" in e.planted]
    assert len(outliers) >= 10
    for e in outliers:
        assert 2.95 <= e.outlier_factor <= 5.05 and abs(e.dlp_total_mgycm - e.outlier_factor * e.group_median_dlp_mgycm) < 0.5
    counts = {name: sum(name in e.planted for e in plan) for name in ("high_heart_rate", "wrong_kernel", "retrospective_gating")}
    assert counts["high_heart_rate"] > 150 and counts["wrong_kernel"] > 30 and counts["retrospective_gating"] > 30


# ------------------------------------------------------------------------------------ the files


def test_the_same_seed_writes_the_same_bytes_whatever_the_number_of_workers(fleet, tmp_path):
    out, result, _ = fleet
    again = tmp_path / "again"
    synthesize_exams(again, SMALL, workers=1)
    assert _tree(again) == _tree(out)
    assert result.n_files == len([p for p in out.rglob("*") if p.is_file()]) - 2  # the marker and the manifest are not counted


def test_the_truth_table_has_one_row_per_study_and_the_csv_says_what_the_json_says(fleet):
    out, result, truth = fleet
    with open(out / "truth.csv", newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    assert len(rows) == len(truth["studies"]) == result.n_studies
    for row, study in zip(rows, truth["studies"]):
        assert row["folder"] == study["folder"] and (out / row["folder"]).is_dir()
        assert float(row["dlp_total_mgycm"]) == study["dlp_total_mgycm"] and row["kind"] == study["kind"]
        assert row["expected_checks"] == ";".join(f"{k}={v}" for k, v in study["expected_checks"].items())
    kinds = {r["kind"] for r in truth["studies"]}
    assert kinds == {"cac", "ccta", "chest", "phantom_qa"}
    assert truth["counts"]["without_dose_report"] >= 1 and truth["counts"]["cumulative_resends"] >= 1
    planted = truth["counts"]["planted"]
    for name in ("high_heart_rate", "wrong_kernel", "wrong_thickness", "low_kvp", "iterative_reconstruction", "retrospective_gating",
                 "dose_outlier", "above_reference_level", "dose_drift"):
        assert planted.get(name, 0) >= 1, name


def test_every_dose_report_reads_back_the_truths_ctdivol_dlp_and_dose(fleet):
    from qa.workflows.dose import summarise_dose

    out, _, truth = fleet
    with_report = _rows(truth, has_rdsr=True)
    assert len(with_report) == len(truth["studies"]) - truth["counts"]["without_dose_report"]
    for row in with_report:
        summary = summarise_dose([out / row["folder"] / "SR"])
        (study,) = summary.reports  # a cumulative re-send is merged into its study
        assert study.dlp_total_mgycm == pytest.approx(row["dlp_total_mgycm"], abs=0.006), row["folder"]
        assert study.compared.ctdivol_mgy == pytest.approx(row["ctdivol_mgy"], abs=0.006), row["folder"]
        if row["is_phantom_qa"]:  # a phantom has no patient effective dose (the truth's k x DLP is no one's dose)
            assert study.effective_dose_msv is None and study.phantom_qa is not None, row["folder"]
        else:
            assert study.effective_dose_msv == pytest.approx(row["dose_msv"], abs=2e-4), row["folder"]
        assert len(study.events) == row["n_events"] and study.station_name == row["station_name"]
        assert study.device_serial_number == row["device_serial_number"] and study.manufacturer == row["manufacturer"]
        assert len(study.superseded_sop_instance_uids) == (1 if row["cumulative_resend"] else 0)
        assert study.study_datetime == row["study_datetime"]


def test_every_passed_dose_check_notification_of_the_truth_is_in_the_reports_with_its_estimate_reason_and_technologist(fleet):
    from qa.dicom.rdsr import merge_reports, read_dose_report
    from qa.exam_synth.fleet.dose_check import REASONS
    from qa.records.identity import Pseudonymiser

    out, _, truth = fleet
    keys = Pseudonymiser.ephemeral()
    (above,) = [r for r in truth["studies"] if "above_reference_level" in r["planted"]]
    assert above["n_dose_check_notifications"] == 1  # its calcium score's CTDIvol is above the 10 mGy notification value
    assert truth["counts"]["dose_check_notification_events"] == sum(r["n_dose_check_notifications"] for r in truth["studies"]) >= 1
    assert truth["counts"]["dose_check_alert_events"] == 0
    for row in _rows(truth, has_rdsr=True):
        (study,) = merge_reports(read_dose_report(p, pseudonymise=keys) for p in sorted((out / row["folder"] / "SR").glob("*.dcm")))
        checked = [e for e in study.events if e.dose_check is not None]
        assert len(checked) == sum(1 for e in study.events if e.acquisition_type != "constant_angle")  # localizers have none
        passed = [e for e in checked if e.dose_check.notification_exceeded]
        assert len(passed) == row["n_dose_check_notifications"], row["folder"]
        assert not any(e.dose_check.alert_exceeded for e in checked)
        for e in passed:
            d = e.dose_check
            assert d.notification_ctdivol_forward_estimate_mgy == e.ctdivol_mgy > d.notification_ctdivol_mgy
            assert d.notification_reason in REASONS and d.notification_person_key == keys(row["operators_name"])


def test_a_cumulative_resend_repeats_the_first_reports_events_with_their_uids(fleet):
    out, _, truth = fleet
    for row in _rows(truth, cumulative_resend=True):
        first, second = (pydicom.dcmread(out / row["folder"] / "SR" / f"DOSE{n}.dcm") for n in (1, 2))

        def event_uids(ds):
            return [item.UID for container in ds.ContentSequence if container.ConceptNameCodeSequence[0].CodeValue == "113819"
                    for item in container.ContentSequence if item.ValueType == "UIDREF"]

        assert event_uids(second)[:len(event_uids(first))] == event_uids(first) and len(event_uids(second)) == len(event_uids(first)) + 1
        assert first.StudyInstanceUID == second.StudyInstanceUID and first.SOPInstanceUID != second.SOPInstanceUID


def test_dsrdump_reads_every_dose_report_without_an_error(fleet):
    dsrdump = require_tool("dsrdump")
    out, _, truth = fleet
    reports = sorted(str(p) for p in out.rglob("DOSE*.dcm"))
    assert len(reports) == truth["counts"]["dose_reports"]
    no_serial = {r["station_name"] for r in truth["studies"] if r["device_serial_number"] is None}
    for path in reports:
        done = subprocess.run([dsrdump, path], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        messages = [line for line in done.stderr.splitlines() if line.strip()]
        assert not [m for m in messages if m.startswith(("E:", "F:"))], (path, messages)
        # the scanner without a serial number writes none: dcmtk warns of that (type 1), of nothing else
        expected = ["W: DeviceSerialNumber (0018,1000) absent in EnhancedGeneralEquipmentModule (type 1)"] \
            if any(f"/{station}/" in path for station in no_serial) else []
        assert messages == expected, (path, messages)
        assert "X-Ray Radiation Dose SR Document" in done.stdout and "CT Acquisition" in done.stdout


def test_dcmtk_accepts_the_images_and_localizers_as_dicom_files(fleet):
    dcmftest = require_tool("dcmftest")
    out, _, _ = fleet
    files = sorted(str(p) for p in out.rglob("IM*.dcm"))[::7]
    done = subprocess.run([dcmftest, *files], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.count("yes:") == len(files), done.stdout[-2000:]


def _with_motion(expected: str, motion: str) -> str:
    """The truth's verdict (motion not predicted) once the motion check is known: a pass whose motion
    could not be measured (several stacks of uniform images) is incomplete, never all clear."""
    return "incomplete" if expected == "pass" and motion == "not_available" else expected


def test_qa_check_finds_what_was_planted_in_the_calcium_scores(fleet):
    """On every calcium score with something planted, without a dose report or with a re-sent one, and
    on five clean ones: each check that should
    not pass has the expected status, every other check passes, and the verdict is the expected one.
    ``breath_hold_motion`` is not predicted: the header-only images are uniform, so it is
    not_applicable (one rotation, a spiral) or not_available (several stacks)."""
    from qa.workflows.exam import check_exam_files

    out, _, truth = fleet
    cac = _rows(truth, is_calcium_score=True)
    special = [r for r in cac if r["planted"] or r["expected_checks"] or not r["has_rdsr"] or r["cumulative_resend"]]
    sample = special + [r for r in cac if r not in special][:5]
    assert any(not r["expected_checks"] and r["expected_verdict"] == "pass" for r in sample)
    assert any(not r["has_rdsr"] for r in sample) and any(r["cumulative_resend"] for r in sample)
    seen: dict[str, set[str]] = {}
    for row in sample:
        run = check_exam_files([out / row["folder"]])
        statuses = {c.id: c.status for c in run.checklist.checks}
        motion = statuses.pop("breath_hold_motion")
        assert motion in ("not_applicable", "not_available")
        not_passing = {k: v for k, v in statuses.items() if v != "pass"}
        assert not_passing == row["expected_checks"], (row["folder"], row["planted"])
        assert run.verdict == _with_motion(row["expected_verdict"], motion) and run.checklist.protocol.id == row["check_protocol"]
        for check_id, status in not_passing.items():
            seen.setdefault(check_id, set()).add(status)
        # the DLP and effective-dose levels agree (5.2 mSv = 200 mGy cm x the protocol's k): an exam exceeds both or neither
        assert statuses["dlp"] == statuses["effective_dose"], row["folder"]
    assert seen["heart_rate"] == {"warn"} and "fail" in seen["kernel"] and "fail" in seen["slice_thickness"]
    assert "fail" in seen["kvp"] and "warn" in seen["gating_mode"] and "warn" in seen["reconstruction_algorithm"]
    assert "warn" in seen["ctdivol"]


def test_qa_check_as_a_command_exits_1_on_a_planted_failure_and_0_on_a_clean_exam(fleet):
    out, _, truth = fleet
    cac = _rows(truth, is_calcium_score=True)
    failing = next(r for r in cac if r["expected_verdict"] == "fail")
    clean = next(r for r in cac if r["expected_verdict"] == "pass")
    env = dict(os.environ)
    for row, code in ((failing, 1), (clean, 0)):
        done = subprocess.run([sys.executable, "-m", "qa", "check", str(out / row["folder"]), "--json"], capture_output=True, text=True,
                              timeout=120, env=env)
        assert done.returncode == code, done.stderr
        document = json.loads(done.stdout)
        motion = next(c["status"] for c in document["checks"] if c["id"] == "breath_hold_motion")
        assert document["verdict"] == _with_motion(row["expected_verdict"], motion)
        for identifier in (row["patient_id"], row["accession_number"], row["study_instance_uid"], row["operators_name"]):
            assert identifier not in done.stdout  # read from the files, shown only as pseudonyms


def test_the_files_carry_the_patients_identifiers_and_the_scanners_identity(fleet):
    out, _, truth = fleet
    for row in truth["studies"][:25]:
        image = next((out / row["folder"]).glob("*/IM0001.dcm"))
        for path in [image] + sorted((out / row["folder"]).glob("SR/*.dcm")):
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            assert ds.PatientID == row["patient_id"] and str(ds.PatientName) == row["patient_name"]
            assert ds.AccessionNumber == row["accession_number"] and str(ds.OperatorsName) == row["operators_name"]
            assert ds.StudyInstanceUID == row["study_instance_uid"] and ds.StationName == row["station_name"]
            assert ds.get("DeviceSerialNumber") == row["device_serial_number"] and ds.Manufacturer == row["manufacturer"]
            assert ds.ManufacturerModelName == row["model"]  # the dose report names the images' scanner model


def test_every_dose_report_names_the_scanner_its_images_name_so_ingest_keeps_one_scanner_each(fleet, tmp_path, monkeypatch):
    from qa.dicom.rdsr import read_dose_report
    from qa.records.identity import Pseudonymiser
    from qa.store import Store
    from qa.workflows.ingest import ingest

    out, _, truth = fleet
    for row in [r for r in truth["studies"] if r["has_rdsr"]][:40]:
        image = pydicom.dcmread(next((out / row["folder"]).glob("*/IM0001.dcm")), stop_before_pixels=True)
        for path in sorted((out / row["folder"]).glob("SR/*.dcm")):
            report = read_dose_report(str(path), pseudonymise=Pseudonymiser.ephemeral())
            assert (report.manufacturer, report.model, report.device_serial_number, report.station_name) == (
                image.Manufacturer, image.ManufacturerModelName, image.get("DeviceSerialNumber") or None, image.StationName)
    monkeypatch.setenv("QA_SECRET_FILE", str(tmp_path / "secret"))
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    assert not ingest([out], db=url, workers=2).refused
    store = Store(url)
    try:
        stored = store.studies()
        scanners = {(s.record.scanner.manufacturer, s.record.scanner.model, s.record.scanner.station_name) for s in stored}
        assert scanners == {(r["manufacturer"], r["model"], r["station_name"]) for r in truth["studies"]}
        assert len(scanners) == len({r["scanner_id"] for r in truth["studies"]}) and len(stored) == len(truth["studies"])
    finally:
        store.close()


def test_each_vendor_writes_the_heart_rate_where_that_vendor_does_and_the_reader_finds_it(fleet):
    from qa.dicom.headers import headers_of

    out, _, truth = fleet
    where = {"standard": "HeartRate", "ge": "GEMS_HELIOS_01", "philips": "ELSCINT1", "siemens": "ImageComments", "canon": "TOSHIBA_MEC_CT3"}
    styles = {s["station_name"]: s["cardiac_tags"] for s in truth["scanners"]}
    checked, per_station = set(), {}
    for row in _rows(truth, is_calcium_score=True):
        per_station[row["station_name"]] = per_station.get(row["station_name"], 0) + 1
        if per_station[row["station_name"]] > 3:
            continue
        headers = headers_of([out / row["folder"] / "CACS"])
        assert headers.heart_rate_bpm == pytest.approx(row["heart_rate_bpm"])
        style = styles[row["station_name"]]
        assert where[style] in headers.sources["heart_rate_bpm"]
        checked.add(style)
    assert checked == {"standard", "ge", "philips"}  # the three scanners of the small fleet


def test_the_drift_is_in_the_truth_and_in_the_files(fleet):
    out, _, truth = fleet
    drift = truth["drift"]
    assert drift["station_name"] == "CT1-CARDIO" and drift["pct_per_month"] > 0 and drift["start_month"] == "2026-02"
    drifting = [r for r in truth["studies"] if r["station_name"] == "CT1-CARDIO" and not r["is_phantom_qa"]]
    others = [r for r in truth["studies"] if r["station_name"] != "CT1-CARDIO" or r["is_phantom_qa"]]
    assert all(r["drift_factor"] == 1.0 for r in others)
    late = [r for r in drifting if r["study_datetime"] >= "2026-03"]
    assert late and all(r["drift_factor"] > 1.03 and "dose_drift" in r["planted"] for r in late)
    assert all(r["drift_factor"] == 1.0 for r in drifting if r["study_datetime"] < "2026-02")
    for row in late:  # the CTDIvol the scanner wrote is the drifted one
        main = next(p for p in (out / row["folder"]).iterdir() if p.name in ("CACS", "CTA", "CHEST"))
        ds = pydicom.dcmread(main / "IM0001.dcm", stop_before_pixels=True)
        if row["kind"] == "cac":
            assert float(ds.CTDIvol) == pytest.approx(row["ctdivol_mgy"])


def test_outliers_and_exams_above_the_reference_level_are_in_the_truth_and_in_the_files(fleet, rules):
    from qa.workflows.dose import summarise_dose

    out, _, truth = fleet
    (outlier,) = [r for r in truth["studies"] if "dose_outlier" in r["planted"]]
    peers = [r["dlp_total_mgycm"] for r in _rows(truth, station_name=outlier["station_name"], is_calcium_score=True)
             if not {"dose_outlier", "above_reference_level"} & set(r["planted"])]
    assert outlier["group_median_dlp_mgycm"] == pytest.approx(statistics.median(peers), abs=0.01)
    assert 2.95 <= outlier["outlier_factor"] <= 5.05 and outlier["has_rdsr"]
    assert summarise_dose([out / outlier["folder"] / "SR"]).reports[0].dlp_total_mgycm == pytest.approx(outlier["dlp_total_mgycm"])
    (above,) = [r for r in truth["studies"] if "above_reference_level" in r["planted"]]
    assert above["ctdivol_mgy"] > rules.cac_level.ctdivol_mgy and "ctdivol_mgy" in above["above_reference_level"]
    assert above["expected_checks"]["ctdivol"] == "warn"


# ------------------------------------------------------------------------------------ options and folders


@pytest.mark.parametrize("changes, words", [
    ({"exams": 0}, "exams must be between"),
    ({"scanners": 13}, "scanners must be between 1 and 12"),
    ({"months": 0}, "months must be between"),
    ({"start": "2026-13"}, "is not a month"),
    ({"start": "January"}, "is not a month"),
    ({"seed": -1}, "seed must be 0 or more"),
    ({"exams": 2, "scanners": 3}, "at least one exam per scanner"),
    ({"exams": 5000, "scanners": 1, "months": 1}, "a scanner a working day"),
])
def test_impossible_options_are_refused_before_anything_is_written(tmp_path, changes, words):
    out = tmp_path / "never"
    with pytest.raises(UsageError, match=words):
        synthesize_exams(out, FleetOptions(**{**SMALL.to_dict(), **changes}))
    assert not out.exists()


def test_impossible_options_on_the_command_line_exit_2_with_a_qa_error(tmp_path):
    out = tmp_path / "never"
    done = subprocess.run([sys.executable, "-m", "qa", "synth", "exams", str(out), "--exams", "3", "--scanners", "4", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and json.loads(done.stdout)["schema"] == "qa.error/1" and not out.exists()
    assert "at least one exam per scanner" in json.loads(done.stdout)["error"]["message"]


def test_a_folder_that_is_not_an_earlier_fleet_is_refused_and_left_alone(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious\n")
    with pytest.raises(UsageError, match="was not written by qa synth exams: nothing was deleted"):
        synthesize_exams(mine, FleetOptions(exams=3, scanners=1, months=1))
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"]


def test_an_earlier_fleet_is_replaced_but_not_when_it_holds_a_file_of_the_users(tmp_path):
    out = tmp_path / "fleet"
    small = FleetOptions(exams=4, scanners=2, months=1, seed=1)
    synthesize_exams(out, small, workers=1)
    first = (out / "truth.json").read_bytes()
    synthesize_exams(out, FleetOptions(**{**small.to_dict(), "seed": 2}), workers=1)
    assert (out / "truth.json").read_bytes() != first
    listed = set((out / FLEET_FOLDER.manifest).read_text().splitlines())
    assert listed == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {FLEET_FOLDER.marker, FLEET_FOLDER.manifest}
    study = next((out / "exams").rglob("CACS"))
    (study / "notes.txt").write_text("mine\n")
    with pytest.raises(UsageError, match="notes.txt"):
        synthesize_exams(out, small, workers=1)
    assert (study / "notes.txt").exists() and (out / "truth.json").exists()


def test_an_interrupted_run_leaves_nothing_behind(tmp_path):
    """Ctrl-C while the studies are written (here: from the progress callback) removes what the run
    wrote, the folder it made included; studies are never half-written."""
    out = tmp_path / "fleet"

    def interrupt(done, total):
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize_exams(out, FleetOptions(exams=40, scanners=2, months=1), workers=1, progress=interrupt)
    assert not out.exists()


def test_the_scanners_of_a_fleet_depend_only_on_their_number():
    three, four = fleet_scanners(3), fleet_scanners(4)
    assert [s.station_name for s in three] == [s.station_name for s in four][:3]
    assert three[2].device_serial_number is None and four[2].device_serial_number is not None  # the last one has none
    assert three[0].drifts and not any(s.drifts for s in three[1:])
    assert {s.model.vendor for s in four} == {"siemens", "ge", "philips", "canon"}


def test_the_demo_phantom_qa_runs_on_scanners_of_the_fleet():
    """The demo's daily phantom QA and the manager's fleet share scanners (issue 13): one scanner shows both."""
    from qa.dicom.write import VENDORS
    from qa.exam_synth.fleet.catalogue import fleet_scanners
    from qa.workflows.demo import FLEET_SCANNERS, SCANNERS

    fleet = {(s.model.manufacturer, s.model.model, s.device_serial_number, s.station_name) for s in fleet_scanners(FLEET_SCANNERS)}
    for scanner in SCANNERS:
        manufacturer, model = VENDORS[scanner["vendor"]][:2]
        assert (manufacturer, model, scanner["device_serial_number"], scanner["station_name"]) in fleet
