"""Frame queues (drop oldest, one camera per thread, fair), the event outbox, and the pure helpers
around them: event messages and ids, JPEG headers, decode sizes, rate-limited log lines."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relic_guard.video.cameras_load import Camera, ZoneEvent
from relic_guard.video.publish import Outbox, OutgoingEvent, event_id, event_message, wants_snapshot
from relic_guard.video.queue import FrameQueues
from relic_guard.video.runner import LogEvery
from relic_guard.video.sources import decode_flag, jpeg_size
from sensors.native import MAX_ID_CHARS
from sensors.video import CameraConfig, Phase, VideoEvent, VideoEventType, Zone

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
HALL = Zone(name="大殿", polygon=((0.0, 0.6), (0.4, 0.6), (0.4, 1.0), (0.0, 1.0)))
WALK = Zone(name="游客步道", polygon=((0.6, 0.6), (1.0, 0.6), (1.0, 1.0)))
CAMERA = Camera(site="lingyan-si", device="cam-1", analysis=CameraConfig(zones=(HALL, WALK)),
                zone_events={"大殿": ZoneEvent.INTRUSION, "游客步道": ZoneEvent.MOTION})


# Frame queues ---------------------------------------------------------------------------------


def test_a_full_queue_drops_its_oldest_frame_and_counts_it() -> None:
    queues: FrameQueues[str, int] = FrameQueues(3)
    assert [queues.put("cam-1", n) for n in range(5)] == [None, None, None, 0, 1]
    assert queues.depth("cam-1") == 3
    counts = queues.counts("cam-1")
    assert (counts.queued, counts.dropped, counts.taken, counts.high_water) == (5, 2, 0, 3)
    assert queues.take(0) == ("cam-1", 2)  # the oldest kept frame comes first
    queues.done("cam-1")
    assert [queues.take(0), queues.take(0)] == [("cam-1", 3), None]  # busy until done
    queues.done("cam-1")
    assert queues.take(0) == ("cam-1", 4)
    queues.done("cam-1")
    assert queues.take(0) is None and queues.counts("cam-2").queued == 0


def test_cameras_take_turns_so_a_flood_starves_no_one() -> None:
    queues: FrameQueues[str, str] = FrameQueues(10)
    for n in range(4):
        queues.put("flood", f"f{n}")
    queues.put("quiet", "q0")
    order = []
    while (taken := queues.take(0)) is not None:
        order.append(taken[1])
        queues.done(taken[0])
    assert order == ["f0", "q0", "f1", "f2", "f3"]


def test_a_recording_waits_for_room_instead_of_dropping() -> None:
    queues: FrameQueues[str, int] = FrameQueues(1)
    stop = threading.Event()
    assert queues.put_waiting("file", 0, stop)
    done = threading.Event()
    result: list[bool] = []

    def second() -> None:
        result.append(queues.put_waiting("file", 1, stop, poll_s=0.01))
        done.set()

    threading.Thread(target=second).start()
    assert not done.wait(0.05)  # waiting: the queue is full
    assert queues.take(1) == ("file", 0)
    assert done.wait(2) and result == [True]
    assert queues.counts("file").dropped == 0
    stop.set()
    assert not queues.put_waiting("file", 2, stop)  # full again, and asked to stop: not queued
    assert queues.depth("file") == 1


def test_close_wakes_a_waiting_taker() -> None:
    queues: FrameQueues[str, int] = FrameQueues(2)
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(queues.take(None)))
    thread.start()
    queues.close()
    thread.join(2)
    assert out == [None]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["put", "take", "done"]), st.integers(0, 2)), max_size=60),
       st.integers(1, 4))
def test_one_camera_is_never_given_to_two_threads_and_no_frame_is_lost_uncounted(
    steps: list[tuple[str, int]], capacity: int
) -> None:
    queues: FrameQueues[int, int] = FrameQueues(capacity)
    busy: set[int] = set()
    sent = 0
    for op, camera in steps:
        if op == "put":
            queues.put(camera, sent)
            sent += 1
        elif op == "take":
            taken = queues.take(0)
            if taken is not None:
                assert taken[0] not in busy
                busy.add(taken[0])
        elif camera in busy:
            busy.discard(camera)
            queues.done(camera)
        assert all(queues.depth(c) <= capacity for c in range(3))
    assert queues.busy() == busy
    for camera in range(3):
        counts = queues.counts(camera)
        assert counts.queued == counts.taken + counts.dropped + queues.depth(camera)
        assert counts.high_water <= capacity


# Outbox ----------------------------------------------------------------------------------------


def item(n: int) -> OutgoingEvent:
    return OutgoingEvent(topic="relic/s/video/c/event", payload=str(n).encode(), type="motion")


def test_the_outbox_drops_its_oldest_event_when_full() -> None:
    outbox = Outbox(2)
    assert [outbox.put(item(n)) for n in range(4)] == [None, None, item(0), item(1)]
    assert outbox.dropped == 2 and len(outbox) == 2
    taken = outbox.take(0)
    assert taken == item(2)
    outbox.put(item(4))
    outbox.give_back(taken)  # full: the given-back event is the oldest, and goes
    assert outbox.dropped == 3
    assert [outbox.take(0), outbox.take(0), outbox.take(0)] == [item(3), item(4), None]


# Event messages ----------------------------------------------------------------------------------


def video_event(kind: VideoEventType, phase: Phase, zone: str | None = None, **extra: object) -> VideoEvent:
    return VideoEvent(type=kind, phase=phase, at=T0 + timedelta(seconds=3), frame_index=7,
                      since=T0 + timedelta(seconds=1.5), zone=zone, **extra)  # type: ignore[arg-type]


def test_motion_in_a_zone_goes_out_as_the_zone_says_with_its_snapshot() -> None:
    event = video_event(VideoEventType.MOTION, Phase.START, "大殿", score=0.8, detail={"zone_share": 0.12})
    message = event_message(event, CAMERA, prefix="relic", snapshot="https://rg.example.cn/evidence/ab.jpg")
    assert message.topic == "relic/lingyan-si/video/cam-1/event" and message.type == "intrusion"
    body = json.loads(message.payload)
    assert body == {
        "ts": "2026-11-27T14:00:03.000+00:00", "id": "vid:intrusion:start:1795788001500:大殿", "type": "intrusion",
        "clear": False, "score": 0.8, "since": "2026-11-27T14:00:01.500+00:00", "zone": "大殿",
        "snapshot": "https://rg.example.cn/evidence/ab.jpg", "armed": True, "analytic": "motion", "detail": {"zone_share": 0.12},
    }
    walk = json.loads(event_message(video_event(VideoEventType.MOTION, Phase.END, "游客步道"), CAMERA,
                                    prefix="relic").payload)
    assert (walk["type"], walk["clear"], "analytic" in walk, "snapshot" in walk) == ("motion", True, False, False)


def test_smoke_is_a_candidate_and_video_loss_has_no_zone() -> None:
    smoke = json.loads(event_message(video_event(VideoEventType.SMOKE, Phase.START, candidate=True, score=0.4),
                                     CAMERA, prefix="relic").payload)
    assert (smoke["type"], smoke["candidate"], "zone" in smoke) == ("smoke", True, False)
    loss = json.loads(event_message(video_event(VideoEventType.VIDEO_LOSS, Phase.START), CAMERA,
                                    prefix="p").payload)
    assert loss["type"] == "video_loss" and "candidate" not in loss and loss["id"].startswith("vid:video_loss:start:")


def test_an_event_id_is_stable_and_tells_apart_what_differs() -> None:
    ids = {
        event_id(t, p, T0 + timedelta(milliseconds=ms), z)
        for t in ("intrusion", "motion") for p in Phase for ms in (0, 1) for z in (None, "大殿", "碑廊")
    }
    assert len(ids) == 2 * 2 * 2 * 3
    assert event_id("motion", Phase.START, T0, "殿" * 64) == event_id("motion", Phase.START, T0, "殿" * 64)
    assert len(event_id("scene_change", Phase.START, T0, "殿" * 64)) <= MAX_ID_CHARS


@pytest.mark.parametrize(("kind", "phase", "frame_index", "wanted"), [
    (VideoEventType.OCCLUSION, Phase.START, 3, True),
    (VideoEventType.OCCLUSION, Phase.END, 3, False),
    (VideoEventType.MOTION, Phase.END, 3, True),
    (VideoEventType.FLAME, Phase.END, 3, True),
    (VideoEventType.MOTION, Phase.END, None, False),  # ended by close(): no frame decided it
    (VideoEventType.VIDEO_LOSS, Phase.START, None, False),
])
def test_which_events_keep_their_frame(kind: VideoEventType, phase: Phase, frame_index: int | None,
                                       wanted: bool) -> None:
    event = VideoEvent(type=kind, phase=phase, at=T0, frame_index=frame_index, since=T0)
    assert wants_snapshot(event) is wanted


# JPEG headers and decode sizes ----------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(320, 180), (1920, 1080), (64, 4000), (1, 1)])
def test_the_jpeg_header_gives_the_frame_size(width: int, height: int) -> None:
    ok, data = cv2.imencode(".jpg", np.zeros((height, width, 3), np.uint8))
    assert ok and jpeg_size(bytes(data)) == (width, height)
    ok, progressive = cv2.imencode(".jpg", np.zeros((height, width), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok and jpeg_size(bytes(progressive)) == (width, height)


@pytest.mark.parametrize("data", [b"", b"GIF89a", b"\xff\xd8", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\xff\xd8\x00\x00"])
def test_no_size_is_made_up_for_what_is_not_a_readable_jpeg(data: bytes) -> None:
    assert jpeg_size(data) is None


@pytest.mark.parametrize(("width", "flag"), [
    (None, cv2.IMREAD_COLOR), (320, cv2.IMREAD_COLOR), (639, cv2.IMREAD_COLOR), (640, cv2.IMREAD_REDUCED_COLOR_2),
    (1280, cv2.IMREAD_REDUCED_COLOR_4), (1920, cv2.IMREAD_REDUCED_COLOR_4), (3840, cv2.IMREAD_REDUCED_COLOR_8),
])
def test_frames_are_decoded_no_smaller_than_the_analysis_width(width: int | None, flag: int) -> None:
    assert decode_flag(width, 320) == flag


def test_a_log_line_at_most_once_a_minute_counting_what_it_stands_for() -> None:
    now = [0.0]
    every = LogEvery(60.0, lambda: now[0])
    assert every.due("cam-1") == 1
    assert [every.due("cam-1") for _ in range(3)] == [None, None, None]
    assert every.due("cam-2") == 1
    now[0] = 60.0
    assert every.due("cam-1") == 4
