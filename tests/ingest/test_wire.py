"""The telemetry lane's MQTT codec: table tests, any split of the stream, and malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relic_guard.ingest import wire


def test_varint_boundaries() -> None:
    table = {0: b"\x00", 127: b"\x7f", 128: b"\x80\x01", 16383: b"\xff\x7f", 16384: b"\x80\x80\x01",
             268_435_455: b"\xff\xff\xff\x7f"}
    for n, encoded in table.items():
        assert wire.encode_varint(n) == encoded
    with pytest.raises(ValueError):
        wire.encode_varint(268_435_456)


def test_connect_v5_carries_session_expiry_and_receive_maximum() -> None:
    packet = wire.encode_connect("relic-guard-ingest-0", v5=True, keepalive_s=30, clean_start=False,
                                 session_expiry_s=604800, receive_maximum=20000, username="u", password="p")
    assert packet[0] == 0x10
    # protocol name, level 5, flags: username + password, no clean start
    assert packet[2:10] == b"\x00\x04MQTT\x05\xc0"
    assert b"\x11\x00\x09\x3a\x80" in packet  # session expiry 604800 s
    assert b"\x21\x4e\x20" in packet  # receive maximum 20000
    assert packet.endswith(b"\x00\x01u\x00\x01p")


def test_connect_v311_has_no_properties() -> None:
    packet = wire.encode_connect("c", v5=False, keepalive_s=10, clean_start=True)
    assert packet == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x0a\x00\x01c"


def test_pubacks_are_two_byte_packets_in_the_given_order() -> None:
    assert wire.encode_pubacks([1, 258, 65535]) == b"\x40\x02\x00\x01\x40\x02\x01\x02\x40\x02\xff\xff"


def test_decoder_reads_connack_suback_pingresp_disconnect() -> None:
    decoder = wire.PacketDecoder(v5=True)
    packets = decoder.feed(b"\x20\x03\x01\x00\x00" + b"\x90\x04\x00\x01\x00\x01" + b"\xd0\x00" + b"\xe0\x01\x8e")
    assert packets == [wire.ConnAck(True, 0), wire.SubAck(1, (1,)), wire.PingResp(), wire.Disconnect(0x8E)]
    assert packets[1].accepted  # type: ignore[union-attr]
    assert not wire.SubAck(1, (0x87,)).accepted


def test_v311_connack_refusal() -> None:
    decoder = wire.PacketDecoder(v5=False)
    (ack,) = decoder.feed(b"\x20\x02\x00\x01")
    assert isinstance(ack, wire.ConnAck) and not ack.accepted


@pytest.mark.parametrize("v5", [True, False])
def test_publish_round_trip_with_user_properties(v5: bool) -> None:
    props = (("ts", "2026-11-27T10:00:00+08:00"), ("相机", "北门")) if v5 else ()
    raw = wire.encode_publish("relic/chengziya/video/cam-1/frame", b"\xff\xd8 jpeg", qos=1, packet_id=513,
                              v5=v5, retain=True, dup=True, user_properties=props)
    (packet,) = wire.PacketDecoder(v5=v5).feed(raw)
    assert packet == wire.Publish("relic/chengziya/video/cam-1/frame", b"\xff\xd8 jpeg", 1, 513, True, True, props)


def test_qos0_publish_has_no_packet_id() -> None:
    (packet,) = wire.PacketDecoder(v5=True).feed(wire.encode_publish("a/b", b"x", qos=0, v5=True))
    assert isinstance(packet, wire.Publish) and packet.packet_id == 0 and packet.payload == b"x"


def test_a_large_publish_arrives_in_pieces() -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB: a 4-byte remaining length
    raw = wire.encode_publish("relic/s/video/c/frame", payload, qos=1, packet_id=7, v5=True)
    decoder = wire.PacketDecoder(v5=True)
    got: list[wire.Packet] = []
    for i in range(0, len(raw), 65536):
        got += decoder.feed(raw[i : i + 65536])
    assert len(got) == 1 and isinstance(got[0], wire.Publish) and got[0].payload == payload


@pytest.mark.parametrize(
    "raw",
    [
        b"\x30\xff\xff\xff\xff\x01",  # remaining length of 5 bytes
        b"\x36\x03\x00\x01a",  # QoS 3
        b"\x32\x03\x00\x01a",  # QoS 1 without a packet id
        b"\x30\x04\x00\x09ab",  # topic longer than the packet
        b"\x30\x04\x00\x02\xff\xfe",  # topic not UTF-8
        b"\x32\x07\x00\x01a\x00\x01\x02\x99",  # v5 properties running past the packet
        b"\x32\x08\x00\x01a\x00\x01\x01\x99\x00",  # unknown property
        b"\x20\x01\x00",  # short CONNACK
    ],
)
def test_malformed_packets_raise_protocol_error(raw: bytes) -> None:
    with pytest.raises(wire.ProtocolError):
        wire.PacketDecoder(v5=True).feed(raw)


publish_args = st.tuples(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
    st.binary(max_size=300),
    st.sampled_from([0, 1]),
    st.integers(min_value=1, max_value=65535),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(publish_args, min_size=1, max_size=20), st.lists(st.integers(min_value=1, max_value=50), max_size=60),
       st.booleans())
def test_any_split_of_the_stream_gives_the_same_packets(
    publishes: list[tuple[str, bytes, int, int]], cuts: list[int], v5: bool
) -> None:
    stream = b"".join(wire.encode_publish(t, p, qos=q, packet_id=i if q else 0, v5=v5) for t, p, q, i in publishes)
    whole = wire.PacketDecoder(v5=v5).feed(stream)
    decoder = wire.PacketDecoder(v5=v5)
    pieces: list[wire.Packet] = []
    pos = 0
    for cut in cuts:
        pieces += decoder.feed(stream[pos : pos + cut])
        pos += cut
    pieces += decoder.feed(stream[pos:])
    assert pieces == whole
    assert [(p.topic, p.payload) for p in whole if isinstance(p, wire.Publish)] == [(t, p) for t, p, _, _ in publishes]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_raises_protocol_error_or_yields_packets(data: bytes) -> None:
    with contextlib.suppress(wire.ProtocolError):
        wire.PacketDecoder(v5=True).feed(data)
