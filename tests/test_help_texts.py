"""Help that explains (issue 14, point 9): ``qa baseline --help`` says what set and show do, and
every option of ``qa synth phantom`` (and of the other synth commands) has a help text."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from qa.cli import build_parser, main


def _subparser(*path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _help(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return out.getvalue()


def test_qa_baseline_help_explains_set_and_show():
    text = _help("baseline")
    assert "set   makes a new baseline version" in text and "show  lists every baseline version" in text
    assert "It changes nothing" in " ".join(text.split())
    assert "set|show" in text and "--from-last N" in text


@pytest.mark.parametrize("command", [("synth", "phantom"), ("synth", "exam"), ("synth", "exams")])
def test_every_synth_option_has_a_help_text(command):
    parser = _subparser(*command)
    bare = [a.option_strings[0] if a.option_strings else a.dest for a in parser._actions
            if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert not bare, f"qa {' '.join(command)}: options without help: {', '.join(bare)}"
