"""Hostile and broken input (issue 11): one module per class of fault, built from generated inputs.

Each module shows a behaviour, not a patched bug: impossible values never pass, nothing is
silently left out, scanners are told apart, files are written safely, names are not paths,
resources are bounded, the terminal is safe, every site-editable file is validated, database
problems are input problems, ECG files are read as people have them, and ``--json`` always
prints one JSON object.
"""

import ctypes
import os
import subprocess

import pytest


@pytest.fixture
def without_permission_override():
    """A ``preexec_fn`` for a child ``qa`` process that makes file modes bind as they do for a user:
    as root, the child runs without the capabilities that override them (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH: dropped from the bounding set before exec).  None when not root; the
    test is skipped when root may not drop them."""
    if os.geteuid() != 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2  # <linux/prctl.h>, <linux/capability.h>

    def drop() -> None:
        for cap in (cap_dac_override, cap_dac_read_search):
            if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
                os._exit(97)

    if subprocess.run(["true"], preexec_fn=drop).returncode == 97:
        pytest.skip("running as root without the right to drop CAP_DAC_OVERRIDE: file modes do not bind")
    return drop


@pytest.fixture
def qa_main(capsys):
    """The command line's ``main`` in this process, for the many cases where a child process adds
    nothing (the modules also run the real ``qa`` process where it matters): (exit code, stdout, stderr)."""
    from qa.cli import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
