"""Aircraft samples in the engine feed: which records become rows, and rows back into samples."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from relic_guard.batch import Batch
from relic_guard.drones.feed import ROW_LENGTH, drone_row, sample_of
from relic_guard.drones.osd import OsdSample, sample_from_telemetry
from relic_guard.ingest.worker import engine_feed
from relic_guard.registry import Device
from sensors.context import ParseContext
from sensors.model import Message, Source, Telemetry
from sensors.route import parse_message
from tests.drones.support import AIRCRAFT_SN, DOCK_SN, DXZ, T0, dji_osd, registry

SAMPLE = OsdSample(ts=T0, lat=36.6702, lon=117.0011, height_m=132.0, elevation_m=80.0, mode_code=5,
                   battery_pct=76.0, home_distance_m=532.1, speed_mps=8.0, vertical_speed_mps=0.0)


def batch_of(*messages: tuple[str, bytes]) -> Batch:
    reg = registry()
    reg.add_device(Device(site=DXZ, id="th-1", source=Source.ENV))
    ctx = ParseContext(directory=reg)
    batch = Batch()
    for topic, payload in messages:
        records = parse_message(Message(topic, payload, T0 + timedelta(seconds=1)), ctx)
        assert isinstance(records, list), records
        batch.add_records(records)
    return batch


def test_the_engine_feed_carries_aircraft_samples_from_dji_and_native_telemetry_only() -> None:
    dock = {"tid": "t", "bid": "b", "timestamp": int(T0.timestamp() * 1000), "gateway": DOCK_SN,
            "data": {"environment_temperature": 3.5, "mode_code": 0, "latitude": 36.6702, "longitude": 117.0011}}
    native = {"ts": "2026-11-27T10:00:02+08:00", "lat": 36.671, "lon": 117.002, "alt_m": 60.0, "battery_pct": 81,
              "speed_mps": 7.5, "mode": "wayline", "mission": "东区巡查"}
    batch = batch_of(
        (f"thing/product/{AIRCRAFT_SN}/osd", dji_osd(SAMPLE)),
        (f"thing/product/{DOCK_SN}/osd", json.dumps(dock).encode()),
        (f"relic/{DXZ}/drone/uav-01/telemetry", json.dumps(native, ensure_ascii=False).encode()),
        (f"relic/{DXZ}/env/th-1/telemetry", b'{"values": {"temperature_c": 3.0}}'),
    )
    heard, records, rows = engine_feed(batch, frozenset())
    assert sorted(heard) == [(DXZ, "dock-01"), (DXZ, "th-1"), (DXZ, "uav-01")]
    assert records == []
    assert len(rows) == 2
    (aircraft, from_dji), (_, from_native) = (sample_of(row) for row in rows)
    assert aircraft == (DXZ, "uav-01")
    assert from_dji == SAMPLE
    assert (from_native.ts, from_native.mode_code, from_native.height_m, from_native.battery_pct) == (
        datetime(2026, 11, 27, 2, 0, 2, tzinfo=UTC), 5, 60.0, 81.0)


def test_rows_are_small_when_pickled_for_the_queue() -> None:
    # 500 aircraft at 0.5 Hz: 250 rows a second, sent a batch at a time.
    rows = [("jn-dxz", f"uav-{i:03d}", T0.timestamp() + i / 7, 36.67 + i * 1e-5, 117.0 + i * 1e-5, 132.0, 80.0, 5,
             76.0, 532.1, 8.0, 0.0, None) for i in range(250)]
    assert all(len(row) == ROW_LENGTH for row in rows)
    assert len(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)) / len(rows) < 200


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@given(
    millis=st.integers(min_value=0, max_value=4_102_444_800_000),  # up to the year 2100
    lat=st.floats(min_value=-90, max_value=90),
    lon=st.floats(min_value=-180, max_value=180),
    optional=st.lists(st.none() | finite, min_size=7, max_size=7),
    mode=st.none() | st.integers(min_value=0, max_value=2**31 - 1),
)
def test_a_row_gives_back_the_sample_it_was_made_from(
    millis: int, lat: float, lon: float, optional: list[float | None], mode: int | None
) -> None:
    names = ("alt_m", "elevation_m", "battery_pct", "home_distance_m", "speed_mps", "vertical_speed_mps",
             "gimbal_pitch_deg")
    values = {"lat": lat, "lon": lon, **{n: v for n, v in zip(names, optional, strict=True) if v is not None}}
    if mode is not None:
        values["mode_code"] = float(mode)
    ts = datetime.fromtimestamp(millis / 1000, UTC)
    record = Telemetry(DXZ, "uav-01", Source.DRONE, ts, values, False, {"osd": "aircraft"})
    row = drone_row(record)
    assert row is not None
    assert sample_of(row) == ((DXZ, "uav-01"), sample_from_telemetry(record))


def test_records_without_an_aircraft_sample_make_no_row() -> None:
    env = Telemetry(DXZ, "th-1", Source.ENV, T0, {"lat": 36.0, "lon": 117.0}, False, {})
    dock = Telemetry(DXZ, "dock-01", Source.DRONE, T0, {"mode_code": 0.0}, False, {"osd": "gateway"})
    assert drone_row(env) is None and drone_row(dock) is None
