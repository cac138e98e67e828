"""Properties over random scenarios: light and weather never make motion; edges always pair."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors.video import Analyzer, CameraConfig, Phase, VideoEventType
from tests.video.support import alternate, feed
from tests.video.synth import (
    ZONES,
    Bump,
    Cover,
    Defocus,
    Flame,
    Flash,
    Happening,
    Lighting,
    NightSwitch,
    Rain,
    Scenario,
    Smoke,
    Walker,
)

DURATION_S = 16.0
PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

times = st.floats(0.0, DURATION_S)
gains = st.floats(0.6, 1.6)
places = st.tuples(st.floats(0.0, 1.0), st.floats(0.5, 1.0))


@st.composite
def lighting(draw: st.DrawFn) -> Happening:
    start = draw(times)
    return Lighting(start, start + draw(st.floats(0.0, 15.0)), 1.0, draw(gains))


light_and_weather = st.one_of(
    lighting(),
    st.builds(Flash, times, st.floats(0.2, 1.0), st.floats(1.5, 3.0)),
    st.builds(NightSwitch, times),
    st.builds(Rain, st.just(0.0), st.just(DURATION_S), st.floats(50.0, 400.0)),
)


@st.composite
def anything(draw: st.DrawFn) -> Happening:
    start = draw(times)
    end = start + draw(st.floats(1.0, 15.0))
    happening: Happening = draw(
        st.one_of(
            light_and_weather,
            st.builds(Walker, st.just(start), st.just(end), places, places),
            st.just(Cover(start, end)),
            st.just(Defocus(start, end)),
            st.builds(Bump, st.just(start), st.tuples(st.floats(-0.06, 0.06), st.floats(-0.06, 0.06)), st.just(end)),
            st.builds(Smoke, st.just(start), st.just(end), places),
            st.builds(Flame, st.just(start), st.just(end), places),
        )
    )
    return happening


@PROPERTY
@given(
    happenings=st.lists(light_and_weather, max_size=4),
    noise=st.floats(0.0, 5.0),
    seed=st.integers(0, 3),
)
def test_light_noise_and_rain_never_make_motion(happenings: list[Happening], noise: float, seed: int) -> None:
    scenario = Scenario("weather", DURATION_S, tuple(happenings), ZONES, seed=seed, noise_levels=noise)
    events = feed(Analyzer(CameraConfig(zones=ZONES)), scenario)
    assert [e for e in events if e.type is VideoEventType.MOTION] == []


@PROPERTY
@given(happenings=st.lists(anything(), max_size=5), seed=st.integers(0, 3), small=st.booleans())
def test_events_always_come_in_start_end_pairs(happenings: list[Happening], seed: int, small: bool) -> None:
    size = (160, 90) if small else (320, 180)
    scenario = Scenario("anything", DURATION_S, tuple(happenings), ZONES, *size, seed=seed)
    analyzer = Analyzer(CameraConfig(zones=ZONES))
    events = feed(analyzer, scenario)
    assert alternate(events)
    assert analyzer.active() == []
    starts = sum(1 for e in events if e.phase is Phase.START)
    assert starts * 2 == len(events)
    for event in events:
        assert event.since <= event.at
        assert 0.0 <= event.score <= 1.0
        assert event.candidate == (event.type in (VideoEventType.SMOKE, VideoEventType.FLAME))
