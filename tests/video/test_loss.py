from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.video import Phase, VideoConfigError, VideoEventType, VideoLossWatch
from tests.video.synth import T0


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_declared_once_after_the_timeout_and_ended_by_the_next_frame() -> None:
    watch = VideoLossWatch(timeout_s=10)
    assert watch.seen("cam-01", T0) is None
    assert watch.due(T0 + s(9.9)) == []
    ((camera, start),) = watch.due(T0 + s(10))
    assert camera == "cam-01" and start.type is VideoEventType.VIDEO_LOSS and start.phase is Phase.START
    assert start.since == T0 and start.at == T0 + s(10) and start.frame_index is None
    assert start.detail["silent_s"] == 10
    assert watch.due(T0 + s(60)) == []  # declared once
    assert watch.lost() == {"cam-01": T0}
    end = watch.seen("cam-01", T0 + s(61))
    assert end is not None and end.phase is Phase.END and end.clear and end.since == T0 and end.at == T0 + s(61)
    assert watch.lost() == {}
    assert watch.due(T0 + s(70)) == []
    assert [c for c, _ in watch.due(T0 + s(71))] == ["cam-01"]


def test_frames_keep_a_camera_alive_and_only_the_silent_ones_are_declared() -> None:
    watch = VideoLossWatch(timeout_s=5)
    for camera in ("a", "b", "c"):
        watch.seen(camera, T0)
    for t in range(1, 10):
        watch.seen("b", T0 + s(t))
    assert [c for c, _ in watch.due(T0 + s(9))] == ["a", "c"]


def test_per_camera_timeouts_stick() -> None:
    watch = VideoLossWatch(timeout_s=5)
    watch.seen("snapshot-cam", T0, timeout_s=120)  # sends a still every minute
    watch.seen("stream-cam", T0)
    assert [c for c, _ in watch.due(T0 + s(60))] == ["stream-cam"]
    watch.seen("snapshot-cam", T0 + s(60))  # keeps its 120 s
    assert watch.due(T0 + s(179)) == []
    assert [c for c, _ in watch.due(T0 + s(180))] == ["snapshot-cam"]
    watch.seen("snapshot-cam", T0 + s(200), timeout_s=30)
    assert [c for c, _ in watch.due(T0 + s(230))] == ["snapshot-cam"]


def test_watch_starts_the_clock_for_a_camera_never_heard() -> None:
    watch = VideoLossWatch(timeout_s=30)
    watch.watch("cam-new", T0)
    watch.watch("cam-new", T0 + s(20))  # a second watch does not reset the clock
    assert [c for c, _ in watch.due(T0 + s(30))] == ["cam-new"]
    watch.watch("cam-new", T0 + s(40))  # nor does it end a loss
    assert watch.lost() == {"cam-new": T0}


def test_forgotten_cameras_are_never_declared() -> None:
    watch = VideoLossWatch(timeout_s=5)
    watch.seen("gone", T0)
    watch.seen("lost", T0)
    watch.due(T0 + s(5))
    watch.forget("gone")
    watch.forget("lost")
    watch.forget("never")
    assert watch.due(T0 + s(100)) == [] and watch.lost() == {}
    assert watch.seen("lost", T0 + s(101)) is None


def test_times_earlier_than_the_latest_count_as_the_latest() -> None:
    watch = VideoLossWatch(timeout_s=10)
    watch.seen("a", T0 + s(100))
    watch.seen("b", T0)  # a late report: counts as heard at 100 s, behind "a" in the queue
    assert watch.due(T0 + s(109)) == []
    assert [c for c, _ in watch.due(T0 + s(110))] == ["a", "b"]


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_bad_timeouts_are_refused(timeout: float) -> None:
    with pytest.raises(VideoConfigError, match="timeout_s"):
        VideoLossWatch(timeout_s=timeout)
    with pytest.raises(VideoConfigError, match="timeout_s"):
        VideoLossWatch(timeout_s=5).seen("a", T0, timeout_s=timeout)


@settings(max_examples=100, deadline=None)
@given(
    reports=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 50_000), st.sampled_from([None, 5_000, 20_000])
        ),
        max_size=40,
    ),
    ticks=st.lists(st.integers(0, 100_000), max_size=20),
)
def test_declared_exactly_when_silent_past_the_timeout(
    reports: list[tuple[str, int, int | None]], ticks: list[int]
) -> None:
    """Against a plain model (times in whole milliseconds): last time and timeout per camera,
    scanned in full at every tick."""
    watch = VideoLossWatch(timeout_s=10)
    last_ms: dict[str, int] = {}
    timeout_ms: dict[str, int] = {}
    lost: set[str] = set()
    latest = 0
    timeline = sorted([(t, 0, r) for r in reports for t in [r[1]]] + [(t, 1, None) for t in ticks], key=lambda e: e[:2])
    for t, _order, report in timeline:
        at = T0 + timedelta(milliseconds=t)
        if report is not None:
            camera, _, timeout = report
            latest = max(latest, t)
            end = watch.seen(camera, at, timeout_s=None if timeout is None else timeout / 1000)
            assert (end is not None) == (camera in lost)
            lost.discard(camera)
            last_ms[camera] = latest
            timeout_ms[camera] = timeout if timeout is not None else timeout_ms.get(camera, 10_000)
        else:
            declared = {camera for camera, _ in watch.due(at)}
            expected = {c for c, last in last_ms.items() if c not in lost and t - last >= timeout_ms[c]}
            assert declared == expected
            lost |= expected
