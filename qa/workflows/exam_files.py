"""Load one exam from its files and choose what to check: the protocol and the calcium-score series.

``load_exam`` reads the exam's files (headers only) and applies the compliance rules to choose
the protocol (by vendor and series description, unless given) and the series to check (named as
a calcium score, thickness and kernel closest to the protocol; ``series_uid`` overrides).
Identifiers are pseudonymised as they are read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.compliance import ExamProtocol, choose_protocol, names_calcium_score, series_preference
from qa.errors import InputError
from qa.records.exam import Exam
from qa.records.identity import Pseudonymiser

Inputs = str | os.PathLike | Sequence[str | os.PathLike]


@dataclass(frozen=True, eq=False)
class ExamFiles:
    """An exam read once (headers only): its record, its protocol, and the checked series' files,
    whose pixels :func:`qa.dicom.series.with_pixels` reads when an analysis needs them (breath-hold motion)."""

    exam: Exam
    protocol: ExamProtocol
    series: object  # qa.dicom.series.SeriesGroup (headers only)


def load_exam(inputs: Inputs, *, protocol: str | ExamProtocol | None = None, series_uid: str | None = None,
              pseudonymise: Pseudonymiser | None = None, progress: Callable[[int, int], None] | None = None,
              operator_in_clear: bool = False) -> tuple[Exam, ExamProtocol]:
    """The exam in ``inputs`` and the protocol to check it against (an id, a .toml path, a loaded
    protocol, or None: chosen by vendor and series description).  Identifiers are pseudonymised
    with ``pseudonymise`` (default: the site's)."""
    found = read_exam_files(inputs, protocol=protocol, series_uid=series_uid, pseudonymise=pseudonymise, progress=progress,
                            operator_in_clear=operator_in_clear)
    return found.exam, found.protocol


def read_exam_files(inputs: Inputs, *, protocol: str | ExamProtocol | None = None, series_uid: str | None = None,
                    pseudonymise: Pseudonymiser | None = None, progress: Callable[[int, int], None] | None = None,
                    operator_in_clear: bool = False) -> ExamFiles:
    """:func:`load_exam`, keeping the checked series' files for a later pixel read."""
    from qa.dicom.exam import scan_exam
    from qa.privacy import site_pseudonymiser
    from qa.procedures import load_protocol

    given = protocol if isinstance(protocol, ExamProtocol) or protocol is None else load_protocol(protocol)  # malformed: reported first
    pseudonymise = pseudonymise or site_pseudonymiser()
    exam_scan = scan_exam(inputs, pseudonymise=pseudonymise, progress=progress)
    return choose_exam_files(exam_scan, protocol=given, series_uid=series_uid, pseudonymise=pseudonymise,
                             operator_in_clear=operator_in_clear)


def choose_exam(exam_scan, *, protocol: ExamProtocol | None = None, series_uid: str | None = None,
                pseudonymise: Pseudonymiser, protocols: Sequence[ExamProtocol] | None = None, **read) -> tuple[Exam, ExamProtocol]:
    """The exam of files already scanned and its protocol (:func:`choose_exam_files`)."""
    found = choose_exam_files(exam_scan, protocol=protocol, series_uid=series_uid, pseudonymise=pseudonymise, protocols=protocols, **read)
    return found.exam, found.protocol


def choose_exam_files(exam_scan, *, protocol: ExamProtocol | None = None, series_uid: str | None = None,
                      pseudonymise: Pseudonymiser, protocols: Sequence[ExamProtocol] | None = None, **read) -> ExamFiles:
    """The exam of files already scanned (:class:`qa.dicom.exam.ExamScan`, with at least one axial CT
    series) and its protocol: ``protocol`` when given, else chosen among ``protocols`` (default: the
    built-in ones) by vendor and series description.  ``read``: passed to
    :func:`qa.dicom.exam.read_exam` (``dose``: the study's dose reports, read already)."""
    from qa.dicom.exam import read_exam
    from qa.procedures import available_protocols, load_protocol

    given = protocol
    if series_uid is not None:  # the pseudonym qa check lists a series by picks it too
        from qa.records.uid_keys import uid_key

        series_uid = next((g.info.series_instance_uid for g in exam_scan.ct
                           if uid_key(pseudonymise, g.info.series_instance_uid) == series_uid), series_uid)
    candidates = list(exam_scan.candidates)
    # One exam is one study: a series named with series_uid picks its study; several studies otherwise are refused.
    named = [c for c in candidates if c.series_instance_uid == series_uid] if series_uid is not None else []
    if named:
        candidates = [c for c in candidates if c.study_key == named[0].study_key]
    studies: dict[str | None, list] = {}
    for c in candidates:
        studies.setdefault(c.study_key, []).append(c)
    if len(studies) > 1:
        listing = "\n".join(f"  study {n + 1} ({key or 'no StudyInstanceUID'}): "
                            + "; ".join(f"series '{c.description or '(no description)'}' {c.series_instance_uid}" for c in group)
                            for n, (key, group) in enumerate(studies.items()))
        raise InputError(None, "StudyInstanceUID", f"the input holds {len(studies)} studies; qa check takes one exam:\n{listing}",
                         hint="pass one exam's folder, or pick one of the series above with --series-uid (the series' study is the exam)")
    if given is not None:
        protocols = [given]
    else:
        protocols = list(protocols) if protocols is not None else [load_protocol(p) for p in available_protocols()]
    named_cac = [c for c in candidates if any(names_calcium_score(p, c.description) for p in protocols)]
    lead = (named or named_cac or sorted(candidates, key=lambda c: -c.n_images))[0]
    if given is not None:
        chosen, choice = given, f"{given.id}: given with --protocol"
    else:
        chosen, choice = choose_protocol(lead.manufacturer, [c.description for c in candidates], protocols)
    if series_uid is not None:
        picked = exam_scan.group(series_uid).info.series_instance_uid  # a clear error when it is not there
    else:
        picked = min(candidates, key=lambda c: series_preference(chosen, c.description, c.slice_thickness_mm, c.kernel,
                                                                   c.increment_mm, c.iterative) + (-c.n_images,)).series_instance_uid
    exam = read_exam(exam_scan, picked, pseudonymise=pseudonymise, protocol_choice=choice, **read)
    return ExamFiles(exam, chosen, exam_scan.group(picked))
