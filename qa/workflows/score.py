"""Calcium scores of everything in a CT series (``qa score``)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from qa.calcium.scoring import CalciumScore, ScoringRequest, score_volume

__all__ = ["InputSummary", "ScoreRun", "ScoringRequest", "score_series"]
from qa.errors import UsageError
from qa.records.inputs import FileCounts
from qa.records.plausibility import is_possible, plausible
from qa.records.serialize import Record
from qa.records.volume import CTVolume, SeriesInfo, VolumeSummary
from qa.records.provenance import Provenance
from qa.workflows.common import now, qa_version


@dataclass(frozen=True)
class InputSummary(Record):
    """What was found in the input (counts and series listings; no file paths: folder names may name patients)."""

    n_files: int
    n_non_dicom: int
    n_localizers: int
    series: tuple[SeriesInfo, ...]
    other_objects: dict[str, int]
    summary: str


@dataclass(frozen=True, eq=False)
class ScoreRun(Record):
    """The ``qa.score/1`` document: the input, the series, the scores, provenance."""

    analysis_time: dt.datetime
    input_summary: InputSummary
    files: FileCounts  # files read and skipped (each skipped one by name, with the reason)
    series: VolumeSummary
    score: CalciumScore = field(metadata={"flatten": True})
    notes: tuple[str, ...]
    provenance: Provenance
    volume: CTVolume | None = field(default=None, repr=False, metadata={"json": False})


def score_series(series: str | os.PathLike | Sequence[str | os.PathLike], *, series_uid: str | None = None,
                 scoring: ScoringRequest | None = None, c_ha_mg_per_cm3_hu: float | None = None,
                 progress: Callable[[str], Callable[[int, int], None] | None] | None = None) -> ScoreRun:
    """Score every 2-D component above the threshold in every slice of the series (bone included)."""
    from collections import Counter

    from qa.dicom.series import load_volume, scan_inputs, select_series

    if c_ha_mg_per_cm3_hu is not None and not is_possible("c_ha_mg_per_cm3_hu", c_ha_mg_per_cm3_hu):
        p = plausible("c_ha_mg_per_cm3_hu")
        raise UsageError(f"--c-ha {c_ha_mg_per_cm3_hu!r} is impossible: c_HA must be within {p.describe_limits()} ({p.source})",
                         hint="give the factor measured on your scanner's calibration rods (about 0.7-0.9 at 120 kVp)")
    try:
        (scoring or ScoringRequest()).check()  # impossible options are refused before anything is read
    except ValueError as exc:
        raise UsageError(str(exc), hint="see qa score --help") from exc
    stage = progress or (lambda label: None)
    scan = scan_inputs(series, progress=stage("reading headers"))
    volume = load_volume(select_series(scan, series_uid), progress=stage("decoding pixels "))
    inputs = InputSummary(scan.n_files, scan.n_non_dicom, scan.n_localizers, tuple(g.info for g in scan.series),
                          dict(Counter(o.sop_class_name for o in scan.other_objects)), scan.summary())
    files = scan.files
    del scan  # the headers (pydicom datasets) are not needed once the volume is decoded: memory for the scoring
    try:
        settings = (scoring or ScoringRequest()).settings(volume.info.kvp)
    except ValueError as exc:
        raise UsageError(str(exc), hint="see qa score --help") from exc
    score = score_volume(volume, settings, c_ha_mg_per_cm3_hu=c_ha_mg_per_cm3_hu)
    if volume.warnings:  # unusual header values are flagged in the document's warnings
        score = replace(score, warnings=tuple(volume.warnings) + tuple(score.warnings))
    notes = tuple(volume.notes) + (scope_note(settings),)
    analysed = now()
    return ScoreRun(analysed, inputs, files, volume.summary(), score, notes,
                    Provenance(qa_version(), analysed, (), tuple(volume.sop_instance_uids)), volume)


def scope_note(settings) -> str:
    """What ``qa score`` counts, said with every score: everything above the threshold, not only
    coronary calcium (Agatston et al. 1990 scored lesions a reader had placed in the coronary arteries)."""
    area = f" and at least {settings.min_area_mm2:g} mm2" if settings.min_area_mm2 else ""
    return (f"every 2-D component of at least {settings.threshold_hu:g} HU{area} in every slice is scored: on a patient's scan "
            "bone (spine, ribs, sternum), vessel walls, metal and noise count too, not only coronary calcium (qa score "
            "finds no coronary artery); a phantom's own structures count as well (qa phantom scores its inserts only)")
