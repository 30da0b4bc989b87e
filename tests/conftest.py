"""Shared fixtures: real DICOM files written by qa.phantom.synth, and the public files in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``../shared/data`` next to the repository (or $QA_SHARED_DATA), if it is there."""
    env = os.environ.get("QA_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("the public test files (../shared/data, or $QA_SHARED_DATA) are not on this machine")
    return path


@pytest.fixture(scope="session")
def canon_phantom_dir(shared_data: Path) -> Path:
    path = shared_data / "phantom" / "qrm-cci-canon-aquilion-one-large"
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def ct_dir(shared_data: Path) -> Path:
    path = shared_data / "dicom" / "ct"
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory):
    """A small synthetic phantom series (256 x 256, 0.9 mm pixels, 3 mm slices)."""
    from qa.phantom.synth import SynthOptions, synthesize_phantom

    out = tmp_path_factory.mktemp("small_phantom")
    opts = SynthOptions(pixel_mm=0.9, matrix=256, z_start_mm=-12.0, z_end_mm=45.0, noise_hu=10.0, seed=3, scout=True)
    return synthesize_phantom(out, opts)
