"""Hostile and odd inputs to the motion analysis (``qa motion``, ``qa check``'s breath_hold_motion):
stack labels that are not stacks, times that are not times, images with nothing to register,
stacks acquired out of z order.  None may crash, none may pass silently."""

from __future__ import annotations

import json

from motion_exams import ExamSpec, write_exam

SMALL = dict(matrix=64, pixel_mm=4.0, slices_per_stack=4, n_stacks=3)


def _doc(qa_main, folder) -> tuple[int, dict]:
    code, out, _ = qa_main("motion", folder, "--json")
    return code, json.loads(out)


def test_a_per_image_acquisition_number_falls_back_to_the_stacks_times(qa_main, tmp_path):
    def per_image(ds, stack, index):
        ds.AcquisitionNumber = index + 1

    code, doc = _doc(qa_main, write_exam(ExamSpec(**SMALL), tmp_path / "e", per_image))
    assert code == 0 and doc["stack_basis"] == "acquisition time" and len(doc["stacks"]) == 3


def test_per_image_numbers_and_times_are_not_stacks_and_are_not_applicable(qa_main, tmp_path):
    import datetime as dt

    def spiral(ds, stack, index):
        ds.AcquisitionNumber = index + 1
        when = dt.datetime(2026, 3, 2, 9, 15) + dt.timedelta(seconds=0.6 * index)
        ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S.%f")
        ds.AcquisitionTime = when.strftime("%H%M%S.%f")

    code, doc = _doc(qa_main, write_exam(ExamSpec(**SMALL), tmp_path / "e", spiral))
    assert code == 0 and doc["status"] == "not_applicable"
    assert "slice to slice" in doc["message"] and doc["boundaries"] == []


def test_times_that_are_not_times_and_no_numbers_leave_the_stacks_unknown(qa_main, tmp_path):
    def garbage(ds, stack, index):
        del ds.AcquisitionNumber
        ds.AcquisitionDateTime = "not a time"
        ds.AcquisitionTime = "99:99"
        ds.ContentTime = "xx"

    code, doc = _doc(qa_main, write_exam(ExamSpec(**SMALL), tmp_path / "e", garbage))
    assert code == 0 and doc["status"] == "not_applicable"
    assert "cannot be told apart" in doc["message"]


def test_one_slice_without_its_acquisition_number_does_not_hide_the_stacks(qa_main, tmp_path):
    def one_missing(ds, stack, index):
        if index == 5:
            del ds.AcquisitionNumber

    code, doc = _doc(qa_main, write_exam(ExamSpec(**SMALL), tmp_path / "e", one_missing))
    assert code == 0 and doc["stack_basis"] == "acquisition time" and len(doc["stacks"]) == 3


def test_uniform_images_give_no_shift_rather_than_a_made_up_one(qa_main, tmp_path):
    code, doc = _doc(qa_main, write_exam(ExamSpec(uniform_hu=0.0, noise_hu=30.0, **SMALL), tmp_path / "water"))
    assert code == 0
    assert doc["status"] == "not_available"
    assert all(b["status"] == "not_available" and b["shift_mm"] == {"lr": None, "ap": None, "cc": None} for b in doc["boundaries"])
    assert all("no structure" in b["message"] for b in doc["boundaries"])


def test_stacks_acquired_out_of_z_order_are_compared_only_where_they_are_neighbours(qa_main, tmp_path):
    spec = ExamSpec(stack_order=(0, 2, 1), head_to_feet=False, **SMALL)  # bottom, top, then middle
    code, doc = _doc(qa_main, write_exam(spec, tmp_path / "e"))
    assert code == 0
    assert [b["between"] for b in doc["boundaries"]] == [[0, 1], [1, 2]]
    first, second = doc["boundaries"]
    assert first["status"] == "not_available" and "not neighbours in z" in first["message"]
    assert second["status"] == "pass"
    assert doc["status"] == "not_available"  # a boundary left unmeasured is never passed over
    assert "1 of 2 boundaries could not be measured" in doc["message"]


def test_the_header_readers_stacks_ignore_a_per_image_acquisition_number_too(tmp_path):
    """The same class of fault in qa gating --series / qa check --ecg: the exposure windows come
    from the headers' stacks, which a per-image numbering would turn into one window per image."""
    from qa.dicom.headers import headers_of

    def per_image(ds, stack, index):
        ds.AcquisitionNumber = index + 1

    plain = headers_of(write_exam(ExamSpec(**SMALL), tmp_path / "plain"))
    numbered = headers_of(write_exam(ExamSpec(**SMALL), tmp_path / "numbered", per_image))
    assert len(plain.stacks) == len(numbered.stacks) == SMALL["n_stacks"]
    assert [s.n_images for s in numbered.stacks] == [SMALL["slices_per_stack"]] * SMALL["n_stacks"]
