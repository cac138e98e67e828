from __future__ import annotations

from datetime import datetime, timedelta

import cv2
import numpy as np
import pytest

from sensors.video import Analyzer, CameraConfig, Phase, UnusableFrame, VideoError, VideoEventType
from tests.video.support import alternate, labelled, run_scenario
from tests.video.synth import HALL, STELE, ZONES, Cover, Scenario, Walker, detections, labelled_set

MOTION, OCCLUSION = VideoEventType.MOTION, VideoEventType.OCCLUSION


@pytest.mark.parametrize("scenario", labelled_set(320, 180), ids=lambda s: s.name)
def test_the_labelled_set_is_found_exactly(scenario: Scenario) -> None:
    """Every labelled condition of the canonical set found, nothing else raised (320×180)."""
    run = labelled(scenario.name)
    assert alternate(run.events)
    found = run.found()
    labels = scenario.labels()
    for label in labels:
        assert any(
            d.type is label.type
            and (label.type is not MOTION or d.zone == label.zone)
            and label.start_s - 2 <= d.start_s <= label.end_s + 2
            for d in found
        ), (label, found)
    assert len(found) == len(labels), (labels, found)


def test_frame_index_names_the_frame_being_fed() -> None:
    scenario = Scenario("walk", 20, (Walker(4, 16, (0.05, 0.92), (0.35, 0.8)),), ZONES)
    analyzer = Analyzer(CameraConfig(zones=ZONES))
    for index, (at, frame) in enumerate(scenario.frames()):
        assert analyzer.frames_fed == index
        for event in analyzer.feed(frame, at):
            assert event.frame_index == index and event.at == at
    assert analyzer.frames_fed == 40


def test_close_ends_what_is_active_and_nothing_else() -> None:
    scenario = Scenario("stays", 20, (Walker(4, 30, (0.05, 0.92), (0.3, 0.85)), Cover(30, 40)), ZONES)
    analyzer = Analyzer(CameraConfig(zones=ZONES))
    events = []
    last = scenario.start
    for at, frame in scenario.frames():
        events += analyzer.feed(frame, at)
        last = at
    assert analyzer.active() == [(MOTION, HALL)]
    ended = analyzer.close(last + timedelta(seconds=1))
    assert [(e.type, e.zone, e.phase, e.frame_index) for e in ended] == [(MOTION, HALL, Phase.END, None)]
    assert analyzer.close(last) == [] and analyzer.active() == []


def test_a_change_of_resolution_ends_everything_and_learns_again() -> None:
    covered = Scenario("covered", 20, (Cover(2, 20),), ZONES)
    analyzer = Analyzer(CameraConfig(zones=ZONES))
    events = [e for at, frame in covered.frames() for e in analyzer.feed(frame, at)]
    assert [(e.type, e.phase) for e in events] == [(OCCLUSION, Phase.START)]
    smaller = Scenario(
        "covered", 10, (Cover(0, 10),), ZONES, width=160, height=90, start=covered.start + timedelta(seconds=20)
    )
    events = [e for at, frame in smaller.frames() for e in analyzer.feed(frame, at)]
    # Ended at the first frame of the new size, and raised again after the raise time.
    assert [(e.type, e.phase, e.frame_index) for e in events] == [
        (OCCLUSION, Phase.END, 40),
        (OCCLUSION, Phase.START, 50),
    ]


def test_a_frame_from_the_past_is_judged_at_the_latest_time() -> None:
    scenario = Scenario("cover", 16, (Cover(1, 16),))
    analyzer = Analyzer(CameraConfig())
    frames = list(scenario.frames())
    events = []
    for at, frame in frames[:-1]:
        events += analyzer.feed(frame, at)
    late = analyzer.feed(frames[-1][1], scenario.start)  # a camera clock set back
    (start,) = [e for e in events + late if e.phase is Phase.START]
    assert all(e.at >= start.since for e in events + late)
    assert analyzer.close(scenario.start)[0].at == frames[-2][0]


@pytest.mark.parametrize(("silence", "motion"), [(timedelta(minutes=5), False), (timedelta(seconds=0.5), True)])
def test_after_a_long_silence_the_background_is_learned_again(silence: timedelta, motion: bool) -> None:
    before = Scenario("quiet", 10, (), ZONES)
    # A cart appears in the hall: while the stream was down (no motion: the scene is learned
    # again), or between two frames (motion).
    cart = Walker(0, 100, (0.2, 0.9), (0.2, 0.9), size=(0.08, 0.25))
    after = Scenario("cart", 10, (cart,), ZONES, start=before.start + timedelta(seconds=9.5) + silence)
    analyzer = Analyzer(CameraConfig(zones=ZONES))
    assert [e for at, frame in before.frames() for e in analyzer.feed(frame, at)] == []
    events = [e for at, frame in after.frames() for e in analyzer.feed(frame, at)]
    assert [(e.type, e.zone) for e in events] == ([(MOTION, HALL)] if motion else [])


def test_grey_frames_and_single_channel_frames_are_accepted() -> None:
    scenario = Scenario("walk", 20, (Walker(4, 16, (0.05, 0.92), (0.35, 0.8)),), ZONES)
    for convert in (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY),
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)[:, :, None],
    ):
        analyzer = Analyzer(CameraConfig(zones=ZONES))
        events = [e for at, frame in scenario.frames() for e in analyzer.feed(convert(frame), at)]
        assert [(e.type, e.zone) for e in events if e.phase is Phase.START] == [(MOTION, HALL)]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((180, 320), np.float32), "8-bit"),
        (np.zeros((180, 320, 4), np.uint8), "grey .* or BGR"),
        (np.zeros((180,), np.uint8), "grey .* or BGR"),
        (np.zeros((60, 100, 3), np.uint8), "too small"),
        (np.zeros((60, 400), np.uint8), "too small"),  # 320 × 48 after scaling
        ([[0, 0], [0, 0]], "numpy array"),
    ],
)
def test_unusable_frames_raise(frame: object, message: str) -> None:
    analyzer = Analyzer(CameraConfig())
    with pytest.raises(UnusableFrame, match=message) as caught:
        analyzer.feed(frame, datetime(2026, 1, 1).astimezone())  # type: ignore[arg-type]
    assert isinstance(caught.value, VideoError) and isinstance(caught.value, ValueError)
    assert analyzer.frames_fed == 0


def test_a_large_frame_is_scaled_not_refused() -> None:
    analyzer = Analyzer(CameraConfig())
    assert analyzer.feed(np.zeros((2000, 4000), np.uint8), datetime(2026, 1, 1).astimezone()) == []
    assert analyzer.frames_fed == 1


def test_naive_times_are_refused() -> None:
    with pytest.raises(UnusableFrame, match="timezone-aware"):
        Analyzer(CameraConfig()).feed(np.zeros((180, 320), np.uint8), datetime(2026, 1, 1))


def test_720p_frames_raw_or_jpeg_at_a_quarter_give_the_events_of_small_frames() -> None:
    """The few 1280×720 frames of the suite: scaled by the analyzer, or decoded at a quarter
    by libjpeg (what a caller should do), they give what 320×180 frames give."""
    happenings = (Walker(3, 9, (0.95, 0.92), (0.7, 0.8)), Cover(10, 17))
    small = run_scenario(Scenario("walk", 20, happenings, ZONES))
    large = Scenario("walk", 20, happenings, ZONES, width=1280, height=720)
    raw, reduced = Analyzer(CameraConfig(zones=ZONES)), Analyzer(CameraConfig(zones=ZONES))
    raw_events, reduced_events = [], []
    for at, frame in large.frames():
        jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1]
        quarter = cv2.imdecode(jpeg, cv2.IMREAD_REDUCED_COLOR_4)
        assert quarter is not None and quarter.shape == (180, 320, 3)
        raw_events += raw.feed(frame, at)
        reduced_events += reduced.feed(quarter, at)
    end = large.start + timedelta(seconds=20)
    raw_events += raw.close(end)
    reduced_events += reduced.close(end)
    assert [(e.type, e.zone, e.phase) for e in reduced_events] == [(e.type, e.zone, e.phase) for e in raw_events]
    found = detections(raw_events, large.start)
    assert (
        [(d.type, d.zone) for d in found]
        == [(d.type, d.zone) for d in small.found()]
        == [
            (MOTION, STELE),
            (OCCLUSION, None),
        ]
    )
    for a, b in zip(found, small.found(), strict=True):
        assert abs(a.start_s - b.start_s) <= 1.0 and abs(a.end_s - b.end_s) <= 1.0
