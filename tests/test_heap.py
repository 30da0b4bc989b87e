"""A one-shot process keeps heap slack for its next arrays (glibc's M_TOP_PAD); other processes keep the defaults."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "confstr") or "CS_GNU_LIBC_VERSION" not in os.confstr_names
                                or not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc only: elsewhere the heap is left as it is")

# In a fresh process: grow the heap with 100 KiB blocks (below glibc's mmap threshold, so on the heap)
# and print the heap's size (glibc's mallinfo: the arena, in MiB).  glibc grows it by what is asked
# plus its top pad, and keeps that pad when it shrinks again.
_GROW = """
import ctypes
{setup}
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(None)
libc.mallinfo.restype = Info
blocks = [bytearray(100 << 10) for _ in range(20)]
print(libc.mallinfo().arena / 2**20)
"""


def _heap_mib(setup: str) -> float:
    out = subprocess.run([sys.executable, "-c", _GROW.format(setup=setup)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return float(out.stdout)


def test_a_one_shot_process_keeps_heap_slack_and_a_library_process_does_not():
    from qa.heap import TOP_PAD_BYTES

    assert _heap_mib("from qa.workflows.common import one_shot_process\none_shot_process()") >= TOP_PAD_BYTES / 2**20
    assert _heap_mib("import qa.workflows.common") < 16  # glibc's own pad: 128 KiB per growth


def test_keep_heap_slack_reports_what_glibc_said():
    out = subprocess.run([sys.executable, "-c", "from qa.heap import keep_heap_slack; print(keep_heap_slack())"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_arrays_freed_and_made_again_reuse_their_pages_in_a_one_shot_process():
    """The slack must not cost the allocator its own reuse: any mallopt call stops glibc moving its mmap
    threshold up, so it is set explicitly; a 2 MiB array made again and again is not faulted in afresh
    (513 page faults per array when only the top pad was set)."""
    code = ("import resource, numpy as np\nfrom qa.workflows.common import one_shot_process\none_shot_process()\n"
            "np.ones(2**18)\nbefore = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "for _ in range(100):\n    a = np.ones(2**18)\n    del a\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 100)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 50  # pages per array (a 2 MiB array is 512 pages)
