"""A folder one qa command writes whole, and may empty on its next run (``qa demo``, ``qa synth exams``).

The command marks the folder (a marker file holding "written by <command>") before it writes, and
lists every file it wrote in a manifest when it is done.  The next run empties the folder only
when everything checks out, before anything is deleted: the folder is not a symlink, not the root,
the home folder or a folder holding it; its marker is a regular file with the command's text; it
holds only what the command writes, at every depth (its manifest lists each file; without one, a
run that did not finish, nothing below the top level is known to be the command's).  Otherwise
nothing is touched and the run is refused (``UsageError``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from qa.errors import UsageError
from qa.outputs import write_file


def _nothing(name: str) -> bool:
    return False


@dataclass(frozen=True)
class OwnedFolder:
    """The folder policy of one command (module doc)."""

    command: str  # "qa demo"
    marker: str  # ".qa-demo"
    manifest: str  # ".qa-demo-files"
    option: str  # how the user names the folder, for the hint: "--out", "OUT_DIR"
    writes: Callable[[str], bool]  # the top-level names the command writes
    unlisted: Callable[[str], bool] = _nothing  # top-level names that may be there without being listed (database journals)

    @property
    def marker_text(self) -> str:
        return f"written by {self.command}\n"

    def prepare(self, out_dir: str | os.PathLike) -> None:
        """An empty, marked folder; an earlier run's folder is emptied (module doc)."""
        out_dir = Path(out_dir)
        hint = f"choose another {self.option} folder (a new or empty one)"
        if out_dir.is_symlink():
            raise UsageError(f"{out_dir} is a symbolic link: {self.command} writes only into a real folder", hint=hint)
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"{out_dir} is a file, not a folder", hint=hint)
        resolved = out_dir.resolve()
        home = Path.home().resolve()
        if resolved == Path(resolved.anchor) or home.is_relative_to(resolved):
            raise UsageError(f"{out_dir} is the root or the home folder (or holds it): {self.command} never writes there", hint=hint)
        if out_dir.exists():
            children = list(out_dir.iterdir())
            if children:
                marker = out_dir / self.marker
                if marker.is_symlink() or not marker.is_file() or not self._is_marker(marker):
                    raise UsageError(f"{out_dir} exists, is not empty and was not written by {self.command}: nothing was deleted",
                                     hint=hint)
                if Path.cwd().resolve().is_relative_to(resolved):
                    raise UsageError(f"{out_dir} is the current folder (or holds it): {self.command} does not empty it", hint=hint)
                foreign = sorted(c.name for c in children if not self._wrote(c.name)) or self._not_in_manifest(out_dir)
                if foreign:
                    raise UsageError(f"{out_dir} holds files that {self.command} did not write ({', '.join(foreign[:5])}"
                                     f"{', ...' if len(foreign) > 5 else ''}): nothing was deleted", hint=hint)
                for child in children:  # only what the command writes; links are removed, never followed
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        out_dir.mkdir(parents=True, exist_ok=True)
        write_file(out_dir / self.marker, self.marker_text)

    def write_manifest(self, out_dir: str | os.PathLike) -> None:
        """List every file the command wrote (for the next run's check)."""
        out = Path(out_dir)
        written = []
        for root, dirs, files in os.walk(out, followlinks=False):
            base = Path(root).relative_to(out)
            written += [(base / name).as_posix() for name in files if not (root == str(out) and name in (self.marker, self.manifest))]
        write_file(out / self.manifest, "".join(f"{name}\n" for name in sorted(written)))

    def discard(self, out_dir: str | os.PathLike, *, made: bool) -> None:
        """Remove what a failed run wrote into its prepared folder (and the folder, when the run made it)."""
        out = Path(out_dir)
        with contextlib.suppress(OSError):
            for child in out.iterdir():
                if self._wrote(child.name) or child.name in (self.marker, self.manifest):
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()

    def _wrote(self, name: str) -> bool:
        return name in (self.marker, self.manifest) or self.writes(name) or self.unlisted(name)

    def _is_marker(self, path: Path) -> bool:
        try:
            with open(path, "rb") as fp:
                return fp.read(len(self.marker_text) + 1) == self.marker_text.encode()
        except OSError:
            return False

    def _not_in_manifest(self, out_dir: Path) -> list[str]:
        """What an earlier run's folder holds that the command did not write, at any depth (links are
        listed, never followed); without a manifest its sub-folders are foreign as a whole."""
        try:
            listed = set((out_dir / self.manifest).read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError):
            return sorted(c.name + "/" for c in out_dir.iterdir() if c.is_dir() and not c.is_symlink())
        folders = {parent.as_posix() for name in listed for parent in PurePosixPath(name).parents if parent.as_posix() != "."}
        foreign: list[str] = []
        for root, dirs, files in os.walk(out_dir, followlinks=False):
            base = PurePosixPath(Path(root).relative_to(out_dir).as_posix())
            for name in list(dirs):
                rel = (base / name).as_posix()
                if (Path(root) / name).is_symlink():  # a link to a folder: listed like a file, never entered
                    if rel not in listed:
                        foreign.append(rel)
                    dirs.remove(name)
                elif rel not in folders:
                    foreign.append(rel + "/")
                    dirs.remove(name)
            for name in files:
                rel = (base / name).as_posix()
                top = base.as_posix() == "."
                if rel not in listed and not (top and (name in (self.marker, self.manifest) or self.unlisted(name))):
                    foreign.append(rel)
        return sorted(foreign)
