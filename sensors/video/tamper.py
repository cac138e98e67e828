"""Camera tamper: a covered lens, a defocused lens, a camera moved off its view.

- Occlusion: the half-size grey frame is cut into blocks; a block is blank when its grey levels
  hardly vary or it is black. Covered = most blocks blank (a hand, tape, a bag, spray).
- Defocus: sharpness = std of the Laplacian / std of the grey levels. Blur removes the
  first and hardly touches the second, while dimming or brightening scales both, so a
  darker picture is not a blurred one. Raised below a share of the camera's own baseline,
  learned over its first healthy seconds and then followed slowly.
- Scene change (camera moved): phase correlation of the frame against a reference view.
  It answers with a displacement and a peak height, and normalizes brightness away, so
  lighting changes leave it alone. Raised when the view is displaced, or no longer matches
  at all (turned elsewhere).

While the lens is covered, defocus and scene change are not judged (a covered lens is
neither sharp nor recognisable), and no baseline learns from a frame under suspicion.
Each condition has a raise band and a clear band plus its raise and clear times
(`Condition`), so it raises once and clears once.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

from sensors.video.condition import Condition, Stage
from sensors.video.config import TamperConfig
from sensors.video.frames import Floats, Views, as_floats, shrink
from sensors.video.learning import learning_rate
from sensors.video.model import VideoEvent, VideoEventType

# Blocks for occlusion: coarse enough that a block holds texture in any healthy scene.
_OCCLUSION_GRID = (8, 6)
# Phase correlation runs on a picture about this wide: a shift of 2.5 % is 2 px, which it
# resolves to a fraction of a pixel, at a quarter of the cost of twice the width.
_SCENE_WIDTH_PX = 80
# Below this grey std a frame has no contrast left to measure sharpness against.
_MIN_CONTRAST_LEVELS = 2.0


@dataclass(frozen=True, slots=True)
class TamperReading:
    """What the other detectors must know about this frame."""

    # The lens looks covered in this frame (raised or not yet).
    covered: bool
    # The view's displacement changed since the previous frame: the camera is moving now.
    camera_moving: bool


class TamperWatch:
    def __init__(self, config: TamperConfig) -> None:
        self._config = config
        self.occlusion = Condition(
            VideoEventType.OCCLUSION, config.occlusion_raise_after_s, config.occlusion_clear_after_s
        )
        self.defocus = Condition(VideoEventType.DEFOCUS, config.defocus_raise_after_s, config.defocus_clear_after_s)
        self.scene = Condition(VideoEventType.SCENE_CHANGE, config.scene_raise_after_s, config.scene_clear_after_s)
        self._learn_until: datetime | None = None
        self._sharpness_seen: list[float] = []
        self._sharpness_baseline: float | None = None
        self._reference: Floats | None = None
        self._reference_frames = 0
        self._window: Floats | None = None
        self._view: Floats | None = None
        self._last_shift = (0.0, 0.0)

    def restart(self) -> None:
        """Forget the baselines and the reference (a new frame size): learned again."""
        self._learn_until = None
        self._sharpness_seen = []
        self._sharpness_baseline = None
        self._reference = None
        self._reference_frames = 0
        self._window = None
        self._last_shift = (0.0, 0.0)

    def step(self, views: Views, at: datetime, dt_s: float, frame_index: int) -> tuple[list[VideoEvent], TamperReading]:
        config = self._config
        events: list[VideoEvent] = []
        blank_share, dark_share = _blank_blocks(views, config)
        threshold = config.occlusion_clear_share if self.occlusion.active else config.occlusion_min_share
        covered = blank_share >= threshold
        _add(
            events,
            self.occlusion.step(
                covered,
                at,
                frame_index,
                score=blank_share,
                detail={"blank_share": round(blank_share, 3), "dark_share": round(dark_share, 3)},
            ),
        )
        if covered:
            return events, TamperReading(covered=True, camera_moving=False)

        view = self._scene_view(views)
        sharpness = _sharpness(views)
        if self._learn_until is None:  # the first uncovered frame: a covered one teaches nothing
            self._learn_until = at + timedelta(seconds=config.baseline_learn_s)
        if at < self._learn_until or self._sharpness_baseline is None or self._reference is None:
            self._learn(view, sharpness, at)
            return events, TamperReading(covered=False, camera_moving=False)

        shift_share, response, moving = self._compare(view)
        moved = self._moved(shift_share, response)
        detail = {"shift_share": round(shift_share, 4), "response": round(response, 3)}
        _add(
            events,
            self.scene.step(
                moved,
                at,
                frame_index,
                score=min(1.0, max(shift_share / (2 * config.scene_min_shift_share), 1.0 - response)),
                detail=detail,
            ),
        )

        baseline = self._sharpness_baseline
        share = sharpness / baseline if baseline > 0 else 1.0
        limit = config.defocus_clear_share if self.defocus.active else config.defocus_raise_share
        blurred = share < limit
        _add(
            events,
            self.defocus.step(
                blurred,
                at,
                frame_index,
                score=min(1.0, max(0.0, 1.0 - share)),
                detail={"sharpness_share": round(share, 3)},
            ),
        )

        if not moved and self.scene.stage is Stage.IDLE and not moving:
            cv2.accumulateWeighted(view, self._reference, learning_rate(dt_s, config.scene_reference_time_constant_s))
        if not blurred and self.defocus.stage is Stage.IDLE:
            rate = learning_rate(dt_s, config.sharpness_time_constant_s)
            self._sharpness_baseline = baseline + rate * (sharpness - baseline)
        return events, TamperReading(covered=False, camera_moving=moving)

    def accept_view(self, at: datetime, frame_index: int | None) -> list[VideoEvent]:
        """Take the last frame as the reference view (the camera was re-aimed on purpose)."""
        if self._view is not None:
            self._reference = self._view.copy()
            self._last_shift = (0.0, 0.0)
        ended = self.scene.end(at, frame_index)
        return [ended] if ended is not None else []

    def end_all(self, at: datetime, frame_index: int | None) -> list[VideoEvent]:
        return [e for c in (self.occlusion, self.defocus, self.scene) if (e := c.end(at, frame_index)) is not None]

    def _learn(self, view: Floats, sharpness: float, at: datetime) -> None:
        self._sharpness_seen.append(sharpness)
        if self._reference is None or self._reference.shape != view.shape:
            self._reference = view.copy()
            self._reference_frames = 1
        else:
            self._reference_frames += 1
            cv2.accumulateWeighted(view, self._reference, 1.0 / self._reference_frames)
        assert self._learn_until is not None
        if at >= self._learn_until:
            self._sharpness_baseline = statistics.median(self._sharpness_seen)
            self._sharpness_seen = []

    def _scene_view(self, views: Views) -> Floats:
        half = views.half_smooth
        width = min(_SCENE_WIDTH_PX, half.shape[1])
        height = max(8, round(half.shape[0] * width / half.shape[1]))
        small = shrink(half, (width, height))
        if self._view is None or self._view.shape != (height, width):
            self._view = np.empty((height, width), np.float32)
            self._window = as_floats(cv2.createHanningWindow((width, height), cv2.CV_32F))
        self._view[...] = small
        return self._view

    def _compare(self, view: Floats) -> tuple[float, float, bool]:
        assert self._reference is not None and self._window is not None
        # phaseCorrelate multiplies its inputs by the window in place: it gets copies.
        (dx, dy), response = cv2.phaseCorrelate(self._reference.copy(), view.copy(), self._window)
        width = view.shape[1]
        step = math.hypot(dx - self._last_shift[0], dy - self._last_shift[1]) / width
        self._last_shift = (dx, dy)
        moving = step >= self._config.scene_min_shift_share
        return math.hypot(dx, dy) / width, float(response), moving

    def _moved(self, shift_share: float, response: float) -> bool:
        config = self._config
        if self.scene.active:
            # Cleared only once the view is back: within half the shift, clearly matching.
            return shift_share >= config.scene_min_shift_share / 2 or response < 1.5 * config.scene_min_response
        return shift_share >= config.scene_min_shift_share or response < config.scene_min_response


def _blank_blocks(views: Views, config: TamperConfig) -> tuple[float, float]:
    """Shares of blocks that are blank (uniform or black) and black."""
    grey = views.half_smooth.astype(np.float32)
    mean = cv2.resize(grey, _OCCLUSION_GRID, interpolation=cv2.INTER_AREA)
    mean_square = cv2.resize(cv2.multiply(grey, grey), _OCCLUSION_GRID, interpolation=cv2.INTER_AREA)
    variance = np.maximum(mean_square - mean * mean, 0.0)
    dark = mean <= config.occlusion_dark_levels
    blank = (variance <= config.occlusion_block_max_std_levels**2) | dark
    blocks = mean.size
    return float(np.count_nonzero(blank)) / blocks, float(np.count_nonzero(dark)) / blocks


def _sharpness(views: Views) -> float:
    _, laplacian_std = cv2.meanStdDev(views.laplacian)
    _, grey_std = cv2.meanStdDev(views.smooth)
    return float(laplacian_std[0, 0]) / max(float(grey_std[0, 0]), _MIN_CONTRAST_LEVELS)


def _add(events: list[VideoEvent], event: VideoEvent | None) -> None:
    if event is not None:
        events.append(event)
