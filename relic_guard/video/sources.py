"""Where frames come from: JPEG stills over MQTT (decoded here), and streams or recordings read
with OpenCV (`cv2.VideoCapture`) in a reader thread per camera.

MQTT stills are decoded at a reduced size when they are much wider than the analysis frame:
libjpeg scales while decoding (`IMREAD_REDUCED_COLOR_2/4/8`), which costs a fraction of a full
decode followed by a resize (bench/video_cameras.py). The factor comes from the JPEG's own header,
so it stays the same from frame to frame of one camera (a change of analysed size restarts the
analyzer's learning).

Stream readers (`rtsp://`, `http(s)://`) grab every frame the camera sends (so the decoder keeps
up with the stream) but decode only `max_fps` of them, stamped with the receive time; a stream that
fails or ends is opened again after a pause that doubles from `reconnect_min_s` up to
`reconnect_max_s` and starts over once frames flow. Recordings (`file:`) are read on their own
timeline (the time the file was opened plus each frame's position in it), wait for room in the
queue instead of losing frames, and are read once: a recording that ends is a camera that stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from relic_guard.config_load import mask_url
from relic_guard.video.cameras_load import Camera

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

_SOF_MARKERS: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers that stand alone, without a length: TEM, RST0–7, SOI, EOI.
_BARE_MARKERS: Final = frozenset({0x01, *range(0xD0, 0xDA)})
_REDUCED: Final = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
# A camera sending exactly at max_fps, with jitter, must not lose every other frame.
FPS_TOLERANCE: Final = 0.9
# OpenCV's FFmpeg backend waits this long to open a stream and for each frame before giving up.
CAPTURE_TIMEOUT_MS: Final = 10_000


@dataclass(slots=True)
class QueuedFrame:
    """A frame waiting for analysis: a JPEG from MQTT, or an image a reader decoded."""

    at: datetime
    jpeg: bytes | None = None
    image: Image | None = None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame header, or None when there is none to read."""
    if not data.startswith(b"\xff\xd8"):
        return None
    i, end = 2, len(data)
    while i + 1 < end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _BARE_MARKERS:
            i += 2
            continue
        if i + 4 > end:
            return None
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _SOF_MARKERS:
            if i + 9 > end or length < 7:
                return None
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return (width, height) if width and height else None
        if marker == 0xDA or length < 2:  # entropy-coded data follows: no frame header before it
            return None
        i += 2 + length
    return None


def decode_flag(width: int | None, analysis_width_px: int) -> int:
    """The cheapest `cv2.imdecode` flag that still gives a frame at least the analysis width."""
    if width is not None:
        for factor, flag in _REDUCED:
            if width // factor >= analysis_width_px:
                return flag
    return cv2.IMREAD_COLOR


def decode(jpeg: bytes, flag: int) -> Image | None:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), flag)
    return None if image is None else np.asarray(image, dtype=np.uint8)


def encode(image: Image, quality: int = 90) -> bytes | None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return bytes(data) if ok else None


class Capture(Protocol):
    """What the reader uses of `cv2.VideoCapture`."""

    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)
    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, object]: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


def open_capture(url: str) -> Capture:
    target = url.removeprefix("file:") if url.startswith("file:") else url
    return cv2.VideoCapture(
        target,
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, CAPTURE_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, CAPTURE_TIMEOUT_MS],
    )


# Called with each frame a reader decoded; `wait` says the frame may wait for room in the queue.
# Returns False when the frame was not taken because the service is stopping.
Deliver = Callable[[Camera, QueuedFrame, bool], bool]


class StreamReader:
    """One camera's `url`, read in a thread of its own until `stop` is set."""

    def __init__(
        self,
        camera: Camera,
        deliver: Deliver,
        stop: threading.Event,
        clock: Callable[[], datetime],
        *,
        reconnect_min_s: float,
        reconnect_max_s: float,
        opener: Callable[[str], Capture] = open_capture,
    ) -> None:
        assert camera.url is not None
        self.camera = camera
        self.url = camera.url
        self.deliver = deliver
        self.stop = stop
        self.clock = clock
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = max(reconnect_max_s, reconnect_min_s)
        self.opener = opener
        self.min_interval_s = FPS_TOLERANCE / camera.max_fps
        self.frames = 0
        self.thread = threading.Thread(target=self.run, name=f"video-read-{camera.device}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        delay_s = self.reconnect_min_s
        shown = mask_url(self.url)
        failures = 0
        while not self.stop.is_set():
            capture = self.opener(self.url)
            try:
                if not capture.isOpened():
                    failures += 1
                    if failures == 1 or failures % 20 == 0:
                        log.error("camera %s: cannot open %s (%d attempts); retrying in %.1f s",
                                  self.camera.label, shown, failures, delay_s)
                elif self.camera.is_file:
                    self._read_recording(capture)
                    log.info("camera %s: recording %s ended after %d frames", self.camera.label, shown, self.frames)
                    return
                else:
                    before = self.frames
                    self._read_stream(capture)
                    if self.frames > before:
                        failures, delay_s = 0, self.reconnect_min_s
                    if not self.stop.is_set():
                        log.warning("camera %s: stream %s stopped; reconnecting in %.1f s",
                                    self.camera.label, shown, delay_s)
            finally:
                capture.release()
            if self.stop.wait(delay_s):
                return
            delay_s = min(delay_s * 2, self.reconnect_max_s)

    def _read_stream(self, capture: Capture) -> None:
        last: datetime | None = None
        while not self.stop.is_set():
            if not capture.grab():
                return
            now = self.clock()
            if last is not None and (now - last).total_seconds() < self.min_interval_s:
                continue
            image = self._retrieve(capture)
            if image is None:
                return
            last = now
            self.frames += 1
            self.deliver(self.camera, QueuedFrame(at=now, image=image), False)

    def _read_recording(self, capture: Capture) -> None:
        opened_at = self.clock()
        last_ms: float | None = None
        while not self.stop.is_set():
            if not capture.grab():
                return
            position_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
            if last_ms is not None and (position_ms - last_ms) / 1000.0 < self.min_interval_s:
                continue
            image = self._retrieve(capture)
            if image is None:
                return
            last_ms = position_ms
            self.frames += 1
            at = opened_at + timedelta(milliseconds=position_ms)
            if not self.deliver(self.camera, QueuedFrame(at=at, image=image), True):
                return

    def _retrieve(self, capture: Capture) -> Image | None:
        ok, image = capture.retrieve()
        if not ok or not isinstance(image, np.ndarray):
            return None
        return np.asarray(image, dtype=np.uint8)
