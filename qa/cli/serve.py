"""``qa serve``: the DICOM receiver (:func:`qa.net.serve`); ``qa serve --status``: its inbox (:func:`qa.workflows.inbox.inbox_status`)."""

from __future__ import annotations

import argparse
import sys
import textwrap

from qa.cli.common import EXIT_OK, HelpFormatter, json_out, non_negative, one_line


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1 to 65535)")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    if args.status or args.requeue:
        return _status(args)
    if args.json:
        from qa.errors import UsageError

        raise UsageError("--json goes with --status: qa serve itself logs to stderr", hint="see qa serve --help")
    from qa.net import load_config, serve

    options = {"aet": args.aet, "port": args.port, "host": args.host, "allow": args.allow, "inbox": args.inbox, "db": args.db,
               "settle_seconds": args.settle_seconds, "report_dir": args.report_dir, "tls_cert": args.tls_cert,
               "tls_key": args.tls_key, "tls_ca": args.tls_ca, "pdf": False if args.no_pdf else None,
               "max_pdu": args.max_pdu, "keep_days": args.keep_days,
               "workers": args.workers}
    return serve(load_config(options, args.config))


def _status(args: argparse.Namespace) -> int:
    from qa.workflows.inbox import inbox_status

    inbox = args.inbox
    if inbox is None and args.config is not None:
        from qa.net.config import configured_inbox

        inbox = configured_inbox(args.config)
    out = sys.stderr if args.json else sys.stdout
    if args.requeue:
        from qa.workflows.inbox import requeue_failed

        groups, objects = requeue_failed(inbox, args.requeue)
        print(f"Re-queued {groups} failed group(s), {objects} object(s): routed again by the running qa serve (or at its next start)",
              file=out)
    status = inbox_status(inbox)
    print(f"Inbox    {status.inbox}: {status.objects} object(s) journalled", file=out)
    print(f"Pending  {len(status.pending)} group(s)", file=out)
    for g in status.pending:
        print(f"  {one_line(g.group)}  {g.kind}  {g.objects} object(s) from {', '.join(map(one_line, g.calling_aets)) or '?'},"
              f" last at {g.last_received}", file=out)
    print(f"Routed   (the last {len(status.routed)})", file=out)
    for r in status.routed:
        print(f"  {r.routed}  {one_line(r.group)}  {r.objects} object(s) -> {r.route}: {one_line(r.result)}", file=out)
    print(f"Failed   {len(status.failed)}", file=out)
    for r in status.failed:
        print(f"  {r.routed}  {one_line(r.group)}  {r.objects} object(s) -> {r.route}: {one_line(r.error)}", file=out)
    retention = f"routed objects kept {status.keep_days:g} days" if status.keep_days else "routed objects kept for ever"
    print(f"Retention {retention}; {status.deleted} object(s) deleted so far", file=out)
    if status.failed:
        print("         once the cause is fixed: qa serve --requeue GROUP (or all) routes them again", file=out)
    if args.json:
        json_out(status, "qa.serve-status/1")
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve", formatter_class=HelpFormatter,
        help="DICOM receiver: scanners send phantom series, exams and dose reports; qa routes them to the workflows",
        description=textwrap.dedent(
            """\
            A DICOM Storage SCP (C-STORE of CT, Enhanced CT, dose SRs, Enhanced and Comprehensive SR,
            ECG waveforms, secondary captures; C-ECHO).  Only the AE titles listed with --allow (from
            the host given with AET@HOST) may connect, and only to our AE title.  Each object is written
            to the inbox under its SOP Instance UID (temporary name, synced, renamed) before success is
            answered; a full disk or unwritable inbox answers a failure status.  A CT series or a study's
            dose reports quiet for --settle-seconds is routed: a series showing the phantom to daily
            phantom QA (stored, report written in --report-dir), other CT series to the exam check
            (stored), dose reports to the dose store; ECG waveforms and secondary captures are kept.
            Runs in the foreground and logs one line per association and per routed group on stderr
            (pseudonyms only); SIGTERM or Ctrl-C stops it cleanly.  After a crash, everything not
            routed yet is routed at the next start, once.  Settings also from a TOML file (--config);
            options given override it.  --status shows what is pending, routed and failed.
            """
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              qa serve --aet QA --port 11112 --host 192.0.2.10 --allow CT1@192.0.2.21 --allow PACS
              qa serve --config /etc/qa/serve.toml
              qa serve --aet QA --allow CT1 --tls-cert server.crt --tls-key server.key --port 2762
              qa serve --status --inbox /var/lib/qa/inbox
              qa serve --requeue all --inbox /var/lib/qa/inbox      (failed groups routed again)
              echoscu -aet CT1 -aec QA 192.0.2.10 11112      (from the scanner's side: a C-ECHO test)
            """
        ),
    )
    p.add_argument("--aet", metavar="AET", help="our AE title, which senders must call (default QA)")
    p.add_argument("--port", type=_port, metavar="N", help="TCP port to listen on (default 11112)")
    p.add_argument("--host", metavar="ADDRESS",
                   help="address to listen on (default 127.0.0.1: loopback only; give the address the scanners reach, or 0.0.0.0)")
    p.add_argument("--allow", action="append", metavar="AET[@HOST]",
                   help="a sender allowed to connect, by calling AE title and optionally its host (repeat for each)")
    p.add_argument("--inbox", metavar="DIR", help="folder of the received files and their journal (default: inbox in your data folder)")
    p.add_argument("--db", metavar="URL", help="database URL (default: QA_DB_URL, else the SQLite file in your data folder)")
    p.add_argument("--settle-seconds", type=non_negative, metavar="N",
                   help="route a series or study after N seconds without a new object (default 30)")
    p.add_argument("--report-dir", metavar="DIR", help="folder of the phantom QA reports (default: reports in the inbox)")
    p.add_argument("--no-pdf", action="store_true", help="write the phantom reports as HTML only (default: a PDF too when a PDF engine is installed)")
    p.add_argument("--tls-cert", metavar="FILE", help="TLS: the server certificate (PEM); every connection is then TLS")
    p.add_argument("--tls-key", metavar="FILE", help="TLS: the certificate's private key (PEM)")
    p.add_argument("--tls-ca", metavar="FILE", help="TLS: CA certificates (PEM); senders must present a certificate signed by one")
    p.add_argument("--keep-days", type=non_negative, metavar="N",
                   help="delete routed objects from the inbox after N days (default 30; 0: keep for ever); pending and failed ones are kept")
    p.add_argument("--max-pdu", type=int, metavar="BYTES",
                   help="the largest PDU senders may send us (default 262144, measured; 0: no limit)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="receiver processes sharing the port (default: one per core, at most 4; 1: one process)")
    p.add_argument("--config", metavar="FILE", help="settings from a TOML file (the options' names: aet, port, host, allow, ...)")
    p.add_argument("--status", action="store_true", help="show the inbox: pending groups, the last routed ones, failures")
    p.add_argument("--requeue", metavar="GROUP|all",
                   help="make a failed group (as --status names it; all: every failed group) pending again, then show the status")
    p.add_argument("--json", action="store_true", help="with --status: print one JSON object (qa.serve-status/1) on stdout")
    p.set_defaults(func=cmd_serve)
