"""An independent DICOM toolkit (OFFIS dcmtk) reads the files we write as valid DICOM Part 10,
with the values we meant: our synthetic test data is real DICOM, not something only pydicom accepts."""

from __future__ import annotations

import re
import subprocess

import pydicom

from tests.conftest import require_tool


def test_dcmtk_accepts_every_synthetic_slice_and_reads_our_values(small_phantom):
    dcmftest, dcmdump = require_tool("dcmftest"), require_tool("dcmdump")
    files = sorted(str(f) for f in small_phantom.files)
    out = subprocess.run([dcmftest, *files], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.count("yes:") == len(files), out.stdout[-2000:]
    for path in files[:3] + files[-2:]:
        dump = subprocess.run([dcmdump, "-q", "+L", path], capture_output=True, text=True, timeout=60)
        assert dump.returncode == 0 and not re.search(r"^E: ", dump.stderr, re.M), dump.stderr
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        kvp = re.search(r"^\(0018,0060\) DS \[([^\]]*)\]", dump.stdout, re.M)
        position = re.search(r"^\(0020,0032\) DS \[([^\]]*)\]", dump.stdout, re.M)
        assert kvp and float(kvp.group(1)) == float(ds.KVP)
        assert position and [float(v) for v in position.group(1).split("\\")] == [float(v) for v in ds.ImagePositionPatient]
