"""The C-STORE handler: each received object safely on disk in the inbox before success is answered.

* The file name comes from the SOP Instance UID of the C-STORE request only, checked as a UID
  (digits and dots, at most 64 characters); anything else is answered with a failure status
  (0xC000, cannot understand) and never reaches a path.  The dataset's own SOP Instance UID must be
  the request's (PS3.4 B.2.3).
* The bytes as the sender encoded them, with their File Meta Information, go to a temporary file in
  the inbox, are synced and renamed (:meth:`qa.workflows.inbox.Inbox.store_object`); the object is
  journalled; only then is 0x0000 (success) answered.  Any write or journal error (a full disk, an
  unwritable inbox) answers 0xA700 (out of resources) and is logged: the sender keeps the object
  and sends it again.
* The same object sent again (same SOP Instance UID, same bytes) is answered with success and is
  not queued again; the same UID with other bytes replaces the file and queues its group again.
"""

from __future__ import annotations

import sqlite3
import struct
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from qa.errors import InputError


# C-STORE response statuses (PS3.4 table B.2-1; PS3.7 annex C).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # Refused: Out of Resources
CANNOT_UNDERSTAND = 0xC000  # Error: Cannot understand
DATA_SET_DOES_NOT_MATCH = 0xA900  # Error: Data Set does not match SOP Class (PS3.4 table B.2-1)
PROCESSING_FAILURE = 0x0110  # Failure: Processing failure (PS3.7 C.4.2): our own error, logged


@dataclass
class Tally:
    """What one association did (for its log line)."""

    calling_aet: str
    host: str
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    echoes: int = 0
    rejected: str | None = None

    def summary(self) -> str:
        parts = [f"{self.stored} object(s) stored"]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate(s)")
        if self.failed:
            parts.append(f"{self.failed} refused")
        if self.echoes:
            parts.append(f"{self.echoes} echo(es)")
        return ", ".join(parts)


def _element(group_element: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element of group 0002 (PS3.5 7.1.2) with a 2-byte length."""
    return struct.pack("<HH", 0x0002, group_element) + vr + struct.pack("<H", len(value)) + value


def _uid(text: str) -> bytes:
    raw = text.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw  # UI padded with NULL to an even length (PS3.5 6.2)


def file_meta_bytes(sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str) -> bytes:
    """The preamble, ``DICM`` and the File Meta Information (PS3.10 sec. 7.1) of a received object, byte for
    byte as pydicom's own writer encodes the same 7 elements, with our implementation class UID and
    version name (:mod:`qa.net.pdu`), encoded here at a fraction of the general writer's cost.
    ValueError for a UID that is not ASCII."""
    from qa.net.pdu import IMPLEMENTATION_UID, implementation_version

    try:
        version = implementation_version().encode("ascii")
        body = b"".join((
            struct.pack("<HH", 0x0002, 0x0001) + b"OB\0\0" + struct.pack("<I", 2) + b"\0\1",  # version 0001, 4-byte length
            _element(0x0002, b"UI", _uid(sop_class_uid)),
            _element(0x0003, b"UI", _uid(sop_instance_uid)),
            _element(0x0010, b"UI", _uid(transfer_syntax_uid)),
            _element(0x0012, b"UI", _uid(IMPLEMENTATION_UID)),
            _element(0x0013, b"SH", version + b" " if len(version) % 2 else version),  # SH padded with a space
        ))
    except UnicodeEncodeError as exc:
        raise ValueError(f"not an ASCII UID: {exc}") from None
    return b"\0" * 128 + b"DICM" + _element(0x0000, b"UL", struct.pack("<I", len(body))) + body


def store_handler(inbox, log: Callable[[str], None]):
    """``store(tally, request)``: the C-STORE status for ``request`` (:class:`qa.net.association.StoreRequest`),
    written into ``inbox`` (:class:`qa.workflows.inbox.Inbox`) and counted in ``tally``."""

    def handle_store(tally: Tally, request) -> int:
        uid = request.sop_instance_uid
        name = inbox.file_name(uid)
        if name is None:
            return _refuse(tally, log, CANNOT_UNDERSTAND, f"a SOP Instance UID that is not a UID ({len(uid)} characters) was refused")
        try:
            data = file_meta_bytes(request.sop_class_uid, uid, request.transfer_syntax_uid) + request.data_set
            obj = inbox.identify(data, calling_aet=tally.calling_aet)
        except (InputError, ValueError) as exc:  # unreadable as DICOM; a UID that is not ASCII
            return _refuse(tally, log, CANNOT_UNDERSTAND, f"object {inbox.pseudonymise(uid)}: {getattr(exc, 'message', exc)}")
        if obj.sop_instance_uid != uid:
            return _refuse(tally, log, CANNOT_UNDERSTAND,
                           f"object {inbox.pseudonymise(uid)}: the dataset's SOP Instance UID differs from the C-STORE request's")
        if obj.sop_class_uid != request.sop_class_uid:
            return _refuse(tally, log, DATA_SET_DOES_NOT_MATCH,
                           f"object {inbox.pseudonymise(uid)}: the dataset's SOP Class UID differs from the C-STORE request's")
        try:
            outcome = inbox.store_object(name, data, calling_aet=tally.calling_aet, obj=obj)
        except (OSError, sqlite3.Error) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            return _refuse(tally, log, OUT_OF_RESOURCES, f"object {inbox.pseudonymise(uid)} could not be written to the inbox: {reason}")
        except Exception as exc:  # noqa: BLE001 - a bug: the sender is told, keeps the object, and we log it
            log(f"internal error storing object {inbox.pseudonymise(uid)}: {type(exc).__name__}: {exc}\n{traceback.format_exc().rstrip()}")
            tally.failed += 1
            return PROCESSING_FAILURE
        if outcome == "duplicate":
            tally.duplicates += 1
        else:
            tally.stored += 1
        return SUCCESS

    return handle_store


def _refuse(tally: Tally, log, status: int, message: str) -> int:
    tally.failed += 1
    log(f"C-STORE from {tally.calling_aet}@{tally.host} answered 0x{status:04X}: {message}")
    return status
