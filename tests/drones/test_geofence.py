"""Geofence crossings: out of the allowed area and into no-fly zones, once per crossing despite jitter."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
import shapely

from relic_guard.drones.area import SiteArea
from relic_guard.drones.errors import InvalidBoundary, InvalidDroneConfig
from relic_guard.drones.geofence import (
    FenceKind,
    GeofenceConfig,
    GeofenceEvent,
    GeofenceMonitor,
    NoFlyZone,
    SiteFence,
)
from relic_guard.drones.osd import OsdSample
from relic_guard.drones.projection import LocalProjection

from .support import DXZ, DXZ_WKT, QCC, QCC_WKT, UAV, at, metric_wkt

PLANE = LocalProjection(36.67, 117.0)
AREA = SiteArea.from_wkt(DXZ, DXZ_WKT, projection=PLANE)
SUBSTATION = NoFlyZone("变电站", metric_wkt(PLANE, [(250, -250), (350, -250), (350, -150), (250, -150)]))
FENCE = SiteFence.build(AREA, GeofenceConfig(margin_m=50.0, hysteresis_m=5.0), no_fly=[SUBSTATION])


def edge_x(fence: SiteFence, y: float) -> float:
    """x of the allowed area's east edge on the line at `y` (from the fence's own polygon)."""
    crossing = shapely.intersection(fence.allowed.boundary, shapely.LineString([(0, y), (5000, y)]))
    return float(max(point.x for point in shapely.get_parts(crossing)))


def sample(x: float, y: float, t: float) -> OsdSample:
    lon, lat = PLANE.inverse(x, y)
    return OsdSample(ts=at(t), lat=lat, lon=lon, elevation_m=80.0, mode_code=5, speed_mps=8.0)


def watch(monitor: GeofenceMonitor, points: Sequence[tuple[float, float]], start_s: float = 0.0) -> list[GeofenceEvent]:
    events: list[GeofenceEvent] = []
    for i, (x, y) in enumerate(points):
        events += monitor.observe(UAV, sample(x, y, start_s + 2 * i), in_flight=True)
    return events


def jitter(x: float, y: float, n: int, metres: float, seed: int = 7) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(x + rng.uniform(-metres, metres), y + rng.uniform(-metres, metres)) for _ in range(n)]


def test_flying_out_and_back_raises_one_event_each_way() -> None:
    edge = edge_x(FENCE, 40.0)
    out_and_back = [(float(x), 40.0) for x in range(0, 900, 16)] + [(float(x), 40.0) for x in range(900, 0, -16)]
    events = watch(GeofenceMonitor({DXZ: FENCE}), out_and_back)
    assert [(e.kind, e.clear) for e in events] == [
        (FenceKind.OUTSIDE_ALLOWED_AREA, False),
        (FenceKind.OUTSIDE_ALLOWED_AREA, True),
    ]
    leaving, back = events
    # Raised at the first fix past the line, with that fix's position and how far out it was.
    first_out = min(x for x in range(0, 900, 16) if x > edge)
    assert leaving.distance_m == pytest.approx(first_out - edge, abs=0.01)
    assert PLANE.forward(leaving.lon, leaving.lat) == pytest.approx((first_out, 40.0), abs=1e-6)
    assert leaving.aircraft == UAV and leaving.zone is None
    # Cleared only once the aircraft is 5 m back inside.
    assert back.distance_m >= 5.0
    assert PLANE.forward(back.lon, back.lat)[0] <= edge - 5.0


def test_gps_jitter_on_the_line_raises_the_crossing_once() -> None:
    edge = edge_x(FENCE, 40.0)
    hovering = jitter(edge, 40.0, 200, 3.0)
    assert any(x > edge for x, _ in hovering) and any(x < edge for x, _ in hovering)
    events = watch(GeofenceMonitor({DXZ: FENCE}), [(edge - 30, 40.0), *hovering, (edge - 20, 40.0)])
    assert [(e.kind, e.clear) for e in events] == [
        (FenceKind.OUTSIDE_ALLOWED_AREA, False),
        (FenceKind.OUTSIDE_ALLOWED_AREA, True),
    ]
    assert events[1].ts == at(2 * 201)


def test_without_enough_hysteresis_the_same_jitter_would_flap() -> None:
    # The check that the test above can fail: a hysteresis below the jitter lets every wobble through.
    thin = SiteFence.build(AREA, GeofenceConfig(margin_m=50.0, hysteresis_m=0.5))
    edge = edge_x(thin, 40.0)
    events = watch(GeofenceMonitor({DXZ: thin}), [(edge - 30, 40.0), *jitter(edge, 40.0, 200, 3.0)])
    assert len(events) > 10


def test_a_no_fly_zone_entered_and_left_with_jitter_on_its_edge() -> None:
    # West to east through the substation's square (x 250..350 at y -200), hovering on each edge.
    path = (
        [(x, -200.0) for x in range(100, 240, 16)]
        + jitter(250.0, -200.0, 50, 3.0, seed=1)
        + [(x, -200.0) for x in range(260, 350, 16)]
        + jitter(350.0, -200.0, 50, 3.0, seed=2)
        + [(x, -200.0) for x in range(360, 450, 16)]
    )
    events = watch(GeofenceMonitor({DXZ: FENCE}), path)
    assert [(e.kind, e.zone, e.clear) for e in events] == [
        (FenceKind.INSIDE_NO_FLY_ZONE, "变电站", False),
        (FenceKind.INSIDE_NO_FLY_ZONE, "变电站", True),
    ]
    entering, leaving = events
    assert PLANE.forward(entering.lon, entering.lat)[0] > 250.0
    assert leaving.distance_m >= 5.0 and PLANE.forward(leaving.lon, leaving.lat)[0] >= 355.0


def test_only_aircraft_in_flight_are_watched() -> None:
    monitor = GeofenceMonitor({DXZ: FENCE})
    # A drone resting in a dock outside the boundary is no intrusion.
    assert monitor.observe(UAV, sample(1500.0, 0.0, 0), in_flight=False) == []
    # In flight it is; the next flight after a landing starts afresh and raises it again.
    assert len(monitor.observe(UAV, sample(1500.0, 0.0, 2), in_flight=True)) == 1
    assert monitor.observe(UAV, sample(1500.0, 0.0, 4), in_flight=True) == []
    assert monitor.observe(UAV, sample(1500.0, 0.0, 6), in_flight=False) == []
    assert len(monitor.observe(UAV, sample(1500.0, 0.0, 8), in_flight=True)) == 1


def test_a_redelivered_old_position_does_not_flap_the_fence() -> None:
    monitor = GeofenceMonitor({DXZ: FENCE})
    assert monitor.observe(UAV, sample(0.0, 0.0, 0), in_flight=True) == []
    assert len(monitor.observe(UAV, sample(1500.0, 0.0, 2), in_flight=True)) == 1
    # The broker redelivers the sample from before the crossing: it is not news.
    assert monitor.observe(UAV, sample(0.0, 0.0, 0), in_flight=True) == []
    assert monitor.observe(UAV, sample(1500.0, 0.0, 2), in_flight=True) == []
    assert [e.clear for e in monitor.observe(UAV, sample(0.0, 0.0, 4), in_flight=True)] == [True]


def test_a_sample_without_position_neither_trips_nor_clears() -> None:
    monitor = GeofenceMonitor({DXZ: FENCE})
    assert len(monitor.observe(UAV, sample(1500.0, 0.0, 0), in_flight=True)) == 1
    assert monitor.observe(UAV, OsdSample(ts=at(2), mode_code=5), in_flight=True) == []
    assert monitor.observe(UAV, sample(1500.0, 0.0, 4), in_flight=True) == []
    assert len(monitor.observe(UAV, sample(0.0, 0.0, 6), in_flight=True)) == 1


def test_aircraft_of_a_site_without_a_fence_are_not_watched() -> None:
    monitor = GeofenceMonitor({DXZ: FENCE})
    assert monitor.observe((QCC, "uav-07"), sample(5000.0, 0.0, 0), in_flight=True) == []


def test_an_extra_allowed_corridor_takes_in_a_dock_outside_the_boundary() -> None:
    corridor = metric_wkt(PLANE, [(600, -20), (1200, -20), (1200, 20), (600, 20)])
    fence = SiteFence.build(AREA, GeofenceConfig(margin_m=50.0), extra_allowed_wkt=[corridor])
    monitor = GeofenceMonitor({DXZ: fence})
    assert watch(monitor, [(x, 0.0) for x in range(0, 1200, 16)]) == []
    assert len(watch(monitor, [(1000.0, 100.0)], start_s=1000)) == 1


def test_a_long_thin_site_fences_its_length() -> None:
    wall = SiteArea.from_wkt(QCC, QCC_WKT)
    fence = SiteFence.build(wall, GeofenceConfig(margin_m=30.0, hysteresis_m=5.0))
    monitor = GeofenceMonitor({QCC: fence})
    aircraft = (QCC, "uav-07")
    plane = wall.projection

    def along(distance: float, offset: float, t: float) -> OsdSample:
        # The wall runs at a bearing of 60° through the plane's origin.
        ux, uy = 0.8660254037844387, 0.5
        lon, lat = plane.inverse(distance * ux + offset * uy, distance * uy - offset * ux)
        return OsdSample(ts=at(t), lat=lat, lon=lon, elevation_m=60.0, mode_code=5)

    events: list[GeofenceEvent] = []
    for i, distance in enumerate(range(-1400, 1400, 20)):  # along the axis: inside the whole way
        events += monitor.observe(aircraft, along(distance, 0.0, 2 * i), in_flight=True)
    assert events == []
    # 60 m + 30 m of margin across the axis is the line; 95 m off the axis is out.
    events += monitor.observe(aircraft, along(0.0, 85.0, 1000), in_flight=True)
    assert events == []
    events += monitor.observe(aircraft, along(0.0, 95.0, 1002), in_flight=True)
    assert len(events) == 1 and events[0].distance_m == pytest.approx(5.0, abs=0.5)


def test_replacing_a_fence_starts_its_aircraft_afresh() -> None:
    monitor = GeofenceMonitor({DXZ: FENCE})
    assert len(monitor.observe(UAV, sample(1500.0, 0.0, 0), in_flight=True)) == 1
    wide = SiteFence.build(AREA, GeofenceConfig(margin_m=2000.0))
    monitor.set_fence(DXZ, wide)
    assert monitor.observe(UAV, sample(1500.0, 0.0, 2), in_flight=True) == []
    monitor.set_fence(DXZ, None)
    assert monitor.observe(UAV, sample(9000.0, 0.0, 4), in_flight=True) == []


def test_two_zones_of_one_name_are_refused() -> None:
    with pytest.raises(InvalidBoundary, match="变电站"):
        SiteFence.build(AREA, no_fly=[SUBSTATION, SUBSTATION])


@pytest.mark.parametrize(
    ("change", "says"), [({"margin_m": -1.0}, "margin_m"), ({"hysteresis_m": 0.0}, "hysteresis_m")]
)
def test_config_out_of_range_is_refused(change: dict[str, float], says: str) -> None:
    with pytest.raises(InvalidDroneConfig, match=says):
        GeofenceConfig(**change)
