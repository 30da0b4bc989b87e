"""qa phantom / qa baseline / qa trend end to end: real files, a real database, real reports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qa.cli import main
from qa.dicom.write import write_ct_series


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_phantom_json_contract(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, out, err = run(capsys, "phantom", folders[0], "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "qa.phantom/1" and doc["qa_version"]
    assert set(doc["scanner"]) >= {"manufacturer", "model", "station_name", "device_serial_number"}
    assert set(doc["calibration"]) >= {"water_hu", "ha200_hu", "c_ha_mg_per_cm3_hu", "noise_hu"}
    insert = doc["inserts"][0]
    assert set(insert) >= {"id", "density_mgha_cm3", "diameter_mm", "detected", "agatston", "volume_mm3", "mass_mg",
                           "physical_mass_mg", "mass_error_pct", "centroid_mm"}
    assert set(doc["totals"]) >= {"agatston", "volume_mm3", "mass_mg", "physical_mass_mg"}
    check = doc["checks"][0]
    assert set(check) >= {"id", "status", "measured", "expected", "message", "source"}
    assert doc["verdict"] == "incomplete" and doc["stored"]["run_id"] == 1
    ids = {c["id"] for c in doc["checks"]}
    assert {"detected_800_5mm", "mass_800_5mm", "total_mass", "c_ha", "water_hu", "noise_hu", "acquisition_kvp"} <= ids
    assert "Phantom" in err and "VERDICT" in err  # the human report went to stderr


def test_a_month_in_the_life_of_a_scanner(capsys, phantom_days, tmp_path):
    """Five daily runs, a baseline, then a run with drifted calcium: fails, flagged, reported, trended."""
    folders, other = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:5]:
        code, out, _ = run(capsys, "phantom", folder, "--db", db)
        assert code == 0 and "baseline checks not available" in out
    code, out, err = run(capsys, "baseline", "set", "--scanner", "CT-A", "--from-last", "4", "--db", db)
    assert code == 2 and "at least 5 runs" in err
    code, out, _ = run(capsys, "baseline", "set", "--scanner", "CT-A", "--from-last", "5", "--db", db, "--reason", "commissioning")
    assert code == 0 and "baseline version 1" in out
    code, out, _ = run(capsys, "baseline", "show", "--scanner", "CT-A", "--db", db)
    assert code == 0 and "version 1 (active)" in out and "mass_800_5mm" in out and "commissioning" in out
    # the sixth day's calcifications read 30 % brighter: the mass checks fail against the baseline
    report = tmp_path / "day6.html"
    code, out, _ = run(capsys, "phantom", folders[5], "--db", db, "--report", report)
    assert code == 1 and "FAIL" in out and "mass_800_5mm" in out
    html = report.read_text()
    assert "data:image/png;base64," in html and "mass_800_5mm" in html and "fail" in html and "<table>" in html
    assert html.count("data:image/png") == 2  # the located phantom and the trend charts
    code, out, _ = run(capsys, "trend", "--scanner", "CT-A", "--metric", "mass_800_5mm", "--db", db, "--plot", tmp_path / "t.png")
    assert code == 0 and "FLAGGED from run #6" in out and "Per month" in out
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run(capsys, "trend", "--scanner", "CT-A", "--db", db, "--json")
    trend = json.loads(out)
    assert trend["schema"] == "qa.trend/1" and trend["baseline_version"] == 1
    assert trend["metrics"]["mass_800_5mm"]["runs"][-1]["flags"]
    # another scanner has no baseline: its checks are not available, not failed
    code, out, _ = run(capsys, "phantom", other, "--db", db)
    assert code == 0 and "not_available".upper() in out


def test_a_configuration_change_is_reported_against_the_baseline_and_not_charted(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:5]:
        assert run(capsys, "phantom", folder, "--db", db)[0] == 0
    assert run(capsys, "baseline", "set", "--scanner", "CT-A", "--db", db)[0] == 0
    # the same scan scored with another method: a configuration change, never "no baseline yet"
    report = tmp_path / "changed.html"
    code, out, _ = run(capsys, "phantom", folders[1], "--db", db, "--method", "siemens", "--json", "--report", report)
    doc = json.loads(out)
    checks = {c["id"]: c for c in doc["checks"]}
    assert "of another configuration: this run is not compared with it" in report.read_text()
    assert code == 0 and checks["configuration"]["status"] == "warn"
    assert "scoring_method siemens (baseline standard)" in checks["configuration"]["message"]
    assert checks["mass_800_5mm"]["status"] == "not_available" and "configuration differs" in doc["verdict_message"]
    # the trend keeps charting the baseline's configuration and lists the run it leaves out
    code, out, _ = run(capsys, "trend", "--scanner", "CT-A", "--db", db, "--json")
    trend = json.loads(out)
    assert trend["configuration"]["scoring_method"] == "standard"
    assert trend["not_charted"]["other_configuration"] == [doc["stored"]["run_id"]]
    assert len(trend["metrics"]["mass_800_5mm"]["runs"]) == 5


def test_no_store_and_unusable_input(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    code, out, _ = run(capsys, "phantom", folders[0], "--no-store")
    assert code == 0 and "stored   no" in out
    # not the phantom: exit 2 with a clear message
    yy, xx = np.mgrid[-32:32, -32:32]
    write_ct_series(tmp_path / "water", np.stack([np.where(xx**2 + yy**2 < 30**2, 0.0, -1000.0)] * 8), pixel_mm=3.0)
    code, out, err = run(capsys, "phantom", tmp_path / "water", "--no-store")
    assert code == 2 and ("QRM" in err or "qrm-cci" in err.lower())
    # with a database: refused before anything is written
    db = tmp_path / "q.sqlite"
    code, _, err = run(capsys, "phantom", tmp_path / "water", "--db", f"sqlite:///{db}", "--json")
    assert code == 2
    assert not db.exists()  # an unusable input leaves no trace, not even an empty store
    code, _, err = run(capsys, "trend", "--scanner", "1", "--db", f"sqlite:///{db}")
    assert code == 2 and "does not exist yet" in err and "run qa phantom first" in err


def test_scanner_not_found(capsys, tmp_path):
    code, _, err = run(capsys, "trend", "--scanner", "CT-X", "--db", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert code == 2 and "does not exist yet" in err and "run qa phantom first" in err


def test_qa_phantom_on_the_real_canon_scan(capsys, canon_phantom_dir, tmp_path):
    code, out, err = run(capsys, "phantom", canon_phantom_dir, "--ring", "large", "--json", "--db", f"sqlite:///{tmp_path / 'q.sqlite'}")
    assert code == 0, err
    doc = json.loads(out)
    detected = {i["id"] for i in doc["inserts"] if i["detected"]}
    assert {"800_5mm", "400_5mm", "200_5mm", "800_3mm", "400_3mm"} <= detected
    assert doc["calibration"]["c_ha_mg_per_cm3_hu"] == pytest.approx(0.72, abs=0.05)
    assert doc["calibration"]["water_hu"] == pytest.approx(23, abs=10)
    assert doc["scanner"]["manufacturer"] == "TOSHIBA"


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "qa", "demo", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "drift flagged by the control chart" in result.stdout
    assert "CT1-CARDIO: no control-chart flag" in result.stdout
    assert (out / "report-CT2-MAIN.html").exists() and (out / "report-CT1-CARDIO.html").exists()
    # the PDF beside each HTML report when the pdf extra and a Chromium are there; else the output says why not
    from qa.report.pdf import pdf_engine_if_any

    engine, why = pdf_engine_if_any()
    if engine is not None:
        for name in ("CT1-CARDIO", "CT2-MAIN"):
            assert (out / f"report-{name}.pdf").read_bytes()[:5] == b"%PDF-" and f"pdf:      {out / f'report-{name}.pdf'}" in result.stdout
    else:
        assert f"pdf:      not printed: {why}" in result.stdout and not list(out.glob("*.pdf"))
    # the daily table: the days before a baseline are INCOMPLETE (checks not run), never PASS
    table = result.stdout[result.stdout.index("day "):result.stdout.index("baseline v1 set")]
    days = [line.split() for line in table.splitlines()[2:] if line.strip()]
    assert days and all(d[2] == "INCOMPLETE" for d in days if len(d) > 2 and d[1].startswith("CT"))
    # the technologist's part: the exam checklist with its ECG: fast heart rate, one PVC hitting stack 2
    assert "qa check on a synthetic calcium-score exam" in result.stdout
    assert "VERDICT  WARN: 3 of " in result.stdout and "checks warned" in result.stdout
    assert "warned   heart_rate, rhythm, exposure_timing (warnings, not failures)" in result.stdout
    # warnings beside checks that could not be run: the incomplete action, the warnings named after it
    assert ("ACTION   The calcium score may be reported; check at the scanner console what could not be read from the images. "
            "Review the warnings too: heart_rate, rhythm, exposure_timing.") in result.stdout
    assert "1 exposure(s) off: #2 the exposure ran" in result.stdout and "(a premature beat)" in result.stdout
    assert (out / "exam-ecg-strip.png").read_bytes()[:4] == b"\x89PNG" and (out / "exam-ecg.csv").exists()
    # ... and qa motion on an exam whose breath was released mid-scan: the boundary after the release fails
    assert "qa motion on an exam whose breath was released mid-scan" in result.stdout
    assert "MOTION   FAIL: stacks 1-2 FAIL" in result.stdout and "released" in result.stdout
    assert (out / "breath-hold-motion.png").read_bytes()[:4] == b"\x89PNG"
    # ... and the manager's year: a fleet ingested into the demo's database, and its dashboard
    import csv
    import sqlite3

    assert "qa demo: the manager's year" in result.stdout
    truth = list(csv.DictReader((out / "fleet" / "truth.csv").open()))
    with sqlite3.connect(out / "qa-demo.sqlite") as con:
        (n_studies,) = con.execute("select count(*) from studies").fetchone()
        (n_cac,) = con.execute("select count(*) from studies where is_calcium_score").fetchone()
    assert n_studies == len(truth) and n_cac == sum(r["is_calcium_score"] == "true" for r in truth)
    page = (out / "dashboard" / "index.html").read_text()
    assert "CT2-MAIN" in page and "CT1-CARDIO" in page  # the daily phantom QA shows there too
    assert not any(r["patient_id"] in page or r["patient_name"] in page for r in truth if r["patient_id"])
    # the demo runs once in the suite: a second run would first clear its own output, which is this;
    # a file of the user's at any depth stops it, nothing deleted
    from qa.errors import UsageError
    from qa.workflows.demo import prepare_demo_folder

    mine = out / "exam" / "cascore" / "notes.txt"
    mine.write_text("mine")
    with pytest.raises(UsageError, match="exam/cascore/notes.txt"):
        prepare_demo_folder(out)
    assert (out / "report-CT2-MAIN.html").exists()
    mine.unlink()
    prepare_demo_folder(out)
    assert sorted(p.name for p in out.iterdir()) == [".qa-demo"]
    # ... and it refuses a folder it did not write, touching nothing
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    refused = subprocess.run([sys.executable, "-m", "qa", "demo", "--out", str(tmp_path / "mine")], capture_output=True, text=True)
    assert refused.returncode == 2 and (tmp_path / "mine" / "thesis.txt").exists()


def test_the_demo_says_why_it_prints_no_pdf_when_there_is_no_browser(monkeypatch, tmp_path):
    pytest.importorskip("playwright", reason="without the pdf extra the reason is the missing package instead")
    from qa.report.pdf import pdf_engine_if_any

    monkeypatch.setenv("QA_CHROMIUM", str(tmp_path / "no-such-chromium"))
    engine, why = pdf_engine_if_any()
    assert engine is None
    assert why.startswith(f"printing to PDF needs a Chromium to print with: QA_CHROMIUM ({tmp_path / 'no-such-chromium'}) names no")
    assert "apt-get install chromium" in why


def test_trend_of_an_unknown_metric_is_a_usage_error(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'q.sqlite'}"
    assert run(capsys, "phantom", folders[0], "--db", db)[0] == 0
    code, _, err = run(capsys, "trend", "--scanner", "CT-A", "--metric", "mass_800_5m", "--db", db)
    assert code == 2 and "has a metric 'mass_800_5m'" in err and "mass_800_5mm" in err


def test_qa_trend_explains_its_columns_and_limits_and_labels_the_monthly_table(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:5]:
        assert run(capsys, "phantom", folder, "--db", db)[0] == 0
    assert run(capsys, "baseline", "set", "--scanner", "CT-A", "--from-last", "5", "--db", db)[0] == 0
    code, out, _ = run(capsys, "trend", "--scanner", "CT-A", "--db", db, "--json")
    trend = json.loads(out)
    code, out, _ = run(capsys, "trend", "--scanner", "CT-A", "--db", db)
    assert code == 0
    legend, tables = out.split("How to read the tables below:")[1].split("\nMass, ", 1)
    # every column and every flag is explained once, before the tables
    assert "z          (value - baseline mean) / chart SD" in legend
    assert f"never below {trend['min_sd_pct']:g} % of the baseline mean" in legend and "min_sd_pct" in legend
    for flag, meaning in trend["flag_meanings"].items():
        assert any(line.split() == [flag, *meaning.split()] for line in legend.splitlines()), flag
    assert "verdict" in legend and "flags never" in legend
    # each metric says which limits judge a run (the procedure's) and which are statistical
    chart = trend["metrics"]["mass_800_5mm"]
    low, high = chart["verdict_limits"]["tolerance"]
    assert "Mass, 800 mg/cm3 5 mm insert (mg)  [mass_800_5mm]" in out
    assert f"warn outside [{low:.2f}, {high:.2f}]" in tables and "control limits  +-2 SD" in tables
    assert "value (mg)" in tables
    monthly = out.split("Per month")[1].splitlines()
    header = monthly[1].split()
    assert header[:4] == ["month", "runs", "failed", "runs"] and "(mg)" in header and "(HU)" in header
    row = monthly[3].split()
    assert row[0] == "2026-03" and row[1] == "5"
    assert all(len(cell.split(".")[-1]) <= 4 for cell in row[3:])  # rounded, never 82.8380172
