"""The ``qa`` command line: parses the arguments, calls ONE workflow (:mod:`qa.workflows`), prints
or serialises its record.  No analysis and no policy of its own.

Exit codes: 0 pass (warnings allowed), 1 at least one check failed, 2 unusable input or usage,
3 an internal error (a bug: please report it).  With ``--json`` stdout carries exactly one JSON
object, errors included (``qa.error/1``); human text goes to stderr.  One module per command
group; heavy libraries are imported inside the commands, so ``qa --help`` starts fast.
"""

from __future__ import annotations

import os

# One BLAS thread per qa process unless the user says otherwise: qa's arrays are small matrix
# products (the sub-pixel registration of qa motion / qa check) where OpenBLAS' worker threads only
# contend with each other and with other processes (measured: the motion analysis of a 60-slice
# exam 0.46 s with the default threads on a busy 2-core machine, 0.20 s with one; benchmarks/bench_motion.py).
# Set before numpy is first imported (the commands import it lazily); library users keep their own setting.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys
import textwrap

from qa.cli.common import EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, HelpFormatter, json_out, safe_terminal

EXIT_INTERRUPTED = 130  # the shell's code for SIGINT
EXIT_TERMINATED = 143  # the shell's code for SIGTERM (128 + 15)


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, a service manager, a CI timeout): unwinds like Ctrl-C, so temporary files are
    removed and transactions rolled back, and with --json one qa.error/1 object still says so."""


def _terminated(signum, frame):
    raise Terminated()

# Each command and the module that defines it (qa.cli.<module>.add_parser), in --help order
# (tests/test_imports.py checks that the modules define exactly these commands).
COMMANDS = {"demo": "demo", "score": "score", "phantom": "phantom", "baseline": "phantom", "trend": "phantom", "check": "exam",
            "dose": "exam", "gating": "gating", "motion": "motion", "ingest": "ingest", "trends": "trends", "dashboard": "dashboard",
            "serve": "serve", "synth": "synth", "ecg": "ecg"}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are raised (and so printed as JSON with --json)."""

    def error(self, message: str):  # type: ignore[override]
        from qa.errors import UsageError

        command = self.prog if self.prog != "qa" else "qa COMMAND"
        raise UsageError(message if self.prog == "qa" else f"{self.prog}: {message}", hint=f"see {command} --help")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``command`` (a command's name) only that command's module is imported
    and defined (issue 17: ``qa gating`` need not import the other 11 command modules and the
    records their help texts and choices bring); without it, or with a name that is no command, all
    of them (``qa --help``, and the usage error listing the commands)."""
    from qa import __version__

    parser = _Parser(
        prog="qa",
        formatter_class=HelpFormatter,
        description="Cardiac CT calcium-scoring acquisition and dose QA.",
        epilog=textwrap.dedent(
            """\
            examples:
              qa demo                                   every workflow on synthetic data
              qa score /data/cacs/series1               calcium scores of a CT series
              qa score exam.zip --series-uid 1.2.3...   one series out of several
              qa phantom /data/qa/CT1 --report ct1.html daily phantom QA, stored and reported
              qa check /data/exams/1234 --ecg ecg.csv   the technologist's checklist, with the ECG
              qa gating --ecg ecg.csv --exposures x.csv did each exposure land in its phase window?
              qa motion /data/exams/1234 --plot m.png   breath-hold motion between the stacks
              qa dose /data/dose-reports --json         dose per exam from dose reports
              qa ingest /data/exams --workers 2         exams and dose reports into the store (the manager's view)
              qa trends dose --by scanner,month         dose per scanner and month from the store
              qa synth phantom /tmp/phantom --noise-hu 25 --rotation-deg 30
              qa dashboard --out /srv/share/ct          the fleet as a web page: phantom QA, dose, compliance
              qa serve --aet QA --allow CT1@192.0.2.21 --host 192.0.2.10   receive from the scanners, route to the workflows
              qa synth exams /tmp/fleet --exams 2000 --scanners 4 --months 12   a year of exams

            exit codes: 0 done (warnings allowed), 1 a check failed, 2 unusable input or usage,
                        3 internal error (please report it)
            """
        ),
    )
    parser.add_argument("--version", action="version", version=f"qa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES:
        _command_module(module).add_parser(sub)
    return parser


def _command_module(name: str):
    """The module ``qa.cli.<name>``, imported now (plain import statements: import-linter sees them)."""
    if name == "demo":
        from qa.cli import demo as module
    elif name == "score":
        from qa.cli import score as module
    elif name == "phantom":
        from qa.cli import phantom as module
    elif name == "exam":
        from qa.cli import exam as module
    elif name == "gating":
        from qa.cli import gating as module
    elif name == "motion":
        from qa.cli import motion as module
    elif name == "ingest":
        from qa.cli import ingest as module
    elif name == "trends":
        from qa.cli import trends as module
    elif name == "dashboard":
        from qa.cli import dashboard as module
    elif name == "serve":
        from qa.cli import serve as module
    elif name == "synth":
        from qa.cli import synth as module
    elif name == "ecg":
        from qa.cli import ecg as module
    else:
        raise KeyError(name)
    return module


def main(argv: list[str] | None = None) -> int:
    """Run one command; everything it prints has its control characters escaped (``safe_terminal``).
    SIGTERM unwinds the command like Ctrl-C (:class:`Terminated`)."""
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        with safe_terminal():
            return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# The commands that read one input (a series, an exam or a trace) and exit: run as their own process, they
# are one-shot (qa.workflows.common.one_shot_process: the garbage collector's walks skipped after a header
# scan and at exit, freed heap kept).  Never a command that reads input after input (ingest, serve, demo,
# dose over many reports, ...).
ONE_SHOT_COMMANDS = frozenset({"score", "phantom", "check", "motion", "gating"})


def _main(argv: list[str] | None) -> int:
    one_shot = argv is None  # run as the process's own command (sys.argv: the qa script, python -m qa), not called in-process
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    if as_json:  # --json is accepted anywhere on the line (qa --json score X): the commands take it last
        argv = [a for a in argv if a != "--json"] + ["--json"]
    command = next((a for a in argv if not a.startswith("-")), None)
    if one_shot and command in ONE_SHOT_COMMANDS:  # this process is the command: it reads one input and exits
        from qa.workflows.common import one_shot_process

        one_shot_process()
    from qa.errors import QAError, UsageError

    try:
        # the command's own parser only when the command comes first (qa -h score shows every command)
        parser = build_parser(argv[0] if argv and argv[0] == command else None)
        if as_json:
            return _parse_as_json(parser, argv, command)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_INPUT
        command = args.command
        return int(args.func(args))
    except QAError as exc:
        if isinstance(exc, UsageError) and command and exc.hint == "see qa COMMAND --help":  # qa's own parser, about a command
            exc.hint = f"see qa {command} --help"
        report_error(exc, as_json, command, EXIT_INPUT)
        return EXIT_INPUT
    except BrokenPipeError:  # the reader of our output went away (qa ... | head): nothing to report to
        return EXIT_OK
    except OSError as exc:  # the file system said no: a usage problem, not a bug
        from qa.errors import InputError

        hint = "check the path, its permissions and the free disk space"
        if exc.filename is not None:  # name the file in qa.error/1 too, not only in the message
            error = InputError(str(exc.filename), None, exc.strerror or str(exc), hint=hint)
        else:
            error = UsageError(str(exc), hint=hint)
        report_error(error, as_json, command, EXIT_INPUT)
        return EXIT_INPUT
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print("\nterminated" if terminated else "\ninterrupted", file=sys.stderr)
        code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
        if as_json:
            _error_json(command, code, {"type": "Interrupted",
                                        "message": "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C or SIGINT)",
                                        "hint": "run the command again; nothing half-written is kept"})
        return code
    except Exception as exc:  # a bug: say so plainly, with the traceback
        import traceback

        traceback.print_exc()
        print(f"\nqa: internal error ({type(exc).__name__}: {exc}); please report it", file=sys.stderr)
        if as_json:
            _error_json(command, EXIT_INTERNAL, {"type": "InternalError", "file": None, "field": None,
                                                 "message": f"internal error: {type(exc).__name__}: {exc}",
                                                 "hint": "please report it, with the command and the traceback"})
        return EXIT_INTERNAL


def _parse_as_json(parser: argparse.ArgumentParser, argv: list[str], command: str | None) -> int:
    """Parse and run with --json: help and version become one JSON object too (qa.help/1,
    qa.version/1), and no command at all is a usage error (qa.error/1)."""
    import contextlib
    import io

    from qa import __version__
    from qa.errors import UsageError

    if command is None and not {"-h", "--help", "--version"} & set(argv):
        raise UsageError("no command given", hint="see qa --help for the commands")
    if command is None:
        argv = [a for a in argv if a != "--json"]  # qa --json --help: the top level has no --json of its own
    text = io.StringIO()
    try:
        with contextlib.redirect_stdout(text):  # argparse prints help and version on stdout, then exits 0
            args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
        shown = text.getvalue()
        if "--version" in argv and shown.strip() == f"qa {__version__}":
            json_out({"version": __version__}, "qa.version/1")
        else:
            json_out({"command": command, "help": shown}, "qa.help/1")
        return EXIT_OK
    if text.getvalue():  # nothing else may print on stdout while parsing
        sys.stderr.write(text.getvalue())
    return int(args.func(args))


def report_error(exc, as_json: bool, command: str | None, exit_code: int) -> None:
    # Every line after the first is indented: a file name or header value holding a newline can
    # never print a line of its own that looks like qa's (a fake VERDICT); CR and ESC are escaped.
    print("qa: error: " + str(exc).replace("\n", "\n    "), file=sys.stderr)
    if exc.hint:
        print("    what to do: " + exc.hint.replace("\n", "\n    "), file=sys.stderr)
    if as_json:
        _error_json(command, exit_code, exc.to_dict())


def _error_json(command: str | None, exit_code: int, error: dict) -> None:
    """The ``qa.error/1`` document: which command, which exit code, what went wrong (file, field), what to do."""
    detail = {"type": error.get("type"), "file": error.get("path"), "field": error.get("field") or error.get("key"),
              "message": error.get("message"), "hint": error.get("hint")}
    json_out({"command": command, "exit_code": exit_code, "error": detail}, "qa.error/1")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
