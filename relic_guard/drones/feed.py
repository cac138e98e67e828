"""Aircraft OSD samples on their way from a telemetry worker to the daemon's drone monitor.

The flight, geofence and safety rules keep per-aircraft state, so every sample of an aircraft
must reach one place: the daemon process (`monitor.DroneMonitor`). Workers are separate
processes sharing the MQTT subscription; each sends its batch's samples with the rest of the
engine feed (`relic_guard.ingest.worker.engine_feed`).

A worker reads each drone `Telemetry` record with `osd.sample_from_telemetry` (so the adapter's
reading names stay known in one place) and sends the sample as one flat tuple, a `DroneRow`:
site, device, epoch seconds, then the sample's fields as plain floats, ints or None. A batch of
such tuples pickles into about 110 bytes a sample (no class reference per item, the site and
device strings shared), so 500 aircraft at 0.5 Hz add under 30 KB/s to the queue and 6 µs of CPU
a sample for the whole round trip (`bench/drones.py`); `sample_of` builds the `OsdSample` back
in the daemon. Records that carry no aircraft sample (a dock's own OSD,
another source's readings) send nothing. Only `osd` is imported here: the workers need no
numpy or shapely.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from relic_guard.drones.osd import OsdSample, sample_from_telemetry
from sensors.model import Source, Telemetry

# site, device, ts (epoch s), lat, lon, height_m, elevation_m, mode_code, battery_pct,
# home_distance_m, speed_mps, vertical_speed_mps, gimbal_pitch_deg
DroneRow = tuple[
    str, str, float,
    float | None, float | None, float | None, float | None, int | None,
    float | None, float | None, float | None, float | None, float | None,
]  # fmt: skip

ROW_LENGTH: Final = 13


def drone_row(record: Telemetry) -> DroneRow | None:
    """The row a worker sends for `record`, or None when it holds no aircraft sample."""
    if record.source is not Source.DRONE:
        return None
    sample = sample_from_telemetry(record)
    if sample is None:
        return None
    return (
        record.site,
        record.device,
        sample.ts.timestamp(),
        sample.lat,
        sample.lon,
        sample.height_m,
        sample.elevation_m,
        sample.mode_code,
        sample.battery_pct,
        sample.home_distance_m,
        sample.speed_mps,
        sample.vertical_speed_mps,
        sample.gimbal_pitch_deg,
    )


def sample_of(row: DroneRow) -> tuple[tuple[str, str], OsdSample]:
    """The aircraft and the sample a row carries (the inverse of `drone_row`)."""
    (site, device, ts, lat, lon, height, elevation, mode_code, battery, home, speed, vertical, pitch) = row
    return (site, device), OsdSample(
        ts=datetime.fromtimestamp(ts, UTC),
        lat=lat,
        lon=lon,
        height_m=height,
        elevation_m=elevation,
        mode_code=mode_code,
        battery_pct=battery,
        home_distance_m=home,
        speed_mps=speed,
        vertical_speed_mps=vertical,
        gimbal_pitch_deg=pitch,
    )
