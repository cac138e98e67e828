"""A flight the tracker gave up on (link timeout) leaves nothing behind in the safety monitor: the
next flight is judged by its own figures, and the lost link is cleared when the aircraft is heard."""

from __future__ import annotations

import pytest

from relic_guard.drones.osd import OsdSample
from relic_guard.drones.safety import SafetyConfig, SafetyKind, SafetyMonitor
from tests.drones.support import UAV, at


def sample(t: float, battery: float, home_m: float) -> OsdSample:
    return OsdSample(ts=at(t), lat=36.67, lon=117.0, elevation_m=60.0, mode_code=5, battery_pct=battery,
                     home_distance_m=home_m, speed_mps=0.5)


def test_the_next_flight_after_an_abandoned_one_starts_afresh() -> None:
    config = SafetyConfig()
    monitor = SafetyMonitor(config)
    for t in range(0, 600, 2):  # 95 % down to 65 % over ten minutes
        monitor.observe(UAV, sample(t, 95 - t / 20, 100.0), in_flight=True, now=at(t))
    assert [e.kind for e in monitor.tick(at(700))] == [SafetyKind.LINK_LOST]
    monitor.abandon(UAV)

    # An hour later, a new flight: the way home is judged by the nominal drain, not by an
    # "hour-long flight" that used 5 % (which would make the way home look almost free).
    fresh = sample(3600, 90.0, 600.0)
    events = monitor.observe(UAV, fresh, in_flight=True, now=fresh.ts)
    assert [(e.kind, e.clear) for e in events] == [(SafetyKind.LINK_LOST, True)]
    nominal = config.reserve_pct + config.nominal_drain_pct_per_min / 60 * (
        600.0 / config.default_return_speed_mps + 60.0 / config.descent_speed_mps)
    assert monitor.needed_pct(UAV, fresh) == pytest.approx(nominal)
