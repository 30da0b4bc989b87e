"""Is a DICOM file complete?  pydicom reads a truncated file without complaint.

:func:`check_complete` walks the encoded elements of a file (explicit or implicit VR, nested
sequences of defined or undefined length, encapsulated pixel data) and raises an
:class:`~qa.errors.InputError` naming the top-level element in which the data ends early or in
which the lengths do not add up.  The top-level dataset ends where its tags stop ascending (as
:mod:`qa.dicom.files` parses it): bytes after it (trailing padding or garbage) are not walked.
The file is mapped, not read into memory.
"""

from __future__ import annotations

import mmap
import os

from qa.errors import InputError

_ITEM, _ITEM_END, _SEQ_END, _UNDEFINED = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD, 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())  # PS3.5 7.1.2: 4-byte lengths
_DEFLATED = "1.2.840.10008.1.2.1.99"


class _Broken(Exception):
    """The encoded data ends, or its lengths do not add up, inside element ``args[0]`` (a tag or None)."""


def check_complete(ds, path: str, *, hint: str = "copy or export the file again from the scanner or PACS",
                   label: str | None = None) -> None:
    """Raise an InputError (naming ``label``, else ``path``) unless every element of ``path`` (read
    as ``ds``) fits in the file and every undefined-length sequence and item is closed."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID") == _DEFLATED:
        return  # deflated: nothing to walk without inflating
    implicit, little = ds.original_encoding
    with open(path, "rb") as fp:
        size = os.fstat(fp.fileno()).st_size
        data = mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    try:
        start = 132 if data[128:132] == b"DICM" else 0
        view = memoryview(data)
        try:
            _walk(view, start, len(data), bool(implicit), "big" if little is False else "little", False, 0)
        finally:
            view.release()
    except _Broken as exc:
        tag = exc.args[0] if exc.args else None
        from pydicom.datadict import keyword_for_tag

        where = None if tag is None else (keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})")
        raise InputError(label or path, where, "the file ends inside this element or its lengths do not add up: "
                         "it is truncated or corrupt", hint=hint) from None
    finally:
        if isinstance(data, mmap.mmap):
            data.close()


def _walk(buf, pos: int, end: int, implicit: bool, order: str, delimited: bool, depth: int) -> int:
    """Walk the elements of buf[pos:end]; the position after them (after the item delimiter if delimited).
    At the top level (depth 0, past the file meta) the walk ends at a tag that does not ascend."""
    last = -1
    while pos < end:
        if pos + 8 > end:
            raise _Broken(None)
        meta = depth == 0 and int.from_bytes(buf[pos:pos + 2], "little") == 2  # file meta: explicit VR LE
        imp, bo = (False, "little") if meta else (implicit, order)
        tag = int.from_bytes(buf[pos:pos + 2], bo) << 16 | int.from_bytes(buf[pos + 2:pos + 4], bo)
        if tag == _ITEM_END and delimited:
            return pos + 8
        if depth == 0 and not meta:
            if tag <= last or last == _PIXEL_DATA:
                return pos  # the dataset ended: what follows is not read (nor parsed by the reader)
            last = tag
        vr = None if imp else bytes(buf[pos + 4:pos + 6])
        if vr in _LONG_VRS:
            if pos + 12 > end:
                raise _Broken(tag)
            length, pos = int.from_bytes(buf[pos + 8:pos + 12], bo), pos + 12
        else:
            length = int.from_bytes(buf[pos + 4:pos + 8] if vr is None else buf[pos + 6:pos + 8], bo)
            pos += 8
        try:
            if length == _UNDEFINED or vr == b"SQ" or (vr is None and _is_sequence(tag)):
                pos = _walk_sequence(buf, pos, end, length, imp or vr == b"UN", bo, tag, depth)
            elif pos + length > end:
                raise _Broken(tag)
            else:
                pos += length
        except _Broken as exc:
            raise _Broken(tag if depth == 0 else exc.args[0]) from None
    if delimited:
        raise _Broken(None)
    return pos


def _walk_sequence(buf, pos: int, end: int, length: int, implicit: bool, order: str, tag: int, depth: int) -> int:
    undefined = length == _UNDEFINED
    stop = end if undefined else pos + length
    if stop > end:
        raise _Broken(tag)
    while undefined or pos < stop:
        if pos + 8 > stop:
            raise _Broken(tag)
        item = int.from_bytes(buf[pos:pos + 2], order) << 16 | int.from_bytes(buf[pos + 2:pos + 4], order)
        size, pos = int.from_bytes(buf[pos + 4:pos + 8], order), pos + 8
        if item == _SEQ_END and undefined:
            return pos
        if item != _ITEM:
            raise _Broken(tag)
        if tag == _PIXEL_DATA and size != _UNDEFINED:  # encapsulated pixel data: fragments, not datasets
            if pos + size > stop:
                raise _Broken(tag)
            pos += size
        elif size == _UNDEFINED:
            pos = _walk(buf, pos, stop, implicit, order, True, depth + 1)
        elif pos + size > stop:
            raise _Broken(tag)
        else:
            pos = _walk(buf, pos, pos + size, implicit, order, False, depth + 1)
    return pos


def _is_sequence(tag: int) -> bool:
    from pydicom.datadict import dictionary_VR

    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False
