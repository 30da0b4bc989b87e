"""Heap slack for a process that runs one command and exits: freed memory kept for the next array.

numpy asks the C library for every array above a few hundred bytes.  glibc's allocator hands memory
back to the operating system as soon as the top of its heap is free, so the next array of that size
is fresh memory again, and the kernel zero-fills each of its pages on first touch: a minute of ECG
through ``qa gating`` touched 9,000-12,000 such pages (35-45 MiB), about 10 ms of its 0.19 s.
:func:`keep_heap_slack` asks glibc (``mallopt(M_TOP_PAD)``) to keep :data:`TOP_PAD_BYTES` of freed
heap instead, and to take arrays up to 32 MiB from the heap (:data:`MMAP_THRESHOLD_BYTES`), so the
analysis reuses pages it has already touched (measured: 13,700 -> 7,200 page faults in ``qa gating``,
26,300 -> 20,900 in ``qa phantom`` on 480 slices, whose peak memory is unchanged, 350 MiB).

Only for a one-shot process (:func:`qa.workflows.common.one_shot_process`): a long-running one
(``qa serve``, ``qa ingest``, a notebook) keeps the allocator's defaults.  Only with glibc; elsewhere
nothing changes.
"""

from __future__ import annotations

import os

# Bytes of free heap kept at its top, and asked for beyond each growth (ours: a few times the largest
# array of a minute of ECG analysis; glibc's default is 128 KiB).
TOP_PAD_BYTES = 64 << 20
# Arrays up to this size come from the heap, larger ones are mapped on their own.  glibc moves this
# threshold up by itself (from 128 KiB to at most 32 MiB on 64-bit systems, its DEFAULT_MMAP_THRESHOLD_MAX)
# as large blocks are freed, but any mallopt call stops that: it is set to that maximum here, or every
# array over 128 KiB would be mapped, and its pages faulted in, afresh.
MMAP_THRESHOLD_BYTES = 32 << 20
_M_TOP_PAD = -2  # glibc <malloc.h>: mallopt parameters
_M_MMAP_THRESHOLD = -3


def keep_heap_slack(top_pad_bytes: int = TOP_PAD_BYTES, mmap_threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Ask glibc to keep ``top_pad_bytes`` of freed heap for reuse, and to take arrays up to
    ``mmap_threshold_bytes`` from the heap (module doc); True when it did both."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (AttributeError, ValueError, OSError):  # not glibc (macOS, musl, Windows)
        return False
    import ctypes  # numpy imports it too: no cost to the commands that use numpy

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold_bytes)) == 1 and mallopt(_M_TOP_PAD, int(top_pad_bytes)) == 1


__all__ = ["TOP_PAD_BYTES", "keep_heap_slack"]
