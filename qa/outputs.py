"""Output files written whole or not at all, never through a planted link, never over a file half-way.

Every file qa writes (reports, plots, CSV, JSON, synthetic DICOM, demo folders) goes through here:

* the bytes go to a new temporary file in the target's own folder, created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` under an unguessable name (a symlink or file planted there is
  never opened, never followed);
* the temporary file is flushed and ``fsync``'d, then renamed into place with ``os.replace``
  (atomic on POSIX and Windows): a reader sees the old file or the new one, never a truncated
  one, and an existing file is only ever replaced by a complete one.  A symlink at the target
  is replaced itself; what it pointed to is left alone;
* ``replace=False`` never replaces anything: the file is linked into place (``os.link`` fails
  when the name exists, atomically), for outputs that must not clobber a user's files;
* on any error the temporary file is removed, and the error (an ``OSError`` naming the target)
  is raised: nothing half-written is left behind;
* :func:`output_folder` does the same for a whole folder (a synthetic study and its files), without fsync;
* ``durable=False`` skips the ``fsync`` calls (the file still appears whole or not at all, but a
  power cut may lose it): for bulk synthetic data, tens of thousands of files that can be made again.

Imports nothing of qa: readers, writers, reports and workflows all use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
TEMP_SUFFIX = ".qa-tmp"  # temporary files end so (``.<name>.<random>.qa-tmp``); none is left after a write


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name[:80]}.{secrets.token_hex(8)}{TEMP_SUFFIX}")


def _check_target(target: Path) -> None:
    if target.name in ("", ".", ".."):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file name", str(target))
    if target.is_dir() and not target.is_symlink():
        raise IsADirectoryError(errno.EISDIR, "is a folder: give a file name", str(target))
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _naming(exc, target) from None
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise OSError(errno.EINVAL, "is a device, named pipe or socket, not a file: give a file name", str(target))


# What a file holds, from its first bytes: an existing file is only replaced by one of the same kind
# (an earlier report by a report, a plot by a plot), so that a mistyped output name can never
# destroy a DICOM image, an ECG trace or a database given to the same run.
_KINDS = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"%PDF-", "a PDF document"), (b"SQLite format 3\x00", "a SQLite database"),
          (b"PK\x03\x04", "a zip archive"))


def file_kind(head: bytes) -> str:
    """The kind of a file from its first 4 KB: a known signature, DICOM (``DICM`` at byte 128),
    HTML, other text, or binary."""
    for magic, kind in _KINDS:
        if head.startswith(magic):
            return kind
    if head[128:132] == b"DICM":
        return "a DICOM file"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:14].lower() in (b"<!doctype html",) or text[:5].lower() == b"<html":
        return "an HTML page"
    if b"\x00" in head:
        return "a binary file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not only a character cut at the end of the sample
            return "a binary file"
    return "a text file"


def _head(path: Path) -> bytes:
    with open(path, "rb") as fp:
        return fp.read(4096)


def _require_same_kind(tmp: Path, target: Path) -> None:
    """Refuse to replace an existing regular file of another kind than the new one (``_KINDS``)."""
    try:
        if not stat.S_ISREG(os.lstat(target).st_mode):
            return  # nothing there, or a link (replaced itself; what it points to is left alone)
        old = file_kind(_head(target))
    except FileNotFoundError:
        return
    new = file_kind(_head(tmp))
    if old != new:
        raise FileExistsError(errno.EEXIST, f"holds {old}, and qa would write {new} over it: qa only replaces "
                              f"a file of the kind it writes (an earlier output); give another file name", str(target))


def _open_new(path: Path, mode: int = 0o666) -> int:
    """A new file at ``path``: created here and now, never an existing file, never through a link."""
    return os.open(path, _FLAGS, mode)


def sync_folder(folder: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(tmp: Path, target: Path, replace: bool) -> None:
    if replace:
        _require_same_kind(tmp, target)
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target, follow_symlinks=False)  # fails if the name exists (file, folder or link): never clobbers
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "exists already (qa never writes over it)", str(target)) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # a file system without hard links: the check and the rename are not one step, but never follow a link
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "exists already (qa never writes over it)", str(target)) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def output_file(path: str | os.PathLike, *, replace: bool = True, make_folders: bool = True,
                durable: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: it appears complete when the block ends without
    an error, and not at all otherwise (module doc).  ``replace=False``: never over an existing name;
    ``durable=False``: no ``fsync`` (module doc)."""
    target = Path(path)
    _check_target(target)
    if not replace and os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "exists already (qa never writes over it)", str(target))
    if make_folders:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _beside(target, _open_new, "file")
    try:
        with os.fdopen(fd, "wb") as fp:
            yield fp  # type: ignore[misc]
            fp.flush()
            if durable:
                os.fsync(fp.fileno())
        _publish(tmp, target, replace)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename in (None, str(tmp)):
            raise _naming(exc, target) from None
        raise
    if durable:
        sync_folder(target.parent)



def _beside(target: Path, create, kind: str):
    """(name, what ``create`` returned) of a new temporary ``kind`` made by ``create(name)`` beside
    ``target`` under an unguessable name; a collision (or a name planted there) draws another."""
    for _ in range(16):
        tmp = _temp_name(target)
        try:
            return tmp, create(tmp)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _naming(exc, target) from None
    # pragma: no cover - 16 collisions of 64 random bits
    raise FileExistsError(errno.EEXIST, f"could not create a temporary {kind} beside it", str(target))

def _naming(exc: OSError, target: Path) -> OSError:
    """The same error, naming the file the user asked for (not our temporary one)."""
    named = OSError(exc.errno, exc.strerror or str(exc), str(target)) if exc.errno else OSError(f"{target}: {exc}")
    return named


def write_file(path: str | os.PathLike, data: bytes | str, *, replace: bool = True, make_folders: bool = True,
               durable: bool = True) -> str:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all; returns the path written."""
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with output_file(path, replace=replace, make_folders=make_folders, durable=durable) as fp:
        fp.write(payload)
    return str(path)


def create_new(path: str | os.PathLike, mode: int = 0o666) -> BinaryIO:
    """A new file opened for writing in place (a live recording that must be on disk as it grows):
    created with ``O_EXCL | O_NOFOLLOW``, so never an existing file and never through a link."""
    return os.fdopen(_open_new(Path(path), mode), "wb")


@contextlib.contextmanager
def output_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A new folder that appears whole or not at all: the block writes into a temporary folder
    beside ``path`` (created here, under an unguessable name), which is renamed to ``path`` when
    the block ends without an error and removed otherwise.  Never over an existing name (checked
    before the block and again just before the rename).  Files inside are best written with
    :func:`create_new`: the folder, not each file, is what appears at once.  Nothing is
    ``fsync``'d: for bulk synthetic data that can be made again (a power cut may lose it)."""
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise IsADirectoryError(errno.EISDIR, "is not a folder name", str(target))
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "exists already (qa never writes over it)", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp, _ = _beside(target, os.mkdir, "folder")
    try:
        yield tmp
        if os.path.lexists(target):  # rename(2) would replace an empty folder made meanwhile
            raise FileExistsError(errno.EEXIST, "exists already (qa never writes over it)", str(target))
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def new_files_in(folder: str | os.PathLike, *, taken: Callable[[Path], bool], holds: str) -> Iterator[list[Path]]:
    """A folder to add new files to (made when missing), for a synthesiser: refused when it is a
    file, or already holds ``holds`` (a file for which ``taken`` is true).  The block appends every
    file it creates to the list it is given; when the block fails (Ctrl-C included) those files,
    and the folder if it was made here, are removed: nothing half-written stays."""
    from qa.errors import InputError

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), None, "is a file, not a folder", hint="pass a folder for OUT_DIR")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    existing = [p for p in out.iterdir() if taken(p)]
    if existing:
        raise InputError(str(out), None, f"already holds {holds} ({len(existing)} files); choose an empty folder",
                         hint="pass a new OUT_DIR, or delete the old files first")
    created: list[Path] = []
    try:
        yield created
    except BaseException:
        for path in created:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def leftover_temporaries(folder: str | os.PathLike) -> list[str]:
    """Temporary files of an interrupted write in ``folder`` (for tests and for the curious)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(TEMP_SUFFIX))


class DurableFolder:
    """Many files written whole into one folder, each durable before :meth:`write` returns (a
    receiver's inbox): temporary name (``O_EXCL``, never through a link), written, data synced
    (``fdatasync``), renamed over ``name``, and the folder synced through a descriptor kept open,
    so the rename survives a power cut.  Thread-safe."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))

    def write(self, name: str, data: bytes) -> Path:
        """Write ``data`` as ``name`` (a plain file name, replacing a file of that name)."""
        if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name) or "\0" in name:
            raise IsADirectoryError(errno.EINVAL, "is not a plain file name", name)
        target = self.folder / name
        tmp = _temp_name(target)
        fd = os.open(tmp, _FLAGS, 0o640)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                (getattr(os, "fdatasync", None) or os.fsync)(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.fsync(self._fd)  # several writers' folder syncs overlap (a group commit of them measured no faster here, twice)
        return target

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
