"""``qa synth exam``: synthetic calcium-score exams with known breath-hold motion, read back with qa's
own readers (the series loader, the exam headers, the ECG reader) and measured on their pixels.

Small matrices throughout (the anatomy is the same at any resolution); the truth comes from the
exam's own ``truth.json``, never from numbers written here.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.cli import main
from qa.dicom.series import load_series
from qa.ecg.rpeaks import detect_r_peaks
from qa.ecg.trace import read_trace
from qa.workflows.exam_files import load_exam
from qa.workflows.synth import ExamSynthOptions, synthesize_exam

SMALL = dict(matrix=128, pixel_mm=2.0, noise_hu=10.0, seed=5)  # a 256 mm field
FINE = dict(matrix=200, pixel_mm=0.7, noise_hu=0.0, blur_fwhm_mm=1.0)  # the heart region, noise-free, for landmarks


def _write(folder: Path, **options):
    return synthesize_exam(folder, ExamSynthOptions(**options))


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    """A 4-stack exam with an ECG in which the breath is released during the third stack, stacks 2-3 displaced."""
    out = tmp_path_factory.mktemp("exam") / "exam"
    return _write(out, **SMALL, ecg=True, resp="released-at-4.5", shifts_mm=((2, 2.0, -1.5, 0.0), (3, 2.0, -1.5, 1.0)))


def test_the_slices_load_as_one_ct_series_with_every_slice(exam):
    volume = load_series(exam.out_dir)
    truth = exam.truth
    assert volume.n_slices == truth["n_slices"] == len(exam.files)
    assert volume.hu.shape[1:] == (truth["options"]["matrix"],) * 2
    assert np.allclose(sorted(volume.slice_positions_mm), sorted(truth["slice_z_mm"]), atol=1e-3)
    assert volume.slice_increment_mm == pytest.approx(truth["options"]["thickness_mm"])


def test_the_exam_headers_carry_one_stack_per_acquisition_in_acquisition_order(exam):
    loaded, _protocol = load_exam([exam.out_dir])
    headers, truth = loaded.headers, exam.truth
    assert len(headers.stacks) == len(truth["stacks"]) == truth["options"]["stacks"]
    for read, true in zip(headers.stacks, truth["stacks"]):
        assert read.n_images == true["n_slices"]
        assert dt.datetime.fromisoformat(read.acquisition_time) == dt.datetime.fromisoformat(true["acquisition_time"])
        assert read.z_min_mm == pytest.approx(true["image_z_range_mm"][0]) and read.z_max_mm == pytest.approx(true["image_z_range_mm"][1])
    times = [dt.datetime.fromisoformat(s["acquisition_time"]) for s in truth["stacks"]]
    rr_s = 60.0 / truth["options"]["heart_rate_bpm"]
    gaps = np.diff([t.timestamp() for t in times])
    assert np.allclose(gaps, truth["options"]["beats_per_stack"] * rr_s, atol=0.01)  # one exposure every second beat
    assert headers.cardiac_synchronization == "prospective" and headers.acquisition_type == "sequenced"
    z_tops = [s["z_range_mm"][1] for s in truth["stacks"]]
    assert z_tops == sorted(z_tops, reverse=True)  # stack 0 first acquired, the most cranial: head to feet


def _landmark(volume, truth, calc_id: str, stack: int) -> np.ndarray:
    """Where a calcification is (x, y, z mm) in the images of one stack.

    Per slice, its excess is the HU above the median of a ring 4-5.5 mm around it.  In-plane: the
    centroid of the positive excess.  Along z: the slices' excess integrals are the part of each
    slice's profile the calcification fills (partial volume), so z is the centre of the cylinder of
    its known length whose overlaps with the slices fit them best (a centroid of so few contiguous
    slices would be biased by the sampling)."""
    calc = next(c for c in truth["calcifications"] if c["id"] == calc_id)
    files = truth["stacks"][stack]["files"]
    zs = np.asarray(volume.slice_positions_mm)
    in_stack = np.isin(np.round(zs, 3), np.round([z for z, f in zip(truth["slice_z_mm"], truth["files"]) if f in files], 3))
    x, y = volume.geometry.plane_xy(slice(0, volume.hu.shape[1]), slice(0, volume.hu.shape[2]))
    centre = next(s["center_mm"] for s in calc["seen_in"] if s["stack"] == stack)  # where this exam's stack shows it
    r = np.hypot(x - centre[0], y - centre[1])
    disc, ring = r <= 3.5, (r >= 4.0) & (r <= 5.5)
    t, half = volume.slice_thickness_mm, calc["length_mm"] / 2
    near = in_stack & (np.abs(zs - centre[2]) <= half + 2 * t)
    excess = np.zeros((volume.n_slices,) + x.shape)
    for k in np.flatnonzero(near):
        excess[k] = np.where(disc, volume.hu[k] - np.median(volume.hu[k][ring]), 0.0)
    inplane = np.clip(excess, 0.0, None).sum(axis=0)
    per_slice = excess.sum(axis=(1, 2))[near]
    candidates = centre[2] + np.arange(-3.0, 3.0, 0.005)
    lo, hi = candidates[:, None] - half, candidates[:, None] + half
    fill = np.clip(np.minimum(hi, zs[near] + t / 2) - np.maximum(lo, zs[near] - t / 2), 0.0, None) / t  # (candidate, slice)
    scale = (fill @ per_slice) / np.maximum((fill * fill).sum(axis=1), 1e-12)  # the best amplitude of each candidate
    residual = ((per_slice[None, :] - scale[:, None] * fill) ** 2).sum(axis=1)
    z = float(candidates[np.argmin(residual)])
    return np.array([np.sum(inplane * x) / inplane.sum(), np.sum(inplane * y) / inplane.sum(), z])


@pytest.mark.parametrize("calc_id,stack,shift", [("RCA-dist", 2, (2.0, -1.5, 0.0)), ("PDA", 2, (-0.7, 1.2, 0.8)),
                                                  ("LAD-mid", 1, (0.35, 0.0, -1.3))])
def test_a_stack_shift_moves_its_calcification_by_that_amount(tmp_path, calc_id, stack, shift):
    still_exam = _write(tmp_path / "still", **FINE)
    moved_exam = _write(tmp_path / "moved", **FINE, shifts_mm=((stack, *shift),))
    truth = moved_exam.truth
    assert truth["stacks"][stack]["shift_mm"] == dict(zip(("lr", "ap", "cc"), shift))
    measured = (_landmark(load_series(moved_exam.out_dir), truth, calc_id, stack)
                - _landmark(load_series(still_exam.out_dir), still_exam.truth, calc_id, stack))
    assert np.abs(measured - np.asarray(shift)).max() <= 0.2, (measured, shift)


def test_the_boundary_shifts_are_the_later_stack_relative_to_the_earlier(exam):
    truth = exam.truth
    for boundary in truth["boundaries"]:
        k, k1 = boundary["between"]
        for axis in ("lr", "ap", "cc"):
            assert boundary["shift_mm"][axis] == pytest.approx(truth["stacks"][k1]["shift_mm"][axis] - truth["stacks"][k]["shift_mm"][axis])


def _edge_jumps(folder: Path, truth: dict) -> tuple[list[float], list[float]]:
    """Mean absolute difference between the edge slices of each boundary, and between neighbours inside the stacks."""
    hu = load_series(folder).hu
    z = np.asarray(truth["slice_z_mm"])
    order = np.argsort(z)  # the loader's order: increasing z
    stack_of = np.empty(z.size, dtype=int)
    for s in truth["stacks"]:
        stack_of[[truth["files"].index(f) for f in s["files"]]] = s["index"]
    stack_of = stack_of[order]
    diffs = np.abs(np.diff(hu, axis=0)).mean(axis=(1, 2))
    crossing = stack_of[1:] != stack_of[:-1]
    return list(diffs[crossing]), list(diffs[~crossing])


def test_without_shifts_the_stacks_join_without_a_step_and_with_one_a_step_appears(tmp_path):
    small = dict(matrix=128, pixel_mm=2.0, noise_hu=15.0, seed=9)
    still = _write(tmp_path / "still", **small)
    opts = still.truth["options"]
    one_stack = _write(tmp_path / "one", **small, stacks=1, stack_mm=opts["stacks"] * (opts["stack_mm"] - opts["overlap_mm"]) + opts["overlap_mm"])
    assert one_stack.truth["slice_z_mm"] == still.truth["slice_z_mm"]
    # the stacks add nothing to the anatomy: the same slices as one long acquisition, pixel for pixel
    assert np.array_equal(load_series(still.out_dir).hu, load_series(one_stack.out_dir).hu)
    at_still, _ = _edge_jumps(Path(still.out_dir), still.truth)
    moved = _write(tmp_path / "moved", **small, shifts_mm=tuple((k, 0.0, 3.0, 0.0) for k in (1, 2, 3)))
    at_moved, inside = _edge_jumps(Path(moved.out_dir), moved.truth)
    # boundaries in increasing z, as loaded: the last one is between stacks 0 and 1, the only one that moved
    assert at_moved[-1] > 1.5 * at_still[-1]
    assert np.allclose(at_moved[:-1], at_still[:-1], rtol=0.15)  # stacks 1 to 3 moved together


def test_the_ecg_reads_with_qa_its_beats_and_exposures_on_the_exam_clock(exam):
    trace = read_trace(exam.ecg_path)
    truth = exam.truth
    assert trace.resp is not None and trace.resp.size == trace.n_samples
    assert trace.start_time == dt.datetime.fromisoformat(truth["breath_hold"]["trace_start"])
    found = trace.time_s[detect_r_peaks(trace.ecg_mv, trace.fs_hz)]
    true_r = np.asarray(truth["ecg"]["r_peak_s"])
    assert found.size == true_r.size and np.abs(found - true_r).max() < 0.02
    for stack in truth["stacks"]:  # the images' acquisition times fall on the exposures in the trace's time base
        offset = (dt.datetime.fromisoformat(stack["acquisition_time"]) - trace.start_time).total_seconds()
        assert offset == pytest.approx(stack["exposure_start_s"], abs=1e-3)
        rr = np.diff(true_r)[np.searchsorted(true_r, stack["trigger_r_peak_s"]) - 1]
        assert 0.0 < offset - stack["trigger_r_peak_s"] < rr  # within the triggering beat


def _resp_sd(trace, a: float, b: float) -> float:
    t = trace.time_s
    return float(np.std(trace.resp[(t >= a) & (t <= b)]))


def test_the_resp_channel_is_flat_while_the_breath_is_held_and_breathes_after_its_release(exam, tmp_path):
    trace, hold = read_trace(exam.ecg_path), exam.truth["breath_hold"]
    assert hold["mode"] == "released" and hold["released_during_scan"]
    assert hold["hold_start_s"] < hold["first_exposure_s"] < hold["release_s"] < hold["last_exposure_end_s"]
    breathing = _resp_sd(trace, 0.0, hold["hold_start_s"] - 3.0)
    assert _resp_sd(trace, hold["hold_start_s"], hold["release_s"]) < 0.1 * breathing
    assert _resp_sd(trace, hold["release_s"] + 1.5, trace.duration_s) > 0.5 * breathing
    held = _write(tmp_path / "held", matrix=32, pixel_mm=8.0, stacks=3, ecg=True, resp="held")
    trace, hold = read_trace(held.ecg_path), held.truth["breath_hold"]
    assert not hold["released_during_scan"] and hold["release_s"] > hold["last_exposure_end_s"]
    assert _resp_sd(trace, hold["hold_start_s"], hold["last_exposure_end_s"]) < 0.1 * _resp_sd(trace, 0.0, hold["hold_start_s"] - 3.0)


def test_a_heart_rate_change_across_the_breath_hold_is_in_the_beats(tmp_path):
    out = _write(tmp_path / "hr", matrix=32, pixel_mm=8.0, stacks=4, ecg=True, heart_rate_bpm=60.0, heart_rate_change_bpm=15.0)
    trace, hold = read_trace(out.ecg_path), out.truth["breath_hold"]
    r = trace.time_s[detect_r_peaks(trace.ecg_mv, trace.fs_hz)]
    rate = 60.0 / np.diff(r)
    before = rate[r[1:] < hold["hold_start_s"]].mean()
    end = rate[(r[1:] > hold["last_exposure_end_s"] - 1.5) & (r[1:] < hold["last_exposure_end_s"] + 0.5)].mean()
    assert before == pytest.approx(hold["heart_rate_start_bpm"], abs=1.0)
    assert end == pytest.approx(hold["heart_rate_end_bpm"], abs=2.0)


def test_qa_check_reads_the_exam_with_its_ecg(exam):
    run = subprocess.run([sys.executable, "-m", "qa", "check", exam.out_dir, "--ecg", exam.ecg_path, "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr[-3000:]
    doc = json.loads(run.stdout)
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["gating_mode"]["status"] == "pass"
    assert checks["exposure_timing"]["status"] == "pass"  # the stacks' times fall in diastole of the trace's beats


@pytest.mark.parametrize("options", [
    ["--shift", "0:1,0,0"],  # stack 0 is the reference
    ["--shift", "7:1,0,0"],  # no such stack
    ["--shift", "1:1,0"],  # not K:LR,AP,CC
    ["--shift", "1:nan,0,0"],
    ["--shift", "1:500,0,0"],  # no breathing moves the heart half a metre
    ["--shift", "1:1,0,0", "--shift", "1:0,1,0"],  # the same stack twice
    ["--overlap-mm", "30"],  # more than half a 40 mm stack
    ["--thickness-mm", "100"],
    ["--pixel-mm", "20"],
    ["--stacks", "0"],
    ["--heart-rate-bpm", "400"],
    ["--heart-rate-bpm", "60", "--heart-rate-change-bpm", "-55"],
    ["--resp", "sometimes"],
    ["--resp", "released-at-60"],  # after the scan
    ["--matrix", "100000"],
    ["--datetime", "yesterday"],
    ["--datetime", "9999-12-31T23:59:59"],  # its stacks would be acquired after the year 9999
    ["--table-z-mm", "-99990"],  # the last slices beyond any possible position
    ["--stacks", "64", "--stack-mm", "4000", "--overlap-mm", "0"],  # longer than any table travels
    ["--matrix", "16", "--increment-mm", "0.01", "--stacks", "64", "--stack-mm", "70", "--overlap-mm", "0"],  # 448000 files
])
def test_impossible_options_are_usage_errors_and_nothing_is_written(tmp_path, capsys, options):
    out = tmp_path / "never"
    code = main(["synth", "exam", str(out), *options])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not out.exists()
    assert "internal error" not in err


def test_an_impossible_option_is_exit_2_with_a_json_error(tmp_path):
    out = tmp_path / "never"
    run = subprocess.run([sys.executable, "-m", "qa", "synth", "exam", str(out), "--shift", "9:1,1,1", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    doc = json.loads(run.stdout)
    assert doc["schema"] == "qa.error/1" and "stack" in doc["error"]["message"] and doc["error"]["hint"]
    assert not out.exists()


def test_an_interrupted_synthesis_leaves_nothing_behind(tmp_path):
    out = tmp_path / "exam"

    def interrupt(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize_exam(out, ExamSynthOptions(matrix=32, pixel_mm=8.0, ecg=True), progress=interrupt)
    assert not out.exists()


def test_a_folder_holding_an_exam_is_refused_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "exam"
    _write(out, matrix=32, pixel_mm=8.0, stacks=2)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir())
    assert main(["synth", "exam", str(out), "--matrix", "32", "--pixel-mm", "8"]) == 2
    assert "already holds" in capsys.readouterr().err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir()) == before
