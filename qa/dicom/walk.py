"""Finding the files under the inputs: folders walked (iteratively, links to folders followed once),
zip files listed member by member and refused before extraction when they could be zip bombs.

Named pipes, devices and sockets are listed as skipped, never opened; a folder that cannot be
listed refuses the input (its files would otherwise be left out silently).
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import InputError, UsageError
from qa.records.inputs import SkippedFile

# Zip bombs: a zip whose members declare more than MAX_ZIP_TOTAL_BYTES in all, or more than
# MAX_ZIP_TOTAL_RATIO times the zip's own size, is refused before anything is extracted (real CT
# series compress 2-5 fold); the ratio rule applies above _ZIP_RATIO_MIN_BYTES, where it can matter.
MAX_ZIP_TOTAL_BYTES = 1024**3
MAX_ZIP_TOTAL_RATIO = 100.0
_ZIP_RATIO_MIN_BYTES = 1024**2
MAX_ZIP_MEMBERS = 100_000
# A member that expands this much on its own is refused whatever the total.
MAX_ZIP_RATIO = 200.0


@dataclass(frozen=True)
class Source:
    """One input file: on disk, or a member of a zip file."""

    label: str  # what messages show: a path, or archive.zip!member
    path: str | None = None
    archive: str | None = None
    member: str | None = None
    declared_bytes: int | None = None  # a zip member's size as its archive declares it


@dataclass(frozen=True)
class FoundInputs:
    """The files to read under the inputs, and those skipped without being opened."""

    sources: tuple[Source, ...]
    skipped: tuple[SkippedFile, ...] = field(default=())


def expand_inputs(inputs: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Source]:
    """Every readable file under ``inputs`` (see :func:`find_inputs`, which also lists the skipped ones)."""
    return list(find_inputs(inputs).sources)


def find_inputs(inputs: Sequence[str | os.PathLike] | str | os.PathLike, *, skip_damaged_zips: bool = False) -> FoundInputs:
    """Every file under ``inputs`` (folders recursively, zip files member by member), each once;
    special files (pipes, devices, sockets), broken links and link loops listed as skipped.

    A damaged zip is refused (one exam or series must be read whole), unless ``skip_damaged_zips``
    (``qa ingest``, which reads many studies: the zip is listed as skipped, the rest is read)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise UsageError("no input given", hint="pass a folder, a zip file or DICOM files")
    walk = _Walk(skip_damaged_zips)
    for item in inputs:
        path = os.fspath(item)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if os.path.islink(path):
                reason, damaged = _broken_link(path)
                walk.skip(path, reason, damaged=damaged)
                continue
            raise InputError(str(item), None, "no such file or folder", hint="check the path") from None
        except OSError as exc:
            raise InputError(str(item), None, f"cannot be examined ({exc.strerror})",
                             hint="check the path and its permissions") from exc
        if stat.S_ISDIR(st.st_mode):
            walk.folder(path)
        else:
            walk.entry(path, st)
    return FoundInputs(tuple(walk.sources), tuple(walk.skipped))


class _Walk:
    """An iterative walk (no recursion limit) that follows links to folders once each."""

    def __init__(self, skip_damaged_zips: bool = False) -> None:
        self.skip_damaged_zips = skip_damaged_zips
        self.sources: list[Source] = []
        self.skipped: list[SkippedFile] = []
        self._seen_files: set[tuple[int, int]] = set()
        self._seen_folders: set[tuple[int, int]] = set()

    def skip(self, label: str, reason: str, *, damaged: bool = False) -> None:
        self.skipped.append(SkippedFile.of(label, reason, damaged=damaged))

    def folder(self, top: str) -> None:
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder)
                with os.scandir(folder) as it:
                    names = sorted(e.name for e in it)
            except OSError as exc:
                raise InputError(
                    folder, None, f"folder cannot be read ({exc.strerror}): the files in it would be left out",
                    hint="give read access to the folder, or remove it from the input",
                ) from exc
            key = (st.st_dev, st.st_ino)
            if key in self._seen_folders:
                self.skip(folder, "a folder already read (a symbolic link loop or a second link to it)")
                continue
            self._seen_folders.add(key)
            subfolders = []
            for name in names:
                path = os.path.join(folder, name)
                try:
                    est = os.stat(path)
                except OSError as exc:
                    if os.path.islink(path):
                        reason, damaged = _broken_link(path)
                        self.skip(path, reason, damaged=damaged)
                    else:
                        self.skip(path, f"cannot be examined ({exc.strerror})", damaged=True)
                    continue
                if stat.S_ISDIR(est.st_mode):
                    subfolders.append(path)
                else:
                    self.entry(path, est)
            stack.extend(reversed(subfolders))

    def entry(self, path: str, st: os.stat_result) -> None:
        kind = special_kind(st.st_mode)
        if kind is not None:
            self.skip(path, f"a {kind}, not a file: never opened")
            return
        key = (st.st_dev, st.st_ino)
        if key in self._seen_files:
            return  # the same file reached twice (listed twice, or a link): read once
        self._seen_files.add(key)
        if path.lower().endswith(".zip"):
            if not _is_zip(path) and self.skip_damaged_zips:
                self.skip(path, "a damaged zip file (no zip directory found: truncated or not a zip): its files cannot be read",
                          damaged=True)
                return
            if not _is_zip(path):
                raise InputError(path, None, "is a damaged zip file (no zip directory found: truncated or not a zip); "
                                             "the files in it cannot be read",
                                 hint="copy or download the zip again, or pass the unzipped folder")
            self.sources.extend(_zip_sources(Path(path)))
        else:
            self.sources.append(Source(label=path, path=path))


# Names that say "DICOM" (or nothing): such a file that cannot be read as DICOM is damaged, not foreign.
_DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima"})
# Extension-less files that CD/DVD exports put next to images and that are not DICOM.
_KNOWN_NON_DICOM = frozenset({"readme", "license", "licence", "version", "lockfile", "autorun", "copying", "notice"})


def dicom_like_name(name: str) -> bool:
    """Whether a file name says "DICOM" (a DICOM suffix, no suffix, or a UID-like name)."""
    stem, suffix = os.path.splitext(name)
    return not name.startswith(".") and (
        suffix.lower() in _DICOM_SUFFIXES
        or (suffix == "" and name.lower() not in _KNOWN_NON_DICOM)
        or (suffix[1:].isdigit() and stem != "")  # UID-like names: 1.2.840.113619.2.55.3.123
    )


def _broken_link(path: str) -> tuple[str, bool]:
    """The reason a dangling symbolic link is skipped, and whether it is damaged (a DICOM-like name:
    the series it belongs to would be read without it)."""
    return "a broken symbolic link (its target is missing)", dicom_like_name(os.path.basename(path))


def special_kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _is_zip(path: str) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except OSError as exc:
        raise InputError(path, None, f"cannot be read ({exc.strerror})", hint="check the file's permissions") from exc


def _zip_sources(archive: Path) -> list[Source]:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
        zip_bytes = archive.stat().st_size
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(str(archive), None, f"cannot open zip file ({exc})", hint="check that the zip is complete") from exc
    hint = "unzip the archive yourself if you trust it, and pass the folder"
    if len(infos) > MAX_ZIP_MEMBERS:
        raise InputError(str(archive), None, f"zip file holds {len(infos)} files (more than {MAX_ZIP_MEMBERS}): refused", hint=hint)
    declared = sum(i.file_size for i in infos)
    if declared > MAX_ZIP_TOTAL_BYTES:
        raise InputError(
            str(archive), None,
            f"zip members declare {declared / 1024**3:.1f} GiB in all (more than {MAX_ZIP_TOTAL_BYTES / 1024**3:g} GiB): "
            "refused before extraction as a possible zip bomb", hint=hint,
        )
    if declared > _ZIP_RATIO_MIN_BYTES and declared > MAX_ZIP_TOTAL_RATIO * max(zip_bytes, 1):
        raise InputError(
            str(archive), None,
            f"zip members declare {declared / max(zip_bytes, 1):.0f} times the zip's own size (more than "
            f"{MAX_ZIP_TOTAL_RATIO:g} times): refused before extraction as a possible zip bomb", hint=hint,
        )
    out = []
    for info in sorted(infos, key=lambda i: i.filename):
        label = f"{archive}!{info.filename}"
        if info.file_size > _ZIP_RATIO_MIN_BYTES and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise InputError(
                label, None,
                f"zip member expands {info.file_size / max(info.compress_size, 1):.0f}-fold: refused as a possible zip bomb",
                hint=hint,
            )
        out.append(Source(label=label, archive=str(archive), member=info.filename, declared_bytes=info.file_size))
    return out
