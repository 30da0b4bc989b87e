"""The QRS envelope the beat detection computed is handed to the signal quality instead of being
computed twice: the same beats, quality and classes to the bit, and never more than a piece's worth held."""

from __future__ import annotations

import numpy as np

from qa.ecg.beatcontext import beat_context
from qa.ecg.gating import DETECT_CHUNK_S, DETECT_OVERLAP_S, detect_beats
from qa.ecg.rpeaks import qrs_envelope
from qa.ecg.synth import beat_times, synthesize_ecg
from qa.records.ecg import EcgTrace


def _trace(segments_s, fs=500.0, gap_s=2.0, seed=3) -> EcgTrace:
    """A noisy synthetic trace of contiguous segments separated by recording gaps."""
    rng = np.random.default_rng(seed)
    times, values, t0 = [], [], 0.0
    for k, seconds in enumerate(segments_s):
        t, mv = synthesize_ecg(beat_times(seconds, 60.0 + 7 * k), duration_s=seconds, fs_hz=fs)
        times.append(t + t0)
        values.append(mv + rng.normal(0, 0.03, mv.size) + 0.2 * np.sin(2 * np.pi * 0.3 * t))
        t0 += seconds + gap_s
    return EcgTrace.from_times(fs, np.concatenate(times), np.concatenate(values).astype(np.float32), lead="II", source="synthetic")


def _same(a, b) -> bool:
    return np.asarray(a).tobytes() == np.asarray(b).tobytes()


def _same_record(a, b) -> bool:
    """Field by field, arrays to the bit (a record holding arrays has no plain ==)."""
    import dataclasses

    return all(_same(x, y) if isinstance(x, np.ndarray) else x == y
               for x, y in zip((getattr(a, f.name) for f in dataclasses.fields(a)), (getattr(b, f.name) for f in dataclasses.fields(b))))


def test_a_minute_of_ecg_hands_its_envelope_over_and_nothing_changes():
    trace = _trace([60.0])
    envelopes: dict = {}
    r = detect_beats(trace, envelopes=envelopes)
    assert list(envelopes) == [(0, trace.n_samples)]  # one segment, detected whole
    assert _same(envelopes[(0, trace.n_samples)], qrs_envelope(trace.ecg_mv, trace.fs_hz))
    assert _same(r, detect_beats(trace))
    quality, classes = beat_context(trace, r, envelopes=envelopes)
    assert envelopes == {}  # used up by the quality pass
    alone_quality, alone_classes = beat_context(trace, r)
    assert _same_record(quality, alone_quality) and classes.labels == alone_classes.labels
    assert _same(classes.ventricular_indices, alone_classes.ventricular_indices)


def test_a_gapped_or_long_trace_hands_over_at_most_a_pieces_worth():
    fs = 250.0
    room = int((DETECT_CHUNK_S + DETECT_OVERLAP_S) * fs)
    gapped = _trace([30.0, 30.0, 30.0, 30.0], fs=fs)  # four whole segments: the first two fit
    envelopes: dict = {}
    r = detect_beats(gapped, envelopes=envelopes)
    assert 0 < sum(b - a for a, b in envelopes) <= room and len(envelopes) == 2
    quality, _ = beat_context(gapped, r, envelopes=envelopes)
    assert envelopes == {} and _same_record(quality, beat_context(gapped, r)[0])
    long = _trace([200.0], fs=fs)  # one segment in pieces: none handed over
    envelopes = {}
    assert _same(detect_beats(long, envelopes=envelopes), detect_beats(long)) and len(envelopes) == 0


def test_a_dict_that_already_holds_envelopes_is_refused():
    """Envelopes are trusted by their samples alone: only the ones this detection stores may be used."""
    import pytest

    trace = _trace([20.0])
    with pytest.raises(ValueError, match="empty"):
        detect_beats(trace, envelopes={(0, trace.n_samples): np.zeros(trace.n_samples)})
