"""`Analyzer`: one camera's frames in, video events out.

    analyzer = Analyzer(CameraConfig(zones=(Zone(name="大殿", polygon=…),), open_hours=site.open_hours))
    for frame, at in frames:                   # decoded by the caller, timestamps from the caller
        for event in analyzer.feed(frame, at):
            …                                  # START / END; event.frame_index is this frame

Per frame, in this order: the frame is scaled to the analysis size once (`FramePrep`);
tamper is judged (a covered or moving camera makes the frame useless for the others);
motion per armed zone; then the smoke and flame cues. Nothing here does I/O or reads the
clock, and nothing keeps a reference to the caller's frame.

Time: `at` is the frame's time, timezone-aware. A frame older than the previous one is
judged at the previous one's time (time never runs backwards inside a condition). A
silence longer than `max_frame_gap_s` makes motion and smoke learn the scene again (the
light and the scene may be different now); the tamper baselines are kept.

A change of frame size (the camera's resolution was changed) ends every active
condition and starts learning from scratch: nothing measured at one size holds at another.
For one (type, zone), STARTs and ENDs strictly alternate; `close()` ends what is active.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
from cv2.typing import MatLike

from sensors.video.condition import Condition
from sensors.video.config import Arming, CameraConfig
from sensors.video.errors import UnusableFrame
from sensors.video.fire import FireCues
from sensors.video.frames import FramePrep
from sensors.video.model import VideoEvent, VideoEventType
from sensors.video.motion import MotionDetector
from sensors.video.schedule import is_open
from sensors.video.tamper import TamperWatch
from sensors.video.zones import ZoneMasks


class Analyzer:
    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self._prep = FramePrep(config.analysis_width_px)
        self._masks = ZoneMasks(config.zones)
        self._motion = MotionDetector(config.motion, config.zones, self._masks)
        self._tamper = TamperWatch(config.tamper)
        self._fire = FireCues(config.fire, self._masks)
        self._size: tuple[int, int] | None = None
        self._last_at: datetime | None = None
        self._frames = 0
        self._was_covered = False
        self._monochrome: bool | None = None
        self._gated_zones = any(zone.arming is Arming.OUTSIDE_OPEN_HOURS for zone in config.zones)

    @property
    def frames_fed(self) -> int:
        """How many frames were fed; the next frame gets this index."""
        return self._frames

    def feed(self, frame: npt.NDArray[np.uint8] | MatLike, at: datetime) -> list[VideoEvent]:
        """Judge one frame (8-bit grey or BGR, any size: what `cv2.imdecode` returns) taken at `at`.

        Raises `UnusableFrame` for an array that is not such a frame, or a naive `at`."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise UnusableFrame("the frame time must be timezone-aware")
        views = self._prep.prepare(frame)
        index = self._frames
        self._frames += 1
        events: list[VideoEvent] = []
        if self._last_at is not None and at < self._last_at:
            at = self._last_at
        dt_s = 0.0 if self._last_at is None else (at - self._last_at).total_seconds()
        self._last_at = at

        size = (views.width, views.height)
        if size != self._size:
            if self._size is not None:
                events += self._end_all(at, index)
            self._size = size
            self._tamper.restart()
            self._fire.restart()
            self._motion.restart(views.smooth, at)
            dt_s = 0.0
        elif dt_s > self.config.max_frame_gap_s:
            self._fire.restart()
            self._motion.restart(views.smooth, at)
            dt_s = 0.0

        tamper_events, reading = self._tamper.step(views, at, dt_s, index)
        events += tamper_events
        # The frame after a covered one is unsure too: the picture came back all at once. So
        # is a switch between colour and infrared: another picture of the same scene.
        monochrome = views.monochrome()
        switched = self._monochrome is not None and monochrome != self._monochrome
        unsure = reading.covered or reading.camera_moving or self._was_covered or switched
        self._was_covered, self._monochrome = reading.covered, monochrome
        events += self._motion.step(views.smooth, at, dt_s, index, self._armed(at), suppressed=unsure)
        if unsure or self._motion.global_change:
            self._fire.restart()
        else:
            events += self._fire.step(views, at, dt_s, index, self._motion.foreground)
        return events

    def close(self, at: datetime) -> list[VideoEvent]:
        """End every active condition (the camera is removed, or analysis stops)."""
        if self._last_at is not None and at < self._last_at:
            at = self._last_at
        return self._end_all(at, None)

    def accept_view(self, at: datetime) -> list[VideoEvent]:
        """The camera was re-aimed on purpose: its current view becomes the reference,
        and an active scene change ends."""
        if self._last_at is not None and at < self._last_at:
            at = self._last_at
        return self._tamper.accept_view(at, None)

    def active(self) -> list[tuple[VideoEventType, str | None]]:
        """The conditions raised and not yet cleared, as (type, zone)."""
        return [(condition.type, condition.zone) for condition in self._conditions() if condition.active]

    def _conditions(self) -> Sequence[Condition]:
        tamper, fire = self._tamper, self._fire
        return [
            tamper.occlusion,
            tamper.defocus,
            tamper.scene,
            *self._motion.conditions,
            fire.flame.condition,
            fire.smoke.condition,
        ]

    def _armed(self, at: datetime) -> list[bool]:
        zones = self.config.zones
        if not self._gated_zones:
            return [True] * len(zones)
        open_now = is_open(self.config.open_hours, at, self.config.tz)
        return [zone.arming is Arming.ALWAYS or not open_now for zone in zones]

    def _end_all(self, at: datetime, index: int | None) -> list[VideoEvent]:
        return self._tamper.end_all(at, index) + self._motion.end_all(at, index) + self._fire.end_all(at, index)
