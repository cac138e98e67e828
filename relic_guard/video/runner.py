"""The video process at work: frames from MQTT and from stream readers, analysed by a pool of
threads, events and evidence out.

    MQTT frames ──(paho thread: parse, max_fps)──┐
    stream readers (one thread per url camera) ──┼─▶ FrameQueues (per camera, bounded, drop oldest)
                                                 │        │ one camera per thread at a time
                                                 │        ▼
                                                 │   analysis threads: decode, Analyzer.feed,
                                                 │   evidence for the deciding frame ─▶ Outbox
    video-loss watch (tick) ──────────────────────────────────────────────────────────▶ Outbox
    frigate/events ─▶ FrigateSnapshots (fetch, store) ────────────────────────────────▶ Outbox
                                                              VideoLink (QoS 1, window) ◀┘

Why threads: OpenCV releases the GIL in decoding and in every filter the analyzer runs, so
threads share the cores without the copies between processes; OpenCV's own threading is set to
one thread per call (`OPENCV_THREADS`), since frames of this size are too small to split and
the pool already keeps the cores busy across cameras (docs/architecture.md, Video runtime).

Times: a frame is analysed at its own time (the MQTT 5 `ts` property, else the receive time; a
stream frame at its receive time; a recording on its own timeline). Video loss is judged on the
receive clock. `clock` is injected, so tests drive time.

Shutting down does not end the conditions that are active: the camera is still covered when we
stop watching it, and an END would resolve the alert. A restarted process raises them again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import cv2

from relic_guard import metrics
from relic_guard.config import Config
from relic_guard.evidence import EvidenceError, EvidenceStore
from relic_guard.mqtt_probe import negotiate_protocol
from relic_guard.registry import Registry
from relic_guard.video.cameras_load import Camera
from relic_guard.video.frigate import FrigateSnapshots
from relic_guard.video.link import VideoLink
from relic_guard.video.publish import Outbox, OutgoingEvent, event_message, wants_snapshot
from relic_guard.video.queue import FrameQueues
from relic_guard.video.sources import (
    FPS_TOLERANCE,
    Capture,
    Image,
    QueuedFrame,
    StreamReader,
    decode,
    decode_flag,
    encode,
    jpeg_size,
    open_capture,
)
from sensors import frigate as frigate_adapter
from sensors import native
from sensors.context import ParseContext
from sensors.model import Event, Frame, Message, Rejection
from sensors.video import Analyzer, UnusableFrame, VideoEvent, VideoLossWatch

log = logging.getLogger(__name__)

OPENCV_THREADS: Final = 1
# Events held while the broker is away (a few hundred bytes each).
OUTBOX_EVENTS: Final = 10_000
# The most events handed to the broker and not yet acknowledged.
PUBLISH_WINDOW: Final = 100
LOSS_TICK_S: Final = 0.2
SWEEP_EVERY_S: Final = 86_400.0
LOG_EVERY_S: Final = 60.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class LogEvery:
    """At most one log line per key per interval; says how many happenings each line stands for."""

    def __init__(self, interval_s: float = LOG_EVERY_S, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.monotonic = monotonic
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def due(self, key: str) -> int | None:
        """Count one happening of `key`; the number since the last line when a line is due now."""
        now = self.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is None or now - last[0] >= self.interval_s:
                count = 1 if last is None else last[1] + 1
                self._last[key] = (now, 0)
                return count
            self._last[key] = (last[0], last[1] + 1)
            return None


@dataclass(slots=True)
class _CameraState:
    analyzer: Analyzer
    # Time of the last frame queued, for max_fps.
    last_queued_at: datetime | None = None


class VideoService:
    def __init__(
        self,
        config: Config,
        registry: Registry,
        cameras: Mapping[tuple[str, str], Camera],
        *,
        clock: Callable[[], datetime] = utc_now,
        protocol: int | None = None,
        opener: Callable[[str], Capture] = open_capture,
        loss_tick_s: float = LOSS_TICK_S,
    ) -> None:
        video = config.video
        self.config = config
        self.cameras = dict(cameras)
        self.clock = clock
        self.prefix = config.mqtt.topic_prefix
        self.evidence = EvidenceStore(video.evidence_dir, retention_days=video.evidence_retention_days)
        self.evidence_base_url = config.alerts.public_url.rstrip("/")
        self.ctx = ParseContext(
            directory=registry,
            retention_s=config.store.retention_days * 86400.0,
            topic_prefix=self.prefix,
        )
        self.stop = threading.Event()
        self.queues: FrameQueues[tuple[str, str], QueuedFrame] = FrameQueues(video.queue_frames)
        self.outbox = Outbox(OUTBOX_EVENTS)
        self.loss = VideoLossWatch(timeout_s=video.video_loss_s)
        self._loss_lock = threading.Lock()
        self.loss_tick_s = loss_tick_s
        self._states = {key: _CameraState(Analyzer(camera.analysis)) for key, camera in self.cameras.items()}
        self._by_label = {camera.label: camera for camera in self.cameras.values()}
        self._frame_topics = {
            f"{self.prefix}/{camera.site}/video/{camera.device}/frame": camera for camera in self.cameras.values()
        }
        self.threads = video.threads or os.cpu_count() or 1
        self.log_every = LogEvery()
        self.frigate: FrigateSnapshots | None = None
        self.topics: list[tuple[str, int]] = [(topic, 0) for topic in self._frame_topics]
        if video.frigate_url is not None and config.mqtt.frigate_enabled:
            self.frigate = FrigateSnapshots(
                video.frigate_url, self.evidence, self.evidence_base_url, self.outbox, clock, self.stop,
                prefix=self.prefix,
            )
            self.topics.append((frigate_adapter.EVENTS_TOPIC, 0))
        self.protocol = protocol
        self.link: VideoLink | None = None
        self.readers = [
            StreamReader(camera, self.accept, self.stop, clock, reconnect_min_s=config.mqtt.reconnect_min_s,
                         reconnect_max_s=config.mqtt.reconnect_max_s, opener=opener)
            for camera in self.cameras.values() if camera.url is not None
        ]
        self._workers = [
            threading.Thread(target=self._work, name=f"video-analyse-{n}", daemon=True) for n in range(self.threads)
        ]
        self._helpers = [
            threading.Thread(target=self._watch_loss, name="video-loss", daemon=True),
            threading.Thread(target=self._sweep_daily, name="video-sweep", daemon=True),
        ]
        self._analysed = 0
        self._count_lock = threading.Lock()

    @property
    def analysed(self) -> int:
        """Frames analysed since the start, over every camera."""
        with self._count_lock:
            return self._analysed

    # Lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        cv2.setNumThreads(OPENCV_THREADS)
        protocol = self.protocol if self.protocol is not None else negotiate_protocol(self.config.mqtt)
        self.link = VideoLink(self.config.mqtt, self.topics, self.on_message, self.outbox, window=PUBLISH_WINDOW,
                              protocol=protocol, received_at=self.clock)
        now = self.clock()
        with self._loss_lock:
            for camera in self.cameras.values():
                self.loss.watch(camera.label, now)
        self.link.start()
        for thread in (*self._workers, *self._helpers):
            thread.start()
        for reader in self.readers:
            reader.start()
        if self.frigate is not None:
            self.frigate.start()
        log.info(
            "video: %d camera(s) (%d read from a url), %d analysis thread(s), evidence in %s%s",
            len(self.cameras), len(self.readers), self.threads, self.evidence.folder,
            f", Frigate snapshots from {self.config.video.frigate_url}" if self.frigate is not None else "",
        )

    def close(self) -> None:
        self.stop.set()
        self.queues.close()
        started = [thread for thread in (*self._workers, *(r.thread for r in self.readers), *self._helpers)
                   if thread.ident is not None]
        if self.frigate is not None and self.frigate.thread.ident is not None:
            started.append(self.frigate.thread)
        # A reader may be inside a blocking read of a stream (up to CAPTURE_TIMEOUT_MS): all of them
        # share one deadline, and are daemon threads that do not hold the process.
        deadline = time.monotonic() + 5.0
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.link is not None:
            self.link.stop()

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set."""
        self.start()
        try:
            stop.wait()
        finally:
            self.close()
            log.info("video stopped")

    # Frames in ------------------------------------------------------------------------------------
    def on_message(self, message: Message) -> None:
        """A message of the link's subscriptions (paho's network thread)."""
        if message.topic == frigate_adapter.EVENTS_TOPIC:
            if self.frigate is not None:
                records = frigate_adapter.parse(message, self.ctx)
                if not isinstance(records, Rejection):
                    for record in records:
                        if isinstance(record, Event):
                            self.frigate.offer(record)
            return
        camera = self._frame_topics.get(message.topic)
        if camera is None:
            return
        parsed = native.parse(message, self.ctx)
        if isinstance(parsed, Rejection):
            metrics.VIDEO_FRAMES.labels(camera=camera.label, outcome="rejected").inc()
            count = self.log_every.due(f"rejected:{camera.label}")
            if count is not None:
                log.warning("camera %s: frame not analysed (%s: %s); %d such in the last minute "
                            "(the ingest quarantines them)", camera.label, parsed.reason.value, parsed.detail, count)
            return
        for record in parsed:
            if isinstance(record, Frame):
                self.accept(camera, QueuedFrame(at=record.ts, jpeg=record.jpeg), False)

    def accept(self, camera: Camera, frame: QueuedFrame, wait: bool) -> bool:
        """A frame of `camera` arrived. `wait`: wait for room rather than drop (recordings).
        False when the service is stopping and the frame was not taken."""
        received = self.clock()
        metrics.VIDEO_FRAMES.labels(camera=camera.label, outcome="received").inc()
        with self._loss_lock:
            back = self.loss.seen(camera.label, received)
        if back is not None:
            self._send(camera, back, None)
        state = self._states[camera.key]
        last = state.last_queued_at
        if last is not None and (frame.at - last).total_seconds() < FPS_TOLERANCE / camera.max_fps:
            metrics.VIDEO_FRAMES.labels(camera=camera.label, outcome="skipped").inc()
            return True
        state.last_queued_at = frame.at
        if wait:
            return self.queues.put_waiting(camera.key, frame, self.stop)
        if self.queues.put(camera.key, frame) is not None:
            metrics.VIDEO_FRAMES.labels(camera=camera.label, outcome="dropped").inc()
            count = self.log_every.due(f"dropped:{camera.label}")
            if count is not None:
                log.warning(
                    "camera %s: %d frame(s) dropped since the last such line (its queue of %d was full: analysis "
                    "is slower than the camera sends; raise [video] threads or lower the camera's max_fps)",
                    camera.label, count, self.queues.capacity,
                )
        return True

    # Analysis -------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self.stop.is_set():
            taken = self.queues.take(0.2)
            if taken is None:
                continue
            key, frame = taken
            try:
                self._analyse(self.cameras[key], frame)
            except Exception:  # one bad frame must not take the thread (and its cameras) down
                log.exception("camera %s: analysis failed on a frame", self.cameras[key].label)
            finally:
                self.queues.done(key)

    def _analyse(self, camera: Camera, frame: QueuedFrame) -> None:
        started = time.perf_counter()
        image = frame.image
        if image is None:
            assert frame.jpeg is not None
            size = jpeg_size(frame.jpeg)
            image = decode(frame.jpeg, decode_flag(size[0] if size else None, camera.analysis.analysis_width_px))
        analyzer = self._states[camera.key].analyzer
        try:
            if image is None:
                raise UnusableFrame("the JPEG does not decode")
            events = analyzer.feed(image, frame.at)
        except UnusableFrame as error:
            metrics.VIDEO_FRAMES.labels(camera=camera.label, outcome="unusable").inc()
            count = self.log_every.due(f"unusable:{camera.label}")
            if count is not None:
                log.warning("camera %s: frame not analysed: %s (%d such in the last minute)",
                            camera.label, error, count)
            return
        metrics.VIDEO_ANALYSIS_SECONDS.observe(time.perf_counter() - started)
        metrics.VIDEO_FRAMES.labels(camera=camera.label, outcome="analysed").inc()
        with self._count_lock:
            self._analysed += 1
        index = analyzer.frames_fed - 1
        for event in events:
            snapshot = None
            if wants_snapshot(event) and event.frame_index == index:
                snapshot = self._keep(camera, frame, image)
            self._send(camera, event, snapshot)

    def _keep(self, camera: Camera, frame: QueuedFrame, image: Image) -> str | None:
        """The evidence URL of the frame: the camera's own JPEG when it sent one (the original,
        at full size), else the decoded frame encoded."""
        jpeg = frame.jpeg if frame.jpeg is not None else encode(image)
        try:
            if jpeg is None:
                raise EvidenceError("the frame could not be encoded as JPEG")
            stored = self.evidence.put(jpeg, now=self.clock())
        except EvidenceError as error:
            metrics.VIDEO_EVIDENCE.labels(origin="analyzer", outcome="failed").inc()
            count = self.log_every.due("evidence")
            if count is not None:
                log.error("camera %s: snapshot not kept, the event goes without it: %s (%d such in the last "
                          "minute)", camera.label, error, count)
            return None
        metrics.VIDEO_EVIDENCE.labels(origin="analyzer", outcome="stored").inc()
        return f"{self.evidence_base_url}/evidence/{stored.sha256}.jpg"

    def _send(self, camera: Camera, event: VideoEvent, snapshot: str | None) -> None:
        self._post(event_message(event, camera, prefix=self.prefix, snapshot=snapshot))

    def _post(self, message: OutgoingEvent) -> None:
        dropped = self.outbox.put(message)
        if dropped is not None:
            metrics.VIDEO_EVENTS.labels(type=dropped.type, outcome="dropped").inc()
            count = self.log_every.due("outbox")
            if count is not None:
                log.error("video: %d event(s) dropped, oldest first: the outbox of %d is full while the broker "
                          "is away", count, self.outbox.capacity)

    # Video loss and evidence retention --------------------------------------------------------------
    def _watch_loss(self) -> None:
        while not self.stop.wait(self.loss_tick_s):
            with self._loss_lock:
                lost = self.loss.due(self.clock())
            for label, event in lost:
                camera = self._by_label.get(label)
                if camera is not None:
                    log.warning("camera %s: no frame for %.0f s (video loss)", label, self.loss.timeout_s)
                    self._send(camera, event, None)

    def _sweep_daily(self) -> None:
        while not self.stop.is_set():
            try:
                result = self.evidence.sweep(self.clock())
            except OSError as error:
                log.error("evidence sweep of %s failed: %s", self.evidence.folder, error)
            else:
                if result.removed:
                    log.info("evidence sweep: %d snapshot(s) past %g days removed (%d MiB), %d kept",
                             result.removed, self.config.video.evidence_retention_days,
                             result.removed_bytes // (1024 * 1024), result.kept)
            if self.stop.wait(SWEEP_EVERY_S):
                return
