"""Pixel data: read once, decode once, refuse anything whose size does not match its header.

Uncompressed little-endian 16-bit grey images (nearly every CT) are read straight from the file
into numpy; anything else goes through pydicom's decoders (JPEG, JPEG-LS, JPEG 2000, RLE with the
pylibjpeg plugins).  Both give pydicom's ``pixel_array(ds, correct_unused_bits=True)`` result:
bits above Bits Stored are ignored, as DICOM requires.
"""

from __future__ import annotations

import math
import os

import numpy as np

from qa.dicom.attributes import raw_text, raw_us
from qa.dicom.files import header_digest
from qa.errors import InputError

NATIVE_LITTLE_ENDIAN = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})
_ENCAPSULATED_PREFIXES = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5")
_HINT_REEXPORT = "re-export the series from the scanner or PACS"
_HINT_DECODE = (
    "export the series uncompressed (or convert it, e.g. gdcmconv --raw); JPEG, JPEG-LS, "
    "JPEG 2000 and RLE decode when the pylibjpeg plugins that qa installs are present"
)


def transfer_syntax(ds) -> str | None:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    return None if ts is None else str(ts)


def pixels(ds, label: str, n_frames: int) -> np.ndarray:
    """The stored pixel values of ``ds``: (rows, columns), or (frames, rows, columns)."""
    arr = native_pixels(ds, label, n_frames)
    return arr if arr is not None else decode(ds, label, n_frames)


def native_pixels(ds, label: str, n_frames: int) -> np.ndarray | None:
    """Uncompressed little-endian 16-bit grey pixels straight from the buffer; None otherwise."""
    layout = _native_layout(ds)
    if layout is None:
        return None
    rows, cols, stored, rep = layout
    expected = rows * cols * n_frames * 2
    data = pixel_bytes(ds, label)
    _check_length(len(data), expected, label)
    arr = np.frombuffer(data, dtype="<i2" if rep else "<u2", count=rows * cols * n_frames)
    arr = arr.reshape((n_frames, rows, cols) if n_frames > 1 else (rows, cols))
    if stored < 16:
        shift = 16 - stored
        arr = np.right_shift(np.left_shift(arr, shift), shift)
    return arr


def _native_layout(ds) -> tuple[int, int, int, int] | None:
    """(rows, columns, bits stored, pixel representation) of uncompressed little-endian 16-bit grey
    pixels, which are read straight into numpy; None for anything else (pydicom's decoders)."""
    if transfer_syntax(ds) not in NATIVE_LITTLE_ENDIAN:
        return None
    if (
        raw_us(ds, "BitsAllocated") != 16
        or (raw_us(ds, "SamplesPerPixel") or 1) != 1
        or not (raw_text(ds, "PhotometricInterpretation") or "").startswith("MONOCHROME")
    ):
        return None
    rows, cols = raw_us(ds, "Rows"), raw_us(ds, "Columns")
    stored, rep = raw_us(ds, "BitsStored"), raw_us(ds, "PixelRepresentation")
    if rows is None or cols is None or stored is None or not 1 <= stored <= 16 or rep not in (0, 1):
        return None
    return rows, cols, stored, rep


def readable_in_place(ds) -> bool:
    """Can the pixels of a dataset read headers-only be read straight from its file, where the
    header scan found them (uncompressed 16-bit grey), without parsing the file again?"""
    return getattr(ds, "qa_pixels_at", None) is not None and _native_layout(ds) is not None


def _check_length(actual: int, expected: int, label: str) -> None:
    """Native pixel data must be exactly as long as Rows x Columns x frames x bytes (+1 pad byte)."""
    if actual < expected:
        raise InputError(
            label, "PixelData",
            f"pixel data is incomplete ({actual} of {expected} bytes); the file is truncated",
            hint=_HINT_REEXPORT,
        )
    if actual > expected + 1:
        raise InputError(
            label, "PixelData",
            f"holds {actual} bytes but Rows, Columns, frames and Bits Allocated describe {expected}: "
            "the image header does not match its pixel data",
            hint=_HINT_REEXPORT,
        )


def pixel_bytes(ds, label: str) -> bytes:
    """The Pixel Data bytes; a deferred element, or one a header scan stopped at (``qa_pixels_at``:
    offset and length, :mod:`qa.dicom.files`), is read straight from its file offset."""
    elem = ds.get_item(0x7FE00010, keep_deferred=True)
    if elem is None:
        at = getattr(ds, "qa_pixels_at", None)
        if at is None or not isinstance(getattr(ds, "filename", None), str):
            raise InputError(label, "PixelData", "is missing", hint=_HINT_REEXPORT)
        return _read_at(ds, label, *at)
    value = elem.value
    if value is not None:
        return value
    length = getattr(elem, "length", None)
    offset = getattr(elem, "value_tell", None)
    if not isinstance(getattr(ds, "filename", None), str) or offset is None or length in (None, 0xFFFFFFFF):
        return ds.PixelData  # let pydicom do the deferred read
    return _read_at(ds, label, offset, length)


def _read_at(ds, label: str, offset: int, length: int, header: bytes | None = None) -> bytes:
    """``length`` bytes at ``offset`` of the dataset's file, which must not have changed since its
    header was read: its modification time, and (``header``: a digest of the bytes before the
    pixel data, :func:`qa.dicom.files.header_digest`) its whole header, byte for byte."""
    path = ds.filename
    try:
        stamp = getattr(ds, "timestamp", None)
        if stamp is not None and os.stat(path).st_mtime != stamp:
            raise InputError(label, "PixelData", "the file changed while it was being read", hint="run again")
        with open(path, "rb") as fp:
            if header is not None and header_digest(fp.read(offset)) != header:
                raise InputError(label, "PixelData", "changed between the header read and the pixel read (its header is not "
                                 "the one read): the file was replaced or is still being written",
                                 hint="run again once the series is completely copied")
            fp.seek(offset)
            return fp.read(length)
    except OSError as exc:
        raise InputError(label, "PixelData", f"cannot be read ({exc})", hint="check the file's permissions") from exc


def decode(ds, label: str, n_frames: int) -> np.ndarray:
    """Decode through pydicom, with every failure turned into an InputError naming the file."""
    if getattr(ds, "qa_slim_header", False):
        # pydicom's decoder reads its fields from the header's own dict (planar configuration, offset
        # tables), where a slimmed header would answer "absent": a series found headers-only is read
        # again whole before it is decoded (qa.dicom.series.with_pixels), never decoded from that header;
        # refused before any pixel is read
        from qa.dicom.header_fields import refuse_decoding

        refuse_decoding(ds)
    from pydicom.pixels import pixel_array
    from pydicom.uid import UID

    ts = transfer_syntax(ds)
    ts_name = f"{UID(ts).name} ({ts})" if ts is not None else "an unknown transfer syntax"
    photometric = (raw_text(ds, "PhotometricInterpretation") or "MONOCHROME2").strip()
    samples = raw_us(ds, "SamplesPerPixel") or 1
    if not photometric.startswith("MONOCHROME") or samples != 1:
        raise InputError(
            label, "PhotometricInterpretation",
            f"is {photometric} with {samples} samples per pixel: not a CT grey-scale image",
            hint="pass the CT images themselves, not screen captures or colour renderings",
        )
    if ts is not None and not ts.startswith(_ENCAPSULATED_PREFIXES):
        rows, cols, bits = raw_us(ds, "Rows") or 0, raw_us(ds, "Columns") or 0, raw_us(ds, "BitsAllocated") or 0
        _check_length(len(pixel_bytes(ds, label)), math.ceil(rows * cols * n_frames * bits / 8), label)
    try:
        arr = pixel_array(ds, correct_unused_bits=True)
    except NotImplementedError as exc:
        raise InputError(
            label, "TransferSyntaxUID", f"pixel data in {ts_name} cannot be decoded here ({exc})", hint=_HINT_DECODE
        ) from exc
    except (RuntimeError, ValueError, EOFError, OSError, TypeError, AttributeError, KeyError) as exc:
        text = str(exc)
        if "less than expected" in text or "truncat" in text.lower() or isinstance(exc, EOFError):
            raise InputError(
                label, "PixelData", f"pixel data is incomplete ({text}); the file is truncated", hint=_HINT_REEXPORT
            ) from exc
        raise InputError(
            label, "PixelData", f"cannot decode pixel data in {ts_name} ({type(exc).__name__}: {text})", hint=_HINT_DECODE
        ) from exc
    return arr
