"""ECG trace files: readers of CSV, WFDB and DICOM ECG into an ``EcgTrace`` record, and the CSV writer.

A trace is one lead in mV on a time base in seconds, with its sampling rate, optional trigger and
respiration channels, and its absolute start time when known.  Gaps in a recording (a lost serial
connection) stay gaps: the time base jumps, no sample is ever invented.

CSV (DESIGN.md): optional ``# key=value`` comment lines first (``# start_time=2026-03-02T07:31:05``,
``# lead=II``, ``# fs_hz=1000``), then a header row; ``time_s`` (or ``--fs`` when absent), one ECG
column whose name carries its unit (``ecg_mv`` or ``ecg_uv``), optional ``trigger`` (0/1) and
``resp``; read block by block, as spreadsheets save it, by :mod:`qa.ecg.csvfile`.  Readers refuse,
naming the file and the column or line: unknown units, non-numeric cells, a time that does not
increase, a sample beyond the possible amplitude, a sampling rate under 50 Hz (a WFDB header's too,
never a library default), a trace too short to hold two beats, a flat or saturated signal.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np

from qa.ecg.csvfile import ECG_COLUMNS, FS_MISMATCH_TOLERANCE, read_csv_data, read_exposure_rows
from qa.errors import InputError
from qa.records.ecg import EcgTrace, TimeBase, require_sampling_rate, validate_trace

__all__ = ["CsvTraceWriter", "EcgTrace", "read_csv", "read_exposures_csv", "read_trace", "read_wfdb", "wfdb_sampling_rate",
           "ECG_COLUMNS", "FS_MISMATCH_TOLERANCE"]


# ------------------------------------------------------------------------------------ CSV


def read_csv(path: str | os.PathLike, *, fs_hz: float | None = None, lead: str | None = None) -> EcgTrace:
    """An ECG trace from a CSV file (module doc; read block by block by :mod:`qa.ecg.csvfile`)."""
    label = str(path)
    data = read_csv_data(path, fs_hz=fs_hz)
    start = None
    if "start_time" in data.meta:
        try:
            start = dt.datetime.fromisoformat(data.meta["start_time"])
        except ValueError:
            raise InputError(label, "start_time", f"{data.meta['start_time']!r} is not an ISO 8601 time",
                             hint="write it like 2026-03-02T07:31:05.250") from None
    trace = EcgTrace(
        fs_hz=data.fs_hz, time_base=data.time_base, ecg_mv=data.ecg_mv,
        lead=lead or data.meta.get("lead", "ECG"), source=f"{Path(label).name} (CSV)", start_time=start,
        trigger=data.trigger, resp=data.resp,
    )
    return validate_trace(trace, label)


class CsvTraceWriter:
    """Writes a trace row by row (``time_s,ecg_uv[,trigger][,resp]``), flushed to disk at least every second.

    Used by the live capture: a crash loses at most the last second, so the recording grows in
    place, in a file created new (``O_EXCL | O_NOFOLLOW``: never over an existing file, never
    through a planted link).  ``whole=True`` (a trace written at once, e.g. synthesised) writes
    through :func:`qa.outputs.output_file` instead: the file appears complete or not at all.  The
    start time and the sampling rate go in comment lines before the header.
    """

    def __init__(self, path: str | os.PathLike, *, start_time: dt.datetime | None, fs_hz: float | None, lead: str = "ECG",
                 trigger: bool = False, flush_every_s: float = 1.0, whole: bool = False, resp: bool = False):
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
        self._resp = resp
        self._clock = time.monotonic
        self._last_flush = self._clock()
        self._flush_every_s = flush_every_s
        if start_time is not None:
            self._fp.write(f"# start_time={start_time.isoformat()}\n")
        if fs_hz is not None:
            self._fp.write(f"# fs_hz={fs_hz:g}\n")
        self._fp.write(f"# lead={lead}\n")
        self._fp.write("time_s,ecg_uv" + (",trigger" if trigger else "") + (",resp" if resp else "") + "\n")
        self.n_rows = 0

    def write(self, time_s: float, ecg_uv: float, trigger: int | None = None, resp: float | None = None) -> None:
        row = f"{time_s:.6f},{ecg_uv:.1f}"
        if self._trigger:
            row += f",{int(bool(trigger))}"
        if self._resp:
            row += f",{resp:.4f}"
        self._fp.write(row + "\n")
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


# The signal storage formats of WFDB (PhysioNet, "signal(5)": the WFDB signal file formats).
WFDB_FORMATS = frozenset({"8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "524"})


def read_wfdb(path: str | os.PathLike, *, lead: str | None = None) -> EcgTrace:
    """A lead of a WFDB record (``path`` without extension, or its .hea/.dat); needs the wfdb extra.

    The sampling rate is read from the header by us first: a header without one, or with one that is
    not a number, is refused (the wfdb package would silently take 250 Hz, the WFDB default)."""
    label = str(path)
    record_path = str(Path(label).with_suffix("")) if Path(label).suffix in (".hea", ".dat", ".atr") else label
    try:
        import wfdb
    except ImportError:
        raise InputError(label, None, "is a WFDB record, and the wfdb package is not installed",
                         hint="pip install 'qa[wfdb]' (an optional extra)") from None
    fs = wfdb_sampling_rate(record_path + ".hea")
    try:
        header = wfdb.rdheader(record_path)
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise InputError(label, None, f"is not a readable WFDB record ({exc})", hint="pass the record's .hea file with its .dat beside it") from exc
    names = [str(n) for n in (header.sig_name or [])]
    if not names:
        raise InputError(record_path + ".hea", "signals", "lists no signal", hint="pass a WFDB record with an ECG signal")
    for name, fmt in zip(names, header.fmt or []):
        if str(fmt) not in WFDB_FORMATS:
            raise InputError(record_path + ".hea", f"format of {name}",
                             f"is {fmt!r}, not a WFDB storage format ({', '.join(sorted(WFDB_FORMATS, key=int))})",
                             hint="repair the signal line of the header (its second field), or export the record again")
    index = 0
    if lead is not None:
        matches = [i for i, n in enumerate(names) if n.strip().upper() == lead.strip().upper()]
        if not matches:
            raise InputError(label, "lead", f"has no lead {lead!r}; it holds {', '.join(names)}", hint="pick one of those with --lead")
        index = matches[0]
    units = str(header.units[index]).strip().lower()
    factor = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}.get(units)
    if factor is None:
        raise InputError(label, f"units of {names[index]}", f"are {header.units[index]!r}, not a voltage unit",
                         hint="pass a record whose ECG signal is in mV or uV")
    try:  # one channel, as float32: a long record stays small
        record = wfdb.rdrecord(record_path, channels=[index], return_res=32)
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise InputError(label, None, f"is not a readable WFDB record ({exc})", hint="pass the record's .hea file with its .dat beside it") from exc
    ecg = np.asarray(record.p_signal[:, 0], dtype=np.float32)
    if factor != 1.0:
        ecg *= np.float32(factor)
    start = None
    if record.base_date is not None and record.base_time is not None:
        start = dt.datetime.combine(record.base_date, record.base_time)
    trace = EcgTrace(fs_hz=fs, time_base=TimeBase.uniform(ecg.size, fs), ecg_mv=ecg, lead=names[index],
                     source=f"{Path(record_path).name} (WFDB)", start_time=start)
    return validate_trace(trace, label)


# The record line of a WFDB header: name[/segments] signals [fs[/counter][(base counter)] [samples [time [date]]]]
# (PhysioNet, "header(5)": the WFDB header file format).
_FS_FIELD = re.compile(r"^(?P<fs>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?:/[0-9.eE+-]+)?(?:\([0-9.eE+-]+\))?$")


def wfdb_sampling_rate(hea: str) -> float:
    """The sampling rate written in a WFDB header's record line, or ``InputError`` (never a default)."""
    try:
        text = Path(hea).read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise InputError(hea, None, "no such WFDB header", hint="pass the record's .hea file with its .dat beside it") from None
    record_line = next((ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()), "")
    fields = record_line.split()
    if len(fields) < 3:
        raise InputError(hea, "sampling frequency", f"the record line {record_line[:80]!r} gives no sampling frequency "
                                                    "(a reader would silently assume 250 Hz)",
                         hint="write the recorder's sampling frequency after the number of signals, e.g. '100 2 360 650000'")
    match = _FS_FIELD.match(fields[2])
    if not match:
        raise InputError(hea, "sampling frequency", f"{fields[2]!r} in the record line is not a sampling frequency",
                         hint="write the recorder's sampling frequency in Hz, e.g. '100 2 360 650000'")
    return require_sampling_rate(float(match.group("fs")), hea, "sampling frequency", "the WFDB header")


def read_trace(path: str | os.PathLike, *, fs_hz: float | None = None, lead: str | None = None) -> EcgTrace:
    """Any supported trace by its file: .csv, a WFDB record (.hea/.dat or the bare name), a DICOM ECG."""
    p = Path(path)
    suffix = p.suffix.lower()
    for part in (p, p.with_suffix(".hea"), p.with_suffix(".dat")) if suffix in (".hea", ".dat", ".atr", "") else (p,):
        if part.is_dir():
            raise InputError(str(part), None, "is a folder, not an ECG trace file",
                             hint="pass the ECG trace's file (.csv, a WFDB .hea, or a DICOM ECG)")
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
    """Exposure windows ``start_s,duration_s`` (on the ECG trace's time base), in file order
    (:func:`qa.ecg.csvfile.read_exposure_rows` gives their lines and the flagged warnings too)."""
    rows, _ = read_exposure_rows(path)
    return [(r.start_s, r.duration_s) for r in rows]
