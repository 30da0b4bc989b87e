"""A full compensatory pause is claimed only where it holds, checked against the MIT-BIH reference annotations.

The truth for each annotated premature beat (A, V, F, ...) comes from the ANNOTATED R times only: the RR
before plus the RR after it, against 2 x the median of the nearby intervals between two annotated normally
conducted beats (N; R in the bundle-branch-block record 118), within the same tolerance
(:func:`qa.ecg.rhythm.compensatory_tolerance_ms` of those annotated normal intervals).  Our claim comes from
the rhythm analysis, which knows only the R times and must find the normal intervals from RR alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from qa.ecg.evaluation import reference_beats
from qa.ecg.rhythm import LOCAL_NEIGHBOURS, MIN_NORMAL_INTERVALS, analyze_rhythm, compensatory_tolerance_ms

wfdb = pytest.importorskip("wfdb", reason="the wfdb extra reads the MIT-BIH annotations (pip install -e '.[test]')")

# Normally conducted sinus beats in the annotations: N, and L / R (bundle branch block) of the WFDB codes.
SINUS = frozenset("NLR")


def annotated(shared_data, name):
    path = shared_data / "ecg" / name
    if not path.with_suffix(".atr").is_file():
        pytest.skip(f"{path}.atr is missing")
    ann = wfdb.rdann(str(path), "atr")
    return reference_beats(ann.sample, ann.symbol, ann.fs)


def annotation_truth(times_s, symbols, j):
    """(RR before + RR after beat j, 2 x the annotated normal RR, tolerance) in ms, or None when the
    annotations give too few normal intervals nearby."""
    rr = np.diff(times_s) * 1000.0
    if j < 1 or j + 1 >= times_s.size:
        return None
    i = j - 1
    lo, hi = max(0, i - LOCAL_NEIGHBOURS), i + LOCAL_NEIGHBOURS + 2
    sinus = np.array([symbols[k] in SINUS and symbols[k + 1] in SINUS for k in range(rr.size)])
    near = rr[lo:hi][sinus[lo:hi]]
    if near.size < MIN_NORMAL_INTERVALS:
        return None
    return float(rr[i] + rr[i + 1]), 2.0 * float(np.median(near)), compensatory_tolerance_ms(near)


def claims_against_truth(r_peak_s, times_s, symbols):
    """For each annotated ectopic beat our analysis flags premature and both sides judge:
    (our claim, the annotation truth, |sum - 2 normal| / tolerance of the truth)."""
    rows = []
    for p in analyze_rhythm(r_peak_s).premature:
        j = int(np.argmin(np.abs(times_s - p.time_s)))
        if abs(times_s[j] - p.time_s) > 0.15 or symbols[j] in SINUS:
            continue
        truth = annotation_truth(times_s, symbols, j)
        if p.compensatory is None or truth is None:
            continue
        total, two_normal, tol = truth
        rows.append((p.compensatory, abs(total - two_normal) <= tol, abs(total - two_normal) / tol))
    return rows


@pytest.mark.parametrize("name", ["100", "208", "118"])
def test_compensatory_claims_agree_with_the_annotated_rr_and_never_where_the_sum_is_far_off(shared_data, name):
    times, symbols = annotated(shared_data, name)
    rows = claims_against_truth(times, times, symbols)
    assert len(rows) >= 20, (name, len(rows))  # enough premature beats judged by both to mean something
    agree = np.mean([ours == truth for ours, truth, _ in rows])
    assert agree >= 0.95, (name, agree, len(rows))
    far = [off for ours, _, off in rows if ours and off > 2.0]
    assert far == [], f"{name}: compensatory claimed where the annotated sum is off by {far} x the tolerance"


def test_record_100s_atrial_premature_beats_are_mostly_judged_and_the_claims_are_a_minority_of_them(shared_data):
    """Record 100: 33 APCs.  The old 10 % rule called 30 of 31 flagged beats compensatory; only those the
    annotated RR support are claimed now, and most beats are judged at all (no silence bought by caution)."""
    times, symbols = annotated(shared_data, "100")
    premature = analyze_rhythm(times).premature
    judged = [p for p in premature if p.compensatory is not None]
    claimed = [p for p in judged if p.compensatory]
    assert len(premature) == 31 and len(judged) >= 0.75 * len(premature)
    assert len(claimed) < 0.75 * len(premature)
    for p in claimed:  # every claim states its numbers and holds by them
        assert abs(p.rr_sum_ms - 2 * p.normal_rr_ms) <= p.tolerance_ms
        assert f"{p.rr_sum_ms:,.0f} ms = {p.rr_sum_ms / p.normal_rr_ms:.2f} x the normal {p.normal_rr_ms:,.0f} ms" in p.describe()
        assert p.describe().endswith("full compensatory pause")
    for p in judged:
        if not p.compensatory:
            assert abs(p.rr_sum_ms - 2 * p.normal_rr_ms) > p.tolerance_ms and p.describe().endswith("not compensatory")


@pytest.mark.parametrize("name", ["100", "118"])
def test_with_detected_r_peaks_no_claim_is_far_from_the_annotated_truth(shared_data, name):
    """What ``qa gating`` says: the rhythm of the R-peaks we detect in the signal itself."""
    from qa.ecg.gating import detect_beats
    from qa.ecg.trace import read_wfdb

    times, symbols = annotated(shared_data, name)
    detected = detect_beats(read_wfdb(shared_data / "ecg" / f"{name}.hea"))
    rows = claims_against_truth(detected, times, symbols)
    assert len(rows) >= 20
    assert np.mean([ours == truth for ours, truth, _ in rows]) >= 0.9
    assert not [off for ours, _, off in rows if ours and off > 2.0]


def test_the_tolerance_follows_the_sinus_variability_and_never_goes_under_one_small_square():
    steady = np.full(12, 800.0)
    assert compensatory_tolerance_ms(steady) == 40.0  # 0.04 s: one small square at 25 mm/s
    rng = np.random.default_rng(4)
    varying = 800.0 + rng.normal(0.0, 30.0, 400)
    assert compensatory_tolerance_ms(varying) == pytest.approx(2 * np.sqrt(2) * 30.0, rel=0.1)
    # one outlier among the normal intervals (a missed ectopic beat) does not widen it
    assert compensatory_tolerance_ms(np.r_[steady + rng.normal(0, 10, 12), 1400.0]) < 60.0


def test_no_claim_when_the_sinus_rhythm_nearby_varies_too_much_to_tell():
    rng = np.random.default_rng(5)
    sinus = list(1.0 + rng.normal(0.0, 0.05, 10))  # SD 50 ms: 2 x sqrt(2) x 50 = 141 ms > 6 % of 2 s
    rhythm = analyze_rhythm(np.r_[0.0, np.cumsum(sinus + [0.6, 1.4] + sinus)])
    (p,) = rhythm.premature
    assert p.compensatory is None and p.normal_rr_ms is not None and p.tolerance_ms > 0.06 * 2 * p.normal_rr_ms
    assert p.describe().endswith(f"varies too much to tell (tolerance {p.tolerance_ms:,.0f} ms, over 6 % of 2 x): pause not judged")
    assert "compensatory" not in rhythm.message
