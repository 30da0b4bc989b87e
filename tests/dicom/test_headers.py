"""Acquisition headers: standard tags, vendor private tags, provenance, stacks (real and synthetic files)."""

from __future__ import annotations

import pydicom
import pytest

from qa.dicom.headers import headers_of
from qa.dicom.series import scan_inputs
from qa.workflows.synth import SynthOptions, synthesize_phantom


def test_real_ge_smartscore_series(ct_dir):
    files = sorted(ct_dir.glob("pydicom-dicomdirtests-98892001-CT5N-*.dcm"))
    h = headers_of(files)
    assert (h.kvp, h.slice_thickness_mm, h.slice_increment_mm, h.kernel) == (120.0, 2.5, 2.5, "STANDARD")
    assert (h.tube_current_ma, h.exposure_mas, h.exposure_time_ms, h.reconstruction_diameter_mm) == (300.0, 98.0, 326.0, 250.0)
    # the cardiac facts come from GE's private tags, and say so
    assert h.trigger_phase_pct == 70.0 and h.sources["trigger_phase_pct"] == "(0045,1033) GEMS_HELIOS_01 PctRpeakDelay"
    assert (h.heart_rate_min_bpm, h.heart_rate_max_bpm) == (68.0, 76.0)
    assert "AvgHeartRateForImage" in h.sources["heart_rate_bpm"]
    assert h.heart_rate_prescan_bpm == 58.0 and "HeartRateAtConfirm" in h.sources["heart_rate_prescan_bpm"]
    # a gated cine (axial) scan: prospective triggering, marked as inferred
    assert h.acquisition_type == "sequenced" and h.cardiac_synchronization == "prospective"
    assert h.sources["cardiac_synchronization"].startswith("inferred")
    assert h.scan_range_mm == pytest.approx((-1.2375, 8.7625)) and h.coverage_mm == pytest.approx(12.5)
    assert [s.n_images for s in h.stacks] == [3, 2] and h.stacks[1].start_s == 1.0


def test_scouts_are_left_out(ct_dir):
    files = sorted(ct_dir.glob("pydicom-dicomdirtests-98892001-CT*.dcm"))
    scan = scan_inputs(files, headers_only=True)
    assert scan.n_localizers == 2 and len(scan.series) == 1
    assert all("PixelData" not in ds for ds in scan.series[0].datasets)  # read with stop_before_pixels


def test_synthetic_series_standard_tags(tmp_path):
    synthesize_phantom(tmp_path, SynthOptions(z_start_mm=-10, z_end_mm=20, thickness_mm=3.0, increment_mm=1.5,
                                              heart_rate_bpm=64.0, phase_pct=75.0, vendor="siemens", shuffle=True))
    h = headers_of(tmp_path)
    assert h.kvp == 120.0 and h.slice_thickness_mm == 3.0 and h.slice_increment_mm == pytest.approx(1.5)
    assert h.kernel.startswith("Qr36") and h.sources["kernel"] == "(0018,1210) ConvolutionKernel"
    assert h.cardiac_synchronization == "prospective" and h.sources["cardiac_synchronization"].endswith("CardiacSynchronizationTechnique")
    assert h.trigger_phase_pct == 75.0 and h.heart_rate_bpm == 64.0
    assert h.ctdivol_mgy == 4.0 and h.total_collimation_mm == 38.4
    assert len(h.stacks) >= 1 and sum(s.n_images for s in h.stacks) == h.n_images


def _rewrite(folder, edit):
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        edit(ds)
        ds.save_as(path)


def _strip_standard_cardiac(ds):
    for keyword in ("CardiacSynchronizationTechnique", "NominalPercentageOfCardiacPhase", "HeartRate", "TriggerTime",
                    "NominalCardiacTriggerDelayTime"):
        if keyword in ds:
            delattr(ds, keyword)


def test_siemens_image_comments(tmp_path):
    synthesize_phantom(tmp_path, SynthOptions(z_start_mm=-6, z_end_mm=6, vendor="siemens"))

    def edit(ds):
        _strip_standard_cardiac(ds)
        ds.ImageComments = "72 bpm, 55 %, 153 ms"
        ds.ConvolutionKernel = ["Qr36d", "3"]
        del ds.ReconstructionAlgorithm  # classic Siemens images say it through the kernel

    _rewrite(tmp_path, edit)
    h = headers_of(tmp_path)
    assert (h.heart_rate_bpm, h.trigger_phase_pct, h.trigger_delay_ms) == (72.0, 55.0, 153.0)
    assert "ImageComments" in h.sources["trigger_phase_pct"]
    assert h.kernel == "Qr36d\\3" and (h.reconstruction_algorithm, h.iterative_strength) == ("iterative", "3")


def test_toshiba_private_cardiac_phase(tmp_path):
    synthesize_phantom(tmp_path, SynthOptions(z_start_mm=-6, z_end_mm=6, vendor="canon"))

    def edit(ds):
        _strip_standard_cardiac(ds)
        block = ds.private_block(0x7005, "TOSHIBA_MEC_CT3", create=True)
        block.add_new(0x03, "SH", "923")  # R-R mean time, ms
        block.add_new(0x04, "SH", "75")  # gating phase, %
        block.add_new(0x23, "DS", "0.2")  # pitch factor

    _rewrite(tmp_path, edit)
    h = headers_of(tmp_path)
    assert h.trigger_phase_pct == 75.0 and "TOSHIBA_MEC_CT3" in h.sources["trigger_phase_pct"]
    assert h.heart_rate_bpm == pytest.approx(60000 / 923) and "R-R" in h.sources["heart_rate_bpm"]


def test_philips_elscint_private_tags(tmp_path):
    synthesize_phantom(tmp_path, SynthOptions(z_start_mm=-6, z_end_mm=6, vendor="philips"))

    def edit(ds):
        _strip_standard_cardiac(ds)
        block = ds.private_block(0x01F1, "ELSCINT1", create=True)
        block.add_new(0x41, "LO", "78%")
        block.add_new(0x45, "IS", "61")

    _rewrite(tmp_path, edit)
    h = headers_of(tmp_path)
    assert h.trigger_phase_pct == 78.0 and h.heart_rate_bpm == 61.0 and "ELSCINT1" in h.sources["heart_rate_bpm"]


def test_siemens_scan_options_trigger_phase(tmp_path):
    synthesize_phantom(tmp_path, SynthOptions(z_start_mm=-6, z_end_mm=6, vendor="siemens"))

    def edit(ds):
        _strip_standard_cardiac(ds)
        ds.ScanOptions = "TP55PC0842"

    _rewrite(tmp_path, edit)
    h = headers_of(tmp_path)
    assert h.trigger_phase_pct == 55.0 and "ScanOptions 'TP55PC0842'" in h.sources["trigger_phase_pct"]
    assert h.heart_rate_bpm is None  # nothing invented
