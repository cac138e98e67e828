"""DJI Cloud API (docks and remote controllers speaking MQTT) → drone records.

Topics (the gateway or aircraft serial number is the third level):

- `thing/product/{sn}/osd`: envelope `{tid, bid, timestamp (epoch ms), gateway, data}`.
  An aircraft's OSD (it has `attitude_head`, `horizontal_speed` or a `battery`
  object) maps to the native drone metrics: latitude → `lat`, longitude → `lon`,
  height → `alt_m`, elevation → `elevation_m`, attitude_head → `heading_deg`,
  attitude_pitch → `pitch_deg`, attitude_roll → `roll_deg`, horizontal_speed →
  `speed_mps`, vertical_speed → `vertical_speed_mps`, home_distance →
  `home_distance_m`, battery.capacity_percent → `battery_pct`,
  battery.remain_flight_time → `remain_flight_time_s`, position_state.gps_number →
  `gps_number`, position_state.rtk_number → `rtk_number`, and mode_code → value
  `mode_code` plus tag `mode` (DJI's name for the code, e.g. `wayline`,
  `return_auto`; `code_N` for codes this table does not know). Every other finite
  numeric or boolean top-level field is kept under its DJI name (booleans as 0/1).
  Latitude and longitude both exactly 0 mean "no position fix": they are left out
  and the tag `position` is `unavailable`, so a drone without GPS is never placed
  off the coast of Africa and outside every geofence.
  A dock's or remote controller's OSD (no aircraft fields) is not rejected: it
  becomes a Telemetry of its finite numeric top-level fields under their DJI names
  (`latitude`, `environment_temperature`, `mode_code`, …), tag `osd` = `gateway`;
  an OSD slice with no such field yields no records.
- `thing/product/{sn}/events`: `{tid, bid, timestamp, method, data}` → one drone Event.
  `flighttask_progress` with a final status (ok, partially_done, failed, canceled,
  timeout, rejected) → `mission_end` (attr `result`); with `in_progress` →
  `mission_start`, or `landing` at execution step 23 (aircraft landing at the dock);
  `takeoff_to_point_progress` with `wayline_ok` → `takeoff`. These mapped events are
  keyed per flight (`dji:{flight_id or bid}:{type}`), so the ~1 Hz progress stream of
  one flight collapses to one mission_start, one landing and one mission_end under the
  store's de-duplication. Any other method (`hms`, `return_home_info`,
  `device_exit_homing_notify`, other progress states, …) → an Event whose type is
  the method name, keyed by `tid`. Every Event keeps `method`, `data`, `tid`, `bid`
  and `gateway` in attrs.
- `sys/product/{sn}/status`: `update_topo` from a gateway. The gateway's registered
  device gets `online` = "an aircraft is attached" (non-empty `sub_devices`; an empty
  list means the aircraft is off or gone); each listed sub-device that is registered
  under its own serial number gets `online`. Messages naming no registered device are
  `UNKNOWN_DEVICE`. DJI sends nothing when the gateway itself disconnects (the broker
  sees that): gateway loss is for the heartbeat rules to find.

Devices are found with `ctx.directory.resolve_external("dji", sn)`. Register the
serial that publishes: the aircraft's for its OSD, the dock's (or RC's) for events
and status; both may map to the same device.
"""

from __future__ import annotations

from typing import Final

from sensors.context import ParseContext
from sensors.model import (
    Event,
    Message,
    Record,
    Rejection,
    RejectReason,
    Source,
    StatusChange,
    Telemetry,
)
from sensors.native import MAX_ID_CHARS, payload_digest
from sensors.payload import (
    JSONObject,
    clean_json,
    clean_text,
    decode_object,
    is_metric_name,
    is_number,
    json_type,
    number,
    shorten,
)
from sensors.timestamps import Stamp, resolve_ts
from sensors.topic import NAME

NAMESPACE: Final = "dji"

_AIRCRAFT_FIELDS: Final = {
    "latitude": "lat",
    "longitude": "lon",
    "height": "alt_m",
    "elevation": "elevation_m",
    "attitude_head": "heading_deg",
    "attitude_pitch": "pitch_deg",
    "attitude_roll": "roll_deg",
    "horizontal_speed": "speed_mps",
    "vertical_speed": "vertical_speed_mps",
    "home_distance": "home_distance_m",
}
_AIRCRAFT_NESTED: Final = {
    ("battery", "capacity_percent"): "battery_pct",
    ("battery", "remain_flight_time"): "remain_flight_time_s",
    ("position_state", "gps_number"): "gps_number",
    ("position_state", "rtk_number"): "rtk_number",
}
_AIRCRAFT_CONSUMED: Final = (
    frozenset(_AIRCRAFT_FIELDS) | {"mode_code"} | {outer for outer, _ in _AIRCRAFT_NESTED}
)

# DJI Cloud API DroneModeCodeEnum (aircraft `mode_code`).
MODE_NAMES: Final = {
    0: "idle",
    1: "takeoff_prepare",
    2: "takeoff_ready",
    3: "manual",
    4: "takeoff_auto",
    5: "wayline",
    6: "panoramic_shot",
    7: "active_track",
    8: "ads_b_avoidance",
    9: "return_auto",
    10: "landing_auto",
    11: "landing_forced",
    12: "landing_three_propeller",
    13: "upgrading",
    14: "disconnected",
    15: "apas",
    16: "virtual_joystick",
    17: "live_flight_controls",
    18: "aerial_rtk_fixed",
    19: "dock_site_evaluation",
    20: "poi",
}

# flighttask_progress `output.status` values that end a flight task (FlighttaskStatusEnum).
_TASK_END: Final = frozenset({"ok", "partially_done", "failed", "canceled", "timeout", "rejected"})
_STEP_LANDING: Final = 23  # ExecutionStepEnum.LADING: "aircraft landing at the airport"


def parse(msg: Message, ctx: ParseContext) -> list[Record] | Rejection:
    """Records for one DJI Cloud API message, or why it goes to quarantine."""
    parsed = _topic(msg.topic)
    if isinstance(parsed, Rejection):
        return parsed
    sn, kind = parsed
    if kind == "status":
        return _status(msg, sn, ctx)
    device = ctx.directory.resolve_external(NAMESPACE, sn)
    if device is None:
        return _unknown(sn)
    obj = decode_object(msg.payload)
    if isinstance(obj, Rejection):
        return obj
    data = obj.get("data")
    if kind == "events" and data is None:
        data = {}
    if type(data) is not dict:
        return _bad(f"field `data`: expected an object, got {json_type(data)}")
    if kind == "osd":
        return _osd(obj, data, device, msg, ctx)
    return _event(obj, data, device, msg, ctx)


def _topic(topic: str) -> tuple[str, str] | Rejection:
    levels = topic.split("/")
    if len(levels) != 4 or levels[1] != "product" or (levels[0], levels[3]) not in _KINDS:
        return Rejection(
            RejectReason.BAD_TOPIC,
            f"unsupported DJI topic {shorten(topic, 80)}; expected thing/product/{{sn}}/osd, "
            "thing/product/{sn}/events or sys/product/{sn}/status",
        )
    if NAME.fullmatch(levels[2]) is None:
        return Rejection(
            RejectReason.BAD_TOPIC, f"serial number {shorten(levels[2])}: expected 1–64 of A-Z a-z 0-9 _ . -"
        )
    return levels[2], levels[3]


_KINDS: Final = {("thing", "osd"), ("thing", "events"), ("sys", "status")}


def _stamp(obj: JSONObject, msg: Message, ctx: ParseContext) -> Stamp | Rejection:
    return resolve_ts(obj.get("timestamp"), msg.received_at, ctx, field="timestamp")


# OSD ------------------------------------------------------------------------------


def _osd(
    obj: JSONObject, data: JSONObject, device: tuple[str, str], msg: Message, ctx: ParseContext
) -> list[Record] | Rejection:
    stamp = _stamp(obj, msg, ctx)
    if isinstance(stamp, Rejection):
        return stamp
    aircraft = "attitude_head" in data or "horizontal_speed" in data or type(data.get("battery")) is dict
    values: dict[str, float] = {}
    tags: dict[str, str] = {"osd": "aircraft" if aircraft else "gateway"}
    gateway = obj.get("gateway")
    if isinstance(gateway, str) and gateway:
        tags["gateway"] = clean_text(gateway[:64])
    consumed: frozenset[str] = frozenset()
    if aircraft:
        fault = _aircraft(data, values, tags)
        if fault is not None:
            return fault
        consumed = _AIRCRAFT_CONSUMED
    for key, raw in data.items():
        if key in consumed or key in values or not is_metric_name(key):
            continue
        if isinstance(raw, bool):
            values[key] = 1.0 if raw else 0.0
        else:
            value = number(raw)  # strings (firmware_version, …), objects and lists are not readings
            if value is not None:
                values[key] = value
    if not values:
        return []
    return [Telemetry(device[0], device[1], Source.DRONE, stamp[0], values, stamp[1], tags)]


def _aircraft(data: JSONObject, values: dict[str, float], tags: dict[str, str]) -> Rejection | None:
    for src, dst in _AIRCRAFT_FIELDS.items():
        raw = data.get(src)
        if raw is not None:
            value = _number(f"data.{src}", raw)
            if isinstance(value, Rejection):
                return value
            values[dst] = value
    for (outer, inner), dst in _AIRCRAFT_NESTED.items():
        container = data.get(outer)
        if type(container) is dict and container.get(inner) is not None:
            value = _number(f"data.{outer}.{inner}", container[inner])
            if isinstance(value, Rejection):
                return value
            values[dst] = value
    if values.get("lat") == 0.0 and values.get("lon") == 0.0:
        del values["lat"], values["lon"]
        tags["position"] = "unavailable"
    lat, lon = values.get("lat"), values.get("lon")
    if lat is not None and not -90.0 <= lat <= 90.0:
        return _bad(f"field `data.latitude`: {lat} is not a latitude; expected -90 to 90")
    if lon is not None and not -180.0 <= lon <= 180.0:
        return _bad(f"field `data.longitude`: {lon} is not a longitude; expected -180 to 180")
    code = data.get("mode_code")
    if code is not None:
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < 2**31:
            return _bad(f"field `data.mode_code`: expected a non-negative integer, got {shorten(code)}")
        values["mode_code"] = float(code)
        tags["mode"] = MODE_NAMES.get(code, f"code_{code}")
    return None


def _number(field: str, raw: object) -> float | Rejection:
    value = number(raw)
    if value is None:
        if is_number(raw):
            return Rejection(
                RejectReason.NON_FINITE, f"field `{field}`: {shorten(raw)} is not a finite number"
            )
        return _bad(f"field `{field}`: expected a number, got {json_type(raw)}")
    return value


# Events ---------------------------------------------------------------------------


def _event(
    obj: JSONObject, data: JSONObject, device: tuple[str, str], msg: Message, ctx: ParseContext
) -> list[Record] | Rejection:
    method = obj.get("method")
    if not isinstance(method, str) or not is_metric_name(method):
        what = shorten(method) if isinstance(method, str) else json_type(method)
        return _bad(f"field `method`: expected a DJI event method name (snake_case), got {what}")
    stamp = _stamp(obj, msg, ctx)
    if isinstance(stamp, Rejection):
        return stamp
    attrs: dict[str, object] = {"method": method, "data": clean_json(data)}
    for key in ("tid", "bid", "gateway"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            attrs[key] = clean_text(value)
    event_type, mission, extra = _map_event(method, data)
    attrs.update(extra)
    bid = obj.get("bid")
    tid = obj.get("tid")
    if event_type != method and (mission or (isinstance(bid, str) and bid)):
        key = f"dji:{clean_text(mission or str(bid))}:{event_type}"
    elif isinstance(tid, str) and 0 < len(tid) <= MAX_ID_CHARS:
        key = clean_text(tid)
    else:
        key = payload_digest(msg.payload, None if stamp[1] else stamp[0], msg.received_at)
    if mission:
        attrs["mission"] = clean_text(mission)
    return [
        Event(
            device[0],
            device[1],
            Source.DRONE,
            event_type,
            stamp[0],
            key,
            attrs=attrs,
            ts_from_receive=stamp[1],
        )
    ]


def _map_event(method: str, data: JSONObject) -> tuple[str, str | None, dict[str, object]]:
    """(event type, flight id, attrs to add) for a DJI event method."""
    if method == "flighttask_progress":
        output = _obj(data.get("output"))
        ext = _obj(output.get("ext"))
        progress = _obj(output.get("progress"))
        status = output.get("status")
        flight = _text(ext.get("flight_id"))
        extra: dict[str, object] = {}
        if isinstance(status, str):
            extra["result"] = clean_text(status)
        percent = number(progress.get("percent"))
        if percent is not None:
            extra["percent"] = percent
        step = progress.get("current_step")
        if isinstance(step, int) and not isinstance(step, bool):
            extra["current_step"] = step
        if status in _TASK_END:
            return "mission_end", flight, extra
        if status == "in_progress":
            return ("landing" if step == _STEP_LANDING else "mission_start"), flight, extra
        return method, flight, extra
    if method == "takeoff_to_point_progress":
        status = data.get("status")
        flight = _text(data.get("flight_id"))
        extra = {"result": clean_text(status)} if isinstance(status, str) else {}
        if status == "wayline_ok":
            return "takeoff", flight, extra
        return method, flight, extra
    return method, None, {}


def _obj(value: object) -> JSONObject:
    return value if type(value) is dict else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS else None


# Status ---------------------------------------------------------------------------


def _status(msg: Message, sn: str, ctx: ParseContext) -> list[Record] | Rejection:
    obj = decode_object(msg.payload)
    if isinstance(obj, Rejection):
        return obj
    method = obj.get("method")
    if method != "update_topo":
        what = shorten(method) if isinstance(method, str) else json_type(method)
        return _bad(f'field `method`: expected "update_topo", got {what}')
    data = obj.get("data")
    if type(data) is not dict:
        return _bad(f"field `data`: expected an object, got {json_type(data)}")
    subs = data.get("sub_devices")
    if subs is None:
        subs = []
    if type(subs) is not list:
        return _bad(f"field `data.sub_devices`: expected an array, got {json_type(subs)}")
    sub_sns: list[str] = []
    for i, sub in enumerate(subs):
        sub_sn = sub.get("sn") if type(sub) is dict else None
        if not isinstance(sub_sn, str) or not sub_sn:
            return _bad(f"field `data.sub_devices[{i}].sn`: expected a serial number string")
        sub_sns.append(sub_sn)
    stamp = _stamp(obj, msg, ctx)
    if isinstance(stamp, Rejection):
        return stamp
    records: list[Record] = []
    seen: set[tuple[str, str]] = set()
    gateway = ctx.directory.resolve_external(NAMESPACE, sn)
    if gateway is not None:
        records.append(StatusChange(gateway[0], gateway[1], Source.DRONE, bool(sub_sns), stamp[0], stamp[1]))
        seen.add(gateway)
    for sub_sn in sub_sns:
        device = ctx.directory.resolve_external(NAMESPACE, sub_sn)
        if device is not None and device not in seen:
            records.append(StatusChange(device[0], device[1], Source.DRONE, True, stamp[0], stamp[1]))
            seen.add(device)
    if not records:
        named = ", ".join(repr(s) for s in [sn, *sub_sns][:5])
        return Rejection(RejectReason.UNKNOWN_DEVICE, f"DJI serial numbers {named} are not in the registry")
    return records


def _unknown(sn: str) -> Rejection:
    return Rejection(
        RejectReason.UNKNOWN_DEVICE,
        f"DJI serial number {sn!r} is not in the registry (devices.csv external_id)",
    )


def _bad(detail: str) -> Rejection:
    return Rejection(RejectReason.BAD_PAYLOAD, detail)
