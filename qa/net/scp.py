"""The Storage SCP: what it accepts, from whom, over what (the protocol itself: :mod:`qa.net.association`).

* **Presentation contexts**: the storage SOP classes of :data:`qa.dicom.received.STORAGE_CLASSES`
  (CT Image, Enhanced CT, X-Ray Radiation Dose SR, Enhanced and Comprehensive SR, 12-lead and
  general ECG waveforms, Secondary Capture) in every transfer syntax pydicom reads (the first the
  sender proposes; objects are stored as they were encoded), and Verification (C-ECHO).
* **Association acceptance** (A-ASSOCIATE-RQ, PS3.8 sec. 7.1.1.9 for the reasons): the called AE
  title must be ours, else *rejected-permanent, called-AE-title-not-recognized*; the calling AE
  title must be on the allow-list, and when the list names a host for it, the association must
  come from that host, else *rejected-permanent, calling-AE-title-not-recognized*.
* **TLS** (PS3.15 annex B.1, the TLS secure transport connection profile): with a certificate and
  key, every connection is TLS 1.2 or later; with a CA file too, the sender must present a
  certificate signed by it.
* Every association is logged once when it ends (released, aborted, rejected): peer AE title and
  address, how it ended, the objects stored, duplicates and refusals.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable

from qa.net.config import MAX_ASSOCIATIONS, ServeConfig
from qa.net.receive import Tally, store_handler

# A-ASSOCIATE-RJ (PS3.8 table 9-21): result 1 rejected-permanent, source 1 DICOM UL service-user;
# result 2 rejected-transient, source 3 service-provider (presentation), reason 2 local-limit-exceeded.
REJECTED_PERMANENT, SERVICE_USER = 0x01, 0x01
REJECTED_TRANSIENT, SERVICE_PROVIDER_PRESENTATION, LOCAL_LIMIT_EXCEEDED = 0x02, 0x03, 0x02
CALLING_AET_NOT_RECOGNIZED, CALLED_AET_NOT_RECOGNIZED = 0x03, 0x07
LISTEN_BACKLOG = 64  # our proposal: connections waiting to be accepted (8 scanners starting at once must all get in)


def tls_context(config: ServeConfig) -> ssl.SSLContext | None:
    """The server's TLS context (None without TLS)."""
    if not config.tls:
        return None
    from qa.errors import InputError

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # PS3.15 B.1: TLS 1.2 or later (BCP 195)
    try:
        context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
    except (ssl.SSLError, OSError) as exc:
        raise InputError(str(config.tls_cert), "tls_cert", f"the certificate and key cannot be used: {exc}",
                         hint="give a PEM certificate and the PEM private key that belongs to it") from None
    if config.tls_ca is not None:
        try:
            context.load_verify_locations(cafile=str(config.tls_ca))
        except (ssl.SSLError, OSError) as exc:
            raise InputError(str(config.tls_ca), "tls_ca", f"the CA certificates cannot be read: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def acceptance(config: ServeConfig) -> Callable[[str, str, str], int | None]:
    """``check(calling_aet, called_aet, host)``: None to accept, else the A-ASSOCIATE-RJ reason."""
    allowed: dict[str, set[str | None]] = {}
    for peer in config.allow:
        allowed.setdefault(peer.aet, set()).add(peer.host)

    def check(calling: str, called: str, host: str) -> int | None:
        if called != config.aet:
            return CALLED_AET_NOT_RECOGNIZED
        hosts = allowed.get(calling)
        if hosts is None or (None not in hosts and host not in hosts):
            return CALLING_AET_NOT_RECOGNIZED
        return None

    return check


_REASONS = {CALLED_AET_NOT_RECOGNIZED: "called AE title not recognized",
            CALLING_AET_NOT_RECOGNIZED: "calling AE title (or its host) not on the allow-list"}


class LocalLimit:
    """The association limit of one receiver process (the :class:`qa.net.workers.SharedLimit` interface)."""

    def __init__(self, limit: int):
        self.limit, self.open = limit, 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.open = max(0, self.open - 1)


def listening_socket(config: ServeConfig) -> socket.socket:
    """The listening socket on ``config.host:config.port``, bound once by the parent process and shared
    by every receiver process (the kernel gives each connection to the one that accepts it first).
    OSError when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    return socket.create_server((config.host, config.port), family=family, backlog=LISTEN_BACKLOG)


def start_scp(config: ServeConfig, inbox, log: Callable[[str], None], listening: socket.socket, shared_limit=None):
    """Start serving on ``listening`` (:func:`listening_socket`) in threads of this process; returns the
    :class:`qa.net.association.Server` (``shutdown()``, ``active_associations``).

    ``shared_limit`` (several receiver processes: :class:`qa.net.workers.SharedLimit`): the association
    limit counted over every process (``acquire()`` False when it is reached; ``release()``)."""
    from pydicom.uid import AllTransferSyntaxes

    from qa.dicom.received import STORAGE_CLASSES
    from qa.net.association import Acceptor, Server
    from qa.net.pdu import IMPLEMENTATION_UID, VERIFICATION, implementation_version

    check = acceptance(config)
    limit = shared_limit if shared_limit is not None else LocalLimit(MAX_ASSOCIATIONS)
    lock = threading.Lock()

    def admit(association, request):
        called, calling, host = request.called_aet, request.calling_aet, association.host
        reason = check(calling, called, host)
        if reason is not None:
            return ((REJECTED_PERMANENT, SERVICE_USER, reason),
                    f"rejected: {_REASONS[reason]}" + (f" (called {called!r})" if reason == CALLED_AET_NOT_RECOGNIZED else ""))
        if not limit.acquire():
            return ((REJECTED_TRANSIENT, SERVICE_PROVIDER_PRESENTATION, LOCAL_LIMIT_EXCEEDED),
                    f"rejected: {MAX_ASSOCIATIONS} associations are open already (the limit)")
        association.extra["tally"] = Tally(calling, host)  # accepted: it holds a place in the limit until it ends
        return None

    def on_end(association, how: str) -> None:
        """Log the association's one line (at its release, abort or rejection)."""
        tally = association.extra.get("tally")
        if tally is not None:
            limit.release()  # accepted associations only hold a place in the limit
        else:
            tally = Tally(association.calling_aet, association.host)
        tally.echoes = association.echoes
        with lock:
            log(f"association {tally.calling_aet}@{tally.host} -> {config.aet}: {how}; {tally.summary()}")

    store = store_handler(inbox, log)

    def on_store(association, request) -> int:
        return store(association.extra["tally"], request)

    acceptor = Acceptor(
        abstract_syntaxes=frozenset(STORAGE_CLASSES) | {VERIFICATION},
        transfer_syntaxes=frozenset(str(uid) for uid in AllTransferSyntaxes),
        max_pdu=config.max_pdu, implementation_uid=IMPLEMENTATION_UID, implementation_version=implementation_version(),
        admit=admit, on_store=on_store, on_end=on_end, tls=tls_context(config))
    server = Server(listening, acceptor, log)
    server.start()
    return server
