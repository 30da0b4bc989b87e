"""qa.net.pdu's pure functions: fragments within the peer's maximum length, PDVs read back, malformed input named."""

from __future__ import annotations

import pytest

from qa.net import pdu as P


@pytest.mark.parametrize("max_pdu", [0, 16, 100, 4096])
def test_a_payload_is_cut_into_fragments_that_fit_and_read_back_whole(max_pdu):
    payload = bytes(range(256)) * 3
    pdus = P.encode_p_data(5, True, payload, max_pdu)
    got, controls = b"", []
    for data in pdus:
        kind, length = P.HEADER.unpack(data[:6])
        assert kind == P.P_DATA_TF and length == len(data) - 6 and (max_pdu == 0 or length <= max_pdu)
        for pc_id, control, fragment in P.iter_pdvs(data[6:]):
            assert pc_id == 5
            controls.append(control)
            got += bytes(fragment)
    assert got == payload
    assert controls[-1] == 0x03 and all(c == 0x01 for c in controls[:-1])  # command; only the last marked last


def test_a_maximum_length_too_small_for_any_fragment_is_refused():
    with pytest.raises(P.PduError, match="no room"):
        P.encode_p_data(1, False, b"x", 6)


def test_a_response_command_set_reads_back_with_its_group_length():
    data = P.encode_response(P.C_STORE_RQ, 7, 0xA700, "1.2.840.10008.5.1.4.1.1.2", "1.2.3")
    elements = P.parse_command(data)
    assert int.from_bytes(elements[0x0000], "little") == len(data) - 12
    assert P.us(elements, P.COMMAND_FIELD, "") == 0x8001 and P.us(elements, P.MESSAGE_ID_RESPONDED, "") == 7
    assert P.us(elements, P.STATUS, "") == 0xA700 and P.ui(elements, P.AFFECTED_SOP_INSTANCE, "") == "1.2.3"


@pytest.mark.parametrize("body", [b"", b"\x00\x00\x00\x09\x01\x03abc", b"\x00\x00\x00\x01\x01"])
def test_malformed_presentation_data_values_are_named(body):
    with pytest.raises(P.PduError):
        list(P.iter_pdvs(body))


def test_a_command_element_outside_group_0000_is_refused():
    with pytest.raises(P.PduError, match="not in group 0000"):
        P.parse_command(b"\x08\x00\x16\x00\x00\x00\x00\x00")


def test_a_presentation_context_proposed_twice_is_refused():
    def item(kind, value):
        return bytes([kind, 0]) + len(value).to_bytes(2, "big") + value

    ctx = item(0x20, b"\x01\0\0\0" + item(0x30, b"1.2.840.10008.1.1") + item(0x40, b"1.2.840.10008.1.2"))
    body = b"\x00\x01\0\0" + b"QA".ljust(16) + b"CT1".ljust(16) + bytes(32) + item(0x10, b"1.2.840.10008.3.1.1.1") + ctx + ctx
    with pytest.raises(P.PduError, match="proposed twice"):
        P.parse_associate_rq(body)
    request = P.parse_associate_rq(body[:-len(ctx)])
    assert (request.called_aet, request.calling_aet, request.contexts[0].transfer_syntaxes) == ("QA", "CT1", ("1.2.840.10008.1.2",))
