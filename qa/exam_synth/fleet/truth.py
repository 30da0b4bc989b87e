"""The ground truth of a synthetic fleet: one row per study (``truth.csv``) and the whole plan's
summary (``truth.json``, a ``qa.synth-exams-truth/1`` document), both derived from the plan alone
(no clock, no absolute path: the same seed gives the same bytes)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence

from qa.exam_synth.fleet import dose_check
from qa.exam_synth.fleet.catalogue import Scanner
from qa.exam_synth.fleet.expect import NOT_PREDICTED, expected_checks, expected_verdict
from qa.exam_synth.fleet.options import ANOMALY_SHARES, DRIFT_PCT_PER_MONTH, FleetOptions
from qa.exam_synth.fleet.records import FleetRules, PlannedExam

COLUMNS = (
    "folder", "study_number", "kind", "protocol", "is_calcium_score", "is_phantom_qa", "manufacturer", "model",
    "device_serial_number", "station_name", "scanner_id", "study_datetime", "month", "patient_id", "patient_name",
    "accession_number", "operators_name", "study_instance_uid", "has_rdsr", "n_dose_reports", "cumulative_resend",
    "n_events", "n_images", "kvp", "slice_thickness_mm", "kernel", "gating", "heart_rate_bpm", "ctdivol_mgy",
    "dlp_total_mgycm", "dose_msv", "k_msv_per_mgycm", "drift_factor", "outlier_factor", "group_median_dlp_mgycm",
    "above_reference_level", "planted", "check_protocol", "expected_checks", "expected_verdict", "n_dose_check_notifications",
    "n_dose_check_alerts",
)


def _k(exam: PlannedExam, rules: FleetRules) -> float:
    """The k-factor ``qa dose`` gives the study (by its scans' target region; every event of a study has one region)."""
    region = next((e.target_region for e in exam.events if e.role != "localizer"), None)
    return rules.k_by_region.get(region, rules.k_default_body) if region else rules.k_default_body


def study_row(exam: PlannedExam, scanner: Scanner, rules: FleetRules) -> dict:
    """The truth of one study (the keys of :data:`COLUMNS`, values as JSON types)."""
    model = scanner.model
    main = next(s for s in exam.series if s.role != "localizer")
    k = _k(exam, rules)
    checks = expected_checks(exam, model.vendor, rules)
    notifications, alerts = dose_check.counts(exam)
    level = rules.cac_level if exam.kind == "cac" else rules.ccta_level if exam.kind == "ccta" else None
    above = []
    if level is not None:
        dose = k * exam.dlp_total_mgycm
        for name, value, limit in (("ctdivol_mgy", exam.ctdivol_mgy, level.ctdivol_mgy), ("dlp_mgycm", exam.dlp_total_mgycm,
                                                                                        level.dlp_mgycm),
                                   ("dose_msv", dose, level.dose_msv)):
            if limit is not None and value > limit:
                above.append(name)
    return {
        "folder": exam.folder, "study_number": exam.number, "kind": exam.kind, "protocol": exam.protocol,
        "is_calcium_score": exam.kind == "cac", "is_phantom_qa": exam.kind == "phantom_qa", "manufacturer": model.manufacturer,
        "model": model.model, "device_serial_number": scanner.device_serial_number, "station_name": scanner.station_name,
        "scanner_id": scanner.identity, "study_datetime": exam.start, "month": exam.start[:7],
        "patient_id": exam.patient.patient_id, "patient_name": exam.patient.name, "accession_number": exam.accession_number,
        "operators_name": exam.operators_name, "study_instance_uid": exam.study_instance_uid, "has_rdsr": bool(exam.reports),
        "n_dose_reports": len(exam.reports), "cumulative_resend": len(exam.reports) > 1, "n_events": len(exam.events),
        "n_images": sum(s.n_images for s in exam.series), "kvp": main.kvp, "slice_thickness_mm": main.thickness_mm,
        "kernel": main.kernel, "gating": main.gating, "heart_rate_bpm": main.heart_rate_read_bpm,
        "ctdivol_mgy": exam.ctdivol_mgy, "dlp_total_mgycm": exam.dlp_total_mgycm, "dose_msv": round(k * exam.dlp_total_mgycm, 4),
        "k_msv_per_mgycm": k, "drift_factor": exam.drift_factor, "outlier_factor": exam.outlier_factor,
        "group_median_dlp_mgycm": exam.group_median_dlp_mgycm, "above_reference_level": above, "planted": list(exam.planted),
        "check_protocol": rules.protocols[model.vendor].id if exam.kind == "cac" else None,
        "expected_checks": {k_: v for k_, v in checks.items() if v != "pass"}, "expected_verdict": expected_verdict(checks),
        "n_dose_check_notifications": notifications, "n_dose_check_alerts": alerts,
    }


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def truth_csv(rows: Sequence[dict]) -> str:
    """One line per study; lists as ``a;b``, expected checks as ``id=status;...`` (only those that do not pass)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return out.getvalue()


def truth_document(opts: FleetOptions, scanners: Sequence[Scanner], rules: FleetRules, rows: Sequence[dict]) -> dict:
    """The ``qa.synth-exams-truth/1`` document: the options, the scanners, the planted drift and
    anomalies with their counts, the rules the expectations come from, and every study's row."""
    drifting = [s for s in scanners if s.drifts]
    planted = Counter(p for row in rows for p in row["planted"])
    kinds = Counter(row["kind"] for row in rows)
    return {
        "schema": "qa.synth-exams-truth/1",
        "options": opts.to_dict(),
        "scanners": [{"index": s.index, "manufacturer": s.model.manufacturer, "model": s.model.model,
                      "device_serial_number": s.device_serial_number, "station_name": s.station_name, "scanner_id": s.identity,
                      "vendor": s.model.vendor, "cardiac_tags": s.model.cardiac_style, "volume_weight": s.volume_weight,
                      "drifts": s.drifts} for s in scanners],
        "drift": {"scanner": drifting[0].identity if drifting else None, "station_name": drifting[0].station_name if drifting else None,
                  "pct_per_month": DRIFT_PCT_PER_MONTH, "start_month": opts.month_start(opts.drift_start_month).strftime("%Y-%m"),
                  "applies_to": "the patient studies' CTDIvol (and so DLP); the fixed-mAs phantom QA scans do not drift"},
        "anomaly_shares": dict(ANOMALY_SHARES),
        "counts": {"studies": len(rows), "patient_studies": sum(1 for r in rows if not r["is_phantom_qa"]),
                   "by_kind": dict(sorted(kinds.items())), "planted": dict(sorted(planted.items())),
                   "without_dose_report": sum(1 for r in rows if not r["has_rdsr"]),
                   "cumulative_resends": sum(1 for r in rows if r["cumulative_resend"]),
                   "images": sum(r["n_images"] for r in rows), "dose_reports": sum(r["n_dose_reports"] for r in rows),
                   "dose_check_notification_events": sum(r["n_dose_check_notifications"] for r in rows),
                   "dose_check_alert_events": sum(r["n_dose_check_alerts"] for r in rows)},
        "rules": {"protocols": {vendor: p.id for vendor, p in sorted(rules.protocols.items())}, "cac_level": rules.cac_level.id,
                  "ccta_level": rules.ccta_level.id if rules.ccta_level else None, "k_by_region": dict(rules.k_by_region),
                  "k_default_body": rules.k_default_body, "k_cardiac_protocol": rules.k_cardiac_protocol,
                  "not_predicted": list(NOT_PREDICTED), "sources": dict(rules.sources)},
        "studies": list(rows),
    }
