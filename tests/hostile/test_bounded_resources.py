"""Issue 11, point 6 (DICOM inputs): bounded resources.

A zip is refused before anything is extracted when its members declare more than 1 GiB in all
or more than 100 times the zip's own size, and extraction stops when a member holds more than it
declares.  Named pipes, devices and sockets in an input are listed as skipped, never opened (a
FIFO used to hang every command).  Bytes after a dataset are never parsed: 100 MB of trailing
garbage adds well under a second.  Symbolic link loops, very deep folders and folders of many
tiny files are walked without recursion limits, once, quickly.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from qa.errors import InputError

REPO = Path(__file__).resolve().parents[2]
MiB = 1024**2


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory) -> Path:
    """A small synthetic CT series (8 slices of 128 x 128)."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    out = tmp_path_factory.mktemp("series")
    synthesize_phantom(out, SynthOptions(pixel_mm=1.6, matrix=128, z_start_mm=-6.0, z_end_mm=15.0, noise_hu=5.0, seed=5))
    (out / "truth.json").unlink()
    return out


@pytest.fixture
def private_tmpdir(tmp_path, monkeypatch) -> Path:
    """TMPDIR of this test alone: what qa extracts from zips lands here."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _declare_sizes(archive: Path, size_of) -> None:
    """Rewrite the uncompressed sizes a zip declares (local headers and central directory):
    a zip bomb's headers without writing gigabytes."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    for info in infos.values():
        assert data[info.header_offset:info.header_offset + 4] == b"PK\x03\x04"
        struct.pack_into("<I", data, info.header_offset + 22, size_of(info))
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        n = struct.unpack_from("<H", data, pos + 28)[0]
        name = bytes(data[pos + 46:pos + 46 + n]).decode()
        struct.pack_into("<I", data, pos + 24, size_of(infos[name]))
        pos = data.find(b"PK\x01\x02", pos + 46 + n)
    archive.write_bytes(bytes(data))


def _qa(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


# ------------------------------------------------------------------------------------ zip bombs


def test_a_zip_whose_members_declare_more_than_1_gib_is_refused_before_extraction(tmp_path, private_tmpdir):
    from qa.dicom.series import scan_inputs

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(48):
            zf.writestr(f"IMG{n:04d}.dcm", b"\0" * 4096)
    _declare_sizes(archive, lambda info: 63 * MiB)  # 48 x 63 MiB = 3 GB declared
    with pytest.raises(InputError) as caught:
        scan_inputs(archive)
    assert caught.value.path == str(archive) and "GiB" in caught.value.message and "zip bomb" in caught.value.message
    assert list(private_tmpdir.iterdir()) == []  # nothing extracted


def test_a_zip_whose_members_declare_over_100_times_its_size_is_refused(tmp_path, private_tmpdir):
    from qa.dicom.series import scan_inputs

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("IMG0001.dcm", "w", force_zip64=False) as member:
        for _ in range(60):  # 60 MiB of zeros: no member too large on its own, the whole far too compressed
            member.write(b"\0" * MiB)
    assert archive.stat().st_size * 100 < 60 * MiB < 1024 * MiB
    with pytest.raises(InputError) as caught:
        scan_inputs(archive)
    assert "times the zip's own size" in caught.value.message
    assert list(private_tmpdir.iterdir()) == []


def test_extraction_stops_when_a_member_holds_more_than_it_declares(series_dir, tmp_path, private_tmpdir):
    from qa.dicom.series import scan_inputs

    archive = tmp_path / "liar.zip"
    images = sorted(series_dir.iterdir())
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for image in images:
            zf.write(image, f"SE1/{image.name}")
    declared = 4096
    _declare_sizes(archive, lambda info: declared if info.filename.endswith(images[2].name) else info.file_size)
    with pytest.raises(InputError) as caught:
        scan_inputs(archive)
    assert caught.value.path == f"{archive}!SE1/{images[2].name}"
    leftovers = [p for p in private_tmpdir.rglob("*") if p.is_file()]
    assert all(p.stat().st_size <= images[0].stat().st_size for p in leftovers)


def test_an_honest_zip_of_a_series_is_read(series_dir, tmp_path, private_tmpdir):
    from qa.dicom.series import load_volume, scan_inputs, select_series

    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for image in sorted(series_dir.iterdir()):
            zf.write(image, f"SE1/{image.name}")
    volume = load_volume(select_series(scan_inputs(archive)))
    assert volume.n_slices == len(list(series_dir.iterdir()))


# ------------------------------------------------------------------------------------ special files


def test_named_pipes_devices_and_sockets_are_listed_never_opened(series_dir, tmp_path, monkeypatch):
    from qa.workflows.score import score_series

    folder = tmp_path / "s"
    shutil.copytree(series_dir, folder)
    os.mkfifo(folder / "IMG9998.dcm")
    os.symlink("/dev/zero", folder / "IMG9999.dcm")  # endless bytes if it were ever read
    monkeypatch.chdir(folder)  # a socket path must be short: bind it by its relative name
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("qa.sock")
    try:
        run = score_series(folder)
    finally:
        server.close()
    reasons = {s.name: s.reason for s in run.files.skipped_files}
    assert "named pipe" in reasons["IMG9998.dcm"] and "device" in reasons["IMG9999.dcm"] and "socket" in reasons["qa.sock"]
    assert run.volume.n_slices == len(list(series_dir.iterdir()))


def test_a_fifo_hangs_no_command(series_dir, tmp_path):
    """Real processes with a deadline: a FIFO in the folder, or given directly (as a series, a dose
    report, an ECG trace or a definition file), is never waited on."""
    folder = tmp_path / "s"
    shutil.copytree(series_dir, folder)
    os.mkfifo(folder / "pipe")
    os.mkfifo(tmp_path / "direct.dcm")
    os.mkfifo(tmp_path / "ecg.csv")
    os.mkfifo(tmp_path / "site.toml")
    runs = {
        "score folder": ["score", str(folder), "--verbose"],
        "check folder": ["check", str(folder)],
        "dose fifo": ["dose", str(tmp_path / "direct.dcm")],
        "ecg fifo": ["gating", "--ecg", str(tmp_path / "ecg.csv")],
        "protocol fifo": ["check", str(folder), "--protocol", str(tmp_path / "site.toml")],
    }
    # Each process its own site secret: concurrent first use is another test's subject.
    procs = {k: subprocess.Popen([sys.executable, "-m", "qa", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=REPO, env={**os.environ, "QA_SECRET_FILE": str(tmp_path / f"secret-{n}")})
             for n, (k, argv) in enumerate(runs.items())}
    results = {}
    try:
        for k, proc in procs.items():
            out, err = proc.communicate(timeout=90)
            results[k] = (proc.returncode, out + err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    assert results["score folder"][0] == 0 and "pipe: a named pipe" in results["score folder"][1]
    assert results["check folder"][0] in (0, 1)
    assert results["dose fifo"][0] == 2 and "named pipe" in results["dose fifo"][1]
    for k in ("ecg fifo", "protocol fifo"):
        assert results[k][0] == 2 and "not a regular file" in results[k][1], results[k]


# ------------------------------------------------------------------------------------ trailing garbage


def _median_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def test_100_mb_of_trailing_garbage_adds_under_a_second(series_dir, tmp_path):
    from qa.dicom.series import load_volume, scan_inputs, select_series

    clean, dirty = tmp_path / "clean", tmp_path / "dirty"
    shutil.copytree(series_dir, clean)
    shutil.copytree(series_dir, dirty)
    images = sorted(dirty.iterdir())
    with open(images[1], "r+b") as fp:  # 100 MB of zeros (a sparse tail: cheap to make)
        fp.truncate(os.path.getsize(images[1]) + 100 * 1000**2)
    with open(images[-2], "ab") as fp:  # and 20 MB of random bytes
        fp.write(os.urandom(20 * 1000**2))

    def read(folder):
        return lambda: load_volume(select_series(scan_inputs(folder)))

    expected = read(clean)().hu
    assert (read(dirty)().hu == expected).all()
    extra = _median_seconds(read(dirty)) - _median_seconds(read(clean))
    assert extra < 1.0, f"trailing garbage cost {extra:.2f} s"


def test_trailing_garbage_after_a_dose_report_adds_under_a_second(shared_data, tmp_path):
    from qa.workflows.dose import summarise_dose

    source = shared_data / "dicom" / "rdsr" / "CT-RDSR-Siemens_Flash-QA-DS.dcm"
    if not source.is_file():
        pytest.skip(f"{source} is missing")
    clean, dirty = tmp_path / "clean.dcm", tmp_path / "dirty.dcm"
    shutil.copy(source, clean)
    shutil.copy(source, dirty)
    with open(dirty, "r+b") as fp:
        fp.truncate(os.path.getsize(dirty) + 100 * 1000**2)
    a, b = summarise_dose([clean]), summarise_dose([dirty])
    assert a.reports[0].dlp_total_mgycm == b.reports[0].dlp_total_mgycm and len(a.reports[0].events) == len(b.reports[0].events)
    extra = _median_seconds(lambda: summarise_dose([dirty])) - _median_seconds(lambda: summarise_dose([clean]))
    assert extra < 1.0, f"trailing garbage cost {extra:.2f} s"


# ------------------------------------------------------------------------------------ folders


def test_symbolic_link_loops_are_walked_once_and_listed(series_dir, tmp_path):
    from qa.dicom.series import scan_inputs

    folder = tmp_path / "s"
    shutil.copytree(series_dir, folder / "inner")
    os.symlink("..", folder / "inner" / "up")
    os.symlink(".", folder / "inner" / "self")
    os.symlink("nowhere", folder / "inner" / "broken.dcm")
    scan = scan_inputs(folder)
    assert len(scan.series) == 1 and scan.series[0].info.n_files == len(list(series_dir.iterdir()))
    reasons = {s.name: s.reason for s in scan.skipped}
    assert "loop" in reasons["up"] and "loop" in reasons["self"] and "broken" in reasons["broken.dcm"]


def test_very_deep_folders_have_no_recursion_limit(series_dir, tmp_path):
    from qa.dicom.series import scan_inputs

    depth = sys.getrecursionlimit() + 50
    folders = [tmp_path / "d"]
    for _ in range(depth - 1):  # made (and removed) one level at a time: os.makedirs and rmtree recurse
        folders.append(folders[-1] / "d")
    for folder in folders:
        folder.mkdir()
    images = sorted(series_dir.iterdir())
    for image in images:
        shutil.copy(image, folders[-1] / image.name)
    try:
        scan = scan_inputs(tmp_path / "d")
        assert len(scan.series) == 1 and scan.series[0].info.n_files == len(images)
    finally:
        for image in images:
            (folders[-1] / image.name).unlink()
        for folder in reversed(folders):
            folder.rmdir()


def test_many_tiny_files_that_are_not_dicom_stay_fast(series_dir, tmp_path):
    from qa.dicom.series import scan_inputs

    folder = tmp_path / "s"
    shutil.copytree(series_dir, folder / "series")
    junk = folder / "junk"
    junk.mkdir()
    n = 5000
    for k in range(n):
        (junk / f"note{k}.txt").write_bytes(b"x" * (k % 200))
    t = time.perf_counter()
    scan = scan_inputs(folder)
    seconds = time.perf_counter() - t
    assert len(scan.series) == 1 and len(scan.skipped) == n
    assert seconds < 5.0, f"{n} tiny files took {seconds:.1f} s"


def test_trailing_garbage_after_a_dicom_ecg_adds_under_a_second(shared_data, tmp_path):
    from qa.ecg.trace import read_trace

    source = shared_data / "ecg" / "waveform_ecg.dcm"
    if not source.is_file():
        pytest.skip(f"{source} is missing")
    dirty = tmp_path / "ecg.dcm"
    shutil.copy(source, dirty)
    with open(dirty, "r+b") as fp:
        fp.truncate(os.path.getsize(dirty) + 100 * 1000**2)
    assert (read_trace(dirty).ecg_mv == read_trace(source).ecg_mv).all()
    extra = _median_seconds(lambda: read_trace(dirty)) - _median_seconds(lambda: read_trace(source))
    assert extra < 1.0, f"trailing garbage cost {extra:.2f} s"


def test_a_truncated_zip_is_refused_as_damaged_not_counted_as_a_foreign_file(series_dir, tmp_path, private_tmpdir):
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for image in sorted(series_dir.iterdir()):
            zf.write(image, f"SE1/{image.name}")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])  # the download stopped half-way: no zip directory
    result = _qa("score", str(archive), "--json")
    assert result.returncode == 2, result.stderr
    assert "damaged zip" in result.stderr and "non-DICOM" not in result.stderr
