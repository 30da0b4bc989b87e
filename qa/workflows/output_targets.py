"""The output files a user names (``--csv``, ``--xlsx``, ``--plot``, ``--report``, ``--pdf``), checked before
anything is read: their folder must exist and their name must say what is written in them.

qa creates no folder for an output file: a mistyped path (``--csv reprots/dose.csv``) would
otherwise make a folder nobody asked for, silently, and the file would seem lost.  A name must end
as what is written (``--xlsx dose.csv`` would write a workbook named like a CSV table, which no
program opens as one).  Both are refused with exit 2, the folder or the file named, before the
store, the series or the trace is read.  A folder given as the file, or a folder that is a regular
file, is left to the writer (:mod:`qa.outputs`), which refuses it when it writes.  Folders that qa
owns (``qa dashboard --out``, ``qa demo --out``, the synthesisers' OUT_DIR) are not output files.
"""

from __future__ import annotations

import os
from pathlib import Path

from qa.errors import InputError

# What each kind of output file holds, the name endings that say so, and the option that writes it.
KINDS = {
    "csv": ((".csv",), "a CSV table", "--csv"),
    "xlsx": ((".xlsx",), "an Excel workbook", "--xlsx"),
    "png": ((".png",), "a PNG image", None),
    "html": ((".html", ".htm"), "an HTML page", None),
    "pdf": ((".pdf",), "a PDF document", None),
}


def check_output_file(path: str | os.PathLike, option: str, kind: str) -> None:
    """Refuse ``path`` for ``option`` (which writes a file of ``kind``, a key of :data:`KINDS`) when
    its folder does not exist or its name does not end as that kind's (InputError, exit 2)."""
    target = Path(path)
    if target.is_dir():
        return  # the writer refuses a folder as the file, naming it
    folder = target.parent
    if not os.path.lexists(folder):
        raise InputError(str(folder), option, f"this folder does not exist (for {target.name}): qa creates no folder for "
                         "an output file", hint=f"create the folder first (mkdir -p '{folder}'), or correct the path")
    endings, holds, _ = KINDS[kind]
    if target.suffix.lower() not in endings:
        hint = f"name it {target.stem}{endings[0]}"
        if option == KINDS[kind][2]:  # --csv and --xlsx are options of one command: the other may be what was meant
            other = next((k for k, (e, _, o) in KINDS.items() if k != kind and o is not None and target.suffix.lower() in e), None)
            if other is not None:
                hint += f", or give {KINDS[other][2]} {target.name} for {KINDS[other][1]}"
        raise InputError(str(target), option, f"the name must end in {' or '.join(endings)}: {holds} is written there",
                         hint=hint)
