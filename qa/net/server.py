"""``qa serve``: the receiver and its router, in the foreground until SIGTERM or SIGINT.

Start: the inbox folder and the report folder are made (their parent folders must exist), the
store is checked writable (a receiver that cannot store its results refuses to start), the inbox
is rescanned (temporary files of a crash removed, complete files not yet journalled added), then
the port is bound, the SCP accepts on it (in this process, or in ``workers`` receiver processes:
:mod:`qa.net.workers`) and the router (:func:`qa.workflows.route.run_router`) runs in a thread of
this process.

Stop (SIGTERM, SIGINT; passed on to the receiver processes): no new association is accepted; the
associations in progress may finish (up to :data:`DRAIN_SECONDS`, then they are aborted: every
object they stored is complete on disk and journalled, any other was never answered with success);
the router finishes the group it is routing; the journal is closed.  Exit 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

from qa.errors import UsageError
from qa.net.config import ServeConfig
from qa.net.lifecycle import DRAIN_SECONDS, drain, stderr_log



def _folder(path: Path, field: str) -> Path:
    from qa.errors import InputError

    if not path.parent.is_dir():
        raise InputError(str(path), field, f"its folder {path.parent} does not exist (qa serve makes the last folder only)",
                         hint=f"create it first (mkdir -p {path.parent}), or give another --{field.replace('_', '-')}")
    try:
        path.mkdir(mode=0o750, exist_ok=True)
    except OSError as exc:
        raise InputError(str(path), field, f"cannot be created: {exc.strerror or exc}") from None
    if not path.is_dir():
        raise InputError(str(path), field, "is not a folder")
    return path


def serve(config: ServeConfig, *, log: Callable[[str], None] | None = None, ready: Callable[[], None] | None = None) -> int:
    """Run the receiver until SIGTERM or SIGINT (raised as KeyboardInterrupt in the main thread); 0 after a clean stop."""
    from qa.workflows.common import WRITE, open_store
    from qa.workflows.inbox import Inbox
    from qa.workflows.route import run_router

    from qa.net.scp import listening_socket, start_scp, tls_context
    from qa.net.workers import Workers

    log = log or stderr_log()
    inbox_dir = _folder(config.inbox, "inbox")
    report_dir = _folder(config.report_dir, "report_dir")
    with open_store(config.db, mode=WRITE) as access:  # refused now, not at the first routed series
        database = access.for_writing().display_url
    inbox = Inbox(inbox_dir, rules=config.rules)
    added, removed = inbox.rescan()
    if added or removed:
        log(f"inbox {inbox_dir}: {added} complete file(s) found that were not journalled, {removed} temporary file(s) of an "
            "interrupted write removed")
    try:
        listening = listening_socket(config)
    except OSError as exc:
        raise UsageError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                         hint="another program may use the port (another qa serve, a storescp); give another --port or --host") from None
    workers = None
    try:
        if config.workers > 1:
            tls_context(config)  # a certificate that cannot be used is refused here, once
            workers = Workers(config, listening, log)
            workers.start()
            server = None
        else:
            server = start_scp(config, inbox, log, listening)
    except BaseException:
        if workers is not None:
            workers.stop(DRAIN_SECONDS)
        listening.close()
        inbox.close()
        raise
    stop = threading.Event()
    router = threading.Thread(target=run_router, name="qa-router", kwargs=dict(
        inbox=inbox, db=config.db, report_dir=report_dir, settle_seconds=config.settle_seconds, stop=stop, log=log, pdf=config.pdf,
        keep_days=config.keep_days))
    router.start()
    allow = ", ".join(str(p) for p in config.allow)
    log(f"listening on {config.host}:{config.port} as {config.aet} ({'TLS' if config.tls else 'no TLS'}"
        f"{', client certificates required' if config.tls_ca else ''}); allowed: {allow}; inbox {inbox_dir}; store {database}; "
        f"reports {report_dir}; {config.workers} receiver process(es); {len(config.rules)} site routing rule(s); a series or study is routed after {config.settle_seconds:g} s of quiet; routed objects "
        + (f"deleted after {config.keep_days:g} days" if config.keep_days else "kept for ever"))
    if ready is not None:
        ready()
    try:
        while router.is_alive():
            router.join(1.0)
            if workers is not None:
                workers.check()
        log("the router stopped unexpectedly; stopping")
    except KeyboardInterrupt:
        log("stop requested: no new associations; finishing the ones in progress and the group being routed")
    finally:
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if workers is not None:
                listening.close()  # the workers' descriptors are closed as they stop: then nothing listens
                workers.stop(DRAIN_SECONDS + 15.0)
            else:
                drain(server, log)
                listening.close()
            stop.set()
            router.join()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            inbox.close()
    log("stopped")
    return 0


