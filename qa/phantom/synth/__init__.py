"""Synthetic calcium-phantom CT series with known truth (demo data and test fixtures).

The image model, slice by slice:

* the phantom (thorax, lungs, spine, the insert, nine HA calcifications and two calibration rods)
  is described in the phantom frame by a definition in ``phantoms/``;
* each object's in-plane coverage of a pixel is computed by supersampling (partial volume),
  its coverage along z by the overlap of the object with a rectangular slice profile of the slice
  thickness;
* HU = background + coverage x (object HU - background), object HU = water-equivalent HU + k x HA
  density (k per kVp from the definition's synthetic HU model);
* a Gaussian in-plane blur (the system resolution), then Gaussian noise, spatially correlated by a
  small Gaussian kernel and scaled to the requested standard deviation;
* values are quantised to the stored integers of the chosen vendor header style.

The files are valid CT Image Storage objects that carry the acquisition headers the compliance
checks read (kVp, mAs, thickness, kernel, FOV, CTDIvol, collimation, ECG-triggering, phase, heart
rate, per-stack acquisition times).  A ``truth.json`` sidecar records the ground truth.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage

from qa.dicom.write import (
    Uids,
    ct_image,
    encode_hu,
    save_dataset,
    scout_image,
)
from qa.errors import UsageError
from qa.outputs import new_files_in, write_file
from qa.phantom.definition import PhantomDefinition
from qa.phantom.synth.model import Blob, Frame, correlated_noise_sd, disk_in_box, ellipse_coverage, overlap
from qa.phantom.synth.options import AIR_HU, FWHM_PER_SIGMA, SynthOptions, SynthResult

__all__ = ["SynthOptions", "SynthResult", "synthesize_phantom"]


def synthesize_phantom(
    out_dir: str | os.PathLike,
    options: SynthOptions | None = None,
    *,
    definition: PhantomDefinition,
    progress: Callable[[int, int], None] | None = None,
) -> SynthResult:
    """Write a synthetic phantom series (and ``truth.json``) of ``definition`` into ``out_dir``.

    (:func:`qa.workflows.synth.synthesize_phantom` loads the definition ``options.phantom`` names.)"""
    opts = (options or SynthOptions()).validated()
    _insert_fits(opts, definition)  # before anything is written
    out = Path(out_dir)
    taken = lambda p: p.suffix.lower() == ".dcm" or p.name == "truth.json"  # noqa: E731
    with new_files_in(out, taken=taken, holds="a series") as created:  # every file is new; a failed run removes them all
        return _synthesize(out, opts, definition, progress, created)


def _synthesize(out: Path, opts: SynthOptions, phantom: PhantomDefinition, progress, created: list[Path]) -> SynthResult:
    def save(ds, path: Path) -> None:
        save_dataset(ds, path, replace=False)
        created.append(path)

    rng = np.random.default_rng(opts.seed)
    frame = Frame(opts)
    n = opts.matrix
    ps = opts.pixel_mm
    fov = opts.fov_mm if opts.fov_mm is not None else ps * n
    # Image grid centred on the isocentre: pixel centres at x0 + j * ps.
    x0 = -ps * (n - 1) / 2.0
    y0 = -ps * (n - 1) / 2.0
    sigma_px = opts.blur_fwhm_mm / FWHM_PER_SIGMA / ps
    header = opts.header(fov)
    style = header.style

    # z-invariant body image (thorax, lungs, spine, insert), blurred once.
    body = np.full((n, n), AIR_HU, dtype=np.float64)
    for part in phantom.body:
        if part.only_with_ring and not opts.ring:
            continue
        cx, cy = frame.xy(*part.center_mm)
        rs, cs, cov = ellipse_coverage(x0, y0, ps, n, cx, cy, part.size_mm[0] / 2, part.size_mm[1] / 2, 4)
        body[rs, cs] = body[rs, cs] * (1 - cov) + cov * part.hu
    icx, icy = frame.xy(0.0, 0.0)
    r_ins = phantom.insert_diameter_mm / 2
    rs, cs, cov = ellipse_coverage(x0, y0, ps, n, icx, icy, r_ins, r_ins, 4)
    body[rs, cs] = body[rs, cs] * (1 - cov) + cov * phantom.insert_hu
    body = ndimage.gaussian_filter(body, sigma_px, mode="nearest")

    hu_model = phantom.hu_model
    blobs: list[Blob] = []
    truth_objects = []
    pad = int(math.ceil(4 * sigma_px)) + 2
    for cyl in phantom.calcifications + phantom.rods:
        cx, cy = frame.insert_xy(cyl.radius_mm, cyl.angle_deg)
        r = cyl.diameter_mm / 2
        ss = 16 if cyl.diameter_mm <= 6 else 8
        rs, cs, disk = disk_in_box(x0, y0, ps, n, cx, cy, r, pad, ss)
        blurred = ndimage.gaussian_filter(disk, sigma_px, mode="constant")
        hu = hu_model.hu(cyl.density_mgha_cm3, opts.kvp)
        if cyl.kind == "calcification":
            # A drifting scanner: the calcifications' contrast scales, the rods' does not.
            hu = hu_model.water_equivalent_hu + (hu - hu_model.water_equivalent_hu) * opts.calcification_scale
        w0, w1 = cyl.z_mm - cyl.length_mm / 2, cyl.z_mm + cyl.length_mm / 2
        blobs.append(Blob(rs, cs, blurred, hu - phantom.insert_hu, w0, w1))
        truth_objects.append(
            {
                **cyl.to_dict(),
                "hu_true": hu,
                "center_mm": [cx, cy, frame.z(cyl.z_mm)],
                "z_range_mm": sorted([frame.z(w0), frame.z(w1)]),
            }
        )

    increment = opts.increment
    t = opts.thickness_mm
    n_slices = int(math.floor((opts.z_end_mm - opts.z_start_mm) / increment + 1e-9)) + 1
    ws = opts.z_start_mm + increment * np.arange(n_slices)
    z_min, z_max = phantom.insert_z_range_mm
    ids = Uids(json.dumps(opts.to_dict(), sort_keys=True))
    if opts.study_key is not None:
        # Another reconstruction of one exam: the study (and frame of reference) of that key.
        shared = Uids(f"study:{opts.study_key}")
        ids.study, ids.frame_of_reference = shared.study, shared.frame_of_reference
    start = dt.datetime.fromisoformat(opts.acquisition_datetime)
    rr_s = 60.0 / opts.heart_rate_bpm
    stack_period_s = 2 * rr_s  # step-and-shoot: one stack every second beat
    files: list[str] = []
    names = _file_names(n_slices, opts, rng)
    noise_sigma_px = opts.noise_correlation_mm / ps
    for k, w in enumerate(ws):
        if progress is not None:
            progress(k, n_slices)
        lo_w, hi_w = w - t / 2, w + t / 2
        body_weight = overlap(lo_w, hi_w, z_min, z_max) / t
        image = AIR_HU + body_weight * (body - AIR_HU)
        for blob in blobs:
            weight = overlap(lo_w, hi_w, blob.w0, blob.w1) / t
            if weight > 0:
                image[blob.rows, blob.cols] += weight * blob.delta_hu * blob.coverage
        if opts.noise_hu > 0:
            noise = rng.standard_normal((n, n))
            if noise_sigma_px > 0.05:
                noise = ndimage.gaussian_filter(noise, noise_sigma_px, mode="wrap")
                noise /= correlated_noise_sd(noise_sigma_px)
            image = image + opts.noise_hu * noise
        stack = int(math.floor((w - opts.z_start_mm) / opts.total_collimation_mm + 1e-9))
        # The exposure (one rotation, from AcquisitionTime on) is centred on the target phase of the RR.
        acq_time = start + dt.timedelta(seconds=stack * stack_period_s + opts.phase_pct / 100.0 * rr_s - opts.rotation_time_s / 2.0)
        ds = ct_image(
            header, ids, k, encode_hu(image, style), (x0, y0, frame.z(float(w))),
            study_start=start, acquisition_time=acq_time, stack=stack,
        )
        path = out / names[k]
        save(ds, path)
        files.append(str(path))
    written = [Path(f).name for f in files]
    if opts.scout:
        scout_path = out / ("scout.dcm" if not opts.shuffle else f"S{int(rng.integers(16**7)):07X}.dcm")
        save(scout_image(header, ids, start, opts.table_z_mm + 150.0), scout_path)
        written.append(scout_path.name)
    if progress is not None:
        progress(n_slices, n_slices)

    k_hu = hu_model.hu_per_density(opts.kvp)
    truth = {
        "schema": "qa.synth-phantom/1",
        "phantom": phantom.id,
        "phantom_sha256": phantom.sha256,
        "options": opts.to_dict(),
        "pixel_style": style,
        "series_instance_uid": ids.series,
        "n_slices": n_slices,
        "slice_z_mm": [frame.z(float(w)) for w in ws],
        "insert_center_mm": [icx, icy],
        "insert_rotation_deg": opts.rotation_deg,
        "mirrored": frame.sigma < 0,
        "hu_per_mgha_cm3": k_hu,
        "water_hu_true": hu_model.water_equivalent_hu,
        "ha200_hu_true": hu_model.hu(200.0, opts.kvp),
        "insert_hu_true": phantom.insert_hu,
        "c_ha_true_mg_per_cm3_hu": 1.0 / k_hu,
        "calcifications": [o for o in truth_objects if o["kind"] == "calcification"],
        "rods": [o for o in truth_objects if o["kind"] == "rod"],
        "files": written,
    }
    truth_path = out / "truth.json"
    write_file(truth_path, json.dumps(truth, indent=2), replace=False)
    created.append(truth_path)
    return SynthResult(
        out_dir=str(out),
        files=tuple(files),
        series_instance_uid=ids.series,
        truth_path=str(truth_path),
        truth=truth,
    )


def _insert_fits(opts: SynthOptions, phantom: PhantomDefinition) -> None:
    """Refuse an image too small for the phantom's insert (its calcifications would fall outside it)."""
    icx, icy = Frame(opts).xy(0.0, 0.0)
    half = opts.pixel_mm * opts.matrix / 2  # the image's half width, in mm from the isocentre
    if max(abs(icx), abs(icy)) + phantom.insert_diameter_mm / 2 > half:
        raise UsageError(f"the phantom's insert ({phantom.insert_diameter_mm:g} mm at ({icx:g}, {icy:g}) mm) does not fit in "
                         f"the image ({opts.matrix} x {opts.pixel_mm:g} mm = {2 * half:g} mm)",
                         hint="use a larger --matrix or --pixel-mm (or a smaller shift)")


def _file_names(n_slices: int, opts: SynthOptions, rng: np.random.Generator) -> list[str]:
    if not opts.shuffle:
        return [f"IMG{k + 1:04d}.dcm" for k in range(n_slices)]
    names = set()
    while len(names) < n_slices:
        names.add(f"{int(rng.integers(0, 16**8)):08X}.dcm")
    out = sorted(names)
    rng.shuffle(out)
    return out
