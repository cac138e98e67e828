"""Helpers shared by the video tests: run a scenario through an analyzer, once per session."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from sensors.video import Analyzer, BackgroundModel, CameraConfig, MotionConfig, Phase, VideoEvent, VideoEventType
from tests.video.synth import Detection, Scenario, detections, labelled_set


@dataclass(frozen=True)
class Run:
    scenario: Scenario
    events: tuple[VideoEvent, ...]  # as fed, then what close() ended
    frames: int

    def found(self) -> list[Detection]:
        return detections(list(self.events), self.scenario.start)

    def of(self, kind: VideoEventType) -> list[Detection]:
        return [d for d in self.found() if d.type is kind]

    def starts(self, kind: VideoEventType) -> list[VideoEvent]:
        return [e for e in self.events if e.type is kind and e.phase is Phase.START]


def feed(analyzer: Analyzer, scenario: Scenario) -> list[VideoEvent]:
    events: list[VideoEvent] = []
    last = scenario.start
    for at, frame in scenario.frames():
        events += analyzer.feed(frame, at)
        last = at
    return events + analyzer.close(last)


def run_scenario(scenario: Scenario, config: CameraConfig | None = None) -> Run:
    analyzer = Analyzer(config if config is not None else CameraConfig(zones=scenario.zones))
    events = feed(analyzer, scenario)
    return Run(scenario, tuple(events), analyzer.frames_fed)


@cache
def labelled(name: str, width: int = 320, background: BackgroundModel = BackgroundModel.RUNNING_AVERAGE) -> Run:
    """The scenario `name` of the canonical labelled set, analysed (cached for the session)."""
    scenario = next(s for s in labelled_set(width, width * 9 // 16) if s.name == name)
    return run_scenario(scenario, CameraConfig(zones=scenario.zones, motion=MotionConfig(background=background)))


def alternate(events: Iterable[VideoEvent]) -> bool:
    """For every (type, zone), phases go START, END, START, … and never twice the same."""
    last: dict[tuple[VideoEventType, str | None], Phase] = {}
    for event in events:
        key = (event.type, event.zone)
        expected = Phase.END if last.get(key) is Phase.START else Phase.START
        if event.phase is not expected:
            return False
        last[key] = event.phase
    return True
