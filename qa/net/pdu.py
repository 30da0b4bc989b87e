"""The DICOM upper layer PDUs and DIMSE command sets qa serve reads and writes: pure functions, bytes
in, values out (no sockets here; :mod:`qa.net.association` moves the bytes).

* PDUs: PS3.8 sec. 9.3 (A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF, A-RELEASE-RQ/RP, A-ABORT), every field
  big endian; the user information sub-items of PS3.7 annex D.3.3 (maximum length, implementation
  class UID and version name; the others are read past: an acceptor may ignore them).
* Command sets: PS3.7 sec. 9.3 and annex E, group 0000 in implicit VR little endian (PS3.7 sec. 6.3.1).

Malformed input raises :class:`PduError`, which says what is wrong; the association is then aborted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

# PDU types (PS3.8 table 9-11)
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 1, 2, 3, 4, 5, 6, 7
PDU_NAMES = {1: "A-ASSOCIATE-RQ", 2: "A-ASSOCIATE-AC", 3: "A-ASSOCIATE-RJ", 4: "P-DATA-TF", 5: "A-RELEASE-RQ", 6: "A-RELEASE-RP",
             7: "A-ABORT"}
HEADER = struct.Struct(">BxL")  # PDU type, reserved, PDU length (PS3.8 sec. 9.3.1)
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # the DICOM application context name (PS3.7 annex A.2.1)
PROTOCOL_VERSION = 0x0001  # bit 0: version 1 (PS3.8 table 9-11)
VERIFICATION = "1.2.840.10008.1.1"  # Verification SOP Class (PS3.4 annex A)

# Presentation context results (PS3.8 table 9-18)
ACCEPTANCE, USER_REJECTION, NO_REASON, ABSTRACT_SYNTAX_NOT_SUPPORTED, TRANSFER_SYNTAXES_NOT_SUPPORTED = 0, 1, 2, 3, 4
# A-ABORT source and reason (PS3.8 table 9-26): source 0 service-user, 2 service-provider;
# reasons when the provider aborts: 0 not specified, 1 unrecognized PDU, 2 unexpected PDU,
# 4 unrecognized PDU parameter, 5 unexpected PDU parameter, 6 invalid PDU parameter value
ABORT_SERVICE_USER, ABORT_SERVICE_PROVIDER = 0x00, 0x02
REASON_NOT_SPECIFIED, UNRECOGNIZED_PDU, UNEXPECTED_PDU, INVALID_PARAMETER = 0x00, 0x01, 0x02, 0x06

# DIMSE (PS3.7 annex E): command fields, the data set type that means "no data set", and statuses
C_STORE_RQ, C_ECHO_RQ, RESPONSE_BIT = 0x0001, 0x0030, 0x8000
NO_DATA_SET = 0x0101
UNRECOGNIZED_OPERATION = 0x0211  # PS3.7 annex C.5.7: refused, the operation is not supported
COMMAND_FIELD, MESSAGE_ID, MESSAGE_ID_RESPONDED, DATA_SET_TYPE, STATUS = 0x0100, 0x0110, 0x0120, 0x0800, 0x0900
AFFECTED_SOP_CLASS, AFFECTED_SOP_INSTANCE = 0x0002, 0x1000

# Our implementation class UID (PS3.7 annex D.3.3.2; a UUID-derived UID under 2.25, PS3.5 annex B.2)
# and version name (at most 16 characters), sent in each A-ASSOCIATE-AC and written in each received file's meta.
IMPLEMENTATION_UID = "2.25.283754125137938287059330044637632358488"


def implementation_version() -> str:
    from qa import __version__

    return f"QA_{__version__}"[:16]


class PduError(ValueError):
    """A PDU or command set that does not follow PS3.8 / PS3.7 (says what and where)."""

    def __init__(self, message: str, reason: int = INVALID_PARAMETER):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PresentationContext:
    id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@dataclass(frozen=True)
class AssociateRequest:
    """An A-ASSOCIATE-RQ PDU's content."""

    protocol_version: int
    called_aet: str
    calling_aet: str
    called_field: bytes  # the 16 bytes as sent (returned as they were in the A-ASSOCIATE-AC)
    calling_field: bytes
    application_context: str
    contexts: tuple[PresentationContext, ...]
    max_pdu: int  # the largest P-DATA-TF variable field the requestor receives (0: no limit)
    implementation_uid: str
    implementation_version: str
    reserved_field: bytes = bytes(32)  # bytes 43-74, returned as they were in the A-ASSOCIATE-AC (PS3.8 table 9-17)


def _uid(raw: bytes | memoryview, what: str) -> str:
    try:
        return bytes(raw).rstrip(b"\0 ").decode("ascii")
    except UnicodeDecodeError:
        raise PduError(f"{what} is not an ASCII UID") from None


def aet(raw: bytes) -> str:
    """An AE title field: 16 bytes, leading and trailing spaces insignificant (PS3.5 table 6.2-1, AE)."""
    return raw.decode("ascii", "replace").strip(" \0")


def _items(data: memoryview, what: str) -> Iterator[tuple[int, memoryview]]:
    """(item type, item value) of the items (or sub-items) packed in ``data`` (PS3.8 sec. 9.3.2.2: type, reserved, 2-byte length)."""
    at = 0
    while at < len(data):
        if at + 4 > len(data):
            raise PduError(f"{what}: an item header is cut short")
        kind, length = data[at], int.from_bytes(data[at + 2:at + 4], "big")
        if at + 4 + length > len(data):
            raise PduError(f"{what}: item 0x{kind:02X} claims {length} bytes, {len(data) - at - 4} are left")
        yield kind, data[at + 4:at + 4 + length]
        at += 4 + length


def parse_associate_rq(body: bytes | bytearray) -> AssociateRequest:
    """The A-ASSOCIATE-RQ whose PDU body (the bytes after the 6-byte header) is ``body`` (PS3.8 table 9-11)."""
    data = memoryview(body)
    if len(data) < 68:
        raise PduError(f"A-ASSOCIATE-RQ of {len(data)} bytes: the fixed fields alone take 68")
    version = int.from_bytes(data[0:2], "big")
    called, calling = bytes(data[4:20]), bytes(data[20:36])
    context_name, contexts, max_pdu, impl_uid, impl_version = None, [], 0, "", ""
    seen: set[int] = set()
    for kind, value in _items(data[68:], "A-ASSOCIATE-RQ"):
        if kind == 0x10:
            context_name = _uid(value, "the application context name")
        elif kind == 0x20:
            if len(value) < 4:
                raise PduError("a presentation context item is shorter than 4 bytes")
            pc_id = value[0]
            if pc_id % 2 == 0 or pc_id in seen:
                raise PduError(f"presentation context ID {pc_id} is even or proposed twice (PS3.8 sec. 9.3.2.2)")
            seen.add(pc_id)
            abstract, syntaxes = None, []
            for sub, sub_value in _items(value[4:], f"presentation context {pc_id}"):
                if sub == 0x30:
                    abstract = _uid(sub_value, f"presentation context {pc_id}'s abstract syntax")
                elif sub == 0x40:
                    syntaxes.append(_uid(sub_value, f"presentation context {pc_id}'s transfer syntax"))
            if abstract is None or not syntaxes:
                raise PduError(f"presentation context {pc_id} lacks its abstract syntax or transfer syntaxes")
            contexts.append(PresentationContext(pc_id, abstract, tuple(syntaxes)))
        elif kind == 0x50:
            for sub, sub_value in _items(value, "user information"):
                if sub == 0x51:
                    if len(sub_value) != 4:
                        raise PduError("the maximum length sub-item is not 4 bytes")
                    max_pdu = int.from_bytes(sub_value, "big")
                elif sub == 0x52:
                    impl_uid = _uid(sub_value, "the implementation class UID")
                elif sub == 0x55:
                    impl_version = bytes(sub_value).decode("ascii", "replace").strip()
    if context_name is None:
        raise PduError("A-ASSOCIATE-RQ without an application context item")
    return AssociateRequest(version, aet(called), aet(calling), called, calling, context_name, tuple(contexts), max_pdu,
                            impl_uid, impl_version, bytes(data[36:68]))


def _item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BxH", kind, len(value)) + value


def _ascii(uid: str) -> bytes:
    return uid.encode("ascii")  # UIDs in PDU items are not padded (PS3.8 annex F)


def _pdu(kind: int, body: bytes) -> bytes:
    return HEADER.pack(kind, len(body)) + body


def encode_associate_ac(request: AssociateRequest, results: list[tuple[int, int, str]], *, max_pdu: int,
                        implementation_uid: str, implementation_version: str) -> bytes:
    """The A-ASSOCIATE-AC answering ``request``: ``results`` holds (context ID, result, chosen transfer
    syntax) for each proposed context (PS3.8 table 9-17)."""
    contexts = b"".join(_item(0x21, struct.pack(">BxBx", pc_id, result) + _item(0x40, _ascii(syntax)))
                        for pc_id, result, syntax in results)
    user = _item(0x50, _item(0x51, struct.pack(">L", max_pdu)) + _item(0x52, _ascii(implementation_uid))
                 + _item(0x55, implementation_version.encode("ascii")))
    fixed = struct.pack(">H2x", PROTOCOL_VERSION) + request.called_field + request.calling_field + request.reserved_field
    return _pdu(A_ASSOCIATE_AC, fixed + _item(0x10, _ascii(APPLICATION_CONTEXT)) + contexts + user)


def encode_associate_rj(result: int, source: int, reason: int) -> bytes:
    """A-ASSOCIATE-RJ (PS3.8 table 9-21)."""
    return _pdu(A_ASSOCIATE_RJ, struct.pack(">xBBB", result, source, reason))


def encode_release_rp() -> bytes:
    return _pdu(A_RELEASE_RP, bytes(4))  # PS3.8 table 9-25


def encode_abort(source: int, reason: int) -> bytes:
    return _pdu(A_ABORT, struct.pack(">2xBB", source, reason))  # PS3.8 table 9-26


def encode_p_data(context_id: int, command: bool, payload: bytes, max_pdu: int) -> list[bytes]:
    """``payload`` as P-DATA-TF PDUs of one PDV each, none with a variable field over ``max_pdu`` bytes
    (the peer's maximum length; 0 no limit) (PS3.8 sec. 9.3.5, annex E.2: bit 0 command, bit 1 last)."""
    room = len(payload) if max_pdu == 0 else max_pdu - 6  # 4-byte PDV length, context ID and control header
    if room <= 0:
        raise PduError(f"the peer's maximum PDU length {max_pdu} leaves no room for a fragment")
    pdus, at = [], 0
    while True:
        fragment = payload[at:at + room]
        at += len(fragment)
        control = (0x01 if command else 0x00) | (0x02 if at >= len(payload) else 0x00)
        pdus.append(_pdu(P_DATA_TF, struct.pack(">LBB", len(fragment) + 2, context_id, control) + fragment))
        if at >= len(payload):
            return pdus


def iter_pdvs(body: bytes | bytearray) -> Iterator[tuple[int, int, memoryview]]:
    """(presentation context ID, message control header, fragment) of each PDV of a P-DATA-TF body."""
    data, at = memoryview(body), 0
    if not data:
        raise PduError("a P-DATA-TF without a presentation data value")
    while at < len(data):
        if at + 6 > len(data):
            raise PduError("a presentation data value item is cut short")
        length = int.from_bytes(data[at:at + 4], "big")
        if length < 2 or at + 4 + length > len(data):
            raise PduError(f"a presentation data value claims {length} bytes, {len(data) - at - 4} are left")
        yield data[at + 4], data[at + 5], data[at + 6:at + 4 + length]
        at += 4 + length


def parse_command(data: bytes) -> dict[int, bytes]:
    """The elements of a command set (group 0000, implicit VR little endian), by element number."""
    elements, at = {}, 0
    while at < len(data):
        if at + 8 > len(data):
            raise PduError("a command set element is cut short")
        group, element, length = struct.unpack_from("<HHL", data, at)
        if group != 0x0000 or at + 8 + length > len(data):
            raise PduError(f"command set element ({group:04X},{element:04X}) is not in group 0000 or runs past the end")
        elements[element] = data[at + 8:at + 8 + length]
        at += 8 + length
    return elements


def us(elements: dict[int, bytes], element: int, name: str) -> int:
    value = elements.get(element)
    if value is None or len(value) != 2:
        raise PduError(f"the command set's {name} (0000,{element:04X}) is missing or not 2 bytes")
    return int.from_bytes(value, "little")


def ui(elements: dict[int, bytes], element: int, name: str) -> str:
    value = elements.get(element)
    if value is None:
        raise PduError(f"the command set has no {name} (0000,{element:04X})")
    return _uid(value, f"the command set's {name}")


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0x0000, element, len(value)) + value


def _ui(uid: str) -> bytes:
    raw = uid.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw  # UI padded with NULL to an even length (PS3.5 sec. 6.2)


def encode_response(command_field: int, message_id: int, status: int, sop_class_uid: str, sop_instance_uid: str | None = None) -> bytes:
    """A response command set (no data set) to a request: command field with bit 15 set (PS3.7 annex E)."""
    body = [_element(AFFECTED_SOP_CLASS, _ui(sop_class_uid)),
            _element(COMMAND_FIELD, struct.pack("<H", command_field | RESPONSE_BIT)),
            _element(MESSAGE_ID_RESPONDED, struct.pack("<H", message_id)),
            _element(DATA_SET_TYPE, struct.pack("<H", NO_DATA_SET)),
            _element(STATUS, struct.pack("<H", status))]
    if sop_instance_uid is not None:
        body.append(_element(AFFECTED_SOP_INSTANCE, _ui(sop_instance_uid)))
    rest = b"".join(body)
    return _element(0x0000, struct.pack("<L", len(rest))) + rest  # command group length first (PS3.7 table E.1-1)
