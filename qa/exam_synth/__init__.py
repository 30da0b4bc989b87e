"""Synthetic calcium-score exams with known breath-hold motion (``qa synth exam``).

A patient-like thorax (:mod:`qa.exam_synth.anatomy`) acquired as prospective sequential
(step-and-shoot) stacks: stack ``k`` (0 = first acquired, the most cranial) covers ``stack_mm``
of the detector, adjacent stacks overlap by ``overlap_mm``, and each slice of the contiguous series
comes from the stack whose share of the scan it lies in (the overlap split in the middle).  Every
slice carries its stack's AcquisitionNumber (k + 1), AcquisitionTime and ContentTime (the
exposure's start, ``beats_per_stack`` beats after the previous stack's: :mod:`qa.exam_synth.timeline`),
TablePosition (the stack's couch position: the patient z of its centre) and SliceLocation.
The anatomy of stack ``k`` is displaced rigidly by its shift (LR, AP, CC) relative to stack 0: the
model is evaluated at displaced coordinates, never resampled.  Gaussian blur and correlated
Gaussian noise follow, and the CT numbers are stored as the chosen vendor does.

Optionally ``ecg.csv`` (``time_s,ecg_uv,resp``; its ``# start_time`` is the study's start, so the
stacks' acquisition times fall on the exposures in its time base) with the breath held, released
mid-scan or never held.  ``truth.json`` (``qa.synth-exam/1``) records every stack, every shift,
the boundary shifts (stack k+1 relative to stack k), the breath-hold time line and the
calcifications.  Nothing is left behind when a run fails: the files written so far are removed.
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

from qa.dicom.write import Uids, ct_image, encode_hu, save_dataset
from qa.exam_synth.anatomy import CALCIFICATIONS, render_slice, stack_model
from qa.exam_synth.options import ExamSynthOptions, ExamSynthResult, parse_resp
from qa.exam_synth.timeline import FS_HZ, Timeline, respiration, timeline
from qa.outputs import new_files_in, write_file
from qa.phantom.synth.model import correlated_noise_sd

__all__ = ["ExamSynthOptions", "ExamSynthResult", "synthesize_exam"]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_OURS = ("truth.json", "ecg.csv")


def synthesize_exam(out_dir: str | os.PathLike, options: ExamSynthOptions | None = None, *,
                    progress: Callable[[int, int], None] | None = None) -> ExamSynthResult:
    """Write a synthetic calcium-score exam (its slices, ``truth.json`` and, when asked, ``ecg.csv``) into ``out_dir``."""
    opts = (options or ExamSynthOptions()).validated()
    out = Path(out_dir)
    with new_files_in(out, taken=lambda p: p.suffix.lower() == ".dcm" or p.name in _OURS, holds="an exam") as created:
        return _synthesize(out, opts, progress, created)


def stack_layout(opts: ExamSynthOptions) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Slice centres (patient z, cranial first), each slice's stack, and the image boundaries between stacks."""
    top = opts.table_z_mm
    z = top - (np.arange(opts.n_slices) + 0.5) * opts.increment
    bounds = [top - k * opts.step_mm - opts.stack_mm + opts.overlap_mm / 2 for k in range(opts.stacks - 1)]
    stack_of = np.zeros(z.size, dtype=int)
    for b in bounds:
        stack_of += z < b
    return z, stack_of, bounds


def _synthesize(out: Path, opts: ExamSynthOptions, progress, created: list[Path]) -> ExamSynthResult:
    line = timeline(opts)
    z, stack_of, bounds = stack_layout(opts)
    start = dt.datetime.fromisoformat(opts.acquisition_datetime)
    header = opts.header()
    ids = Uids("exam:" + json.dumps(opts.to_dict(), sort_keys=True))
    n, ps = opts.matrix, opts.pixel_mm
    x0 = -ps * (n - 1) / 2.0
    sigma_px = opts.blur_fwhm_mm / FWHM_PER_SIGMA / ps
    noise_sigma_px = opts.noise_correlation_mm / ps
    rng = np.random.default_rng(opts.seed)
    names = [f"IMG{i + 1:04d}.dcm" for i in range(z.size)]
    files: list[str] = []
    models: dict[int, object] = {}
    for i, zi in enumerate(z):
        if progress is not None:
            progress(i, z.size)
        k = int(stack_of[i])
        sx, sy, sz = opts.shift_of(k)
        if k not in models:
            models.clear()
            models[k] = stack_model(n, ps, (sx, sy))
        hu = render_slice(models[k], float(zi) - opts.table_z_mm - sz, opts.thickness_mm)
        if sigma_px > 0.05:
            hu = ndimage.gaussian_filter(hu, sigma_px, mode="nearest")
        if opts.noise_hu > 0:
            noise = rng.standard_normal((n, n))
            if noise_sigma_px > 0.05:
                noise = ndimage.gaussian_filter(noise, noise_sigma_px, mode="wrap")
                noise /= correlated_noise_sd(noise_sigma_px)
            hu = hu + opts.noise_hu * noise
        when = start + dt.timedelta(seconds=line.exposure_start_s[k])
        ds = ct_image(header, ids, i, encode_hu(hu, header.style), (x0, x0, float(zi)), study_start=start, acquisition_time=when,
                      stack=k, table_position_mm=_couch_z(opts, k))
        path = out / names[i]
        save_dataset(ds, path, replace=False)
        created.append(path)
        files.append(str(path))
    ecg_path = None
    if opts.ecg:
        ecg_path = out / "ecg.csv"
        _write_ecg(ecg_path, opts, line, start)
        created.append(ecg_path)
    if progress is not None:
        progress(z.size, z.size)
    truth = _truth(opts, line, z, stack_of, bounds, names, ids.series, header.style, start, ecg_path)
    truth_path = out / "truth.json"
    write_file(truth_path, json.dumps(truth, indent=2), replace=False)
    created.append(truth_path)
    return ExamSynthResult(str(out), tuple(files), ids.series, str(truth_path), str(ecg_path) if ecg_path else None, truth,
                           tuple(_warnings(opts, line, truth)))


def _couch_z(opts: ExamSynthOptions, k: int) -> float:
    """The patient z of stack ``k``'s centre (where the couch put it)."""
    return opts.table_z_mm - k * opts.step_mm - opts.stack_mm / 2


def _write_ecg(path: Path, opts: ExamSynthOptions, line: Timeline, start: dt.datetime) -> None:
    from qa.ecg.synth import synthesize_ecg, write_ecg_csv

    t, ecg = synthesize_ecg(line.r_peak_s, duration_s=line.duration_s, fs_hz=FS_HZ, seed=opts.seed)
    write_ecg_csv(path, t, ecg, start_time=start, fs_hz=FS_HZ, resp=respiration(line, t, opts.seed))


def _xyz(v) -> dict:
    return {"lr": float(v[0]), "ap": float(v[1]), "cc": float(v[2])}


def _truth(opts, line: Timeline, z, stack_of, bounds, names, series_uid, style, start, ecg_path) -> dict:
    stacks = []
    for k in range(opts.stacks):
        members = np.flatnonzero(stack_of == k)
        top = opts.table_z_mm - k * opts.step_mm
        when = start + dt.timedelta(seconds=line.exposure_start_s[k])
        stacks.append({
            "index": k,
            "acquisition_number": k + 1,
            "acquisition_time": when.isoformat(),
            "exposure_start_s": line.exposure_start_s[k],
            "trigger_r_peak_s": float(line.r_peak_s[line.trigger_beats[k]]),
            "table_position_mm": _couch_z(opts, k),
            "z_range_mm": [top - opts.stack_mm, top],
            "first_slice": int(members[0]) if members.size else None,
            "n_slices": int(members.size),
            "image_z_range_mm": [float(z[members].min()), float(z[members].max())] if members.size else None,
            "files": [names[i] for i in members],
            "shift_mm": _xyz(opts.shift_of(k)),
        })
    boundaries = []
    for k in range(opts.stacks - 1):
        a, b = np.asarray(opts.shift_of(k)), np.asarray(opts.shift_of(k + 1))
        boundaries.append({"between": [k, k + 1], "z_mm": bounds[k], "overlap_mm": opts.overlap_mm, "shift_mm": _xyz(b - a)})
    calcs = []
    for calc in CALCIFICATIONS:
        cx, cy, cz = calc.center_mm
        centre = (cx, cy, cz + opts.table_z_mm)
        seen = []
        for k in range(opts.stacks):
            sx, sy, sz = opts.shift_of(k)
            lo, hi = centre[2] + sz - calc.length_mm / 2, centre[2] + sz + calc.length_mm / 2
            members = z[stack_of == k]
            if members.size and lo < members.max() + opts.thickness_mm / 2 and hi > members.min() - opts.thickness_mm / 2:
                seen.append({"stack": k, "center_mm": [cx + sx, cy + sy, centre[2] + sz]})
        calcs.append({"id": calc.id, "artery": calc.artery, "center_mm": list(centre), "diameter_mm": calc.diameter_mm,
                      "length_mm": calc.length_mm, "hu_true": calc.hu, "seen_in": seen})
    return {
        "schema": "qa.synth-exam/1",
        "options": opts.to_dict(),
        "series_instance_uid": series_uid,
        "pixel_style": style,
        "n_slices": int(z.size),
        "slice_z_mm": [float(v) for v in z],
        "stacks": stacks,
        "boundaries": boundaries,
        "breath_hold": {"trace_start": start.isoformat(), **line.truth(opts)},
        "ecg": None if ecg_path is None else {"file": ecg_path.name, "start_time": start.isoformat(), "fs_hz": FS_HZ,
                                              "r_peak_s": [float(v) for v in line.r_peak_s]},
        "calcifications": calcs,
        "files": list(names) + (["ecg.csv"] if ecg_path else []),
    }


def _warnings(opts: ExamSynthOptions, line: Timeline, truth: dict) -> list[str]:
    out = []
    mode, _ = parse_resp(opts.resp)
    if truth["breath_hold"]["released_during_scan"]:
        after = [s["index"] for s in truth["stacks"] if s["exposure_start_s"] > line.release_s]
        still = [k for k in after if not any(opts.shift_of(k))]
        if still:
            out.append(f"the breath is released at {line.release_s:.1f} s, but stacks {', '.join(map(str, still))} acquired "
                       "after it are not shifted: the images show no motion (give --shift for them)")
    if mode == "free" and not opts.shifts_mm:
        out.append("the breath is never held, but no stack is shifted: the images show no motion (give --shift)")
    return out
