"""Hostile text in the store (scanner and protocol names as a scanner or an edited export wrote them)
reaches the dashboard page as text: never as markup, never as script, never as one of the page
template's own markers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from qa.records.identity import ScannerIdentity
from qa.records.study import StudyRecord
from qa.report.dashboard import embedded_json, render_dashboard
from qa.store import Store
from qa.workflows.dashboard import build_dashboard
from tests.report.browser import chromium_page

NOW = dt.datetime(2026, 3, 20, 12, 0).astimezone()
MANUFACTURER = "Evil</script><script>alert(1)</script>"
MODEL = "<img src=x onerror=alert(2)> /*JS*/"
STATION = "CT-</style><!-- \u2028 /*DATA*/ &amp;"
PROTOCOL = "<b>CaScore</b> /*CSS*/ \u2029 ${x} `y`"


def _store(tmp_path) -> str:
    db = f"sqlite:///{tmp_path / 'hostile.sqlite'}"
    scanner = ScannerIdentity(MANUFACTURER, MODEL, None, STATION)
    store = Store(db)
    try:
        for day in range(1, 8):
            store.save_study(StudyRecord(
                study_key=f"p-{day:020x}", scanner=scanner, study_datetime=f"2026-03-{day:02d}T09:00:00", study_month="2026-03",
                protocol=PROTOCOL, qa_protocol="cac-standard", is_calcium_score=True, has_dose_report=True, dose_source="rdsr",
                ctdivol_mgy=2.0 + day / 10, dlp_total_mgycm=30.0 + day, dose_msv=(30.0 + day) * 0.026, qa_version="0.test"))
    finally:
        store.close()
    return db


def test_embedded_json_can_never_end_its_script_element():
    text = embedded_json({"a": "</script><!--<script>", "b": "\u2028\u2029&"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!--<script>", "b": "\u2028\u2029&"}
    page = render_dashboard({"x": "/*JS*/ /*CSS*/ /*DATA*/ /*TITLE*/"})
    assert page.count("/*JS*/") == 1 and page.count("/*DATA*/") == 1  # only the data's own, as data: never expanded


def test_hostile_names_show_as_text_in_the_page_and_run_nothing(tmp_path):
    board = build_dashboard(out=tmp_path / "dash", db=_store(tmp_path), now=NOW)
    html = Path(board.files[-1]).read_text(encoding="utf-8")
    for text in (MANUFACTURER, MODEL, STATION, PROTOCOL, "<script>alert", "<img", "<!--"):
        assert text not in html
    assert html.count("</style>") == 1 and html.count("<script") == 2 and html.count("</script>") == 2  # the data element and the page's script, nothing else
    with chromium_page() as (page, problems):
        page.goto(Path(board.files[-1]).as_uri())
        page.wait_for_selector("#fleet tbody tr[data-scanner]")
        scanner = page.inner_text("#fleet td[data-col=scanner]")
        assert MANUFACTURER in scanner and MODEL in scanner
        assert page.eval_on_selector("#filter-protocol", "s => [...s.options].map(o => o.textContent)") == ["All protocols", PROTOCOL]
        assert page.evaluate("() => document.querySelectorAll('img, b, script').length") == 2  # the page's own two scripts
        assert page.locator("#fleet td[data-col=ctdivol]").get_attribute("data-value") == "2.4"
        assert problems == []  # no alert dialog, no page error, no request
