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
    signed = cls[starts] == 3  # a sign may only open its cell
    if np.count_nonzero(cls == 3) != np.count_nonzero(signed):
        return None
    digits = ends - starts  # the cell's characters, less its sign and point
    digits -= signed
    decimals = np.zeros(ends.size, dtype=np.intp)  # digits after the point
    has_point = np.zeros(ends.size, dtype=bool)
    n_points = np.count_nonzero(cls == 2)
    if n_points and not _points_in_columns(a, starts, ends, signed, ncol, n_points, digits, decimals, has_point):
        points = np.flatnonzero(cls == 2)  # each cell's point, wherever it is
        cell = np.searchsorted(ends, points)
        if points.size > 1 and not (cell[1:] > cell[:-1]).all():  # two points in one cell
            return None
        decimals[cell] = ends[cell] - points - 1
        digits[cell] -= 1
        has_point[cell] = True
    if digits.min() < 1 or digits.max() > MAX_DIGITS:
        return None
    out = np.empty((ends.size // ncol, ncol))
    for j in range(ncol):
        out[:, j] = _column_values(a, ends[j::ncol], digits[j::ncol], decimals[j::ncol], has_point[j::ncol])
    out[signed.reshape(-1, ncol) & (a[starts] == ord("-")).reshape(-1, ncol)] *= -1.0
    return out


def _points_in_columns(a, starts, ends, signed, ncol, n_points, digits, decimals, has_point) -> bool:
    """Where every cell of each column holding a point has it as many digits from its end as the
    column's first cell (a recorder writing a fixed number of decimals), fill ``decimals``,
    ``has_point`` and ``digits`` and say True: no cell-by-cell search needed.  Else change nothing."""
    layout = []
    for j in range(ncol):
        e, st, sg = ends[j::ncol], starts[j::ncol], signed[j::ncol]
        first = bytes(a[st[0]:e[0]])
        if b"." not in first:
            layout.append(None)
            continue
        dec = len(first) - 1 - first.index(b".")
        at = e - 1 - dec
        if not ((at >= st + sg) & (a[at] == ord("."))).all():
            return False
        layout.append(dec)
    if sum(ends[j::ncol].size for j, dec in enumerate(layout) if dec is not None) != n_points:
        return False  # a point elsewhere too (a column whose first cell has none, or a second point)
    for j, dec in enumerate(layout):
        if dec is not None:
            decimals[j::ncol] = dec
            has_point[j::ncol] = True
            digits[j::ncol] -= 1
    return True


def _column_values(a, ends, digits, decimals, has_point) -> np.ndarray:
    """The unsigned values of one column's cells: the digits' integer, read from the last digit back
    (the k-th digit from the end sits k characters before the separator, one more once past the
    point), divided by 10**decimals."""
    value = np.zeros(ends.size, dtype=np.int64)
    at = ends - 1
    fixed = None  # the one number of decimals of a column written with a fixed layout
    if has_point.all() and (decimals == decimals[0]).all():
        fixed = int(decimals[0])
    elif not has_point.any():
        fixed = -1
    shortest = int(digits.min())
    for k in range(int(digits.max())):
        if fixed == k:
            at -= 1  # every cell steps over its point here
        elif fixed is None:
            at[has_point & (decimals == k)] -= 1
        d = a[at].astype(np.int64)
        d -= ord("0")
        if k >= shortest:
            d[digits <= k] = 0  # a shorter cell: no k-th digit
        d *= 10 ** k
        value += d
        at -= 1
    out = value.astype(np.float64)
    out /= _POW10[decimals]
    return out


__all__ = ["MAX_DIGITS", "parse_decimal_table"]
