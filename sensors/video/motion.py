"""Motion in zones: a background model on the small grey frame, judged per zone.

Per frame:
1. The frame's brightness is matched to the background's (a gain, from the two means), so
   a cloud or the camera's exposure do not read as motion. When the light has drifted far
   (dusk), the background itself is rescaled to it, so the gain stays small and nothing is
   relearned. A jump of the mean brightness from one frame to the next (a lamp switched,
   lightning) is a global change (3.).
2. Foreground = pixels far from the background (running average, or MOG2), opened with a
   small square so that rain streaks and single noisy pixels vanish.
3. If a large share of the whole frame changed at once, it was the light (switched lamps,
   lightning, the infrared day/night switch) or the camera itself: no zone is judged, and
   the background is learned afresh over `relearn_s`. The same happens when the tamper
   detectors say the lens is covered or the camera just moved.
4. Each armed zone is in motion when the foreground covers `min_area_share` of it; after
   `min_duration_s` of consecutive motion it STARTs, after `clear_after_s` of stillness it ENDs.
   A zone armed only outside opening hours ENDs at opening time and is not judged until closing.
5. The background learns the frame: quickly where nothing moves, slowly where something
   does (so a visitor standing still stays foreground, but a cart left there is absorbed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import cv2
import numpy as np

from sensors.video.condition import Condition
from sensors.video.config import BackgroundModel, MotionConfig, Zone
from sensors.video.frames import Floats, Grey, as_grey
from sensors.video.learning import learning_rate
from sensors.video.model import VideoEvent, VideoEventType
from sensors.video.zones import ZoneMasks

# Rain streaks, snowflakes and noisy pixels are thin; a person is not. Opening the foreground
# with this square removes what it cannot fit in (5 px: a streak blurred to 3 px at 320 wide);
# frames narrower than `_WIDE_PX` get the 3 px square, so a person there is not erased too.
_WIDE_PX = 256
_OPEN_WIDE = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
_OPEN_NARROW = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
# Beyond this gain a change of brightness is a global change, not a drift of exposure.
_MAX_GAIN = 2.0
# A drift of the light (not a jump) beyond this gain rescales the background to it.
_REBASE_GAIN = 1.25
# A change of mean brightness by more than this share from one frame to the next is a jump of
# the light, not smoke drifting in or a visitor.
_LIGHT_JUMP_SHARE = 0.12
# Grey levels outside this range are clipped by the sensor: no gain is measured on them.
_CLIP_LOW, _CLIP_HIGH = 6, 249
# Below this share of unclipped pixels no gain is measured at all.
_MIN_JUDGED_SHARE = 0.05
# A gain this close to 1 is no change of brightness.
_UNIT_GAIN = 0.02


def _open_kernel(width: int) -> cv2.typing.MatLike:
    return _OPEN_WIDE if width >= _WIDE_PX else _OPEN_NARROW


class Background(Protocol):
    def restart(self, grey: Grey) -> None:
        """Forget everything; `grey` is the whole background."""

    def learn(self, grey: Grey, rate: float) -> None:
        """Learn the whole frame at `rate` (while relearning: nothing is judged)."""

    def apply(self, grey: Grey, rate: float, absorb_rate: float) -> Grey:
        """The foreground mask (0/255, opened) of `grey`, then learn it: still pixels at `rate`,
        moving ones at `absorb_rate`. The mask is valid until the next call."""

    def rescale(self, factor: float) -> bool:
        """Multiply the background's brightness by `factor`; False if the model cannot."""

    def reference(self) -> Grey | None:
        """The background as an image, if the model keeps one (for matching brightness)."""


class RunningAverage:
    """Per-pixel exponential mean; foreground = |frame - mean| above a fixed grey delta."""

    def __init__(self, pixel_delta_levels: int) -> None:
        self._delta = pixel_delta_levels
        self._mean: Floats | None = None
        self._mean8: Grey | None = None
        self._moving: Grey | None = None
        self._still: Grey | None = None

    def restart(self, grey: Grey) -> None:
        self._mean = grey.astype(np.float32)
        self._mean8 = grey.copy()
        self._moving = np.empty_like(grey)
        self._still = np.empty_like(grey)

    def learn(self, grey: Grey, rate: float) -> None:
        assert self._mean is not None and self._mean8 is not None
        cv2.accumulateWeighted(grey, self._mean, rate)
        cv2.convertScaleAbs(self._mean, dst=self._mean8)

    def rescale(self, factor: float) -> bool:
        assert self._mean is not None and self._mean8 is not None
        self._mean *= np.float32(factor)
        cv2.convertScaleAbs(self._mean, dst=self._mean8)
        return True

    def reference(self) -> Grey | None:
        return self._mean8

    def apply(self, grey: Grey, rate: float, absorb_rate: float) -> Grey:
        assert self._mean is not None and self._mean8 is not None
        assert self._moving is not None and self._still is not None
        cv2.absdiff(grey, self._mean8, dst=self._moving)
        cv2.threshold(self._moving, self._delta, 255, cv2.THRESH_BINARY, dst=self._moving)
        cv2.morphologyEx(self._moving, cv2.MORPH_OPEN, _open_kernel(grey.shape[1]), dst=self._moving)
        cv2.bitwise_not(self._moving, dst=self._still)
        cv2.accumulateWeighted(grey, self._mean, rate, mask=self._still)
        cv2.accumulateWeighted(grey, self._mean, absorb_rate, mask=self._moving)
        cv2.convertScaleAbs(self._mean, dst=self._mean8)
        return self._moving


class Mog2:
    """OpenCV's MOG2 (no shadow detection: shadows of visitors are motion too)."""

    def __init__(self, var_threshold: float) -> None:
        self._var_threshold = var_threshold
        self._model: cv2.BackgroundSubtractorMOG2 | None = None
        self._moving: Grey | None = None

    def restart(self, grey: Grey) -> None:
        self._model = cv2.createBackgroundSubtractorMOG2(
            history=500, varThreshold=self._var_threshold, detectShadows=False
        )
        self._model.apply(grey, learningRate=1.0)
        self._moving = np.empty_like(grey)

    def learn(self, grey: Grey, rate: float) -> None:
        assert self._model is not None and self._moving is not None
        self._model.apply(grey, self._moving, learningRate=rate)

    def apply(self, grey: Grey, rate: float, absorb_rate: float) -> Grey:
        # MOG2 has one learning rate for every pixel, so it learns at the absorbing rate: at
        # the faster one a visitor walking slowly would melt into the background within
        # seconds. Its per-pixel variances follow noise and slow light changes instead.
        assert self._model is not None and self._moving is not None
        self._model.apply(grey, self._moving, learningRate=absorb_rate)
        cv2.morphologyEx(self._moving, cv2.MORPH_OPEN, _open_kernel(grey.shape[1]), dst=self._moving)
        return self._moving

    def rescale(self, factor: float) -> bool:
        return False  # its Gaussians cannot be rescaled from outside: it is restarted instead

    def reference(self) -> Grey | None:
        return None  # its background image is computed on demand, too dear per frame


class MotionDetector:
    def __init__(self, config: MotionConfig, zones: tuple[Zone, ...], masks: ZoneMasks) -> None:
        self._config = config
        self._masks = masks
        self._conditions = [
            Condition(VideoEventType.MOTION, zone.min_duration_s, config.clear_after_s, zone=zone.name)
            for zone in zones
        ]
        self._background: Background = (
            RunningAverage(config.pixel_delta_levels)
            if config.background is BackgroundModel.RUNNING_AVERAGE
            else Mog2(config.mog2_var_threshold)
        )
        self._started = False
        self._target_level = 0.0
        self._relearn_until: datetime | None = None
        self._relearn_frames = 0
        self._matched: Grey | None = None
        # Whether the last frame was a global change (its brightness jumped, or a large share
        # of it changed): the fire cues relearn after it too.
        self.global_change = False
        self._last_level: float | None = None
        # The last judged frame's foreground (0/255, analysis size), None when it was not
        # judged; valid until the next frame.
        self.foreground: Grey | None = None

    @property
    def conditions(self) -> Sequence[Condition]:
        return self._conditions

    def restart(self, grey: Grey, at: datetime) -> None:
        """Learn the background afresh from this frame on (new size, long gap, global change)."""
        self._background.restart(grey)
        self._target_level = max(1.0, float(cv2.mean(grey)[0]))
        self._relearn_until = at + timedelta(seconds=self._config.relearn_s)
        self._relearn_frames = 1
        self._started = True

    def step(
        self,
        grey: Grey,
        at: datetime,
        dt_s: float,
        frame_index: int,
        armed: Sequence[bool],
        suppressed: bool,
    ) -> list[VideoEvent]:
        """Judge one frame. `armed[i]` says whether zone i counts now; `suppressed` (the lens
        is covered or was a frame ago, the camera is moving) makes the frame a global change."""
        events: list[VideoEvent] = []
        for condition, zone_armed in zip(self._conditions, armed, strict=True):
            if not zone_armed:
                ended = condition.end(at, frame_index)
                if ended is not None:
                    events.append(ended)
        self.global_change = False
        self.foreground = None
        level = float(cv2.mean(grey)[0])
        jumped = self._last_level is not None and abs(level - self._last_level) > _LIGHT_JUMP_SHARE * max(
            self._last_level, 1.0
        )
        self._last_level = level
        if not self._started:
            self.restart(grey, at)
            return events
        gain, judged = self._gain(grey, level)
        if not jumped and not 1.0 / _REBASE_GAIN <= gain <= _REBASE_GAIN:
            # The light drifted far (dusk): bring the background to it rather than stretch
            # the frame, or learn afresh if the model cannot be rescaled.
            if self._background.rescale(1.0 / gain):
                self._target_level, gain = max(1.0, level), 1.0
            else:
                suppressed = True
        if suppressed or jumped or not 1.0 / _MAX_GAIN <= gain <= _MAX_GAIN:
            # The light jumped (a lamp, lightning: clipped highlights and crushed shadows do
            # not scale back), or the lens or the camera is moving: start over from this
            # frame, relearning or not.
            self.global_change = True
            self.restart(grey, at)
            return events
        matched = self._scaled(grey, gain)
        if self._relearn_until is not None and at < self._relearn_until:
            self._relearn_frames += 1
            self._background.learn(matched, 1.0 / self._relearn_frames)
            return events
        self._relearn_until = None
        foreground = self._background.apply(
            matched,
            learning_rate(dt_s, self._config.background_time_constant_s),
            learning_rate(dt_s, self._config.absorb_time_constant_s),
        )
        if judged is not None and abs(gain - 1.0) >= _UNIT_GAIN:
            # Where the sensor clipped, a gain says nothing: no motion is claimed there.
            cv2.bitwise_and(foreground, judged, dst=foreground)
        height, width = foreground.shape
        changed_share = cv2.countNonZero(foreground) / (height * width)
        if changed_share >= self._config.global_change_share:
            self.global_change = True
            self.restart(grey, at)
            return events
        self.foreground = foreground
        for condition, zone_armed, zone_mask in zip(
            self._conditions, armed, self._masks.for_size(width, height), strict=True
        ):
            if not zone_armed:
                continue
            share = zone_mask.share(foreground)
            minimum = zone_mask.zone.min_area_share
            event = condition.step(
                share >= minimum,
                at,
                frame_index,
                score=min(1.0, 0.5 * share / minimum),
                detail={"zone_share": round(share, 4), "frame_share": round(changed_share, 4)},
            )
            if event is not None:
                events.append(event)
        return events

    def end_all(self, at: datetime, frame_index: int | None) -> list[VideoEvent]:
        return [event for condition in self._conditions if (event := condition.end(at, frame_index)) is not None]

    def _gain(self, grey: Grey, level: float) -> tuple[float, Grey | None]:
        """The gain that brings `grey` (mean `level`) to the background's brightness, and the
        pixels it holds for. Pixels clipped near black or white, in the frame or the
        background, are left out: a gain cannot bring back what the sensor cut off, and
        counting them would misjudge the gain of the rest (a washed-out sky stays 255)."""
        reference = self._background.reference()
        if reference is None:
            return self._target_level / max(level, 1.0), None
        judged = as_grey(cv2.inRange(grey, _CLIP_LOW, _CLIP_HIGH))
        cv2.bitwise_and(judged, cv2.inRange(reference, _CLIP_LOW, _CLIP_HIGH), dst=judged)
        if cv2.countNonZero(judged) < _MIN_JUDGED_SHARE * judged.size:
            return 1.0, None  # nearly everything clipped: nothing to match on
        return cv2.mean(reference, mask=judged)[0] / max(cv2.mean(grey, mask=judged)[0], 1.0), judged

    def _scaled(self, grey: Grey, gain: float) -> Grey:
        if abs(gain - 1.0) < _UNIT_GAIN:
            return grey
        if self._matched is None or self._matched.shape != grey.shape:
            self._matched = np.empty_like(grey)
        cv2.convertScaleAbs(grey, dst=self._matched, alpha=gain)
        return self._matched
