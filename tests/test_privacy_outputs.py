"""No patient or study identifier of the real public files reaches any output in clear text.

Every command runs with ``--json`` on the real files in ../shared/data (CT images, a real phantom
scan, dose reports, a DICOM ECG) and its JSON, its terminal text and the HTML report are searched
for every Patient ID, Study Instance UID, Accession Number, patient name and operator name those
files carry.  Identifiers are pseudonymised when read (``study_key``, ``patient_key``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.cli import main

IDENTIFYING = ("PatientID", "StudyInstanceUID", "AccessionNumber", "PatientName", "OtherPatientIDs", "OperatorsName")
# Attributes that may be shown: a placeholder identifier equal to one of them ("TOSHIBA" as the
# patient name of a vendor's test file, "REMOVED" everywhere in an anonymised one) is not a leak.
SHOWN = ("Manufacturer", "ManufacturerModelName", "StationName", "InstitutionName", "SeriesDescription", "StudyDescription")


@pytest.fixture(scope="module")
def identifiers(request) -> set[str]:
    from tests.conftest import shared_data_dir

    root = shared_data_dir()
    if root is None:
        pytest.skip("the public test files (../shared/data, or $QA_SHARED_DATA) are not on this machine")
    import pydicom

    found: set[str] = set()
    shown: set[str] = set()
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix in (".md", ".hea", ".dat", ".atr", ".csv", ".json"):
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # not DICOM
            continue
        shown.update(str(ds.get(k)).strip() for k in SHOWN if ds.get(k))
        for keyword in IDENTIFYING:
            value = ds.get(keyword)
            if value in (None, ""):
                continue
            for part in (value if isinstance(value, pydicom.multival.MultiValue) else [value]):
                text = str(part).strip()
                if text:
                    found.add(text)
    found -= shown
    assert len(found) > 20  # the files do carry identifiers: the test has something to find
    return found


# Identifiers this short ("2", "458") occur as ordinary numbers and words: they count only as a whole
# JSON string (in tables and text they cannot be told from counts).
SHORT = 4


def _leaks(text: str, identifiers: set[str]) -> list[str]:
    """Identifiers in ``text`` as whole tokens (a UID inside a longer UID is another value, not a leak)."""
    leaks = []
    for v in identifiers:
        if len(v) < SHORT:
            if f'"{v}"' in text:
                leaks.append(v)
        elif re.search(rf"(?<![\w.]){re.escape(v)}(?![\w.])", text):
            leaks.append(v)
    return sorted(leaks)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _check(capsys, identifiers, *argv, codes=(0, 1)) -> dict:
    code, out, err = _run(capsys, *argv, "--json")
    assert code in codes, err
    assert _leaks(out, identifiers) == [] and _leaks(err, identifiers) == [], argv
    return json.loads(out)


def test_qa_score_and_check_on_the_real_ct_images(capsys, identifiers, ct_dir):
    gated = sorted(ct_dir.glob("pydicom-dicomdirtests-98892001-*.dcm"))  # a gated calcium score and its scouts
    _check(capsys, identifiers, "score", *[p for p in gated if "CT5N" in p.name])
    for name in ("CT_small.dcm", "WG04-CT2_RLE.dcm", "pydicom-dicomdirtests-77654033-CT2-17106.dcm"):
        _check(capsys, identifiers, "score", ct_dir / name)
    doc = _check(capsys, identifiers, "check", *gated)
    assert doc["exam"]["study_key"].startswith("p-") and doc["exam"]["patient_key"].startswith("p-")
    _check(capsys, identifiers, "check", ct_dir, codes=(2,))  # several studies: refused, naming series only


def test_qa_dose_on_every_real_dose_report(capsys, identifiers, shared_data):
    doc = _check(capsys, identifiers, "dose", shared_data / "dicom" / "rdsr")
    assert doc["reports"] and all(r["study_key"].startswith("p-") for r in doc["reports"])
    assert len(doc["skipped"]) == 2  # the two negative controls, by file name
    _check(capsys, identifiers, "dose", shared_data / "dicom" / "rdsr", "--protocol", "cac-standard")


def test_qa_phantom_report_trend_and_baseline_on_the_real_phantom_scan(capsys, identifiers, canon_phantom_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    report = tmp_path / "report.html"
    _check(capsys, identifiers, "phantom", canon_phantom_dir, "--ring", "large", "--db", db, "--report", report)
    html = report.read_text()
    assert "<html" in html and _leaks(html, identifiers) == []
    _check(capsys, identifiers, "trend", "--scanner", "1", "--db", db)
    _check(capsys, identifiers, "baseline", "show", "--scanner", "1", "--db", db)
    # what the store itself holds
    raw = Path(tmp_path / "qa.sqlite").read_bytes().decode("latin-1")
    assert _leaks(raw, identifiers) == []


def test_qa_gating_on_the_real_dicom_ecg(capsys, identifiers, shared_data, tmp_path):
    ecg = shared_data / "ecg" / "waveform_ecg.dcm"
    if not ecg.exists():
        pytest.skip(f"{ecg} is missing")
    _check(capsys, identifiers, "gating", "--ecg", ecg)
    exposures = tmp_path / "exposures.csv"
    exposures.write_text("start_s,duration_s\n2.0,0.15\n4.0,0.15\n")
    _check(capsys, identifiers, "gating", "--ecg", ecg, "--exposures", exposures)


def test_errors_name_files_but_no_identifier(capsys, identifiers, shared_data, ct_dir):
    _check(capsys, identifiers, "dose", shared_data / "dicom" / "rdsr" / "ESR_non-dose.dcm", codes=(2,))
    _check(capsys, identifiers, "phantom", ct_dir / "CT_small.dcm", "--no-store", codes=(2,))
