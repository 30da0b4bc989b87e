"""Plots as PNG bytes: the located phantom over its images, control charts of stored runs, ECG strips.

The located phantom lives in :mod:`qa.report.phantom_picture`, the control charts in
:mod:`qa.report.trend_chart`, the ECG strip in :mod:`qa.report.ecg_strip`, what every figure shares
in :mod:`qa.report.figures`; they are re-exported here under their old names.
"""

from __future__ import annotations

import numpy as np

from qa.outputs import write_file
from qa.report.ecg_strip import ecg_strip_figure, ecg_strip_png, strip_panels  # noqa: F401 (re-exported)
from qa.report.figures import plain_text as _plain_text  # noqa: F401 (qa.report.motion uses it)
from qa.report.figures import png_bytes
from qa.report.phantom_picture import phantom_figure, phantom_overlay_png  # noqa: F401 (re-exported)
from qa.report.trend_chart import trend_figure, trend_figure_png  # noqa: F401 (re-exported)


def _pyplot():
    """pyplot on the Agg backend, for the figures still built through it (qa motion's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    """A figure laid out by tight_layout, cropped to its content, as PNG bytes (110 dpi)."""
    return png_bytes(fig, dpi=110, tight=True)


def write_ecg_strip(path, report, *, title: str | None = None) -> str:
    """The ECG strip of a gating report (qa.ecg.gating.GatingReport) as a PNG file, written whole or not at all."""
    t = report.trace
    # only the samples of the panels drawn: a 24-hour trace is never turned into float64 arrays whole
    ranges, _ = strip_panels(t.time_base.at([0, t.n_samples - 1]), list(report.exposures))
    bounds = [(t.time_base.index_of(a), t.time_base.index_of(b) + 1) for a, b in ranges]
    index = np.unique(np.concatenate([np.arange(a, min(b, t.n_samples)) for a, b in bounds]))
    png = ecg_strip_png(t.time_base.at(index), t.ecg_mv[index], report.r_peak_s, report.premature, report.exposures,
                        report.phase_window_pct, title=title or f"{t.source}, lead {t.lead}",
                        noisy_s=[(st.start_s, st.end_s) for st in (report.signal_quality.noisy_stretches
                                                                      if report.signal_quality else ())])
    return write_whole(path, png)


def write_whole(path, data: bytes | str) -> str:
    """Write a report file whole or not at all (:func:`qa.outputs.write_file`; its folder must exist:
    :mod:`qa.workflows.output_targets`); returns the path."""
    return write_file(path, data, make_folders=False)
