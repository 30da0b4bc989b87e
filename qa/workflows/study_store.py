"""``qa check --db`` and ``qa dose --db``: their results stored as studies, the way ``qa ingest`` stores them.

Without ``--db`` nothing is stored (as before).  With it, the store is opened for writing before
anything is read (a store that cannot keep the result is refused first), and after the analysis
each study is saved in its own transaction through :meth:`qa.store.Store.save_study`, merged with
what is stored (events by Irradiation Event UID, the checklist of the same series and protocol
replaced), so the technologist's checks feed the manager's trends.  The objects are not marked as
ingested: a later ``qa ingest`` of the same files reads them and finds the study unchanged (or
completes it).  ``qa dose`` reads dose reports only: its studies carry no patient, accession or
operator pseudonym (a later ingest of the images adds them).
"""

from __future__ import annotations

from qa.records.study import StoredStudies, StoredStudyRef, StudyRecord
from qa.workflows.common import qa_version
from qa.workflows.ingest_study import (check_record, dose_protocol, event_record, header_dose_fields, main_protocol,
                                       names_cac, study_dose_fields, study_is_qa)


def check_study(run, tables, protocols) -> tuple[StudyRecord, list]:
    """The study of one ``qa check`` run (an :class:`qa.workflows.exam.ExamCheckRun`) and its dose report."""
    from qa.compliance import names_calcium_score

    exam = run.checklist.exam
    if not exam.study_key:
        from qa.errors import InputError

        raise InputError(None, "StudyInstanceUID", "the exam has none: its checklist cannot be stored as a study",
                         hint="re-export the exam from the scanner or PACS, or check it without --db")
    chosen = run.protocol_definition
    facts = exam.facts
    dose = exam.dose if exam.dose is not None and exam.dose.events else None
    if dose is not None:
        values = study_dose_fields(dose, tables, protocols, chosen)
    else:
        values = header_dose_fields(run.checklist.dose)
    descriptions = [facts.study_description if facts else None, facts.protocol_name if facts else None,
                    exam.headers.series_description]  # with the dose events' protocols and names (study_is_qa)
    record = StudyRecord(
        study_key=exam.study_key, scanner=exam.scanner,
        study_datetime=(facts.study_datetime if facts else None) or (dose.study_datetime if dose else None),
        study_month=(facts.study_month if facts else None) or _month(dose.study_datetime if dose else None),
        protocol=main_protocol(dose, protocols) or (facts.protocol_name if facts else None) or exam.headers.series_description,
        qa_protocol=chosen.id if chosen is not None else run.checklist.protocol.id, patient_key=exam.patient_key,
        accession_key=facts.accession_key if facts else None, operator_key=facts.operator_key if facts else None,
        is_calcium_score=any(names_calcium_score(p, exam.headers.series_description) for p in protocols) or dose is None
        or bool(main_protocol(dose, protocols)), is_qa=study_is_qa(descriptions, facts, dose), has_dose_report=dose is not None,
        qa_version=qa_version(), events=tuple(event_record(e, exam.study_key, n) for n, e in enumerate(dose.events if dose else ())),
        exam_checks=(check_record(run),), **values)
    return record, dose


def dose_studies(summary, tables, protocols, chosen=None) -> list[tuple[StudyRecord, object]]:
    """The studies of one ``qa dose`` run (a :class:`qa.workflows.dose.DoseSummary`), each with its
    merged dose report, stored as ``qa ingest`` stores a dose report: judged by ``chosen`` (``--protocol``)
    or the protocol ingest would choose (:func:`~qa.workflows.ingest_study.dose_protocol`); ``--k-factor``
    changes what ``qa dose`` prints, never what is stored."""
    out = []
    for dose in summary.studies:
        if not dose.study_key:
            continue  # a report without a StudyInstanceUID names no study
        from qa.records.identity import ScannerIdentity

        events = tuple(event_record(e, dose.study_key, n) for n, e in enumerate(dose.events))
        qa = study_is_qa([dose.study_description], None, dose)
        cac = not qa and any(names_cac(e.acquisition_protocol, protocols) for e in dose.events)
        judged_by = dose_protocol(dose, protocols, chosen) if cac or chosen is not None else None
        record = StudyRecord(
            study_key=dose.study_key, scanner=ScannerIdentity(dose.manufacturer, dose.model, dose.device_serial_number, dose.station_name),
            study_datetime=dose.study_datetime, study_month=_month(dose.study_datetime), protocol=main_protocol(dose, protocols),
            qa_protocol=judged_by.id if judged_by is not None else None, is_calcium_score=cac, is_qa=qa, has_dose_report=True,
            qa_version=qa_version(), events=events, **study_dose_fields(dose, tables, protocols, judged_by))
        out.append((record, dose))
    return out


def save_studies(store, items, tables, protocols) -> StoredStudies:
    """Save each (record, its merged dose report or None) in its own transaction, merged with what is stored."""
    from qa.workflows.study_merge import merger

    from qa.privacy import site_pseudonymiser
    from qa.records.uid_keys import keyed_dose, keyed_record

    pseudonymise = site_pseudonymiser()
    refs = []
    for record, dose in items:
        record, dose = keyed_record(record, pseudonymise), keyed_dose(dose, pseudonymise)  # UIDs only as pseudonyms
        saved = store.save_study(record, merge=merger(dose, tables=tables, protocols=protocols))
        refs.append(StoredStudyRef(record.study_key, saved.study_id, saved.status))
    return StoredStudies(store.display_url, tuple(refs))


def _month(iso: str | None) -> str | None:
    return iso[:7] if iso and len(iso) >= 7 and iso[4] == "-" else None
