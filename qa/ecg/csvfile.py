"""ECG CSV traces and exposure CSVs, read as people have them, block by block.

* **Encoding and lines.**  UTF-8, with or without a byte-order mark (a spreadsheet's "CSV UTF-8"),
  with LF or CRLF line endings; blank lines (a trailing one too) are skipped.
* **Separators.**  A comma-separated file uses decimal points.  A semicolon- or tab-separated file
  (a spreadsheet in a locale with decimal commas) may use decimal commas: ``0,125`` is 0.125 there.
  A comma-separated file whose rows hold more cells than its header (decimal commas) is refused
  with the line named.  The separator is read from the header row.
* **Memory.**  The body is parsed in blocks of a few MB into preallocated arrays (samples as
  float32, times kept as a :class:`~qa.records.ecg.TimeBase`): a 24-hour trace at 1 kHz fits in
  well under 1 GiB.
* **Refusals** name the file, the column and the line: non-numeric cells, a time that is not a
  number, repeats or goes back, a sample that is not a number or beyond the possible ECG
  amplitude (``RANGES['ecg_mv']``), a sampling rate under ``RANGES['ecg_sampling_rate_hz']``.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.ecg.decimal_table import parse_decimal_table
from qa.errors import InputError
from qa.numeric import median
from qa.records.plausibility import RANGES, require_possible
from qa.records.ecg import TimeBaseBuilder, first_bad_time, require_sampling_rate

# Characters of text parsed at a time (ours: large enough for numpy's parser to run at full speed, small
# enough that the block's float64 table, ~3 times its text, stays a few tens of MB).
BLOCK_BYTES = 1 << 20
# A sampling rate given beside time_s must agree with its sample spacing within this fraction: ours (1 %).
FS_MISMATCH_TOLERANCE = 0.01
# Units of the ECG column, by column name (DESIGN.md): value x factor = mV.
ECG_COLUMNS = {"ecg_mv": 1.0, "ecg_uv": 1e-3}


@dataclass(frozen=True)
class CsvHead:
    """The comment lines' ``key=value`` pairs, the header's columns and how the body is written."""

    meta: dict
    columns: tuple[str, ...]
    delimiter: str
    decimal_comma: bool
    header_line: int  # 1-based line number of the header row


def open_text(path: str | os.PathLike, label: str, what: str):
    """A regular file opened as UTF-8 text (a byte-order mark dropped, CRLF read as LF)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise InputError(label, None, "no such file", hint=f"check the path of the {what}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(label, None, "is not a regular file (a folder, pipe or device)", hint=f"pass the {what} file itself")
    return open(p, encoding="utf-8-sig", newline=None)


def read_head(fp, label: str, example: str) -> CsvHead:
    """The comment lines and the header row; the file positioned at the first data line."""
    meta: dict[str, str] = {}
    n = 0
    while True:
        line = fp.readline()
        if not line:
            raise InputError(label, "header", "is empty: no header row" if n == 0 else "has no header row, only comments",
                             hint=f"the first row names the columns, e.g. {example}")
        n += 1
        text = line.strip()
        if text.startswith("#"):
            key, _, value = text[1:].partition("=")
            if value:
                meta[key.strip().lower()] = value.strip()
            continue
        if text:
            break
    delimiter = "," if "," in text else ";" if ";" in text else "\t" if "\t" in text else ","
    columns = tuple(c.strip().strip('"').strip().lower() for c in text.split(delimiter))
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes or "" in columns:
        raise InputError(label, f"line {n}", f"the header names a column twice or leaves one unnamed: {list(columns)}",
                         hint=f"name each column once, e.g. {example}")
    return CsvHead(meta, columns, delimiter, delimiter != ",", n)


def body_blocks(fp, head: CsvHead, label: str):
    """Yield (first line number, the block's text when it has blank or comment lines else None, rows as a
    float64 table, characters read) for each block of the body."""
    line_no = head.header_line + 1
    ncol = len(head.columns)
    while True:
        text = fp.read(BLOCK_BYTES)
        if not text:
            return
        if not text.endswith("\n"):
            text += fp.readline()
        parsed = text.replace(",", ".") if head.decimal_comma else text
        table = parse_decimal_table(parsed if parsed.endswith("\n") else parsed + "\n", head.delimiter, ncol)
        if table is not None:  # plain decimals only: no blank or comment line, every row complete
            yield line_no, None, table, len(text)
            line_no += text.count("\n")
            continue
        lines = parsed.splitlines()
        skipped = _has_skipped(text)
        try:
            table = _parse(lines, head)
        except ValueError:
            _raise_first_bad_line(parsed, head, line_no, label)
            # every line is fine on its own: lines of spaces only, which numpy does not skip
            table = _parse([ln for ln in lines if ln.strip()], head)
            skipped = True
        if table.size and table.shape[1] != ncol:
            _raise_first_bad_line(parsed, head, line_no, label)
        yield line_no, text if table.size and skipped else None, table, len(text)
        line_no += text.count("\n")


def _parse(lines: list[str], head: CsvHead) -> np.ndarray:
    return np.loadtxt(lines, delimiter=head.delimiter, dtype=np.float64, ndmin=2, comments="#", quotechar='"')


def _has_skipped(text: str) -> bool:
    return "\n\n" in text or "\n#" in text or text.startswith(("\n", "#"))


def row_line(first_line: int, text: str | None, row: int) -> int:
    """The file's line number of data row ``row`` of a block (blank and comment lines skipped)."""
    if text is None:
        return first_line + row
    seen = -1
    for k, line in enumerate(text.split("\n")):
        s = line.strip()
        if s and not s.startswith("#"):
            seen += 1
            if seen == row:
                return first_line + k
    return first_line + row


def _raise_first_bad_line(text: str, head: CsvHead, first_line: int, label: str) -> None:
    """``InputError`` for the first line with the wrong number of cells or a cell that is not a number (if any)."""
    ncol = len(head.columns)
    for k, line in enumerate(text.split("\n")):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        cells = [c.strip().strip('"') for c in s.split(head.delimiter)]
        where = f"line {first_line + k}"
        if len(cells) != ncol:
            comma = (" (decimal commas in a comma-separated file? write decimal points, or separate the columns with ';')"
                     if head.delimiter == "," and len(cells) > ncol else "")
            raise InputError(label, where, f"has {len(cells)} cells, the header {ncol} ({', '.join(head.columns)}){comma}",
                             hint="every row needs one value per column")
        for c, name in zip(cells, head.columns):
            if not _reads_as_number(c):
                raise InputError(label, f"{name}, {where}", f"holds {c[:40]!r}, which is not a number",
                                 hint="remove or repair that row")


def _reads_as_number(cell: str) -> bool:
    """A cell numpy.loadtxt reads as a number: what float() reads, in ASCII and without the digit
    grouping underscores float() also takes (``1_000``, Arabic-Indic digits: refused by loadtxt)."""
    if not cell.isascii() or "_" in cell:
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------ ECG traces


@dataclass(frozen=True, eq=False)
class CsvTraceData:
    """What a trace CSV holds, before it becomes an ``EcgTrace``."""

    meta: dict
    fs_hz: float
    time_base: object  # TimeBase
    ecg_mv: np.ndarray  # float32
    ecg_column: str
    trigger: np.ndarray | None
    resp: np.ndarray | None


class _Column:
    """A growing float32 (or bool) column, preallocated from the file's size."""

    def __init__(self, capacity: int, dtype):
        self.data = np.empty(capacity, dtype=dtype)
        self.n = 0

    def add(self, values: np.ndarray) -> None:
        if self.n + values.size > self.data.size:
            self.data.resize(max(self.n + values.size, int(self.data.size * 1.25)), refcheck=False)
        self.data[self.n:self.n + values.size] = values
        self.n += values.size

    def finish(self) -> np.ndarray:
        self.data.resize(self.n, refcheck=False)
        return self.data


def read_csv_data(path: str | os.PathLike, *, fs_hz: float | None = None) -> CsvTraceData:
    """The columns of an ECG CSV (module doc), checked block by block."""
    label = str(path)
    try:
        with open_text(path, label, "ECG trace") as fp:
            size = os.fstat(fp.fileno()).st_size
            return _read_trace_body(fp, size, label, fs_hz)
    except UnicodeDecodeError as exc:
        raise InputError(label, None, f"is not a UTF-8 text CSV file ({exc.reason} at byte {exc.start})",
                         hint="save the trace as CSV (UTF-8)") from exc


def _read_trace_body(fp, size: int, label: str, fs_given: float | None) -> CsvTraceData:
    head = read_head(fp, label, "time_s,ecg_mv")
    cols = head.columns
    ecg_cols = [h for h in cols if h.startswith("ecg")]
    if len(ecg_cols) != 1:
        raise InputError(label, "ecg column", f"needs exactly one ECG column, found {ecg_cols or 'none'} in {list(cols)}",
                         hint="name the ECG column ecg_mv or ecg_uv (the unit is part of its name)")
    ecg_col = ecg_cols[0]
    if ecg_col not in ECG_COLUMNS:
        raise InputError(label, ecg_col, "has an unknown unit: the ECG column must be ecg_mv or ecg_uv",
                         hint="rename the column after the unit of its values")
    fs, fs_from = None, None
    if fs_given is not None:
        fs, fs_from = require_sampling_rate(fs_given, label, "--fs", "--fs"), "--fs"
    elif "fs_hz" in head.meta:
        fs, fs_from = require_sampling_rate(_meta_number(head.meta, "fs_hz", label), label, "fs_hz", "'# fs_hz=' line"), "# fs_hz="
    has_time = "time_s" in cols
    if not has_time and fs is None:
        raise InputError(label, "time_s", "is missing and no sampling rate was given",
                         hint="add a time_s column, a '# fs_hz=...' line, or pass --fs")
    i_ecg, i_time = cols.index(ecg_col), cols.index("time_s") if has_time else None
    i_trig = cols.index("trigger") if "trigger" in cols else None
    i_resp = cols.index("resp") if "resp" in cols else None
    factor = ECG_COLUMNS[ecg_col]
    limits = RANGES["ecg_mv"]
    ecg = trig = resp = builder = None
    last_t = None
    for first_line, text, table, n_chars in body_blocks(fp, head, label):
        if table.size == 0:
            continue
        if ecg is None:  # first block: size the arrays from the file's size, find the sampling rate
            capacity = int(size / max(1.0, n_chars / table.shape[0]) * 1.02) + 1024
            ecg = _Column(capacity, np.float32)
            trig = _Column(capacity, np.bool_) if i_trig is not None else None
            resp = _Column(capacity, np.float32) if i_resp is not None else None
            if has_time:
                fs = _rate_from_time(table[:, i_time], fs, fs_from, label, first_line, text)
            builder = TimeBaseBuilder(fs, capacity)
        if has_time:
            t = table[:, i_time]
            bad = first_bad_time(t, last_t)
            if bad is not None:
                k, reason = bad
                raise InputError(label, f"time_s, line {row_line(first_line, text, k)}", f"the time {reason}",
                                 hint="the time column must increase from row to row; check the recorder's clock or the file")
            builder.add(t)
            last_t = float(t[-1])
        else:
            builder_n = builder.n
            builder.add(np.arange(builder_n, builder_n + table.shape[0]) / fs)
        v = table[:, i_ecg]
        if factor != 1.0:
            v = v * factor
        _check_samples(v, limits, label, ecg_col, first_line, text,
                       table[:, i_time] if has_time else (builder.n - table.shape[0] + np.arange(table.shape[0])) / fs)
        ecg.add(v)
        if trig is not None:
            trig.add(table[:, i_trig] > 0.5)
        if resp is not None:
            resp.add(table[:, i_resp])
    if ecg is None:
        raise InputError(label, ecg_col, "has a header but no samples", hint="the file holds no data rows: record the ECG again")
    return CsvTraceData(head.meta, float(fs), builder.finish(), ecg.finish(), ecg_col,
                        trig.finish() if trig is not None else None, resp.finish() if resp is not None else None)


def _rate_from_time(t: np.ndarray, fs: float | None, fs_from: str | None, label: str, first_line: int, text) -> float:
    steps = np.diff(t)
    positive = steps[np.isfinite(steps) & (steps > 0)]
    if positive.size == 0:
        bad = first_bad_time(t)
        where = f"time_s, line {row_line(first_line, text, bad[0])}" if bad else "time_s"
        raise InputError(label, where, "does not increase" + (f": the time {bad[1]}" if bad else " (a single row)"),
                         hint="the time column must increase from row to row")
    m = float(median(positive))
    normal = positive[(positive > 0.5 * m) & (positive < 1.5 * m)]
    fs_time = 1.0 / float(np.mean(normal)) if normal.size else 1.0 / m
    if fs is None:
        return require_sampling_rate(fs_time, label, "time_s", f"time_s, samples {1000.0 / fs_time:.4g} ms apart")
    if abs(fs / fs_time - 1.0) > FS_MISMATCH_TOLERANCE:
        raise InputError(label, "fs_hz", f"{fs:g} Hz (from {fs_from}) does not match time_s, whose samples are "
                                         f"{1000.0 / fs_time:.3f} ms apart ({fs_time:.6g} Hz)",
                         hint=f"correct or drop {fs_from}: time_s alone gives the sampling rate")
    return fs


def _check_samples(v: np.ndarray, limits, label: str, column: str, first_line: int, text, time_s: np.ndarray) -> None:
    ok = np.isfinite(v) & (v >= limits.limits[0]) & (v <= limits.limits[1])
    if ok.all():
        return
    k = int(np.flatnonzero(~ok)[0])
    where = f"{column}, line {row_line(first_line, text, k)}"
    at = f"the sample at {float(time_s[k]):.3f} s"
    if not math.isfinite(v[k]):
        raise InputError(label, where, f"{at} is {float(v[k]):g}: not a number",
                         hint="repair or remove that row: a missing sample is a gap (leave its row out), never a value")
    raise InputError(label, where, f"{at} is {float(v[k]):.6g} mV: an ECG cannot reach that (possible: {limits.describe_limits()})",
                     hint=f"check the unit of the ECG column (ecg_mv or ecg_uv) and the recorder; such samples are never "
                          f"scored ({limits.source})")


def _meta_number(meta: dict, key: str, label: str) -> float:
    try:
        return float(meta[key].replace(",", "."))
    except ValueError:
        raise InputError(label, key, f"'# {key}={meta[key]}' is not a number", hint=f"write it like '# {key}=500'") from None


# ------------------------------------------------------------------------------------ exposures


@dataclass(frozen=True)
class ExposureRow:
    """One exposure window of an exposure CSV, with its line in the file."""

    start_s: float
    duration_s: float
    line: int


def read_exposure_rows(path: str | os.PathLike) -> tuple[list[ExposureRow], tuple[str, ...]]:
    """Exposure windows ``start_s,duration_s`` in file order, and flagged warnings (unsorted rows).

    Refused with the line and column named: a start or duration that is not a number, negative, a
    zero duration, windows that overlap (one scanner exposes one window at a time)."""
    label = str(path)
    try:
        with open_text(path, label, "exposure CSV") as fp:
            head = read_head(fp, label, "start_s,duration_s")
            if list(head.columns[:2]) != ["start_s", "duration_s"]:
                raise InputError(label, "header", f"must start with the columns start_s,duration_s, not {','.join(head.columns)}",
                                 hint="write one exposure per row: start in s on the ECG's time base, duration in s")
            rows: list[ExposureRow] = []
            for first_line, text, table, _ in body_blocks(fp, head, label):
                for k, (start, duration) in enumerate(table[:, :2].tolist()):
                    line = row_line(first_line, text, k)
                    rows.append(ExposureRow(_window_value(start, "start_s", line, label),
                                            _window_value(duration, "duration_s", line, label), line))
    except UnicodeDecodeError as exc:
        raise InputError(label, None, f"is not a UTF-8 text CSV file ({exc.reason} at byte {exc.start})",
                         hint="pass a CSV of start_s,duration_s") from exc
    if not rows:
        raise InputError(label, "start_s", "lists no exposure (a header but no rows)", hint="one row per exposure: start_s,duration_s")
    for r in rows:
        if r.duration_s <= 0:
            raise InputError(label, f"duration_s, line {r.line}", f"is {r.duration_s:g} s: an exposure lasts a positive time",
                             hint="repair that row")
    warnings = []
    ordered = sorted(rows, key=lambda r: r.start_s)
    if ordered != rows:
        k = next(i for i in range(1, len(rows)) if rows[i].start_s < rows[i - 1].start_s)
        warnings.append(f"{Path(label).name}: the exposures are not in time order (line {rows[k].line} starts before line "
                        f"{rows[k - 1].line}); they are numbered in file order")
    for a, b in zip(ordered, ordered[1:]):
        if b.start_s < a.start_s + a.duration_s:
            raise InputError(label, f"start_s, line {b.line}",
                             f"the exposure at {b.start_s:g} s starts before the one on line {a.line} ({a.start_s:g} s + "
                             f"{a.duration_s:g} s) ends: exposure windows cannot overlap",
                             hint="check the exposure list: each row is one exposure, start and duration in s")
    return rows, tuple(warnings)


def _window_value(value: float, column: str, line: int, label: str) -> float:
    quantity = "time_s" if column == "start_s" else "duration_s"
    return require_possible(quantity, value, path=label, field=f"{column}, line {line}")


__all__ = ["CsvHead", "CsvTraceData", "ExposureRow", "read_csv_data", "read_exposure_rows", "ECG_COLUMNS", "FS_MISMATCH_TOLERANCE"]
