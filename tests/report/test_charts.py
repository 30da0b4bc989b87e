"""The control charts and the located-phantom picture as a reader sees them: what is drawn where,
read back from the figure (its marks and its pixels), against what the verdict really used (the
checks stored with the run), on real runs of real synthetic series in a real store."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from qa.control_charts import metric_chart
from qa.procedures import load_phantom, load_procedure
from qa.report.phantom_picture import phantom_figure
from qa.report.trend_chart import C_TOLERANCE, C_WARN, trend_figure
from qa.store import Store
from qa.workflows.baselines import set_baseline
from qa.workflows.charts import scanner_control_charts
from qa.workflows.phantom import run_phantom_qa


@pytest.fixture(scope="module")
def scanner_month(phantom_days, tmp_path_factory):
    """Five daily runs of CT-A, a baseline set from them, and the sixth day (its calcium 30 % brighter)
    analysed against it and reported; then the control charts of all six."""
    folders, _ = phantom_days
    root = tmp_path_factory.mktemp("scanner_month")
    db = f"sqlite:///{root / 'qa.sqlite'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QA_SECRET_FILE", str(root / "site-secret"))
        mp.setenv("QA_DB_URL", db)
        for folder in folders[:5]:
            run_phantom_qa([folder], db=db, ring="none")
        set_baseline(scanner="CT-A", from_last=5, reason="commissioning", db=db)
        last = run_phantom_qa([folders[5]], db=db, ring="none", report=root / "report.html")
        charts = scanner_control_charts(scanner="CT-A", db=db, plot=root / "trend.png")
    store = Store(db)
    try:
        stored_checks = store.run_checks(last.stored.run_id)
    finally:
        store.close()
    label = f"{charts.scanner.station_name} ({charts.scanner.manufacturer} {charts.scanner.model})"
    picture = trend_figure(charts.metrics, scanner=label, baseline_version=charts.baseline_version)
    return SimpleNamespace(root=root, db=db, last=last, charts=charts, checks=stored_checks, picture=picture)


def _pixels(picture) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(picture.png)).convert("RGB")).astype(int)


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def test_each_chart_draws_the_tolerance_and_action_limits_the_verdict_used(scanner_month):
    charted = 0
    for metric, chart in scanner_month.charts.metrics.items():
        used = [c for c in scanner_month.checks if c["source"].get("metric") == metric and c["source"].get("reference") == "baseline"]
        if not used:
            assert chart.verdict_limits is None  # total_agatston: charted, never judged against the baseline
            assert not scanner_month.picture.find("tolerance", metric)
            continue
        source = used[0]["source"]
        assert list(chart.verdict_limits.tolerance) == pytest.approx(source["tolerance"])
        assert list(chart.verdict_limits.action) == pytest.approx(source["action"])
        (band,) = scanner_month.picture.find("tolerance", metric)
        (action,) = scanner_month.picture.find("action", metric)
        assert list(band.data) == pytest.approx(source["tolerance"]) and list(action.data) == pytest.approx(source["action"])
        charted += 1
    assert charted >= 5  # the masses, c_HA, water and noise


def test_the_bands_are_drawn_where_the_axis_puts_their_values(scanner_month):
    """Read back from the pixels: at the left edge of each panel (before the first run), the rows
    inside the tolerance band are its light blue, the rows between tolerance and action the warn
    zone's orange (its fill and hatching)."""
    pixels = _pixels(scanner_month.picture)
    seen = {"tolerance": 0, "warn": 0}
    for metric in scanner_month.charts.metrics:
        (panel,) = scanner_month.picture.find("panel", metric)
        x0, y0, _, y1 = panel.box
        _, _, low, high = panel.data

        def row(value: float, y0=y0, y1=y1, low=low, high=high) -> float:
            return y1 - (value - low) / (high - low) * (y1 - y0)

        lines = [row(v) for kind in ("mean", "sd2", "sd3", "action") for m in scanner_month.picture.find(kind, metric) for v in m.data]
        for kind, colour in (("tolerance", C_TOLERANCE), ("warn", C_WARN)):
            hue = np.sign(_rgb(colour)[2] - _rgb(colour)[0])  # bluish (+1) or orange (-1)
            for band in scanner_month.picture.find(kind, metric):
                rows = [r for r in range(int(row(band.data[1])) + 2, int(row(band.data[0])) - 1)
                        if all(abs(r - line) > 3 for line in lines)]
                column = pixels[rows, int(x0) + 3]
                assert np.all(hue * (column[:, 2] - column[:, 0]) > 15), (metric, kind)
                seen[kind] += len(rows) > 3  # a band narrower than the lines drawn over it is not counted
    assert seen["tolerance"] >= 5 and seen["warn"] >= 5


def test_statistical_limits_are_drawn_apart_from_the_verdict_limits_and_the_sd_is_named(scanner_month):
    procedure = load_procedure("daily-phantom-qa")
    for metric, chart in scanner_month.charts.metrics.items():
        b = chart.baseline
        assert b.chart_sd == pytest.approx(max(b.sd, abs(b.mean) * procedure.min_sd_pct / 100))
        for k, style in ((2, "dotted"), (3, "dashed")):
            (limits,) = scanner_month.picture.find(f"sd{k}", metric)
            assert limits.data == pytest.approx((b.mean - k * b.chart_sd, b.mean + k * b.chart_sd)) and limits.style == style
    (info,) = scanner_month.picture.find("header", "info")
    assert f"never below {procedure.min_sd_pct:g} % of the mean" in info.style and "min_sd_pct" in info.style
    legend = {m.key: m.style for m in scanner_month.picture.find("legend")}
    assert {"tolerance", "warn", "action", "mean", "sd2", "sd3", "run", "flagged"} <= set(legend)
    assert "control limit" in legend["sd3"] and "fail" in legend["action"] and "warn" in legend["warn"]


def test_titles_name_the_metric_with_its_unit_and_the_figure_names_scanner_and_dates(scanner_month):
    qrm = load_phantom("qrm-cci")
    insert = next(c for c in qrm.calcifications if c.id == "800_5mm")
    (title,) = scanner_month.picture.find("title", "mass_800_5mm")
    assert title.style == f"Mass, {insert.density_mgha_cm3:g} mg/cm3 {insert.diameter_mm:g} mm insert (mg)"
    assert scanner_month.charts.metrics["noise_hu"].unit == "HU"
    runs = scanner_month.charts.metrics["mass_800_5mm"].runs
    (header,), (info,) = scanner_month.picture.find("header", "title"), scanner_month.picture.find("header", "info")
    assert "CT-A" in header.style
    assert f"{runs[0].acquired_at.astimezone():%Y-%m-%d} to {runs[-1].acquired_at.astimezone():%Y-%m-%d}" in info.style
    assert f"{len(runs)} run(s)" in info.style


def test_flagged_runs_differ_from_the_others_by_shape_not_only_colour(scanner_month):
    flagged = scanner_month.picture.find("flagged", "mass_800_5mm")
    plain = scanner_month.picture.find("run", "mass_800_5mm")
    assert flagged and plain
    assert {m.style for m in flagged} == {"D"} and {m.style for m in plain} == {"o"}
    assert [m.data[2] for m in flagged] == [r.run_id for r in scanner_month.charts.metrics["mass_800_5mm"].runs if r.flags]
    # in greyscale the diamond keeps its black outline, the disc has none
    grey = np.asarray(Image.open(io.BytesIO(scanner_month.picture.png)).convert("L")).astype(int)

    def darkest(mark) -> int:
        x0, y0, x1, y1 = (round(v) for v in mark.box)
        return int(grey[y0 : y1 + 1, x0 : x1 + 1].min())

    assert darkest(flagged[0]) < 60 < darkest(plain[0])


@pytest.mark.parametrize("n_runs", [1, 2])
def test_one_or_two_runs_span_their_days_not_years(n_runs):
    first = dt.datetime(2026, 3, 2, 7, 30, tzinfo=dt.UTC)
    runs = [(k + 1, first + dt.timedelta(days=k), 80.0 + k, "pass") for k in range(n_runs)]
    chart = metric_chart(runs, (80.0, 1.0, 5), min_sd_pct=2.0, name="Mass", unit="mg")
    picture = trend_figure({"mass_800_5mm": chart}, scanner="CT-1")
    (panel,) = picture.find("panel", "mass_800_5mm")
    x_low, x_high = panel.data[:2]
    xs = [m.data[0] for m in picture.find("run", "mass_800_5mm")]
    assert len(xs) == n_runs and x_low < min(xs) and max(xs) < x_high
    assert x_high - x_low <= (n_runs - 1) + 1.5  # days: the runs and a little room, never an automatic span of years


def test_the_report_holds_both_pictures_and_explains_them(scanner_month):
    html = (scanner_month.root / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "window 700 HU, level 150 HU" in html and "dashed one at its expected position" in html
    assert "min_sd_pct" in html and "tolerance band" in html and "action level" in html


def test_the_located_phantom_labels_overlap_nothing_and_its_legend_matches_the_table(scanner_month):
    run = scanner_month.last
    picture = phantom_figure(run.volume, run.result.location, run.result.inserts, run.definition)
    labels = picture.find("label")
    circles = {m.key: m for m in picture.find("circle")}
    assert {m.key for m in labels} == set(circles)  # every object labelled with its id of the table
    for a, b in itertools.combinations(labels, 2):
        assert not _overlap(a.box, b.box), (a.key, b.key)
    for label in labels:  # nor another object's circle
        for key, circle in circles.items():
            if key != label.key:
                assert not _overlap(label.box, _inner(circle.box)), (label.key, key)
    detected = {i.id: i.detected for i in run.result.inserts}
    assert any(detected.values()) and not all(detected.values())  # the 1 mm inserts are missed: both styles shown
    for insert_id, was_detected in detected.items():
        assert circles[insert_id].style == ("solid" if was_detected else "dashed")
    legend = [m.key for m in picture.find("legend")]
    assert any("detected (solid" in k for k in legend) and any("not detected (dashed, at its expected position)" in k for k in legend)
    (caption,) = picture.find("caption", "window")
    assert caption.data == (-200.0, 500.0) and "window 700 HU, level 150 HU" in caption.style


def test_the_report_figures_are_drawn_without_importing_matplotlib(tmp_path):
    code = (
        "import sys, datetime as dt\n"
        "from qa.control_charts import metric_chart\n"
        "from qa.report.trend_chart import trend_figure\n"
        "t = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)\n"
        "chart = metric_chart([(1, t, 80.0, 'pass')], (80.0, 1.0, 5), min_sd_pct=2.0, name='Mass', unit='mg')\n"
        "assert trend_figure({'m': chart}, scanner='CT').png[:4] == b'\\x89PNG'\n"
        "import qa.report.phantom_picture\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


def _overlap(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _inner(box):
    """The square inscribed in a circle's box: what a label must not cover."""
    cx, cy, r = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) / 2 / 2 ** 0.5
    return (cx - r, cy - r, cx + r, cy + r)


def test_one_run_is_ticked_at_its_own_date_and_time_not_at_a_midnight():
    when = dt.datetime(2026, 3, 2, 7, 30).astimezone()
    chart = metric_chart([(1, when, 80.0, "pass")], (80.0, 1.0, 5), min_sd_pct=2.0, name="Mass", unit="mg")
    picture = trend_figure({"mass_800_5mm": chart}, scanner="CT-1")
    (tick,) = picture.find("xtick", "mass_800_5mm")
    (run,) = picture.find("run", "mass_800_5mm")
    assert tick.style == "2 Mar 07:30" and tick.data[0] == pytest.approx(run.data[0])
    # two runs on the same day: both ticked, the second by its time alone; the axis spans them
    runs = [(1, when, 80.0, "pass"), (2, when + dt.timedelta(hours=3), 80.5, "pass")]
    picture = trend_figure({"mass_800_5mm": metric_chart(runs, (80.0, 1.0, 5), min_sd_pct=2.0)}, scanner="CT-1")
    assert [t.style for t in picture.find("xtick", "mass_800_5mm")] == ["2 Mar 07:30", "10:30"]
    (panel,) = picture.find("panel", "mass_800_5mm")
    assert panel.data[1] - panel.data[0] < 0.5  # days: 3 hours and a little room either side


def test_without_a_baseline_noise_is_not_stretched_into_drift_and_the_figure_says_no_baseline_is_set():
    procedure = load_procedure("daily-phantom-qa")
    from qa.phantom.limits import scale_band

    first = dt.datetime(2026, 3, 2, 7, 30, tzinfo=dt.UTC)
    values = [80.0, 80.3, 79.8, 80.4, 80.1]  # half-percent noise
    band = scale_band(procedure, "mass_800_5mm", values)
    rule = next(r for r in procedure.checks if r.metric_key == "mass_800_5mm" and r.reference == "baseline")
    mean = float(np.mean(values))
    assert band == pytest.approx((mean * (1 - rule.tolerance / 100), mean * (1 + rule.tolerance / 100)))
    runs = [(k + 1, first + dt.timedelta(days=k), v, "incomplete") for k, v in enumerate(values)]
    chart = metric_chart(runs, None, min_sd_pct=2.0, name="Mass", unit="mg", scale_band=band)
    picture = trend_figure({"mass_800_5mm": chart}, scanner="CT-1")
    (panel,) = picture.find("panel", "mass_800_5mm")
    low, high = panel.data[2:]
    assert low <= band[0] and high >= band[1]  # the y axis spans the procedure's tolerance, not the 0.6 mg of noise
    (note,) = picture.find("header", "no_baseline")
    assert "NO BASELINE SET" in note.style and "qa baseline set" in note.style
    assert {m.key for m in picture.find("legend")} == {"run", "flagged"}  # no legend entry for a limit not drawn
    assert not picture.find("tolerance") and not picture.find("sd2")
    # a metric the procedure does not check (the Agatston score): +-10 % of the runs' mean
    bare = trend_figure({"total_agatston": metric_chart(runs, None, min_sd_pct=2.0)}, scanner="CT-1")
    (panel,) = bare.find("panel", "total_agatston")
    assert panel.data[2] <= 0.9 * mean and panel.data[3] >= 1.1 * mean
