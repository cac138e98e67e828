"""DJI Cloud API adapter: OSD, events and topology status, with real field names."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from sensors import dji
from sensors.model import Event, Rejection, RejectReason, Source, StatusChange, Telemetry
from tests.sensors.support import (
    AIRCRAFT_SN,
    CTX,
    DOCK_SN,
    RECEIVED,
    RECEIVED_MS,
    SITE,
    SPARE_AIRCRAFT_SN,
    msg,
)

OSD_T = f"thing/product/{AIRCRAFT_SN}/osd"
DOCK_OSD_T = f"thing/product/{DOCK_SN}/osd"
EVENTS_T = f"thing/product/{DOCK_SN}/events"
STATUS_T = f"sys/product/{DOCK_SN}/status"


def envelope(data: object, **extra: object) -> str:
    body: dict[str, object] = {
        "tid": "6a7bfe89-c386-4043-b600-b518e10096cc",
        "bid": "42a19f36-5117-4520-bd13-fd61d818d52e",
        "timestamp": RECEIVED_MS,
        "gateway": DOCK_SN,
        "data": data,
    }
    body.update(extra)
    return json.dumps(body, ensure_ascii=False)


AIRCRAFT: dict[str, Any] = {
    "attitude_head": 87.6,
    "attitude_pitch": -1.2,
    "attitude_roll": 0.4,
    "battery": {
        "capacity_percent": 76,
        "remain_flight_time": 1450,
        "return_home_power": 25,
        "batteries": [{"capacity_percent": 76, "index": 0, "voltage": 15722}],
    },
    "elevation": 98.2,
    "firmware_version": "10.01.0612",
    "gear": 1,
    "height": 148.7,
    "home_distance": 532.1,
    "horizontal_speed": 9.8,
    "latitude": 36.6612,
    "longitude": 117.0201,
    "mode_code": 5,
    "position_state": {"gps_number": 21, "is_fixed": 2, "quality": 5, "rtk_number": 28},
    "total_flight_distance": 132045.5,
    "total_flight_time": 93640,
    "vertical_speed": -0.3,
    "wind_speed": 32,
    "is_near_area_limit": False,
    "country": "CN",
}

DOCK: dict[str, Any] = {
    "network_state": {"type": 2, "quality": 4, "rate": 12.3},
    "drone_in_dock": 1,
    "drone_charge_state": {"state": 0, "capacity_percent": 100},
    "rainfall": 0,
    "wind_speed": 2.1,
    "environment_temperature": -3.5,
    "temperature": 18.2,
    "humidity": 41,
    "latitude": 36.66,
    "longitude": 117.02,
    "height": 60.5,
    "mode_code": 0,
    "cover_state": 0,
    "emergency_stop_state": False,
    "activation_time": 1700000000,
}


def only(records: object) -> Any:
    assert isinstance(records, list) and len(records) == 1, records
    return records[0]


def test_aircraft_osd_maps_to_drone_metrics() -> None:
    record = only(dji.parse(msg(OSD_T, envelope(AIRCRAFT)), CTX))
    assert isinstance(record, Telemetry)
    assert (record.site, record.device, record.source, record.ts, record.ts_from_receive) == (
        SITE,
        "uav-01",
        Source.DRONE,
        RECEIVED,
        False,
    )
    assert record.values == {
        "lat": 36.6612,
        "lon": 117.0201,
        "alt_m": 148.7,
        "elevation_m": 98.2,
        "heading_deg": 87.6,
        "pitch_deg": -1.2,
        "roll_deg": 0.4,
        "speed_mps": 9.8,
        "vertical_speed_mps": -0.3,
        "home_distance_m": 532.1,
        "battery_pct": 76.0,
        "remain_flight_time_s": 1450.0,
        "gps_number": 21.0,
        "rtk_number": 28.0,
        "mode_code": 5.0,
        # Unmapped numeric top-level fields keep their DJI names; booleans become 0/1; strings are dropped.
        "gear": 1.0,
        "total_flight_distance": 132045.5,
        "total_flight_time": 93640.0,
        "wind_speed": 32.0,
        "is_near_area_limit": 0.0,
    }
    assert record.tags == {"osd": "aircraft", "gateway": DOCK_SN, "mode": "wayline"}


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0, "idle"),
        (4, "takeoff_auto"),
        (9, "return_auto"),
        (10, "landing_auto"),
        (14, "disconnected"),
        (20, "poi"),
        (99, "code_99"),
    ],
)
def test_mode_code_names(code: int, name: str) -> None:
    record = only(dji.parse(msg(OSD_T, envelope({**AIRCRAFT, "mode_code": code})), CTX))
    assert record.tags["mode"] == name and record.values["mode_code"] == float(code)


def test_aircraft_without_position_fix_is_not_placed_at_zero_zero() -> None:
    record = only(dji.parse(msg(OSD_T, envelope({**AIRCRAFT, "latitude": 0, "longitude": 0})), CTX))
    assert "lat" not in record.values and "lon" not in record.values
    assert record.tags["position"] == "unavailable"


def test_dock_osd_keeps_its_numeric_fields_under_dji_names() -> None:
    record = only(dji.parse(msg(DOCK_OSD_T, envelope(DOCK)), CTX))
    assert isinstance(record, Telemetry) and record.device == "dock-01"
    assert record.values == {
        "drone_in_dock": 1.0,
        "rainfall": 0.0,
        "wind_speed": 2.1,
        "environment_temperature": -3.5,
        "temperature": 18.2,
        "humidity": 41.0,
        "latitude": 36.66,
        "longitude": 117.02,
        "height": 60.5,
        "mode_code": 0.0,
        "cover_state": 0.0,
        "emergency_stop_state": 0.0,
        "activation_time": 1700000000.0,
    }
    assert record.tags == {"osd": "gateway", "gateway": DOCK_SN}


def test_osd_slice_without_readings_yields_nothing() -> None:
    assert dji.parse(msg(DOCK_OSD_T, envelope({"network_state": {"type": 2}, "firmware_version": "1.0"})), CTX) == []
    assert dji.parse(msg(DOCK_OSD_T, envelope({})), CTX) == []


def test_osd_without_timestamp_uses_the_receive_time() -> None:
    body = json.loads(envelope(AIRCRAFT))
    del body["timestamp"]
    record = only(dji.parse(msg(OSD_T, json.dumps(body)), CTX))
    assert record.ts == RECEIVED and record.ts_from_receive


def dock_event(method: str, data: object, **extra: object) -> Event:
    record = only(dji.parse(msg(EVENTS_T, envelope(data, method=method, need_reply=1, **extra)), CTX))
    assert isinstance(record, Event)
    return record


def progress(status: str, step: int = 21, flight: str = "f-0001") -> dict[str, object]:
    return {
        "result": 0,
        "output": {
            "status": status,
            "progress": {"current_step": step, "percent": 40},
            "ext": {"flight_id": flight, "current_waypoint_index": 3, "wayline_mission_state": 6, "media_count": 12},
        },
    }


@pytest.mark.parametrize(
    ("status", "step", "event_type"),
    [
        ("in_progress", 21, "mission_start"),
        ("in_progress", 5, "mission_start"),
        ("in_progress", 23, "landing"),
        ("ok", 32, "mission_end"),
        ("partially_done", 32, "mission_end"),
        ("failed", 31, "mission_end"),
        ("canceled", 0, "mission_end"),
        ("timeout", 0, "mission_end"),
        ("rejected", 0, "mission_end"),
        ("sent", 0, "flighttask_progress"),
        ("paused", 21, "flighttask_progress"),
    ],
)
def test_flighttask_progress(status: str, step: int, event_type: str) -> None:
    event = dock_event("flighttask_progress", progress(status, step))
    assert (event.site, event.device, event.source, event.type, event.ts) == (
        SITE,
        "dock-01",
        Source.DRONE,
        event_type,
        RECEIVED,
    )
    assert event.attrs["method"] == "flighttask_progress"
    assert event.attrs["result"] == status
    assert event.attrs["current_step"] == step
    assert event.attrs["percent"] == 40.0
    assert event.attrs["data"] == progress(status, step)
    if event_type == "flighttask_progress":
        assert event.event_key == "6a7bfe89-c386-4043-b600-b518e10096cc"  # the tid
    else:
        assert event.event_key == f"dji:f-0001:{event_type}"  # one per flight
        assert event.attrs["mission"] == "f-0001"


def test_progress_stream_of_one_flight_shares_one_mission_start_key() -> None:
    first = dock_event("flighttask_progress", progress("in_progress", 5), tid="t-1")
    later = dock_event("flighttask_progress", progress("in_progress", 21), tid="t-2")
    assert first.event_key == later.event_key == "dji:f-0001:mission_start"


def test_mission_key_falls_back_to_bid() -> None:
    data = {"output": {"status": "ok", "progress": {"current_step": 32}}}
    event = dock_event("flighttask_progress", data)
    assert event.event_key == "dji:42a19f36-5117-4520-bd13-fd61d818d52e:mission_end"


@pytest.mark.parametrize(
    ("status", "event_type"),
    [
        ("wayline_ok", "takeoff"),
        ("wayline_progress", "takeoff_to_point_progress"),
        ("wayline_failed", "takeoff_to_point_progress"),
    ],
)
def test_takeoff_to_point(status: str, event_type: str) -> None:
    event = dock_event("takeoff_to_point_progress", {"status": status, "flight_id": "f-9", "result": 0})
    assert event.type == event_type and event.attrs["result"] == status


def test_unmapped_methods_keep_their_name_and_data() -> None:
    hms = {
        "list": [
            {
                "level": 2,
                "module": 3,
                "in_the_sky": 1,
                "code": "0x16100083",
                "device_type": "0-67-0",
                "imminent": 1,
                "args": {"component_index": 0, "sensor_index": 0},
            }
        ]
    }
    event = dock_event("hms", hms)
    assert event.type == "hms" and event.attrs["data"] == hms and event.attrs["method"] == "hms"
    assert event.event_key == "6a7bfe89-c386-4043-b600-b518e10096cc"
    assert event.attrs["gateway"] == DOCK_SN and event.zone is None and not event.clear
    rth = dock_event(
        "return_home_info",
        {"planned_path_points": [{"latitude": 36.6, "longitude": 117.0, "height": 100}], "flight_id": "f-1"},
    )
    assert rth.type == "return_home_info"
    assert dock_event("device_exit_homing_notify", {"action": 1, "reason": 0}).type == "device_exit_homing_notify"


def test_event_without_data_or_tid() -> None:
    body = {"bid": "b", "timestamp": RECEIVED_MS, "method": "device_reboot"}
    payload = json.dumps(body)
    event = only(dji.parse(msg(EVENTS_T, payload), CTX))
    assert event.type == "device_reboot" and event.attrs["data"] == {}
    assert len(event.event_key) == 16  # a payload digest


def topo(*subs: str, **extra: object) -> str:
    data = {
        "domain": "3",
        "type": 119,
        "sub_type": 0,
        "device_secret": "s",
        "nonce": "n",
        "thing_version": "1.1.2",
        "sub_devices": [
            {
                "sn": sn,
                "domain": "0",
                "type": 91,
                "sub_type": 0,
                "index": "A",
                "device_secret": "s",
                "nonce": "n",
                "thing_version": "1.1.2",
            }
            for sn in subs
        ],
    }
    body = {"tid": "t", "bid": "b", "timestamp": RECEIVED_MS, "method": "update_topo", "data": data}
    body.update(extra)
    return json.dumps(body)


def test_topology_with_aircraft_means_online() -> None:
    assert dji.parse(msg(STATUS_T, topo(AIRCRAFT_SN)), CTX) == [
        StatusChange(SITE, "dock-01", Source.DRONE, True, RECEIVED, False),
        StatusChange(SITE, "uav-01", Source.DRONE, True, RECEIVED, False),
    ]


def test_empty_topology_means_the_aircraft_is_offline() -> None:
    assert dji.parse(msg(STATUS_T, topo()), CTX) == [
        StatusChange(SITE, "dock-01", Source.DRONE, False, RECEIVED, False),
    ]


def test_topology_from_unregistered_gateway_still_reports_registered_aircraft() -> None:
    records = dji.parse(msg("sys/product/UNKNOWNDOCK/status", topo(AIRCRAFT_SN, SPARE_AIRCRAFT_SN)), CTX)
    assert records == [StatusChange(SITE, "uav-01", Source.DRONE, True, RECEIVED, False)]


def test_status_time_falls_back_to_receive_time() -> None:
    body = json.loads(topo(AIRCRAFT_SN))
    body["timestamp"] = RECEIVED_MS - 2000
    records = dji.parse(msg(STATUS_T, json.dumps(body)), CTX)
    assert isinstance(records, list) and records[0].ts == RECEIVED - timedelta(seconds=2)
    del body["timestamp"]
    records = dji.parse(msg(STATUS_T, json.dumps(body)), CTX)
    assert isinstance(records, list) and records[0].ts == RECEIVED and records[0].ts_from_receive


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "detail_part"),
    [
        ("thing/product/NOSUCHSN/osd", envelope(AIRCRAFT), RejectReason.UNKNOWN_DEVICE, "'NOSUCHSN' is not in the"),
        ("thing/product/NOSUCHSN/events", envelope({}, method="hms"), RejectReason.UNKNOWN_DEVICE, "NOSUCHSN"),
        ("sys/product/NOSUCHSN/status", topo(), RejectReason.UNKNOWN_DEVICE, "'NOSUCHSN'"),
        ("sys/product/NOSUCHSN/status", topo("ALSO-UNKNOWN"), RejectReason.UNKNOWN_DEVICE, "'ALSO-UNKNOWN'"),
        (f"thing/product/{AIRCRAFT_SN}/state", envelope({}), RejectReason.BAD_TOPIC, "unsupported DJI topic"),
        (f"thing/product/{AIRCRAFT_SN}/services_reply", envelope({}), RejectReason.BAD_TOPIC, "unsupported"),
        (f"sys/product/{DOCK_SN}/status_reply", topo(), RejectReason.BAD_TOPIC, "unsupported"),
        (f"thing/product/{AIRCRAFT_SN}", envelope({}), RejectReason.BAD_TOPIC, "unsupported"),
        ("thing/product//osd", envelope({}), RejectReason.BAD_TOPIC, "serial number"),
        ("thing/product/a+b/osd", envelope({}), RejectReason.BAD_TOPIC, "serial number"),
        ("thing/device/SN/osd", envelope({}), RejectReason.BAD_TOPIC, "unsupported"),
        (OSD_T, "not json", RejectReason.BAD_JSON, "not JSON"),
        (OSD_T, b'{"data":{"latitude":"\xff"}}', RejectReason.BAD_ENCODING, "not UTF-8"),
        (OSD_T, '{"timestamp":1,"data":{"latitude":NaN}}', RejectReason.NON_FINITE, "NaN"),
        (OSD_T, '{"data":{"height":1e999,"attitude_head":1}}', RejectReason.NON_FINITE, "data.height"),
        (OSD_T, envelope(None), RejectReason.BAD_PAYLOAD, "field `data`: expected an object, got null"),
        (OSD_T, envelope([1, 2]), RejectReason.BAD_PAYLOAD, "field `data`"),
        (OSD_T, envelope({**AIRCRAFT, "latitude": 95.0}), RejectReason.BAD_PAYLOAD, "field `data.latitude`: 95.0"),
        (OSD_T, envelope({**AIRCRAFT, "longitude": 190.0}), RejectReason.BAD_PAYLOAD, "field `data.longitude`"),
        (
            OSD_T,
            envelope({**AIRCRAFT, "height": "148.7"}),
            RejectReason.BAD_PAYLOAD,
            "field `data.height`: expected a number, got string",
        ),
        (
            OSD_T,
            envelope({**AIRCRAFT, "battery": {"capacity_percent": "76"}}),
            RejectReason.BAD_PAYLOAD,
            "field `data.battery.capacity_percent`",
        ),
        (OSD_T, envelope({**AIRCRAFT, "mode_code": "5"}), RejectReason.BAD_PAYLOAD, "field `data.mode_code`"),
        (OSD_T, envelope({**AIRCRAFT, "mode_code": -1}), RejectReason.BAD_PAYLOAD, "field `data.mode_code`"),
        (
            OSD_T,
            envelope(AIRCRAFT, timestamp=RECEIVED_MS + 3_600_000),
            RejectReason.TIMESTAMP_OUT_OF_RANGE,
            "field `timestamp`",
        ),
        (OSD_T, envelope(AIRCRAFT, timestamp=RECEIVED_MS // 1000), RejectReason.TIMESTAMP_OUT_OF_RANGE, "retention"),
        (OSD_T, envelope(AIRCRAFT, timestamp=True), RejectReason.BAD_PAYLOAD, "field `timestamp`"),
        (EVENTS_T, envelope({}), RejectReason.BAD_PAYLOAD, "field `method`: expected a DJI event method name"),
        (EVENTS_T, envelope({}, method="Flight Task"), RejectReason.BAD_PAYLOAD, "field `method`"),
        (EVENTS_T, envelope("progress", method="hms"), RejectReason.BAD_PAYLOAD, "field `data`"),
        (EVENTS_T, '{"method":"hms","data":{"list":[NaN]}}', RejectReason.NON_FINITE, "NaN"),
        (STATUS_T, topo(method="update_firmware"), RejectReason.BAD_PAYLOAD, 'expected "update_topo"'),
        (STATUS_T, json.dumps({"method": "update_topo"}), RejectReason.BAD_PAYLOAD, "field `data`"),
        (
            STATUS_T,
            json.dumps({"method": "update_topo", "data": {"sub_devices": {"sn": AIRCRAFT_SN}}}),
            RejectReason.BAD_PAYLOAD,
            "field `data.sub_devices`: expected an array",
        ),
        (
            STATUS_T,
            json.dumps({"method": "update_topo", "data": {"sub_devices": [{"type": 91}]}}),
            RejectReason.BAD_PAYLOAD,
            "field `data.sub_devices[0].sn`",
        ),
        (STATUS_T, "[]", RejectReason.BAD_JSON, "expected a JSON object"),
    ],
)
def test_bad_dji_messages(topic: str, payload: str | bytes, reason: RejectReason, detail_part: str) -> None:
    rejection = dji.parse(msg(topic, payload), CTX)
    assert isinstance(rejection, Rejection), rejection
    assert rejection.reason is reason, rejection
    assert detail_part in rejection.detail, rejection.detail
