"""The technologist's check of one calcium-score exam: load it, pick protocol and series, check it.

``load_exam`` reads the exam's files (headers only) and applies the compliance rules to choose
the protocol (by vendor and series description, unless given) and the series to check (named as
a calcium score, thickness and kernel closest to the protocol; ``series_uid`` overrides).
``check_exam_files`` adds the dose tables, the ECG trace when given, and returns the checklist.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qa.compliance import Checklist, ExamProtocol, check_exam, choose_protocol, series_preference, validate_protocol
from qa.errors import InputError
from qa.records.exam import Exam
from qa.records.identity import Pseudonymiser
from qa.records.serialize import Record
from qa.workflows.common import Provenance, now, qa_version

Inputs = str | os.PathLike | Sequence[str | os.PathLike]


def load_exam(inputs: Inputs, *, protocol: str | ExamProtocol | None = None, series_uid: str | None = None,
              pseudonymise: Pseudonymiser | None = None, progress: Callable[[int, int], None] | None = None) -> tuple[Exam, ExamProtocol]:
    """The exam in ``inputs`` and the protocol to check it against (an id, a .toml path, a loaded
    protocol, or None: chosen by vendor and series description).  Identifiers are pseudonymised
    with ``pseudonymise`` (default: the site's)."""
    from qa.dicom.exam import read_exam, scan_exam
    from qa.privacy import site_pseudonymiser
    from qa.procedures import available_protocols, load_protocol

    given = protocol if isinstance(protocol, ExamProtocol) or protocol is None else load_protocol(protocol)  # malformed: reported first
    pseudonymise = pseudonymise or site_pseudonymiser()
    exam_scan = scan_exam(inputs, pseudonymise=pseudonymise, progress=progress)
    candidates = list(exam_scan.candidates)
    # One exam is one study: a series named with series_uid picks its study; several studies otherwise are refused.
    named = [c for c in candidates if c.series_instance_uid == series_uid] if series_uid is not None else []
    if named:
        candidates = [c for c in candidates if c.study_key == named[0].study_key]
    studies: dict[str | None, list] = {}
    for c in candidates:
        studies.setdefault(c.study_key, []).append(c)
    if len(studies) > 1:
        listing = "\n".join(f"  study {n + 1}: " + "; ".join(f"'{c.description or '?'}' {c.series_instance_uid}" for c in group)
                            for n, group in enumerate(studies.values()))
        raise InputError(None, "StudyInstanceUID", f"the input holds {len(studies)} studies; qa check takes one exam:\n{listing}",
                         hint="pass one exam's folder, or pick its series with --series-uid")
    protocols = [given] if given is not None else [load_protocol(p) for p in available_protocols()]
    patterns = {pattern for candidate in protocols for pattern in candidate.series_patterns}
    named_cac = [c for c in candidates if any(pattern in (c.description or "").lower() for pattern in patterns)]
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
    return read_exam(exam_scan, picked, pseudonymise=pseudonymise, protocol_choice=choice), chosen


@dataclass(frozen=True, eq=False)
class ExamCheckRun(Record):
    """One exam checked (the ``qa.check/1`` document: the checklist's fields, then these)."""

    checklist: Checklist = field(metadata={"flatten": True})
    analysis_time: dt.datetime
    provenance: Provenance
    plot: str | None = None
    protocol_definition: ExamProtocol | None = field(default=None, repr=False, metadata={"json": False})

    @property
    def verdict(self) -> str:
        return self.checklist.verdict


def check_exam_files(exam: Inputs, *, protocol: str | None = None, series_uid: str | None = None,
                     dose_tables: str = "dose-reference", ecg: str | os.PathLike | None = None, lead: str | None = None,
                     fs_hz: float | None = None, plot: str | os.PathLike | None = None,
                     progress: Callable[[int, int], None] | None = None) -> ExamCheckRun:
    """The checklist of the exam in ``exam`` (see module doc).  ``ecg``: the exam's ECG trace (CSV,
    WFDB or DICOM ECG), which adds heart rate from the trace, rhythm and exposure timing; ``plot``
    (with ``ecg``): write the ECG strip there."""
    from qa.errors import UsageError
    from qa.procedures import load_dose_tables, load_protocol

    if plot is not None and ecg is None:
        raise UsageError("--plot draws the exam's ECG strip and needs --ecg TRACE", hint="add --ecg with the exam's ECG trace")
    tables = load_dose_tables(dose_tables)
    given = None
    if protocol is not None:
        given = load_protocol(protocol)
        validate_protocol(given, tables)  # before reading the exam
    loaded, chosen = load_exam(exam, protocol=given, series_uid=series_uid, progress=progress)
    gating = None
    if ecg is not None:
        from qa.workflows.gating import gating_for_exam

        gating = gating_for_exam(ecg, loaded, chosen, lead=lead, fs_hz=fs_hz)
    checklist = check_exam(loaded, chosen, tables, gating=gating)
    written = None
    if plot is not None:
        from qa.report.plots import write_ecg_strip

        written = write_ecg_strip(plot, gating)
    analysed = now()
    provenance = Provenance(qa_version(), analysed, (chosen.ref, tables.ref), tuple(loaded.headers.sop_instance_uids))
    return ExamCheckRun(checklist, analysed, provenance, written, chosen)
