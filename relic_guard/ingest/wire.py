"""The few MQTT packets a telemetry worker needs, as bytes in and values out (no I/O).

A telemetry worker only connects, subscribes, receives PUBLISH packets, acknowledges them,
and pings. This codec does exactly that for MQTT 5 and MQTT 3.1.1, in the manner of h11: a
`PacketDecoder` is fed whatever the socket returned and hands back whole packets; the
encoders return bytes to send. It exists because a general client spends most of its time per
message on work this lane does not need (a receive call per packet, a property object per
message, a callback chain); see docs/architecture.md for the measurements.

Invariants:
- the decoder accepts any split of the byte stream (tested with arbitrary chunkings);
- a malformed packet raises `ProtocolError`, after which the connection must be dropped;
- topic aliases are never negotiated (CONNECT sends no Topic Alias Maximum), so every
  PUBLISH carries its topic.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from relic_guard.errors import RelicGuardError

# Packet types (high nibble of the first byte).
CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
SUBSCRIBE: Final = 8
SUBACK: Final = 9
PINGREQ: Final = 12
PINGRESP: Final = 13
DISCONNECT: Final = 14

# MQTT 5 property identifiers used here.
_SESSION_EXPIRY: Final = 0x11
_RECEIVE_MAXIMUM: Final = 0x21
_USER_PROPERTY: Final = 0x26

# Wire size of each MQTT 5 property value, by identifier: an int is a fixed size, "s" a UTF-8
# string, "b" binary data, "p" a string pair, "v" a variable byte integer.
_PROPERTY_SIZES: Final[dict[int, int | str]] = {
    0x01: 1, 0x02: 4, 0x03: "s", 0x08: "s", 0x09: "b", 0x0B: "v", 0x11: 4, 0x12: "s", 0x13: 2,
    0x15: "s", 0x16: "b", 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: "s", 0x1C: "s", 0x1F: "s", 0x21: 2,
    0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: "p", 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}

_U16 = struct.Struct("!H")


class ProtocolError(RelicGuardError):
    """The broker sent bytes that are not a packet this client understands."""


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    packet_id: int
    retain: bool
    dup: bool
    user_properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason_code: int

    @property
    def accepted(self) -> bool:
        return self.reason_code == 0


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    reason_codes: tuple[int, ...]

    @property
    def accepted(self) -> bool:
        # 0, 1, 2: granted QoS; 0x80 and up: refused.
        return all(code < 0x80 for code in self.reason_codes)


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason_code: int


@dataclass(frozen=True, slots=True)
class Other:
    """A packet this lane has no use for (e.g. a PUBACK of nothing we sent); ignored."""

    packet_type: int


Packet = Publish | ConnAck | SubAck | PingResp | Disconnect | Other


# Encoding ------------------------------------------------------------------------------------


def encode_varint(n: int) -> bytes:
    if n < 0 or n > 268_435_455:
        raise ValueError(f"variable byte integer out of range: {n}")
    out = bytearray()
    while True:
        digit = n & 0x7F
        n >>= 7
        if n:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _U16.pack(len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + encode_varint(len(body)) + body


def encode_connect(
    client_id: str,
    *,
    v5: bool,
    keepalive_s: int,
    clean_start: bool,
    session_expiry_s: int = 0,
    receive_maximum: int = 65535,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    flags = 0x02 if clean_start else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = _string("MQTT") + bytes((5 if v5 else 4, flags)) + _U16.pack(keepalive_s)
    if v5:
        props = bytes((_SESSION_EXPIRY,)) + struct.pack("!I", session_expiry_s)
        props += bytes((_RECEIVE_MAXIMUM,)) + _U16.pack(receive_maximum)
        body += encode_varint(len(props)) + props
    body += _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        data = password.encode("utf-8")
        body += _U16.pack(len(data)) + data
    return _packet(CONNECT << 4, body)


def encode_subscribe(packet_id: int, filters: tuple[str, ...] | list[str], *, v5: bool, qos: int = 1) -> bytes:
    body = _U16.pack(packet_id)
    if v5:
        body += b"\x00"
    for topic_filter in filters:
        body += _string(topic_filter) + bytes((qos,))
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def encode_pubacks(packet_ids: list[int]) -> bytes:
    """Many PUBACKs in one buffer, in the order given (which must be arrival order).
    Success without properties is the 2-byte form in both protocol versions."""
    pack = _U16.pack
    return b"".join(b"\x40\x02" + pack(pid) for pid in packet_ids)


PINGREQ_BYTES: Final = b"\xc0\x00"


def encode_disconnect(*, v5: bool) -> bytes:
    return b"\xe0\x00"  # MQTT 5: remaining length 0 means reason 0x00, normal disconnection


def encode_publish(topic: str, payload: bytes, *, qos: int, packet_id: int = 0, v5: bool,
                   retain: bool = False, dup: bool = False,
                   user_properties: tuple[tuple[str, str], ...] = ()) -> bytes:
    """For tests and tools: the PUBLISH a broker would send."""
    first = (PUBLISH << 4) | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = _string(topic)
    if qos:
        body += _U16.pack(packet_id)
    if v5:
        props = b"".join(bytes((_USER_PROPERTY,)) + _string(k) + _string(v) for k, v in user_properties)
        body += encode_varint(len(props)) + props
    return _packet(first, body + payload)


# Decoding ------------------------------------------------------------------------------------


class PacketDecoder:
    """Feed bytes, get whole packets. Holds the tail of an incomplete packet between feeds."""

    def __init__(self, *, v5: bool) -> None:
        self.v5 = v5
        self._rest = b""
        # Topics repeat: decode each distinct topic's bytes once.
        self._topics: dict[bytes, str] = {}

    def feed(self, data: bytes) -> list[Packet]:
        buf = self._rest + data if self._rest else data
        packets: list[Packet] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            # Remaining length: 1 to 4 bytes of 7 bits, low digits first.
            length = 0
            multiplier = 1
            i = pos + 1
            complete = False
            for _ in range(4):
                if i >= end:
                    break
                digit = buf[i]
                i += 1
                length += (digit & 0x7F) * multiplier
                multiplier <<= 7
                if not digit & 0x80:
                    complete = True
                    break
            else:
                raise ProtocolError("remaining length longer than 4 bytes")
            if not complete or end - i < length:
                break  # wait for the rest of the packet
            first = buf[pos]
            pos = i + length
            if first >> 4 == PUBLISH:
                packets.append(self._publish(first, buf, i, pos))
            else:
                packets.append(self._decode(first, buf[i:pos]))
        self._rest = buf[pos:] if pos < end else b""
        return packets

    def _decode(self, first: int, body: bytes) -> Packet:
        kind = first >> 4
        if kind == CONNACK:
            if len(body) < 2:
                raise ProtocolError("CONNACK shorter than 2 bytes")
            return ConnAck(session_present=bool(body[0] & 0x01), reason_code=body[1])
        if kind == SUBACK:
            if len(body) < 3:
                raise ProtocolError("SUBACK shorter than 3 bytes")
            start = 2
            if self.v5:
                props_len, start = _read_varint(body, 2)
                start += props_len
            return SubAck(packet_id=_U16.unpack_from(body, 0)[0], reason_codes=tuple(body[start:]))
        if kind == PINGRESP:
            return PingResp()
        if kind == DISCONNECT:
            return Disconnect(reason_code=body[0] if body else 0)
        return Other(packet_type=kind)

    def _publish(self, first: int, buf: bytes, start: int, end: int) -> Publish:
        """Decode the PUBLISH whose body is buf[start:end] (no copy of the body first)."""
        qos = (first >> 1) & 0x03
        if qos == 3:
            raise ProtocolError("PUBLISH with QoS 3")
        if end - start < 2:
            raise ProtocolError("PUBLISH without a topic")
        pos = start + 2 + ((buf[start] << 8) | buf[start + 1])
        if pos > end:
            raise ProtocolError("PUBLISH topic runs past the packet")
        topic_bytes = buf[start + 2 : pos]
        topic = self._topics.get(topic_bytes)
        if topic is None:
            try:
                topic = topic_bytes.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ProtocolError("PUBLISH topic is not UTF-8") from exc
            if len(self._topics) < 100_000:
                self._topics[topic_bytes] = topic
        packet_id = 0
        if qos:
            if end - pos < 2:
                raise ProtocolError("PUBLISH without a packet id")
            packet_id = (buf[pos] << 8) | buf[pos + 1]
            pos += 2
        user_properties: tuple[tuple[str, str], ...] = ()
        if self.v5:
            if pos >= end:
                raise ProtocolError("PUBLISH without its properties length")
            props_len = buf[pos]
            if props_len < 0x80:
                pos += 1
            else:
                props_len, pos = _read_varint(buf, pos)
            if props_len:
                if pos + props_len > end:
                    raise ProtocolError("PUBLISH properties run past the packet")
                user_properties = _user_properties(buf[pos : pos + props_len])
                pos += props_len
        return Publish(
            topic=topic,
            payload=buf[pos:end],
            qos=qos,
            packet_id=packet_id,
            retain=bool(first & 0x01),
            dup=bool(first & 0x08),
            user_properties=user_properties,
        )


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtocolError("variable byte integer runs past the packet")
        digit = data[pos]
        pos += 1
        value |= (digit & 0x7F) << shift
        if not digit & 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise ProtocolError("variable byte integer longer than 4 bytes")


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    if pos + 2 > len(data):
        raise ProtocolError("string length runs past the properties")
    n = _U16.unpack_from(data, pos)[0]
    end = pos + 2 + n
    if end > len(data):
        raise ProtocolError("string runs past the properties")
    try:
        return data[pos + 2 : end].decode("utf-8"), end
    except UnicodeDecodeError as exc:
        raise ProtocolError("property string is not UTF-8") from exc


def _user_properties(props: bytes) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(props):
        ident = props[pos]
        pos += 1
        size = _PROPERTY_SIZES.get(ident)
        if size is None:
            raise ProtocolError(f"unknown property 0x{ident:02x}")
        if ident == _USER_PROPERTY:
            key, pos = _read_string(props, pos)
            value, pos = _read_string(props, pos)
            pairs.append((key, value))
        elif isinstance(size, int):
            pos += size
        elif size == "v":
            _, pos = _read_varint(props, pos)
        elif size == "p":  # pragma: no cover - the user property is the only pair
            _, pos = _read_string(props, pos)
            _, pos = _read_string(props, pos)
        else:  # "s" and "b" share the length-prefixed form
            if pos + 2 > len(props):
                raise ProtocolError("property length runs past the properties")
            pos += 2 + _U16.unpack_from(props, pos)[0]
        if pos > len(props):
            raise ProtocolError("property runs past the properties")
    return tuple(pairs)
