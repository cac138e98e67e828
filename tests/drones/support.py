"""Two real-shaped sites near Jinan, synthetic flights over them, and DJI OSD payloads.

- 大辛庄遗址 (`jn-dxz`): an irregular 11-sided boundary of about 1.02 km² around 36.67N 117.0E.
- 齐长城遗址 (`jn-qcc`): a stretch of wall ruin 3 km long and 120 m wide, running at a
  bearing of 60°, at 36.796N 117.464E.

Flights are drawn in a site's plane (metres) and turned into OSD samples at 0.5 Hz, as a dock
sends them; `dji_osd` writes a sample as the DJI Cloud API message an aircraft publishes, with
DJI's documented field names, and `parse_dji` takes it through the real `sensors.dji` adapter.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from relic_guard.drones.flights import Flight, FlightEnded, FlightTracker
from relic_guard.drones.osd import OsdSample, sample_from_telemetry
from relic_guard.drones.projection import LocalProjection
from relic_guard.registry import Device, Registry, Site
from sensors import dji
from sensors.context import ParseContext
from sensors.model import Message, Source, Telemetry

# 2026-11-27 10:00 in Jinan.
T0 = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)

DXZ = "jn-dxz"
DXZ_WKT = (
    "POLYGON((116.994183 36.666125, 116.997987 36.664954, 117.002685 36.665494, 117.006264 36.667026, "
    "117.006824 36.670360, 117.005034 36.673424, 117.001454 36.674866, 116.997651 36.674235, "
    "116.994742 36.672703, 116.993288 36.669820, 116.993736 36.667747, 116.994183 36.666125))"
)
QCC = "jn-qcc"
QCC_WKT = (
    "POLYGON((117.449110 36.789709, 117.478220 36.803226, 117.478893 36.802289, 117.449782 36.788773, "
    "117.449110 36.789709))"
)
# The long site's axis in its plane (bearing 60°): unit vectors along and across it.
QCC_ALONG = (math.sin(math.radians(60)), math.cos(math.radians(60)))
QCC_ACROSS = (QCC_ALONG[1], -QCC_ALONG[0])

AIRCRAFT_SN = "1581F6Q8D23CT00A"
DOCK_SN = "8UUXN4P00A06NK"
UAV = (DXZ, "uav-01")
# Ellipsoid height of the ground at the dock: DJI's `height` is absolute, `elevation` relative.
GROUND_HEIGHT_M = 52.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def metric_wkt(projection: LocalProjection, ring: Sequence[tuple[float, float]]) -> str:
    """A WKT polygon in lon/lat of a ring given in metres in `projection`'s plane (full precision,
    so that the polygon comes back exactly when read with the same projection)."""
    points = [projection.inverse(x, y) for x, y in [*ring, ring[0]]]
    return "POLYGON((" + ", ".join(f"{lon!r} {lat!r}" for lon, lat in points) + "))"


def path_points(
    waypoints: Sequence[tuple[float, float]], speed_mps: float, interval_s: float
) -> list[tuple[float, float]]:
    """Positions every `interval_s` along the polyline at constant speed, ends included."""
    legs = list(itertools.pairwise(waypoints))
    lengths = [math.dist(a, b) for a, b in legs]
    total = sum(lengths)
    step = speed_mps * interval_s
    count = math.floor(total / step + 1e-9)
    out: list[tuple[float, float]] = []
    leg, done = 0, 0.0
    for k in range(count + 1):
        s = k * step
        while leg < len(legs) - 1 and s > done + lengths[leg]:
            done += lengths[leg]
            leg += 1
        (ax, ay), (bx, by) = legs[leg]
        f = 0.0 if lengths[leg] == 0 else min(1.0, (s - done) / lengths[leg])
        out.append((ax + f * (bx - ax), ay + f * (by - ay)))
    if math.dist(out[-1], waypoints[-1]) > 1e-6:
        out.append(waypoints[-1])
    return out


def lawnmower(lanes_x: Iterable[float], y_from: float, y_to: float) -> list[tuple[float, float]]:
    """Boustrophedon waypoints: up the first lane, across, down the next, …"""
    waypoints: list[tuple[float, float]] = []
    for i, x in enumerate(lanes_x):
        ends = (y_from, y_to) if i % 2 == 0 else (y_to, y_from)
        waypoints += [(x, ends[0]), (x, ends[1])]
    return waypoints


def flight_samples(
    projection: LocalProjection,
    waypoints: Sequence[tuple[float, float]],
    *,
    height_m: float,
    start_s: float = 0.0,
    speed_mps: float = 8.0,
    interval_s: float = 2.0,
    mode_code: int = 5,
    battery_start_pct: float = 95.0,
    drain_pct_per_min: float = 2.5,
    gimbal_pitch_deg: float | None = None,
    ground_before: int = 3,
    ground_after: int = 3,
) -> list[OsdSample]:
    """A whole flight as a dock reports it: on the ground at the first waypoint (mode 0), in the
    air along the waypoints (`mode_code`), on the ground at the last one."""
    home = waypoints[0]
    samples: list[OsdSample] = []
    t = start_s

    def sample(xy: tuple[float, float], code: int, height: float, speed: float) -> OsdSample:
        lon, lat = projection.inverse(*xy)
        battery = battery_start_pct - drain_pct_per_min * max(0.0, t - start_s - ground_before * interval_s) / 60
        return OsdSample(
            ts=at(t),
            lat=lat,
            lon=lon,
            height_m=GROUND_HEIGHT_M + height,
            elevation_m=height,
            mode_code=code,
            battery_pct=float(round(battery)),
            home_distance_m=math.dist(xy, home),
            speed_mps=speed,
            vertical_speed_mps=0.0,
            gimbal_pitch_deg=gimbal_pitch_deg,
        )

    for _ in range(ground_before):
        samples.append(sample(waypoints[0], 0, 0.0, 0.0))
        t += interval_s
    for xy in path_points(waypoints, speed_mps, interval_s):
        samples.append(sample(xy, mode_code, height_m, speed_mps))
        t += interval_s
    for _ in range(ground_after):
        samples.append(sample(waypoints[-1], 0, 0.0, 0.0))
        t += interval_s
    return samples


def fly(samples: Iterable[OsdSample], tracker: FlightTracker | None = None, aircraft: tuple[str, str] = UAV) -> Flight:
    """The one flight the samples make (each sample's own time stands for `now`)."""
    tracker = tracker or FlightTracker()
    ended = [
        update.flight
        for sample in samples
        for update in tracker.observe(aircraft, sample, sample.ts)
        if isinstance(update, FlightEnded)
    ]
    assert len(ended) == 1, ended
    return ended[0]


# DJI Cloud API ---------------------------------------------------------------------------


def registry() -> Registry:
    reg = Registry()
    reg.add_site(
        Site(
            id=DXZ,
            name="大辛庄遗址",
            district="历城区",
            level="全国重点文物保护单位",
            kind="古遗址",
            lat=36.67,
            lon=117.0,
            boundary_wkt=DXZ_WKT,
        )
    )
    reg.add_device(Device(site=DXZ, id="uav-01", source=Source.DRONE, external_id=AIRCRAFT_SN))
    reg.add_device(Device(site=DXZ, id="dock-01", source=Source.DRONE, external_id=DOCK_SN))
    return reg


CTX = ParseContext(directory=registry())


def dji_osd(sample: OsdSample) -> bytes:
    """The `thing/product/{sn}/osd` message an aircraft publishes in the state of `sample`."""
    data: dict[str, object] = {
        "attitude_head": 87.6,
        "attitude_pitch": -1.2,
        "attitude_roll": 0.4,
        "battery": {
            "capacity_percent": sample.battery_pct,
            "remain_flight_time": 1450,
            "return_home_power": 25,
            "landing_power": 10,
            "batteries": [{"capacity_percent": sample.battery_pct, "index": 0, "voltage": 15722}],
        },
        "elevation": sample.elevation_m,
        "firmware_version": "10.01.0612",
        "gear": 1,
        "height": sample.height_m,
        "home_distance": sample.home_distance_m,
        "horizontal_speed": sample.speed_mps,
        "latitude": 0.0 if sample.lat is None else sample.lat,
        "longitude": 0.0 if sample.lon is None else sample.lon,
        "mode_code": sample.mode_code,
        "position_state": {"gps_number": 21, "is_fixed": 2, "quality": 5, "rtk_number": 28},
        "total_flight_distance": 132045.5,
        "total_flight_time": 93640,
        "vertical_speed": sample.vertical_speed_mps,
        "wind_speed": 32,
        "country": "CN",
    }
    envelope = {
        "tid": "6a7bfe89-c386-4043-b600-b518e10096cc",
        "bid": "42a19f36-5117-4520-bd13-fd61d818d52e",
        "timestamp": int(sample.ts.timestamp() * 1000),
        "gateway": DOCK_SN,
        "data": data,
    }
    return json.dumps(envelope).encode()


def parse_dji(payload: bytes, received_at: datetime) -> OsdSample | None:
    """The sample the drone core reads from a DJI OSD message, through the real adapter."""
    records = dji.parse(Message(f"thing/product/{AIRCRAFT_SN}/osd", payload, received_at), CTX)
    assert isinstance(records, list) and len(records) == 1, records
    record = records[0]
    assert isinstance(record, Telemetry)
    return sample_from_telemetry(record)
