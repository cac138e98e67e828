from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.video.condition import Condition, Stage
from sensors.video.model import Phase, VideoEventType
from tests.video.synth import T0


def _run(seen: str, raise_after_s: float = 1.0, clear_after_s: float = 1.0, step_s: float = 0.5) -> str:
    """Feed '1'/'0' per frame; the result marks S (START) and E (END) per frame, '.' otherwise."""
    condition = Condition(VideoEventType.OCCLUSION, raise_after_s, clear_after_s)
    marks = []
    for i, flag in enumerate(seen):
        event = condition.step(flag == "1", T0 + timedelta(seconds=i * step_s), i)
        marks.append("." if event is None else ("S" if event.phase is Phase.START else "E"))
    return "".join(marks)


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        # Raised after 1 s of consecutive frames (three at 2 fps), cleared after 1 s absent.
        ("0011100000", "....S..E.."),
        # Two frames are not long enough.
        ("0110110110", ".........."),
        # One missing frame inside an active condition does not end it...
        ("1111011110000", "..S........E."),
        # ...but one missing frame while rising starts the count again.
        ("110111000", ".....S..E"),
        ("1" * 6, "..S..."),
    ],
)
def test_transition_table(seen: str, expected: str) -> None:
    assert _run(seen) == expected


def test_zero_times_raise_and_clear_at_once() -> None:
    assert _run("0101", raise_after_s=0.0, clear_after_s=0.0) == ".SES"


def test_start_and_end_carry_onset_and_last_sighting() -> None:
    condition = Condition(VideoEventType.DEFOCUS, 1.0, 1.0)
    events = [
        condition.step(flag, T0 + timedelta(seconds=i), i, score=0.1 * i)
        for i, flag in enumerate([False, True, True, True, False, False])
    ]
    start, end = events[2], events[5]
    assert start is not None and start.phase is Phase.START
    assert start.since == T0 + timedelta(seconds=1) and start.frame_index == 2 and start.score == pytest.approx(0.2)
    assert end is not None and end.phase is Phase.END and end.clear
    assert end.since == T0 + timedelta(seconds=4) and end.frame_index == 5
    assert end.score == pytest.approx(0.3)  # the highest while active


def test_forced_end_only_when_active() -> None:
    condition = Condition(VideoEventType.MOTION, 1.0, 1.0, zone="大殿")
    assert condition.end(T0, 0) is None
    condition.step(True, T0, 0)
    assert condition.stage is Stage.RISING
    assert condition.end(T0, 1) is None
    assert not condition.active and condition.mark is None
    condition.step(True, T0, 2)
    event = condition.step(True, T0 + timedelta(seconds=1), 3)
    assert event is not None and event.zone == "大殿"
    ended = condition.end(T0 + timedelta(seconds=2), None)
    assert ended is not None and ended.phase is Phase.END and ended.frame_index is None


def test_located_condition_takes_its_zone_at_start() -> None:
    condition = Condition(VideoEventType.FLAME, 0.0, 0.0, located=True, candidate=True)
    start = condition.step(True, T0, 0, zone="碑廊")
    assert start is not None and start.zone == "碑廊" and start.candidate
    end = condition.step(False, T0, 1, zone=None)
    assert end is not None and end.zone == "碑廊"


@settings(max_examples=100, deadline=None)
@given(
    flags=st.lists(st.booleans(), max_size=60),
    gaps=st.lists(st.floats(0.0, 3.0), min_size=60, max_size=60),
    raise_after_s=st.floats(0.0, 4.0),
    clear_after_s=st.floats(0.0, 4.0),
)
def test_edges_alternate_and_respect_the_raise_time(
    flags: list[bool], gaps: list[float], raise_after_s: float, clear_after_s: float
) -> None:
    condition = Condition(VideoEventType.SCENE_CHANGE, raise_after_s, clear_after_s)
    at = T0
    expected = Phase.START
    seen_since = None
    for i, flag in enumerate(flags):
        at += timedelta(seconds=gaps[i])
        if flag and seen_since is None:
            seen_since = at
        event = condition.step(flag, at, i)
        if event is not None:
            assert event.phase is expected
            if event.phase is Phase.START:
                # Seen in every frame since `since`, for at least the raise time.
                assert flag and seen_since is not None and event.since >= seen_since
                assert (at - event.since).total_seconds() >= raise_after_s
            expected = Phase.END if expected is Phase.START else Phase.START
        if not flag:
            seen_since = None
    assert condition.active == (expected is Phase.END)
