"""The drone monitor over a real AlertService: DJI OSD in, alerts raised and closed, flights queued
with their coverage; restarts and database outages lose no flight."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from msgspec.structs import replace

from alerts.model import AlertStatus, Audience, Category, Classification, Severity
from relic_guard.drones import monitor as monitor_module
from relic_guard.drones.flights import FlightConfig, FlightTracker
from relic_guard.drones.geofence import NoFlyZone
from relic_guard.drones.monitor import MonitorSettings, flight_record, track_geojson
from relic_guard.drones.osd import OsdSample
from relic_guard.drones.zones_load import SiteZones
from relic_guard.store import flight_store
from relic_guard.store.flight_store import FlightRecord
from tests.drones.support import at, flight_samples, lawnmower, metric_wkt

from .support import PLANE, make_world

# Lanes over the middle of the site, a leg east past the fence (the allowed area ends ~660 m east on
# this line) and back to the dock; the last 200 m under auto return (mode 9).
ROUTE = [(0.0, 0.0), *lawnmower([-300 + 100 * i for i in range(7)], -300, 300), (0.0, 40.0), (800.0, 40.0),
         (0.0, 0.0)]


def patrol(**kwargs: object) -> list[OsdSample]:
    samples = flight_samples(PLANE, ROUTE, height_m=80.0, **kwargs)  # type: ignore[arg-type]
    air = [i for i, s in enumerate(samples) if s.mode_code == 5]
    returning = set(air[-25:])
    return [replace(s, mode_code=9) if i in returning else s for i, s in enumerate(samples)]


class Writer:
    """Stands in for the database: records what it was given, or fails as told."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.records: list[FlightRecord] = []
        self.failures = failures or []

    def __call__(self, record: FlightRecord) -> int:
        if self.failures:
            raise self.failures.pop(0)
        self.records.append(record)
        return len(self.records)


def test_a_patrol_out_past_the_fence_alerts_and_resolves_and_its_flight_is_stored_with_coverage() -> None:
    writer = Writer()
    world = make_world(writer=writer)
    samples = [s for s in patrol() if not at(200) <= s.ts < at(240)]  # 40 s without OSD
    world.fly(samples)

    fence = world.alert("drone.geofence")
    assert fence is not None
    assert fence.category is Category.DRONE and fence.severity is Severity.MAJOR
    assert fence.audiences == (Audience.MONITORING_CENTER,)
    assert fence.title == "无人机飞出允许区域：大辛庄遗址 uav-01"
    assert fence.status is AlertStatus.RESOLVED  # back inside before landing
    link = world.alert("drone.link_lost")
    assert link is not None and link.severity is Severity.MINOR and link.status is AlertStatus.RESOLVED
    assert link.classification is Classification.DEVICE_FAULT
    home = world.alert("drone.return_to_home")
    assert home is not None and home.severity is Severity.INFO and home.status is AlertStatus.RESOLVED
    assert world.service.open_alerts() == []

    assert world.monitor.pending == 1 and world.monitor.live() == []
    assert asyncio.run(world.monitor.drain())
    (record,) = writer.records
    assert (record.site_id, record.aircraft, record.end_reason, record.link_losses) == ("jn-dxz", "uav-01", "landed", 1)
    assert record.takeoff_seen and record.started_at == samples[3].ts and record.ended_at == samples[-3].ts
    assert record.max_height_m == 80.0 and record.distance_m > 4000
    # Lanes over about half the site: not a patrol at the default 80 %.
    assert record.coverage_share is not None and 0.4 < record.coverage_share < 0.6
    assert not record.counts_as_patrol
    assert record.uncovered_geojson is not None and record.uncovered_geojson["type"] == "MultiPolygon"
    assert record.track_geojson["type"] == "MultiLineString"
    assert len(record.track_geojson["coordinates"]) == 2  # split where the link was lost
    assert all(len(point) == 3 for line in record.track_geojson["coordinates"] for point in line)
    assert world.monitor.pending == 0 and world.monitor.flights_written == 1


def test_a_flight_covering_enough_of_the_site_counts_as_a_patrol() -> None:
    writer = Writer()
    world = make_world(writer=writer, settings=MonitorSettings(patrol_coverage_share=0.45))
    world.fly(patrol())
    asyncio.run(world.monitor.drain())
    assert writer.records[0].counts_as_patrol


def test_a_forced_landing_is_held_for_a_person_after_the_flight() -> None:
    world = make_world(writer=Writer())
    samples = flight_samples(PLANE, [(0.0, 0.0), (0.0, 300.0)], height_m=60.0)
    samples = [replace(s, mode_code=11) if s.mode_code == 5 and s.ts >= at(30) else s for s in samples]
    world.fly(samples)
    alert = world.alert("drone.forced_landing")
    assert alert is not None and alert.severity is Severity.MAJOR
    assert alert.status is AlertStatus.OPEN and alert.condition_cleared_at == samples[-3].ts
    assert alert.title == "无人机迫降：大辛庄遗址 uav-01"


def test_landing_outside_the_allowed_area_keeps_the_fence_alert_for_a_person() -> None:
    world = make_world(writer=Writer())
    world.fly(flight_samples(PLANE, [(0.0, 0.0), (900.0, 0.0)], height_m=60.0))
    alert = world.alert("drone.geofence")
    assert alert is not None and alert.status is AlertStatus.OPEN and alert.condition_cleared_at is not None


def test_a_no_fly_zone_from_the_zones_file_alerts_by_name_and_resolves_on_leaving() -> None:
    school = metric_wkt(PLANE, [(-50.0, 100.0), (50.0, 100.0), (50.0, 200.0), (-50.0, 200.0)])
    zones = {"jn-dxz": SiteZones(site="jn-dxz", no_fly=(NoFlyZone("龙山小学", school),))}
    world = make_world(writer=Writer(), zones=zones)
    world.fly(flight_samples(PLANE, [(0.0, 0.0), (0.0, 300.0), (0.0, 0.0)], height_m=60.0))
    alert = world.alert("drone.no_fly:龙山小学")
    assert alert is not None and alert.severity is Severity.MAJOR
    assert alert.title == "无人机进入禁飞区：大辛庄遗址 uav-01 龙山小学"
    assert alert.status is AlertStatus.RESOLVED
    assert world.alert("drone.geofence") is None  # the school is inside the site


def test_low_battery_is_raised_and_resolved_at_landing() -> None:
    world = make_world(writer=Writer())
    # 25 % at takeoff, 10 %/min, 400 m out: 50 s out, the way home needs more than is left.
    samples = flight_samples(PLANE, [(0.0, 0.0), (400.0, 0.0), (0.0, 0.0)], height_m=60.0,
                             battery_start_pct=25.0, drain_pct_per_min=10.0)
    world.fly(samples)
    alert = world.alert("drone.low_battery")
    assert alert is not None and alert.severity is Severity.MINOR
    assert alert.status is AlertStatus.RESOLVED


@pytest.mark.parametrize("back_in_the_air", [True, False], ids=["heard-in-the-air", "heard-on-the-ground"])
def test_a_link_lost_for_good_closes_the_flight_and_keeps_the_alert_until_the_aircraft_is_heard(
    back_in_the_air: bool,
) -> None:
    writer = Writer()
    tracker = FlightTracker(FlightConfig(flight_timeout_s=120.0))
    world = make_world(writer=writer)
    world.monitor.tracker = tracker
    samples = flight_samples(PLANE, [(0.0, 0.0), (0.0, 300.0)], height_m=60.0, ground_after=0)
    world.fly(samples)
    world.until(samples[-1].ts + timedelta(seconds=130))
    link = world.alert("drone.link_lost")
    assert link is not None and link.status is AlertStatus.OPEN
    asyncio.run(world.monitor.drain())
    assert [r.end_reason for r in writer.records] == ["link_timeout"]
    again = replace(samples[-1], ts=samples[-1].ts + timedelta(seconds=140))
    if not back_in_the_air:
        again = replace(again, mode_code=0, elevation_m=0.0, speed_mps=0.0)
    world.fly([again])
    link = world.alert("drone.link_lost")
    assert link is not None and link.status is AlertStatus.RESOLVED
    if back_in_the_air:  # a new flight whose takeoff nobody saw
        (live,) = world.monitor.live()
        assert (live.device, live.takeoff_seen, live.flight_started_at) == ("uav-01", False, again.ts)
    else:
        assert world.monitor.live() == []


def test_a_daemon_started_mid_flight_stores_both_parts_and_saves_what_the_database_cannot_take(
    tmp_path: Path,
) -> None:
    samples = patrol()
    # The first daemon: the flight up to 100 s, then it stops with the database down.
    first = make_world(writer=Writer([psycopg.OperationalError("connection refused")] * 5), spool_dir=tmp_path)
    first.fly([s for s in samples if s.ts < at(100)])
    (live,) = first.monitor.live()
    assert live.takeoff_seen and live.lat is not None
    assert asyncio.run(first.monitor.close(timeout_s=5.0)) == 1
    saved = flight_store.decode_pending((tmp_path / "drone-flights.pending").read_bytes())
    assert [(r.end_reason, r.takeoff_seen, r.ended_at) for r in saved] == [("interrupted", True, at(98))]

    # The next daemon takes up the saved flight and hears the aircraft first in the air.
    writer = Writer()
    second = make_world(writer=writer, spool_dir=tmp_path, now=at(110))

    async def restart() -> None:
        await second.monitor.start()
        second.fly([s for s in samples if s.ts >= at(110)])
        assert await second.monitor.drain()

    asyncio.run(restart())
    assert [(r.end_reason, r.takeoff_seen, r.started_at) for r in writer.records] == [
        ("interrupted", True, at(6)), ("landed", False, at(110))]
    assert not (tmp_path / "drone-flights.pending").exists()


def test_an_outage_keeps_flights_pending_and_the_writer_task_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_module, "RETRY_MIN_S", 0.01)
    writer = Writer([psycopg.OperationalError("the database system is starting up")] * 3)
    world = make_world(writer=writer)
    world.fly(flight_samples(PLANE, [(0.0, 0.0), (900.0, 0.0), (0.0, 0.0)], height_m=60.0))
    # The alert went out while nothing could be stored.
    assert world.alert("drone.geofence") is not None and world.monitor.pending == 1

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(world.monitor.run(stop))
        for _ in range(500):
            if world.monitor.pending == 0:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(run())
    assert world.monitor.pending == 0 and len(writer.records) == 1 and not writer.failures


def test_a_flight_the_database_refuses_is_set_aside_and_the_queue_moves_on(tmp_path: Path) -> None:
    writer = Writer([psycopg.errors.CheckViolation("violates check constraint")])
    world = make_world(writer=writer, spool_dir=tmp_path)
    for start in (0.0, 200.0):
        world.fly(flight_samples(PLANE, [(0.0, 0.0), (0.0, 200.0)], height_m=60.0, start_s=start))
    assert asyncio.run(world.monitor.drain())
    assert len(writer.records) == 1 and world.monitor.pending == 0
    (line,) = (tmp_path / "drone-flights.rejected").read_bytes().splitlines()
    (rejected,) = flight_store.decode_pending(line)
    assert rejected.started_at == at(6)


def test_a_coverage_failure_stores_the_flight_without_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise ValueError("a geometry bug")

    monkeypatch.setattr(monitor_module, "coverage", broken)
    writer = Writer()
    world = make_world(writer=writer)
    world.fly(flight_samples(PLANE, [(0.0, 0.0), (0.0, 200.0)], height_m=60.0))
    asyncio.run(world.monitor.drain())
    assert writer.records[0].coverage_share is None and not writer.records[0].counts_as_patrol


def test_one_bad_sample_does_not_stop_the_batch(caplog: pytest.LogCaptureFixture) -> None:
    world = make_world()
    good = flight_samples(PLANE, [(0.0, 0.0), (0.0, 100.0)], height_m=60.0)
    rows = [("jn-dxz", "uav-01", float("nan"), *([None] * 10))]  # a time no datetime can hold
    world.monitor.on_samples(rows)  # type: ignore[arg-type]
    world.fly(good[:6])
    assert world.monitor.live() != [] and "not processed" in caplog.text


def test_track_geojson_drops_single_fix_segments_and_heights_when_one_is_unknown() -> None:
    track = (((117.0, 36.67, 80.0), (117.001, 36.67, None)), ((117.002, 36.67, 80.0),))
    assert track_geojson(track) == {"type": "MultiLineString", "coordinates": [[[117.0, 36.67], [117.001, 36.67]]]}


def test_a_site_without_boundary_has_no_coverage() -> None:
    world = make_world()
    world.fly(flight_samples(PLANE, [(0.0, 0.0), (0.0, 100.0)], height_m=60.0))
    (pending,) = world.monitor._pending
    assert pending.flight is not None
    record = flight_record(pending.flight, end_reason="landed", takeoff_seen=True, area=None,
                           settings=MonitorSettings())
    assert (record.coverage_share, record.uncovered_geojson, record.counts_as_patrol) == (None, None, False)
    assert json.loads(json.dumps(record.track_geojson))["type"] == "MultiLineString"

