"""The trends as a spreadsheet: CSV or Excel (xlsx), one row per group, units in the column heads.

Written whole or not at all (:func:`qa.outputs.write_file`).  Text read from DICOM headers (a
protocol, a station name) is written as text, never as a formula: a CSV cell that a spreadsheet
would read as one (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a
leading apostrophe (OWASP, "CSV Injection"), an xlsx cell is typed as a string, and control
characters are shown escaped.  openpyxl is imported here only, when an xlsx is written.
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any

from qa.outputs import write_file
from qa.records.text import escape_controls
from qa.records.trends import DOSE, PASS_RATE_MEANS, QUANTITY_LABELS, STATUSES

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_KEY_HEADS = {"scanner": ["Manufacturer", "Model", "Serial number", "Station name"], "protocol": ["Protocol"], "month": ["Month"]}
_STATUS_HEADS = {"pass": "pass", "warn": "warn", "fail": "fail", "not_available": "not available", "not_applicable": "not applicable"}
_LEVEL_LABELS = {"ctdivol_mgy": "CTDIvol", "dlp_mgycm": "DLP", "dose_msv": "Effective dose"}
# Events per study and the CT Dose Check counts of a dose group (qa.records.trends.DoseCheckCounts).
_DOSE_EXTRA_HEADS = ["Events per study median", "Events per study mean", "Events", "Events with Dose Check details",
                     "Events with a Dose Check alert exceeded", "Events with a Dose Check notification exceeded",
                     "Studies with a Dose Check value exceeded"]


def write_trends(path: str | os.PathLike, kind: str, keys: tuple[str, ...], groups, outliers, *, xlsx: bool, studies=None) -> str:
    """Write the groups (and, in an xlsx, the outliers on a second sheet) to ``path``; returns the path.
    ``studies`` (the study list of ``--studies``): a CSV holds one row per study instead of the
    groups; an xlsx adds a sheet of the studies and one of their events."""
    heads, rows = group_table(kind, keys, groups)
    if not xlsx:
        return write_file(path, to_csv(*(study_table(studies) if studies is not None else (heads, rows))), make_folders=False)
    sheets = [("groups", heads, rows)]
    if kind == DOSE:
        sheets.append(("outliers", *outlier_table(outliers)))
    if studies is not None:
        sheets += [("studies", *study_table(studies)), ("events", *event_table(studies))]
    return write_file(path, to_xlsx(sheets), make_folders=False)


def group_table(kind: str, keys: tuple[str, ...], groups) -> tuple[list[str], list[list[Any]]]:
    """Column heads (units in them) and one row per group."""
    heads = [h for k in keys for h in _KEY_HEADS[k]]
    heads += ["Studies with a dose report", "QA studies", "Studies without a dose report"]
    if kind == DOSE:
        for label, unit in QUANTITY_LABELS.values():
            heads += [f"{label} n", f"{label} median ({unit})", f"{label} p75 ({unit})", f"{label} mean ({unit})"]
        heads += _DOSE_EXTRA_HEADS
        levels = _level_columns(groups)
        heads += [head for _, head in levels]
    else:
        heads += ["Checked studies", "Verdict pass", "Verdict incomplete (n_incomplete)", "Verdict warn", "Verdict fail",
                  f"Pass rate (%) = {PASS_RATE_MEANS}"]
        check_ids = sorted({c.id for g in groups for c in g.checks})
        for check in check_ids:
            heads += [f"{check} {_STATUS_HEADS[s]}" for s in STATUSES] + [f"{check} failure rate (%)"]
    rows = []
    for g in groups:
        row = [v for k in keys for v in _key_values(k, g.keys.get(k))]
        row += [g.n_studies, g.n_qa_studies, g.n_without_dose_report]
        if kind == DOSE:
            for name in QUANTITY_LABELS:
                d = getattr(g, name)
                row += [d.n, d.median, d.p75, d.mean]
            c = g.dose_check
            row += [g.events_per_study.median, g.events_per_study.mean, c.n_events, c.n_checked, c.n_alert_exceeded,
                    c.n_notification_exceeded, c.n_studies_exceeded]
            mine = {(lv.id, lv.quantity): lv for lv in g.reference_levels}
            for key, _ in levels:
                lv = mine.get(key)
                row.append(None if lv is None else (("yes" if lv.exceeded else "no") if lv.compares == "median" else lv.n_above))
        else:
            row += [g.n_checked, g.verdicts["pass"], g.n_incomplete, g.verdicts["warn"], g.verdicts["fail"],
                    None if g.pass_rate is None else 100.0 * g.pass_rate]
            mine = {c.id: c for c in g.checks}
            for check in check_ids:
                c = mine.get(check)
                row += [c.counts[s] if c else 0 for s in STATUSES]
                row.append(None if c is None or c.failure_rate is None else 100.0 * c.failure_rate)
        rows.append(row)
    return heads, rows


def study_table(studies) -> tuple[list[str], list[list[Any]]]:
    """One row per listed study (``qa trends dose --studies``), by date."""
    heads = ["Study (pseudonym)", "Date", "Manufacturer", "Model", "Serial number", "Station name", "Protocol", "qa protocol",
             "Calcium score", "QA study", "Dose report", "Events", "CTDIvol (mGy)", "DLP (mGy cm)", "Effective dose (mSv)",
             "Events with a Dose Check alert exceeded", "Events with a Dose Check notification exceeded"]
    rows = [[s.study_key, _when(s.study_datetime), *_key_values("scanner", s.scanner), s.protocol, s.qa_protocol, s.is_calcium_score,
             s.is_qa, s.has_dose_report, s.n_events, s.ctdivol_mgy, s.dlp_total_mgycm, s.dose_msv, s.n_dose_check_alerts,
             s.n_dose_check_notifications] for s in studies]
    return heads, rows


def event_table(studies) -> tuple[list[str], list[list[Any]]]:
    """One row per irradiation event of the listed studies, with its CT Dose Check details (TID 10015)."""
    heads = ["Study (pseudonym)", "Event", "Acquisition type", "Acquisition protocol", "Target region", "CTDI phantom",
             "CTDIvol (mGy)", "DLP (mGy cm)", "kVp", "Tube current (mA)", "Exposure time (s)", "Pitch", "Total collimation (mm)",
             "Scanning length (mm)", "Dose Check alert CTDIvol (mGy)", "Dose Check alert DLP (mGy cm)", "Dose Check alert exceeded",
             "Dose Check notification CTDIvol (mGy)", "Dose Check notification DLP (mGy cm)", "Dose Check notification exceeded",
             "Dose Check reason for proceeding", "Dose Check authorised by (pseudonym)"]
    rows = []
    for s in studies:
        for e in s.events:
            d = e.dose_check
            check = [None] * 8 if d is None else [
                d.alert_ctdivol_mgy, d.alert_dlp_mgycm, d.alert_exceeded, d.notification_ctdivol_mgy, d.notification_dlp_mgycm,
                d.notification_exceeded, "; ".join(r for r in (d.alert_reason, d.notification_reason) if r) or None,
                "; ".join(p for p in (d.alert_person_key, d.notification_person_key) if p) or None]
            rows.append([s.study_key, e.number, e.acquisition_type, e.protocol, e.target_region, e.phantom, e.ctdivol_mgy, e.dlp_mgycm,
                         e.kvp, e.tube_current_ma, e.exposure_time_s, e.pitch, e.total_collimation_mm, e.scanning_length_mm, *check])
    return heads, rows


def _when(value) -> str | None:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value is not None else None


def outlier_table(outliers) -> tuple[list[str], list[list[Any]]]:
    heads = ["Study (pseudonym)", "Date", "Manufacturer", "Model", "Serial number", "Station name", "Protocol", "Quantity",
             "Value", "Unit", "Group median", "Group MAD", "Group n", "Robust z"]
    rows = []
    for o in outliers:
        label, unit = QUANTITY_LABELS[o.quantity]
        when = o.study_datetime.astimezone().strftime("%Y-%m-%d %H:%M") if o.study_datetime is not None else None
        rows.append([o.study_key, when, *_key_values("scanner", o.scanner), o.protocol, label, o.value, unit, o.median, o.mad, o.n, o.z])
    return heads, rows


def _level_columns(groups) -> list[tuple[tuple[str, str], str]]:
    """One column per (level, quantity) some group reports, in the tables' order of first appearance."""
    seen: dict[tuple[str, str], str] = {}
    for g in groups:
        for lv in g.reference_levels:
            key = (lv.id, lv.quantity)
            if key not in seen:
                what = "median above" if lv.compares == "median" else "exams above"
                seen[key] = f"{lv.id}: {_LEVEL_LABELS[lv.quantity]} {what} {lv.limit:g} {lv.unit}"
    return list(seen.items())


def _key_values(key: str, value) -> list:
    if key == "scanner":
        return [value.manufacturer, value.model, value.serial, value.station_name]
    return [value]


def _text(value: str) -> str:
    """A text cell: control characters escaped."""
    return escape_controls(value)


def to_csv(heads: list[str], rows: list[list[Any]]) -> str:
    """CSV (RFC 4180, comma-separated, UTF-8 with a byte-order mark so that Excel reads the units'
    characters right); text that a spreadsheet would take for a formula gets a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(heads)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return "\ufeff" + out.getvalue()


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return repr(value)
    text = _text(str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_xlsx(sheets: list[tuple[str, list[str], list[list[Any]]]]) -> bytes:
    """An Excel workbook (openpyxl), a sheet per table: heads in bold and frozen, every text typed as a string."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for title, heads, rows in sheets:
        sheet = book.create_sheet(title)
        for column, head in enumerate(heads, start=1):
            cell = sheet.cell(row=1, column=column)
            _set_text(cell, head)
            cell.font = Font(bold=True)
        for r, row in enumerate(rows, start=2):
            for column, value in enumerate(row, start=1):
                cell = sheet.cell(row=r, column=column)
                if isinstance(value, str):
                    _set_text(cell, _text(value))
                elif value is not None:
                    cell.value = value
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions  # filter buttons on the heads (e.g. the events by acquisition protocol)
        for column, head in enumerate(heads, start=1):
            sheet.column_dimensions[_letter(column)].width = min(max(len(head), 10) + 2, 40)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _set_text(cell, text: str) -> None:
    """A string cell, whatever it starts with (openpyxl would take ``=...`` for a formula)."""
    cell.value = text
    cell.data_type = "s"


def _letter(column: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(column)
