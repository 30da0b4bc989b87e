"""Breath-hold motion between stacks (qa.motion): stacks from the per-slice table, shifts from the images.

Every exam is written as real CT DICOM files by tests/motion_exams.py (an analytic thorax whose
anatomy changes along z, with partial volume, noise and known per-stack shifts) and read back by
the loader, as a user's series would be.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from motion_exams import ExamSpec, render, write_exam
from qa.dicom.series import load_series
from qa.motion import MotionSettings, analyse_motion, find_stacks
from qa.motion.boundaries import adjacent_ncc, measure_boundary
from qa.motion.stacks import StackRun


def _relative(spec: ExamSpec, k: int) -> tuple[float, float, float]:
    """The truth at boundary k: stack k + 1's shift minus stack k's."""
    a, b = spec.shifts_mm[k], spec.shifts_mm[k + 1]
    return tuple(bb - aa for aa, bb in zip(a, b, strict=True))


def _analyse(spec: ExamSpec, tmp_path, settings: MotionSettings | None = None):
    volume = load_series(write_exam(spec, tmp_path / "exam"))
    return volume, analyse_motion(volume, settings)


# ------------------------------------------------------------------------------------ stacks


def test_the_loaded_series_carries_each_slices_acquisition_number_time_and_table_position(tmp_path):
    spec = ExamSpec(n_stacks=3, slices_per_stack=4, matrix=64, pixel_mm=5.0)
    volume = load_series(write_exam(spec, tmp_path / "exam"))
    table = volume.slices
    assert table is not None and len(table.acquisition_numbers) == volume.n_slices
    z = [p[2] for p in volume.image_positions_mm]
    assert list(table.table_positions_mm) == z  # no TablePosition in the files: the slice's z
    assert table.table_position_source == "ImagePositionPatient z"
    assert all(t is not None for t in table.acquisition_times)
    # slices sorted by z ascending, the head-to-feet scan acquired the top stack first: numbers fall with z
    assert table.acquisition_numbers[0] == spec.n_stacks and table.acquisition_numbers[-1] == 1


@pytest.mark.parametrize("head_to_feet", [True, False])
@pytest.mark.parametrize("feet_first", [False, True])
def test_stacks_are_numbered_in_acquisition_order_whatever_the_slice_order(tmp_path, head_to_feet, feet_first):
    spec = ExamSpec(n_stacks=3, slices_per_stack=4, matrix=64, pixel_mm=5.0, head_to_feet=head_to_feet, feet_first=feet_first)
    volume, result = _analyse(spec, tmp_path)
    assert [s.index for s in result.stacks] == [0, 1, 2]
    assert [s.acquisition_number for s in result.stacks] == [1, 2, 3]
    starts = [dt.datetime.fromisoformat(s.acquisition_time) for s in result.stacks]
    assert starts == sorted(starts)
    tops = [s.z_range_mm[1] for s in result.stacks]
    assert tops == (sorted(tops, reverse=True) if head_to_feet else sorted(tops))
    assert sum(s.n_slices for s in result.stacks) == volume.n_slices
    assert [b.between for b in result.boundaries] == [(0, 1), (1, 2)]


def test_stacks_come_from_acquisition_times_when_numbers_are_missing():
    t0 = dt.datetime(2026, 1, 1, 8, 0, 0)
    times = [t0 + dt.timedelta(seconds=1.1 * (k // 3)) for k in range(9)][::-1]
    split = find_stacks([None] * 9, times, [3.0 * k for k in range(9)])
    assert split.basis == "acquisition time"
    assert [s.slices for s in split.stacks] == [(6, 7, 8), (3, 4, 5), (0, 1, 2)]


def test_table_position_alone_never_splits_stacks():
    split = find_stacks([None] * 6, [None] * 6, [1.0 * k for k in range(6)])
    assert len(split.stacks) == 1 and split.basis == "none"
    assert "cannot be told apart" in split.reason


def test_a_single_rotation_is_not_applicable_with_the_reason_never_a_pass(tmp_path):
    spec = ExamSpec(n_stacks=1, slices_per_stack=12, matrix=64, pixel_mm=5.0)
    _, result = _analyse(spec, tmp_path)
    assert result.status == "not_applicable"
    assert result.boundaries == ()
    assert "single rotation" in result.message


# ------------------------------------------------------------------------------------ accuracy


ACCURACY_CASES = [
    # (thickness mm, noise HU, per-stack (lr, ap, cc))
    (3.0, 10.0, ((0, 0, 0), (1.0, 0, 0), (1.0, 2.0, 0), (-2.0, 2.0, 0))),
    (3.0, 30.0, ((0, 0, 0), (0, -3.0, 0), (2.0, -3.0, 0), (2.0, -3.0, 0))),
    (2.0, 20.0, ((0, 0, 0), (0.5, 0.5, 0), (-1.0, 1.5, 0), (-1.0, 1.5, 0))),
    (1.0, 30.0, ((0, 0, 0), (0, 2.0, 0), (3.0, 2.0, 0), (3.0, 0.0, 0))),
]


@pytest.mark.parametrize(("thickness", "noise", "shifts"), ACCURACY_CASES)
def test_in_plane_shifts_are_recovered_within_half_a_millimetre(tmp_path, thickness, noise, shifts):
    per = max(6, int(round(18 / thickness)))
    spec = ExamSpec(thickness_mm=thickness, noise_hu=noise, shifts_mm=shifts, slices_per_stack=per, seed=int(thickness * 10 + noise))
    _, result = _analyse(spec, tmp_path)
    for k, boundary in enumerate(result.boundaries):
        lr, ap, _ = _relative(spec, k)
        assert abs(boundary.shift_mm.lr - lr) <= 0.5, (k, boundary)
        assert abs(boundary.shift_mm.ap - ap) <= 0.5, (k, boundary)
        assert boundary.shift_mm.cc is None  # contiguous stacks: no overlap, nothing to measure


@pytest.mark.parametrize("feet_first", [False, True])
def test_signs_follow_the_patient_axes(tmp_path, feet_first):
    """+lr toward the patient's left, +ap posterior, whatever the image orientation."""
    spec = ExamSpec(n_stacks=2, slices_per_stack=6, shifts_mm=((0, 0, 0), (2.5, -2.0, 0)), feet_first=feet_first)
    _, result = _analyse(spec, tmp_path)
    (boundary,) = result.boundaries
    assert boundary.shift_mm.lr == pytest.approx(2.5, abs=0.5)
    assert boundary.shift_mm.ap == pytest.approx(-2.0, abs=0.5)


@pytest.mark.parametrize(("thickness", "cc"), [(3.0, 2.0), (2.0, -1.5), (1.0, 1.0)])
def test_craniocaudal_shift_is_measured_where_stacks_overlap(thickness, cc):
    """On arrays here; from DICOM files (interleaved and repeated positions) in test_motion_cli."""
    spec = ExamSpec(n_stacks=2, slices_per_stack=int(round(18 / thickness)), thickness_mm=thickness, noise_hu=20.0,
                    shifts_mm=((0, 0, 0), (1.0, 0.0, cc)), overlap_slices=3, head_to_feet=False, matrix=128, pixel_mm=2.0)
    volumes, zs, _ = render(spec)
    hu = np.concatenate(volumes)
    z = np.concatenate([np.asarray(v, dtype=float) for v in zs])
    stacks = [StackRun(index=s, first_slice=s * len(zs[0]), n_slices=len(zs[s]), z_range_mm=(min(zs[s]), max(zs[s])),
                       acquisition_time=None, slices=tuple(range(s * len(zs[0]), (s + 1) * len(zs[0])))) for s in range(2)]
    measure = measure_boundary(hu, z, stacks[0], stacks[1], orientation=(1, 0, 0, 0, 1, 0), pixel_mm=(2.0, 2.0),
                               increment_mm=thickness, reference_ncc=adjacent_ncc(hu, stacks, z))
    assert measure.overlap_mm > 0
    assert measure.shift_mm.cc == pytest.approx(cc, abs=1.0)
    assert measure.shift_mm.lr == pytest.approx(1.0, abs=0.5)


@pytest.mark.parametrize("thickness", [3.0, 1.0])
def test_a_two_millimetre_shift_flags_its_boundary_and_only_it(tmp_path, thickness):
    per = max(6, int(round(18 / thickness)))
    spec = ExamSpec(thickness_mm=thickness, noise_hu=20.0, slices_per_stack=per,
                    shifts_mm=((0, 0, 0), (0, 0, 0), (2.0, 0, 0), (2.0, 0, 0)), seed=7)
    _, result = _analyse(spec, tmp_path)
    statuses = [b.status for b in result.boundaries]
    assert statuses[1] in ("warn", "fail") and statuses[0] == statuses[2] == "pass"
    assert statuses[1] == ("fail" if 2.0 > thickness else "warn")
    assert result.status == statuses[1]
    assert "stacks 1-2" in result.message


@pytest.mark.parametrize("seed", range(6))
def test_motion_free_exams_raise_no_warning(tmp_path, seed):
    thickness = (1.0, 2.0, 3.0)[seed % 3]
    spec = ExamSpec(thickness_mm=thickness, noise_hu=10.0 + 4 * seed, slices_per_stack=max(6, int(round(18 / thickness))),
                    seed=100 + seed, matrix=128, pixel_mm=2.0)
    _, result = _analyse(spec, tmp_path)
    assert result.status == "pass", result.message
    assert all(math.hypot(b.shift_mm.lr, b.shift_mm.ap) < 0.5 for b in result.boundaries)


def test_the_protocol_thresholds_decide_the_status(tmp_path):
    spec = ExamSpec(n_stacks=2, slices_per_stack=6, shifts_mm=((0, 0, 0), (1.0, 0, 0)))
    _, default = _analyse(spec, tmp_path)
    assert default.boundaries[0].status == "pass"  # 1 mm < half of 3 mm
    strict = MotionSettings(warn_shift_fraction=0.2, fail_shift_fraction=0.3)
    volume = load_series(tmp_path / "exam")
    assert analyse_motion(volume, strict).boundaries[0].status == "fail"
