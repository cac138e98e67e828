from __future__ import annotations

from datetime import timedelta

import cv2
import pytest

from sensors.video import Analyzer, CameraConfig, Phase, TamperConfig, VideoEventType
from tests.video.support import feed, labelled, run_scenario
from tests.video.synth import Bump, Cover, Scenario

OCCLUSION, DEFOCUS, SCENE = VideoEventType.OCCLUSION, VideoEventType.DEFOCUS, VideoEventType.SCENE_CHANGE
TAMPER = (OCCLUSION, DEFOCUS, SCENE)


@pytest.mark.parametrize(
    ("name", "kind", "start_s", "end_s", "raise_s", "clear_s"),
    [
        ("covered", OCCLUSION, 12, 30, 5, 2),  # a hand: dark
        ("covered_paper", OCCLUSION, 15, 35, 5, 2),  # paper: bright, uniform
        ("defocus", DEFOCUS, 12, 32, 5, 3),
        ("bump_back", SCENE, 12, 28, 5, 3),  # knocked, then put back
    ],
)
def test_raised_once_after_the_raise_time_and_cleared_once(
    name: str, kind: VideoEventType, start_s: float, end_s: float, raise_s: float, clear_s: float
) -> None:
    run = labelled(name)
    (detection,) = run.of(kind)
    assert detection.start_s == pytest.approx(start_s + raise_s, abs=0.5)
    assert detection.end_s == pytest.approx(end_s + clear_s, abs=0.5)
    assert [d.type for d in run.found() if d.type in TAMPER] == [kind]


def test_a_camera_knocked_away_stays_in_scene_change() -> None:
    run = labelled("bump")
    (start,) = run.starts(SCENE)
    assert (start.at - run.scenario.start).total_seconds() == pytest.approx(20.0)
    assert start.detail["shift_share"] == pytest.approx(0.058, abs=0.01)  # the bump: 5 % across, 3 % down
    ends = [e for e in run.events if e.type is SCENE and e.phase is Phase.END]
    assert len(ends) == 1 and ends[0].frame_index is None  # only close() ended it


@pytest.mark.parametrize(
    "name",
    [
        "walk_in_out",
        "crowd",
        "dusk",
        "lights_switched",
        "fluorescent",
        "thunderstorm",
        "night_switch",
        "rain_walker",
        "smoke",
        "flame",
    ],
)
def test_light_weather_and_visitors_are_not_tamper(name: str) -> None:
    assert [d for d in labelled(name).found() if d.type in TAMPER] == []


def test_bump_at_dusk_is_seen_through_the_changing_light() -> None:
    assert [d.type for d in labelled("bump_at_dusk").found()] == [SCENE]


def test_occlusion_reports_the_blank_share_and_is_not_also_defocus() -> None:
    run = labelled("covered")
    (start,) = run.starts(OCCLUSION)
    assert start.detail["blank_share"] >= 0.75 and start.score >= 0.75
    assert run.of(DEFOCUS) == [] and run.of(SCENE) == []


def test_a_shorter_cover_than_the_raise_time_raises_nothing() -> None:
    scenario = Scenario("hand_wave", 30, (Cover(12, 15),))
    assert run_scenario(scenario).found() == []


def test_raise_time_is_configurable() -> None:
    scenario = Scenario("hand_wave", 30, (Cover(12, 15),))
    run = run_scenario(scenario, CameraConfig(tamper=TamperConfig(occlusion_raise_after_s=1.0)))
    assert [d.type for d in run.found()] == [OCCLUSION]


def test_accepting_the_new_view_ends_the_scene_change_for_good() -> None:
    scenario = Scenario("re_aimed", 40, (Bump(10),))
    analyzer = Analyzer(CameraConfig())
    frames = list(scenario.frames())
    events = []
    for at, frame in frames[:40]:  # bumped at 10 s, raised at 15 s
        events += analyzer.feed(frame, at)
    assert [(e.type, e.phase) for e in events] == [(SCENE, Phase.START)]
    ended = analyzer.accept_view(frames[39][0] + timedelta(seconds=0.1))
    assert [(e.type, e.phase) for e in ended] == [(SCENE, Phase.END)]
    later = []
    for at, frame in frames[40:]:
        later += analyzer.feed(frame, at)
    assert later == [] and analyzer.active() == []


def test_accepting_the_view_when_nothing_is_raised_says_nothing() -> None:
    analyzer = Analyzer(CameraConfig())
    scenario = Scenario("quiet", 8)
    assert feed(analyzer, scenario) == []
    assert analyzer.accept_view(scenario.start) == []


def test_a_camera_turned_to_another_view_is_a_scene_change() -> None:
    scenario = Scenario("turned", 30)
    analyzer = Analyzer(CameraConfig())
    events = []
    for index, (at, frame) in enumerate(scenario.frames()):
        # From 10 s on the camera looks elsewhere: here, the mirror image of the courtyard.
        events += analyzer.feed(cv2.flip(frame, 1) if index >= 20 else frame, at)
    assert [(e.type, e.phase, (e.at - scenario.start).total_seconds()) for e in events] == [(SCENE, Phase.START, 15.0)]


def test_a_camera_covered_from_the_start_learns_its_baselines_once_uncovered() -> None:
    scenario = Scenario("installed_covered", 40, (Cover(0, 10), Bump(25)))
    found = run_scenario(scenario).found()
    # Covered from the first frame: raised once the raise time passed; the scene reference and
    # sharpness baseline are learned after the cover comes off, so the bump is still seen.
    assert [(d.type, d.start_s) for d in found] == [(OCCLUSION, 5.0), (SCENE, 30.0)]
