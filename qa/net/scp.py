"""The Storage SCP (pynetdicom): what it accepts, from whom, over what.

* **Presentation contexts**: the storage SOP classes of :data:`qa.dicom.received.STORAGE_CLASSES`
  (CT Image, Enhanced CT, X-Ray Radiation Dose SR, Enhanced and Comprehensive SR, 12-lead and
  general ECG waveforms, Secondary Capture) in every transfer syntax pynetdicom knows (objects are
  stored as they were encoded), and Verification (C-ECHO).
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
from qa.net.receive import Tallies, _text, store_handler

# A-ASSOCIATE-RJ (PS3.8 table 9-21): result 1 rejected-permanent, source 1 DICOM UL service-user;
# result 2 rejected-transient, source 3 service-provider (presentation), reason 2 local-limit-exceeded.
REJECTED_PERMANENT, SERVICE_USER = 0x01, 0x01
REJECTED_TRANSIENT, SERVICE_PROVIDER_PRESENTATION, LOCAL_LIMIT_EXCEEDED = 0x02, 0x03, 0x02
CALLING_AET_NOT_RECOGNIZED, CALLED_AET_NOT_RECOGNIZED = 0x03, 0x07
LISTEN_BACKLOG = 64  # our proposal: connections waiting to be accepted (socketserver's 5 is fewer than 8 senders starting at once)


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


def build_ae(config: ServeConfig):
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, _config

    # pynetdicom's own per-message debug handlers (bound to every PDU and DIMSE event) cost a tenth of
    # the receive time under load (benchmarks/bench_serve.py) and their output is not ours to show:
    # qa serve logs each association itself.
    _config.LOG_HANDLER_LEVEL = "none"
    from pynetdicom.sop_class import Verification

    from qa.dicom.received import STORAGE_CLASSES

    ae = AE(ae_title=config.aet)
    for uid in STORAGE_CLASSES:
        ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    ae.require_called_aet = True  # also checked by pynetdicom itself, after our own check
    ae.require_calling_aet = sorted({p.aet for p in config.allow})
    ae.maximum_associations = MAX_ASSOCIATIONS
    ae.maximum_pdu_size = config.max_pdu
    return ae


def listening_socket(config: ServeConfig) -> socket.socket:
    """The listening socket on ``config.host:config.port``, bound once by the parent process and shared
    by every receiver process (the kernel gives each connection to the one that accepts it first).
    OSError when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    return socket.create_server((config.host, config.port), family=family, backlog=LISTEN_BACKLOG)


def _shared_socket_server(listening: socket.socket):
    """A pynetdicom server class serving on ``listening`` (bound and listening already) instead of binding its own."""
    import socketserver

    from pynetdicom.transport import ThreadedAssociationServer

    class SharedSocketServer(ThreadedAssociationServer):
        def server_bind(self) -> None:
            self.socket.close()  # the one socketserver made; ours is bound already
            listening.setblocking(False)  # several processes accept on it: the one that loses the race must not wait
            self.socket = listening
            self.server_address = listening.getsockname()

        def server_activate(self) -> None:
            pass  # listening already

        def server_close(self) -> None:
            self.socket.close()  # this process's descriptor only: never shutdown(), which would stop the other processes too

        def shutdown(self) -> None:
            socketserver.BaseServer.shutdown(self)  # not in ae._servers (made with make_server): nothing to remove there
            self.server_close()

    return SharedSocketServer


def start_scp(config: ServeConfig, inbox, log: Callable[[str], None], listening: socket.socket, shared_limit=None):
    """Start serving on ``listening`` (:func:`listening_socket`) in pynetdicom's threads; returns (ae, server).

    ``shared_limit`` (several receiver processes: :class:`qa.net.workers.SharedLimit`): the association
    limit counted over every process (``acquire()`` False when it is reached; ``release()``)."""
    from pynetdicom import evt

    check = acceptance(config)
    tallies = Tallies()
    lock = threading.Lock()

    def finish(assoc, how: str | None = None) -> None:
        """Log the association's one line (once: at its release, abort or rejection)."""
        tally = tallies.pop(assoc)
        if tally is None:
            return
        if tally.holds_slot:
            shared_limit.release()
        how = how or ("released" if assoc.is_released else "aborted" if assoc.is_aborted else "closed")
        with lock:
            log(f"association {tally.calling_aet}@{tally.host} -> {config.aet}: {how}; {tally.summary()}")

    def on_requested(event):
        assoc = event.assoc
        request = assoc.requestor.primitive
        calling, called = _text(request.calling_ae_title), _text(request.called_ae_title)
        host = str(assoc.requestor.address)
        tallies.start(assoc, calling, host)
        reason = check(calling, called, host)
        if reason is not None:
            finish(assoc, f"rejected: {_REASONS[reason]}" + (f" (called {called!r})" if reason == CALLED_AET_NOT_RECOGNIZED else ""))
            assoc.acse.send_reject(REJECTED_PERMANENT, SERVICE_USER, reason)
            assoc.kill()
        elif shared_limit is not None:
            if not shared_limit.acquire():
                finish(assoc, f"rejected: {MAX_ASSOCIATIONS} associations are open already (the limit)")
                assoc.acse.send_reject(REJECTED_TRANSIENT, SERVICE_PROVIDER_PRESENTATION, LOCAL_LIMIT_EXCEEDED)
                assoc.kill()
            else:
                tallies.get(assoc).holds_slot = True

    def on_echo(event):
        tallies.get(event.assoc).echoes += 1
        return 0x0000

    handlers = [(evt.EVT_REQUESTED, on_requested), (evt.EVT_C_ECHO, on_echo), (evt.EVT_C_STORE, store_handler(inbox, tallies, log)),
                (evt.EVT_RELEASED, lambda event: finish(event.assoc, "released")),
                (evt.EVT_ABORTED, lambda event: finish(event.assoc, "aborted")),
                (evt.EVT_REJECTED, lambda event: finish(event.assoc, "rejected by the association limits")),
                (evt.EVT_CONN_CLOSE, lambda event: finish(event.assoc))]
    ae = build_ae(config)
    server = ae.make_server(listening.getsockname(), evt_handlers=handlers, ssl_context=tls_context(config),
                            server_class=_shared_socket_server(listening))
    threading.Thread(target=server.serve_forever, name="qa-acceptor", daemon=True).start()
    return ae, server
