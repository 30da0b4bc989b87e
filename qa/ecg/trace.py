"""ECG trace files: readers of CSV, WFDB and DICOM ECG into an ``EcgTrace`` record, and the CSV writer.

A trace is one lead in mV on a time base in seconds, with its sampling rate, optional trigger and
respiration channels, and its absolute start time when known.  Gaps in a recording (a lost serial
connection) stay gaps: ``time_s`` jumps, no sample is ever invented.

CSV (DESIGN.md): optional ``# key=value`` comment lines first (``# start_time=2026-03-02T07:31:05``,
``# lead=II``, ``# fs_hz=1000``), then a header row; ``time_s`` (or ``--fs`` when absent), one ECG
column whose name carries its unit (``ecg_mv`` or ``ecg_uv``), optional ``trigger`` (0/1) and
``resp``.  Readers refuse, naming the file and the column or line: unknown units, non-numeric
cells, a time that does not increase, a trace too short to hold two beats, a flat or saturated
signal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
from pathlib import Path

import numpy as np

from qa.errors import InputError
from qa.records.ecg import EcgTrace, validate_trace

__all__ = ["CsvTraceWriter", "EcgTrace", "read_csv", "read_exposures_csv", "read_trace", "read_wfdb"]

# A sampling rate given beside time_s must agree with its sample spacing within this fraction: ours (1 %).
FS_MISMATCH_TOLERANCE = 0.01
# Units of the ECG column, by column name (DESIGN.md): value x factor = mV.
ECG_COLUMNS = {"ecg_mv": 1.0, "ecg_uv": 1e-3}


# ------------------------------------------------------------------------------------ CSV


def read_csv(path: str | os.PathLike, *, fs_hz: float | None = None, lead: str | None = None) -> EcgTrace:
    """An ECG trace from a CSV file (module doc)."""
    label = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(label, None, f"is not a text CSV file ({exc.reason})", hint="pass a CSV trace") from exc
    meta: dict[str, str] = {}
    lines = text.splitlines()
    body_start = 0
    for n, line in enumerate(lines):
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            if value:
                meta[key.strip().lower()] = value.strip()
            body_start = n + 1
            continue
        if line.strip():
            break
        body_start = n + 1
    reader = csv.reader(io.StringIO("\n".join(lines[body_start:])))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(label, None, "has no header row", hint="the first row names the columns, e.g. time_s,ecg_mv") from None
    ecg_cols = [h for h in header if h.startswith("ecg")]
    if len(ecg_cols) != 1:
        raise InputError(label, "ecg column", f"needs exactly one ECG column, found {ecg_cols or 'none'} in {header}",
                         hint="name the ECG column ecg_mv or ecg_uv (the unit is part of its name)")
    if ecg_cols[0] not in ECG_COLUMNS:
        raise InputError(label, ecg_cols[0], "has an unknown unit: the ECG column must be ecg_mv or ecg_uv",
                         hint="rename the column after the unit of its values")
    rows = [r for r in reader if r and any(c.strip() for c in r)]
    data = np.empty((len(rows), len(header)))
    for n, row in enumerate(rows):
        if len(row) != len(header):
            raise InputError(label, f"line {body_start + n + 2}", f"has {len(row)} cells, the header {len(header)}",
                             hint="every row needs one value per column")
        try:
            data[n] = [float(c) for c in row]
        except ValueError:
            raise InputError(label, f"line {body_start + n + 2}", f"holds a value that is not a number: {row}",
                             hint="remove or repair that row") from None
    col = {h: data[:, i] for i, h in enumerate(header)}
    ecg = col[ecg_cols[0]] * ECG_COLUMNS[ecg_cols[0]]
    fs, fs_from = fs_hz, "--fs"
    if fs is None and "fs_hz" in meta:
        fs, fs_from = _meta_number(meta, "fs_hz", label), "# fs_hz="
    if "time_s" in col:
        time = col["time_s"]
        steps = np.diff(time)
        positive = steps[np.isfinite(steps) & (steps > 0)]
        if positive.size == 0:
            raise InputError(label, "time_s", "does not increase", hint="the time column must increase from row to row")
        fs_time = 1.0 / float(np.median(positive))
        if fs is None:
            fs = fs_time
        elif not (fs > 0 and abs(fs / fs_time - 1.0) <= FS_MISMATCH_TOLERANCE):
            raise InputError(label, "fs_hz", f"{fs:g} Hz (from {fs_from}) does not match time_s, whose samples are "
                                             f"{1000.0 / fs_time:.3f} ms apart ({fs_time:.6g} Hz)",
                             hint=f"correct or drop {fs_from}: time_s alone gives the sampling rate")
    elif fs is not None:
        time = np.arange(len(rows)) / fs
    else:
        raise InputError(label, "time_s", "is missing and no sampling rate was given",
                         hint="add a time_s column, a '# fs_hz=...' line, or pass --fs")
    if not (fs and math.isfinite(fs) and fs > 0):
        raise InputError(label, "fs_hz", f"sampling rate {fs!r} is not a positive number", hint="give the sampling rate in Hz")
    start = None
    if "start_time" in meta:
        try:
            start = dt.datetime.fromisoformat(meta["start_time"])
        except ValueError:
            raise InputError(label, "start_time", f"{meta['start_time']!r} is not an ISO 8601 time",
                             hint="write it like 2026-03-02T07:31:05.250") from None
    trace = EcgTrace(
        fs_hz=float(fs), time_s=np.asarray(time, dtype=float), ecg_mv=np.asarray(ecg, dtype=float),
        lead=lead or meta.get("lead", "ECG"), source=f"{Path(label).name} (CSV)", start_time=start,
        trigger=col["trigger"] > 0.5 if "trigger" in col else None, resp=col.get("resp"),
    )
    return validate_trace(trace, label)


def _meta_number(meta: dict, key: str, label: str) -> float:
    try:
        return float(meta[key])
    except ValueError:
        raise InputError(label, key, f"'# {key}={meta[key]}' is not a number", hint=f"write it like '# {key}=500'") from None


class CsvTraceWriter:
    """Writes a trace row by row (``time_s,ecg_uv[,trigger]``), flushed to disk at least every second.

    Used by the live capture: a crash loses at most the last second, so the recording grows in
    place, in a file created new (``O_EXCL | O_NOFOLLOW``: never over an existing file, never
    through a planted link).  ``whole=True`` (a trace written at once, e.g. synthesised) writes
    through :func:`qa.outputs.output_file` instead: the file appears complete or not at all.  The
    start time and the sampling rate go in comment lines before the header.
    """

    def __init__(self, path: str | os.PathLike, *, start_time: dt.datetime | None, fs_hz: float | None, lead: str = "ECG",
                 trigger: bool = False, flush_every_s: float = 1.0, whole: bool = False):
        import contextlib
        import io
        import time

        from qa.outputs import create_new, output_file

        self.path = Path(path)
        self._whole = contextlib.ExitStack() if whole else None
        raw = self._whole.enter_context(output_file(self.path, replace=False)) if self._whole else create_new(self.path)
        self._fp = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        self._closed = False
        self._trigger = trigger
        self._clock = time.monotonic
        self._last_flush = self._clock()
        self._flush_every_s = flush_every_s
        if start_time is not None:
            self._fp.write(f"# start_time={start_time.isoformat()}\n")
        if fs_hz is not None:
            self._fp.write(f"# fs_hz={fs_hz:g}\n")
        self._fp.write(f"# lead={lead}\n")
        self._fp.write("time_s,ecg_uv,trigger\n" if trigger else "time_s,ecg_uv\n")
        self.n_rows = 0

    def write(self, time_s: float, ecg_uv: float, trigger: int | None = None) -> None:
        if self._trigger:
            self._fp.write(f"{time_s:.6f},{ecg_uv:.1f},{int(bool(trigger))}\n")
        else:
            self._fp.write(f"{time_s:.6f},{ecg_uv:.1f}\n")
        self.n_rows += 1
        if self._clock() - self._last_flush >= self._flush_every_s:
            self.flush()

    def flush(self) -> None:
        self._fp.flush()
        if self._whole is None:
            os.fsync(self._fp.fileno())
        self._last_flush = self._clock()

    def close(self, error: BaseException | None = None) -> None:
        """Finish the file (``error``: a whole file is abandoned instead, nothing left behind)."""
        if self._closed:
            return
        self._closed = True
        if self._whole is None:
            self.flush()
            self._fp.close()
            return
        self._fp.flush()
        self._fp.detach()  # the output file commits (or removes) what was written
        if error is None:
            self._whole.close()
        else:
            self._whole.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> "CsvTraceWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc)


# ------------------------------------------------------------------------------------ WFDB


def read_wfdb(path: str | os.PathLike, *, lead: str | None = None) -> EcgTrace:
    """A lead of a WFDB record (``path`` without extension, or its .hea/.dat); needs the wfdb extra."""
    label = str(path)
    record_path = str(Path(label).with_suffix("")) if Path(label).suffix in (".hea", ".dat", ".atr") else label
    try:
        import wfdb
    except ImportError:
        raise InputError(label, None, "is a WFDB record, and the wfdb package is not installed",
                         hint="pip install 'qa[wfdb]' (an optional extra)") from None
    try:
        record = wfdb.rdrecord(record_path)
    except (OSError, ValueError) as exc:
        raise InputError(label, None, f"is not a readable WFDB record ({exc})", hint="pass the record's .hea file with its .dat beside it") from exc
    names = [str(n) for n in record.sig_name]
    index = 0
    if lead is not None:
        matches = [i for i, n in enumerate(names) if n.strip().upper() == lead.strip().upper()]
        if not matches:
            raise InputError(label, "lead", f"has no lead {lead!r}; it holds {', '.join(names)}", hint="pick one of those with --lead")
        index = matches[0]
    units = str(record.units[index]).strip().lower()
    factor = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}.get(units)
    if factor is None:
        raise InputError(label, f"units of {names[index]}", f"are {record.units[index]!r}, not a voltage unit",
                         hint="pass a record whose ECG signal is in mV or uV")
    ecg = np.asarray(record.p_signal[:, index], dtype=float) * factor
    fs = float(record.fs)
    start = None
    if record.base_date is not None and record.base_time is not None:
        start = dt.datetime.combine(record.base_date, record.base_time)
    trace = EcgTrace(fs_hz=fs, time_s=np.arange(ecg.size) / fs, ecg_mv=ecg, lead=names[index],
                     source=f"{Path(record_path).name} (WFDB)", start_time=start)
    return validate_trace(trace, label)


def read_trace(path: str | os.PathLike, *, fs_hz: float | None = None, lead: str | None = None) -> EcgTrace:
    """Any supported trace by its file: .csv, a WFDB record (.hea/.dat or the bare name), a DICOM ECG."""
    p = Path(path)
    suffix = p.suffix.lower()
    for part in (p, p.with_suffix(".hea"), p.with_suffix(".dat")) if suffix in (".hea", ".dat", ".atr", "") else (p,):
        if part.exists() and not part.is_file():  # a named pipe or a device would be waited on, or read forever
            raise InputError(str(part), None, "is not a regular file (a named pipe, device or socket): never opened",
                             hint="pass the ECG trace's file")
    if suffix in (".csv", ".txt"):
        return read_csv(p, fs_hz=fs_hz, lead=lead)
    if suffix in (".hea", ".dat", ".atr") or (not suffix and p.with_suffix(".hea").exists()):
        return read_wfdb(p, lead=lead)
    if not p.exists():
        raise InputError(str(p), None, "no such file", hint="check the path of the ECG trace")
    from qa.dicom.waveform import read_dicom_ecg

    return read_dicom_ecg(p, lead=lead or "II")


# ------------------------------------------------------------------------------------ exposures


def read_exposures_csv(path: str | os.PathLike) -> list[tuple[float, float]]:
    """Exposure windows ``start_s,duration_s`` (on the ECG trace's time base), in file order."""
    label = str(path)
    if not Path(path).is_file():
        raise InputError(label, None, "no such file", hint="check the path of the exposure CSV")
    try:
        rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    except UnicodeDecodeError as exc:
        raise InputError(label, None, f"is not a text CSV file ({exc.reason})", hint="pass a CSV of start_s,duration_s") from exc
    rows = [r for r in rows if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows or [c.strip().lower() for c in rows[0]][:2] != ["start_s", "duration_s"]:
        raise InputError(label, "header", "must start with the columns start_s,duration_s",
                         hint="write one exposure per row: start in s on the ECG's time base, duration in s")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        try:
            start, duration = float(row[0]), float(row[1])
        except (ValueError, IndexError):
            raise InputError(label, f"line {n}", f"is not two numbers: {row}", hint="repair or remove that row") from None
        if not (math.isfinite(start) and math.isfinite(duration)) or duration <= 0:
            raise InputError(label, f"line {n}", f"needs a finite start and a positive duration, got {row}", hint="repair that row")
        out.append((start, duration))
    if not out:
        raise InputError(label, None, "lists no exposure", hint="one row per exposure: start_s,duration_s")
    return out
