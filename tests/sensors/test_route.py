"""Routing, and the properties every adapter must keep on any input whatsoever.

- `parse_message` never raises and never reaches its "adapter error" safety net;
- what it returns is records that keep the model's invariants, or a Rejection;
- valid telemetry round-trips its values;
- the telemetry fast road, when it accepts, agrees with the general road.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors import native
from sensors.context import ParseContext
from sensors.model import Event, Frame, Message, Record, Rejection, RejectReason, Source, StatusChange, Telemetry
from sensors.route import adapter_for, parse_message
from sensors.topic import parse_native_topic
from tests.sensors.support import AIRCRAFT_SN, CTX, DOCK_SN, RECEIVED, SITE, msg, native_topic

PROPERTY = settings(
    max_examples=int(__import__("os").environ.get("SENSORS_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
METRIC = re.compile(r"[a-z0-9_]{1,64}")


@pytest.mark.parametrize(
    ("topic", "adapter"),
    [
        ("relic/s/fire/d/event", "sensors.native"),
        ("thing/product/SN/osd", "sensors.dji"),
        ("sys/product/SN/status", "sensors.dji"),
        ("frigate/events", "sensors.frigate"),
        ("frigate", "sensors.frigate"),
        ("relic", None),
        ("relicx/s/fire/d/event", None),
        ("homeassistant/sensor/x/config", None),
        ("", None),
        ("/relic/s/fire/d/event", None),
    ],
)
def test_adapter_for(topic: str, adapter: str | None) -> None:
    found = adapter_for(topic, CTX)
    assert (found.__module__ if found else None) == adapter


def test_native_prefix_wins_even_over_foreign_roots() -> None:
    ctx = ParseContext(directory=CTX.directory, topic_prefix="thing")
    found = adapter_for("thing/jn-dmh/fire/fa-01/event", ctx)
    assert found is not None and found.__module__ == "sensors.native"


def test_unknown_root_is_a_bad_topic() -> None:
    result = parse_message(msg("zigbee2mqtt/door", "{}"), CTX)
    assert isinstance(result, Rejection) and result.reason is RejectReason.BAD_TOPIC
    assert "no adapter for topic 'zigbee2mqtt/door'" in result.detail


def test_an_adapter_bug_becomes_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(message: Message, ctx: ParseContext) -> list[Record] | Rejection:
        raise KeyError("oops")

    monkeypatch.setattr("sensors.route._BY_FIRST_LEVEL", {"frigate": broken})
    result = parse_message(msg("frigate/events", "{}"), CTX)
    assert result == Rejection(RejectReason.BAD_PAYLOAD, "adapter error: KeyError: 'oops'")


def test_each_adapter_is_reached_through_the_router() -> None:
    native_result = parse_message(msg(native_topic("env", "env-01", "telemetry"), '{"values":{"t":1}}'), CTX)
    assert isinstance(native_result, list) and isinstance(native_result[0], Telemetry)
    dji_result = parse_message(
        msg(f"sys/product/{DOCK_SN}/status", json.dumps({"method": "update_topo", "data": {"sub_devices": []}})), CTX
    )
    assert isinstance(dji_result, list) and isinstance(dji_result[0], StatusChange)
    frigate_result = parse_message(msg("frigate/available", "online"), CTX)
    assert isinstance(frigate_result, list) and isinstance(frigate_result[0], StatusChange)


# Invariants -----------------------------------------------------------------------


def _strings(value: object) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def assert_well_formed(result: object) -> None:
    if isinstance(result, Rejection):
        assert isinstance(result.reason, RejectReason)
        assert "adapter error" not in result.detail, result.detail
        assert result.detail and len(result.detail) < 1000
        return
    assert isinstance(result, list), result
    for record in result:
        assert isinstance(record, Telemetry | Event | StatusChange | Frame), record
        assert record.ts.tzinfo is UTC
        assert record.site and record.device
        if isinstance(record, Telemetry):
            assert record.values
            for name, value in record.values.items():
                assert type(value) is float and math.isfinite(value), (name, value)
                assert METRIC.fullmatch(name) or record.source.value == "drone", name
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in record.tags.items())
        elif isinstance(record, Event):
            assert record.type and record.event_key and isinstance(record.clear, bool)
            for text in _strings([record.type, record.event_key, record.zone, record.attrs]):
                assert "\x00" not in text
                text.encode("utf-8")  # no lone surrogates: PostgreSQL must be able to store it
            for number in _numbers(record.attrs):
                assert math.isfinite(number)
        elif isinstance(record, StatusChange):
            assert isinstance(record.online, bool)
        else:
            assert record.jpeg.startswith(b"\xff\xd8")


def _numbers(value: object) -> list[float]:
    return [x for x in _leaves(value) if isinstance(x, float)]


def _leaves(value: object) -> list[object]:
    out: list[object] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            out.append(item)
    return out


# Strategies -----------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)

VALID_TOPICS = [
    native_topic(source, device, channel)
    for source, device in (
        ("fire", "fa-01"),
        ("security", "sec-01"),
        ("video", "cam-01"),
        ("drone", "uav-01"),
        ("patrol", "pt-01"),
        ("env", "env-01"),
    )
    for channel in ("event", "telemetry", "status")
] + [
    native_topic("video", "cam-01", "frame"),
    native_topic("env", "anything", "telemetry", site="jn-qfs"),
    f"thing/product/{AIRCRAFT_SN}/osd",
    f"thing/product/{DOCK_SN}/osd",
    f"thing/product/{DOCK_SN}/events",
    f"sys/product/{DOCK_SN}/status",
    "frigate/events",
    "frigate/available",
]

topics = st.one_of(
    st.sampled_from(VALID_TOPICS),
    st.text(max_size=80),
    st.lists(st.text(alphabet="relicfsdvtmn-_/+#$ 大", max_size=10), min_size=1, max_size=7).map("/".join),
    st.builds(
        lambda s, src, d, ch: f"relic/{s}/{src}/{d}/{ch}",
        st.text(max_size=8),
        st.text(max_size=8),
        st.text(max_size=8),
        st.text(max_size=10),
    ),
)

TS_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(
        [
            "2026-11-27T10:00:00+08:00",
            "2026-11-27T10:00:00",
            "2026-11-27T02:00:00Z",
            "",
            "now",
            "2026-11-27T02:04:59.999999Z",
            "2026-11-27T02:06:00Z",
            "1795744800000",
        ]
    ),
    st.integers(min_value=1_795_744_800_000 - 10**9, max_value=1_795_744_800_000 + 10**6),
)


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


shaped_payloads = st.one_of(
    # Native telemetry, events and statuses, with any value in each known field.
    st.fixed_dictionaries(
        {},
        optional={
            "ts": TS_VALUES,
            "id": st.one_of(st.text(max_size=130), json_scalars),
            "values": st.one_of(
                st.dictionaries(
                    st.one_of(st.from_regex(METRIC, fullmatch=True), st.text(max_size=5)), json_values, max_size=5
                ),
                json_values,
            ),
            "type": st.one_of(
                st.sampled_from(
                    ["fire_alarm", "door_open", "intrusion", "detection", "checkin", "water_leak", "motion"]
                ),
                json_scalars,
            ),
            "zone": json_scalars,
            "clear": json_scalars,
            "score": json_scalars,
            "snapshot": json_scalars,
            "lat": json_scalars,
            "lon": json_scalars,
            "alt_m": json_scalars,
            "battery_pct": json_scalars,
            "mode": json_scalars,
            "state": st.one_of(st.sampled_from(["online", "offline"]), json_scalars),
            "extra": json_values,
        },
    ).map(_dumps),
    # DJI envelopes.
    st.fixed_dictionaries(
        {},
        optional={
            "tid": json_scalars,
            "bid": json_scalars,
            "timestamp": TS_VALUES,
            "gateway": json_scalars,
            "method": st.one_of(
                st.sampled_from(["flighttask_progress", "takeoff_to_point_progress", "hms", "update_topo"]),
                json_scalars,
            ),
            "data": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "latitude": json_scalars,
                        "longitude": json_scalars,
                        "attitude_head": json_scalars,
                        "battery": json_values,
                        "mode_code": json_scalars,
                        "position_state": json_values,
                        "sub_devices": st.one_of(
                            json_values,
                            st.lists(
                                st.fixed_dictionaries({"sn": st.sampled_from([AIRCRAFT_SN, DOCK_SN, "X"])}), max_size=3
                            ),
                        ),
                        "output": json_values,
                    },
                ),
            ),
        },
    ).map(_dumps),
    # Frigate events.
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(st.sampled_from(["new", "update", "end"]), json_scalars),
            "after": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {
                        "id": st.text(min_size=1, max_size=10),
                        "camera": st.sampled_from(["gate_cam", "nope"]),
                        "label": st.sampled_from(["person", "car"]),
                    },
                    optional={
                        "score": json_scalars,
                        "top_score": json_scalars,
                        "false_positive": json_scalars,
                        "start_time": json_scalars,
                        "end_time": json_scalars,
                        "frame_time": json_scalars,
                        "current_zones": json_values,
                        "entered_zones": json_values,
                        "sub_label": json_values,
                    },
                ),
            ),
        },
    ).map(_dumps),
    json_values.map(_dumps),
)

payloads = st.one_of(
    st.binary(max_size=300),
    shaped_payloads,
    st.sampled_from([b"online", b"offline", b"\xff\xd8\xff\xe0", b"NaN", b"[" * 5000, b"\xef\xbb\xbf{}"]),
    # Literal NaN / Infinity / huge numbers spliced into otherwise valid JSON.
    st.tuples(shaped_payloads, st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"9" * 400])).map(
        lambda pair: pair[0].replace(b"null", pair[1], 1)
    ),
)


@PROPERTY
@given(topics, payloads, st.lists(st.tuples(st.sampled_from(["ts", "x"]), st.text(max_size=20)), max_size=2))
def test_no_input_makes_parse_message_raise(topic: str, payload: bytes, props: list[tuple[str, str]]) -> None:
    assert_well_formed(parse_message(Message(topic, payload, RECEIVED, tuple(props)), CTX))


@PROPERTY
@given(st.sampled_from(VALID_TOPICS), st.binary(max_size=200))
def test_random_bytes_on_every_valid_topic(topic: str, payload: bytes) -> None:
    assert_well_formed(parse_message(Message(topic, payload, RECEIVED), CTX))


@PROPERTY
@given(st.sampled_from(VALID_TOPICS), shaped_payloads)
def test_shaped_json_on_every_valid_topic(topic: str, payload: bytes) -> None:
    assert_well_formed(parse_message(Message(topic, payload, RECEIVED), CTX))


# Near-valid messages: a valid message per topic, then one field changed or dropped -----

finite = st.floats(allow_nan=False, allow_infinity=False)
finite_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), finite, st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
unit = st.floats(min_value=0, max_value=1)
lats = st.floats(min_value=-90, max_value=90)
lons = st.floats(min_value=-180, max_value=180)
names = st.text(min_size=1, max_size=20)
urls = st.from_regex(r"https?://[a-z0-9.]{1,20}/[a-zA-Z0-9_./-]{0,30}", fullmatch=True)
good_ts = st.one_of(
    st.none(),
    st.integers(min_value=1_795_744_800_000 - 86_400_000, max_value=1_795_744_800_000 + 299_000),
    st.sampled_from(["2026-11-27T10:00:00+08:00", "2026-11-27T01:59:59.5Z", "2026-11-26T21:00:00-05:00"]),
)
metric_dicts = st.dictionaries(
    st.from_regex(METRIC, fullmatch=True),
    st.one_of(finite, st.booleans(), st.integers(-(2**53), 2**53)),
    min_size=1,
    max_size=5,
)
EVENT_FIELD_VALUES: dict[str, Any] = {
    "component": names,
    "description": st.text(max_size=30),
    "score": unit,
    "snapshot": urls,
    "mission": names,
    "label": names,
    "lat": lats,
    "lon": lons,
    "custodian": names,
    "checkpoint": names,
    "route": names,
    "note": st.text(max_size=30),
    "photo": urls,
}


def _event_body(source: str) -> st.SearchStrategy[dict[str, Any]]:
    types = sorted(native.EVENT_TYPES[Source(source)]) if source != "env" else ["water_leak", "tilt"]
    fields = native.EVENT_FIELDS[Source(source)]
    return st.fixed_dictionaries(
        {"type": st.sampled_from(types)},
        optional={
            "ts": good_ts,
            "id": names,
            "zone": names,
            "clear": st.booleans(),
            "extra": finite_json,
            **{key: EVENT_FIELD_VALUES[key] for key in fields},
        },
    )


drone_body = st.fixed_dictionaries(
    {"lat": lats, "lon": lons, "alt_m": finite, "battery_pct": unit.map(lambda x: x * 100)},
    optional={"ts": good_ts, "heading_deg": finite, "speed_mps": finite, "mode": names, "mission": names},
)
osd_data = st.fixed_dictionaries(
    {
        "attitude_head": finite,
        "latitude": lats,
        "longitude": lons,
        "height": finite,
        "battery": st.fixed_dictionaries({"capacity_percent": st.integers(0, 100)}),
    },
    optional={
        "mode_code": st.integers(0, 30),
        "horizontal_speed": finite,
        "elevation": finite,
        "position_state": st.fixed_dictionaries({"gps_number": st.integers(0, 40)}),
        "firmware_version": names,
        "wind_speed": finite,
        "extra_flag": st.booleans(),
    },
)
dock_data = st.dictionaries(
    st.from_regex(METRIC, fullmatch=True).filter(lambda k: k not in ("attitude_head", "horizontal_speed", "battery")),
    st.one_of(finite, st.booleans(), names, finite_json),
    max_size=6,
)
dji_event_data = st.one_of(
    st.builds(
        lambda status, step, flight: {
            "result": 0,
            "output": {
                "status": status,
                "progress": {"current_step": step, "percent": 50},
                "ext": {"flight_id": flight},
            },
        },
        st.sampled_from(["sent", "in_progress", "ok", "failed", "paused", "canceled"]),
        st.integers(0, 40),
        names,
    ),
    st.fixed_dictionaries({"status": st.sampled_from(["wayline_ok", "wayline_progress"]), "flight_id": names}),
    st.dictionaries(st.text(max_size=6), finite_json, max_size=3),
)
frigate_after = st.fixed_dictionaries(
    {"id": names, "camera": st.just("gate_cam"), "label": st.sampled_from(["person", "car", "smoke", "dog"])},
    optional={
        "score": unit,
        "top_score": unit,
        "false_positive": st.booleans(),
        "start_time": st.floats(1_795_744_800 - 3600, 1_795_744_800),
        "current_zones": st.lists(names, max_size=3),
        "entered_zones": st.lists(names, max_size=3),
        "has_snapshot": st.booleans(),
        "sub_label": st.one_of(names, st.tuples(names, unit).map(list)),
    },
)


def _envelope(data: st.SearchStrategy[Any], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"data": data, **fields}, optional={"tid": names, "bid": names, "timestamp": good_ts, "gateway": names}
    )


NEAR_VALID: list[tuple[str, st.SearchStrategy[Any]]] = [
    *[
        (
            native_topic(src, dev, "telemetry"),
            st.fixed_dictionaries({"values": metric_dicts}, optional={"ts": good_ts, "id": names}),
        )
        for src, dev in (("env", "env-01"), ("fire", "fa-01"), ("video", "cam-01"))
    ],
    (native_topic("drone", "uav-01", "telemetry"), drone_body),
    *[
        (native_topic(src, dev, "event"), _event_body(src))
        for src, dev in (
            ("fire", "fa-01"),
            ("security", "sec-01"),
            ("video", "cam-01"),
            ("drone", "uav-01"),
            ("patrol", "pt-01"),
            ("env", "env-01"),
        )
    ],
    (
        native_topic("patrol", "pt-01", "status"),
        st.fixed_dictionaries({"state": st.sampled_from(["online", "offline"])}, optional={"ts": good_ts}),
    ),
    (f"thing/product/{AIRCRAFT_SN}/osd", _envelope(osd_data)),
    (f"thing/product/{DOCK_SN}/osd", _envelope(dock_data)),
    (
        f"thing/product/{DOCK_SN}/events",
        _envelope(
            dji_event_data,
            method=st.sampled_from(["flighttask_progress", "takeoff_to_point_progress", "hms", "return_home_info"]),
        ),
    ),
    (
        f"sys/product/{DOCK_SN}/status",
        _envelope(
            st.fixed_dictionaries(
                {
                    "sub_devices": st.lists(
                        st.fixed_dictionaries({"sn": st.sampled_from([AIRCRAFT_SN, "OTHER"])}), max_size=2
                    )
                }
            ),
            method=st.just("update_topo"),
        ),
    ),
    (
        "frigate/events",
        st.fixed_dictionaries(
            {"type": st.sampled_from(["new", "update", "end"]), "after": frigate_after, "before": finite_json}
        ),
    ),
]


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """(topic, payload, whether the payload is still the valid one)."""
    topic, bodies = draw(st.sampled_from(NEAR_VALID))
    body = draw(bodies)
    if draw(st.integers(0, 2)) == 0 or not body:
        return topic, _dumps(body), True
    key = draw(st.sampled_from(sorted(body)))
    if draw(st.booleans()):
        del body[key]
    else:
        body[key] = draw(json_values)
    return topic, _dumps(body), False


@settings(
    max_examples=int(__import__("os").environ.get("SENSORS_EXAMPLES", "250")) * 2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(near_valid())
def test_near_valid_messages(case: tuple[str, bytes, bool]) -> None:
    topic, payload, intact = case
    result = parse_message(Message(topic, payload, RECEIVED), CTX)
    assert_well_formed(result)
    if intact:
        assert isinstance(result, list), result


# Round trip -----------------------------------------------------------------------

metric_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.booleans(),
)


@st.composite
def device_timestamps(draw: st.DrawFn) -> tuple[object, datetime, bool]:
    """(wire ts, expected record ts, from_receive)."""
    kind = draw(st.sampled_from(["none", "rfc3339", "epoch_ms"]))
    if kind == "none":
        return None, RECEIVED, True
    offset = draw(st.timedeltas(min_value=-timedelta(days=399), max_value=timedelta(seconds=300)))
    moment = (RECEIVED + offset).replace(microsecond=draw(st.integers(0, 999)) * 1000)
    if kind == "epoch_ms":
        return int(moment.timestamp() * 1000), moment, False
    tz = timezone(timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))))
    return moment.astimezone(tz).isoformat(), moment, False


@PROPERTY
@given(
    st.dictionaries(st.from_regex(METRIC, fullmatch=True), metric_values, min_size=1, max_size=8),
    device_timestamps(),
    st.dictionaries(
        st.text(max_size=6).filter(lambda k: k not in ("ts", "values", "id")), json_values, max_size=3
    ).filter(lambda extra: not any(isinstance(x, float) and not math.isfinite(x) for x in _leaves(extra))),
    st.sampled_from(["env", "fire", "video", "security", "patrol"]),
)
def test_valid_telemetry_round_trips_its_values(
    values: dict[str, Any], stamp: tuple[object, datetime, bool], extra: dict[str, Any], source: str
) -> None:
    wire_ts, expected_ts, from_receive = stamp
    body: dict[str, Any] = {**extra, "values": values}
    if wire_ts is not None:
        body["ts"] = wire_ts
    device = {"env": "env-01", "fire": "fa-01", "video": "cam-01", "security": "sec-01", "patrol": "pt-01"}[source]
    result = parse_message(msg(native_topic(source, device, "telemetry"), _dumps(body)), CTX)
    assert isinstance(result, list) and len(result) == 1, result
    record = result[0]
    assert isinstance(record, Telemetry)
    assert record.values == {name: float(value) for name, value in values.items()}
    assert all(type(v) is float for v in record.values.values())
    assert (record.ts, record.ts_from_receive) == (expected_ts, from_receive)
    assert (record.site, record.device, record.source.value) == (SITE, device, source)


@PROPERTY
@given(
    st.floats(min_value=-90, max_value=90),
    st.floats(min_value=-180, max_value=180),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=100),
    st.booleans(),
    st.text(min_size=1, max_size=20),
)
def test_valid_drone_telemetry_round_trips(
    lat: float, lon: float, alt: float, battery: float, nested: bool, mission: str
) -> None:
    fields = {"lat": lat, "lon": lon, "alt_m": alt, "battery_pct": battery}
    body: dict[str, Any] = {"values": fields} if nested else dict(fields)
    body["mission"] = mission
    result = parse_message(msg(native_topic("drone", "uav-01", "telemetry"), _dumps(body)), CTX)
    assert isinstance(result, list) and isinstance(result[0], Telemetry), result
    assert result[0].values == fields
    assert result[0].tags == {"mission": mission.replace("\x00", "\ufffd")}


@PROPERTY
@given(
    st.one_of(
        st.fixed_dictionaries(
            {"values": metric_dicts},
            optional={
                "ts": good_ts,
                "id": st.one_of(names, st.integers()),
                "extra": finite_json,
            },
        ),
        st.fixed_dictionaries(
            {},
            optional={
                "values": st.one_of(
                    st.dictionaries(
                        st.one_of(st.from_regex(METRIC, fullmatch=True), st.text(max_size=4)),
                        st.one_of(metric_values, json_scalars),
                        max_size=5,
                    ),
                    json_values,
                ),
                "ts": TS_VALUES,
                "id": st.one_of(st.text(max_size=130), json_scalars),
                "extra": json_values,
            },
        ),
    ),
    st.sampled_from([None, None, None, b"1e999", b"9" * 400, b"NaN", b'"\\ud800"', b'"\xff"', b'"\xe5\xa4\xa7"']),
)
def test_fast_road_agrees_with_the_general_road(body: dict[str, Any], splice: bytes | None) -> None:
    payload = _dumps(body)
    if splice is not None:
        payload = payload.replace(b"null", splice, 1)
    message = msg(native_topic("env", "env-01", "telemetry"), payload)
    topic = parse_native_topic(message.topic)
    assert not isinstance(topic, Rejection)
    general = native.telemetry_general(message, topic, CTX)
    assert_well_formed(general)
    fast = native.telemetry_fast(message, topic, CTX)
    if fast is not None:
        assert fast == general
    assert native.parse(message, CTX) == (fast if fast is not None else general)


@PROPERTY
@given(st.text(max_size=60), st.text(max_size=60))
def test_event_text_survives(description: str, zone: str) -> None:
    body = {"type": "fault", "id": "e-1", "description": description, "zone": zone or "大殿"}
    result = parse_message(msg(native_topic("fire", "fa-01", "event"), _dumps(body)), CTX)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in description + zone):
        assert isinstance(result, Rejection) and result.reason is RejectReason.BAD_ENCODING
        return
    assert isinstance(result, list) and isinstance(result[0], Event), result
    event = result[0]
    assert event.attrs["description"] == description.replace("\x00", "\ufffd")
    assert event.zone == (zone or "大殿").replace("\x00", "\ufffd") or len(zone) > 256
