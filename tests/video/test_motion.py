from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from sensors.video import SITE_TZ, Arming, BackgroundModel, CameraConfig, Phase, VideoEventType, Zone
from tests.video.support import labelled, run_scenario
from tests.video.synth import HALL, STELE, ZONES, Flash, Scenario, Walker

MOTION = VideoEventType.MOTION


def _assert_matches_labels(name: str, background: BackgroundModel = BackgroundModel.RUNNING_AVERAGE) -> None:
    run = labelled(name, background=background)
    labels = [label for label in run.scenario.labels() if label.type is MOTION]
    found = run.of(MOTION)
    assert [(d.zone) for d in found] == [label.zone for label in labels], (labels, found)
    for label, detection in zip(labels, found, strict=True):
        # Raised once the zone has moved for its minimum duration (1 s, so by the third frame)...
        assert label.start_s <= detection.start_s <= label.start_s + 1.5
        # ...and cleared once it has been still for 2 s.
        assert label.end_s <= detection.end_s <= label.end_s + 3.0


@pytest.mark.parametrize(
    "name", ["walk_in_out", "two_walkers", "crowd", "loiterer", "dusk", "night_switch", "rain_walker"]
)
def test_walkers_raise_motion_in_the_zones_they_enter(name: str) -> None:
    _assert_matches_labels(name)


@pytest.mark.parametrize("name", ["walk_in_out", "two_walkers"])
def test_mog2_background_finds_the_same_walkers(name: str) -> None:
    _assert_matches_labels(name, BackgroundModel.MOG2)


@pytest.mark.parametrize(
    "name",
    [
        "passer_by",  # walks between the zones
        "far_figure",  # too small a share of the zone
        "brief_visit",  # in the zone for less than the minimum duration
        "lights_switched",
        "fluorescent",
        "thunderstorm",  # rain and lightning
        "covered",
        "covered_paper",
        "defocus",
        "bump",
        "bump_back",
        "bump_at_dusk",
        "smoke",
    ],
)
def test_no_motion_without_someone_in_a_zone(name: str) -> None:
    assert labelled(name).of(MOTION) == []


def test_a_visitor_standing_still_stays_in_motion() -> None:
    (detection,) = labelled("loiterer").of(MOTION)
    # The visitor stands from 14 s to 38 s: one event throughout, not one per step.
    assert detection.zone == STELE and detection.start_s < 14 and detection.end_s > 38


def test_event_carries_zone_share_and_the_frame_that_decided_it() -> None:
    run = labelled("walk_in_out")
    start = run.starts(MOTION)[0]
    assert start.zone == HALL and start.frame_index == round((start.at - run.scenario.start).total_seconds() * 2)
    assert 0 < start.detail["zone_share"] < 0.2 and 0 < start.score <= 1
    assert not start.candidate


def test_lightning_relearns_and_a_later_visitor_is_still_seen() -> None:
    scenario = Scenario(
        "flash_then_walk", 30, (Flash(10), Flash(10.5), Walker(12, 25, (0.05, 0.92), (0.35, 0.8))), ZONES
    )
    found = run_scenario(scenario).of(MOTION)
    assert [(d.zone, d.start_s) for d in found] == [(HALL, 13.0)]


def test_a_change_over_half_the_frame_is_taken_for_the_light() -> None:
    # Someone right in front of the lens fills the picture: the documented price of
    # suppressing global changes is that this is no motion event.
    giant = Walker(10, 20, (0.5, 1.1), (0.52, 1.1), size=(0.9, 1.0))
    assert run_scenario(Scenario("giant", 25, (giant,), ZONES)).of(MOTION) == []


def _local(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 27, hour, minute, second, tzinfo=SITE_TZ).astimezone(UTC)


def test_zone_armed_outside_opening_hours_ends_at_opening_and_stays_quiet() -> None:
    night_only = Zone(name=HALL, polygon=ZONES[0].polygon, arming=Arming.OUTSIDE_OPEN_HOURS)
    always = Zone(name=STELE, polygon=ZONES[1].polygon)
    stand = (0.2, 0.9)
    scenario = Scenario(
        "opening_time",
        60,
        (Walker(8, 12, (0.05, 0.95), stand), Walker(12, 60, stand, stand), Walker(10, 60, (0.8, 0.9), (0.8, 0.9))),
        (night_only, always),
        start=_local(8, 29, 30),
    )
    config = CameraConfig(zones=(night_only, always), open_hours=(time(8, 30), time(17, 0)))
    run = run_scenario(scenario, config)
    hall = [e for e in run.events if e.zone == HALL]
    assert [e.phase for e in hall] == [Phase.START, Phase.END]
    # Raised before opening; ended by the opening itself (at the first frame at 08:30:00).
    assert hall[0].at < _local(8, 30)
    assert hall[1].at == _local(8, 30) and hall[1].frame_index == 60
    # The always-armed zone keeps its one event until the analyzer is closed.
    stele = [e for e in run.events if e.zone == STELE]
    assert [e.phase for e in stele] == [Phase.START, Phase.END] and stele[1].frame_index is None


def test_zone_armed_outside_opening_hours_is_quiet_while_open() -> None:
    night_only = Zone(name=HALL, polygon=ZONES[0].polygon, arming=Arming.OUTSIDE_OPEN_HOURS)
    scenario = Scenario(
        "visiting_hours", 30, (Walker(8, 25, (0.05, 0.92), (0.35, 0.8)),), (night_only,), start=_local(10, 0)
    )
    config = CameraConfig(zones=(night_only,), open_hours=(time(8, 30), time(17, 0)))
    assert run_scenario(scenario, config).of(MOTION) == []
    # The same walk after closing time is an intruder.
    after = Scenario("after_hours", 30, scenario.happenings, (night_only,), start=_local(17, 0) + timedelta(minutes=1))
    assert [d.zone for d in run_scenario(after, config).of(MOTION)] == [HALL]
