"""The video process against a real Mosquitto: synthetic camera frames in (MQTT `frame` messages
with their time in the `ts` property, and a recording read through OpenCV), video events with
evidence snapshots out, video loss, overload, a broker outage and Frigate snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from relic_guard.embedded import EmbeddedMosquitto
from relic_guard.video.runner import VideoService
from tests.video.synth import HALL, Cover, Scenario, Walker
from tests.video_runtime.support import (
    FRIGATE_CAMERA,
    PUBLIC_URL,
    EventListener,
    FramePublisher,
    FrigateApi,
    ManualClock,
    camera,
    jpeg,
    registry,
    running,
    video_config,
    wait_until,
)

EVIDENCE = f"{PUBLIC_URL}/evidence/"


@pytest.fixture
def listener(mosquitto: EmbeddedMosquitto) -> Any:
    found = EventListener(mosquitto.port)
    yield found
    found.close()


@pytest.fixture
def frames(mosquitto: EmbeddedMosquitto) -> Any:
    publisher = FramePublisher(mosquitto.port)
    yield publisher
    publisher.close()


def service(tmp_path: Path, mosquitto: EmbeddedMosquitto, clock: ManualClock, cameras: list[Any],
            **video: Any) -> VideoService:
    config = video_config(tmp_path, mosquitto.url, **video)
    return VideoService(config, registry(), {c.key: c for c in cameras}, clock=clock.now,
                        protocol=mqtt.MQTTv5, loss_tick_s=0.02)


def stored(tmp_path: Path, url: str) -> bytes:
    assert url.startswith(EVIDENCE) and url.endswith(".jpg")
    digest = url.removeprefix(EVIDENCE).removesuffix(".jpg")
    return (tmp_path / "evidence" / digest[:2] / f"{digest}.jpg").read_bytes()


def send(frames: FramePublisher, scenario: Scenario, clock: ManualClock, device: str = "cam-1",
         site: str = "chengziya") -> list[bytes]:
    """Publish the scenario's frames as fast as the broker takes them, stamped a minute ago onward."""
    sent = []
    for at, frame in scenario.frames():
        data = jpeg(frame)
        frames.frame(site, device, data, clock.start - timedelta(seconds=60) + (at - scenario.start))
        sent.append(data)
    return sent


def test_a_person_walking_into_an_armed_zone_is_an_intrusion_with_its_snapshot(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, listener: EventListener, frames: FramePublisher
) -> None:
    clock = ManualClock()
    walk = Scenario("walk", 12, (Walker(3, 12, (0.05, 0.95), (0.3, 0.85)),))
    with running(service(tmp_path, mosquitto, clock, [camera()])):
        sent = send(frames, walk, clock)
        topic, body = listener.wait_for(lambda _t, b: b["type"] == "intrusion", "intrusion event")
    assert topic == "relic/chengziya/video/cam-1/event"
    start = clock.start - timedelta(seconds=60)
    assert body["zone"] == HALL and body["clear"] is False and body["analytic"] == "motion"
    assert datetime.fromisoformat(body["ts"]) == start + timedelta(seconds=4)  # the frame's own time
    assert body["id"] == f"vid:intrusion:start:{round(datetime.fromisoformat(body['since']).timestamp() * 1000)}:{HALL}"
    assert 0 < body["score"] <= 1
    snapshot = stored(tmp_path, body["snapshot"])
    assert snapshot == sent[8]  # the camera's own JPEG of the frame that decided it, byte for byte
    image = cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (180, 320, 3)
    assert [b["type"] for _, b in listener.events] == ["intrusion"]  # nothing else in a quiet courtyard


def test_a_covered_lens_is_an_occlusion_and_old_evidence_is_swept(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, listener: EventListener, frames: FramePublisher
) -> None:
    clock = ManualClock()
    video = service(tmp_path, mosquitto, clock, [camera("lingyan-si", "cam-2", zones=())],
                    evidence_retention_days=30)
    old = video.evidence.put(jpeg(np.zeros((90, 160, 3), np.uint8)), now=clock.start - timedelta(days=31))
    kept = video.evidence.put(jpeg(np.ones((90, 160, 3), np.uint8)), now=clock.start - timedelta(days=29))
    with running(video):
        send(frames, Scenario("cover", 8, (Cover(2, 8),)), clock, "cam-2", "lingyan-si")
        topic, body = listener.wait_for(lambda _t, b: b["type"] == "occlusion", "occlusion event")
        wait_until(lambda: not old.path.exists(), "the sweep at start")
    assert kept.path.exists()
    assert topic == "relic/lingyan-si/video/cam-2/event"
    assert body["clear"] is False and "zone" not in body and body["score"] > 0.75
    image = cv2.imdecode(np.frombuffer(stored(tmp_path, body["snapshot"]), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None and float(image.mean()) < 40  # the dark hand over the lens


def test_a_camera_that_stops_sending_is_a_video_loss_until_it_sends_again(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, listener: EventListener, frames: FramePublisher
) -> None:
    clock = ManualClock()
    quiet = [jpeg(frame) for _, frame in Scenario("quiet", 1.5, ()).frames()]
    with running(service(tmp_path, mosquitto, clock, [camera()], video_loss_s=30.0)) as video:
        for n, data in enumerate(quiet[:2]):
            frames.frame("chengziya", "cam-1", data, clock.start + timedelta(seconds=n / 2))
        wait_until(lambda: video.analysed == 2, "two frames analysed")
        clock.advance(30.1)
        _, lost = listener.wait_for(lambda _t, b: b["type"] == "video_loss", "video loss")
        assert lost["clear"] is False and "snapshot" not in lost
        assert datetime.fromisoformat(lost["since"]) == clock.start  # the last frame's receive time
        frames.frame("chengziya", "cam-1", quiet[2], clock.now())
        _, back = listener.wait_for(lambda _t, b: b["type"] == "video_loss" and b["clear"], "video back")
    assert datetime.fromisoformat(back["ts"]) == clock.now()
    assert [(b["type"], b["clear"]) for _, b in listener.events] == [("video_loss", False), ("video_loss", True)]


def test_a_recording_is_read_through_opencv_on_its_own_timeline(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, listener: EventListener
) -> None:
    clip = tmp_path / "门口录像.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 2.0, (320, 180))
    for _, frame in Scenario("cover", 8, (Cover(2, 8),)).frames():
        writer.write(frame)
    writer.release()
    clock = ManualClock()
    recorded = camera("lingyan-si", "cam-file", zones=(), url=f"file:{clip}")
    with running(service(tmp_path, mosquitto, clock, [recorded], queue_frames=2)) as video:
        topic, body = listener.wait_for(lambda _t, b: b["type"] == "occlusion", "occlusion from the recording")
        wait_until(lambda: video.analysed == 16, "every frame of the recording analysed")
        assert video.queues.counts(recorded.key).dropped == 0  # a recording waits: nothing dropped
    assert topic == "relic/lingyan-si/video/cam-file/event"
    # Opened at the clock's start; the 9th frame (4.0 s into the file) decided it.
    assert datetime.fromisoformat(body["ts"]) == clock.start + timedelta(seconds=4)
    image = cv2.imdecode(np.frombuffer(stored(tmp_path, body["snapshot"]), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (180, 320, 3)  # the decoded frame, encoded again


def test_frames_faster_than_analysis_are_dropped_oldest_first_and_counted(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, frames: FramePublisher
) -> None:
    clock = ManualClock()
    # Analysed at full 1280 × 720 by one thread: far slower than the broker delivers.
    heavy = camera(zones=(), analysis_width_px=1280)
    stills = [jpeg(frame) for _, frame in Scenario("big", 2.5, (), width=1280, height=720).frames()]
    with running(service(tmp_path, mosquitto, clock, [heavy], threads=1, queue_frames=2)) as video:
        for n in range(120):
            frames.frame("chengziya", "cam-1", stills[n % len(stills)], clock.start + timedelta(seconds=n / 2))
        counts = wait_until(lambda: (c := video.queues.counts(heavy.key)).queued == 120 and
                            c.taken + c.dropped == 120 and c, "every frame queued, then analysed or dropped")
        assert counts.dropped > 0 and counts.high_water == 2
        wait_until(lambda: video.analysed == counts.taken, "the frames taken analysed")
        # Still at work: the next frame is analysed too.
        frames.frame("chengziya", "cam-1", stills[0], clock.start + timedelta(seconds=61))
        wait_until(lambda: video.analysed == counts.taken + 1, "a frame after the flood analysed")
    assert video.outbox.dropped == 0


def test_events_wait_in_the_outbox_while_the_broker_is_away(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, listener: EventListener, frames: FramePublisher
) -> None:
    clock = ManualClock()
    with running(service(tmp_path, mosquitto, clock, [camera()], video_loss_s=5.0)) as video:
        frames.frame("chengziya", "cam-1", jpeg(next(Scenario("q", 1, ()).frames())[1]), clock.start)
        wait_until(lambda: video.analysed == 1, "a frame analysed")
        mosquitto.stop()
        assert video.link is not None
        wait_until(lambda: not video.link.connected.is_set(), "the video process noticing the broker gone")
        clock.advance(6)  # the camera is lost while the broker is away: the event waits
        wait_until(lambda: len(video.outbox) == 1, "the video loss in the outbox")
        mosquitto.start()
        _, lost = listener.wait_for(lambda _t, b: b["type"] == "video_loss", "video loss after the outage")
    assert lost["clear"] is False and datetime.fromisoformat(lost["ts"]) == clock.now()


def test_a_frigate_snapshot_is_fetched_once_into_the_evidence_store_and_published(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, listener: EventListener, frames: FramePublisher
) -> None:
    clock = ManualClock()
    first = jpeg(next(Scenario("gate", 1, (Walker(0, 1, (0.4, 0.9), (0.4, 0.9)),)).frames())[1])
    second = jpeg(next(Scenario("gate", 1, ()).frames())[1])
    start = (clock.start - timedelta(seconds=5)).timestamp()

    def frigate(kind: str, ident: str, has_snapshot: bool, label: str = "person") -> dict[str, Any]:
        after = {"id": ident, "camera": FRIGATE_CAMERA, "label": label, "top_score": 0.91, "start_time": start,
                 "frame_time": start + 1, "current_zones": ["北门"], "entered_zones": ["北门"],
                 "has_snapshot": has_snapshot, "false_positive": False}
        return {"type": kind, "before": after, "after": after}

    with FrigateApi({"1764200000.1-abc": first, "1764200009.2-def": second}) as api:
        video = service(tmp_path, mosquitto, clock, [], frigate_url=api.url)
        with running(video):
            frames.json("frigate/events", frigate("new", "1764200000.1-abc", False))
            frames.json("frigate/events", frigate("update", "1764200000.1-abc", True))
            frames.json("frigate/events", frigate("update", "1764200000.1-abc", True))
            frames.json("frigate/events", frigate("new", "1764200009.2-def", True, label="car"))
            listener.wait_for(lambda _t, b: b["id"] == "frigate:1764200009.2-def:snapshot", "the second snapshot")
        assert api.requests == ["/api/events/1764200000.1-abc/snapshot.jpg", "/api/events/1764200009.2-def/snapshot.jpg"]
    (topic, person), (_, car) = listener.events
    assert topic == "relic/chengziya/video/cam-1/event"
    assert person["type"] == "intrusion" and person["zone"] == "北门" and person["label"] == "person"
    assert person["id"] == "frigate:1764200000.1-abc:snapshot" and person["evidence_for"] == "frigate:1764200000.1-abc"
    assert datetime.fromisoformat(person["ts"]) == datetime.fromtimestamp(start + 1, UTC)
    assert stored(tmp_path, person["snapshot"]) == first
    assert car["type"] == "motion" and stored(tmp_path, car["snapshot"]) == second
