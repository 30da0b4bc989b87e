"""Our DICOM upper layer (qa.net.pdu, qa.net.association) against real peers and raw bytes on loopback:
presentation context negotiation as pynetdicom sees it, the association limit, fragmented PDUs from
dcmtk stored byte for byte, and protocol violations written by hand (each answered with A-ABORT and
logged, the server going on)."""

from __future__ import annotations

import socket
import struct

import pytest
from serving import Server, dcmtk, pynetdicom_store

pytestmark = pytest.mark.slow

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage: not accepted by qa serve
EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    folder = tmp_path_factory.mktemp("ul-data") / "phantom"
    synthesize_phantom(folder, SynthOptions(pixel_mm=1.95, matrix=128, z_start_mm=-9.0, z_end_mm=3.0, seed=7))
    return sorted(folder.glob("*.dcm"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("ul"), "--max-pdu", "4096", settle=3600.0) as s:
        yield s


# ---------------------------------------------------------------- hand-written PDUs (independent of qa.net.pdu)
def _item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BxH", kind, len(value)) + value


def associate_rq(called: str = "QA", calling: str = "CT1", contexts=((1, CT, (EXPLICIT_LE,)),), max_pdu: int = 16384) -> bytes:
    body = struct.pack(">H2x", 1) + called.ljust(16).encode() + calling.ljust(16).encode() + bytes(32)
    body += _item(0x10, b"1.2.840.10008.3.1.1.1")
    for pc_id, abstract, syntaxes in contexts:
        body += _item(0x20, struct.pack(">B3x", pc_id) + _item(0x30, abstract.encode()) + b"".join(_item(0x40, s.encode()) for s in syntaxes))
    body += _item(0x50, _item(0x51, struct.pack(">L", max_pdu)) + _item(0x52, b"1.2.3.4"))
    return struct.pack(">BxL", 1, len(body)) + body


def p_data(pc_id: int, control: int, payload: bytes) -> bytes:
    pdv = struct.pack(">LBB", len(payload) + 2, pc_id, control) + payload
    return struct.pack(">BxL", 4, len(pdv)) + pdv


def read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    header = _exactly(sock, 6)
    kind, length = struct.unpack(">BxL", header)
    return kind, _exactly(sock, length)


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def associated(port: int, **kwargs) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(associate_rq(**kwargs))
    kind, _ = read_pdu(sock)
    assert kind == 2  # A-ASSOCIATE-AC
    return sock


def _echo_works(port: int) -> bool:
    return dcmtk("echoscu", port=port).returncode == 0


# ---------------------------------------------------------------- real peers
def test_each_proposed_context_gets_its_own_result_as_pynetdicom_reads_it(server):
    from pynetdicom import AE

    ae = AE(ae_title="CT1")
    ae.add_requested_context(CT, [EXPLICIT_LE, IMPLICIT_LE])
    ae.add_requested_context(MR)
    ae.add_requested_context(CT, ["1.2.3.4.5.6"])  # a transfer syntax nobody knows
    assoc = ae.associate("127.0.0.1", server.port, ae_title="QA")
    try:
        assert assoc.is_established
        accepted = {(c.abstract_syntax, c.transfer_syntax[0]) for c in assoc.accepted_contexts}
        assert accepted == {(CT, EXPLICIT_LE)}  # the first syntax the sender proposed
        results = {(c.abstract_syntax, c.result) for c in assoc.rejected_contexts}
        assert results == {(MR, 0x03), (CT, 0x04)}  # abstract syntax / transfer syntaxes not supported (PS3.8 table 9-18)
        assert assoc.acceptor.maximum_length == 4096 and assoc.acceptor.implementation_class_uid.startswith("2.25.")
    finally:
        assoc.release()


def test_the_17th_association_is_refused_for_now_and_accepted_once_one_ends(server):
    from pynetdicom import AE

    ae = AE(ae_title="CT1")
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.maximum_associations = 32
    opened = [ae.associate("127.0.0.1", server.port, ae_title="QA") for _ in range(16)]
    try:
        assert all(a.is_established for a in opened)
        extra = ae.associate("127.0.0.1", server.port, ae_title="QA")
        assert extra.is_rejected and not extra.is_established
        rejection = extra.acceptor.primitive
        assert (rejection.result, rejection.result_source, rejection.diagnostic) == (0x02, 0x03, 0x02)  # transient, local limit
        server.wait_for("rejected: 16 associations are open already (the limit)")
        opened.pop().release()
        server.wait_for("released; 0 object(s) stored")
        again = ae.associate("127.0.0.1", server.port, ae_title="QA")
        assert again.is_established
        opened.append(again)
    finally:
        for a in opened:
            a.release()


def test_objects_in_4_kb_fragments_from_storescu_are_stored_byte_for_byte(server, phantom):
    out = dcmtk("storescu", *phantom, port=server.port, options=("-xs",))  # propose explicit little endian only: sent as encoded
    assert out.returncode == 0, out.stderr
    server.wait_for(f"released; {len(phantom)} object(s) stored")
    import pydicom

    for path in phantom:
        uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        stored, sent = (server.inbox / f"{uid}.dcm").read_bytes(), path.read_bytes()
        start_stored = 132 + 12 + struct.unpack_from("<L", stored, 140)[0]  # after the file meta group (its length at 0002,0000)
        start_sent = 132 + 12 + struct.unpack_from("<L", sent, 140)[0]
        assert stored[start_stored:] == sent[start_sent:]  # the data set exactly as the sender encoded it
        assert len(sent) > 4 * 4096  # really many fragments


# ---------------------------------------------------------------- protocol violations (raw bytes)
def test_a_message_on_a_context_that_was_not_accepted_is_aborted_and_logged(server):
    with associated(server.port) as sock:
        sock.sendall(p_data(3, 0x03, b"\0" * 8))
        kind, body = read_pdu(sock)
        assert kind == 7 and body[2] == 0x02  # A-ABORT from the service provider
    server.wait_for("aborted: a message on presentation context 3, which was not accepted")
    assert _echo_works(server.port)


def test_a_pdu_longer_than_our_maximum_is_aborted_before_it_is_read(server):
    with associated(server.port) as sock:
        sock.sendall(struct.pack(">BxL", 4, 1 << 30))  # announces 1 GiB; nothing follows
        kind, _ = read_pdu(sock)
        assert kind == 7
    server.wait_for("longer than the maximum length 4096")


def test_an_unknown_pdu_type_and_a_malformed_request_end_the_connection_and_the_server_goes_on(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"\x09\x00\x00\x00\x00\x04abcd")
        try:
            answer = sock.recv(64)
        except ConnectionResetError:  # closed with our "abcd" unread: the kernel resets; the A-ABORT may be lost
            answer = b""
        assert answer in (b"", b"\x07\x00\x00\x00\x00\x04\x00\x00\x02\x01")  # A-ABORT, provider, unrecognized PDU
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        rq = bytearray(associate_rq())
        rq[6 + 68 + 2:6 + 68 + 4] = b"\xff\xff"  # the application context item claims more bytes than there are
        sock.sendall(bytes(rq))
        kind, _ = read_pdu(sock)
        assert kind == 7
    server.wait_for("aborted: a malformed A-ASSOCIATE-RQ")
    assert _echo_works(server.port)


def test_a_data_set_before_its_command_and_a_peer_gone_mid_object_store_nothing(server):
    with associated(server.port) as sock:
        sock.sendall(p_data(1, 0x02, b"\x08\x00\x16\x00"))  # data set, last fragment, no command yet
        assert read_pdu(sock)[0] == 7
    server.wait_for("aborted: a data set fragment before its command")
    before = set(server.inbox.glob("*.dcm"))
    with associated(server.port) as sock:
        command = _c_store_rq("1.2.3.4.5")
        sock.sendall(p_data(1, 0x03, command) + p_data(1, 0x00, b"\0" * 200))  # a first data set fragment, not the last
    server.wait_for("aborted: the connection was closed without a release")
    assert set(server.inbox.glob("*.dcm")) == before and not list(server.inbox.glob("*.qa-tmp"))


def test_a_release_is_answered_with_a_release_response(server):
    with associated(server.port) as sock:
        sock.sendall(struct.pack(">BxL", 5, 4) + bytes(4))
        assert read_pdu(sock) == (6, bytes(4))


def _c_store_rq(instance: str) -> bytes:
    def element(number: int, value: bytes) -> bytes:
        return struct.pack("<HHL", 0, number, len(value)) + value

    def ui(uid: str) -> bytes:
        raw = uid.encode()
        return raw + b"\0" * (len(raw) % 2)

    rest = (element(0x0002, ui(CT)) + element(0x0100, struct.pack("<H", 1)) + element(0x0110, struct.pack("<H", 7))
            + element(0x0700, struct.pack("<H", 0)) + element(0x0800, struct.pack("<H", 0)) + element(0x1000, ui(instance)))
    return element(0x0000, struct.pack("<L", len(rest))) + rest


def test_the_pynetdicom_scu_still_stores_through_a_4_kb_limit(server, phantom):
    accepted, statuses = pynetdicom_store(server.port, phantom[:2])
    assert accepted and statuses == [0, 0]


def _status_of_response(sock: socket.socket) -> int:
    kind, body = read_pdu(sock)
    assert kind == 4
    length, _, control = struct.unpack_from(">LBB", body, 0)
    command, at = body[6:4 + length], 0
    while at < len(command):
        _, element, size = struct.unpack_from("<HHL", command, at)
        if element == 0x0900:
            return struct.unpack_from("<H", command, at + 8)[0]
        at += 8 + size
    raise AssertionError("no status in the response")


def test_a_c_store_of_another_class_than_its_context_is_refused_and_nothing_is_stored(server):
    """A context accepted for Verification (or for CT) carries no object of another class (0x0122)."""
    before = set(server.inbox.glob("*.dcm"))
    contexts = ((1, "1.2.840.10008.1.1", (IMPLICIT_LE,)), (3, CT, (IMPLICIT_LE,)))
    with associated(server.port, contexts=contexts) as sock:
        data_set = struct.pack("<HHL", 0x0008, 0x0016, 26) + b"1.2.840.10008.5.1.4.1.1.4\0"
        sock.sendall(p_data(1, 0x03, _c_store_rq("1.2.3.4.6")) + p_data(1, 0x02, data_set))  # on the Verification context
        assert _status_of_response(sock) == 0x0122
        mr = _c_store_rq("1.2.3.4.7").replace(CT.encode() + b"\0", MR.encode() + b"\0")  # the command names MR Image Storage
        sock.sendall(p_data(3, 0x03, mr) + p_data(3, 0x02, data_set))
        assert _status_of_response(sock) == 0x0122
        sock.sendall(struct.pack(">BxL", 5, 4) + bytes(4))
        assert read_pdu(sock)[0] == 6
    assert set(server.inbox.glob("*.dcm")) == before
