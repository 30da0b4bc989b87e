"""``qa serve``'s configuration: command-line options over a TOML file over the defaults, validated.

The TOML file (``--config FILE``) holds the same settings as the options, by the same names::

    aet = "QA"
    port = 11112
    host = "192.0.2.10"            # the address the scanners connect to
    allow = ["CT1@192.0.2.21", "CT2", "PACS@192.0.2.5"]
    inbox = "/var/lib/qa/inbox"
    db = "postgresql+psycopg://qa@dbhost/qa"
    settle_seconds = 30
    report_dir = "/var/lib/qa/reports"
    tls_cert = "/etc/qa/tls/server.crt"
    tls_key = "/etc/qa/tls/server.key"
    tls_ca = "/etc/qa/tls/scanners-ca.crt"   # optional: require client certificates signed by it
    max_pdu = 262144               # bytes the senders may put in one PDU (0: no limit)
    keep_days = 30                 # routed objects deleted from the inbox after 30 days (0: kept for ever)
    workers = 2                    # receiver processes (default: one per core, at most 4)

    [[route]]                      # site routing rules (qa.workflows.site_rules), first match wins
    patient_id = "PHANTOM*"        # the physicist's phantom account
    workflow = "phantom"           # phantom | exam | keep

An option given on the command line replaces the file's value (``--allow`` replaces the file's list).
Every problem is an :class:`~qa.errors.InputError` naming the file and the setting.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InputError

# An AE title: 1-16 characters of the default repertoire, no backslash or control character,
# not only spaces (PS3.5 sec. 6.2, VR AE).
AE_TITLE_MAX_CHARS = 16  # PS3.5 table 6.2-1
DEFAULT_PORT = 11112  # the registered DICOM port for non-TLS associations (IANA "dicom", PS3.15 annex F)
# Loopback by default: a receiver reachable from the network is a decision the administrator makes
# by naming the interface (--host), never a side effect of starting it.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_SETTLE_SECONDS = 30.0  # issue 15: a series or study quiet this long is complete
# The largest PDU we accept (A-ASSOCIATE maximum length, PS3.8 annex D.1.1), measured with
# benchmarks/bench_serve.py --pdu-sweep (8 associations x 60 CT images of 512 x 512, 2 shared cores):
# 16 kB 140, 64 kB 99, 128 kB 142, 256 kB 178, no limit 146 objects/s (one send each, noisy).
DEFAULT_MAX_PDU = 262144
MIN_PDU = 4096  # dcmtk's smallest (storescp --max-pdu); 0 means no limit (PS3.8 D.1.1)
MAX_PDU = 0xFFFFFFFF  # the field is 4 bytes (PS3.8 table D.1-1)
# Routed objects are deleted from the inbox after this many days (0: never).  Our proposal: the inbox is
# a receive buffer, not an archive (the scanner and the PACS keep the images; the results are in the
# store): a month to look at or re-run what came in, and a disk that never fills up, which would make
# the receiver refuse the next morning's phantom series.
DEFAULT_KEEP_DAYS = 30
MAX_ASSOCIATIONS = 16  # our proposal: two per scanner of a large department (in all, shared by the receiver processes)
MAX_WORKERS = MAX_ASSOCIATIONS  # at most one worker per association the limit allows

_KEYS = ("aet", "port", "host", "allow", "inbox", "db", "settle_seconds", "report_dir", "tls_cert", "tls_key", "tls_ca", "pdf", "max_pdu", "keep_days", "workers", "route")


@dataclass(frozen=True)
class Peer:
    """An allowed sender: its calling AE title, and the host it must connect from (any host when None)."""

    aet: str
    host: str | None = None

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}" if self.host else self.aet


@dataclass(frozen=True)
class ServeConfig:
    aet: str
    port: int
    host: str
    allow: tuple[Peer, ...]
    inbox: Path
    db: str | None
    settle_seconds: float
    report_dir: Path
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    pdf: bool = True  # write the phantom report as PDF too when a PDF engine is installed
    max_pdu: int = DEFAULT_MAX_PDU  # bytes; 0: no limit
    keep_days: float = DEFAULT_KEEP_DAYS  # 0: kept for ever
    workers: int = 1  # receiver processes sharing the port (qa.net.workers)
    rules: tuple = ()  # site routing rules (qa.workflows.site_rules.RouteRule), from the file only

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def check_ae_title(value, where: str | None, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(where, field, f"an AE title must be text of 1 to {AE_TITLE_MAX_CHARS} characters, got {value!r}")
    text = value.strip()
    if len(text) > AE_TITLE_MAX_CHARS or "\\" in text or any(ord(c) < 32 or ord(c) > 126 for c in text):
        raise InputError(where, field, f"{text!r} is not an AE title: at most {AE_TITLE_MAX_CHARS} printable ASCII characters, "
                         "no backslash", hint="use the AE title as the scanner's DICOM node list shows it")
    return text


def parse_peer(text, where: str | None, field: str = "allow") -> Peer:
    """``AET`` or ``AET@HOST`` (HOST: an IP address; a host name is resolved when the receiver starts)."""
    if not isinstance(text, str):
        raise InputError(where, field, f"an allowed sender is AET or AET@HOST, got {text!r}")
    aet, _, host = text.rpartition("@") if "@" in text else (text, "", "")
    aet = check_ae_title(aet, where, field)
    host = host.strip() or None
    if "@" in text and host is None:
        raise InputError(where, field, f"{text!r}: the host after @ is missing", hint="write AET@192.0.2.21, or AET for any host")
    return Peer(aet, host)


def resolve_host(host: str, where: str | None, field: str = "allow") -> str:
    """The IP address of ``host`` (an address is returned as written, normalised)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    import socket

    try:
        return socket.gethostbyname(host)
    except OSError as exc:
        raise InputError(where, field, f"the host {host!r} cannot be resolved: {exc}",
                         hint="give the sender's IP address, or a name the receiver's DNS knows") from None


def default_workers() -> int:
    """One receiver process per core this process may use, at most 4 (our proposal: the C-STORE
    path is measured to saturate 2 cores; more processes than cores only add switching)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def load_config(options: dict, config_file: str | os.PathLike | None = None) -> ServeConfig:
    """The configuration from ``options`` (None: not given) over ``config_file`` over the defaults."""
    values: dict = {}
    where = str(config_file) if config_file is not None else None
    if config_file is not None:
        import tomllib

        try:
            with open(config_file, "rb") as fp:
                values = tomllib.load(fp)
        except OSError as exc:
            raise InputError(where, None, f"the configuration cannot be read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(where, None, f"not a valid TOML file: {exc}") from None
        unknown = sorted(set(values) - set(_KEYS))
        if unknown:
            raise InputError(where, unknown[0], f"unknown setting (the settings are {', '.join(_KEYS)})")
    given = {k: v for k, v in options.items() if v is not None}
    merged = {**values, **given}

    def source(key):
        return None if key in given else where  # the file named only for a value that came from it

    aet = check_ae_title(merged.get("aet", "QA"), source("aet"), "aet")
    port = merged.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InputError(source("port"), "port", f"a TCP port is a whole number from 1 to 65535, got {port!r}")
    host = merged.get("host", DEFAULT_HOST)
    if not isinstance(host, str) or not host.strip():
        raise InputError(source("host"), "host", f"the address to listen on must be text, got {host!r}")
    allow = merged.get("allow", [])
    if isinstance(allow, str) or not isinstance(allow, (list, tuple)):
        raise InputError(source("allow"), "allow", "allow is a list of allowed senders (AET or AET@HOST)")
    if not allow:
        raise InputError(source("allow"), "allow", "no sender is allowed: qa serve accepts only the AE titles (and hosts) you list",
                         hint="add --allow AET[@HOST] for each scanner or PACS that sends (for example --allow CT1@192.0.2.21)")
    peers = tuple(parse_peer(p, source("allow")) for p in allow)
    peers = tuple(Peer(p.aet, resolve_host(p.host, source("allow")) if p.host else None) for p in peers)
    settle = merged.get("settle_seconds", DEFAULT_SETTLE_SECONDS)
    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not 0 <= settle <= 86400:
        raise InputError(source("settle_seconds"), "settle_seconds", f"settle_seconds is a number of seconds from 0 to 86400, got {settle!r}")
    inbox = Path(_path(merged, "inbox", source) or _default_inbox())
    report_dir = Path(_path(merged, "report_dir", source) or inbox / "reports")
    cert, key, ca = (_path(merged, k, source) for k in ("tls_cert", "tls_key", "tls_ca"))
    if (cert is None) != (key is None):
        raise InputError(source("tls_cert" if cert is None else "tls_key"), "tls_cert" if cert is None else "tls_key",
                         "TLS needs both a certificate (tls_cert) and its private key (tls_key)")
    if ca is not None and cert is None:
        raise InputError(source("tls_ca"), "tls_ca", "tls_ca (client certificates) needs TLS: give tls_cert and tls_key too")
    for k, p in (("tls_cert", cert), ("tls_key", key), ("tls_ca", ca)):
        if p is not None and not Path(p).is_file():
            raise InputError(str(p), k, "the file does not exist or is not a file")
    db = merged.get("db")
    if db is not None and not isinstance(db, str):
        raise InputError(source("db"), "db", f"db is a database URL, got {db!r}")
    pdf = merged.get("pdf", True)
    if not isinstance(pdf, bool):
        raise InputError(source("pdf"), "pdf", f"pdf is true or false, got {pdf!r}")
    max_pdu = merged.get("max_pdu", DEFAULT_MAX_PDU)
    if not isinstance(max_pdu, int) or isinstance(max_pdu, bool) or not (max_pdu == 0 or MIN_PDU <= max_pdu <= MAX_PDU):
        raise InputError(source("max_pdu"), "max_pdu", f"max_pdu is 0 (no limit) or a number of bytes from {MIN_PDU} to {MAX_PDU},"
                         f" got {max_pdu!r}", hint=f"leave it out for the measured default, {DEFAULT_MAX_PDU}")
    keep = merged.get("keep_days", DEFAULT_KEEP_DAYS)
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 <= keep <= 36500:
        raise InputError(source("keep_days"), "keep_days", f"keep_days is a number of days from 0 (keep for ever) to 36500, got {keep!r}")
    workers = merged.get("workers")
    if workers is None:
        workers = default_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise InputError(source("workers"), "workers", f"workers is a number of receiver processes from 1 to {MAX_WORKERS}, got {workers!r}",
                         hint="leave it out for one per core (at most 4)")
    return ServeConfig(aet, port, host.strip(), peers, inbox, db, float(settle), report_dir,
                       Path(cert) if cert else None, Path(key) if key else None, Path(ca) if ca else None, pdf, max_pdu, float(keep),
                       workers, route_rules(merged.get("route", []), where))


def route_rules(tables, where: str | None) -> tuple:
    """The ``[[route]]`` tables as :class:`qa.workflows.site_rules.RouteRule` (each checked, the table named)."""
    from qa.workflows.site_rules import WORKFLOWS, RouteRule

    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError(where, "route", "route is a list of [[route]] tables (calling_aet and/or patient_id, and workflow)")
    rules = []
    for n, table in enumerate(tables, 1):
        field = f"route[{n}]"
        unknown = sorted(set(table) - {"calling_aet", "patient_id", "workflow"})
        if unknown:
            raise InputError(where, f"{field}.{unknown[0]}", "unknown setting of a route rule (calling_aet, patient_id, workflow)")
        workflow = table.get("workflow")
        if workflow not in WORKFLOWS:
            raise InputError(where, f"{field}.workflow", f"the workflow is one of {', '.join(WORKFLOWS)}, got {workflow!r}")
        aet = check_ae_title(table["calling_aet"], where, f"{field}.calling_aet") if "calling_aet" in table else None
        pattern = table.get("patient_id")
        if pattern is not None and (not isinstance(pattern, str) or not pattern.strip()):
            raise InputError(where, f"{field}.patient_id", f"a Patient ID pattern is text (* ? [..]), got {pattern!r}")
        if aet is None and pattern is None:
            raise InputError(where, field, "a route rule names a calling_aet, a patient_id pattern, or both",
                             hint='for example: calling_aet = "CT1" and workflow = "phantom"')
        rules.append(RouteRule(workflow, aet, pattern))
    return tuple(rules)


def _path(merged: dict, key: str, source) -> str | None:
    value = merged.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise InputError(source(key), key, f"{key} is a path, got {value!r}")
    return os.path.expanduser(str(value))


def _default_inbox() -> Path:
    from qa.workflows.inbox import default_inbox

    return default_inbox()


def configured_inbox(config_file: str | os.PathLike) -> Path | None:
    """The inbox a TOML configuration names (``qa serve --status --config FILE``), None when it names none."""
    import tomllib

    try:
        with open(config_file, "rb") as fp:
            values = tomllib.load(fp)
    except OSError as exc:
        raise InputError(str(config_file), None, f"the configuration cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(config_file), None, f"not a valid TOML file: {exc}") from None
    path = _path(values, "inbox", lambda key: str(config_file))
    return Path(path) if path else None
