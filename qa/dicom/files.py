"""Finding DICOM files in folders, zip files and file lists, and reading their headers once.

Files are recognised by content, not by name: a DICOM Part 10 file has 'DICM' at byte 128; a
bare dataset without the preamble is recognised by its first element.  Zip members are copied to
a private temporary folder (never extracted under their own names) so that pixel data can be
read lazily, like that of ordinary files.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InputError, UsageError

# Elements larger than this are read only when used (pixel data, big private blocks).
DEFER_BYTES = 16 * 1024
# Zip members larger than this, or compressed suspiciously well, are refused.
MAX_ZIP_MEMBER_BYTES = 2 * 1024**3
MAX_ZIP_RATIO = 200.0
_ZIP_RATIO_MIN_BYTES = 64 * 1024**2

# Value representations that can follow a tag in an explicit-VR dataset.
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)


@dataclass(frozen=True)
class Source:
    """One input file: on disk, or a member of a zip file."""

    label: str  # what messages show: a path, or archive.zip!member
    path: str | None = None
    archive: str | None = None
    member: str | None = None


def expand_inputs(inputs: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Source]:
    """Every file under ``inputs`` (folders recursively, zip files member by member), each once."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise UsageError("no input given", hint="pass a folder, a zip file or DICOM files")
    sources: list[Source] = []
    seen: set[str] = set()

    def add(src: Source, key: str) -> None:
        if key not in seen:
            seen.add(key)
            sources.append(src)

    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise InputError(str(item), None, "no such file or folder", hint="check the path")
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    fp = os.path.join(root, name)
                    if name.lower().endswith(".zip") and zipfile.is_zipfile(fp):
                        for s in _zip_sources(Path(fp)):
                            add(s, s.label)
                    else:
                        add(Source(label=fp, path=fp), os.path.abspath(fp))
        elif p.suffix.lower() == ".zip" and zipfile.is_zipfile(p):
            for s in _zip_sources(p):
                add(s, s.label)
        else:
            add(Source(label=str(p), path=str(p)), os.path.abspath(p))
    return sources


def _zip_sources(archive: Path) -> list[Source]:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(str(archive), None, f"cannot open zip file ({exc})", hint="check that the zip is complete") from exc
    out = []
    for info in sorted(infos, key=lambda i: i.filename):
        label = f"{archive}!{info.filename}"
        if info.file_size > MAX_ZIP_MEMBER_BYTES:
            raise InputError(
                label, None, f"zip member is {info.file_size / 1e9:.1f} GB, too large to read",
                hint="unzip the archive and pass the folder",
            )
        if info.file_size > _ZIP_RATIO_MIN_BYTES and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise InputError(
                label, None,
                f"zip member expands {info.file_size / max(info.compress_size, 1):.0f}-fold: refused as a possible zip bomb",
                hint="unzip the archive yourself if you trust it, and pass the folder",
            )
        out.append(Source(label=label, archive=str(archive), member=info.filename))
    return out


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

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        for archive in self._archives.values():
            archive.close()
        self._archives.clear()

    def read(self, src: Source):
        """The dataset of ``src`` with pixel data deferred (or not read at all when ``headers_only``),
        or None when it is not DICOM."""
        if src.path is not None:
            return _read_file(src.path, src.label, self.headers_only)
        path = self._spool(src)
        return None if path is None else _read_file(path, src.label, self.headers_only)

    def _spool(self, src: Source) -> str | None:
        archive = self._archives.get(src.archive)  # type: ignore[arg-type]
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
                with open(path, "wb") as out:
                    out.write(head)
                    copied = len(head) + _copy_limited(member, out, MAX_ZIP_MEMBER_BYTES - len(head))
            if copied > MAX_ZIP_MEMBER_BYTES:
                raise InputError(src.label, None, "zip member is too large to read", hint="unzip the archive and pass the folder")
            return path
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(src.label, None, f"cannot be read from the zip file ({exc})", hint="check that the zip is complete") from exc


def _copy_limited(src, dst, limit: int) -> int:
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


def _read_file(path: str, label: str, headers_only: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with open(path, "rb") as fp:
            head = fp.read(132)
            if len(head) >= 132 and head[128:132] == b"DICM":
                fp.seek(0)
                if headers_only:
                    return pydicom.dcmread(fp, stop_before_pixels=True)
                return pydicom.dcmread(fp, defer_size=DEFER_BYTES)
            if not _looks_like_bare_dataset(head):
                return None  # not DICOM
            fp.seek(0)
            ds = (pydicom.dcmread(fp, stop_before_pixels=True, force=True) if headers_only
                  else pydicom.dcmread(fp, defer_size=DEFER_BYTES, force=True))
            if "SOPClassUID" not in ds:
                return None
            _note_transfer_syntax(ds)
            return ds
    except InvalidDicomError:
        return None
    except OSError as exc:
        raise InputError(label, None, f"cannot be read ({exc})", hint="check the file's permissions") from exc
    except Exception as exc:  # pydicom raises many kinds of errors on corrupt files
        raise InputError(
            label, None,
            f"is not a readable DICOM file ({type(exc).__name__}: {exc}); it may be truncated or corrupt",
            hint="re-export the file from the scanner or PACS, or remove it from the input",
        ) from exc



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
