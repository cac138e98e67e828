"""Flight segmentation: takeoff to landing, link losses, tracks, from OSD samples."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import pytest
import shapely
from msgspec.structs import replace

from relic_guard.drones.area import SiteArea
from relic_guard.drones.errors import InvalidDroneConfig
from relic_guard.drones.flights import (
    TRANSITIONS,
    Flight,
    FlightConfig,
    FlightEnd,
    FlightEnded,
    FlightStarted,
    FlightState,
    FlightTracker,
    FlightUpdate,
    Seen,
)
from relic_guard.drones.osd import OsdSample

from .support import DXZ, DXZ_WKT, GROUND_HEIGHT_M, UAV, at, dji_osd, flight_samples, fly, lawnmower, parse_dji

AREA = SiteArea.from_wkt(DXZ, DXZ_WKT)
LANES = lawnmower([-450 + 100 * i for i in range(6)], -550, 550)


def survey(**kwargs: object) -> list[OsdSample]:
    return flight_samples(AREA.projection, LANES, height_m=80.0, **kwargs)  # type: ignore[arg-type]


def feed(tracker: FlightTracker, samples: list[OsdSample], aircraft: tuple[str, str] = UAV) -> list[FlightUpdate]:
    return [update for sample in samples for update in tracker.observe(aircraft, sample, sample.ts)]


def path_length(waypoints: list[tuple[float, float]]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(waypoints))


def test_a_survey_flight_from_takeoff_to_landing() -> None:
    samples = survey()
    tracker = FlightTracker()
    updates = feed(tracker, samples)
    assert len(updates) == 2
    started, ended = updates
    assert isinstance(started, FlightStarted) and isinstance(ended, FlightEnded)
    first_air = samples[3]
    landed = samples[-3]
    assert (started.aircraft, started.at, started.lat, started.lon) == (UAV, first_air.ts, first_air.lat, first_air.lon)
    flight = ended.flight
    assert flight.end is FlightEnd.LANDED
    assert (flight.started_at, flight.ended_at) == (first_air.ts, landed.ts)
    assert flight.duration_s == (landed.ts - first_air.ts).total_seconds()
    # The fixes, 16 m apart, cut each corner of the 7.1 km of lanes a little.
    plane = AREA.projection
    fixes = [plane.forward(s.lon, s.lat) for s in samples[3:-2]]  # type: ignore[arg-type]
    assert flight.distance_m == pytest.approx(sum(math.dist(a, b) for a, b in itertools.pairwise(fixes)), rel=1e-5)
    assert flight.distance_m == pytest.approx(path_length(LANES), rel=5e-3)
    assert flight.max_height_m == pytest.approx(80.0)
    assert flight.battery_start_pct == 95.0
    landed_battery = samples[-3].battery_pct
    assert landed_battery is not None and flight.battery_used_pct == pytest.approx(95.0 - landed_battery)
    assert flight.battery_used_pct is not None and flight.battery_used_pct > 10
    assert (flight.link_losses, len(flight.segments)) == (0, 1)
    assert not tracker.in_flight(UAV) and tracker.state(UAV) is FlightState.GROUNDED


def test_the_stored_track_is_simplified_within_its_tolerance() -> None:
    flight = fly(survey())
    raw = flight.segments[0]
    stored = flight.track[0]
    # Straight lanes keep little more than their corners (12, each cut by the fixes).
    assert len(raw) > 400 and 12 <= len(stored) <= 30
    plane = AREA.projection
    line = shapely.LineString([plane.forward(lon, lat) for lon, lat, _ in stored])
    assert max(line.distance(shapely.Point(plane.forward(p.lon, p.lat))) for p in raw) <= 1.0 + 1e-6
    assert {height for _, _, height in stored} <= {0.0, 80.0}
    assert stored[0][:2] == pytest.approx((raw[0].lon, raw[0].lat), abs=1e-7)


def test_dji_osd_through_the_adapter_makes_the_same_flight() -> None:
    samples = survey()
    received = [parse_dji(dji_osd(sample), sample.ts) for sample in samples]
    assert all(sample is not None for sample in received)
    assert fly(s for s in received if s is not None) == fly(samples)


def _without(samples: list[OsdSample], start_s: float, stop_s: float) -> list[OsdSample]:
    return [s for s in samples if not at(start_s) <= s.ts < at(stop_s)]


def test_a_link_lost_mid_flight_and_back_in_the_air_keeps_one_flight_in_two_segments() -> None:
    samples = _without(survey(), 300, 360)  # 60 s of silence over the survey
    tracker = FlightTracker()
    updates: list[FlightUpdate] = []
    for sample in samples:
        updates += tracker.tick(sample.ts)
        updates += tracker.observe(UAV, sample, sample.ts)
        if sample.ts == at(298):  # the last sample before the silence; the daemon ticks during it
            updates += tracker.tick(at(310))
            assert tracker.state(UAV) is FlightState.LINK_LOST and tracker.in_flight(UAV)
        if sample.ts == at(360):
            assert tracker.state(UAV) is FlightState.AIRBORNE
    assert [type(update) for update in updates] == [FlightStarted, FlightEnded]
    flight = updates[-1].flight  # type: ignore[union-attr]
    assert flight.end is FlightEnd.LANDED and flight.link_losses == 1
    assert len(flight.segments) == 2
    assert flight.segments[0][-1].ts == at(298) and flight.segments[1][0].ts == at(360)
    # The chord across the silence is counted (the aircraft flew at least that far).
    assert flight.distance_m == pytest.approx(fly(survey()).distance_m, rel=0.02)


def test_fixes_far_apart_split_the_track_even_without_a_tick() -> None:
    flight = fly(_without(survey(), 300, 330))
    assert len(flight.segments) == 2 and flight.link_losses == 0


def test_link_lost_then_seen_landed_closes_the_flight_at_the_last_contact() -> None:
    samples = survey()
    cut = next(i for i, s in enumerate(samples) if s.ts >= at(400))
    lost = [
        replace(s, lat=None, lon=None, mode_code=14, elevation_m=None, height_m=None) for s in samples[cut : cut + 5]
    ]
    landed = [replace(samples[-1], ts=at(900 + k)) for k in range(2)]
    tracker = FlightTracker()
    updates = feed(tracker, samples[:cut] + lost)
    assert [type(u) for u in updates] == [FlightStarted]
    assert tracker.state(UAV) is FlightState.LINK_LOST
    # Mode 14 is the gateway talking, not the aircraft: it keeps no link alive.
    assert tracker.tick(at(900 - 1)) == []
    ended = feed(tracker, landed)
    assert len(ended) == 1 and isinstance(ended[0], FlightEnded)
    flight = ended[0].flight
    assert flight.end is FlightEnd.LANDED_UNSEEN
    assert flight.ended_at == samples[cut - 1].ts
    assert flight.link_losses == 1


def test_link_lost_for_good_closes_the_flight_after_the_timeout() -> None:
    samples = survey()
    cut = next(i for i, s in enumerate(samples) if s.ts >= at(400))
    config = FlightConfig(flight_timeout_s=1200.0)
    tracker = FlightTracker(config)
    feed(tracker, samples[:cut])
    last = samples[cut - 1].ts
    assert tracker.tick(at(420)) == [] and tracker.state(UAV) is FlightState.LINK_LOST
    assert tracker.tick(last + timedelta(seconds=1199.9)) == []
    ended = tracker.tick(last + timedelta(seconds=1200))
    assert len(ended) == 1 and isinstance(ended[0], FlightEnded)
    assert ended[0].flight.end is FlightEnd.LINK_TIMEOUT and ended[0].flight.ended_at == last
    assert not tracker.in_flight(UAV)
    # The aircraft turning up on the ground later starts nothing and ends nothing.
    assert feed(tracker, [replace(samples[-1], ts=at(4000))]) == []


def test_redelivered_and_overtaken_samples_are_passed_over() -> None:
    samples = survey()
    shuffled = samples[:50] + samples[40:45] + [samples[20]] + samples[50:]
    assert fly(shuffled) == fly(samples)


def test_without_mode_code_height_and_speed_decide() -> None:
    samples = [replace(s, mode_code=None) for s in survey()]
    flight = fly(samples)
    assert flight.started_at == samples[3].ts and flight.ended_at == samples[-3].ts


def test_without_elevation_the_height_over_the_ground_reading_is_used() -> None:
    samples = [replace(s, elevation_m=None, mode_code=None) for s in survey()]
    flight = fly(samples)
    assert flight.max_height_m == pytest.approx(80.0)
    assert flight.segments[0][5].height_m == pytest.approx(80.0)
    assert samples[5].height_m == GROUND_HEIGHT_M + 80.0


def test_nothing_to_judge_by_keeps_the_aircraft_where_it_was() -> None:
    tracker = FlightTracker()
    blank = OsdSample(ts=at(0), battery_pct=90.0)
    assert tracker.observe(UAV, blank, at(0)) == [] and tracker.state(UAV) is FlightState.GROUNDED
    tracker.observe(UAV, OsdSample(ts=at(2), mode_code=4, elevation_m=3.0), at(2))
    assert tracker.observe(UAV, replace(blank, ts=at(4)), at(4)) == [] and tracker.in_flight(UAV)


def test_a_flight_without_any_fix_has_no_track_and_no_distance() -> None:
    samples = [replace(s, lat=None, lon=None) for s in survey()]
    flight = fly(samples)
    assert (flight.distance_m, flight.segments, flight.track) == (0.0, (), ())
    assert flight.max_height_m == pytest.approx(80.0)


def test_a_very_long_flight_is_thinned_to_its_point_budget() -> None:
    config = FlightConfig(max_track_points=100)
    flight = fly(survey(), FlightTracker(config))
    points = sum(len(segment) for segment in flight.segments)
    assert 50 <= points <= 100
    reference = fly(survey())
    assert flight.segments[0][0] == reference.segments[0][0]
    assert flight.segments[-1][-1] == reference.segments[-1][-1]
    assert flight.distance_m == reference.distance_m  # measured as the fixes came, not after thinning


def test_the_flight_in_progress_can_be_looked_at() -> None:
    samples = survey()
    tracker = FlightTracker()
    feed(tracker, samples[:100])
    snapshot = tracker.current(UAV)
    assert isinstance(snapshot, Flight) and snapshot.end is None
    assert snapshot.ended_at == samples[99].ts and len(snapshot.segments[0]) == 97
    assert tracker.in_flight_count() == 1 and tracker.current(("jn-dxz", "uav-02")) is None


def test_aircraft_are_tracked_apart() -> None:
    tracker = FlightTracker()
    other = ("jn-qcc", "uav-07")
    samples = survey()
    updates: list[FlightUpdate] = []
    for sample in samples:
        updates += tracker.observe(UAV, sample, sample.ts)
        updates += tracker.observe(other, replace(sample, ts=sample.ts.replace(microsecond=5)), sample.ts)
    ended = [u.flight for u in updates if isinstance(u, FlightEnded)]
    assert {flight.aircraft for flight in ended} == {UAV, other}
    assert ended[0].distance_m == pytest.approx(ended[1].distance_m)


def test_the_transition_table_is_total() -> None:
    assert set(TRANSITIONS) == set(itertools.product(FlightState, Seen))


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"link_lost_after_s": 0.0}, "link_lost_after_s"),
        ({"flight_timeout_s": 5.0}, "longer than"),
        ({"airborne_min_speed_mps": -1.0}, "airborne_min_speed_mps"),
        ({"track_tolerance_m": math.nan}, "track_tolerance_m"),
        ({"max_track_points": 10}, "max_track_points"),
    ],
)
def test_config_out_of_range_is_refused(change: dict[str, float], says: str) -> None:
    with pytest.raises(InvalidDroneConfig, match=says):
        FlightConfig(**change)  # type: ignore[arg-type]
