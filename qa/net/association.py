"""One association, acceptor side: the DICOM upper layer state machine of PS3.8 sec. 9.2 for a Storage
and Verification SCP, over one connected socket (plain or TLS), in the calling thread.

    connected ──A-ASSOCIATE-RQ──> policy (called/calling AE, host, limit) ──> A-ASSOCIATE-RJ, close
                                                                   └──> A-ASSOCIATE-AC
    established ──P-DATA-TF (command [+ data set])──> C-STORE / C-ECHO handler ──> response
                ──A-RELEASE-RQ──> A-RELEASE-RP, close          ──A-ABORT / connection lost──> close

Timers (PS3.8 sec. 9.1.5): the A-ASSOCIATE-RQ (and the TLS handshake) must come within
:data:`ARTIM_SECONDS`; an established association with no PDU for :data:`IDLE_SECONDS` is
aborted.  Anything against the protocol (an unknown PDU, a malformed one, a PDU longer than our
maximum length, a data set on an unaccepted presentation context) aborts the association (A-ABORT,
source service-provider) and is logged; an object is handed to the C-STORE handler only when its
last fragment has arrived, so an aborted or broken transfer never reaches the inbox.

Why not pynetdicom: its acceptor with a do-nothing handler received 8 x 60 CT images 5 times slower
than dcmtk's storescp on the same machine (polling reactor threads and per-PDU objects,
benchmarks/bench_serve.py); this module reads each PDU with one ``recv_into`` into one buffer and
answers in the same thread.  pynetdicom and dcmtk remain the peers of the tests.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qa.net import pdu as P

ARTIM_SECONDS = 30.0  # our proposal: the A-ASSOCIATE-RQ (or TLS handshake) after connecting (PS3.8 sec. 9.1.5)
IDLE_SECONDS = 60.0  # our proposal (pynetdicom's and dcmtk's default too): an established association silent this long is aborted
MAX_ASSOCIATE_RQ = 1 << 20  # our limit on an A-ASSOCIATE-RQ's length (one with 128 contexts of 10 syntaxes is ~25 kB)
UNLIMITED_PDU_CAP = 1 << 28  # our limit on one P-DATA-TF when we announce no maximum length (256 MiB)
MAX_COMMAND_BYTES = 1 << 16  # our limit on one command set (a C-STORE-RQ's is ~200 bytes)
MAX_OBJECT_BYTES = 1 << 32  # our limit on one received object (4 GiB: a large multi-frame Enhanced CT is ~1 GiB)
READ_CHUNK = 1 << 20  # a PDU body is read into memory as it arrives, never allocated from its announced length alone
MAX_PENDING = 64  # our proposal: connections not yet associated at once (more are closed at once: a slow-request flood)
SOP_CLASS_NOT_SUPPORTED = 0x0122  # C-STORE refused: SOP Class not supported (PS3.7 annex C.5.4)


@dataclass(frozen=True)
class StoreRequest:
    """A C-STORE request and its data set, as received."""

    calling_aet: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    data_set: bytes  # as the sender encoded it


@dataclass(frozen=True)
class Acceptor:
    """What the acceptor accepts and answers with (the policy is in :mod:`qa.net.scp`)."""

    abstract_syntaxes: frozenset[str]
    transfer_syntaxes: frozenset[str]
    max_pdu: int  # our maximum length (0: no limit)
    implementation_uid: str
    implementation_version: str
    # ``admit(association, request)``: None to accept, else (result, source, reason) of the A-ASSOCIATE-RJ and the log text
    admit: Callable[[Association, P.AssociateRequest], tuple[tuple[int, int, int], str] | None]
    on_store: Callable[[Association, StoreRequest], int]  # the C-STORE status
    on_end: Callable[[Association, str], None]  # once, when the association ends: how it ended
    tls: ssl.SSLContext | None = None


class _Closed(Exception):
    """The peer closed the connection (or it broke)."""


@dataclass(eq=False)  # compared and hashed by identity (the server's set of live associations)
class Association:
    sock: socket.socket
    host: str
    acceptor: Acceptor
    calling_aet: str = ""
    echoes: int = 0
    extra: dict = field(default_factory=dict)  # the policy's own per-association state (its tally)
    _contexts: dict[int, tuple[str, str]] = field(default_factory=dict)  # accepted: id -> (abstract, transfer syntax)
    _peer_max_pdu: int = 0
    _aborting: bool = False
    _deadline: float | None = None  # the A-ASSOCIATE-RQ must be complete by then (ARTIM): a real deadline, not per read

    # ------------------------------------------------------------------ the socket
    def _read_exact(self, view: memoryview) -> None:
        while view:
            if self._deadline is not None:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the A-ASSOCIATE-RQ did not arrive in time")
                self.sock.settimeout(left)
            got = self.sock.recv_into(view)
            if got == 0:
                raise _Closed("the connection was closed by the peer")
            view = view[got:]

    def _read_pdu(self, limit: int) -> tuple[int, bytearray]:
        header = bytearray(6)
        self._read_exact(memoryview(header))
        kind, length = P.HEADER.unpack(header)
        if kind not in P.PDU_NAMES:
            raise P.PduError(f"unknown PDU type 0x{kind:02X}", P.UNRECOGNIZED_PDU)
        if length > limit:
            raise P.PduError(f"a {P.PDU_NAMES[kind]} of {length} bytes, longer than the maximum length {limit}")
        if length <= READ_CHUNK:
            body = bytearray(length)
            self._read_exact(memoryview(body))
            return kind, body
        body = bytearray()  # grows with what really arrives
        while len(body) < length:
            piece = bytearray(min(READ_CHUNK, length - len(body)))
            self._read_exact(memoryview(piece))
            body += piece
        return kind, body

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def abort(self) -> None:
        """End the association from another thread (a server stopping): the connection is shut down and the
        handling thread ends; nothing is written from here (a TLS socket is never used by two threads at once)."""
        self._aborting = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------------ the state machine
    def run(self) -> None:
        """Handle the connection to its end; the socket is closed on return; ``on_end`` is called once if
        an A-ASSOCIATE-RQ was read."""
        how = None
        try:
            self._deadline = time.monotonic() + ARTIM_SECONDS
            self.sock.settimeout(ARTIM_SECONDS)
            if self.acceptor.tls is not None:
                try:
                    self.sock = self.acceptor.tls.wrap_socket(self.sock, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # not a TLS peer (or not a trusted one): nothing to log per connection attempt
            try:
                kind, body = self._read_pdu(MAX_ASSOCIATE_RQ)
            except P.PduError as exc:
                self._abort_provider(exc.reason)  # not DICOM (PS3.8 sec. 9.2, AA-1); nothing to log per stray connection
                return
            except (_Closed, OSError):
                return  # a port scan, a health check, a peer that gave up before asking
            if kind != P.A_ASSOCIATE_RQ:
                self._abort_provider(P.UNEXPECTED_PDU)
                return
            try:
                request = P.parse_associate_rq(body)
            except P.PduError as exc:
                self._abort_provider(exc.reason)
                self.acceptor.on_end(self, f"aborted: a malformed A-ASSOCIATE-RQ ({exc})")
                return
            self._deadline = None
            self.calling_aet = request.calling_aet
            how = self._associate(request)
            if how is None:
                how = self._established()
        except Exception as exc:  # logged as the association's end (and by the server, with its traceback)
            how = f"aborted: internal error {type(exc).__name__}: {exc}"
            self._abort_provider(P.REASON_NOT_SPECIFIED)
            raise
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            if how is not None:
                self.acceptor.on_end(self, how)

    def _abort_provider(self, reason: int) -> None:
        try:
            self._send(P.encode_abort(P.ABORT_SERVICE_PROVIDER, reason))
        except OSError:
            pass

    def _associate(self, request: P.AssociateRequest) -> str | None:
        """Accept (None) or reject (how it ended) the association."""
        refusal = None
        if not request.protocol_version & P.PROTOCOL_VERSION:
            refusal = (1, 2, 2), "rejected: protocol version not supported"  # PS3.8 table 9-21: permanent, ACSE provider, reason 2
        elif request.application_context != P.APPLICATION_CONTEXT:
            refusal = (1, 1, 2), f"rejected: application context {request.application_context!r} not supported"  # service-user, reason 2
        elif 0 < request.max_pdu < 7:  # no room for one byte of a response fragment (PS3.8 sec. 9.3.5)
            refusal = (1, 2, 1), f"rejected: a maximum PDU length of {request.max_pdu} bytes"  # permanent, ACSE provider, no reason
        else:
            refusal = self.acceptor.admit(self, request)
        if refusal is not None:
            (result, source, reason), how = refusal
            try:
                self._send(P.encode_associate_rj(result, source, reason))
            except OSError:
                pass
            return how
        results = []
        for context in request.contexts:
            if context.abstract_syntax not in self.acceptor.abstract_syntaxes:
                results.append((context.id, P.ABSTRACT_SYNTAX_NOT_SUPPORTED, context.transfer_syntaxes[0]))
                continue
            chosen = next((ts for ts in context.transfer_syntaxes if ts in self.acceptor.transfer_syntaxes), None)
            if chosen is None:
                results.append((context.id, P.TRANSFER_SYNTAXES_NOT_SUPPORTED, context.transfer_syntaxes[0]))
            else:
                results.append((context.id, P.ACCEPTANCE, chosen))
                self._contexts[context.id] = (context.abstract_syntax, chosen)
        self._peer_max_pdu = request.max_pdu
        self._send(P.encode_associate_ac(request, results, max_pdu=self.acceptor.max_pdu,
                                         implementation_uid=self.acceptor.implementation_uid,
                                         implementation_version=self.acceptor.implementation_version))
        return None

    def _established(self) -> str:
        """Serve DIMSE messages until release, abort or a broken connection; how the association ended."""
        limit = self.acceptor.max_pdu or UNLIMITED_PDU_CAP
        self.sock.settimeout(IDLE_SECONDS)
        command = bytearray()
        elements: dict[int, bytes] | None = None
        fragments: list[bytes] = []
        received = 0
        context_id = None
        try:
            while True:
                kind, body = self._read_pdu(limit)
                if kind == P.A_RELEASE_RQ:
                    self._send(P.encode_release_rp())
                    return "released" + (" (a message was incomplete)" if command or elements is not None else "")
                if kind == P.A_ABORT:
                    return "aborted by the sender"
                if kind != P.P_DATA_TF:
                    raise P.PduError(f"an unexpected {P.PDU_NAMES[kind]}", P.UNEXPECTED_PDU)
                for pc_id, control, fragment in P.iter_pdvs(body):
                    if pc_id not in self._contexts:
                        raise P.PduError(f"a message on presentation context {pc_id}, which was not accepted")
                    if context_id is not None and pc_id != context_id:
                        raise P.PduError(f"a message begun on presentation context {context_id} goes on on {pc_id}")
                    context_id = pc_id
                    last = bool(control & 0x02)
                    if control & 0x01:  # a command fragment
                        if elements is not None:
                            raise P.PduError("a command fragment where the data set was expected")
                        if len(command) + len(fragment) > MAX_COMMAND_BYTES:
                            raise P.PduError(f"a command set longer than {MAX_COMMAND_BYTES} bytes")
                        command += fragment
                        if not last:
                            continue
                        elements = P.parse_command(bytes(command))
                        command.clear()
                        if P.us(elements, P.DATA_SET_TYPE, "CommandDataSetType") != P.NO_DATA_SET:
                            continue  # its data set follows
                        data_set = None
                    else:
                        if elements is None:
                            raise P.PduError("a data set fragment before its command")
                        received += len(fragment)
                        if received > MAX_OBJECT_BYTES:
                            raise P.PduError(f"an object longer than {MAX_OBJECT_BYTES} bytes")
                        fragments.append(bytes(fragment))
                        if not last:
                            continue
                        data_set = b"".join(fragments)
                        fragments.clear()
                        received = 0
                    self._dispatch(context_id, elements, data_set)
                    elements, context_id = None, None
        except _Closed:
            if self._aborting:
                return "aborted (the server is stopping)"
            return "aborted: the connection was closed without a release"
        except TimeoutError:
            if self._aborting:
                return "aborted (the server is stopping)"
            self._abort_provider(P.REASON_NOT_SPECIFIED)
            return f"aborted: nothing received for {IDLE_SECONDS:g} s"
        except P.PduError as exc:
            self._abort_provider(exc.reason)
            return f"aborted: {exc}"
        except OSError as exc:
            if self._aborting:
                return "aborted (the server is stopping)"
            return f"aborted: the connection broke ({exc.strerror or exc})"

    def _dispatch(self, context_id: int, elements: dict[int, bytes], data_set: bytes | None) -> None:
        command_field = P.us(elements, P.COMMAND_FIELD, "CommandField")
        message_id = P.us(elements, P.MESSAGE_ID, "MessageID")
        sop_class = P.ui(elements, P.AFFECTED_SOP_CLASS, "AffectedSOPClassUID") if P.AFFECTED_SOP_CLASS in elements \
            else self._contexts[context_id][0]
        instance = None
        if command_field == P.C_ECHO_RQ:
            self.echoes += 1
            status = 0x0000
        elif command_field == P.C_STORE_RQ:
            instance = P.ui(elements, P.AFFECTED_SOP_INSTANCE, "AffectedSOPInstanceUID")
            if data_set is None:
                raise P.PduError("a C-STORE-RQ without a data set")
            context_class = self._contexts[context_id][0]
            if sop_class != context_class or context_class == P.VERIFICATION:  # only its own class; never on Verification
                status = SOP_CLASS_NOT_SUPPORTED
            else:
                status = self.acceptor.on_store(self, StoreRequest(self.calling_aet, sop_class, instance,
                                                                   self._contexts[context_id][1], data_set))
        else:
            status = P.UNRECOGNIZED_OPERATION
        response = P.encode_response(command_field, message_id, status, sop_class, instance)
        for data in P.encode_p_data(context_id, True, response, self._peer_max_pdu):
            self._send(data)


class Server:
    """Accept connections on a listening socket (bound already, perhaps shared with other processes) and
    run each association in its own thread."""

    def __init__(self, listening: socket.socket, acceptor: Acceptor, log: Callable[[str], None]):
        self.listening, self.acceptor, self.log = listening, acceptor, log
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._live: set[Association] = set()
        self._thread: threading.Thread | None = None

    @property
    def active_associations(self) -> list[Association]:
        with self._lock:
            return list(self._live)

    def start(self) -> None:
        self.listening.setblocking(False)  # several processes may accept on it: the one that loses the race must not wait
        self._thread = threading.Thread(target=self._accept_loop, name="qa-acceptor", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.listening, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(0.5):
                    continue
                try:
                    sock, address = self.listening.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue  # another receiver process took it
                except OSError as exc:
                    if self._stop.is_set():
                        return
                    self.log(f"accepting a connection failed: {exc.strerror or exc}")
                    self._stop.wait(0.1)  # out of descriptors (EMFILE): do not spin on a listener that stays ready
                    continue
                with self._lock:
                    pending = sum(1 for a in self._live if not a.calling_aet)
                if pending >= MAX_PENDING:
                    sock.close()  # as many connections as this already wait to ask for an association
                    continue
                association = None
                try:
                    sock.setblocking(True)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each response goes at once (no delayed ACK)
                    association = Association(sock, str(address[0]), self.acceptor)
                    with self._lock:
                        self._live.add(association)
                    threading.Thread(target=self._run, args=(association,), name="qa-association", daemon=True).start()
                except (OSError, RuntimeError) as exc:  # no thread to be had: this connection is refused, the server goes on
                    if association is not None:
                        with self._lock:
                            self._live.discard(association)
                    sock.close()
                    self.log(f"a connection from {address[0]} was refused: {exc}")

    def _run(self, association: Association) -> None:
        try:
            association.run()
        except Exception as exc:  # noqa: BLE001 - one association's bug never stops the server
            import traceback

            self.log(f"internal error in an association from {association.host}: {type(exc).__name__}: {exc}\n"
                     f"{traceback.format_exc().rstrip()}")
        finally:
            with self._lock:
                self._live.discard(association)

    def shutdown(self) -> None:
        """Accept no more connections (this process's listening descriptor is closed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.listening.close()  # this process's descriptor only: never shutdown(), which would stop the other processes too
