"""A patrol flight end to end: DJI OSD messages through the adapter, then flights, geofence,
safety and coverage together, the way the daemon will run them (ticking every 2 s)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import shapely
from msgspec.structs import replace

from relic_guard.drones.area import SiteArea
from relic_guard.drones.coverage import coverage
from relic_guard.drones.flights import FlightEnd, FlightEnded, FlightStarted, FlightTracker
from relic_guard.drones.geofence import FenceKind, GeofenceEvent, GeofenceMonitor, SiteFence
from relic_guard.drones.projection import LocalProjection
from relic_guard.drones.safety import SafetyEvent, SafetyKind, SafetyMonitor

from .support import DXZ, DXZ_WKT, UAV, at, dji_osd, flight_samples, lawnmower, parse_dji

PLANE = LocalProjection(36.67, 117.0)
AREA = SiteArea.from_wkt(DXZ, DXZ_WKT, projection=PLANE)


def test_a_patrol_with_a_lost_link_an_excursion_and_a_return_home() -> None:
    # Lanes over the middle of the site, then a leg east past the fence (the allowed area ends
    # about 660 m east on this line) and back to the dock.
    route = [
        (0.0, 0.0),
        *lawnmower([-300 + 100 * i for i in range(7)], -300, 300),
        (0.0, 40.0),
        (800.0, 40.0),
        (0.0, 0.0),
    ]
    samples = flight_samples(PLANE, route, height_m=80.0)
    air = [i for i, s in enumerate(samples) if s.mode_code == 5]
    returning = set(air[-25:])  # the last 200 m home under auto return
    samples = [replace(s, mode_code=9) if i in returning else s for i, s in enumerate(samples)]
    samples = [s for s in samples if not at(200) <= s.ts < at(240)]  # 40 s without OSD

    tracker = FlightTracker()
    fence = GeofenceMonitor({DXZ: SiteFence.build(AREA)})
    safety = SafetyMonitor()
    happened: list[object] = []
    clock = at(0)
    for sample in samples:
        while clock < sample.ts:  # the daemon's tick, every 2 s, silence or not
            happened += tracker.tick(clock) + safety.tick(clock)
            clock += timedelta(seconds=2)
        osd = parse_dji(dji_osd(sample), sample.ts)
        assert osd is not None
        happened += tracker.observe(UAV, osd, sample.ts)
        in_flight = tracker.in_flight(UAV)
        happened += fence.observe(UAV, osd, in_flight=in_flight)
        happened += safety.observe(UAV, osd, in_flight=in_flight, now=sample.ts)

    def name(item: object) -> tuple[str, bool]:
        if isinstance(item, SafetyEvent):
            return item.kind.value, item.clear
        if isinstance(item, GeofenceEvent):
            return item.kind.value, item.clear
        return type(item).__name__, False

    assert [name(item) for item in happened] == [
        ("FlightStarted", False),
        (SafetyKind.LINK_LOST.value, False),
        (SafetyKind.LINK_LOST.value, True),
        (FenceKind.OUTSIDE_ALLOWED_AREA.value, False),
        (FenceKind.OUTSIDE_ALLOWED_AREA.value, True),
        (SafetyKind.RETURN_TO_HOME.value, False),
        ("FlightEnded", False),
    ]
    started, lost = happened[0], happened[1]
    assert isinstance(started, FlightStarted) and isinstance(lost, SafetyEvent)
    assert lost.ts == at(208)  # the first tick 10 s after the last sample at 198 s
    ended = happened[-1]
    assert isinstance(ended, FlightEnded)
    flight = ended.flight
    assert flight.end is FlightEnd.LANDED and flight.link_losses == 1 and len(flight.segments) == 2

    seen = coverage(AREA, [flight])
    # The 600 m square of lanes with 58 m swaths either side (72° at 80 m), about half the site.
    assert 0.4 < seen.share < 0.6
    holes = shapely.geometry.shape(seen.uncovered)
    assert not holes.contains(shapely.Point(*PLANE.inverse(0.0, 0.0)))
    assert holes.contains(shapely.Point(*PLANE.inverse(-500.0, -20.0)))
    assert seen.share == pytest.approx(coverage(AREA, [flight, flight]).share)
