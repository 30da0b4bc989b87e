"""Finding DICOM files in folders, zip files and file lists, and reading their headers once.

Files are recognised by content, not by name: a DICOM Part 10 file has 'DICM' at byte 128; a
bare dataset without the preamble is recognised by its first element.  Zip members are copied to
a private temporary folder (never extracted under their own names) so that pixel data can be
read lazily, like that of ordinary files.

Nothing is left out silently (:mod:`qa.records.inputs`): every file found is read or listed as
skipped with its reason.  Named pipes, devices and sockets are listed, never opened; a folder
that cannot be listed refuses the input; symbolic links to folders are followed once (a loop is
listed, never walked again).  A file that looks like a DICOM file but cannot be read as one
(empty, too short for a DICOM header, named ``.dcm``/``.ima`` or without extension) is listed as
*damaged*: the series readers refuse a series with such a file among its files.
Reads are bounded: parsing stops after the pixel data (trailing bytes are never parsed), and a
zip is refused before anything is extracted when its members' declared sizes are too large
(:mod:`qa.dicom.walk` finds the files and checks the zips).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass

from qa.dicom import value_warnings
from qa.dicom.walk import MAX_ZIP_TOTAL_BYTES, dicom_like_name, FoundInputs, Source, expand_inputs, find_inputs, special_kind
from qa.outputs import create_new
from qa.errors import InputError
from qa.records.inputs import SkippedFile

__all__ = ["DEFER_BYTES", "FoundInputs", "Reader", "Source", "expand_inputs", "find_inputs", "peek", "read_image", "read_whole"]

# Elements larger than this are read only when used (pixel data, big private blocks).
DEFER_BYTES = 16 * 1024
# Value representations that can follow a tag in an explicit-VR dataset.
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR UT UV".split()
)
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
# Explicit VRs whose element header has a 4-byte length after 2 reserved bytes (PS3.5 7.1.2, table 7.1-1).
_LONG_LENGTH_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_DEFLATED = "1.2.840.10008.1.2.1.99"


class Reader:
    """Reads headers (pixel data deferred) of :class:`Source` files; a context manager.

    Zip members are copied into a temporary folder that lives as long as this reader's
    ``workdir`` object is referenced (series found in them keep a reference).
    """

    def __init__(self, *, headers_only: bool = False) -> None:
        self.headers_only = headers_only  # stop before the pixel data (header checks need no pixels)
        self._archives: dict[str, zipfile.ZipFile] = {}
        self.workdir: tempfile.TemporaryDirectory | None = None
        self._n_spooled = 0
        self._spooled_bytes = 0

    def __enter__(self) -> "Reader":
        self._reading = value_warnings.reading(None)  # each file examined is the one whose values are read (until the next)
        self._reading.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._reading.__exit__(*exc)
        for archive in self._archives.values():
            archive.close()
        self._archives.clear()

    def read(self, src: Source):
        """The dataset of ``src`` with pixel data deferred (or not read at all when ``headers_only``),
        or None when it is not DICOM."""
        found = self.examine(src)
        return None if isinstance(found, SkippedFile) else found

    def examine(self, src: Source):
        """The dataset of ``src``, or a :class:`SkippedFile` saying why it is not read (not DICOM,
        or damaged: it looks like a DICOM file but cannot be read as one).  The values read next are
        this file's, for pydicom's warnings about them (:mod:`qa.dicom.value_warnings`)."""
        value_warnings.now_reading(src.label)
        if src.path is not None:
            found = _read_file(src.path, src.label, self.headers_only)
        else:
            path = self._spool(src)
            found = _NotDicom(src.declared_bytes or 0, b"") if path is None else _read_file(path, src.label, self.headers_only)
        if isinstance(found, _NotDicom):
            return _classify(src.label, found)
        return found

    def _spool(self, src: Source) -> str | None:
        archive = self._archives.get(src.archive)  # type: ignore[arg-type]
        hint = "check that the zip is complete"
        try:
            if archive is None:
                archive = self._archives[src.archive] = zipfile.ZipFile(src.archive)  # type: ignore[index, arg-type]
            with archive.open(src.member) as member:  # type: ignore[arg-type]
                head = member.read(132)
                if not _looks_like_dicom(head):
                    return None
                if self.workdir is None:
                    self.workdir = tempfile.TemporaryDirectory(prefix="qa-zip-")
                self._n_spooled += 1
                # Our own file name: nothing from the archive reaches the file system.
                path = os.path.join(self.workdir.name, f"{self._n_spooled:08d}.dcm")
                declared = src.declared_bytes if src.declared_bytes is not None else MAX_ZIP_TOTAL_BYTES
                limit = min(declared, MAX_ZIP_TOTAL_BYTES - self._spooled_bytes)
                with create_new(path, 0o600) as out:
                    out.write(head)
                    copied = len(head) + _copy_limited(member, out, limit - len(head))
            if copied > limit:
                os.unlink(path)
                raise InputError(src.label, None,
                                 "zip member expands beyond its declared size (or the zip beyond "
                                 f"{MAX_ZIP_TOTAL_BYTES / 1024**3:g} GiB): extraction stopped, refused as a possible zip bomb",
                                 hint="unzip the archive yourself if you trust it, and pass the folder")
            self._spooled_bytes += copied
            return path
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(src.label, None, f"cannot be read from the zip file ({exc})", hint=hint) from exc


def _copy_limited(src, dst, limit: int) -> int:
    """Copy until the end or until more than ``limit`` bytes came (the bytes beyond are not written)."""
    copied = 0
    while True:
        chunk = src.read(1 << 20)
        if not chunk:
            return copied
        copied += len(chunk)
        if copied > limit:
            return copied
        dst.write(chunk)


def _looks_like_dicom(head: bytes) -> bool:
    return (len(head) >= 132 and head[128:132] == b"DICM") or _looks_like_bare_dataset(head)


def _looks_like_bare_dataset(head: bytes) -> bool:
    """A dataset without preamble: starts with a group 0002 or 0008 element, explicit or implicit VR."""
    if len(head) < 8:
        return False
    group = int.from_bytes(head[0:2], "little")
    element = int.from_bytes(head[2:4], "little")
    if group not in (0x0002, 0x0008) or element > 0x0020:
        return False
    if head[4:6] in _VRS:
        return True
    length = int.from_bytes(head[4:8], "little")
    return 0 < length < 1024


@dataclass(frozen=True)
class _NotDicom:
    """A file not recognised as DICOM: its size and first bytes (to tell damaged from foreign)."""

    size: int
    head: bytes


def _classify(label: str, found: _NotDicom) -> SkippedFile:
    """Why a file that is not DICOM is skipped, and whether it looks like a damaged DICOM file."""
    from qa.records.inputs import name_of

    dicom_named = dicom_like_name(name_of(label))
    if found.size == 0:
        return SkippedFile.of(label, "an empty file", damaged=dicom_named)
    if found.size < 132 and dicom_named:
        return SkippedFile.of(label, f"too short for a DICOM header ({found.size} bytes): truncated", damaged=True)
    if dicom_named:
        return SkippedFile.of(label, "named like a DICOM file but not readable as one (no 'DICM' marker, no dataset)",
                              damaged=True)
    return SkippedFile.of(label, "not a DICOM file")


def _open_regular(path: str, label: str):
    """Open ``path`` for reading only if it is a regular file (a pipe or device is never waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError(label, None, f"cannot be read ({exc.strerror})", hint="check the file's permissions") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InputError(label, None, f"is a {special_kind(st.st_mode)}, not a file", hint="pass regular files")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), st.st_size


class _StopRule:
    """Where parsing a dataset stops: after the pixel data (before it with ``headers_only``), or at a
    tag that does not follow the one before (DICOM tags ascend: what follows is not a dataset)."""

    def __init__(self, headers_only: bool) -> None:
        self.headers_only = headers_only
        self.last = -1
        self.out_of_order: int | None = None  # the tag that did not ascend, before any pixel data
        self.reached_pixels = False  # headers only: the parse stopped at pixel data (the header is whole)

    def __call__(self, tag, vr, length) -> bool:
        tag = int(tag)
        if self.last < tag < 0x7FE00008:  # the common case: ascending, before any pixel data
            self.last = tag
            return False
        if self.headers_only and tag in _PIXEL_TAGS:
            self.reached_pixels = True
            return True
        if self.last in _PIXEL_TAGS:
            return True
        if tag <= self.last:
            self.out_of_order = tag
            return True
        self.last = tag
        return False


def peek(src: Source, last_tag: int):
    """The first elements of ``src`` (up to and including ``last_tag``; nothing after it is parsed,
    values are not decoded), or a :class:`SkippedFile` when it is not DICOM; an unreadable file
    raises :class:`InputError`.  ``qa_ended_before`` on the dataset: the file ended before an
    element beyond ``last_tag`` (a file cut short, when an element up to ``last_tag`` is missing).  For indexing many files cheaply (which study, which object)
    before they are read in full.  A zip member is read whole through a :class:`Reader`."""
    from pydicom.errors import InvalidDicomError
    from pydicom.filereader import read_partial

    if src.path is None:
        with Reader(headers_only=True) as reader:
            return reader.examine(src)
    fp, size = _open_regular(src.path, src.label)
    try:
        with fp:
            head = fp.read(132)
            part10 = len(head) >= 132 and head[128:132] == b"DICM"
            if not part10 and not _looks_like_bare_dataset(head):
                return _classify(src.label, _NotDicom(size, head))
            fp.seek(0)
            ds = read_partial(fp, lambda tag, vr, length: int(tag) > last_tag, defer_size=None, force=not part10)
            ds.qa_ended_before = fp.tell() >= size  # the file ended before any element beyond last_tag: cut short?
    except InvalidDicomError:
        return _classify(src.label, _NotDicom(size, b""))
    except OSError as exc:
        raise InputError(src.label, None, f"cannot be read ({exc})", hint="check the file's permissions") from exc
    except Exception as exc:  # pydicom raises many kinds of errors on corrupt files
        raise InputError(src.label, None, f"is not a readable DICOM file ({type(exc).__name__}: {exc}); it may be truncated "
                         "or corrupt", hint="re-export the file from the scanner or PACS, or remove it from the input") from exc
    if not part10 and "SOPClassUID" not in ds:
        return _classify(src.label, _NotDicom(size, head))
    return ds


def read_whole(path: str, label: str | None = None):
    """Every element of the DICOM file ``path`` read now (nothing deferred), parsed as boundedly as
    the headers are (a regular file only; nothing after the pixel data or past the dataset's end);
    None when it is not DICOM.  For objects read entirely at once (ECG waveforms)."""
    found = _read_file(str(path), label or str(path), defer=False)
    return None if isinstance(found, _NotDicom) else found


def read_image(path: str, label: str):
    """The dataset of ``path`` with its pixel data (deferred), read as :class:`Reader` reads an image;
    None when it is no longer DICOM.  For a file first read headers-only whose pixels are now needed."""
    found = _read_file(str(path), label)
    return None if isinstance(found, _NotDicom) else found


def _read_file(path: str, label: str, headers_only: bool = False, *, defer: bool = True):
    """The dataset of ``path``, a :class:`_NotDicom`, or an InputError (unreadable, corrupt, truncated)."""
    from pydicom.errors import InvalidDicomError

    fp, size = _open_regular(path, label)
    try:
        with fp:
            head = fp.read(_FIRST_READ_BYTES)
            part10 = len(head) >= 132 and head[128:132] == b"DICM"
            if not part10 and not _looks_like_bare_dataset(head):
                return _NotDicom(size, head[:132])
            ds, rule, source = _parse(fp, head, headers_only, None if headers_only or not defer else DEFER_BYTES, part10)
            # Deferred values are read again by path, never through the (closed) descriptor's number.
            ds.filename, ds.fileobj_type, ds.buffer = path, open, None
            ds.timestamp = os.fstat(fp.fileno()).st_mtime
            _require_parsable(ds, label)
            if rule.out_of_order is not None and "Rows" in ds:  # an image cut short by disordered elements
                raise InputError(label, f"({rule.out_of_order >> 16:04X},{rule.out_of_order & 0xFFFF:04X})",
                                 f"element out of order after ({rule.last >> 16:04X},{rule.last & 0xFFFF:04X}) before the "
                                 "pixel data: the file is corrupt (DICOM elements ascend by tag)",
                                 hint="re-export the file from the scanner or PACS, or remove it from the input")
            if headers_only and _transfer_syntax(ds) != _DEFLATED:
                # where the pixel data lie in the file: read from there when an analysis needs them (qa.dicom.pixels)
                ds.qa_pixels_at = _pixel_data_at(source, size, ds, label)
            if headers_only:
                ds.qa_pixels_absent = not rule.reached_pixels  # a CT image without them is cut short (qa.dicom.series)
            if not part10:
                if "SOPClassUID" not in ds:
                    return _NotDicom(size, head[:132])
                _note_transfer_syntax(ds)
            return ds
    except InvalidDicomError:
        return _NotDicom(size, b"")
    except InputError:
        raise
    except OSError as exc:
        raise InputError(label, None, f"cannot be read ({exc})", hint="check the file's permissions") from exc
    except Exception as exc:  # pydicom raises many kinds of errors on corrupt files
        raise InputError(
            label, None,
            f"is not a readable DICOM file ({type(exc).__name__}: {exc}); it may be truncated or corrupt",
            hint="re-export the file from the scanner or PACS, or remove it from the input",
        ) from exc


# Bytes read at once when a file is opened: a whole small file, or the header of a large one (an
# image's header is a few kB).  Parsing from memory is faster than from the file (pydicom reads
# each element header separately).
_FIRST_READ_BYTES = 64 * 1024


def _parse(fp, head: bytes, headers_only: bool, defer_size: int | None, part10: bool):
    """(dataset, stop rule, what it was parsed from): from ``head`` (the file's first bytes) when
    they hold the whole file, or (headers only) the whole header; else from the file itself."""
    import io

    from pydicom.filereader import read_partial

    whole = len(head) < _FIRST_READ_BYTES  # the first read reached the end of the file
    if whole or headers_only:
        rule, buffer = _StopRule(headers_only), io.BytesIO(head)
        try:
            ds = read_partial(buffer, rule, defer_size=defer_size, force=not part10)
        except Exception:
            if whole:
                raise
            ds = None  # perhaps an element cut by the end of the bytes read: the file decides
        if ds is not None and (whole or rule.reached_pixels or rule.out_of_order is not None):
            return ds, rule, buffer  # the parse ended where the file's would (not at the end of the bytes read)
    fp.seek(0)
    rule = _StopRule(headers_only)
    return read_partial(fp, rule, defer_size=defer_size, force=not part10), rule, fp


# Text VRs (DS and IS included): pydicom decodes them without raising (an unknown character set,
# a bad byte or a malformed number is a warning in its reading mode), so the check below leaves
# them raw: decoding them all was most of the cost of reading a header.
_TEXT_VRS = frozenset("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
# Binary VRs of fixed item size (PS3.5 6.2): a value whose length is not a multiple cannot be decoded.
_BINARY_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4, "SV": 8, "UV": 8, "OW": 2, "OF": 4, "OD": 8,
                 "OL": 4, "OV": 8}


def _require_parsable(ds, label: str) -> None:
    """Decode every element read (nested sequences too; deferred ones and pixel data are left for
    their reader) so that an unknown VR or a malformed value is refused here, with the file and the
    element named, and not met later as pydicom's NotImplementedError, KeyError or ValueError.
    Text values (which decode without failing) are left raw and binary numbers are checked by their
    length; the other VRs (sequences, unknown VRs, ...) are converted as the readers would convert
    them when used (``dataset[tag]``), and the conversion is kept: a sequence is parsed once."""
    from pydicom.dataelem import RawDataElement

    text_vrs, binary_sizes, pixel_tags = _TEXT_VRS, _BINARY_SIZES, _PIXEL_TAGS
    stack = [ds]
    while stack:
        dataset = stack.pop()
        for tag, elem in list(dataset.items()):
            vr = elem.VR
            if vr in text_vrs or (vr is None and _dictionary_vr(int(tag)) in text_vrs):
                continue  # (no VR: implicit VR, decoded by the dictionary's)
            if type(elem) is RawDataElement:
                value = elem.value
                if value is None or int(tag) in pixel_tags:
                    continue  # a deferred value, or pixel data: read (and decoded) only when used, by their readers
                size = binary_sizes.get(vr)
                if size is not None:
                    if len(value) % size == 0:
                        continue
                    raise InputError(label, _where(tag), f"cannot be decoded ({len(value)} bytes are not a whole number of "
                                     f"{vr} values): the file is corrupt",
                                     hint="re-export the file from the scanner or PACS, or remove it from the input")
                try:
                    elem = dataset[tag]
                except Exception as exc:  # pydicom: NotImplementedError (unknown VR), KeyError, ValueError, ...
                    raise InputError(label, _where(tag), f"cannot be decoded ({type(exc).__name__}: {exc}): the file is corrupt",
                                     hint="re-export the file from the scanner or PACS, or remove it from the input") from exc
            if elem.VR == "SQ" and elem.value is not None:
                stack.extend(elem.value)


@functools.lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str | None:
    """The VR that pydicom gives an element read without one (implicit VR); None when it has none."""
    from pydicom.datadict import dictionary_VR

    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def _where(tag) -> str:
    return f"({int(tag) >> 16:04X},{int(tag) & 0xFFFF:04X})"


def _transfer_syntax(ds) -> str | None:
    meta = getattr(ds, "file_meta", None)
    return None if meta is None else (str(meta.get("TransferSyntaxUID", "")) or None)


def _pixel_data_at(fp, size: int, ds, label: str) -> tuple[int, int, bytes] | None:
    """Headers only: the pixel data element the parse stopped at must fit in the file (a truncated
    image is refused here too, not only when its pixels are decoded).  Returns (file offset, length)
    of the Pixel Data value when it has a defined length, with a digest of every byte before it
    (parsed from memory only), else None: :func:`qa.dicom.pixels.pixel_bytes` reads the pixels
    there later, and refuses them unless the bytes before them are still the header read now."""
    start = fp.tell()  # the parse stopped at the element's start (pydicom rewinds to it); the head starts at offset 0
    header = fp.read(12)
    if len(header) < 8:
        return None
    implicit, little = ds.original_encoding
    order = "little" if little is not False else "big"
    tag = int.from_bytes(header[0:2], order) << 16 | int.from_bytes(header[2:4], order)
    if tag not in _PIXEL_TAGS:
        return None
    vr = None if implicit else header[4:6]
    if implicit:
        length, offset = int.from_bytes(header[4:8], order), 8
    elif vr in _LONG_LENGTH_VRS and len(header) == 12:
        length, offset = int.from_bytes(header[8:12], order), 12
    elif vr not in _LONG_LENGTH_VRS:  # a (malformed) short VR: a 2-byte length, as pydicom reads it
        length, offset = int.from_bytes(header[6:8], order), 8
    else:
        return None
    if length == 0xFFFFFFFF:
        return None  # encapsulated (compressed) frames: read through pydicom
    if start + offset + length > size:
        raise InputError(label, "PixelData",
                         f"pixel data is incomplete ({max(size - start - offset, 0)} of {length} bytes); the file is truncated",
                         hint="re-export the series from the scanner or PACS")
    if tag != 0x7FE00010 or not isinstance(fp, io.BytesIO) or vr not in (None, b"OB", b"OW"):
        return None  # in place only for Pixel Data as DICOM encodes it (PS3.5 8.2); anything else is parsed again
    with fp.getbuffer() as buffer:
        return start + offset, length, header_digest(buffer[:start + offset])


def header_digest(header) -> bytes:
    """A digest of a file's bytes before its pixel data (its whole header: SOP Instance UID, position,
    rescale, ...): the same header read again, or not."""
    return hashlib.blake2b(header, digest_size=16).digest()


def _note_transfer_syntax(ds) -> None:
    """A bare dataset has no file meta: record the encoding pydicom found as its transfer syntax."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import (
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" in ds.file_meta:
        return
    implicit, little = ds.original_encoding
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
