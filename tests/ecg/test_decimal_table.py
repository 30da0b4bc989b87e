"""Plain decimal rows parsed from their characters: bit for bit float()'s values, or None (the general reader's turn)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.ecg.decimal_table import MAX_DIGITS, parse_decimal_table
from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv
from qa.ecg.trace import read_csv


def _cell(rng) -> str:
    n = int(rng.integers(1, MAX_DIGITS + 1))
    digits = "".join(rng.choice(list("0123456789"), n))
    if rng.random() < 0.7:  # a point anywhere: before, inside or after the digits
        k = int(rng.integers(0, n + 1))
        digits = digits[:k] + "." + digits[k:]
    return str(rng.choice(["", "-", "+"], p=[0.6, 0.3, 0.1])) + digits


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


def test_random_plain_decimals_are_float_bit_for_bit():
    rng = np.random.default_rng(2026)
    for _ in range(400):
        ncol, rows = int(rng.integers(1, 5)), int(rng.integers(1, 60))
        delimiter = str(rng.choice([",", ";", "\t"]))
        cells = [[_cell(rng) for _ in range(ncol)] for _ in range(rows)]
        text = "".join(delimiter.join(r) + "\n" for r in cells)
        want = np.array([[float(c) for c in r] for r in cells])
        got = parse_decimal_table(text, delimiter, ncol)
        assert got is not None and _same_bits(got, want), text[:200]


def _fixed_cell(rng, decimals: int | None) -> str:
    """A cell as a recorder writes it: ``decimals`` digits after the point (None: an integer)."""
    whole = str(int(rng.integers(0, 10 ** int(rng.integers(1, 6)))))
    body = whole if decimals is None else f"{whole}.{int(rng.integers(0, 10 ** decimals)):0{decimals}d}"
    return str(rng.choice(["", "-", "+"], p=[0.5, 0.45, 0.05])) + body


def test_columns_written_with_fixed_decimals_are_float_bit_for_bit():
    """A column of fixed decimals is read without looking for each cell's point; one odd cell (another
    number of decimals, no point, or a point in a column of integers) sends it back to the search."""
    rng = np.random.default_rng(17)
    for trial in range(300):
        ncol, rows = int(rng.integers(1, 4)), int(rng.integers(1, 80))
        layout = [None if rng.random() < 0.2 else int(rng.integers(0, 8)) for _ in range(ncol)]
        cells = [[_fixed_cell(rng, layout[j]) for j in range(ncol)] for _ in range(rows)]
        if trial % 3 == 0:  # one odd cell
            r, j = int(rng.integers(0, rows)), int(rng.integers(0, ncol))
            odd = None if layout[j] is not None and rng.random() < 0.5 else int(rng.integers(0, 8))
            cells[r][j] = _fixed_cell(rng, odd)
        text = "".join(",".join(r) + "\n" for r in cells)
        want = np.array([[float(c) for c in r] for r in cells])
        got = parse_decimal_table(text, ",", ncol)
        assert got is not None and _same_bits(got, want), text[:200]


@pytest.mark.parametrize("text, value", [("5.,-.5\n", [5.0, -0.5]), ("-0.000,+7\n", [-0.0, 7.0]),
                                          ("007,000123.4500\n", [7.0, 123.45]),
                                          ("999999999999999,0.00000000000001\n", [999999999999999.0, 1e-14]),
                                          ("0.1,0.30000000000000\n", [0.1, 0.3])])
def test_edge_cells_keep_their_value_and_sign(text, value):
    got = parse_decimal_table(text, ",", 2)
    assert _same_bits(got.ravel(), np.array(value))  # -0.0 keeps its sign, as float("-0.000") does


@pytest.mark.parametrize("text", [
    "1,2\n3\n",  # a short row
    "1,2,3\n4\n",  # cells moved between rows: the same count, not the same layout
    "1,2\n3,4",  # no newline at the end
    "1,,2\n", "-,3\n", ".,3\n", "+,1\n",  # a cell without digits
    "1e3,2\n", "nan,1\n", "inf,1\n",  # exponents and names: the general reader's
    " 1,2\n", "1 ,2\n", '"1",2\n', "#1,2\n", "1,2\n\n3,4\n",  # spaces, quotes, comments, blank lines
    "1.2.3,4\n", "1-2,3\n", "--1,3\n", "1+,2\n",  # two points, a sign inside a cell
    "1234567890123456,1\n", "0.000000000000001,1\n",  # 16 digits: beyond the exact fast path
    "1;2\n", "1\t2\n",  # another delimiter than the header's
    "１,2\n",  # not ASCII
])
def test_anything_but_plain_decimals_is_left_to_the_general_reader(text):
    assert parse_decimal_table(text, ",", 2) is None


def test_a_trace_reads_the_same_through_either_reader(tmp_path):
    """The same samples, written plainly (read from their characters) and with a comment line in each
    block (read by numpy.loadtxt, as before), give the same trace to the bit."""
    r = beat_times(30.0, 75.0)
    t, mv = synthesize_ecg(r, duration_s=30.0, fs_hz=500.0)
    plain = tmp_path / "plain.csv"
    write_ecg_csv(plain, t, mv, fs_hz=500.0)
    lines = plain.read_text().splitlines(keepends=True)
    header = next(k for k, line in enumerate(lines) if not line.startswith("#"))
    body = lines[header + 1:]
    marked = tmp_path / "marked.csv"
    marked.write_text("".join(lines[:header + 1]) + "".join(line if k % 5000 else "# note\n" + line
                                                                 for k, line in enumerate(body)))
    a, b = read_csv(plain), read_csv(marked)
    assert _same_bits(a.ecg_mv.astype(np.float64), b.ecg_mv.astype(np.float64)) and a.ecg_mv.size == len(body)
    assert _same_bits(np.asarray(a.time_base.at(np.arange(a.n_samples))), np.asarray(b.time_base.at(np.arange(b.n_samples))))
    assert a.fs_hz == b.fs_hz
