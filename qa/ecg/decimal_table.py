"""Rows of plain decimal numbers (``-12.5,0.001``) read straight from their characters with numpy.

A recorder writes its CSV body as plain decimals: digits, at most one point, a leading sign.  Such a
body is parsed here without Python touching each number: about twice as fast as ``numpy.loadtxt``
on a minute of ECG (issue 17).  Each value is the integer of its digits divided by a power of ten;
with at most 15 digits both are exact doubles, so the one IEEE division gives the correctly rounded
value of the decimal, bit for bit what ``float()`` and ``numpy.loadtxt`` give (Clinger 1990, "How
to read floating point numbers accurately", the exact fast path).

Anything else (an exponent, spaces, quotes, comments, blank lines, ``nan``, a row with another
number of cells, a number with more than 15 digits) returns None: the caller parses that text the
general way, which also names the line at fault.  Pure: text in, array out.
"""

from __future__ import annotations

import numpy as np

MAX_DIGITS = 15  # 10**15 < 2**53: the digits' integer is an exact double (Clinger 1990)
_POW10 = 10.0 ** np.arange(MAX_DIGITS + 1)  # exact doubles for 10**0 .. 10**22 (ours: up to 10**15)
# Character classes: 0 anything else, 1 digit, 2 point, 3 sign (a separator is marked 4 per call).
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[ord("0"):ord("9") + 1] = 1
_CLASS[ord(".")] = 2
_CLASS[ord("+")] = 3
_CLASS[ord("-")] = 3
_NEWLINE = ord("\n")


def parse_decimal_table(text: str, delimiter: str, ncol: int) -> np.ndarray | None:
    """The rows of ``text`` (each ``ncol`` cells separated by ``delimiter``, every row ending in a
    newline) as a float64 table of shape (rows, ncol), or None when the text is not only plain
    decimals in that layout (module doc)."""
    if ncol < 1 or len(delimiter) != 1 or not text.endswith("\n") or not text.isascii():
        return None
    a = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    sep = ord(delimiter)
    if _CLASS[sep]:
        return None
    cls = _CLASS[a]
    is_sep = a == _NEWLINE
    is_sep |= a == sep
    cls[is_sep] = 4
    if not cls.all():  # a character that no plain decimal holds
        return None
    ends = np.flatnonzero(is_sep)  # each cell ends at its separator
    if ends.size % ncol:
        return None
    kinds = a[ends].reshape(-1, ncol)  # rows: ncol - 1 delimiters, then the newline
    if not (kinds[:, -1] == _NEWLINE).all() or not (kinds[:, :-1] == sep).all():
        return None
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    digits = ends - starts  # the cell's characters, less its point and sign below
    decimals = np.zeros(ends.size, dtype=np.intp)  # digits after the point
    points = np.flatnonzero(cls == 2)
    has_point = None
    if points.size:
        cell = np.searchsorted(ends, points)
        if points.size > 1 and not (cell[1:] > cell[:-1]).all():  # two points in one cell
            return None
        decimals[cell] = ends[cell] - points - 1
        digits[cell] -= 1
        has_point = np.zeros(ends.size, dtype=bool)
        has_point[cell] = True
    signs = np.flatnonzero(cls == 3)
    negative = None
    if signs.size:
        cell = np.searchsorted(ends, signs)
        if (starts[cell] != signs).any():  # a sign that does not open its cell
            return None
        digits[cell] -= 1
        negative = cell[a[signs] == ord("-")]
    if digits.min() < 1 or digits.max() > MAX_DIGITS:
        return None
    # The digits' integer, from the last digit back: the k-th digit from the end sits k characters
    # before the separator, one more once past the point.
    value = np.zeros(ends.size, dtype=np.int64)
    at = ends - 1
    for k in range(int(digits.max())):
        if has_point is not None:
            at[has_point & (decimals == k)] -= 1  # step over the point
        d = a[at].astype(np.int64)
        d -= ord("0")
        d[digits <= k] = 0  # a shorter cell: no k-th digit
        d *= 10 ** k
        value += d
        at -= 1
    out = value.astype(np.float64)
    out /= _POW10[decimals]
    if negative is not None and negative.size:
        out[negative] = -out[negative]
    return out.reshape(-1, ncol)


__all__ = ["MAX_DIGITS", "parse_decimal_table"]
