"""R-peak detection: QRS complexes of one ECG lead, found offline and without a learning period.

    >>> idx = detect_r_peaks(ecg_mv, fs_hz)            # sorted sample indices of the R-peaks
    >>> peaks = find_r_peaks(ecg_mv, fs_hz)             # the same, as a record with times and details

The detector is our own, written on numpy (:mod:`qa.ecg.filters`) after the ideas of Pan & Tompkins (1985), adapted to a
whole trace that is known in advance (a CT gating trace is analysed after the scan):

1. **QRS energy.**  A zero-phase Butterworth band-pass (5-15 Hz, Pan & Tompkins' QRS band), its
   derivative (mV/s), squared and averaged over a 150 ms window, then the square root: the RMS
   slope of the QRS band, in mV/s.  Squaring makes it blind to the polarity of the lead; the
   square root keeps it proportional to the ECG's amplitude.  The trace is mirrored at both ends
   before filtering, so a QRS cut by the start or the end of the trace still shows.
2. **Candidates.**  Local maxima of that envelope at least 200 ms apart (the refractory period).
3. **Thresholds without a learning period.**  The QRS level at each moment is the median, over
   five neighbouring 2-s blocks (about 10 s, centred), of each block's envelope maximum: it is
   known from the first sample on, and follows changes in amplitude (never under 1 mV/s, a QRS of
   about 0.1 mV, so filter ringing and noise on a flat line are not beats).  A candidate above 30 % of
   that level is a beat unless it is a T wave: within 360 ms of the previous beat and under half
   of its slope (Pan & Tompkins' rule).
4. **Noise.**  A second decision uses Pan & Tompkins' running signal and noise peak levels
   (THRESHOLD I = NPKI + 0.25 (SPKI - NPKI), over ~10 s around each candidate, centred: no learning
   period); then a detection that splits an undisturbed cardiac cycle in two, neither clearly taller
   than its neighbours nor shaped like one of them, is dropped as noise (:mod:`qa.ecg.noiserules`).
5. **Search back.**  Where two beats are further apart than 1.66 times the local RR interval
   (median of the four intervals on each side), the largest candidate in between that passes half of
   the threshold (Pan & Tompkins' second threshold) is a beat; likewise before the first and after
   the last beat when that stretch is longer than the local RR interval.  Repeated until no gap
   is left.
6. **Fiducial point.**  Within the complex (where the envelope stays above half its peak) the
   steepest point of the ECG (0.5-40 Hz) is found, then the extremum within 60 ms of it of the sign
   of the trace's dominant QRS deflection: the apex of the R wave (not the S wave of an RS complex,
   not a later lobe of a wide ventricular complex).

Pure functions: arrays in, arrays or a frozen record out; the input is never modified.

References: Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng
32(3):230-236 (1985).  Hamilton PS, Tompkins WJ. Quantitative investigation of QRS detection rules
using the MIT/BIH arrhythmia database. IEEE Trans Biomed Eng 33(12):1157-1165 (1986).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from qa.ecg.filters import butter2, filtfilt, median_filter_reflect, peaks_apart
from qa.ecg.noiserules import adaptive_threshold, not_inserted
from qa.ecg.shape import windows
from qa.numeric import median, nanmedian_rows
from qa.records.serialize import Record

# QRS pass band, Hz: Pan & Tompkins 1985 (band-pass "5-15 Hz" maximising QRS energy).
QRS_BAND_HZ = (5.0, 15.0)
# Moving-window integration width: Pan & Tompkins 1985 (150 ms, "about the widest possible QRS").
INTEGRATION_WINDOW_S = 0.150
# No two beats closer than this: Pan & Tompkins 1985 (200 ms refractory period).
REFRACTORY_S = 0.200
# A candidate this soon after a beat may be its T wave: Pan & Tompkins 1985 (360 ms).
T_WAVE_WINDOW_S = 0.360
# ... and is taken for one when its slope is under this fraction of the beat's: Pan & Tompkins 1985 (half).
T_WAVE_SLOPE_RATIO = 0.5
# A gap longer than this many local RR intervals holds a missed beat: Pan & Tompkins 1985 (166 %).
MISSED_BEAT_RR = 1.66
# Search-back threshold as a fraction of the detection threshold: Pan & Tompkins 1985 (THRESHOLD2 = 0.5 THRESHOLD1).
SEARCH_BACK_RATIO = 0.5
# Detection threshold, fraction of the local QRS level: ours (Pan & Tompkins 1985 use 0.25 of a running
# signal-peak average above the noise peaks; 0.30 of our block-maximum level was chosen on mitdb 100/208, svdb 800).
DETECTION_THRESHOLD = 0.30
# Local QRS level: median of the envelope maxima of this many blocks of BLOCK_S seconds: ours.
LEVEL_BLOCK_S = 2.0
LEVEL_BLOCKS = 5
# Floor of the level (fraction of the trace's median block maximum), so a flat stretch yields no beats: ours.
LEVEL_FLOOR = 0.1
# Absolute floor of the level, mV/s: ours (normal QRS complexes of MIT-BIH 100/208 and SVDB 800 give 13-30
# mV/s; 1 mV/s is a QRS of about 0.1 mV, below which a complex cannot be told from noise or filter ringing).
MIN_QRS_LEVEL_MV_S = 1.0
# Number of neighbouring RR intervals on each side whose median is the local RR interval: ours.
RR_NEIGHBOURS = 4
# Before the first / after the last beat, a stretch longer than this many local RR intervals is searched: ours.
EDGE_GAP_RR = 1.0
# Band of the signal in which the fiducial point is located (baseline wander and EMG removed): ours.
FIDUCIAL_BAND_HZ = (0.5, 40.0)
# Extent of a complex: where the envelope stays above this fraction of its peak, at most SUPPORT_S each side: ours.
SUPPORT_FRACTION = 0.5
SUPPORT_S = 0.25
# The fiducial is the extremum (of the dominant QRS sign) within this distance of the envelope peak: ours
# (half the widest normal QRS, 120 ms; on MIT-BIH 118 and 208 it puts 95 % of the markers within 6 and 14 ms
# of the annotated R, against 36 and 53 ms with the largest deflection of either sign).
FIDUCIAL_WINDOW_S = 0.060
# THRESHOLD I = NPKI + 0.25 (SPKI - NPKI): Pan & Tompkins 1985.
SPKI_FRACTION = 0.25
# Passes of the signal/noise-level decision after the first (fixed-threshold) one: ours (a second changes little).
NOISE_PASSES = 1
# Inserted-beat rule (qa.ecg.noiserules), ours, set on MIT-BIH 105/208 and NSTDB 118e12 against 100/118/800:
# the local RR is this percentile of the neighbouring intervals (noise detections shorten intervals),
INSERT_RR_QUANTILE = 85.0
# a detection is inserted when its neighbours are at most this many local RR apart
INSERT_SPAN_RR = 1.25
# and both intervals it makes are shorter than this many local RR,
INSERT_SPLIT_RR = 0.8
# unless it is this many times taller than both neighbours
INSERT_TALLER = 1.5
# or correlates at least this well (over +-60 ms, best of +-20 ms shifts) with one of them (a couplet, a run).
SHAPE_CORR = 0.95
SHAPE_HALF_S = 0.060
SHAPE_LAG_S = 0.020
INSERT_PASSES = 3
# Length of the mirrored extension at each end before filtering: ours.
EDGE_PAD_S = 1.0
# Lowest sampling rate accepted: the QRS band (up to 15 Hz) must lie well below Nyquist: ours.
MIN_SAMPLING_RATE_HZ = 50.0


@dataclass(frozen=True)
class DetectorSettings:
    """The detector's parameters (defaults: the module constants above).  For studies; not needed in use."""

    qrs_band_hz: tuple[float, float] = QRS_BAND_HZ
    integration_window_s: float = INTEGRATION_WINDOW_S
    refractory_s: float = REFRACTORY_S
    t_wave_window_s: float = T_WAVE_WINDOW_S
    t_wave_slope_ratio: float = T_WAVE_SLOPE_RATIO
    missed_beat_rr: float = MISSED_BEAT_RR
    search_back_ratio: float = SEARCH_BACK_RATIO
    detection_threshold: float = DETECTION_THRESHOLD
    level_block_s: float = LEVEL_BLOCK_S
    level_blocks: int = LEVEL_BLOCKS
    level_floor: float = LEVEL_FLOOR
    rr_neighbours: int = RR_NEIGHBOURS
    edge_gap_rr: float = EDGE_GAP_RR
    fiducial_band_hz: tuple[float, float] = FIDUCIAL_BAND_HZ
    support_fraction: float = SUPPORT_FRACTION
    support_s: float = SUPPORT_S
    fiducial_window_s: float = FIDUCIAL_WINDOW_S
    spki_fraction: float = SPKI_FRACTION
    noise_passes: int = NOISE_PASSES
    insert_rr_quantile: float = INSERT_RR_QUANTILE
    insert_span_rr: float = INSERT_SPAN_RR
    insert_split_rr: float = INSERT_SPLIT_RR
    insert_taller: float = INSERT_TALLER
    shape_corr: float = SHAPE_CORR
    shape_half_s: float = SHAPE_HALF_S
    shape_lag_s: float = SHAPE_LAG_S
    insert_passes: int = INSERT_PASSES
    edge_pad_s: float = EDGE_PAD_S


DEFAULT_SETTINGS = DetectorSettings()


@dataclass(frozen=True, eq=False)
class RPeaks(Record):
    """R-peaks of one trace.

    ``sample_index`` (int) and ``time_s`` (from the first sample) of each beat; ``qrs_level`` is the
    beat's QRS envelope relative to the local QRS level (1 = a typical beat); ``searched_back`` marks
    beats found by the search-back with the lower threshold (small or unusual complexes).
    """

    sample_index: np.ndarray
    time_s: np.ndarray
    fs_hz: float
    qrs_level: np.ndarray
    searched_back: np.ndarray
    method: str = "qa.ecg.rpeaks (band-pass 5-15 Hz slope envelope, Pan & Tompkins 1985 rules, no learning period)"
    # the sign of the R-peaks (True: positive apex) and, per beat, its largest positive and negative
    # deflection (mV, band-limited) near the steepest point: what decides the sign
    positive: bool | None = None
    lobe_up_mv: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, metadata={"json": False})
    lobe_down_mv: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, metadata={"json": False})

    def __len__(self) -> int:
        return int(self.sample_index.size)


def detect_r_peaks(ecg_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Sorted sample indices (int) of the R-peaks of one ECG lead in mV sampled at ``fs_hz``.

    Works from the first second of the trace on (no learning period), on either polarity of the
    lead, with baseline wander and at sampling rates from 50 Hz up.  Raises ``ValueError`` for an
    input that is not a finite 1-D signal or a sampling rate under 50 Hz.
    """
    return find_r_peaks(ecg_mv, fs_hz).sample_index


def find_r_peaks(ecg_mv: np.ndarray, fs_hz: float, *, settings: DetectorSettings = DEFAULT_SETTINGS,
                 positive: bool | None = None, envelope: np.ndarray | None = None) -> RPeaks:
    """R-peaks of one ECG lead (mV) as an :class:`RPeaks` record; see the module docstring.

    ``positive``: the sign of the apex to mark (a longer trace's, when this is one piece of it);
    None: this signal's dominant QRS deflection.  ``envelope``: :func:`qrs_envelope` of these very
    samples with these settings, when the caller has it already (it is read, never changed)."""
    x, fs = _validated(ecg_mv, fs_hz)
    s = settings
    empty = RPeaks(np.empty(0, dtype=np.int64), np.empty(0), fs, np.empty(0), np.empty(0, dtype=bool))
    if x.size < max(3, int(s.integration_window_s * fs)):
        return empty
    pad = int(round(s.edge_pad_s * fs))
    if envelope is None:
        envelope = qrs_envelope(x, fs, settings=s)
    elif envelope.shape != x.shape:
        raise ValueError(f"an envelope of {envelope.size} samples for a signal of {x.size}: it must be the envelope of this signal")
    # Candidates: local maxima at least a refractory period apart (the ends of the trace count too).
    padded = np.concatenate([[-np.inf], envelope, [-np.inf]])
    cand = peaks_apart(padded, max(1, int(s.refractory_s * fs)))
    cand = cand - 1
    if cand.size == 0:
        return empty
    height = envelope[cand]
    level = _qrs_level(envelope, fs, s, cand)
    rel = height / level
    beats, low = _decide(cand, height, rel, x.size, fs, s)
    for _ in range(s.noise_passes):  # Pan & Tompkins' running signal and noise peak levels
        thr = adaptive_threshold(cand, height, level, beats, x.size, fs, block_s=s.level_block_s, blocks=s.level_blocks,
                                 spki_fraction=s.spki_fraction, floor=s.detection_threshold)
        beats, low = _decide(cand, height, rel, x.size, fs, s, thr)
    y = _bandpass(x, fs, s.fiducial_band_hz, pad)
    keep = not_inserted(cand[beats], height[beats], y, fs, neighbours=2 * s.rr_neighbours, rr_quantile=s.insert_rr_quantile,
                        span_rr=s.insert_span_rr, split_rr=s.insert_split_rr, taller=s.insert_taller,
                        shape_half_s=s.shape_half_s, shape_lag_s=s.shape_lag_s, shape_corr=s.shape_corr, passes=s.insert_passes)
    beats, low = beats[keep], low[keep]
    idx = cand[beats]
    fid, up, down, sign = _fiducials(idx, envelope, y, fs, s, positive)
    fid, keep = _enforce_refractory(fid, height[beats], int(s.refractory_s * fs))
    return RPeaks(fid.astype(np.int64), fid / fs, fs, rel[beats][keep], low[keep], positive=sign, lobe_up_mv=up[keep],
                  lobe_down_mv=down[keep])


def qrs_envelope(ecg_mv: np.ndarray, fs_hz: float, *, settings: DetectorSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """RMS slope (mV/s) of the QRS band over the integration window, centred: the detection feature."""
    x, fs = _validated(ecg_mv, fs_hz)
    s = settings
    band = _bandpass(x, fs, s.qrs_band_hz, int(round(s.edge_pad_s * fs)))
    slope = np.empty_like(band)  # d(band)/dt in mV/s: central differences, one-sided at the ends (as np.gradient)
    if band.size > 2:
        np.subtract(band[2:], band[:-2], out=slope[1:-1])
        slope[1:-1] *= 0.5 * fs
    if band.size > 1:
        slope[0] = (band[1] - band[0]) * fs
        slope[-1] = (band[-1] - band[-2]) * fs
    else:
        slope[:] = 0.0
    np.multiply(slope, slope, out=slope)
    env = _centred_mean(slope, max(1, int(round(s.integration_window_s * fs))))
    np.maximum(env, 0.0, out=env)  # rounding in the running sums can leave -1e-17
    return np.sqrt(env, out=env)


# ------------------------------------------------------------------------------------------ internals


def _validated(ecg_mv, fs_hz) -> tuple[np.ndarray, float]:
    x = np.asarray(ecg_mv, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"ecg_mv must be one lead (a 1-D array), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("ecg_mv holds NaN or infinite samples: detect beats on each finite segment separately")
    fs = float(fs_hz)
    if not np.isfinite(fs) or fs < MIN_SAMPLING_RATE_HZ:
        raise ValueError(f"sampling rate {fs_hz!r} Hz is too low for QRS detection (at least {MIN_SAMPLING_RATE_HZ:g} Hz)")
    return x, fs


def _bandpass(x: np.ndarray, fs: float, band: tuple[float, float], pad: int) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth band-pass; the trace is mirrored at both ends first."""
    high = min(band[1], 0.45 * fs)
    return filtfilt(butter2((band[0], high), fs), x, min(pad, x.size - 1))


def _centred_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean over a centred window of n samples (shorter at the ends)."""
    if n <= 1 or x.size == 0:
        return x.copy()
    n = min(n, x.size)
    c = np.empty(x.size + 1)
    c[0] = 0.0
    np.cumsum(x, out=c[1:])
    out = np.empty(x.size)
    lo_half = n // 2
    # interior: the full window [i - n//2, i - n//2 + n)
    out[lo_half:x.size - n + lo_half + 1] = (c[n:] - c[:-n]) / n
    # the ends: windows cut by the start or the end of the signal
    i = np.r_[0:lo_half, x.size - n + lo_half + 1:x.size]
    lo = np.clip(i - lo_half, 0, x.size)
    hi = np.clip(i - lo_half + n, 0, x.size)
    out[i] = (c[hi] - c[lo]) / (hi - lo)
    return out


def _qrs_level(envelope: np.ndarray, fs: float, s: DetectorSettings, at: np.ndarray) -> np.ndarray:
    """Local QRS level at the samples ``at``: median of neighbouring block maxima of the envelope."""
    nb = max(1, int(round(envelope.size / (s.level_block_s * fs))))
    starts = np.linspace(0, envelope.size, nb + 1).astype(int)[:-1]
    block_max = np.maximum.reduceat(envelope, starts)
    level = median_filter_reflect(block_max, min(s.level_blocks, nb))
    level = np.maximum(level, s.level_floor * median(block_max))
    level = np.maximum(level, MIN_QRS_LEVEL_MV_S)
    centres = 0.5 * (starts + np.append(starts[1:], envelope.size))
    return np.interp(at, centres, level)


def _decide(cand, height, rel, n, fs, s: DetectorSettings, thr=None):
    """Which candidates are beats: threshold, T-wave rule, then search-back in long gaps."""
    refractory = s.refractory_s * fs
    t_window = s.t_wave_window_s * fs
    if thr is None:
        thr = np.full(cand.size, s.detection_threshold)
    sure = np.flatnonzero(rel >= thr)
    typical = float(median(height[sure])) if sure.size else 0.0
    # plain lists in the loops: scalar access to numpy arrays is slow
    cl, hl, rl = cand.tolist(), height.tolist(), rel.tolist()
    ratio = s.t_wave_slope_ratio
    beats: list[int] = []
    for i in sure.tolist():
        if beats:
            prev = beats[-1]
            if cl[i] - cl[prev] < t_window and hl[i] < ratio * hl[prev]:
                continue
        elif cl[i] < t_window and hl[i] < ratio * typical:
            continue  # probably the T wave of a beat just before the trace
        beats.append(int(i))
    tl = (s.search_back_ratio * thr).tolist()
    found_low: set[int] = set()

    def best_in(a_idx, b_idx, lo, hi, prev):
        """Largest acceptable candidate with lo <= sample < hi (candidate indices a_idx..b_idx-1)."""
        best = -1
        for j in range(int(a_idx), int(b_idx)):
            c = cl[j]
            if c < lo or c >= hi or rl[j] < tl[j]:
                continue
            if prev is not None:
                if c - cl[prev] < t_window and hl[j] < ratio * hl[prev]:
                    continue
            elif c < t_window and hl[j] < ratio * typical:
                continue
            if best < 0 or hl[j] > hl[best]:
                best = j
        return best

    for _ in range(cand.size):  # each pass adds at least one beat, or stops
        added = []
        b = np.asarray(beats, dtype=int)
        if b.size >= 2:
            rr = np.diff(cand[b]).astype(float)
            rr_local = _neighbour_median(rr, s.rr_neighbours)
            for g in np.flatnonzero(rr > s.missed_beat_rr * rr_local):
                j = best_in(b[g] + 1, b[g + 1], cl[b[g]] + refractory, cl[b[g + 1]] - refractory + 1, int(b[g]))
                if j >= 0:
                    added.append(j)
            first_rr, last_rr = rr_local[0], rr_local[-1]
        else:
            first_rr = last_rr = np.inf
        if b.size == 0:
            j = best_in(0, cand.size, 0, n, None)
            if j >= 0:
                added.append(j)
        else:
            if cand[b[0]] > s.edge_gap_rr * first_rr:
                j = best_in(0, b[0], 0, cand[b[0]] - refractory + 1, None)
                if j >= 0:
                    added.append(j)
            if n - 1 - cand[b[-1]] > s.edge_gap_rr * last_rr:
                j = best_in(b[-1] + 1, cand.size, cl[b[-1]] + refractory, n, int(b[-1]))
                if j >= 0:
                    added.append(j)
        if not added:
            break
        found_low.update(added)
        beats = sorted(set(beats) | set(added))
    beats_arr = np.asarray(beats, dtype=int)
    low = np.array([i in found_low for i in beats_arr], dtype=bool)
    return beats_arr, low


def _neighbour_median(rr: np.ndarray, k: int) -> np.ndarray:
    """For each interval, the median of the (up to) k intervals on each side of it, itself excluded.

    Near the ends the window is simply shorter (no edge replication: a long first interval must not
    be its own reference).  An interval without neighbours is its own reference.
    """
    padded = np.full(rr.size + 2 * k, np.nan)
    padded[k:k + rr.size] = rr
    windows = sliding_window_view(padded, 2 * k + 1).copy()
    windows[:, k] = np.nan
    alone = np.all(np.isnan(windows), axis=1)
    windows[alone, k] = rr[alone]
    return nanmedian_rows(windows)


def _fiducials(idx: np.ndarray, envelope: np.ndarray, y: np.ndarray, fs: float, s: DetectorSettings,
               positive: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool | None]:
    """The apex of each detected complex (vectorised over beats; windows are views, not copies), each
    beat's largest positive and negative deflection near its steepest point, and the sign used
    (``positive``, or the dominant one of these beats when None).

    Within the complex (where the envelope stays above ``support_fraction`` of its peak) the steepest
    point of the band-limited ECG ``y`` is found; the apex is the extremum of ``y`` within
    ``fiducial_window_s`` of it, of the sign of the trace's dominant QRS deflection (the R wave of
    an RS or RSR' complex rather than its S wave: one sign for the whole trace, so markers do not jump
    between the lobes of wide complexes).
    """
    if idx.size == 0:
        return idx.astype(np.int64), np.empty(0), np.empty(0), positive
    n = envelope.size
    half = max(1, int(round(s.support_s * fs)))
    span = 2 * half + 1
    # windows centred on each beat; outside the trace the envelope is -inf (below any threshold)
    env = sliding_window_view(_padded(envelope, half, -np.inf), span)[idx]
    below = env < s.support_fraction * envelope[idx][:, None]
    below[:, half] = False
    left = below[:, :half][:, ::-1]
    right = below[:, half + 1:]
    left_ext = np.where(left.any(1), left.argmax(1), half)  # samples of the complex left of the peak
    right_ext = np.where(right.any(1), right.argmax(1), half)
    # steepness |y[k+1] - y[k-1]| inside the complex (samples beyond the trace repeat the end value)
    yw = sliding_window_view(_padded(y, half + 1, None), span + 2)[idx]
    steep = np.abs(yw[:, 2:] - yw[:, :-2])
    offs = np.arange(-half, half + 1)
    steep[(offs < -left_ext[:, None]) | (offs > right_ext[:, None])] = -np.inf
    outside = (idx[:, None] + offs < 0) | (idx[:, None] + offs >= n)
    steep[outside] = -np.inf
    steepest = np.clip(idx + steep.argmax(1) - half, 0, n - 1)
    # the extremum of the dominant sign near the steepest point
    w = max(1, int(round(s.fiducial_window_s * fs)))
    win = windows(y, steepest, w, demean=False)
    up, down = win.max(axis=1), -win.min(axis=1)
    if positive is None:
        positive = dominant_sign(up, down)
    k = win.argmax(axis=1) if positive else win.argmin(axis=1)
    return np.clip(steepest + k - w, 0, n - 1).astype(np.int64), up, down, bool(positive)


def dominant_sign(lobe_up_mv: np.ndarray, lobe_down_mv: np.ndarray) -> bool:
    """Is the dominant QRS deflection positive?  (The median positive lobe of the beats at least their
    median negative one.)  One sign for a whole trace: :func:`qa.ecg.gating.detect_beats` gives its
    pieces the sign of all their beats together."""
    return bool(median(lobe_up_mv) >= median(lobe_down_mv))


def _padded(x: np.ndarray, k: int, value) -> np.ndarray:
    """x with k samples added at each end: ``value``, or the end samples repeated when value is None."""
    out = np.empty(x.size + 2 * k)
    out[k:k + x.size] = x
    out[:k] = x[0] if value is None else value
    out[k + x.size:] = x[-1] if value is None else value
    return out


def _enforce_refractory(fid: np.ndarray, height: np.ndarray, refractory: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted fiducials, dropping the weaker of two that the refinement brought within the refractory period.

    Returns the fiducials and, for each, its position in the input arrays.
    """
    order = np.argsort(fid, kind="stable")
    fid = fid[order]
    if fid.size < 2 or np.all(np.diff(fid) >= refractory):
        return fid, order
    kept: list[int] = []
    fl, hl = fid.tolist(), height[order].tolist()
    for k in range(len(fl)):  # rare: only where two complexes merged
        if kept and fl[k] - fl[kept[-1]] < refractory:
            if hl[k] > hl[kept[-1]]:
                kept[-1] = k
            continue
        kept.append(k)
    kept_arr = np.asarray(kept, dtype=int)
    return fid[kept_arr], order[kept_arr]


def with_settings(**changes) -> DetectorSettings:
    """Default settings with some changed (for parameter studies and the benchmark)."""
    return replace(DEFAULT_SETTINGS, **changes)


__all__ = ["detect_r_peaks", "dominant_sign", "find_r_peaks", "qrs_envelope", "RPeaks", "DetectorSettings", "DEFAULT_SETTINGS",
           "with_settings"]
