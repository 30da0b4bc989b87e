"""``qa dashboard``: the fleet page as a manager sees it, rendered and driven in a real headless
Chromium (Playwright for Python, the Debian chromium), on a store written through the real store
API (real phantom QA runs on synthetic series, studies through Store.save_study)."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.errors import UsageError
from qa.workflows.dashboard import build_dashboard, dashboard_window
from tests.report.browser import chromium_page
from tests.report.fleet_store import MONTHS, NOW, build_fleet, medians, select

REPO = Path(__file__).resolve().parents[2]
QUANTITIES = ("ctdivol", "dlp", "msv")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, phantom_days):
    return build_fleet(tmp_path_factory.mktemp("fleet"), phantom_days)


@pytest.fixture(scope="module")
def board(fleet, tmp_path_factory):
    out = tmp_path_factory.mktemp("board") / "dashboard"
    return build_dashboard(out=out, db=fleet.db, now=NOW)


def _close(shown, expected) -> bool:
    if expected is None:
        return shown in ("", None)
    return math.isclose(float(shown), expected, rel_tol=1e-12, abs_tol=1e-12)


def _fleet_numbers(page) -> dict:
    """{scanner id: {column: data-value}} of the fleet table as the page shows it."""
    return page.evaluate("""() => {
        const out = {};
        for (const tr of document.querySelectorAll('#fleet tbody tr[data-scanner]')) {
            const row = {};
            for (const td of tr.querySelectorAll('td[data-col]')) { row[td.dataset.col] = td.dataset.value ?? td.dataset.verdict ?? null; }
            row.verdict = tr.querySelector('td[data-col=qa]').dataset.verdict ?? null;
            row.overdue = !!tr.querySelector('[data-overdue]');
            row.last_study = tr.querySelector('td[data-col=studies]').dataset.lastStudy || null;
            out[tr.dataset.scanner] = row;
        }
        return out;
    }""")


def _assert_fleet_shows(page, fleet, **selection) -> None:
    shown = _fleet_numbers(page)
    for station, scanner_id in fleet.scanner_ids.items():
        rows = select(fleet.expected, station=station, **selection)
        row = shown[str(scanner_id)]
        assert int(row["studies"]) == len(rows), (station, selection)
        assert row["last_study"] == (max(r.date for r in rows) if rows else None), (station, selection)  # OpenREM's "last study date"
        for key, value in medians(rows).items():
            assert _close(row[key], value), (station, key, row[key], value, selection)


def test_the_window_is_whole_calendar_months_ending_with_this_month():
    window = dashboard_window(dt.datetime(2026, 1, 15, 9, 0).astimezone(), 13)
    assert (window.start, window.end, window.first_month, window.last_month) == (dt.date(2025, 1, 1), dt.date(2026, 1, 31),
                                                                                "2025-01", "2026-01")
    assert dashboard_window(dt.datetime(2024, 2, 29).astimezone(), 1).end == dt.date(2024, 2, 29)
    for months in (0, -1, 241, 2.5, True):
        with pytest.raises(UsageError, match="--months"):
            build_dashboard(out="unused", months=months)


def test_the_dashboard_summarises_each_scanner_with_numpy_medians_last_qa_and_overdue(board, fleet):
    assert [Path(f).name for f in board.files] == ["dashboard-data.json", "index.html"]  # the page last
    assert board.n_studies == len(fleet.expected) and board.window.first_month == MONTHS[0] and board.window.last_month == MONTHS[-1]
    by_station = {s.station_name: s for s in board.scanners}
    assert set(by_station) == {"CT-A", "CT-B", "CT-C", "CT-D"}
    for station, summary in by_station.items():
        rows = select(fleet.expected, station=station)
        assert summary.n_studies == len(rows)
        expected = medians(rows)
        assert (summary.median.ctdivol_mgy, summary.median.dlp_total_mgycm, summary.median.dose_msv) == (
            expected["ctdivol"], expected["dlp"], expected["msv"])
        checked = [e for e in rows if e.verdict is not None]
        assert (summary.n_checked, summary.n_compliant) == (len(checked), sum(e.verdict != "fail" for e in checked))
        assert summary.n_incomplete == sum(e.verdict == "incomplete" for e in checked)  # counted apart, never as a pass
        assert (summary.last_qa.verdict if summary.last_qa else None) == fleet.last_verdict[station]
    assert by_station["CT-A"].last_qa.verdict == "fail" and by_station["CT-A"].last_qa.age_days == 14
    assert by_station["CT-A"].last_qa.overdue and by_station["CT-B"].last_qa.overdue  # daily QA: 14 and 74 days old
    assert by_station["CT-C"].last_qa.age_days == 1 and not by_station["CT-C"].last_qa.overdue
    assert by_station["CT-D"].last_qa is None
    # runs without a baseline (CT-B, CT-C) are incomplete, never a pass
    assert by_station["CT-B"].last_qa.verdict == "incomplete" == by_station["CT-C"].last_qa.verdict


def test_the_page_in_chromium_shows_the_fleet_and_its_filters_recompute_every_number(board, fleet, tmp_path):
    index = Path(board.files[-1])
    with chromium_page(width=1280, height=900) as (page, problems):
        page.goto(index.as_uri())
        page.wait_for_selector("#fleet tbody tr[data-scanner]")
        assert problems == []
        # the fleet: every scanner with numpy's medians of its calcium-score studies and its last phantom QA verdict
        _assert_fleet_shows(page, fleet)
        shown = _fleet_numbers(page)
        for station, scanner_id in fleet.scanner_ids.items():
            assert shown[str(scanner_id)]["verdict"] == fleet.last_verdict[station]
            assert shown[str(scanner_id)]["overdue"] == (station in ("CT-A", "CT-B"))
        assert "2 with overdue phantom QA" in page.inner_text("#summary")
        # counted apart from failures, and shown as INCOMPLETE, not a pass tick
        assert "1 whose last QA failed" in page.inner_text("#summary")
        assert "2 whose last QA is incomplete (checks not run)" in page.inner_text("#summary")
        badge = page.inner_text(f"#fleet tr[data-scanner='{fleet.scanner_ids['CT-B']}'] td[data-col=qa] .badge")
        assert badge == "? INCOMPLETE" and "PASS" not in badge
        # each scanner's checklists by verdict, incomplete with its own symbol (never the pass tick)
        for station, scanner_id in fleet.scanner_ids.items():
            checked = [e.verdict for e in select(fleet.expected, station=station) if e.verdict is not None]
            if not checked:
                continue
            cell = f"#fleet tr[data-scanner='{scanner_id}'] td[data-col=compliance] .verdict-counts"
            assert page.get_attribute(cell, "data-verdicts") == " ".join(
                f"{code}{checked.count(v)}" for code, v in (("p", "pass"), ("i", "incomplete"), ("w", "warn"), ("f", "fail")))
            assert page.inner_text(f"{cell} [data-verdict=incomplete]") == f"? {checked.count('incomplete')} incomplete"
            assert page.inner_text(f"{cell} [data-verdict=pass]").startswith("\u2713 ")
        assert any(e.verdict == "incomplete" for e in fleet.expected) and any(e.verdict == "pass" for e in fleet.expected)
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot))
        try:
            page.screenshot(path="/tmp/dashboard.png")  # for review by a person
        except OSError:
            pass
        # a date range: the numbers are those of the studies in it
        page.fill("#filter-from", "2025-10-01")
        page.fill("#filter-to", "2025-12-31")
        _assert_fleet_shows(page, fleet, first="2025-10-01", last="2025-12-31")
        assert page.inner_text("#filter-status").startswith(f"Showing {len(select(fleet.expected, first='2025-10-01', last='2025-12-31'))} studies")
        # ... and a protocol within it
        page.select_option("#filter-protocol", label="CaScore 100kV")
        _assert_fleet_shows(page, fleet, first="2025-10-01", last="2025-12-31", protocol="CaScore 100kV")
        before = _fleet_numbers(page)
        page.select_option("#filter-protocol", label="CaScore")
        _assert_fleet_shows(page, fleet, first="2025-10-01", last="2025-12-31", protocol="CaScore")
        assert _fleet_numbers(page) != before
        # the charts follow the filters: one month per label of the chosen range
        a = fleet.scanner_ids["CT-A"]
        labels = page.eval_on_selector_all(f"#scanner-{a} svg[data-chart=ctdivol] text.tick[transform]", "ts => ts.map(t => t.textContent)")
        assert labels == ["2025-10", "2025-11", "2025-12"]
        # one scanner
        page.select_option("#filter-scanner", label=next(s.label for s in board.scanners if s.station_name == "CT-C"))
        assert page.eval_on_selector_all("#fleet tbody tr[data-scanner]", "rs => rs.map(r => r.dataset.scanner)") == [str(fleet.scanner_ids["CT-C"])]
        assert page.eval_on_selector_all("section.scanner", "ss => ss.map(s => s.id)") == [f"scanner-{fleet.scanner_ids['CT-C']}"]
        page.click("#filter-reset")
        _assert_fleet_shows(page, fleet)
        # a scanner's section: monthly trends with units and the reference level drawn and named
        section = f"#scanner-{a}"
        for chart, unit in (("ctdivol", "(mGy)"), ("dlp", "(mGy\u00b7cm)"), ("msv", "(mSv)")):
            svg = f"{section} svg[data-chart={chart}]"
            assert unit in page.text_content(f"{svg} text[data-axis=y]")
            assert "month" in page.text_content(f"{svg} text[data-axis=x]")
            assert page.get_attribute(f"{svg} line.ref-level", "data-level") == "site-cac"
            assert "site-cac" in page.text_content(f"{svg} text.level-label")
        # a median and a 75th percentile marker per month with studies (all 13): numpy's, of the month's calcium scores
        for series, numpy_of in (("median", np.median), ("p75", lambda v: np.percentile(v, 75))):
            drawn = page.eval_on_selector_all(f"{section} svg[data-chart=dlp] [data-series={series}]",
                                              "ms => ms.map(m => [m.dataset.label, Number(m.dataset.value)])")
            assert [label for label, _ in drawn] == MONTHS
            for month, value in drawn:
                month_values = [e.dlp for e in select(fleet.expected, station="CT-A") if e.month == month and e.calcium and not e.qa]
                assert value == float(numpy_of(month_values)), (series, month)
        # the page's median and 75th percentile are numpy's, to the last bit, on awkward samples too
        rng = np.random.default_rng(7)
        samples = [[1.0], [2.0, 1.0], [3.0, 1.0, 2.0, 2.0], list(rng.normal(50, 10, 101)), list(rng.normal(5, 1, 12)),
                   list(np.round(rng.normal(5, 1, 40), 1))]
        for values in samples:
            shown = page.evaluate("v => [QA.median(v), QA.quantile(v, 0.75), QA.quantile(v, 0.5)]", [float(x) for x in values])
            assert shown == [float(np.median(values)), float(np.quantile(values, 0.75)), float(np.quantile(values, 0.5))], values
        assert page.get_attribute(f"{section} svg[data-chart=phantom-qa] line.ref-level", "data-level") == "due"
        # five runs before the baseline: incomplete (squares in their own lane), none a pass; the sixth failed
        timeline = f"{section} svg[data-chart=phantom-qa]"
        assert page.locator(f"{timeline} circle").count() == 0 and page.locator(f"{timeline} rect").count() == 5
        assert page.text_content(f"{timeline} text[data-lane=incomplete]") == "incomplete (5)"
        assert page.text_content(f"{timeline} text[data-lane=pass]") == "pass (0)"
        assert page.locator(f"{section} table.outliers tbody tr").count() >= 1
        footer = page.inner_text("#footer")
        assert "numpy.median" in footer and "numpy.percentile" in footer and "linear" in footer
        provenance = page.inner_text("[data-footer=provenance]")
        assert board.database in provenance and "2025-03-01 to 2026-03-31" in provenance and "generated 2026-03-20" in provenance
        assert problems == []
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[1] == 1280 and float(np.std(pixels[..., :3])) > 0.05


def _dose_check_cells(page) -> dict:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#fleet tbody tr[data-scanner]')].map(tr => {
        const td = tr.querySelector('td[data-col=dosecheck]');
        return [tr.dataset.scanner, [Number(td.dataset.alerts), Number(td.dataset.value)]];
    }))""")


def _workload(page) -> dict:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('table.workload-grid tbody tr')].map(tr =>
        [tr.dataset.weekday, Object.fromEntries([...tr.querySelectorAll('td[data-hour]')].filter(td => td.textContent)
            .map(td => [td.dataset.hour, Number(td.textContent)]))]))""")


def _expected_workload(rows) -> dict:
    out = {day: {} for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
    for e in rows:
        day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[dt.date.fromisoformat(e.date).weekday()]
        out[day][str(e.hour)] = out[day].get(str(e.hour), 0) + 1
    return out


def test_the_page_counts_dose_check_exceedances_and_the_workload_of_the_selection(board, fleet):
    """Per scanner, the events whose CT Dose Check alert / notification value was exceeded (counted in
    SQL per study, summed by the page over the selection), and the studies by weekday and hour."""
    by_station = {s.station_name: s for s in board.scanners}
    for station in fleet.scanner_ids:
        rows = select(fleet.expected, station=station)
        assert (by_station[station].n_dose_check_alerts, by_station[station].n_dose_check_notifications) == (
            sum(e.alerts for e in rows), sum(e.notifications for e in rows))
    assert sum(e.notifications for e in fleet.expected) > 0 and sum(e.alerts for e in fleet.expected) > 0
    data = json.loads(Path(board.files[0]).read_text())["rows"]
    assert set(data["events"]) == {2} and sum(data["dcn"]) == sum(e.notifications for e in fleet.expected)
    with chromium_page(width=1280, height=900) as (page, problems):
        page.goto(Path(board.files[-1]).as_uri())
        page.wait_for_selector("#fleet tbody tr[data-scanner]")
        for selection in ({}, {"protocol": "Coronary CTA"}):
            if selection:
                page.select_option("#filter-protocol", label=selection["protocol"])
            cells = _dose_check_cells(page)
            for station, scanner_id in fleet.scanner_ids.items():
                rows = select(fleet.expected, station=station, **selection)
                assert cells[str(scanner_id)] == [sum(e.alerts for e in rows), sum(e.notifications for e in rows)], (station, selection)
            assert _workload(page) == _expected_workload(select(fleet.expected, **selection))
        page.click("#filter-reset")
        page.select_option("#filter-scanner", label=by_station["CT-D"].label)
        assert _workload(page) == _expected_workload(select(fleet.expected, station="CT-D"))
        assert "Dose Check" in page.inner_text("[data-footer=dose-check]") and problems == []


def test_the_page_holds_pseudonym_prefixes_and_numbers_never_an_identifier(board, fleet):
    html = Path(board.files[-1]).read_text(encoding="utf-8")
    data = Path(board.files[0]).read_text(encoding="utf-8")
    for text in (html, data):
        assert "p-patient" not in text and "p-accession" not in text and "p-operator" not in text
        assert not any(e.study_key in text for e in fleet.expected)  # only the first characters of a study's pseudonym
        assert "1.2.826.0.1.9." not in text  # no series UID either
    keys = json.loads(data)["rows"]["key"]
    assert len(keys) == len(fleet.expected) and all(len(k) == 12 and k.startswith("p-") for k in keys)


def test_a_rerun_replaces_the_files_and_an_out_that_is_a_file_is_refused(fleet, tmp_path):
    out = tmp_path / "dash"
    first = build_dashboard(out=out, db=fleet.db, now=NOW)
    again = build_dashboard(out=out, db=fleet.db, now=NOW + dt.timedelta(days=40), months=2)
    assert first.files == again.files and again.n_studies < first.n_studies
    assert json.loads((out / "dashboard-data.json").read_text())["window"]["start"] == "2026-03-01"
    assert sorted(p.name for p in out.iterdir()) == ["dashboard-data.json", "index.html"]  # nothing left half-written
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(UsageError, match="is a file"):
        build_dashboard(out=tmp_path / "a-file", db=fleet.db, now=NOW)
    assert (tmp_path / "a-file").read_text() == "mine"
    with pytest.raises(UsageError, match="no results store"):
        build_dashboard(out=tmp_path / "none", db=f"sqlite:///{tmp_path / 'missing.sqlite'}", now=NOW)
    assert not (tmp_path / "missing.sqlite").exists() and not (tmp_path / "none").exists()


def test_qa_dashboard_prints_a_valid_json_document_and_the_page_data_validates(fleet, tmp_path):
    from tests.test_schemas import validate

    out = tmp_path / "cli"
    run = subprocess.run([sys.executable, "-m", "qa", "dashboard", "--db", fleet.db, "--out", str(out), "--months", "240", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = validate(json.loads(run.stdout), "qa.dashboard/1")
    assert doc["n_studies"] == len(fleet.expected) and doc["out"] == str(out) and doc["files"][-1].endswith("index.html")
    assert {s["station_name"] for s in doc["scanners"]} == {"CT-A", "CT-B", "CT-C", "CT-D"} and doc["window"]["months"] == 240
    validate(json.loads((out / "dashboard-data.json").read_text()), "qa.dashboard-page/1")
    refused = subprocess.run([sys.executable, "-m", "qa", "dashboard", "--db", fleet.db, "--out", str(out / "index.html"), "--json"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and validate(json.loads(refused.stdout), "qa.error/1")["error"]["message"].endswith("not a folder")


def test_the_dashboard_reads_the_same_from_postgresql(store_url, phantom_result, tmp_path):
    """The fleet queries on both databases: the same rows, medians and last QA from the same records."""
    from qa.store import Store
    from tests.conftest import provenance_at, result_variant
    from tests.report.fleet_store import PHILIPS, save_studies

    store = Store(store_url)
    try:
        for day in (3, 18):
            run = result_variant(phantom_result, uid=f"1.2.826.0.1.5.{day}", acquired=f"2026-03-{day:02d}T07:30:00", scanner=PHILIPS)
            store.save_phantom_run(run, provenance_at(f"2026-03-{day:02d}T08:00:00+00:00"))
        expected = save_studies(store, np.random.default_rng(5), PHILIPS, MONTHS[-3:], 5.0, 0.2)
    finally:
        store.close()
    board = build_dashboard(out=tmp_path / "pg", db=store_url, now=NOW)
    (summary,) = board.scanners
    assert summary.n_studies == len(expected) and summary.last_qa.age_days == 2 and summary.last_qa.overdue
    assert summary.median.dlp_total_mgycm == medians(expected)["dlp"]
    rows = json.loads((tmp_path / "pg" / "dashboard-data.json").read_text())["rows"]
    assert sorted(rows["dlp"]) == sorted(e.dlp for e in expected) and rows["date"] == sorted(rows["date"])


def test_the_dashboard_benchmark_runs(tmp_path):
    """The benchmark script works at a tiny size (timings are printed, never asserted)."""
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_dashboard.py"), "--per-month", "20", "--months", "2",
                          "--scanners", "2", "--run-document-kb", "1", "--repeats", "1", "--db", f"sqlite:///{tmp_path / 'bench.sqlite'}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "ratio" in out.stdout and "studies" in out.stdout


def test_a_sites_own_procedure_says_how_often_its_qa_is_due(phantom_result, tmp_path):
    """A run names its procedure by id: a site's own procedure file (--procedure) gives its interval_days;
    without the file the run is taken as due daily, and the warning says how to do better."""
    from dataclasses import replace

    from qa.errors import DefinitionError
    from qa.procedures import load_procedure
    from qa.procedures.builtin import builtin_dir
    from qa.store import Store
    from tests.conftest import provenance_at, result_variant
    from tests.report.fleet_store import PHILIPS

    text = (builtin_dir("procedures") / "daily-phantom-qa.toml").read_text()
    weekly = tmp_path / "weekly-phantom-qa.toml"
    weekly.write_text(text.replace('id = "daily-phantom-qa"', 'id = "weekly-phantom-qa"\ninterval_days = 7'))
    assert load_procedure(weekly).interval_days == 7 and load_procedure("daily-phantom-qa").interval_days is None
    for wrong in ("0", "2.5", "400"):
        bad = tmp_path / f"bad-{wrong}.toml"
        bad.write_text(text.replace('id = "daily-phantom-qa"', f'id = "bad"\ninterval_days = {wrong}'))
        with pytest.raises(DefinitionError, match="interval_days"):
            load_procedure(bad)
    db = f"sqlite:///{tmp_path / 'weekly.sqlite'}"
    run = result_variant(phantom_result, uid="1.2.826.0.1.6.1", acquired="2026-03-15T07:30:00", scanner=PHILIPS)
    run = replace(run, procedure=replace(run.procedure, id="weekly-phantom-qa"))
    store = Store(db)
    store.save_phantom_run(run, provenance_at("2026-03-15T08:00:00+00:00"))
    store.close()
    unknown = build_dashboard(out=tmp_path / "a", db=db, now=NOW)
    assert unknown.scanners[0].last_qa.overdue and any("--procedure" in w for w in unknown.warnings)
    known = build_dashboard(out=tmp_path / "b", db=db, now=NOW, procedures=[weekly])
    qa = known.scanners[0].last_qa
    assert (qa.age_days, qa.interval_days, qa.overdue, known.warnings) == (5, 7, False, ())
