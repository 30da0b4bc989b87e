"""``qa motion`` and the ``breath_hold_motion`` check of ``qa check``, run as a user runs them:
real subprocesses of the ``qa`` command on generated step-and-shoot exams (tests/motion_exams.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from motion_exams import ExamSpec, write_exam
from qa.errors import DefinitionError
from qa.procedures import load_protocol
from qa.procedures.builtin import builtin_dir


def qa(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QA_DB_URL=f"sqlite:///{cwd / 'qa.sqlite'}", QA_SECRET_FILE=str(cwd / "secret"))
    return subprocess.run([sys.executable, "-m", "qa", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture(scope="module")
def exams(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion-cli")
    small = dict(matrix=96, pixel_mm=2.5, slices_per_stack=5)
    return {
        "moved": write_exam(ExamSpec(n_stacks=3, shifts_mm=((0, 0, 0), (0, 0, 0), (0.0, 4.0, 0)), **small), root / "moved"),
        "still": write_exam(ExamSpec(n_stacks=3, seed=3, **small), root / "still"),
        "single": write_exam(ExamSpec(n_stacks=1, **small), root / "single"),
        "root": root,
    }


def test_qa_motion_prints_a_table_per_boundary_and_exits_1_when_one_fails(exams):
    run = qa("motion", exams["moved"], cwd=exams["root"])
    assert run.returncode == 1, run.stderr
    assert "1 -> 2" in run.stdout and "FAIL" in run.stdout and "0 -> 1" in run.stdout
    assert "MOTION   FAIL" in run.stdout


def test_qa_motion_passes_a_still_exam_and_its_json_is_alone_on_stdout(exams):
    run = qa("motion", exams["still"], "--json", cwd=exams["root"])
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["schema"] == "qa.motion/1" and doc["status"] == "pass"
    assert [s["index"] for s in doc["stacks"]] == [0, 1, 2]
    assert all(b["shift_mm"]["cc"] is None for b in doc["boundaries"])
    assert "MOTION   PASS" in run.stderr  # the human text goes to stderr


def test_one_stack_is_not_applicable_and_exits_0(exams):
    run = qa("motion", exams["single"], "--json", cwd=exams["root"])
    assert run.returncode == 0
    doc = json.loads(run.stdout)
    assert doc["status"] == "not_applicable" and "single rotation" in doc["message"]


def test_the_plot_is_written_and_an_unwritable_plot_exits_2_leaving_nothing(exams):
    root = exams["root"]
    ok = qa("motion", exams["moved"], "--plot", root / "m.png", cwd=root)
    assert ok.returncode == 1 and (root / "m.png").read_bytes().startswith(b"\x89PNG")
    blocker = root / "not-a-folder"
    blocker.write_text("x")
    bad = qa("motion", exams["moved"], "--plot", blocker / "m.png", "--json", cwd=root)
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["schema"] == "qa.error/1"
    assert blocker.read_text() == "x"


def test_unusable_input_and_unknown_protocols_exit_2_naming_what(exams, tmp_path):
    (tmp_path / "notes.txt").write_text("not DICOM")
    run = qa("motion", tmp_path, "--json", cwd=exams["root"])
    assert run.returncode == 2 and json.loads(run.stdout)["error"]["message"]
    run = qa("motion", exams["still"], "--protocol", "no-such-protocol", cwd=exams["root"])
    assert run.returncode == 2 and "no-such-protocol" in run.stderr


def test_qa_check_adds_breath_hold_motion_from_the_images(exams):
    moved = qa("check", exams["moved"], "--json", cwd=exams["root"])
    doc = json.loads(moved.stdout)
    (check,) = [c for c in doc["checks"] if c["id"] == "breath_hold_motion"]
    assert check["status"] == "fail" and check["measured"] == pytest.approx(4.0, abs=0.5)
    assert moved.returncode == 1 and doc["verdict"] == "fail"
    single = json.loads(qa("check", exams["single"], "--json", cwd=exams["root"]).stdout)
    (check,) = [c for c in single["checks"] if c["id"] == "breath_hold_motion"]
    assert check["status"] == "not_applicable" and "single rotation" in check["message"]


def test_a_series_whose_pixels_cannot_be_read_leaves_the_motion_check_not_available(exams, tmp_path):
    """qa check reads headers; a series the image loader refuses (a missing slice) keeps its header checks."""
    import shutil

    folder = tmp_path / "gap"
    shutil.copytree(exams["still"], folder)
    files = sorted(folder.glob("*.dcm"))
    files[7].unlink()  # a slice in the middle of a stack
    doc = json.loads(qa("check", folder, "--json", cwd=exams["root"]).stdout)
    (check,) = [c for c in doc["checks"] if c["id"] == "breath_hold_motion"]
    assert check["status"] == "not_available" and "missing slice" in check["message"]
    assert str(tmp_path) not in check["message"]  # no folder names (they may name the patient)


@pytest.mark.parametrize(("text", "key"), [
    ("warn_shift_fraction = 0.5", "warn_shift_fraction = 2.0"),  # warns after it fails
    ("warn_robust_z = 3.0", "warn_robust_z = -1.0"),  # impossible
    ("fail_shift_fraction = 1.0", "fail_shift_fraction = 1e9"),
])
def test_a_protocols_motion_table_is_validated(tmp_path, text, key):
    source = (builtin_dir("procedures") / "cac-standard.toml").read_text(encoding="utf-8")
    assert text in source
    path = tmp_path / "site.toml"
    path.write_text(source.replace(text, key), encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_protocol(str(path))
    assert "motion" in str(info.value)


def test_every_builtin_protocol_carries_the_motion_proposal_labelled_as_such():
    for path in sorted(builtin_dir("procedures").glob("cac-*.toml")):
        protocol = load_protocol(str(path))
        assert "proposal" in protocol.motion.source
        assert protocol.rule("breath_hold_motion") is not None


def test_qa_check_reads_only_the_checked_series_pixels_once_its_headers_are_read(exams, tmp_path):
    """The exam is read headers-only once; the motion analysis then reads the checked series' pixels
    and nothing else: the exam's other series may be gone by then."""
    import shutil

    from qa.workflows.exam import exam_motion
    from qa.workflows.exam_files import read_exam_files

    folder = tmp_path / "exam"
    shutil.copytree(exams["moved"], folder / "cac")
    import pydicom

    study = pydicom.dcmread(next((folder / "cac").glob("*.dcm")), stop_before_pixels=True).StudyInstanceUID

    def same_study(ds, stack, index):
        ds.StudyInstanceUID, ds.SeriesDescription = study, "Chest 5mm"

    shutil.copytree(write_exam(ExamSpec(n_stacks=1, matrix=64, pixel_mm=2.5, slices_per_stack=3, seed=9), tmp_path / "o", same_study),
                    folder / "other")
    found = read_exam_files([folder])
    assert len(found.exam.series) == 2
    shutil.rmtree(folder / "other")  # read headers-only before: never read again
    motion = exam_motion(found.series, found.protocol)
    assert motion.status == "fail" and len(motion.stacks) == 3


def test_a_slice_replaced_between_the_header_and_the_pixel_read_is_refused_by_name(exams, tmp_path):
    import shutil

    from qa.workflows.exam import exam_motion
    from qa.workflows.exam_files import read_exam_files

    folder = tmp_path / "exam"
    shutil.copytree(exams["still"], folder)
    found = read_exam_files([folder])
    files = sorted(folder.glob("*.dcm"))
    shutil.copyfile(files[0], files[4])  # another object now under the name read before
    motion = exam_motion(found.series, found.protocol)
    assert motion.status == "not_available"
    assert "changed" in motion.message and files[4].name in motion.message
    assert motion.slice_thickness_mm is None  # unknown, not a made-up 0


def test_a_trace_the_scan_cannot_be_placed_on_leaves_the_scan_times_null(exams, tmp_path):
    trace = tmp_path / "ecg.csv"  # no absolute start time: the stacks cannot be placed on it
    t = [k / 250 for k in range(250 * 30)]
    import math

    rows = [f"{s:.4f},{(1.0 if (s % 1.0) < 0.02 else 0.0) + 0.05 * math.sin(2 * math.pi * s / 4):.4f}" for s in t]
    trace.write_text("time_s,ecg_mv\n" + "\n".join(rows) + "\n")
    run = qa("motion", exams["still"], "--ecg", trace, "--json", cwd=exams["root"])
    doc = json.loads(run.stdout)
    resp = doc["respiration"]
    assert resp["status"] == "not_available" and "start time" in resp["message"]
    assert resp["scan_start_s"] is None and resp["scan_end_s"] is None


def test_the_header_checks_and_the_motion_analysis_see_the_same_stacks(exams):
    from qa.dicom.headers import headers_of
    from qa.workflows.motion import analyse_series_motion

    for name in ("moved", "still", "single"):
        headers = headers_of(exams[name])
        motion = analyse_series_motion(exams[name]).analysis
        assert [(s.index, s.n_images, s.acquisition_time) for s in headers.stacks] == \
               [(s.index, s.n_slices, s.acquisition_time) for s in motion.stacks]


@pytest.mark.parametrize("offset", [0.5, 0.0], ids=["interleaved", "repeated-positions"])
@pytest.mark.parametrize(("thickness", "noise", "cc"), [(3.0, 10.0, 2.0), (2.0, 20.0, -1.5), (1.0, 30.0, 1.0)])
def test_stacks_overlapping_in_z_give_the_craniocaudal_shift_from_the_files(tmp_path, offset, thickness, noise, cc):
    """Stacks that overlap in z (interleaved or repeated positions) load for the motion analysis, each
    stack regular on its own, and the craniocaudal shift is measured within 1 mm; calcium scoring
    still refuses such a series (one position, one slice)."""
    spec = ExamSpec(n_stacks=3, slices_per_stack=max(6, int(18 / thickness)), overlap_slices=max(2, int(6 / thickness)),
                    overlap_offset=offset, thickness_mm=thickness, noise_hu=noise, matrix=128, pixel_mm=2.0, head_to_feet=False,
                    shifts_mm=((0, 0, 0), (0.0, 1.0, cc), (0.0, 1.0, cc)))
    folder = write_exam(spec, tmp_path / "overlap")
    run = qa("motion", folder, "--json", cwd=tmp_path)
    assert run.returncode in (0, 1), run.stderr
    doc = json.loads(run.stdout)
    first, second = doc["boundaries"]
    assert first["shift_mm"]["cc"] == pytest.approx(cc, abs=1.0)
    assert first["shift_mm"]["ap"] == pytest.approx(1.0, abs=0.5)
    assert second["shift_mm"]["cc"] == pytest.approx(0.0, abs=1.0)  # stacks 1 and 2 moved together
    score = qa("score", folder, cwd=tmp_path)
    assert score.returncode == 2 and "ImagePositionPatient" in score.stderr


def test_a_missing_slice_inside_one_of_overlapping_stacks_is_still_refused(tmp_path):
    spec = ExamSpec(n_stacks=3, slices_per_stack=8, overlap_slices=2, overlap_offset=0.0, matrix=96, pixel_mm=2.5, head_to_feet=False)
    folder = write_exam(spec, tmp_path / "overlap")
    sorted(folder.glob("*.dcm"))[12].unlink()  # inside the second stack
    run = qa("motion", folder, cwd=tmp_path)
    assert run.returncode == 2 and "missing slice" in run.stderr


def test_an_offset_beyond_what_the_overlap_can_show_is_null_not_clipped(tmp_path):
    """Stacks overlapping by 1.5 mm cannot show a 3 mm craniocaudal offset: the best match sits at
    the edge of the search, so cc is null with the reason, never the clipped -1.5."""
    spec = ExamSpec(n_stacks=3, slices_per_stack=6, overlap_slices=2, overlap_offset=0.5, thickness_mm=3.0, noise_hu=30.0,
                    matrix=128, pixel_mm=2.0, head_to_feet=False, shifts_mm=((0, 0, 0), (0.0, 1.0, -3.0), (0.0, 1.0, -3.0)))
    doc = json.loads(qa("motion", write_exam(spec, tmp_path / "short"), "--json", cwd=tmp_path).stdout)
    first = doc["boundaries"][0]
    assert first["shift_mm"]["cc"] is None and first["shift_mm"]["ap"] == pytest.approx(1.0, abs=0.5)
    assert "overlap of the stacks is too short" in first["message"]
