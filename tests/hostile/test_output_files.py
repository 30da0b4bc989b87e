"""Output files a user names (``--csv``, ``--xlsx``, ``--plot``, ``--report``): a folder that does not
exist is refused (exit 2, the folder named, what to do), never created; a name that says another
kind of file than the one written (``--xlsx dose.csv``) is refused too; both before anything is
read, so nothing is written or stored.  Every command's output file flag behaves the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ingest_site import write_exam

from qa.cli import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A real calcium-score exam with its dose report, its ECG and exposures, and a store holding the exam."""
    import os

    from qa.ecg.synth import beat_times, synthesize_ecg, write_ecg_csv
    from qa.workflows.ingest import ingest

    root = tmp_path_factory.mktemp("outputs")
    secret = os.environ.get("QA_SECRET_FILE")
    os.environ["QA_SECRET_FILE"] = str(root / "secret")
    try:
        exam, _, _ = write_exam(root / "site", 41)
        db = f"sqlite:///{root / 'qa.sqlite'}"
        assert ingest([exam], db=db).studies.added == 1
    finally:
        os.environ.pop("QA_SECRET_FILE") if secret is None else os.environ.__setitem__("QA_SECRET_FILE", secret)
    r = beat_times(12.0, 60.0, first_s=0.5)
    t, ecg = synthesize_ecg(r, duration_s=12.0, seed=2)
    trace = root / "ecg.csv"
    write_ecg_csv(trace, t, ecg, fs_hz=500.0)
    exposures = root / "exposures.csv"
    exposures.write_text("start_s,duration_s\n" + "".join(f"{s:.3f},0.2\n" for s in np.asarray(r[3:8]) + 0.6))
    return {"exam": exam, "db": db, "ecg": trace, "exposures": exposures}


# (command line before the output flag, the flag, the kind's ending)
COMMANDS = {
    "trends --csv": (lambda x: ["trends", "dose", "--db", x["db"]], "--csv", ".csv"),
    "trends --xlsx": (lambda x: ["trends", "compliance", "--db", x["db"]], "--xlsx", ".xlsx"),
    "trend --plot": (lambda x: ["trend", "--scanner", "CT-A", "--db", x["db"]], "--plot", ".png"),
    "check --plot": (lambda x: ["check", x["exam"], "--ecg", x["ecg"]], "--plot", ".png"),
    "gating --plot": (lambda x: ["gating", "--ecg", x["ecg"], "--exposures", x["exposures"]], "--plot", ".png"),
    "motion --plot": (lambda x: ["motion", x["exam"]], "--plot", ".png"),
    "phantom --report": (lambda x: ["phantom", x["exam"], "--db", x["db"]], "--report", ".html"),
}


def qa_json(capsys, *argv) -> tuple[int, dict]:
    capsys.readouterr()
    code = main([str(a) for a in argv] + ["--json"])
    return code, json.loads(capsys.readouterr().out)


def _store_bytes(inputs) -> bytes:
    return Path(inputs["db"].removeprefix("sqlite:///")).read_bytes()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_output_file_in_a_folder_that_does_not_exist_is_refused_and_no_folder_is_made(capsys, inputs, tmp_path, name):
    head, flag, ending = COMMANDS[name]
    missing = tmp_path / "reprots" / "2026"  # a typo'd path
    stored = _store_bytes(inputs)
    code, doc = qa_json(capsys, *head(inputs), flag, missing / f"out{ending}")
    assert code == 2 and doc["schema"] == "qa.error/1"
    error = doc["error"]
    assert error["file"] == str(missing) and error["field"] == flag and "does not exist" in error["message"]
    assert "mkdir" in error["hint"]
    assert not (tmp_path / "reprots").exists() and list(tmp_path.iterdir()) == []
    assert _store_bytes(inputs) == stored  # refused before anything was read or stored


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_output_file_named_as_another_kind_of_file_is_refused(capsys, inputs, tmp_path, name):
    head, flag, ending = COMMANDS[name]
    wrong = tmp_path / ("out.csv" if ending != ".csv" else "out.xlsx")
    code, doc = qa_json(capsys, *head(inputs), flag, wrong)
    assert code == 2 and doc["error"]["file"] == str(wrong) and doc["error"]["field"] == flag
    assert f"must end in {ending}" in doc["error"]["message"] and f"out{ending}" in doc["error"]["hint"]
    assert list(tmp_path.iterdir()) == []


def test_the_csv_and_xlsx_refusals_point_at_the_other_option(capsys, inputs, tmp_path):
    code, doc = qa_json(capsys, "trends", "dose", "--db", inputs["db"], "--xlsx", tmp_path / "dose.csv")
    assert code == 2 and "--csv" in doc["error"]["hint"] and "Excel workbook" in doc["error"]["message"]
    code, doc = qa_json(capsys, "trends", "dose", "--db", inputs["db"], "--csv", tmp_path / "dose.xlsx")
    assert code == 2 and "--xlsx" in doc["error"]["hint"]


def test_an_output_file_in_an_existing_folder_is_written_whatever_the_case_of_its_ending(capsys, inputs, tmp_path):
    code, doc = qa_json(capsys, "trends", "dose", "--db", inputs["db"], "--xlsx", tmp_path / "Dose.XLSX")
    assert code == 0 and (tmp_path / "Dose.XLSX").read_bytes()[:4] == b"PK\x03\x04"
    code, doc = qa_json(capsys, "trend", "--scanner", "CT-A", "--db", inputs["db"], "--plot", tmp_path / "ct-a.png")
    assert code == 0  # no phantom run stored: nothing charted, nothing written, and no error
