"""Synthetic ECG traces with beats where we put them: for the demo, the tests and the benchmarks.

    >>> r = beat_times(duration_s=20.0, heart_rate_bpm=72.0, premature_at={8: 0.6})
    >>> time_s, ecg_mv = synthesize_ecg(r, duration_s=20.0, fs_hz=500.0, ventricular={8})
    >>> write_ecg_csv("ecg.csv", time_s, ecg_mv, start_time=..., trigger_delay_ms=20.0, r_peak_s=r)

Each beat is a sum of Gaussian waves placed relative to its R-peak (P, Q, R, S, T; a ventricular
beat has no P wave, a wide QRS and an inverted T), plus a little white noise.  The shapes are
illustrative, not a physiological model; what matters is that the R-peak of every beat is exactly
where the caller put it, so a detector and the gating analysis can be checked against it.
"""

from __future__ import annotations

import os

import numpy as np

# (offset from the R-peak s, width s, amplitude mV) of each wave: illustrative shapes (ours).
NORMAL_BEAT = ((-0.16, 0.025, 0.15), (-0.025, 0.008, -0.10), (0.0, 0.009, 1.20), (0.025, 0.008, -0.25), (0.28, 0.05, 0.30))
VENTRICULAR_BEAT = ((-0.04, 0.02, -0.20), (0.0, 0.025, 1.50), (0.07, 0.03, -0.60), (0.32, 0.07, -0.35))


def beat_times(duration_s: float, heart_rate_bpm: float, *, first_s: float = 0.3, premature_at: dict[int, float] | None = None,
               compensatory: bool = True) -> np.ndarray:
    """R-peak times of a regular rhythm with premature beats.

    ``premature_at`` maps a beat number to its coupling (fraction of the cycle after the previous
    beat).  With ``compensatory`` the beat after it comes back on the sinus schedule (a full
    compensatory pause, as after a ventricular ectopic beat).
    """
    rr = 60.0 / heart_rate_bpm
    sinus = first_s + rr * np.arange(int(np.ceil((duration_s - first_s) / rr)) + 1)
    times = sinus.copy()
    for k, coupling in sorted((premature_at or {}).items()):
        if 0 < k < times.size:
            shift = times[k - 1] + coupling * rr - times[k]
            times[k] += shift
            if not compensatory:
                times[k + 1:] += shift
    return times[times < duration_s]


def synthesize_ecg(r_peak_s, *, duration_s: float, fs_hz: float = 500.0, ventricular=frozenset(), noise_mv: float = 0.01,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(time_s, ecg_mv) with one beat at each R-peak time; ``ventricular``: indices of ventricular beats."""
    t = np.arange(int(round(duration_s * fs_hz))) / fs_hz
    ecg = np.zeros(t.size)
    for i, r in enumerate(np.asarray(r_peak_s, dtype=float)):
        waves = VENTRICULAR_BEAT if i in ventricular else NORMAL_BEAT
        lo, hi = np.searchsorted(t, [r - 0.5, r + 0.6])
        seg = t[lo:hi] - r
        for offset, width, amplitude in waves:
            ecg[lo:hi] += amplitude * np.exp(-(((seg - offset) / width) ** 2))
    ecg += np.random.default_rng(seed).normal(0.0, noise_mv, t.size)
    return t, ecg


def trigger_channel(time_s: np.ndarray, r_peak_s, *, delay_ms: float = 20.0, width_ms: float = 10.0) -> np.ndarray:
    """A monitor's trigger output: 1 for ``width_ms`` starting ``delay_ms`` after each R-peak, else 0."""
    t = np.asarray(time_s, dtype=float)
    out = np.zeros(t.size, dtype=np.int8)
    for r in np.asarray(r_peak_s, dtype=float):
        a, b = np.searchsorted(t, [r + delay_ms / 1000.0, r + (delay_ms + width_ms) / 1000.0])
        out[a:b] = 1
    return out


def write_ecg_csv(path: str | os.PathLike, time_s, ecg_mv, *, start_time=None, fs_hz: float | None = None, lead: str = "II",
                  trigger=None, resp=None) -> None:
    """Write a trace in our CSV format: a new file (never over another), complete or not at all.
    ``trigger``: the monitor's trigger output (0/1) per sample; ``resp``: a respiratory channel
    (bellows, arbitrary units) per sample."""
    from qa.ecg.trace import CsvTraceWriter

    t = np.asarray(time_s).tolist()
    uv = (np.asarray(ecg_mv) * 1000.0).tolist()
    gates = np.asarray(trigger).astype(int).tolist() if trigger is not None else [None] * len(t)
    breaths = np.asarray(resp, dtype=float).tolist() if resp is not None else [None] * len(t)
    with CsvTraceWriter(path, start_time=start_time, fs_hz=fs_hz, lead=lead, trigger=trigger is not None, resp=resp is not None,
                        whole=True) as writer:
        for a, v, g, b in zip(t, uv, gates, breaths):
            writer.write(a, v, g, b)


def write_long_ecg_csv(path: str | os.PathLike, *, hours: float, fs_hz: int = 1000, heart_rate_bpm: float = 60.0) -> int:
    """Write a long trace fast (a Holter-like export for memory tests and benchmarks): one synthetic
    minute repeated, ``time_s`` in ms steps and ``ecg_uv`` as integers.  ``fs_hz`` divides 1000.
    Returns the number of samples written (a new file; never overwrites)."""
    if 1000 % fs_hz:
        raise ValueError("fs_hz must divide 1000 (times are written in whole milliseconds)")
    step_ms = 1000 // fs_hz
    r = beat_times(60.0, heart_rate_bpm, first_s=0.5)
    _, ecg = synthesize_ecg(r, duration_s=60.0, fs_hz=float(fs_hz))
    uv = np.round(ecg * 1000.0).astype(int).tolist()
    minutes = int(round(hours * 60.0))
    with open(path, "x", encoding="utf-8", newline="") as fp:
        fp.write(f"# fs_hz={fs_hz}\n# lead=II\ntime_s,ecg_uv\n")
        for m in range(minutes):
            first = m * 60000
            fp.write("".join([f"{(first + i * step_ms) // 1000}.{(first + i * step_ms) % 1000:03d},{v}\n"
                              for i, v in enumerate(uv)]))
    return minutes * len(uv)


__all__ = ["beat_times", "synthesize_ecg", "trigger_channel", "write_ecg_csv", "write_long_ecg_csv", "NORMAL_BEAT", "VENTRICULAR_BEAT"]
