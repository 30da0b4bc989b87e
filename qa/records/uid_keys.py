"""Patient-object UIDs only as keyed pseudonyms where a study is stored (issue 13, D3).

Scanners build SOP Instance, Series Instance and Irradiation Event UIDs from the root of the
StudyInstanceUID (``<study uid>.1``, ``<study uid>.2.3``), so storing them in clear stores the
study's identifier too.  Every such UID of a study (its objects, its dose events, its checklists'
series and the UIDs inside its stored documents) is replaced by its pseudonym with the site
pseudonymiser (:func:`qa.privacy.site_pseudonymiser`, deterministic per site), just before the
study is stored: idempotency (objects already ingested), merges by Irradiation Event UID and the
checklist of the same series all compare pseudonyms with pseudonyms.  Phantom runs (not patient
data) keep their series UID.  An event without a UID is named ``<study_key>#event<n>``: already a
pseudonym.
"""

from __future__ import annotations

import re
from dataclasses import replace

from qa.records.identity import PSEUDONYM_HEX_DIGITS

# Keys of stored or printed documents whose values are patient-object UIDs (one or a list).
UID_KEYS = frozenset({"sop_instance_uid", "sop_instance_uids", "superseded_sop_instance_uids", "series_instance_uid",
                      "series_instance_uids", "irradiation_event_uid", "irradiation_event_uids", "study_instance_uid",
                      "frame_of_reference_uid", "source_sop_instance_uids"})
_PSEUDONYM = re.compile(r"^[a-z]-[0-9a-f]{%d}(#event\d+)?$" % PSEUDONYM_HEX_DIGITS)


def uid_key(pseudonymise, uid: str | None) -> str | None:
    """The pseudonym of a UID (a pseudonym, or an event named by its study's key, is kept as it is)."""
    if uid is None or uid == "":
        return uid
    return uid if _PSEUDONYM.match(uid) else pseudonymise(uid)


def keyed_document(value, pseudonymise):
    """A JSON-like document with the values of its :data:`UID_KEYS` as pseudonyms (a new document)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in UID_KEYS and isinstance(v, str):
                out[k] = uid_key(pseudonymise, v)
            elif k in UID_KEYS and isinstance(v, (list, tuple)):
                out[k] = [uid_key(pseudonymise, u) if isinstance(u, str) else u for u in v]
            else:
                out[k] = keyed_document(v, pseudonymise)
        return out
    if isinstance(value, (list, tuple)):
        return [keyed_document(v, pseudonymise) for v in value]
    return value


def keyed_dose(dose, pseudonymise):
    """A study's merged dose report (:class:`qa.records.dose.StudyDose`, or None) with its UIDs as pseudonyms."""
    if dose is None:
        return None
    events = tuple(replace(e, irradiation_event_uid=uid_key(pseudonymise, e.irradiation_event_uid)) for e in dose.events)
    return replace(dose, events=events, sop_instance_uids=tuple(uid_key(pseudonymise, u) for u in dose.sop_instance_uids),
                   superseded_sop_instance_uids=tuple(uid_key(pseudonymise, u) for u in dose.superseded_sop_instance_uids))


def keyed_record(record, pseudonymise):
    """A :class:`qa.records.study.StudyRecord` with every patient-object UID as its pseudonym (module doc)."""
    objects = tuple(replace(o, sop_instance_uid=uid_key(pseudonymise, o.sop_instance_uid)) for o in record.objects)
    events = tuple(replace(e, irradiation_event_uid=uid_key(pseudonymise, e.irradiation_event_uid)) for e in record.events)
    checks = tuple(replace(c, series_key=uid_key(pseudonymise, c.series_key),
                           document=keyed_document(c.document, pseudonymise) if c.document is not None else None)
                   for c in record.exam_checks)
    document = keyed_document(record.document, pseudonymise) if record.document is not None else None
    return replace(record, objects=objects, events=events, exam_checks=checks, document=document)


def keyed_records(value, pseudonymise):
    """Any record (a frozen dataclass, nested in tuples, lists and dicts) with the values of its
    fields named in :data:`UID_KEYS` as pseudonyms: what ``qa check`` prints and stores."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            old = getattr(value, f.name)
            if f.name in UID_KEYS and isinstance(old, str):
                new = uid_key(pseudonymise, old)
            elif f.name in UID_KEYS and isinstance(old, tuple):
                new = tuple(uid_key(pseudonymise, u) if isinstance(u, str) else u for u in old)
            else:
                new = keyed_records(old, pseudonymise)
            if new is not old and new != old:
                changes[f.name] = new
        return replace(value, **changes) if changes else value
    if isinstance(value, tuple):
        out = tuple(keyed_records(v, pseudonymise) for v in value)
        return out if out != value else value
    if isinstance(value, list):
        return [keyed_records(v, pseudonymise) for v in value]
    if isinstance(value, dict):
        return keyed_document(value, pseudonymise)
    return value
