"""Samples outside the usual ECG amplitude (``RANGES['ecg_mv']['typical']``): artefacts until shown otherwise.

Samples beyond the *possible* amplitude are refused by the readers.  Samples that are possible but
unusual (a spike of a few tens of mV from a lead touching, a serial glitch) are neither trusted nor
dropped silently: the gating analysis is run as recorded and with those samples left out (bridged
linearly by their neighbours), and the worse verdict is reported, with a flagged warning.  A spike
can thus never make a verdict better than the trace without it would give.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qa.records.ecg import EcgTrace
from qa.records.plausibility import RANGES

# A one-sample spike: a sample more than this above (or below) both its neighbours (ours: at 250 Hz and above
# the peak of an R wave of 5 mV, about 10 ms wide, is within ~1 mV of its neighbours; a pacemaker spike or a
# serial glitch is not).  Such samples are judged both ways like the unusual ones: a false alarm can only
# make a verdict worse, never better.
SPIKE_MV = 2.0
SPIKE_MIN_RATE_HZ = 250.0
# Samples examined at a time when looking for spikes (bounded temporary arrays on long traces): ours.
SPIKE_CHUNK = 1 << 18
# Order of verdicts from best to worst, for "the worse of two analyses".
VERDICT_RANK = {"pass": 0, "not_applicable": 0, "not_available": 1, "warn": 2, "fail": 3}


def unusual_samples(ecg_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Indices of the samples outside the usual ECG amplitude, and (at 250 Hz and above) of one-sample spikes."""
    lo, hi = RANGES["ecg_mv"].typical
    found = []
    for a in range(0, ecg_mv.size, SPIKE_CHUNK):
        x = ecg_mv[a:a + SPIKE_CHUNK]
        odd = (x < lo) | (x > hi)
        if fs_hz >= SPIKE_MIN_RATE_HZ and ecg_mv.size >= 3:
            b = min(ecg_mv.size, a + SPIKE_CHUNK + 1)
            y = ecg_mv[max(0, a - 1):b]  # one neighbour each side
            first = 1 if a > 0 else 0
            mid = y[1:-1]
            left, right = mid - y[:-2], mid - y[2:]
            spike = ((left > SPIKE_MV) & (right > SPIKE_MV)) | ((left < -SPIKE_MV) & (right < -SPIKE_MV))
            where = np.flatnonzero(spike) + 1 - first  # index within x
            where = where[(where >= 0) & (where < x.size)]
            odd[where] = True
        found.append(np.flatnonzero(odd) + a)
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def without_samples(trace: EcgTrace, index: np.ndarray) -> EcgTrace:
    """A copy of ``trace`` whose samples ``index`` are replaced by a straight line between their kept neighbours."""
    ecg = np.array(trace.ecg_mv, copy=True)
    keep = np.ones(ecg.size, dtype=bool)
    keep[index] = False
    kept = np.flatnonzero(keep)
    if kept.size:
        ecg[index] = np.interp(index, kept, ecg[kept])
    return replace(trace, ecg_mv=ecg)


def worse(a: str, b: str) -> bool:
    """Is verdict ``b`` worse than verdict ``a``?"""
    return VERDICT_RANK.get(b, 2) > VERDICT_RANK.get(a, 2)


__all__ = ["unusual_samples", "without_samples", "worse", "VERDICT_RANK"]
