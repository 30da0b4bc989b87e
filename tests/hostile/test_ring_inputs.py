"""The ring measured from the image never guesses: an image that cannot tell leaves it unknown.

Real DICOM from the synthesiser, then the pixels around the insert replaced by the padding value
vendors write outside the reconstructed field of view; run through the real command line."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from qa.workflows.synth import SynthOptions, synthesize_phantom


@pytest.fixture(scope="module")
def insert_only(tmp_path_factory):
    """A scan whose field of view holds the insert and a few mm of lung only (padding beyond)."""
    folder = tmp_path_factory.mktemp("insert_only")
    synthesize_phantom(folder, SynthOptions(pixel_mm=0.9, matrix=256, z_start_mm=-12.0, z_end_mm=45.0, noise_hu=8.0, ring=True,
                                            vendor="ge"))  # signed pixels: -3024 HU can be stored
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        stored = ds.pixel_array
        rows, cols = np.mgrid[0 : ds.Rows, 0 : ds.Columns]
        x = float(ds.ImagePositionPatient[0]) + cols * float(ds.PixelSpacing[1])
        y = float(ds.ImagePositionPatient[1]) + rows * float(ds.PixelSpacing[0])
        padding = round((-3024.0 - float(ds.RescaleIntercept)) / float(ds.RescaleSlope))
        info = np.iinfo(stored.dtype)
        out = stored.copy()
        out[np.hypot(x, y) > 70.0] = int(np.clip(padding, info.min, info.max))
        ds.PixelData = out.tobytes()
        ds.save_as(path)
    return folder


def test_an_image_that_shows_no_outline_leaves_the_ring_unknown(qa_main, insert_only):
    code, out, err = qa_main("phantom", insert_only, "--no-store", "--json")
    assert code == 0, err
    doc = json.loads(out)
    ring = doc["ring"]
    assert (ring["ring"], ring["source"], ring["measurement"]["ring"]) == ("unspecified", "unknown", None)
    assert ring["measurement"]["size_mm"] == [None, None] and len(ring["measurement"]["cut_sides"]) == 4
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["ring_from_image"]["status"] == "not_available" and checks["acquisition_ring"]["status"] == "not_available"
    assert doc["configuration"]["ring"] == "unspecified"
    # given, the ring is used as given: nothing in the image contradicts it
    code, out, err = qa_main("phantom", insert_only, "--no-store", "--json", "--ring", "large")
    doc = json.loads(out)
    assert code == 0 and (doc["ring"]["ring"], doc["ring"]["source"], doc["ring"]["contradiction"]) == ("large", "given", None)
    assert not any("contradicts" in w for w in doc["warnings"])
