from __future__ import annotations

import cv2
import pytest

from sensors.video import Analyzer, CameraConfig, FireCueConfig, VideoEventType
from sensors.video.frames import as_grey
from tests.video.support import labelled, run_scenario
from tests.video.synth import HALL, STELE, ZONES, Flame, Lantern, Scenario, Smoke, Walker

FLAME, SMOKE = VideoEventType.FLAME, VideoEventType.SMOKE


def test_flame_is_a_low_confidence_candidate_in_its_zone() -> None:
    run = labelled("flame")
    (detection,) = run.of(FLAME)
    assert 12 < detection.start_s <= 12 + 8 and 35 <= detection.end_s <= 35 + 5
    (start,) = run.starts(FLAME)
    assert start.candidate and 0 < start.score <= FireCueConfig().flame_max_score
    assert start.zone == STELE  # the flame stands at x = 0.75, in the stele corridor
    assert start.detail["flicker"] >= 0.3
    assert run.of(SMOKE) == []


@pytest.mark.parametrize("name", ["lantern_and_jacket", "walk_in_out", "lights_switched", "thunderstorm", "dusk"])
def test_steady_or_moving_orange_is_not_flame(name: str) -> None:
    assert labelled(name).of(FLAME) == []


@pytest.mark.parametrize(("name", "zone"), [("smoke", HALL), ("smoke_at_dusk", STELE), ("smoke_and_visitors", STELE)])
def test_growing_grey_veil_is_a_smoke_candidate(name: str, zone: str) -> None:
    run = labelled(name)
    (detection,) = run.of(SMOKE)
    labels = [label for label in run.scenario.labels() if label.type is SMOKE]
    assert labels[0].start_s < detection.start_s <= labels[0].start_s + 15
    (start,) = run.starts(SMOKE)
    assert start.candidate and 0 < start.score <= FireCueConfig().smoke_max_score
    assert start.zone == zone
    assert run.of(FLAME) == []


@pytest.mark.parametrize(
    "name", ["walk_in_out", "crowd", "rain_walker", "defocus", "covered", "bump", "night_switch", "fluorescent"]
)
def test_visitors_weather_and_tamper_are_not_smoke(name: str) -> None:
    assert labelled(name).of(SMOKE) == []


def test_a_grey_camera_gives_no_flame_cue_but_still_smoke() -> None:
    scenario = Scenario("grey", 50, (Flame(8, 45, (0.75, 0.9)), Smoke(8, 45, (0.22, 0.92))), ZONES)
    analyzer = Analyzer(CameraConfig(zones=ZONES))
    events = []
    for at, frame in scenario.frames():
        events += analyzer.feed(as_grey(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)), at)
    kinds = {e.type for e in events}
    assert FLAME not in kinds and SMOKE in kinds


def test_a_flame_outside_every_zone_has_no_zone() -> None:
    scenario = Scenario("yard_fire", 30, (Flame(6, 28, (0.5, 0.45)),), ZONES)
    (start,) = run_scenario(scenario).starts(FLAME)
    assert start.zone is None


def test_a_slow_orange_walker_is_not_flame_either() -> None:
    slow = Walker(6, 40, (0.6, 0.95), (0.8, 0.9), clothes=(40, 160, 255))
    scenario = Scenario("slow_jacket", 45, (slow, Lantern((0.7, 0.5))), ZONES)
    assert run_scenario(scenario).of(FLAME) == []
