"""The ECG strip as a reader sees it, read back from the figure: the legend never over the trace or its
R-peak markers, exposure verdicts told apart in greyscale, the target phase window labelled below the trace."""

from __future__ import annotations

import io
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from PIL import Image

from qa.ecg.gating import ExposureWindow, time_exposures
from qa.ecg.synth import beat_times, synthesize_ecg
from qa.report.ecg_strip import WINDOW_STYLE, ecg_strip_figure, ecg_strip_png

STATUSES = ("pass", "warn", "fail", "not_available")


@pytest.fixture(scope="module")
def strip():
    """A 75-bpm trace with a premature beat, four exposures at 70 % of the RR, one of each verdict."""
    r = beat_times(14.0, 75.0, premature_at={9: 0.6})
    t, ecg = synthesize_ecg(r, duration_s=14.0, ventricular={9}, seed=2)
    windows = [ExposureWindow(float(r[k] + 0.56), 0.1, "test") for k in (3, 5, 7, 11)]
    timings = [replace(x, status=s) for x, s in zip(time_exposures(r, windows, phase_window_pct=(60.0, 80.0)), STATUSES)]
    fig = ecg_strip_figure(t, ecg, r, {9}, timings, (60.0, 80.0), title="test strip")
    fig.canvas.draw()
    return fig, r, ecg_strip_png(t, ecg, r, {9}, timings, (60.0, 80.0), title="test strip")


def _bbox_of_points(ax, xs, ys):
    return ax.transData.transform(np.column_stack([xs, ys]))


def test_the_legend_lies_outside_every_panel_and_covers_no_r_peak_marker(strip):
    fig, r, _ = strip
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), "legend over a panel"
        markers = [line for line in ax.get_lines() if line.get_gid() in ("r-peaks", "premature")]
        lo, hi = ax.get_xlim()
        assert sum(len(m.get_xdata()) for m in markers) == np.sum((r >= lo) & (r <= hi)) > 0  # every beat shown is marked
        for line in markers:
            for x, y in _bbox_of_points(ax, line.get_xdata(), line.get_ydata()):
                assert not box.contains(x, y)
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:3] == ["R-peak", "premature beat (by RR)", "target phase window (60-80 % of the RR)"]
    assert labels[3:] == [WINDOW_STYLE[s][4] for s in STATUSES]  # one entry per exposure verdict drawn


def test_exposure_verdicts_differ_in_greyscale_not_only_in_colour(strip):
    fig, _, png = strip
    styles = {(WINDOW_STYLE[s][1], WINDOW_STYLE[s][2], WINDOW_STYLE[s][3]) for s in STATUSES}
    assert len(styles) == len(STATUSES)  # hatch, edge style and width: each verdict its own
    # the legend's swatches, rendered and turned grey, are pairwise distinct pictures
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)  # the whole canvas: the legend lies inside the figure
    grey = np.asarray(Image.open(buffer).convert("L"), dtype=float)
    height = grey.shape[0]
    (legend,) = fig.legends
    renderer = fig.canvas.get_renderer()
    swatches = {}
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        label = text.get_text()
        status = next((s for s in STATUSES if WINDOW_STYLE[s][4] == label), None)
        if status is None:
            continue
        b = handle.get_window_extent(renderer)
        crop = grey[int(height - b.y1):int(height - b.y0), int(b.x0):int(b.x1)]
        swatches[status] = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((24, 10)), dtype=float)
    assert set(swatches) == set(STATUSES)
    for a, b in combinations(STATUSES, 2):
        assert np.abs(swatches[a] - swatches[b]).mean() > 8.0, (a, b)
    assert png[:4] == b"\x89PNG"


def test_the_target_phase_window_is_labelled_in_a_lane_below_the_trace(strip):
    fig, _, _ = strip
    ax = fig.axes[0]
    trace = ax.get_lines()[0]
    low = np.nanmin(trace.get_ydata())
    bars = [line for line in ax.get_lines() if line.get_gid() == "phase-window"]
    labels = [t for t in ax.texts if t.get_text() == "60-80 %"]
    assert len(bars) == len(labels) == 4
    assert all(max(bar.get_ydata()) < low for bar in bars)  # never over the trace
    assert all(t.get_position()[1] < low for t in labels)
    numbers = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("#"))
    assert numbers == ["#1", "#2", "#3", "#4"]
    assert all(t.get_position()[1] >= ax.get_ylim()[1] for t in ax.texts if t.get_text().startswith("#"))  # above the frame


def test_the_stretches_too_noisy_to_judge_are_shaded_behind_the_trace_with_a_legend_entry(shared_data, tmp_path):
    """A real noise-stress record: the gating analysis's noisy stretches appear on its strip, behind the trace."""
    from qa.workflows.gating import analyse_gating

    if not (shared_data / "ecg" / "118e12.hea").is_file():
        pytest.skip(f"MIT-BIH 118e12 is not in {shared_data / 'ecg'}")
    exposures = tmp_path / "exposures.csv"
    exposures.write_text("start_s,duration_s\n326.3,0.2\n332.2,0.2\n")
    report = analyse_gating(shared_data / "ecg" / "118e12.hea", exposures=exposures).report
    noisy = [(s.start_s, s.end_s) for s in report.signal_quality.noisy_stretches]
    assert any(a <= 326.3 <= b for a, b in noisy)
    index = np.arange(report.trace.n_samples)
    fig = ecg_strip_figure(report.trace.time_base.at(index), report.trace.ecg_mv[index], report.r_peak_s, report.premature,
                           report.exposures, report.phase_window_pct, noisy_s=noisy)
    for ax in fig.axes:
        shaded = [p for p in ax.patches if p.get_gid() == "noisy"]
        assert shaded, "a panel around a noisy exposure without its noisy stretch"
        assert all(p.get_zorder() < ax.get_lines()[0].get_zorder() for p in shaded)  # behind the trace
    assert "too noisy to judge" in [t.get_text() for t in fig.legends[0].get_texts()]
