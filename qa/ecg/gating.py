"""Prospective gating timing: did each exposure land in the quiet diastole of its actual beat?

Pure functions: R-peak times and exposure windows in, a record out.  For each window:

* the triggering R-peak: the last R-peak at least ``min_lead_ms`` (150 ms) before the window
  starts, since a scanner cannot react faster;
* the actual RR: from that R-peak to the next one;
* the predicted RR: the mean of the RR intervals before the triggering beat (the scanner's own
  prediction works that way; ``predict_beats`` of them, 3 by default);
* the delay (window start - triggering R-peak) and the phase: the window centre in % of the
  actual RR, never wrapped or clamped (a premature next beat gives phases above 100 %);
* whether the window ended before the next R-peak, and whether an ectopic (premature) beat was
  involved.

An exposure that did not end before the next R-peak fails; one whose phase is outside the
protocol's window warns.  Windows aligned only approximately (CT image times against the
recorder's clock) never fail: their findings warn, marked approximate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from qa.ecg.artefacts import unusual_samples, without_samples, worse
from qa.ecg.beatchecks import heart_rate_check, heart_rate_warnings, rhythm_check
from qa.ecg.beatcontext import beat_context, judge_in_context
from qa.ecg.quality import SignalQuality
from qa.ecg.rhythm import HeartRate, Rhythm, analyze_rhythm
from qa.ecg.settings import GatingSettings
from qa.numeric import median
from qa.records.checks import FAIL, NOT_AVAILABLE, PASS, WARN, Check, verdict, worst
from qa.records.ecg import EcgTrace, TimeBase, TraceSummary, trace_warnings
from qa.records.plausibility import RANGES
from qa.records.serialize import Record

if TYPE_CHECKING:
    from qa.records.headers import Stack  # an annotation only: the stacks come from an exam's headers

# A scanner needs time to react to an R-peak: the trigger comes from the last R-peak at least
# this long before the exposure (the definition; configurable).
MIN_LEAD_MS = 150.0
# Beats averaged for the predicted RR (our choice, after the vendors' moving-average prediction).
PREDICT_BEATS = 3
# Beats are detected in chunks of this length (s) with DETECT_OVERLAP_S on each side, so a long trace
# never needs more than a chunk's filter arrays at a time: ours (the detector's QRS level looks ~10 s around
# a beat, the search-back 4 RR intervals each side, its filters settle within a second: 15 s of overlap leaves each
# kept beat as a whole-trace run finds it; on MIT-BIH 100, 208 and SVDB 800 the beats are identical).
DETECT_CHUNK_S = 60.0
DETECT_OVERLAP_S = 15.0
# Trigger latency limit against the detected R-peaks (the example limit).
TRIGGER_LATENCY_MAX_MS = 35.0
# A trigger pulse counts for the latency when it follows an R-peak within this time: ours (the longest
# plausible monitor delay; later pulses belong to no beat).
TRIGGER_SEARCH_MS = 200.0


@dataclass(frozen=True)
class ExposureWindow(Record):
    start_s: float  # on the trace's time base
    duration_s: float
    source: str  # "exposure CSV" | "trigger channel + protocol" | "CT stack times (approximate)"
    approximate: bool = False


@dataclass(frozen=True)
class ExposureTiming(Record):
    index: int
    start_s: float
    duration_s: float
    trigger_r_s: float | None
    next_r_s: float | None
    rr_actual_ms: float | None
    rr_predicted_ms: float | None
    delay_ms: float | None
    phase_pct: float | None
    ends_before_next_r: bool | None
    ectopic_beat: bool | None
    status: str
    message: str
    approximate: bool
    source: str




def time_exposures(r_peak_s: np.ndarray, windows: list[ExposureWindow], *, premature: set[int] | frozenset = frozenset(),
                   phase_window_pct: tuple[float, float] | None = (60.0, 80.0), min_lead_ms: float = MIN_LEAD_MS,
                   predict_beats: int = PREDICT_BEATS, gaps_s=()) -> list[ExposureTiming]:
    """The timing of each exposure window against the R-peaks (``premature``: indices of premature beats;
    ``gaps_s``: (start, end) of recording gaps, across which no beat is known)."""
    r = np.asarray(r_peak_s, dtype=float)
    return [_one(n, w, r, premature, phase_window_pct, min_lead_ms, predict_beats, tuple(gaps_s)) for n, w in enumerate(windows)]


def _gap_between(a: float, b: float, gaps) -> bool:
    """Does a recording gap lie between times a and b (or overlap [a, b])?"""
    return any(start < b and end > a for start, end in gaps)


def _one(n, w: ExposureWindow, r, premature, phase_window, min_lead_ms, predict_beats, gaps) -> ExposureTiming:
    base = dict(index=n, start_s=w.start_s, duration_s=w.duration_s, approximate=w.approximate, source=w.source)
    unknown = dict(next_r_s=None, rr_actual_ms=None, phase_pct=None, ends_before_next_r=None, ectopic_beat=None,
                   status=NOT_AVAILABLE)
    if _gap_between(w.start_s, w.start_s + w.duration_s, gaps):
        return ExposureTiming(**base, **unknown, trigger_r_s=None, rr_predicted_ms=None, delay_ms=None,
                              message="the exposure falls in a recording gap: its beats are unknown")
    candidates = np.flatnonzero(r <= w.start_s - min_lead_ms / 1000.0)
    if candidates.size == 0:
        return ExposureTiming(**base, **unknown, trigger_r_s=None, rr_predicted_ms=None, delay_ms=None,
                              message=f"no R-peak at least {min_lead_ms:g} ms before the exposure (the trace starts too late)")
    k = int(candidates[-1])
    trigger_r = float(r[k])
    predicted = _predicted(r, k, predict_beats, gaps)
    delay = (w.start_s - trigger_r) * 1000.0
    if k + 1 >= r.size:
        return ExposureTiming(**base, **unknown, trigger_r_s=trigger_r, rr_predicted_ms=predicted, delay_ms=delay,
                              message="no R-peak after the exposure (the trace ends too early)")
    next_r = float(r[k + 1])
    if _gap_between(trigger_r, next_r, gaps):
        return ExposureTiming(**base, **unknown, trigger_r_s=trigger_r, rr_predicted_ms=predicted, delay_ms=delay,
                              message="a recording gap between the triggering R-peak and the exposure: the beat is unknown")
    rr = (next_r - trigger_r) * 1000.0
    centre = w.start_s + w.duration_s / 2.0
    phase = 100.0 * (centre - trigger_r) / (next_r - trigger_r)  # never wrapped or clamped
    ends_before = w.start_s + w.duration_s <= next_r
    ectopic = any(j in premature for j in range(max(1, k - predict_beats + 1), k + 2))  # the predicting beats and the next
    approx = " (approximate alignment)" if w.approximate else ""
    if not ends_before:
        status = WARN if w.approximate else FAIL
        message = (f"the exposure ran {1000 * (w.start_s + w.duration_s - next_r):.0f} ms past the next R-peak"
                   f"{' (a premature beat)' if ectopic else ''}: systolic motion in the images{approx}")
    elif phase_window is not None and not (phase_window[0] <= phase <= phase_window[1]):
        status = WARN
        message = f"phase {phase:.1f} % of the actual RR, outside {phase_window[0]:g}-{phase_window[1]:g} %{approx}"
    else:
        status = PASS
        message = f"phase {phase:.1f} % of the actual RR, ended {1000 * (next_r - w.start_s - w.duration_s):.0f} ms before the next R{approx}"
    return ExposureTiming(**base, trigger_r_s=trigger_r, next_r_s=next_r, rr_actual_ms=rr, rr_predicted_ms=predicted, delay_ms=delay,
                          phase_pct=phase, ends_before_next_r=bool(ends_before), ectopic_beat=ectopic, status=status, message=message)


def _predicted(r: np.ndarray, k: int, beats: int, gaps=()) -> float | None:
    """Mean (ms) of the (up to) ``beats`` RR intervals that end at or before beat ``k``, leaving out an
    interval across a recording gap; None when there is none."""
    first = max(0, k - beats)
    rr = [(b - a) for a, b in zip(r[first:k], r[first + 1:k + 1]) if not _gap_between(a, b, gaps)]
    return float(np.mean(rr)) * 1000.0 if rr else None


def windows_from_trigger(trigger_times_s: np.ndarray, r_peak_s: np.ndarray, *, delay_pct: float | None, delay_ms: float | None,
                         duration_ms: float, predict_beats: int = PREDICT_BEATS, gaps_s=()) -> list[ExposureWindow]:
    """Exposure windows from the trigger channel plus the protocol's delay and window.

    The window is centred on the target: ``delay_pct`` of the RR the scanner predicts at that
    trigger (the mean of the last ``predict_beats`` RR intervals before it), or ``delay_ms``, after
    the trigger.  A trigger without enough beats before it for a prediction gives no window.
    """
    r = np.asarray(r_peak_s, dtype=float)
    out = []
    for t in np.asarray(trigger_times_s, dtype=float):
        if delay_ms is not None:
            centre = t + delay_ms / 1000.0
        elif delay_pct is not None:
            predicted_ms = _predicted(r, int(np.searchsorted(r, t, side="right")) - 1, predict_beats, gaps_s)
            if predicted_ms is None:
                continue
            centre = t + delay_pct / 100.0 * predicted_ms / 1000.0
        else:
            continue
        out.append(ExposureWindow(float(centre - duration_ms / 2000.0), duration_ms / 1000.0,
                                  "trigger channel + protocol delay and window"))
    return out


def trigger_latency(trigger_times_s: np.ndarray, r_peak_s: np.ndarray, *, max_search_ms: float = TRIGGER_SEARCH_MS) -> np.ndarray:
    """Per trigger: ms since the nearest preceding R-peak (NaN when none within ``max_search_ms``)."""
    r = np.asarray(r_peak_s, dtype=float)
    out = np.full(len(trigger_times_s), np.nan)
    for n, t in enumerate(trigger_times_s):
        k = np.searchsorted(r, t, side="right") - 1
        if k >= 0 and (t - r[k]) * 1000.0 <= max_search_ms:
            out[n] = (t - r[k]) * 1000.0
    return out


def rising_edges(trigger: np.ndarray, time_s) -> np.ndarray:
    """Times of the 0 -> 1 transitions of a trigger channel (``time_s``: the sample times, or a ``TimeBase``)."""
    t = np.asarray(trigger, dtype=bool)
    edges = np.flatnonzero(t[1:] & ~t[:-1]) + 1
    if t.size and t[0]:
        edges = np.concatenate([[0], edges])
    if isinstance(time_s, TimeBase):
        return time_s.at(edges)
    return np.asarray(time_s)[edges]


def gating_checks(timings: list[ExposureTiming], *, latency_ms: np.ndarray | None = None,
                  latency_limit_ms: float = TRIGGER_LATENCY_MAX_MS, time_base_note: str | None = None,
                  min_lead_ms: float = MIN_LEAD_MS, phase_window_pct: tuple[float, float] | None = None) -> list[Check]:
    """``exposure_timing`` (and ``trigger_latency`` when there is a trigger channel), in words of what
    was measured: ended before the next R-peak, within ``phase_window_pct`` of the actual RR (not "in diastole")."""
    checks = []
    src = {"rule": "gating", "min_lead_ms": min_lead_ms}
    if not timings:
        checks.append(Check("exposure_timing", NOT_AVAILABLE, None, None,
                            time_base_note or "no exposure windows on the trace's time base", src))
    else:
        statuses = [t.status for t in timings]
        final = worst(statuses) if any(s != NOT_AVAILABLE for s in statuses) else NOT_AVAILABLE
        bad = [t for t in timings if t.status in (FAIL, WARN)]
        n_ok = sum(1 for s in statuses if s == PASS)
        measured = f"{n_ok} of {len(timings)} {_judged(phase_window_pct)}"
        approx = any(t.approximate for t in timings)
        message = (f"{len(bad)} exposure(s) off: " + "; ".join(f"#{t.index + 1} {t.message}" for t in bad[:4]) + (f"; and {len(bad) - 4} more" if len(bad) > 4 else "")) if bad else (
            "every exposure ended before the next R-peak" + (f", {_judged(phase_window_pct)} of its actual RR" if phase_window_pct
                                                             else "") if final == PASS else
            "; ".join(t.message for t in timings if t.status == NOT_AVAILABLE)[:300])
        if approx:
            message += " [windows aligned from CT image times: approximate]"
        checks.append(Check("exposure_timing", final, measured, f"every exposure {_judged(phase_window_pct)}", message,
                            src | {"approximate": approx}))
    if latency_ms is not None:
        finite = latency_ms[np.isfinite(latency_ms)]
        if finite.size == 0:
            checks.append(Check("trigger_latency", NOT_AVAILABLE, None, latency_limit_ms,
                                f"no trigger within {TRIGGER_SEARCH_MS:g} ms after an R-peak", {"rule": "gating.trigger_latency_max_ms"}))
        else:
            med, mx = float(median(finite)), float(np.max(finite))
            ok = mx <= latency_limit_ms
            checks.append(Check("trigger_latency", PASS if ok else WARN, round(mx, 1), latency_limit_ms,
                                f"trigger {med:.0f} ms (median), {mx:.0f} ms (max) after the R-peak; limit {latency_limit_ms:g} ms",
                                {"rule": "gating.trigger_latency_max_ms", "median_ms": med, "max_ms": mx, "n": int(finite.size)}))
    return checks


def _judged(window: tuple[float, float] | None) -> str:
    """What a passing exposure was shown to do, in words."""
    return f"within the {window[0]:g}-{window[1]:g} % phase window" if window is not None else "ended before the next R-peak"


def windows_from_stacks(stacks: tuple[Stack, ...], trace_start: dt.datetime | None, exposure_s: float | None) -> tuple[list[ExposureWindow], str | None]:
    """Exposure windows from a CT series' per-stack acquisition times, on the trace's time base.

    The scanner's and the recorder's clocks are rarely synchronised and image times are often
    whole seconds: such windows are approximate.  Without the trace's absolute start time or the
    stacks' times there is no time base: ([], the reason).  Both are the site's wall-clock times
    (CT images carry no offset): a trace start with an offset must be turned into wall-clock time
    by the caller (:func:`qa.workflows.gating.gating_for_exam` does); one left aware is refused.
    """
    if trace_start is not None and trace_start.tzinfo is not None:
        raise ValueError("trace_start must be the site's wall-clock time (naive); convert an aware time first")
    if trace_start is None:
        return [], "the ECG trace has no absolute start time: the CT stacks cannot be placed on it"
    timed = [s for s in stacks if s.acquisition_time]
    if not timed:
        return [], "the CT images carry no acquisition times"
    if exposure_s is None:
        return [], "the CT headers give no exposure time per stack"
    out = []
    for s in timed:
        start = (dt.datetime.fromisoformat(s.acquisition_time).replace(tzinfo=None) - trace_start).total_seconds()
        out.append(ExposureWindow(start, exposure_s, "CT stack acquisition time (approximate: clocks not synchronised)",
                                  approximate=True))
    return out, None


# ------------------------------------------------------------------------------------ the whole analysis


@dataclass(frozen=True)
class Beats(Record):
    """The detected beats of a trace: R-peak times (s on the trace's time base), heart rate, ectopy."""

    r_peak_times_s: tuple[float, ...]
    heart_rate_bpm: HeartRate
    ectopic_indices: tuple[int, ...]
    rhythm: Rhythm
    classes: tuple[str, ...] = ()  # per R-peak: normal / ventricular / unknown (qa.ecg.morphology)
    ventricular_indices: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class GatingReport(Record):
    """R-peaks, rhythm, exposure timing and checks of one trace (the ``qa.gating/1`` document's body).

    ``trace`` (the samples, for the strip plot) is not part of the JSON form: ``ecg`` summarises it."""

    ecg: TraceSummary
    beats: Beats
    exposures: tuple[ExposureTiming, ...]
    exposure_windows_from: str
    phase_window_pct: tuple[float, float] | None
    checks: tuple[Check, ...]
    verdict: str
    notes: tuple[str, ...]
    trace: EcgTrace = field(repr=False, metadata={"json": False})
    warnings: tuple[str, ...] = ()
    signal_quality: SignalQuality | None = None

    @property
    def r_peak_s(self) -> np.ndarray:
        return np.asarray(self.beats.r_peak_times_s, dtype=float)

    @property
    def premature(self) -> set[int]:
        return set(self.beats.ectopic_indices)

    @property
    def rhythm(self) -> Rhythm:
        return self.beats.rhythm

    @property
    def heart_rate_bpm(self) -> HeartRate:
        return self.beats.heart_rate_bpm


def detect_beats(trace: EcgTrace, *, envelopes: dict | None = None) -> np.ndarray:
    """R-peak times (s) of a trace, detected segment by segment (never across a recording gap), a long
    segment in pieces; the apex is marked with one sign for the whole trace (the dominant deflection
    of all its beats: a piece whose own beats vote otherwise is detected again with it).

    ``envelopes``: an empty dict that receives the QRS envelope (:func:`qa.ecg.rpeaks.qrs_envelope`) of a
    segment detected whole, under its (start, stop) samples, for the signal quality to reuse
    (:func:`qa.ecg.quality.assess_trace_quality`): at most one piece's worth of samples in all (a
    minute of ECG is one segment, handed over whole; a long or gapped trace's memory stays bounded)."""
    from qa.ecg.chunks import spans
    from qa.ecg.rpeaks import REFRACTORY_S, dominant_sign, find_r_peaks, qrs_envelope

    if envelopes:
        raise ValueError("detect_beats fills the envelopes dict: pass an empty one (envelopes of another trace would be trusted)")
    fs = trace.fs_hz
    pieces = []
    room = int((DETECT_CHUNK_S + DETECT_OVERLAP_S) * fs)  # envelope samples that may still be handed over
    for seg in trace.segments():
        if seg.stop - seg.start < int(fs):  # under a second: nothing to detect reliably
            continue
        for sp in spans(seg.start, seg.stop, int(DETECT_CHUNK_S * fs), int(DETECT_OVERLAP_S * fs)):
            env = None
            if envelopes is not None and (sp.start, sp.stop) == (seg.start, seg.stop) and sp.stop - sp.start <= room:
                env = envelopes[(sp.start, sp.stop)] = qrs_envelope(trace.ecg_mv[sp.start:sp.stop], fs)
                room -= sp.stop - sp.start
            found = find_r_peaks(trace.ecg_mv[sp.start:sp.stop], fs, envelope=env)
            core = (found.sample_index + sp.start >= sp.core_start) & (found.sample_index + sp.start < sp.core_stop)
            pieces.append((sp, found, core))
    votes = [p for p in pieces if p[2].any()]
    if len({found.positive for _, found, _ in votes}) > 1:  # the pieces disagree: the sign of all the beats
        positive = dominant_sign(np.concatenate([f.lobe_up_mv[c] for _, f, c in votes]),
                                 np.concatenate([f.lobe_down_mv[c] for _, f, c in votes]))
        for k, (sp, found, core) in enumerate(pieces):
            if found.positive is not None and found.positive != positive:
                again = find_r_peaks(trace.ecg_mv[sp.start:sp.stop], fs, positive=positive,
                                     envelope=envelopes.get((sp.start, sp.stop)) if envelopes is not None else None)
                at = again.sample_index + sp.start
                pieces[k] = (sp, again, (at >= sp.core_start) & (at < sp.core_stop))
    found = [f.sample_index[c] + sp.start for sp, f, c in pieces]
    idx = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    if idx.size > 1:  # a beat at a chunk's edge, found from both sides a sample or two apart: kept once
        idx = idx[np.concatenate([[True], np.diff(idx) >= int(REFRACTORY_S * fs)])]
    return trace.time_base.at(idx) if idx.size else np.empty(0)


def analyze_gating(trace: EcgTrace, windows: list[ExposureWindow], settings: GatingSettings, *, phase_window_pct: tuple[float, float] | None,
                   heart_rate_max_bpm: float | None = None, windows_source: str = "", time_base_note: str | None = None,
                   warnings: tuple[str, ...] = ()) -> GatingReport:
    """Beats, rhythm, exposure timing and the checks of one trace against its exposure windows.

    ``warnings``: flagged warnings from reading the inputs, carried into the report's ``warnings``
    with those about the trace (unusual rate or amplitude) and the heart rate found (``RANGES``).
    Samples of unusual amplitude are judged both ways, the worse verdict kept (:mod:`qa.ecg.artefacts`)."""
    options = dict(phase_window_pct=phase_window_pct, heart_rate_max_bpm=heart_rate_max_bpm, windows_source=windows_source,
                   time_base_note=time_base_note, warnings=warnings)
    report = _analyze(trace, windows, settings, **options)
    odd = unusual_samples(trace.ecg_mv, trace.fs_hz)
    if odd.size == 0:
        return report
    other = _analyze(without_samples(trace, odd), windows, settings, **options)
    chosen = other if worse(report.verdict, other.verdict) else report
    lo, hi = RANGES["ecg_mv"].typical
    note = (f"{trace.source}: {odd.size} sample(s) outside the usual {lo:g} to {hi:g} mV or one-sample spike(s), the first at "
            f"{float(trace.time_base.at(odd[:1])[0]):.3f} s, were judged both as recorded "
            f"({report.verdict.upper()}) and left out ({other.verdict.upper()}): the worse verdict is reported")
    return replace(chosen, ecg=report.ecg, trace=trace, warnings=report.warnings + (note,))


def _analyze(trace: EcgTrace, windows: list[ExposureWindow], settings: GatingSettings, *, phase_window_pct, heart_rate_max_bpm,
             windows_source, time_base_note, warnings) -> GatingReport:

    envelopes: dict = {}  # the QRS envelope of a segment detected whole, handed to the signal quality
    r = detect_beats(trace, envelopes=envelopes)
    gaps = trace.gaps()
    quality, classes = beat_context(trace, r, envelopes=envelopes)
    noisy = [(st.start_s, st.end_s) for st in quality.noisy_stretches]
    # premature beats and AF over good stretches only; ventricular beats (by shape) out of the AF suspicion
    rhythm = analyze_rhythm(r, gaps_s=gaps, unusable_s=noisy, ventricular=classes.ventricular_indices)
    premature = set(rhythm.premature_indices)
    notes = []
    edges = rising_edges(trace.trigger, trace.time_base) if trace.trigger is not None else None
    if edges is not None and not windows:
        windows = windows_from_trigger(edges, r, delay_pct=settings.delay_pct, delay_ms=settings.delay_ms,
                                       duration_ms=settings.window_ms, predict_beats=settings.predict_beats, gaps_s=gaps)
        if time_base_note:
            notes.append(f"{windows_source or 'exposure windows'}: {time_base_note}; the trigger channel is used instead")
        windows_source, time_base_note = "trigger channel + protocol delay and window", None
    timings = time_exposures(r, windows, premature=premature, phase_window_pct=phase_window_pct,
                             min_lead_ms=settings.min_lead_ms, predict_beats=settings.predict_beats, gaps_s=gaps)
    timings = judge_in_context(timings, r, quality, classes)
    latency = trigger_latency(edges, r) if edges is not None else None
    checks = gating_checks(timings, latency_ms=latency, latency_limit_ms=settings.trigger_latency_max_ms,
                           time_base_note=time_base_note, min_lead_ms=settings.min_lead_ms, phase_window_pct=phase_window_pct)
    hr = rhythm.heart_rate_bpm
    checks = [heart_rate_check(hr, heart_rate_max_bpm), rhythm_check(rhythm, premature, r)] + checks
    flagged = (*trace_warnings(trace), *heart_rate_warnings(hr, trace.source), *warnings)
    if gaps:
        notes.append(f"{len(gaps)} gap(s) in the recording: no beat is detected across them")
    if quality.noisy_stretches:
        notes.append(f"{len(quality.noisy_stretches)} stretch(es) too noisy to judge ({100 * (1 - quality.good_fraction):.0f} % of the "
                     "trace): no exposure, premature beat or rhythm is judged there")
    overall = verdict(checks)
    timing = next(c for c in checks if c.id == "exposure_timing")
    if overall == PASS and timing.status == NOT_AVAILABLE:
        overall = WARN  # nothing was verified: never a silent pass
        notes.append("the exposure timing could not be checked: " + timing.message)
    beats = Beats(tuple(float(v) for v in r), hr, tuple(sorted(premature)), rhythm, classes.labels, classes.ventricular_indices)
    return GatingReport(trace.summary(), beats, tuple(timings), windows_source, phase_window_pct, tuple(checks), overall,
                        tuple(notes), trace, tuple(flagged), quality)
