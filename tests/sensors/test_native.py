"""Table tests of the native contract adapter: every channel, good and bad."""

from __future__ import annotations

import json
from datetime import timedelta
from hashlib import blake2b

import pytest

from sensors import native
from sensors.model import (
    MAX_FRAME_BYTES,
    MAX_JSON_BYTES,
    Event,
    Frame,
    Message,
    Rejection,
    RejectReason,
    Source,
    StatusChange,
    Telemetry,
)
from sensors.topic import parse_native_topic
from tests.sensors.support import CTX, OPEN_SITE, RECEIVED, RECEIVED_MS, SITE, msg, native_topic

TS = "2026-11-27T10:00:00+08:00"  # == RECEIVED
ENV_T = native_topic("env", "env-01", "telemetry")
FIRE_T = native_topic("fire", "fa-01", "telemetry")
DRONE_T = native_topic("drone", "uav-01", "telemetry")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"


def j(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


def parse_ok(topic: str, payload: bytes | str, **kw: tuple[tuple[str, str], ...]) -> list[object]:
    result = native.parse(msg(topic, payload, **kw), CTX)
    assert isinstance(result, list), result
    return list(result)


def parse_bad(topic: str, payload: bytes | str, **kw: tuple[tuple[str, str], ...]) -> Rejection:
    result = native.parse(msg(topic, payload, **kw), CTX)
    assert isinstance(result, Rejection), result
    return result


# Telemetry ------------------------------------------------------------------------


def telemetry(
    values: dict[str, float],
    *,
    source: Source = Source.ENV,
    device: str = "env-01",
    from_receive: bool = False,
    tags: dict[str, str] | None = None,
    site: str = SITE,
) -> Telemetry:
    return Telemetry(site, device, source, RECEIVED, values, from_receive, tags or {})


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        (
            ENV_T,
            j({"ts": TS, "values": {"temperature_c": 21.5, "humidity_pct": 55}}),
            telemetry({"temperature_c": 21.5, "humidity_pct": 55.0}),
        ),
        (
            ENV_T,
            j({"ts": TS, "values": {"door_closed": True, "alarm": False}}),
            telemetry({"door_closed": 1.0, "alarm": 0.0}),
        ),
        (ENV_T, j({"values": {"t": -0.0}}), telemetry({"t": -0.0}, from_receive=True)),
        (ENV_T, j({"ts": None, "values": {"t": 1}}), telemetry({"t": 1.0}, from_receive=True)),
        (ENV_T, j({"ts": RECEIVED_MS, "values": {"t": 1}}), telemetry({"t": 1.0})),
        (ENV_T, j({"ts": "2026-11-27T02:00:00Z", "values": {"t": 1}, "id": "m-1"}), telemetry({"t": 1.0})),
        (ENV_T, j({"ts": TS, "values": {"t": 1}, "id": 42}), telemetry({"t": 1.0})),
        (ENV_T, j({"ts": TS, "values": {"t": 1}, "id": "x" * 128}), telemetry({"t": 1.0})),
        # Fields the contract does not name are ignored, Chinese text included (general road).
        (ENV_T, j({"ts": TS, "values": {"t": 1}, "note": "大殿东侧温湿度计", "fw": "1.2"}), telemetry({"t": 1.0})),
        # ... even a number beyond the float range, as long as it is not a reading.
        (ENV_T, '{"ts":"' + TS + '","values":{"t":1},"debug":1e999}', telemetry({"t": 1.0})),
        (ENV_T, '{"values":{"t":1},"big":' + "9" * 5000 + "}", telemetry({"t": 1.0}, from_receive=True)),
        # A UTF-8 byte order mark is tolerated.
        (ENV_T, b"\xef\xbb\xbf" + j({"ts": TS, "values": {"t": 1}}).encode(), telemetry({"t": 1.0})),
        # Duplicate keys: the last one wins, as in every JSON parser we know.
        (ENV_T, '{"ts":"' + TS + '","values":{"t":1},"values":{"u":2}}', telemetry({"u": 2.0})),
        (
            ENV_T,
            j({"ts": TS, "values": {"count": 2**64, "m" * 64: 1}}),
            telemetry({"count": float(2**64), "m" * 64: 1.0}),
        ),
        (
            FIRE_T,
            j({"ts": TS, "values": {"smoke_obscuration_pct": 0.4, "loop_current_ma": 18}}),
            telemetry({"smoke_obscuration_pct": 0.4, "loop_current_ma": 18.0}, source=Source.FIRE, device="fa-01"),
        ),
        # A site that allows auto-registration accepts devices not in devices.csv.
        (
            native_topic("env", "new-sensor", "telemetry", site=OPEN_SITE),
            j({"ts": TS, "values": {"t": 3}}),
            telemetry({"t": 3.0}, device="new-sensor", site=OPEN_SITE),
        ),
        # Drone telemetry: fields at the top level, or in values; mode and mission become tags.
        (
            DRONE_T,
            j(
                {
                    "ts": TS,
                    "lat": 36.6612,
                    "lon": 117.0201,
                    "alt_m": 120.5,
                    "battery_pct": 76,
                    "heading_deg": 90,
                    "speed_mps": 8.2,
                    "mode": "wayline",
                    "mission": "巡查-20261127-01",
                }
            ),
            telemetry(
                {
                    "lat": 36.6612,
                    "lon": 117.0201,
                    "alt_m": 120.5,
                    "battery_pct": 76.0,
                    "heading_deg": 90.0,
                    "speed_mps": 8.2,
                },
                source=Source.DRONE,
                device="uav-01",
                tags={"mode": "wayline", "mission": "巡查-20261127-01"},
            ),
        ),
        (
            DRONE_T,
            j({"ts": TS, "values": {"lat": -90, "lon": 180, "alt_m": 0, "battery_pct": 5.5, "rssi_dbm": -70}}),
            telemetry(
                {"lat": -90.0, "lon": 180.0, "alt_m": 0.0, "battery_pct": 5.5, "rssi_dbm": -70.0},
                source=Source.DRONE,
                device="uav-01",
            ),
        ),
        (
            DRONE_T,
            j({"lat": 36.6, "lon": 117.0, "values": {"alt_m": 50, "battery_pct": 99}, "mode": 5}),
            telemetry(
                {"alt_m": 50.0, "battery_pct": 99.0, "lat": 36.6, "lon": 117.0},
                source=Source.DRONE,
                device="uav-01",
                from_receive=True,
                tags={"mode": "5"},
            ),
        ),
    ],
)
def test_good_telemetry(topic: str, payload: str | bytes, expected: Telemetry) -> None:
    assert parse_ok(topic, payload) == [expected]


def _big_telemetry() -> str:
    filler = "x" * (MAX_JSON_BYTES + 1)
    return j({"values": {"t": 1}, "pad": filler})


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "detail_part"),
    [
        (ENV_T, _big_telemetry(), RejectReason.OVERSIZED, "limit is 262144"),
        (ENV_T, b'{"values":{"t":1},"note":"\xff"}', RejectReason.BAD_ENCODING, "not UTF-8"),
        (ENV_T, j({"values": {"t": 1}}).encode("utf-16"), RejectReason.BAD_ENCODING, "not UTF-8"),
        (ENV_T, '{"values":{"t":1},"note":"\\ud800"}', RejectReason.BAD_ENCODING, "surrogate"),
        (ENV_T, "temperature_c=21.5", RejectReason.BAD_JSON, "not JSON"),
        (ENV_T, '{"values":{"t":1}', RejectReason.BAD_JSON, "not JSON"),
        (ENV_T, "", RejectReason.BAD_JSON, "not JSON"),
        (ENV_T, "[1, 2]", RejectReason.BAD_JSON, "JSON array; expected a JSON object"),
        (ENV_T, '"hello"', RejectReason.BAD_JSON, "JSON string"),
        (ENV_T, "null", RejectReason.BAD_JSON, "JSON null"),
        (ENV_T, "[" * 100_000 + "]" * 100_000, RejectReason.BAD_JSON, "nested too deeply"),
        (ENV_T, '{"values":{"t":NaN}}', RejectReason.NON_FINITE, "NaN"),
        (ENV_T, '{"values":{"t":Infinity}}', RejectReason.NON_FINITE, "Infinity"),
        (ENV_T, '{"values":{"t":-Infinity}}', RejectReason.NON_FINITE, "-Infinity"),
        (ENV_T, '{"values":{"t":1e999}}', RejectReason.NON_FINITE, "`values.t`"),
        (ENV_T, '{"values":{"t":-1e400}}', RejectReason.NON_FINITE, "`values.t`"),
        (ENV_T, '{"values":{"t":' + "9" * 400 + "}}", RejectReason.NON_FINITE, "`values.t`"),
        (ENV_T, '{"values":{"t":1},"note":NaN}', RejectReason.NON_FINITE, "NaN"),
        (ENV_T, j({"ts": TS}), RejectReason.BAD_PAYLOAD, "field `values`: required"),
        (ENV_T, j({"ts": TS, "values": None}), RejectReason.BAD_PAYLOAD, "field `values`: required"),
        (ENV_T, j({"values": [1, 2]}), RejectReason.BAD_PAYLOAD, "field `values`: expected an object"),
        (ENV_T, j({"values": {}}), RejectReason.BAD_PAYLOAD, "field `values`: empty"),
        (ENV_T, j({"values": {"Temperature": 1}}), RejectReason.BAD_PAYLOAD, "metric name 'Temperature'"),
        (ENV_T, j({"values": {"temp-c": 1}}), RejectReason.BAD_PAYLOAD, "metric name"),
        (ENV_T, j({"values": {"": 1}}), RejectReason.BAD_PAYLOAD, "metric name"),
        (ENV_T, j({"values": {"t" * 65: 1}}), RejectReason.BAD_PAYLOAD, "1–64 of a-z 0-9 _"),
        (ENV_T, j({"values": {"温度": 1}}), RejectReason.BAD_PAYLOAD, "metric name"),
        (ENV_T, j({"values": {"t": "21.5"}}), RejectReason.BAD_PAYLOAD, "`values.t`: expected a finite number"),
        (ENV_T, j({"values": {"t": None}}), RejectReason.BAD_PAYLOAD, "got null"),
        (ENV_T, j({"values": {"t": {"v": 1}}}), RejectReason.BAD_PAYLOAD, "got object"),
        (ENV_T, j({"values": {"t": [1]}}), RejectReason.BAD_PAYLOAD, "got array"),
        (ENV_T, j({"values": {"t": 1}, "id": "x" * 129}), RejectReason.BAD_PAYLOAD, "field `id`: 129 characters"),
        (ENV_T, j({"values": {"t": 1}, "id": ""}), RejectReason.BAD_PAYLOAD, "field `id`"),
        (ENV_T, j({"values": {"t": 1}, "id": True}), RejectReason.BAD_PAYLOAD, "field `id`"),
        (ENV_T, j({"values": {"t": 1}, "ts": "2026-11-27T10:00:00"}), RejectReason.BAD_PAYLOAD, "no UTC offset"),
        (ENV_T, j({"values": {"t": 1}, "ts": True}), RejectReason.BAD_PAYLOAD, "got boolean"),
        (
            ENV_T,
            j({"values": {"t": 1}, "ts": "2026-11-27T11:00:00+08:00"}),
            RejectReason.TIMESTAMP_OUT_OF_RANGE,
            "3600 s ahead",
        ),
        (ENV_T, j({"values": {"t": 1}, "ts": RECEIVED_MS // 1000}), RejectReason.TIMESTAMP_OUT_OF_RANGE, "retention"),
        (
            native_topic("env", "ghost", "telemetry"),
            j({"values": {"t": 1}}),
            RejectReason.UNKNOWN_DEVICE,
            "'ghost' of site 'jn-dmh'",
        ),
        (
            native_topic("env", "env-01", "telemetry", site="nowhere"),
            j({"values": {"t": 1}}),
            RejectReason.UNKNOWN_DEVICE,
            "not in the registry",
        ),
        ("relic/jn-dmh/env/env-01/readings", j({"values": {"t": 1}}), RejectReason.BAD_TOPIC, "channel"),
        # Drone telemetry.
        (
            DRONE_T,
            j({"lat": 36.6, "lon": 117.0, "alt_m": 50}),
            RejectReason.BAD_PAYLOAD,
            "missing battery_pct (required: lat, lon, alt_m, battery_pct)",
        ),
        (DRONE_T, j({"values": {"t": 1}}), RejectReason.BAD_PAYLOAD, "missing lat, lon, alt_m, battery_pct"),
        (
            DRONE_T,
            j({"lat": 91, "lon": 117.0, "alt_m": 50, "battery_pct": 9}),
            RejectReason.BAD_PAYLOAD,
            "field `lat`: 91.0 is not a latitude",
        ),
        (
            DRONE_T,
            j({"lat": 36, "lon": -180.5, "alt_m": 50, "battery_pct": 9}),
            RejectReason.BAD_PAYLOAD,
            "field `lon`",
        ),
        (
            DRONE_T,
            j({"lat": "36.6", "lon": 117.0, "alt_m": 50, "battery_pct": 9}),
            RejectReason.BAD_PAYLOAD,
            "field `lat`: expected a number, got string",
        ),
        (
            DRONE_T,
            j({"lat": True, "lon": 117.0, "alt_m": 50, "battery_pct": 9}),
            RejectReason.BAD_PAYLOAD,
            "field `lat`: expected a number, got boolean",
        ),
        (
            DRONE_T,
            j({"values": {"lat": True}, "lon": 117.0, "alt_m": 50, "battery_pct": 9}),
            RejectReason.BAD_PAYLOAD,
            "field `lat`: expected a number, got boolean",
        ),
        (
            DRONE_T,
            j({"lat": 36, "values": {"lat": 36}, "lon": 117.0, "alt_m": 50, "battery_pct": 9}),
            RejectReason.BAD_PAYLOAD,
            "both at the top level and in `values`",
        ),
        (
            DRONE_T,
            j({"lat": 36, "lon": 117.0, "alt_m": 50, "battery_pct": 9, "mode": {"code": 5}}),
            RejectReason.BAD_PAYLOAD,
            "field `mode`",
        ),
        (
            DRONE_T,
            j({"lat": 36, "lon": 117.0, "alt_m": 50, "battery_pct": 9, "mission": ""}),
            RejectReason.BAD_PAYLOAD,
            "field `mission`",
        ),
        (DRONE_T, '{"lat":NaN,"lon":117.0,"alt_m":50,"battery_pct":9}', RejectReason.NON_FINITE, "NaN"),
        (DRONE_T, '{"lat":1e999,"lon":117.0,"alt_m":50,"battery_pct":9}', RejectReason.NON_FINITE, "field `lat`"),
    ],
)
def test_bad_telemetry(topic: str, payload: str | bytes, reason: RejectReason, detail_part: str) -> None:
    rejection = parse_bad(topic, payload)
    assert rejection.reason is reason, rejection
    assert detail_part in rejection.detail, rejection.detail


# Events ---------------------------------------------------------------------------


def event_on(source: str, device: str, payload: object) -> Event:
    records = parse_ok(native_topic(source, device, "event"), j(payload))
    assert len(records) == 1 and isinstance(records[0], Event)
    return records[0]


def test_fire_alarm_keeps_chinese_text_and_uses_the_id() -> None:
    event = event_on(
        "fire",
        "fa-01",
        {
            "ts": TS,
            "id": "fa-01-000123",
            "type": "fire_alarm",
            "zone": "大殿",
            "component": "smoke_detector",
            "description": "东配殿二层感烟探测器报警",
            "clear": False,
        },
    )
    assert event == Event(
        SITE,
        "fa-01",
        Source.FIRE,
        "fire_alarm",
        RECEIVED,
        "fa-01-000123",
        "大殿",
        False,
        {"component": "smoke_detector", "description": "东配殿二层感烟探测器报警"},
        False,
    )


@pytest.mark.parametrize(
    ("source", "device", "payload", "expected"),
    [
        (
            "fire",
            "fa-01",
            {"ts": TS, "id": "r1", "type": "reset", "clear": True},
            {"type": "reset", "clear": True, "attrs": {}},
        ),
        (
            "fire",
            "fa-01",
            {"ts": TS, "id": "r2", "type": "fault", "component": None, "clear": None},
            {"type": "fault", "clear": False, "attrs": {}},
        ),
        ("fire", "fa-01", {"ts": TS, "id": 42, "type": "heartbeat"}, {"event_key": "42"}),
        (
            "security",
            "sec-01",
            {"ts": TS, "id": "s1", "type": "door_open", "zone": "北门"},
            {"type": "door_open", "zone": "北门", "source": Source.SECURITY},
        ),
        ("security", "sec-01", {"ts": TS, "id": "s2", "type": "panic"}, {"type": "panic", "zone": None}),
        (
            "video",
            "cam-01",
            {
                "ts": TS,
                "id": "v1",
                "type": "intrusion",
                "zone": "碑廊",
                "score": 0.93,
                "snapshot": "https://nvr.example.cn/snap/1.jpg",
            },
            {"type": "intrusion", "attrs": {"score": 0.93, "snapshot": "https://nvr.example.cn/snap/1.jpg"}},
        ),
        ("video", "cam-01", {"ts": TS, "id": "v2", "type": "occlusion", "score": 1}, {"attrs": {"score": 1.0}}),
        ("video", "cam-01", {"ts": TS, "id": "v3", "type": "smoke", "score": 0}, {"attrs": {"score": 0.0}}),
        (
            "drone",
            "uav-01",
            {
                "ts": TS,
                "id": "d1",
                "type": "detection",
                "label": "excavation",
                "lat": 36.66,
                "lon": 117.02,
                "score": 0.8,
                "mission": "m-01",
                "snapshot": "http://x/y.jpg",
            },
            {
                "type": "detection",
                "attrs": {
                    "label": "excavation",
                    "lat": 36.66,
                    "lon": 117.02,
                    "score": 0.8,
                    "mission": "m-01",
                    "snapshot": "http://x/y.jpg",
                },
            },
        ),
        ("drone", "uav-01", {"ts": TS, "id": "d2", "type": "link_lost"}, {"type": "link_lost"}),
        (
            "patrol",
            "pt-01",
            {
                "ts": TS,
                "id": "p1",
                "type": "checkin",
                "custodian": "张伟",
                "checkpoint": "西碑亭",
                "route": "夜间一号线",
                "note": "",
                "photo": "https://img.example.cn/p.jpg",
                "lat": 36.67,
                "lon": 117.01,
            },
            {
                "type": "checkin",
                "attrs": {
                    "custodian": "张伟",
                    "checkpoint": "西碑亭",
                    "route": "夜间一号线",
                    "note": "",
                    "photo": "https://img.example.cn/p.jpg",
                    "lat": 36.67,
                    "lon": 117.01,
                },
            },
        ),
        (
            "patrol",
            "pt-01",
            {"ts": TS, "id": "p2", "type": "hazard", "note": "东墙裂缝扩大，需加固"},
            {"type": "hazard", "attrs": {"note": "东墙裂缝扩大，需加固"}},
        ),
        # env has no type table in the contract: any snake_case name.
        (
            "env",
            "env-01",
            {"ts": TS, "id": "e1", "type": "water_leak", "zone": "地宫"},
            {"type": "water_leak", "zone": "地宫"},
        ),
        # Fields outside the contract are kept, unchecked, in attrs.
        (
            "fire",
            "fa-01",
            {
                "ts": TS,
                "id": "x1",
                "type": "fire_alarm",
                "loop": 3,
                "raw": {"a": [1, None]},
                "score": "high",
                "值班员": "李娜",
            },
            {"attrs": {"loop": 3, "raw": {"a": [1, None]}, "score": "high", "值班员": "李娜"}},
        ),
        # NUL cannot be stored by PostgreSQL: replaced, not rejected.
        (
            "fire",
            "fa-01",
            {
                "ts": TS,
                "id": "n1",
                "type": "fault",
                "zone": "a\u0000b",
                "description": "x\u0000",
                "extra": {"k\u0000": ["\u0000"]},
            },
            {"zone": "a\ufffdb", "attrs": {"description": "x\ufffd", "extra": {"k\ufffd": ["\ufffd"]}}},
        ),
        ("fire", "fa-01", {"id": "t1", "type": "test"}, {"ts": RECEIVED, "ts_from_receive": True}),
        (
            "fire",
            "fa-01",
            {"id": "t2", "type": "test", "ts": RECEIVED_MS - 1000},
            {"ts": RECEIVED - timedelta(seconds=1), "ts_from_receive": False},
        ),
    ],
)
def test_good_events(source: str, device: str, payload: dict[str, object], expected: dict[str, object]) -> None:
    event = event_on(source, device, payload)
    for field, value in expected.items():
        assert getattr(event, field) == value, field


def test_event_key_without_id_is_a_payload_digest() -> None:
    payload = j({"ts": TS, "type": "door_open", "zone": "北门"}).encode()
    topic = native_topic("security", "sec-01", "event")
    first = native.parse(Message(topic, payload, RECEIVED), CTX)
    again = native.parse(Message(topic, payload, RECEIVED + timedelta(seconds=30)), CTX)  # a redelivery
    assert isinstance(first, list) and isinstance(again, list)
    assert isinstance(first[0], Event) and isinstance(again[0], Event)
    assert first[0].event_key == again[0].event_key == blake2b(payload, digest_size=8).hexdigest()


def test_event_key_without_id_or_ts_never_merges_two_alarms() -> None:
    payload = j({"type": "door_open"}).encode()
    topic = native_topic("security", "sec-01", "event")
    first = native.parse(Message(topic, payload, RECEIVED), CTX)
    second = native.parse(Message(topic, payload, RECEIVED + timedelta(seconds=30)), CTX)
    assert isinstance(first, list) and isinstance(second, list)
    assert isinstance(first[0], Event) and isinstance(second[0], Event)
    assert first[0].event_key != second[0].event_key
    assert len(first[0].event_key) == 16


EVT = native_topic("fire", "fa-01", "event")
VID = native_topic("video", "cam-01", "event")


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "detail_part"),
    [
        (EVT, j({"ts": TS}), RejectReason.BAD_PAYLOAD, "field `type`: required; expected one of fault, feedback"),
        (EVT, j({"type": "explosion"}), RejectReason.BAD_PAYLOAD, "'explosion' is not a fire event type"),
        (EVT, j({"type": "door_open"}), RejectReason.BAD_PAYLOAD, "not a fire event type"),
        (EVT, j({"type": "FIRE_ALARM"}), RejectReason.BAD_PAYLOAD, "not a fire event type"),
        (EVT, j({"type": 1}), RejectReason.BAD_PAYLOAD, "field `type`: expected one of"),
        (
            native_topic("env", "env-01", "event"),
            j({"type": "Water Leak"}),
            RejectReason.BAD_PAYLOAD,
            "expected a snake_case name",
        ),
        (
            native_topic("security", "sec-01", "event"),
            j({"type": "fire_alarm"}),
            RejectReason.BAD_PAYLOAD,
            "not a security event type",
        ),
        (EVT, j({"type": "fire_alarm", "zone": 3}), RejectReason.BAD_PAYLOAD, "field `zone`: expected a non-empty"),
        (EVT, j({"type": "fire_alarm", "zone": ""}), RejectReason.BAD_PAYLOAD, "field `zone`"),
        (EVT, j({"type": "fire_alarm", "zone": "z" * 257}), RejectReason.BAD_PAYLOAD, "257 characters"),
        (EVT, j({"type": "reset", "clear": "yes"}), RejectReason.BAD_PAYLOAD, "field `clear`: expected true or false"),
        (EVT, j({"type": "reset", "clear": 1}), RejectReason.BAD_PAYLOAD, "field `clear`"),
        (EVT, j({"type": "fault", "component": ""}), RejectReason.BAD_PAYLOAD, "field `component`"),
        (
            EVT,
            j({"type": "fault", "description": 12}),
            RejectReason.BAD_PAYLOAD,
            "field `description`: expected a string, got number",
        ),
        (EVT, j({"type": "fault", "id": "i" * 129}), RejectReason.BAD_PAYLOAD, "field `id`: 129 characters"),
        (EVT, j({"type": "fault", "id": 1.5}), RejectReason.BAD_PAYLOAD, "field `id`"),
        (EVT, j({"type": "fault", "ts": "2026-11-27 10:00"}), RejectReason.BAD_PAYLOAD, "not RFC 3339"),
        (EVT, j({"type": "fault", "ts": "2026-11-27T10:10:00+08:00"}), RejectReason.TIMESTAMP_OUT_OF_RANGE, "ahead"),
        (EVT, '{"type":"fault","extra":NaN}', RejectReason.NON_FINITE, "NaN"),
        (EVT, '{"type":"fault","extra":[1e999]}', RejectReason.NON_FINITE, "field `extra[0]`"),
        (EVT, '{"type":"fault","extra":"\\udc00"}', RejectReason.BAD_ENCODING, "surrogate"),
        (EVT, b'{"type":"fault","description":"\xe5\xa4"}', RejectReason.BAD_ENCODING, "not UTF-8"),
        (EVT, '{"type":"fault"', RejectReason.BAD_JSON, "not JSON"),
        (EVT, '["fire_alarm"]', RejectReason.BAD_JSON, "expected a JSON object"),
        (
            VID,
            j({"type": "intrusion", "score": 1.5}),
            RejectReason.BAD_PAYLOAD,
            "field `score`: 1.5 is out of range; expected a number from 0 to 1",
        ),
        (VID, j({"type": "intrusion", "score": -0.1}), RejectReason.BAD_PAYLOAD, "field `score`"),
        (VID, j({"type": "intrusion", "score": "0.9"}), RejectReason.BAD_PAYLOAD, "got string"),
        (VID, j({"type": "intrusion", "score": True}), RejectReason.BAD_PAYLOAD, "got boolean"),
        (VID, '{"type":"intrusion","score":NaN}', RejectReason.NON_FINITE, "NaN"),
        (
            VID,
            j({"type": "intrusion", "snapshot": "javascript:alert(1)"}),
            RejectReason.BAD_PAYLOAD,
            "field `snapshot`: 'javascript:alert(1)' is not an http(s) URL",
        ),
        (VID, j({"type": "intrusion", "snapshot": "ftp://nvr/1.jpg"}), RejectReason.BAD_PAYLOAD, "field `snapshot`"),
        (VID, j({"type": "intrusion", "snapshot": "https://a b"}), RejectReason.BAD_PAYLOAD, "field `snapshot`"),
        (
            VID,
            j({"type": "intrusion", "snapshot": "https://x/" + "a" * 2048}),
            RejectReason.BAD_PAYLOAD,
            "at most 2048",
        ),
        (VID, j({"type": "intrusion", "snapshot": ["https://x/1.jpg"]}), RejectReason.BAD_PAYLOAD, "got array"),
        (VID, j({"type": "person_detected"}), RejectReason.BAD_PAYLOAD, "not a video event type"),
        (
            native_topic("patrol", "pt-01", "event"),
            j({"type": "checkin", "lat": 100, "lon": 117}),
            RejectReason.BAD_PAYLOAD,
            "field `lat`: 100.0 is out of range; expected a latitude",
        ),
        (
            native_topic("drone", "uav-01", "event"),
            j({"type": "detection", "lon": "117"}),
            RejectReason.BAD_PAYLOAD,
            "field `lon`: expected a longitude",
        ),
        (
            native_topic("patrol", "pt-01", "event"),
            j({"type": "start", "custodian": ["张伟"]}),
            RejectReason.BAD_PAYLOAD,
            "field `custodian`",
        ),
        (
            native_topic("patrol", "pt-01", "event"),
            j({"type": "end", "photo": "/tmp/p.jpg"}),
            RejectReason.BAD_PAYLOAD,
            "field `photo`",
        ),
        (EVT, j({"type": "fault", "pad": "x" * MAX_JSON_BYTES}), RejectReason.OVERSIZED, "limit is 262144"),
    ],
)
def test_bad_events(topic: str, payload: str | bytes, reason: RejectReason, detail_part: str) -> None:
    rejection = parse_bad(topic, payload)
    assert rejection.reason is reason, rejection
    assert detail_part in rejection.detail, rejection.detail


# Status ---------------------------------------------------------------------------

STATUS_T = native_topic("security", "sec-01", "status")


@pytest.mark.parametrize(
    ("payload", "online", "ts", "from_receive"),
    [
        ("online", True, RECEIVED, True),
        ("offline", False, RECEIVED, True),
        (" Online\r\n", True, RECEIVED, True),
        ("OFFLINE", False, RECEIVED, True),
        ('"online"', True, RECEIVED, True),
        (j({"state": "online"}), True, RECEIVED, True),
        (j({"state": "offline", "ts": "2026-11-27T09:59:00+08:00"}), False, RECEIVED - timedelta(minutes=1), False),
        (j({"state": "online", "ts": RECEIVED_MS, "reason": "重启完成"}), True, RECEIVED, False),
    ],
)
def test_good_status(payload: str, online: bool, ts: object, from_receive: bool) -> None:
    assert parse_ok(STATUS_T, payload) == [StatusChange(SITE, "sec-01", Source.SECURITY, online, ts, from_receive)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason", "detail_part"),
    [
        ("on", RejectReason.BAD_PAYLOAD, "expected `online`, `offline`"),
        ("", RejectReason.BAD_PAYLOAD, "expected `online`"),
        ("online!", RejectReason.BAD_PAYLOAD, "expected `online`"),
        ('"up"', RejectReason.BAD_PAYLOAD, "got 'up'"),
        ("1", RejectReason.BAD_PAYLOAD, "got a JSON number"),
        ("[1]", RejectReason.BAD_PAYLOAD, "got a JSON array"),
        (j({"state": "up"}), RejectReason.BAD_PAYLOAD, 'field `state`: expected "online" or "offline", got \'up\''),
        (j({"status": "online"}), RejectReason.BAD_PAYLOAD, "field `state`"),
        (j({"state": True}), RejectReason.BAD_PAYLOAD, "got boolean"),
        ('{"state":', RejectReason.BAD_JSON, "not JSON"),
        (b"\xff\xfe", RejectReason.BAD_ENCODING, "not UTF-8"),
        ('{"state":"online","x":NaN}', RejectReason.NON_FINITE, "NaN"),
        (j({"state": "online", "ts": "2026-11-27T10:00:00"}), RejectReason.BAD_PAYLOAD, "no UTC offset"),
        (j({"state": "online", "ts": RECEIVED_MS + 3_600_000}), RejectReason.TIMESTAMP_OUT_OF_RANGE, "ahead"),
        ("x" * (MAX_JSON_BYTES + 1), RejectReason.OVERSIZED, "limit"),
    ],
)
def test_bad_status(payload: str | bytes, reason: RejectReason, detail_part: str) -> None:
    rejection = parse_bad(STATUS_T, payload)
    assert rejection.reason is reason, rejection
    assert detail_part in rejection.detail, rejection.detail


# Frames ---------------------------------------------------------------------------

FRAME_T = native_topic("video", "cam-01", "frame")


@pytest.mark.parametrize(
    ("props", "ts", "from_receive"),
    [
        ((), RECEIVED, True),
        ((("ts", str(RECEIVED_MS - 500)),), RECEIVED - timedelta(milliseconds=500), False),
        ((("camera", "gate"), ("ts", "2026-11-27T09:59:59.5+08:00")), RECEIVED - timedelta(milliseconds=500), False),
        ((("other", "1"),), RECEIVED, True),
    ],
)
def test_good_frames(props: tuple[tuple[str, str], ...], ts: object, from_receive: bool) -> None:
    assert parse_ok(FRAME_T, JPEG, props=props) == [Frame(SITE, "cam-01", ts, JPEG, from_receive)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("topic", "payload", "props", "reason", "detail_part"),
    [
        (
            FRAME_T,
            b"\x89PNG\r\n\x1a\n",
            (),
            RejectReason.BAD_PAYLOAD,
            "expected the start-of-image marker FF D8, got 89 50",
        ),
        (FRAME_T, b"", (), RejectReason.BAD_PAYLOAD, "empty payload"),
        (FRAME_T, b"\xff", (), RejectReason.BAD_PAYLOAD, "got FF"),
        (FRAME_T, JPEG + b"\x00" * MAX_FRAME_BYTES, (), RejectReason.OVERSIZED, "frame is"),
        (FRAME_T, JPEG, (("ts", "yesterday"),), RejectReason.BAD_PAYLOAD, "user property ts"),
        (FRAME_T, JPEG, (("ts", "2026-11-27T10:00:00"),), RejectReason.BAD_PAYLOAD, "no UTC offset"),
        (FRAME_T, JPEG, (("ts", str(RECEIVED_MS + 600_000)),), RejectReason.TIMESTAMP_OUT_OF_RANGE, "ahead"),
        (native_topic("fire", "fa-01", "frame"), JPEG, (), RejectReason.BAD_TOPIC, "video devices only"),
        (native_topic("video", "cam-99", "frame"), JPEG, (), RejectReason.UNKNOWN_DEVICE, "cam-99"),
    ],
)
def test_bad_frames(
    topic: str, payload: bytes, props: tuple[tuple[str, str], ...], reason: RejectReason, detail_part: str
) -> None:
    rejection = parse_bad(topic, payload, props=props)
    assert rejection.reason is reason, rejection
    assert detail_part in rejection.detail, rejection.detail


def test_frame_at_the_size_limit_is_accepted() -> None:
    frame = JPEG + b"\x00" * (MAX_FRAME_BYTES - len(JPEG))
    assert parse_ok(FRAME_T, frame) == [Frame(SITE, "cam-01", RECEIVED, frame, True)]


def test_fast_and_general_roads_agree_on_a_typical_message() -> None:
    message = msg(ENV_T, j({"ts": TS, "values": {"temperature_c": 21.5, "door_closed": True}, "id": 7}))
    topic = parse_native_topic(message.topic)
    assert not isinstance(topic, Rejection)
    fast = native.telemetry_fast(message, topic, CTX)
    assert fast is not None
    assert fast == native.telemetry_general(message, topic, CTX)
