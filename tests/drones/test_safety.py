"""Safety events: battery against the way home, lost links, returns and forced landings."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from relic_guard.drones.errors import InvalidDroneConfig
from relic_guard.drones.osd import OsdSample
from relic_guard.drones.projection import LocalProjection
from relic_guard.drones.safety import LinkWatch, SafetyConfig, SafetyEvent, SafetyKind, SafetyMonitor

from .support import UAV, at

PLANE = LocalProjection(36.67, 117.0)


def outbound(t: float, *, drain_pct_per_s: float = 1 / 6, speed_mps: float = 8.0, mode_code: int = 5) -> OsdSample:
    """Flying due east from home at `speed_mps`, `t` seconds after takeoff, 80 m up."""
    lon, lat = PLANE.inverse(speed_mps * t, 0.0)
    return OsdSample(
        ts=at(t),
        lat=lat,
        lon=lon,
        elevation_m=80.0,
        mode_code=mode_code,
        battery_pct=95.0 - drain_pct_per_s * t,
        home_distance_m=speed_mps * t,
        speed_mps=speed_mps,
    )


def run(monitor: SafetyMonitor, samples: list[OsdSample], *, in_flight: bool = True) -> list[SafetyEvent]:
    return [e for s in samples for e in monitor.observe(UAV, s, in_flight=in_flight, now=s.ts)]


def test_low_battery_is_raised_when_the_way_home_needs_more_than_is_left() -> None:
    # Drain 10 %/min, 8 m/s out: needed = 15 + (t + 80/3) / 6 (distance / speed + height / 3 m/s), so
    # 95 - t/6 falls below it at t = 226.7 s.
    monitor = SafetyMonitor()
    events = run(monitor, [outbound(t) for t in range(0, 300, 2)])
    assert len(events) == 1
    event = events[0]
    assert (event.kind, event.clear, event.ts) == (SafetyKind.LOW_BATTERY, False, at(228))
    assert event.detail["battery_pct"] == pytest.approx(95 - 228 / 6)
    assert event.detail["needed_pct"] == pytest.approx(15 + (228 + 80 / 3) / 6, abs=0.05)
    assert event.detail["home_distance_m"] == 8 * 228
    assert PLANE.forward(event.lon, event.lat) == pytest.approx((8 * 228, 0.0), abs=1e-6)  # type: ignore[arg-type]


def test_low_battery_clears_once_the_aircraft_is_close_enough_to_home() -> None:
    monitor = SafetyMonitor()
    events = run(monitor, [outbound(t) for t in range(0, 240, 2)])
    assert [e.kind for e in events] == [SafetyKind.LOW_BATTERY]
    # Turning home: 1824 m out at 228 s; the battery holds for the test while the distance shrinks.
    back = [replace(outbound(238), ts=at(240 + k), home_distance_m=1900.0 - 100.0 * k) for k in range(20)]
    events = run(monitor, back)
    assert [(e.kind, e.clear) for e in events] == [(SafetyKind.LOW_BATTERY, True)]
    # Cleared only with the hysteresis margin: needed + 3 % below the battery.
    cleared_at = events[0].detail
    assert cleared_at["battery_pct"] >= cleared_at["needed_pct"] + 3.0


def test_before_the_drain_window_the_nominal_drain_is_assumed() -> None:
    monitor = SafetyMonitor(SafetyConfig(nominal_drain_pct_per_min=6.0))
    monitor.observe(UAV, outbound(0), in_flight=True, now=at(0))
    early = outbound(60)
    # 6 %/min nominal: 0.1 %/s × (480 m / 8 m/s + 80 m / 3 m/s) + 15.
    assert monitor.needed_pct(UAV, early) == pytest.approx(15 + 0.1 * (60 + 80 / 3))
    late = outbound(180)
    monitor.observe(UAV, outbound(120), in_flight=True, now=at(120))
    # After 120 s the flight's own drain (10 %/min) is used.
    assert monitor.needed_pct(UAV, late) == pytest.approx(15 + (1 / 6) * (180 + 80 / 3))
    assert monitor.needed_pct(("jn-qcc", "uav-07"), late) is None


def test_without_home_distance_the_first_fix_is_home() -> None:
    with_distance, without = SafetyMonitor(), SafetyMonitor()
    for t in range(0, 200, 2):
        with_distance.observe(UAV, outbound(t), in_flight=True, now=at(t))
        without.observe(UAV, replace(outbound(t), home_distance_m=None), in_flight=True, now=at(t))
    sample = outbound(200)
    assert without.needed_pct(UAV, replace(sample, home_distance_m=None)) == pytest.approx(
        with_distance.needed_pct(UAV, sample), rel=1e-3
    )


def test_return_to_home_and_forced_landing_are_raised_on_entering_the_mode() -> None:
    modes = [5, 5, 9, 9, 9, 10, 5, 11, 11, 12]
    events = run(SafetyMonitor(), [outbound(2 * i, mode_code=m, drain_pct_per_s=0.0) for i, m in enumerate(modes)])
    assert [(e.kind, e.ts) for e in events] == [
        (SafetyKind.RETURN_TO_HOME, at(4)),
        (SafetyKind.FORCED_LANDING, at(14)),
        (SafetyKind.FORCED_LANDING, at(18)),
    ]
    assert events[0].detail == {"battery_pct": 95.0, "home_distance_m": 32.0}


def test_a_redelivered_sample_does_not_raise_the_return_home_again() -> None:
    monitor = SafetyMonitor()
    flying, returning = outbound(0, drain_pct_per_s=0.0), outbound(2, mode_code=9, drain_pct_per_s=0.0)
    events = run(monitor, [flying, returning, flying, returning, outbound(4, mode_code=9, drain_pct_per_s=0.0)])
    assert [(e.kind, e.ts) for e in events] == [(SafetyKind.RETURN_TO_HOME, at(2))]


def test_silence_in_flight_is_a_lost_link_until_the_next_sample() -> None:
    monitor = SafetyMonitor()
    run(monitor, [outbound(t, drain_pct_per_s=0.0) for t in range(0, 20, 2)])
    assert monitor.tick(at(18 + 9.9)) == []
    assert monitor.links.next_due() == at(28)
    lost = monitor.tick(at(28))
    assert [(e.kind, e.clear, e.detail) for e in lost] == [(SafetyKind.LINK_LOST, False, {"silent_s": 10.0})]
    assert lost[0].lat is not None
    assert monitor.tick(at(60)) == []
    back = run(monitor, [outbound(62, drain_pct_per_s=0.0)])
    assert [(e.kind, e.clear) for e in back] == [(SafetyKind.LINK_LOST, True)]
    # A new silence is a new loss.
    assert [e.kind for e in monitor.tick(at(72))] == [SafetyKind.LINK_LOST]


def test_the_gateway_saying_not_connected_is_a_lost_link_at_once() -> None:
    monitor = SafetyMonitor()
    run(monitor, [outbound(t, drain_pct_per_s=0.0) for t in range(0, 10, 2)])
    gone = OsdSample(ts=at(10), mode_code=14)
    events = run(monitor, [gone, replace(gone, ts=at(12)), replace(gone, ts=at(14))])
    assert [(e.kind, e.detail) for e in events] == [(SafetyKind.LINK_LOST, {"mode_code": 14.0})]
    assert monitor.tick(at(60)) == []  # already lost: not again
    events = run(monitor, [outbound(62, drain_pct_per_s=0.0)])
    assert [(e.kind, e.clear) for e in events] == [(SafetyKind.LINK_LOST, True)]


def test_landing_ends_every_condition() -> None:
    monitor = SafetyMonitor()
    run(monitor, [outbound(t) for t in range(0, 240, 2)])
    assert monitor.tick(at(300)) != []
    landed = OsdSample(ts=at(900), mode_code=0, battery_pct=12.0, elevation_m=0.0)
    events = monitor.observe(UAV, landed, in_flight=False, now=at(900))
    assert sorted((e.kind, e.clear) for e in events) == [(SafetyKind.LINK_LOST, True), (SafetyKind.LOW_BATTERY, True)]
    assert monitor.observe(UAV, replace(landed, ts=at(902)), in_flight=False, now=at(902)) == []
    assert monitor.tick(at(2000)) == []


def test_an_aircraft_on_the_ground_raises_nothing() -> None:
    monitor = SafetyMonitor()
    parked = OsdSample(ts=at(0), mode_code=0, battery_pct=3.0, home_distance_m=5000.0, elevation_m=0.0)
    assert monitor.observe(UAV, parked, in_flight=False, now=at(0)) == []
    assert monitor.observe(UAV, replace(parked, ts=at(2), mode_code=14), in_flight=False, now=at(2)) == []
    assert monitor.tick(at(3600)) == []


def test_link_watch_declares_each_silence_once_least_recently_heard_first() -> None:
    watch = LinkWatch(10.0)
    a, b, c = ("s", "a"), ("s", "b"), ("s", "c")
    assert watch.next_due() is None
    watch.heard(a, at(0))
    watch.heard(b, at(3))
    watch.heard(c, at(6))
    watch.heard(a, at(7))  # a is heard again: now the last in line
    assert watch.next_due() == at(13)
    assert watch.due(at(12.9)) == []
    assert watch.due(at(16)) == [(b, 13.0), (c, 10.0)]
    assert watch.due(at(16)) == [] and watch.is_lost(b)
    assert watch.heard(b, at(20)) is True and watch.heard(b, at(22)) is False
    assert watch.lost(a) is True and watch.lost(a) is False
    watch.forget(a)
    assert not watch.is_lost(a)
    assert watch.due(at(100)) == [(b, 100.0 - 22.0)]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"reserve_pct": -1.0}, "reserve_pct"),
        ({"descent_speed_mps": 0.0}, "descent_speed_mps"),
        ({"link_lost_after_s": float("inf")}, "link_lost_after_s"),
    ],
)
def test_config_out_of_range_is_refused(change: dict[str, float], says: str) -> None:
    with pytest.raises(InvalidDroneConfig, match=says):
        SafetyConfig(**change)
