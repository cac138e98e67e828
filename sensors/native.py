"""The native contract (CONTRACT §1): `relic/{site}/{source}/{device}/{channel}` → records.

Pure: bytes and the receive time in, records or one `Rejection` out. Checks run in
this order, so a message is counted under the first fault it has: topic → registry
(`UNKNOWN_DEVICE`) → size → encoding → JSON → schema (`BAD_PAYLOAD`, the detail names
the field and what it expects) → timestamp range.

Telemetry is the hot path (tens of thousands of messages a second per core), so it
has two roads that must give the same answer:

- the fast road decodes straight into a msgspec Struct (`values`, `ts`, `id` only;
  other fields are skipped unread) and builds the record with a handful of checks;
- anything the fast road does not accept outright (drone telemetry, non-ASCII
  payloads, any fault at all) takes the general road, which decodes to plain
  Python values and names the fault precisely.

A property test checks that whenever the fast road accepts, the general road
produces the same record. Telemetry ignores fields it does not know; a number
beyond the float range in such a field is ignored with it (`decode_object(lenient=True)`),
while NaN/Infinity literals are not JSON and reject the message wherever they stand.

Events keep every field: the contract's fields are type-checked into `attrs`, other
fields are kept in `attrs` unchecked, so a device may send more than the contract
names without losing its alarm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from hashlib import blake2b
from typing import Final, cast

import msgspec

from sensors.context import ParseContext
from sensors.model import (
    MAX_FRAME_BYTES,
    MAX_JSON_BYTES,
    Channel,
    Event,
    Frame,
    Message,
    Record,
    Rejection,
    RejectReason,
    Source,
    StatusChange,
    Telemetry,
)
from sensors.payload import (
    JSONObject,
    clean_json,
    clean_text,
    decode_json,
    decode_object,
    is_metric_name,
    is_number,
    json_type,
    known_metrics_superset,
    may_hold_nul,
    number,
    oversized,
    shorten,
)
from sensors.timestamps import Stamp, accept, as_utc, from_epoch_ms, parse_property_ts, resolve_ts
from sensors.topic import NativeTopic, parse_native_topic

MAX_ID_CHARS: Final = 128
MAX_NAME_CHARS: Final = 256
MAX_URL_CHARS: Final = 2048

EVENT_TYPES: Final[dict[Source, frozenset[str]]] = {
    Source.FIRE: frozenset(
        {
            "fire_alarm",
            "manual_alarm",
            "fault",
            "supervisory",
            "shield",
            "feedback",
            "power_fault",
            "reset",
            "test",
            "heartbeat",
        }
    ),
    Source.SECURITY: frozenset(
        {"intrusion", "door_open", "door_close", "vibration", "panic", "tamper", "arm", "disarm"}
    ),
    Source.VIDEO: frozenset(
        {
            "motion",
            "intrusion",
            "loitering",
            "tripwire",
            "object_removed",
            "tamper",
            "occlusion",
            "defocus",
            "scene_change",
            "video_loss",
            "smoke",
            "flame",
        }
    ),
    Source.DRONE: frozenset({"takeoff", "landing", "mission_start", "mission_end", "detection", "link_lost"}),
    Source.PATROL: frozenset({"start", "checkin", "end", "hazard"}),
    # CONTRACT §1 names no env event types: any snake_case name (e.g. `water_leak`) is accepted.
}


class FieldKind(Enum):
    TEXT = "a string"  # free text, may be empty
    NAME = "a non-empty string"
    URL = "an http(s) URL"
    SCORE = "a number from 0 to 1"
    LAT = "a latitude from -90 to 90"
    LON = "a longitude from -180 to 180"


_K = FieldKind
EVENT_FIELDS: Final[dict[Source, dict[str, FieldKind]]] = {
    Source.FIRE: {"component": _K.NAME, "description": _K.TEXT},
    Source.SECURITY: {},
    Source.VIDEO: {"score": _K.SCORE, "snapshot": _K.URL},
    Source.DRONE: {
        "mission": _K.NAME,
        "label": _K.NAME,
        "lat": _K.LAT,
        "lon": _K.LON,
        "score": _K.SCORE,
        "snapshot": _K.URL,
    },
    Source.PATROL: {
        "custodian": _K.NAME,
        "checkpoint": _K.NAME,
        "route": _K.NAME,
        "note": _K.TEXT,
        "photo": _K.URL,
        "lat": _K.LAT,
        "lon": _K.LON,
    },
    Source.ENV: {},
}
# Fields every event may carry; they become Event's own attributes, not attrs.
_EVENT_COMMON: Final = frozenset({"type", "ts", "id", "zone", "clear"})

DRONE_REQUIRED: Final = ("lat", "lon", "alt_m", "battery_pct")
DRONE_OPTIONAL: Final = ("heading_deg", "speed_mps")
DRONE_TAGS: Final = ("mode", "mission")

_URL: Final = re.compile(r"https?://[^\s]+", re.IGNORECASE)
_ONLINE: Final = {"online": True, "offline": False}


def parse(msg: Message, ctx: ParseContext) -> list[Record] | Rejection:
    """Records for one native-contract message, or why it goes to quarantine."""
    topic = parse_native_topic(msg.topic, ctx.topic_prefix)
    if isinstance(topic, Rejection):
        return topic
    if not ctx.directory.knows(topic.site, topic.device):
        return Rejection(
            RejectReason.UNKNOWN_DEVICE,
            f"device {topic.device!r} of site {topic.site!r} is not in the registry",
        )
    if topic.channel is Channel.TELEMETRY and topic.source is not Source.DRONE:
        fast = telemetry_fast(msg, topic, ctx)
        if fast is not None:
            return fast
    return _CHANNELS[topic.channel](msg, topic, ctx)


# Telemetry ----------------------------------------------------------------------


class _TelemetryWire(msgspec.Struct, gc=False):
    values: dict[str, float | bool]
    ts: datetime | int | None = None
    id: str | int | None = None


_TELEMETRY_DECODER: Final = msgspec.json.Decoder(_TelemetryWire)


def telemetry_fast(msg: Message, topic: NativeTopic, ctx: ParseContext) -> list[Record] | None:
    """The fast road: a record when the message is plainly valid, else None (take the general road)."""
    payload = msg.payload
    # Non-ASCII bytes could hide invalid UTF-8 in a field msgspec skips unread.
    if len(payload) > MAX_JSON_BYTES or not payload.isascii():
        return None
    try:
        wire = _TELEMETRY_DECODER.decode(payload)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None
    values: dict[str, float] | dict[str, float | bool] = wire.values
    if not values:
        return None
    if not known_metrics_superset(values):
        for name in values:
            if not is_metric_name(name):
                return None
    for value in values.values():
        if value.__class__ is bool:
            values = {
                name: (1.0 if value is True else 0.0 if value is False else value)
                for name, value in values.items()
            }
            break
    ident = wire.id
    if isinstance(ident, str) and not 0 < len(ident) <= MAX_ID_CHARS:
        return None
    received = msg.received_at
    if received.tzinfo is not UTC:
        received = as_utc(received)
    ts = wire.ts
    if ts is None:
        stamp: Stamp | Rejection = (received, True)
    elif isinstance(ts, datetime):
        if ts.tzinfo is None:
            return None
        stamp = accept(ts, received, ctx)
    else:
        stamp = accept(from_epoch_ms(ts), received, ctx)
    if isinstance(stamp, Rejection):
        return None
    return [Telemetry(topic.site, topic.device, topic.source, stamp[0], values, stamp[1])]


def telemetry_general(msg: Message, topic: NativeTopic, ctx: ParseContext) -> list[Record] | Rejection:
    """The general road: every check, with a detail naming the field at fault."""
    obj = decode_object(msg.payload, lenient=True)
    if isinstance(obj, Rejection):
        return obj
    fault = _check_id(obj.get("id"))
    if fault is not None:
        return fault
    tags: dict[str, str] = {}
    if topic.source is Source.DRONE:
        values = _drone_values(obj, tags)
    else:
        raw_values = obj.get("values")
        if raw_values is None:
            return _bad("field `values`: required; expected an object of metric name → number")
        values = read_values(raw_values)
    if isinstance(values, Rejection):
        return values
    stamp = resolve_ts(obj.get("ts"), msg.received_at, ctx)
    if isinstance(stamp, Rejection):
        return stamp
    return [Telemetry(topic.site, topic.device, topic.source, stamp[0], values, stamp[1], tags)]


def read_values(raw: object, *, allow_empty: bool = False) -> dict[str, float] | Rejection:
    """The `values` object of a telemetry message as metric name → finite float."""
    if type(raw) is not dict:
        return _bad(f"field `values`: expected an object of metric name → number, got {json_type(raw)}")
    if not raw and not allow_empty:
        return _bad("field `values`: empty; expected at least one metric")
    out: dict[str, float] = {}
    for name, value in raw.items():
        if not is_metric_name(name):
            return _bad(f"field `values`: metric name {shorten(name)}: expected 1–64 of a-z 0-9 _")
        cls = value.__class__
        if cls is float:
            if not math.isfinite(value):
                return Rejection(
                    RejectReason.NON_FINITE, f"field `values.{name}`: {value!r} is not a finite number"
                )
            out[name] = value
        elif cls is bool:
            out[name] = 1.0 if value else 0.0
        elif cls is int:
            try:
                out[name] = float(value)
            except OverflowError:
                return Rejection(
                    RejectReason.NON_FINITE, f"field `values.{name}`: number beyond the float range"
                )
        else:
            return _bad(f"field `values.{name}`: expected a finite number or boolean, got {json_type(value)}")
    return out


def _drone_values(obj: JSONObject, tags: dict[str, str]) -> dict[str, float] | Rejection:
    """Drone telemetry: `values` plus the drone fields, which may stand at the top level."""
    raw_values = obj.get("values")
    values = read_values(raw_values, allow_empty=True) if raw_values is not None else {}
    if isinstance(values, Rejection):
        return values
    for key in DRONE_REQUIRED + DRONE_OPTIONAL:
        raw = obj.get(key)
        if raw is not None:
            if key in values:
                return _bad(f"field `{key}`: given both at the top level and in `values`")
        elif raw_values is not None and key in raw_values:
            raw = raw_values[key]
        else:
            continue
        value = _number_field(key, raw)
        if isinstance(value, Rejection):
            return value
        values[key] = value
    missing = [key for key in DRONE_REQUIRED if key not in values]
    if missing:
        return _bad(f"drone telemetry: missing {', '.join(missing)} (required: {', '.join(DRONE_REQUIRED)})")
    fault = _check_lat_lon(values["lat"], values["lon"])
    if fault is not None:
        return fault
    for key in DRONE_TAGS:
        raw = obj.get(key)
        if raw is None:
            continue
        if isinstance(raw, str) and 0 < len(raw) <= MAX_NAME_CHARS:
            tags[key] = clean_text(raw)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            tags[key] = str(raw)
        else:
            return _bad(
                f"field `{key}`: expected a non-empty string of at most {MAX_NAME_CHARS} characters, "
                f"got {json_type(raw)}"
            )
    return values


def _number_field(key: str, raw: object) -> float | Rejection:
    value = number(raw)
    if value is None:
        if is_number(raw):
            return Rejection(RejectReason.NON_FINITE, f"field `{key}`: {shorten(raw)} is not a finite number")
        return _bad(f"field `{key}`: expected a number, got {json_type(raw)}")
    return value


def _check_lat_lon(lat: float | None, lon: float | None) -> Rejection | None:
    if lat is not None and not -90.0 <= lat <= 90.0:
        return _bad(f"field `lat`: {lat} is not a latitude; expected -90 to 90")
    if lon is not None and not -180.0 <= lon <= 180.0:
        return _bad(f"field `lon`: {lon} is not a longitude; expected -180 to 180")
    return None


def _check_id(raw: object) -> Rejection | None:
    if raw is None or (isinstance(raw, str) and 0 < len(raw) <= MAX_ID_CHARS):
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return None  # a sequence number; used as its decimal string
    if isinstance(raw, str):
        return _bad(f"field `id`: {len(raw)} characters; expected 1–{MAX_ID_CHARS}")
    return _bad(f"field `id`: expected a string of 1–{MAX_ID_CHARS} characters, got {json_type(raw)}")


# Events -------------------------------------------------------------------------


def _event(msg: Message, topic: NativeTopic, ctx: ParseContext) -> list[Record] | Rejection:
    obj = decode_object(msg.payload)
    if isinstance(obj, Rejection):
        return obj
    source = topic.source
    event_type = _event_type(source, obj.get("type"))
    if isinstance(event_type, Rejection):
        return event_type
    raw_id = obj.get("id")
    fault = _check_id(raw_id)
    if fault is not None:
        return fault
    zone = obj.get("zone")
    if zone is not None:
        checked = _check_field("zone", FieldKind.NAME, zone)
        if isinstance(checked, Rejection):
            return checked
    clear = obj.get("clear", False)
    if clear is None:
        clear = False
    elif not isinstance(clear, bool):
        return _bad(f"field `clear`: expected true or false, got {json_type(clear)}")
    known = EVENT_FIELDS[source]
    attrs: dict[str, object] = {}
    for key, value in obj.items():
        if key in _EVENT_COMMON:
            continue
        kind = known.get(key)
        if kind is None:
            attrs[key] = value  # not in the contract for this source: kept as sent
        elif value is not None:
            checked = _check_field(key, kind, value)
            if isinstance(checked, Rejection):
                return checked
            attrs[key] = checked
    if may_hold_nul(msg.payload):
        attrs = cast(dict[str, object], clean_json(attrs))
        zone = clean_text(zone) if zone is not None else None
    stamp = resolve_ts(obj.get("ts"), msg.received_at, ctx)
    if isinstance(stamp, Rejection):
        return stamp
    if raw_id is not None:
        event_key = clean_text(raw_id) if isinstance(raw_id, str) else str(raw_id)
    else:
        event_key = payload_digest(msg.payload, None if stamp[1] else stamp[0], msg.received_at)
    return [
        Event(topic.site, topic.device, source, event_type, stamp[0], event_key, zone, clear, attrs, stamp[1])
    ]


def _event_type(source: Source, raw: object) -> str | Rejection:
    allowed = EVENT_TYPES.get(source)
    expected = (
        f"one of {', '.join(sorted(allowed))}"
        if allowed is not None
        else "a snake_case name (1–64 of a-z 0-9 _)"
    )
    if raw is None:
        return _bad(f"field `type`: required; expected {expected}")
    if not isinstance(raw, str):
        return _bad(f"field `type`: expected {expected}, got {json_type(raw)}")
    if allowed is not None:
        if raw not in allowed:
            return _bad(
                f"field `type`: {shorten(raw)} is not a {source.value} event type; expected {expected}"
            )
    elif not is_metric_name(raw):
        return _bad(f"field `type`: {shorten(raw)}: expected {expected}")
    return raw


def _check_field(key: str, kind: FieldKind, value: object) -> object | Rejection:
    """The value of a contract field, type- and range-checked."""
    if kind is FieldKind.TEXT:
        if isinstance(value, str):
            return value
    elif kind is FieldKind.NAME:
        if isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS:
            return value
        if isinstance(value, str):
            return _bad(
                f"field `{key}`: {len(value)} characters; expected {kind.value} of at most "
                f"{MAX_NAME_CHARS} characters"
            )
    elif kind is FieldKind.URL:
        if isinstance(value, str) and len(value) <= MAX_URL_CHARS and _URL.fullmatch(value):
            return value
        if isinstance(value, str):
            return _bad(
                f"field `{key}`: {shorten(value)} is not {kind.value} (at most {MAX_URL_CHARS} characters)"
            )
    else:
        num = number(value)
        if num is None:
            if is_number(value):
                return Rejection(
                    RejectReason.NON_FINITE, f"field `{key}`: {shorten(value)} is not a finite number"
                )
            return _bad(f"field `{key}`: expected {kind.value}, got {json_type(value)}")
        low, high = _RANGES[kind]
        if not low <= num <= high:
            return _bad(f"field `{key}`: {num} is out of range; expected {kind.value}")
        return num
    return _bad(f"field `{key}`: expected {kind.value}, got {json_type(value)}")


_RANGES: Final = {FieldKind.SCORE: (0.0, 1.0), FieldKind.LAT: (-90.0, 90.0), FieldKind.LON: (-180.0, 180.0)}


def payload_digest(payload: bytes, device_ts: datetime | None, received_at: datetime) -> str:
    """The event key of a message without `id`: 16 hex digits of blake2b.

    With a device timestamp the payload alone identifies the message, so a redelivery
    (same bytes) gets the same key and is dropped. Without one a repeat (a door opened
    twice, sending identical bytes) cannot be told from a redelivery; the receive time
    is mixed in so that a real second alarm is never dropped as a duplicate."""
    digest = blake2b(payload, digest_size=8)
    if device_ts is None:
        digest.update(as_utc(received_at).isoformat().encode())
    return digest.hexdigest()


# Status -------------------------------------------------------------------------


def status_word(text: bytes | str) -> bool | None:
    """`online` → True, `offline` → False (case and surrounding blanks ignored), else None."""
    if len(text) > 16:
        return None
    word = text.strip().lower()
    if isinstance(word, bytes):
        try:
            word = word.decode("ascii")
        except UnicodeDecodeError:
            return None
    return _ONLINE.get(word)


_STATUS_EXPECTED: Final = 'expected `online`, `offline` or {"state": "online"|"offline"}'


def _status(msg: Message, topic: NativeTopic, ctx: ParseContext) -> list[Record] | Rejection:
    payload = msg.payload
    if len(payload) > MAX_JSON_BYTES:
        return oversized(len(payload), MAX_JSON_BYTES)
    online = status_word(payload)
    received = as_utc(msg.received_at)
    if online is not None:
        return [StatusChange(topic.site, topic.device, topic.source, online, received, True)]
    value = decode_json(payload)
    if isinstance(value, Rejection):
        if value.reason is RejectReason.BAD_JSON and payload.lstrip()[:1] not in (b"{", b"[", b'"'):
            # Plain text that is neither word: a wrong status, not broken JSON.
            return _bad(f"status: {_STATUS_EXPECTED}, got {shorten(payload)}")
        return value
    if isinstance(value, str):
        online = status_word(value)
        if online is not None:
            return [StatusChange(topic.site, topic.device, topic.source, online, received, True)]
        return _bad(f"status: {_STATUS_EXPECTED}, got {shorten(value)}")
    if type(value) is not dict:
        return _bad(f"status: {_STATUS_EXPECTED}, got a JSON {json_type(value)}")
    state = value.get("state")
    online = status_word(state) if isinstance(state, str) else None
    if online is None:
        what = shorten(state) if isinstance(state, str) else json_type(state)
        return _bad(f'field `state`: expected "online" or "offline", got {what}')
    stamp = resolve_ts(value.get("ts"), received, ctx)
    if isinstance(stamp, Rejection):
        return stamp
    return [StatusChange(topic.site, topic.device, topic.source, online, stamp[0], stamp[1])]


# Frames -------------------------------------------------------------------------

_JPEG_SOI: Final = b"\xff\xd8"


def _frame(msg: Message, topic: NativeTopic, ctx: ParseContext) -> list[Record] | Rejection:
    payload = msg.payload
    if len(payload) > MAX_FRAME_BYTES:
        return oversized(len(payload), MAX_FRAME_BYTES, "frame")
    if not payload.startswith(_JPEG_SOI):
        got = payload[:2].hex(" ").upper() if payload else "an empty payload"
        return _bad(f"frame: not a JPEG; expected the start-of-image marker FF D8, got {got}")
    received = as_utc(msg.received_at)
    ts_text = user_property(msg, "ts")
    if ts_text is None:
        stamp: Stamp | Rejection = (received, True)
    else:
        stamp = accept(parse_property_ts(ts_text), received, ctx, field="user property ts")
    if isinstance(stamp, Rejection):
        return stamp
    return [Frame(topic.site, topic.device, stamp[0], payload, stamp[1])]


def user_property(msg: Message, name: str) -> str | None:
    """The first MQTT 5 user property of that name."""
    for key, value in msg.user_properties:
        if key == name:
            return value
    return None


def _bad(detail: str) -> Rejection:
    return Rejection(RejectReason.BAD_PAYLOAD, detail)


_CHANNELS: Final[dict[Channel, Callable[[Message, NativeTopic, ParseContext], list[Record] | Rejection]]] = {
    Channel.TELEMETRY: telemetry_general,  # the fast road is tried first, in parse()
    Channel.EVENT: _event,
    Channel.STATUS: _status,
    Channel.FRAME: _frame,
}
