"""Commands qa suggests are printed as qa was run (issue 13, D5a): the demo's "try: ..." line."""

from __future__ import annotations

import sys

from qa.cli.common import invocation as qa_as_run  # qa as this process was run


def test_a_path_typed_to_qa_is_printed_as_typed(monkeypatch):
    monkeypatch.setattr(sys, "argv", [".venv/bin/qa", "demo"])
    assert qa_as_run() == ".venv/bin/qa"


def test_qa_found_on_path_is_printed_as_qa(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["qa", "demo"])
    assert qa_as_run() == "qa"


def test_python_dash_m_qa_is_printed_as_such(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/somewhere/qa/__main__.py", "demo"])
    assert qa_as_run().endswith(" -m qa")


def test_a_path_with_a_blank_is_quoted_for_the_shell(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/my tools/venv/bin/qa"])
    assert qa_as_run() == "'/my tools/venv/bin/qa'"
