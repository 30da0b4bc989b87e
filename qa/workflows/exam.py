"""The technologist's check of one calcium-score exam (``qa check``).

``check_exam_files`` loads the exam (:func:`qa.workflows.exam_files.load_exam`: protocol and
series chosen by the compliance rules), adds the dose tables and the ECG trace when given, and
returns the checklist.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from qa.compliance import ExamProtocol, check_exam, validate_protocol
from qa.records.provenance import Provenance
from qa.workflows.common import now, qa_version
from qa.workflows.exam_files import Inputs, load_exam, read_exam_files
from qa.workflows.exam_run import ExamCheckRun

__all__ = ["ExamCheckRun", "check_exam_files", "load_exam"]


def check_exam_files(exam: Inputs, *, protocol: str | None = None, series_uid: str | None = None,
                     dose_tables: str = "dose-reference", ecg: str | os.PathLike | None = None, lead: str | None = None,
                     fs_hz: float | None = None, plot: str | os.PathLike | None = None,
                     progress: Callable[[int, int], None] | None = None, db: str | None = None) -> ExamCheckRun:
    """The checklist of the exam in ``exam`` (see module doc).  ``ecg``: the exam's ECG trace (CSV,
    WFDB or DICOM ECG), which adds heart rate from the trace, rhythm and exposure timing; ``plot``
    (with ``ecg``): write the ECG strip there.  ``db``: store the exam's study and checklist there
    (:mod:`qa.workflows.study_store`); without it nothing is stored."""
    from qa.errors import UsageError
    from qa.procedures import load_dose_tables, load_protocol

    if plot is not None and ecg is None:
        raise UsageError("--plot draws the exam's ECG strip and needs --ecg TRACE", hint="add --ecg with the exam's ECG trace")
    if plot is not None:
        from qa.workflows.output_targets import check_output_file

        check_output_file(plot, "--plot", "png")  # before anything is read
    tables = load_dose_tables(dose_tables)
    given = None
    if protocol is not None:
        given = load_protocol(protocol)
        validate_protocol(given, tables)  # before reading the exam
    if db is not None:
        from qa.workflows.common import WRITE, open_store

        with open_store(db, mode=WRITE) as access:  # a store that cannot keep the result is refused before the exam is read
            run = check_exam_files(exam, protocol=protocol, series_uid=series_uid, dose_tables=dose_tables, ecg=ecg, lead=lead,
                                   fs_hz=fs_hz, plot=plot, progress=progress)
            from dataclasses import replace

            from qa.workflows.study_store import check_study, save_studies

            from qa.procedures import available_protocols

            # the protocols qa ingest knows (a site's own --protocol file too): the study is stored as ingest stores it
            own = (run.protocol_definition,) if run.protocol_definition is not None else ()
            protocols = own + tuple(p for p in (load_protocol(i) for i in available_protocols())
                                    if not any(p.id == o.id for o in own))
            return replace(run, stored=save_studies(access.for_writing(), [check_study(run, tables, protocols)], tables, protocols))
    from qa.workflows.ingest_study import operator_in_clear

    found = read_exam_files(exam, protocol=given, series_uid=series_uid, progress=progress, operator_in_clear=operator_in_clear())
    loaded, chosen = found.exam, found.protocol
    gating = None
    if ecg is not None:
        from qa.workflows.gating import gating_for_exam

        gating = gating_for_exam(ecg, loaded, chosen, lead=lead, fs_hz=fs_hz)
    motion = exam_motion(found.series, chosen)
    if gating is not None and motion.stacks:  # the trace and its beats as the gating check read them
        from qa.workflows.motion import with_trace_beats

        motion = with_trace_beats(motion, gating.trace, gating.r_peak_s)
    checklist = check_exam(loaded, chosen, tables, gating=gating, motion=motion)
    written = None
    if plot is not None:
        from qa.report.plots import write_ecg_strip

        written = write_ecg_strip(plot, gating)
    analysed = now()
    provenance = Provenance(qa_version(), analysed, (chosen.ref, tables.ref), tuple(loaded.headers.sop_instance_uids))
    from qa.privacy import site_pseudonymiser
    from qa.records.uid_keys import keyed_records

    # the exam's SOP Instance, Series Instance and Irradiation Event UIDs only as pseudonyms (qa.records.uid_keys)
    checklist, provenance = keyed_records(checklist, site_pseudonymiser()), keyed_records(provenance, site_pseudonymiser())
    return ExamCheckRun(checklist, analysed, provenance, written, loaded.files, chosen)


def exam_motion(series, protocol: ExamProtocol):
    """The breath-hold motion of the checked series (``series``: its files as the exam's header read
    found them, :attr:`ExamFiles.series`), from its images: only this series' pixels are read.  A
    series whose pixels cannot be loaded gives a ``not_available`` analysis saying why (the header
    checks still stand), never an error."""
    from qa.dicom.series import load_volume, with_pixels
    from qa.errors import InputError
    from qa.motion import analyse_motion, not_available

    try:
        volume = load_volume(with_pixels(series), overlapping_stacks=True)
    except InputError as exc:
        name = os.path.basename(str(exc.path).rstrip("/")) if exc.path else ""  # folder names may name the patient
        where = f" ({', '.join(p for p in (name, exc.field) if p)})" if (name or exc.field) else ""
        return not_available(f"the images could not be analysed for motion: {exc.message}{where}", protocol.motion)
    return analyse_motion(volume, protocol.motion)
