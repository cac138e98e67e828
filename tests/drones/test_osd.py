"""DJI OSD messages, through the real adapter, become the samples the drone core reads."""

from __future__ import annotations

import json

import pytest

from relic_guard.drones.osd import MODE_PHASES, ModePhase, OsdSample, sample_from_telemetry
from sensors import dji, native
from sensors.model import Message, Source, Telemetry

from .support import CTX, DOCK_SN, T0, at, dji_osd, parse_dji


def test_every_field_the_core_reads_comes_through_the_dji_adapter() -> None:
    sent = OsdSample(
        ts=at(12),
        lat=36.6712345,
        lon=117.0012345,
        height_m=152.5,
        elevation_m=100.5,
        mode_code=5,
        battery_pct=76.0,
        home_distance_m=532.1,
        speed_mps=9.8,
        vertical_speed_mps=-0.3,
    )
    assert parse_dji(dji_osd(sent), at(12.4)) == sent


def test_no_gps_fix_gives_a_sample_without_position() -> None:
    sent = OsdSample(ts=at(0), lat=None, lon=None, height_m=52.0, elevation_m=0.0, mode_code=0, battery_pct=99.0)
    received = parse_dji(dji_osd(sent), at(0))
    assert received is not None
    assert (received.lat, received.lon, received.has_position) == (None, None, False)
    assert received.mode_code == 0


def test_a_docks_own_osd_is_no_aircraft_sample() -> None:
    dock = {"drone_in_dock": 1, "latitude": 36.67, "longitude": 117.0, "height": 60.5, "mode_code": 0}
    body = json.dumps({"tid": "t", "bid": "b", "timestamp": int(T0.timestamp() * 1000), "data": dock})
    records = dji.parse(Message(f"thing/product/{DOCK_SN}/osd", body.encode(), T0), CTX)
    assert isinstance(records, list) and len(records) == 1
    assert isinstance(records[0], Telemetry)
    assert sample_from_telemetry(records[0]) is None


def test_native_drone_telemetry_names_its_mode_in_dji_words() -> None:
    payload = {
        "ts": int(T0.timestamp() * 1000),
        "lat": 36.67,
        "lon": 117.0,
        "alt_m": 120.0,
        "battery_pct": 64,
        "speed_mps": 7.5,
        "mode": "return_auto",
        "values": {"gimbal_pitch_deg": -88.0},
    }
    records = native.parse(Message("relic/jn-dxz/drone/uav-01/telemetry", json.dumps(payload).encode(), T0), CTX)
    assert isinstance(records, list) and isinstance(records[0], Telemetry)
    sample = sample_from_telemetry(records[0])
    assert sample is not None
    assert (sample.mode_code, sample.height_m, sample.elevation_m, sample.gimbal_pitch_deg) == (9, 120.0, None, -88.0)


def test_native_drone_telemetry_may_give_the_mode_as_its_dji_code() -> None:
    payload = {"lat": 36.67, "lon": 117.0, "alt_m": 120.0, "battery_pct": 64, "mode": 11}
    records = native.parse(Message("relic/jn-dxz/drone/uav-01/telemetry", json.dumps(payload).encode(), T0), CTX)
    assert isinstance(records, list) and isinstance(records[0], Telemetry)
    sample = sample_from_telemetry(records[0])
    assert sample is not None and sample.mode_code == 11


def test_readings_of_other_sources_are_no_sample() -> None:
    record = Telemetry("jn-dxz", "env-01", Source.ENV, T0, {"lat": 36.67, "lon": 117.0})
    assert sample_from_telemetry(record) is None


@pytest.mark.parametrize(
    ("code", "phase"),
    [(0, ModePhase.GROUND), (2, ModePhase.GROUND), (5, ModePhase.AIR), (9, ModePhase.AIR), (11, ModePhase.AIR),
     (13, ModePhase.GROUND), (14, ModePhase.NO_LINK), (19, ModePhase.AIR), (99, None), (None, None)],
)  # fmt: skip
def test_phase_of_a_mode_code(code: int | None, phase: ModePhase | None) -> None:
    assert OsdSample(ts=T0, mode_code=code).phase is phase


def test_the_phase_table_knows_every_mode_the_adapter_names() -> None:
    assert set(MODE_PHASES) == set(dji.MODE_NAMES)
