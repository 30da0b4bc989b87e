"""The first elements of a little-endian Part 10 file read from its raw bytes: element headers walked,
the wanted values taken, nothing decoded; ``None`` for anything unexpected (pydicom reads it then).

For the readers that need a few identifying values of many objects fast: ``qa ingest``'s study
index (:mod:`qa.dicom.study_index`) and the receiver's identification of each received object
(:func:`qa.dicom.received.identify_object`), where pydicom's general reader cost more than the
rest of the C-STORE handler (benchmarks/bench_serve.py).
"""

from __future__ import annotations

import struct

# VRs whose explicit-VR header has 2 reserved bytes and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"))
_IMPLICIT_LE, _EXPLICIT_LE, _DEFLATED, _BIG_ENDIAN = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"
# Element headers, little endian (PS3.5 7.1): tag group and element, then explicit VR and a 2-byte
# length, or an implicit VR's 4-byte length; the 4-byte length after an explicit long VR's reserved bytes.
_EXPLICIT_HEADER, _IMPLICIT_HEADER, _LONG_LENGTH = struct.Struct("<HH2sH"), struct.Struct("<HHL"), struct.Struct("<L")
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF




def quick_elements(buf: bytes, *, stop: int, wanted: frozenset[int], whole: bool = False) -> tuple[dict[int, bytes], dict[int, bytes]] | None:
    """(file meta elements, the ``wanted`` elements found up to the tag ``stop``) of a Part 10 file's
    bytes ``buf``, each a raw value by tag; None when the file is not a little-endian Part 10 file
    (deflated, big endian), or anything is not as expected (disordered tags, an item where an element
    belongs, an odd VR), or ``buf`` ends before ``stop`` (unless ``whole``: ``buf`` is the whole object,
    which may end before ``stop``)."""
    if len(buf) < 144 or buf[128:132] != b"DICM":
        return None
    meta, pos = _walk(buf, 132, explicit=True, stop=0x0002FFFF, groups=(0x0002,))
    if meta is None:
        return None
    syntax = text(meta.get(0x00020010))
    if syntax in (_DEFLATED, _BIG_ENDIAN) or syntax is None:
        return None
    explicit = syntax != _IMPLICIT_LE
    if not explicit and pos + 6 <= len(buf) and bytes(buf[pos + 4:pos + 6]).isalpha():
        return None  # a data set written explicit although its syntax says implicit: pydicom notices and reads it so
    found, _ = _walk(buf, pos, explicit=explicit, stop=stop, wanted=wanted, whole=whole)
    if found is None:
        return None
    return meta, found


def _walk(buf: bytes, pos: int, *, explicit: bool, stop: int, wanted: frozenset[int] = frozenset(), groups=None, depth: int = 0,
          whole: bool = False):
    """Walk element headers from ``pos`` until a tag beyond ``stop`` (or outside ``groups``), an item
    or sequence delimiter, or the end of ``buf``; ({tag: raw value} of the wanted tags, position
    after the last element walked), or (None, pos) when something is not as expected."""
    found: dict[int, bytes] = {}
    end, last = len(buf), -1
    explicit_header, implicit_header = _EXPLICIT_HEADER.unpack_from, _IMPLICIT_HEADER.unpack_from
    while pos + 8 <= end:
        if explicit:
            group, element, vr, length = explicit_header(buf, pos)
        else:
            group, element, length = implicit_header(buf, pos)
            vr = None
        tag = group << 16 | element
        if tag in (_ITEM_END, _SEQUENCE_END):
            if depth == 0 and groups is None:
                return None, pos  # a delimiter outside any sequence: pydicom reads past it, we leave it to pydicom
            return found, pos
        if tag > stop or (groups is not None and group not in groups):
            return found, pos
        if tag <= last or group == 0xFFFE:
            return None, pos  # disordered, or an item where an element belongs: pydicom decides
        last = tag
        if explicit:
            if not vr.isalpha() or not vr.isupper():
                return None, pos
            if vr in _LONG_VRS:
                if pos + 12 > end:
                    return None, pos
                length, pos = _LONG_LENGTH.unpack_from(buf, pos + 8)[0], pos + 12
            else:
                pos += 8
        else:
            pos += 8
        if length == _UNDEFINED:
            if depth > 8 or (explicit and vr not in (b"SQ", b"UN")):
                return None, pos
            pos = _skip_items(buf, pos, explicit=explicit, depth=depth)
            if pos is None:
                return None, 0
            continue
        if pos + length > end:
            return None, pos
        if tag in wanted or tag >> 16 == 0x0002:
            found[tag] = buf[pos:pos + length]
        pos += length
    if whole and pos == end:
        return found, pos  # the whole object was walked: it ends before ``stop``
    return None, pos  # ran out of bytes before ``stop``


def _skip_items(buf: bytes, pos: int, *, explicit: bool, depth: int) -> int | None:
    """The position after an undefined-length sequence starting at ``pos`` (its items walked), or None."""
    end = len(buf)
    while pos + 8 <= end:
        tag = int.from_bytes(buf[pos:pos + 2], "little") << 16 | int.from_bytes(buf[pos + 2:pos + 4], "little")
        length = int.from_bytes(buf[pos + 4:pos + 8], "little")
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            return None
        if length != _UNDEFINED:
            pos += length
            continue
        inner, pos = _walk(buf, pos, explicit=explicit, stop=0xFFFFFFFF, depth=depth + 1)
        if inner is None or pos + 8 > end:
            return None
        if int.from_bytes(buf[pos:pos + 2], "little") << 16 | int.from_bytes(buf[pos + 2:pos + 4], "little") != _ITEM_END:
            return None
        pos += 8
    return None


def text(raw: bytes | None) -> str | None:
    """A raw value of an ASCII VR (UI, CS, LO of ASCII) as text, as :func:`qa.dicom.attributes.raw_text` gives it."""
    if raw is None:
        return None
    text = raw.decode("latin-1").strip(" \x00")
    return text or None
