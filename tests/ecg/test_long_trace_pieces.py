"""Long traces are analysed in pieces (bounded memory): the pieces must give exactly what one pass over
the whole trace gives, on real records (30 minutes, many pieces) and across recording gaps."""

from __future__ import annotations

import numpy as np
import pytest

from qa.ecg.beatcontext import beat_context
from qa.ecg.chunks import spans
from qa.ecg.gating import detect_beats
from qa.ecg.morphology import classify_beats
from qa.ecg.quality import assess_quality
from qa.ecg.rpeaks import detect_r_peaks
from qa.ecg.shape import windows
from qa.ecg.trace import read_trace
from qa.records.ecg import EcgTrace, TimeBase


def test_spans_tile_the_range_and_a_short_range_is_one_span():
    pieces = spans(100, 10_000, 1_000, 150)
    assert pieces[0].core_start == 100 and pieces[-1].core_stop == 10_000
    assert all(a.core_stop == b.core_start for a, b in zip(pieces, pieces[1:]))
    assert all(p.start == max(100, p.core_start - 150) and p.stop == min(10_000, p.core_stop + 150) for p in pieces)
    assert spans(0, 1_150, 1_000, 150) == [(0, 1_150, 0, 1_150)]


def test_indices_of_and_index_of_find_the_first_sample_at_or_after_each_time_across_gaps():
    t = np.concatenate([np.arange(0, 5, 0.01), np.arange(7, 9, 0.01)])  # a 2-s gap
    base = TimeBase.from_times(t, 100.0)
    probe = np.array([-1.0, 0.0, 0.004, 2.5, 4.995, 6.0, 7.0, 8.99, 8.995, 20.0])
    probe = np.concatenate([probe, np.random.default_rng(2).uniform(-1.0, 10.0, 500), base.at(np.arange(0, t.size, 37))])
    expected = np.searchsorted(base.at(np.arange(t.size)), probe, side="left")  # against every sample's time
    assert base.indices_of(probe).tolist() == expected.tolist()
    assert [base.index_of(x) for x in probe] == expected.tolist()


def test_windows_gather_as_indexing_does_at_the_ends_too():
    y = np.random.default_rng(1).normal(size=500)
    pos = np.array([0, 3, 250, 496, 499])
    expected = y[np.clip(pos[:, None] + np.arange(-5, 6), 0, y.size - 1)]
    assert np.array_equal(windows(y, pos, 5, demean=False), expected)
    assert np.array_equal(windows(y, pos, 5), expected - expected.mean(axis=1, keepdims=True))


@pytest.mark.parametrize("name", ["208", "105"])
def test_the_pieces_give_the_whole_trace_answer_on_a_real_record(shared_data, name):
    head = shared_data / "ecg" / f"{name}.hea"
    if not head.is_file():
        pytest.skip(f"record {name} is not in {head.parent} (see its SOURCES.md)")
    trace = read_trace(head)
    r_s = detect_beats(trace)
    quality, classes = beat_context(trace, r_s)  # 30 minutes: many pieces
    idx = trace.time_base.indices_of(r_s)
    whole_q = assess_quality(trace.ecg_mv, trace.fs_hz, idx)
    whole_c = classify_beats(trace.ecg_mv, trace.fs_hz, idx, judgeable=whole_q.good_at(r_s))
    assert quality.noisy_stretches == whole_q.noisy_stretches and np.array_equal(quality.judgeable, whole_q.judgeable)
    assert classes.labels == whole_c.labels
    # the band-pass starts afresh in each piece: its settled output agrees to rounding
    assert np.allclose(classes.correlation, whole_c.correlation, rtol=0, atol=1e-9)


def test_a_gap_splits_the_pieces_and_every_beat_keeps_its_class(shared_data):
    """Across a recording gap nothing is filtered or compared: after a 10-s gap the electrode's offset has
    moved by 3 mV; analysed as one signal the step would ring through the filters; per segment the beats
    are those of each half detected on its own, and no stretch at the gap is taken for noise."""
    head = shared_data / "ecg" / "100.hea"
    if not head.is_file():
        pytest.skip(f"record 100 is not in {head.parent} (see its SOURCES.md)")
    whole = read_trace(head)
    n = whole.n_samples // 2
    t = whole.time_s.copy()
    t[n:] += 10.0  # a 10-s recording gap half way
    ecg = whole.ecg_mv.copy()
    ecg[n:] += 3.0  # and a new baseline after it
    trace = EcgTrace.from_times(whole.fs_hz, t, ecg, lead=whole.lead, source=whole.source)
    r_s = detect_beats(trace)
    halves = [detect_r_peaks(ecg[:n], whole.fs_hz), detect_r_peaks(ecg[n:], whole.fs_hz) + n]
    assert len(trace.segments()) == 2 and np.array_equal(trace.time_base.indices_of(r_s), np.concatenate(halves))
    quality, classes = beat_context(trace, r_s)
    gap_at = float(t[n])
    assert not quality.noisy_between(gap_at - 2.0, gap_at + 2.0)
    assert len(classes.labels) == r_s.size
    assert classes.counts()["normal"] >= 0.97 * r_s.size  # record 100: sinus rhythm, a handful of APCs and one PVC


@pytest.mark.parametrize("name", ["118e12", "208"])
def test_the_pieces_mark_the_same_r_peaks_as_one_pass_over_the_whole_record(shared_data, name):
    """One sign of the apex for the whole trace: a noisy minute of 118e12 whose own beats vote for the other
    lobe used to have its markers moved by ~47 ms (76 beats); the pieces now take the trace's sign."""
    head = shared_data / "ecg" / f"{name}.hea"
    if not head.is_file():
        pytest.skip(f"record {name} is not in {head.parent} (see its SOURCES.md)")
    trace = read_trace(head)
    whole = detect_r_peaks(trace.ecg_mv, trace.fs_hz)
    assert np.array_equal(trace.time_base.indices_of(detect_beats(trace)), whole)
