"""``qa ingest``: exams and dose reports into the store, on real DICOM written by our synthesisers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from ingest_site import build_site, identify, write_exam

from qa.cli import main
from qa.store import Store


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site(tmp_path_factory.mktemp("site"), 3)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def ingest_json(capsys, *argv):
    code, out, err = run(capsys, "ingest", *argv, "--json")
    return code, json.loads(out), err


def stored(url: str):
    store = Store(url)
    try:
        return {s.record.study_key: s for s in store.studies()}, store.study_counts()
    finally:
        store.close()


def test_every_study_is_stored_once_with_its_dose_checklist_and_flags(capsys, site, tmp_path):
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, err = ingest_json(capsys, site.root, "--db", url)
    assert code == 0, err
    assert doc["studies"] == {"added": 4, "updated": 0, "unchanged": 0, "not_stored": 1, "refused": 0}
    assert doc["dose_reports"] == 4 and doc["checklists"] == 3
    assert {f["name"] for f in doc["files"]["skipped_files"]} == {"notes.txt"}
    (phantom,) = doc["not_stored"]
    assert "phantom QA series without a CT dose report" in phantom["reason"] and "qa phantom" in phantom["reason"]
    studies, counts = stored(url)
    assert counts["studies"] == 4 and counts["dose_events"] == 4 and counts["exam_checks"] == 3
    exams = [s.record for s in studies.values() if s.record.is_calcium_score]
    assert len(exams) == 3
    for record in exams:
        assert record.has_dose_report and record.dose_source == "rdsr" and record.protocol == "Calcium Score"
        assert record.qa_protocol == "cac-standard" and record.k_source and record.dose_msv > 0
        assert record.patient_key.startswith("p-") and record.accession_key.startswith("p-") and record.operator_key.startswith("p-")
        (check,) = record.exam_checks
        motion = {c.id: c for c in check.checks}["breath_hold_motion"]
        assert (motion.status, motion.message) == ("not_applicable", "not analysed at ingest: headers only")
        assert check.document["schema"] == "qa.check/1"
    assert sorted(r.ctdivol_mgy for r in exams) == [2.0, 3.0, 4.0]  # the calcium-score event's CTDIvol
    assert sorted(r.study_month for r in exams) == ["2026-01", "2026-02", "2026-03"]
    (head,) = [s.record for s in studies.values() if not s.record.is_calcium_score]
    assert head.has_dose_report and head.protocol == "Head routine" and not head.exam_checks and head.events[0].phantom == "head16"
    store = Store(url)
    with store.engine.connect() as c:
        scanners = c.execute(sa.text("SELECT station_name, serial, model FROM scanners ORDER BY station_name, model")).all()
    store.close()
    # the images' scanner, and the dose-report writer's model (another scanner model: another scanner)
    assert [tuple(r) for r in scanners] == [("CT-A", "SN-A", "Dose Report Synthesiser"), ("CT-A", "SN-A", "Phantom Synthesiser"),
                                            ("CT-B", "SN-B", "Phantom Synthesiser")]


def test_a_second_ingest_adds_nothing_and_reads_nothing_again(capsys, site, tmp_path):
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    ingest_json(capsys, site.root, "--db", url)
    before = stored(url)
    code, doc, _ = ingest_json(capsys, site.root, "--db", url, "--workers", "2")
    assert code == 0
    # the phantom QA series left out the first time has nothing new either: unchanged too
    assert doc["studies"] == {"added": 0, "updated": 0, "unchanged": 5, "not_stored": 0, "refused": 0}
    assert doc["objects"]["read"] == 0 and doc["objects"]["already_stored"] == doc["objects"]["found"]
    after = stored(url)
    assert after[1] == before[1]
    assert {k: s.ingested_at for k, s in after[0].items()} == {k: s.ingested_at for k, s in before[0].items()}


def test_no_identifier_reaches_the_store_in_clear(capsys, site, tmp_path):
    path = tmp_path / "qa.sqlite"
    code, _, _ = ingest_json(capsys, site.root, "--db", f"sqlite:///{path}")
    assert code == 0
    data = path.read_bytes()
    for clear in site.clear_identifiers:
        assert clear.encode() not in data, clear
        assert clear.encode("utf-16-le") not in data, clear


def test_the_operator_name_is_kept_in_clear_only_when_the_site_says_so(capsys, site, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_OPERATOR_NAMES", "clear")
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    ingest_json(capsys, site.exams[0], "--db", url)
    (study,) = stored(url)[0].values()
    assert study.record.operator_key == "Technologist Clearname0000" and study.record.patient_key.startswith("p-")


def test_a_cumulative_re_send_and_a_continued_study_are_merged_by_irradiation_event_uid(capsys, tmp_path):
    import copy

    import pydicom

    folder, _, report = write_exam(tmp_path / "site", 7)
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    assert ingest_json(capsys, folder, "--db", url)[1]["studies"]["added"] == 1
    original = pydicom.dcmread(report)

    def with_events(extra: int, name: str, *, keep: bool) -> Path:
        """The report again under a new SOP Instance UID: its events (``keep``) and ``extra`` new ones."""
        out = copy.deepcopy(original)
        out.SOPInstanceUID = out.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[name])
        acquisitions = [item for item in out.ContentSequence if item.ConceptNameCodeSequence[0].CodeValue == "113819"]
        if not keep:
            out.ContentSequence = pydicom.Sequence([i for i in out.ContentSequence if i not in acquisitions])
        for n in range(extra):
            event = copy.deepcopy(acquisitions[0])
            for item in event.ContentSequence:
                if item.ValueType == "UIDREF":
                    item.UID = pydicom.uid.generate_uid(entropy_srcs=[name, str(n)])
            out.ContentSequence.append(event)
        for item in out.ContentSequence:  # the report's own total: 30 mGy cm per event
            if item.ConceptNameCodeSequence[0].CodeValue == "113811":
                for total in item.ContentSequence:
                    if total.ConceptNameCodeSequence[0].CodeValue == "113813":
                        total.MeasuredValueSequence[0].NumericValue = str(30 * (extra + (len(acquisitions) if keep else 0)))
        path = tmp_path / "later" / f"{name}.dcm"
        path.parent.mkdir(exist_ok=True)
        out.save_as(path, enforce_file_format=True)
        return path

    resend = with_events(1, "resend", keep=True)  # the first event again, and one more: a cumulative re-send
    code, doc, _ = ingest_json(capsys, resend, "--db", url)
    assert code == 0 and doc["studies"]["updated"] == 1
    (study,) = stored(url)[0].values()
    assert len(study.record.events) == 2 and study.record.dlp_total_mgycm == pytest.approx(60.0)
    assert study.record.exam_checks  # the checklist of the images stays
    continued = with_events(1, "continued", keep=False)  # a report of the continued study: only its new event
    code, doc, _ = ingest_json(capsys, continued, "--db", url)
    (study,) = stored(url)[0].values()
    assert doc["studies"]["updated"] == 1 and len(study.record.events) == 3
    assert study.record.dlp_total_mgycm == pytest.approx(90.0)  # the stored 60 and the continued study's own 30
    assert ingest_json(capsys, resend, continued, "--db", url)[1]["studies"]["unchanged"] == 1


def test_nothing_readable_or_an_unusable_database_is_exit_2(capsys, tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("hello")
    code, out, err = run(capsys, "ingest", tmp_path / "junk", "--db", f"sqlite:///{tmp_path / 'qa.sqlite'}", "--json")
    assert code == 2 and json.loads(out)["schema"] == "qa.error/1" and "no DICOM object could be read" in err
    assert not (tmp_path / "qa.sqlite").exists()  # nothing to store: no store made
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 10)
    code, out, err = run(capsys, "ingest", tmp_path / "junk", "--db", f"sqlite:///{bad}")
    assert code == 2 and "not a SQLite database" in err


def _snapshot(url: str) -> dict:
    studies, counts = stored(url)
    return {"counts": counts,
            "studies": {k: (s.record.dlp_total_mgycm, s.record.dose_msv, s.record.protocol, s.record.study_month,
                            sorted(e.irradiation_event_uid for e in s.record.events),
                            sorted((c.protocol_id, c.verdict) for c in s.record.exam_checks)) for k, s in studies.items()}}


def test_an_ingest_killed_midway_and_restarted_loses_and_duplicates_nothing(tmp_path):
    root = tmp_path / "site"
    for n in range(16):
        write_exam(root, 100 + n, month=1 + n % 12)
    env = dict(os.environ)
    killed_url, clean_url = f"sqlite:///{tmp_path / 'killed.sqlite'}", f"sqlite:///{tmp_path / 'clean.sqlite'}"
    command = [sys.executable, "-m", "qa", "ingest", str(root), "--workers", "2"]
    child = subprocess.Popen([*command, "--db", killed_url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        try:
            with sa.create_engine(killed_url).connect() as c:
                n = c.execute(sa.text("SELECT count(*) FROM studies")).scalar()
        except sa.exc.DBAPIError:
            n = 0
        if n >= 2:
            child.send_signal(signal.SIGKILL)
            killed_at = n
            break
        time.sleep(0.01)
    child.wait(timeout=60)
    assert killed_at is not None and child.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    partial = _snapshot(killed_url)["counts"]["studies"]
    assert partial < 16  # killed midway indeed
    restarted = subprocess.run([*command, "--db", killed_url], env=env, capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    clean = subprocess.run([*command, "--db", clean_url], env=env, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    assert _snapshot(killed_url) == _snapshot(clean_url)
    assert _snapshot(clean_url)["counts"]["studies"] == 16


def test_ingest_json_validates_against_its_schema(capsys, site, tmp_path):
    from test_schemas import validate

    code, doc, _ = ingest_json(capsys, site.root, "--db", f"sqlite:///{tmp_path / 'qa.sqlite'}", "--workers", "2")
    validate(doc, "qa.ingest/1")
    assert doc["workers"] == 2


def test_a_zip_of_an_exam_is_ingested_like_its_folder(capsys, site, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "exam"), "zip", site.exams[1])
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, doc, _ = ingest_json(capsys, archive, "--db", url)
    assert code == 0 and doc["studies"]["added"] == 1 and doc["checklists"] == 1
    again = ingest_json(capsys, site.exams[1], "--db", url)[1]
    assert again["studies"]["unchanged"] == 1


def test_the_study_key_is_the_site_pseudonym_of_the_study_instance_uid(capsys, site, tmp_path):
    from qa.privacy import site_pseudonymiser

    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    ingest_json(capsys, site.exams[2], "--db", url)
    assert set(stored(url)[0]) == {site_pseudonymiser()(site.study_uids[2])}
    assert identify  # the helper writes the identifiers the privacy test looks for
