"""Smoke and flame cues from pixels: weak evidence, reported as candidates with a capped score.

A camera cannot tell a fire from pixels alone (a red lantern, a sunset, a dust cloud), so
these cues are meant to back a fire detector's alarm at the same site, never to raise a
fire alarm of their own: every event is `candidate=True` with a score of at most
`flame_max_score` / `smoke_max_score`.

Flame: pixels bright, saturated and red to yellow (HSV of the half-size view). Two per-pixel exponential means
over the last seconds: how often a pixel shows flame colour (presence) and how often it
switches (flicker). The flame region is where presence is high; a flame flickers there,
while a lantern or a lit red pillar is steady, and an orange jacket does not stay in one
place (the blob's centre drifts steadily, where a flame's jitters about its base).

Smoke: the half-size picture is cut into blocks, each with a reference learned slowly: its edge
energy (mean |Laplacian|) and its edges themselves. A block is smoky when its edges fade
(relative to the frame's overall contrast, so dusk is not smoke) while still correlating
with the reference edges (a translucent veil, not an opaque visitor in front), and it is
grey. Smoke is raised when enough blocks have been smoky for long enough, the smoky area
has grown since it was first seen, and it is not the whole picture (fog, defocus).
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from sensors.video.condition import Condition
from sensors.video.config import FireCueConfig
from sensors.video.frames import Floats, Grey, Views, as_floats, as_grey
from sensors.video.learning import learning_rate
from sensors.video.model import VideoEvent, VideoEventType
from sensors.video.zones import ZoneMasks

# Flame maps remember about this long.
_FLAME_MEMORY_S: Final = 1.5
# A pixel belongs to the flame region when it showed flame colour this share of the time.
_FLAME_PRESENCE: Final = 0.3
_SMOKE_GRID_COLUMNS: Final = 16
# Learning the smoke references from scratch takes this long (no smoke is judged meanwhile).
_SMOKE_LEARN_S: Final = 2.0
# Smoky blocks are absorbed this many times slower than clear ones learn.
_SMOKE_ABSORB_SLOWER: Final = 10.0

Bools = npt.NDArray[np.bool_]


class FlameCue:
    def __init__(self, config: FireCueConfig) -> None:
        self._config = config
        self.condition = Condition(
            VideoEventType.FLAME, config.flame_raise_after_s, config.flame_clear_after_s, located=True, candidate=True
        )
        self._previous: Grey | None = None
        self._presence: Floats | None = None
        self._flicker: Floats | None = None
        # Recent (time, x, y) of the flickering blob's centre, over the raise time.
        self._track: deque[tuple[datetime, float, float]] = deque()

    def restart(self) -> None:
        self._previous = self._presence = self._flicker = None
        self._track.clear()

    def step(self, views: Views, at: datetime, dt_s: float, frame_index: int, masks: ZoneMasks) -> VideoEvent | None:
        config = self._config
        hsv = views.half_hsv()
        if hsv is None:  # a grey picture shows no colour: no flame cue
            self.restart()
            return self.condition.step(False, at, frame_index)
        mask = as_grey(
            cv2.inRange(
                hsv,
                (0, config.flame_min_saturation, config.flame_min_value),
                (round(config.flame_max_hue * 256 / 180), 255, 255),
            )
        )
        if (
            self._previous is None
            or self._previous.shape != mask.shape
            or self._presence is None
            or self._flicker is None
        ):
            self._previous = mask
            self._presence = np.zeros(mask.shape, np.float32)
            self._flicker = np.zeros(mask.shape, np.float32)
            return self.condition.step(False, at, frame_index)
        rate = learning_rate(dt_s, _FLAME_MEMORY_S)
        toggled = as_grey(cv2.bitwise_xor(mask, self._previous))
        self._previous = mask
        # The maps stay on the masks' 0–255 scale; only their ratios and thresholds matter.
        cv2.accumulateWeighted(mask, self._presence, rate)
        cv2.accumulateWeighted(toggled, self._flicker, rate)
        region = as_grey(cv2.inRange(self._presence, _FLAME_PRESENCE * 255.0, 256.0))
        min_pixels = max(1, math.ceil(config.flame_min_area_share * region.size))
        if cv2.countNonZero(region) < min_pixels:
            self._track.clear()
            return self.condition.step(False, at, frame_index)
        # Each blob on its own: a steady lantern beside a flame must not dilute its flicker.
        count, labels, stats, centroids = cv2.connectedComponentsWithStats(region, connectivity=8)
        best: tuple[float, int, float, float] | None = None  # flicker, pixels, centre x, y
        for label in range(1, count):
            pixels = int(stats[label, cv2.CC_STAT_AREA])
            if pixels < min_pixels:
                continue
            x, y = int(stats[label, cv2.CC_STAT_LEFT]), int(stats[label, cv2.CC_STAT_TOP])
            w, h = int(stats[label, cv2.CC_STAT_WIDTH]), int(stats[label, cv2.CC_STAT_HEIGHT])
            blob = as_grey(cv2.inRange(labels[y : y + h, x : x + w], label, label))
            presence = cv2.mean(self._presence[y : y + h, x : x + w], mask=blob)[0]
            flicker = cv2.mean(self._flicker[y : y + h, x : x + w], mask=blob)[0] / max(presence, 1e-6)
            if best is None or flicker > best[0]:
                best = (flicker, pixels, float(centroids[label, 0]), float(centroids[label, 1]))
        if best is None:
            self._track.clear()
            return self.condition.step(False, at, frame_index)
        flicker, pixels, cx, cy = best
        drift = self._drift(at, cx, cy) / region.shape[1]
        seen = flicker >= config.flame_min_flicker_share and drift <= config.flame_max_drift_share_per_s
        score = config.flame_max_score * min(1.0, 0.5 + 0.5 * flicker / (2 * config.flame_min_flicker_share))
        return self.condition.step(
            seen,
            at,
            frame_index,
            score=score,
            detail={
                "area_share": round(pixels / region.size, 5),
                "flicker": round(flicker, 3),
                "drift_per_s": round(drift, 4),
            },
            zone=masks.zone_at(
                views.width, views.height, cx * views.width / region.shape[1], cy * views.height / region.shape[0]
            ),
        )

    def _drift(self, at: datetime, x: float, y: float) -> float:
        """How fast the blob's centre moves, in pixels per second, over the raise time: a
        flame jitters about its base, a walker gets somewhere."""
        track = self._track
        track.append((at, x, y))
        horizon = at - timedelta(seconds=max(self._config.flame_raise_after_s, 1.0))
        while len(track) > 2 and track[1][0] <= horizon:
            track.popleft()
        then, x0, y0 = track[0]
        elapsed = (at - then).total_seconds()
        return math.hypot(x - x0, y - y0) / elapsed if elapsed > 0 else 0.0


class SmokeCue:
    def __init__(self, config: FireCueConfig) -> None:
        self._config = config
        self.condition = Condition(VideoEventType.SMOKE, 0.0, config.smoke_clear_after_s, located=True, candidate=True)
        self.restart()

    def restart(self) -> None:
        """Learn the references from the next frame on (new size, global change, gap)."""
        self._edges_reference: Floats | None = None
        self._laplacian_reference: Floats | None = None
        self._learn_until: datetime | None = None
        self._learned_frames = 0
        self._age_s: Floats | None = None
        self._onset_blocks: int | None = None
        self._grown = False

    def step(
        self, views: Views, at: datetime, dt_s: float, frame_index: int, masks: ZoneMasks, moving: Grey | None
    ) -> VideoEvent | None:
        """`moving`: the motion foreground of this frame (analysis size), kept out of the references."""
        config = self._config
        laplacian = views.half_laplacian()
        grid = (_SMOKE_GRID_COLUMNS, max(4, round(_SMOKE_GRID_COLUMNS * views.height / views.width)))
        edges = as_floats(cv2.resize(np.abs(laplacian), grid, interpolation=cv2.INTER_AREA))
        if self._learn_until is None or self._edges_reference is None or self._laplacian_reference is None:
            self._learn_until = at + timedelta(seconds=_SMOKE_LEARN_S)
            self._edges_reference = edges
            self._laplacian_reference = laplacian.copy()
            self._learned_frames = 1
            self._age_s = np.zeros(edges.shape, np.float32)
            return self.condition.step(False, at, frame_index)
        if at < self._learn_until:
            self._learned_frames += 1
            rate = 1.0 / self._learned_frames
            self._edges_reference += rate * (edges - self._edges_reference)
            cv2.accumulateWeighted(laplacian, self._laplacian_reference, rate)
            return self.condition.step(False, at, frame_index)

        reference = self._laplacian_reference
        correlation = cv2.resize(cv2.multiply(laplacian, reference), grid, interpolation=cv2.INTER_AREA) / np.sqrt(
            cv2.resize(cv2.multiply(laplacian, laplacian), grid, interpolation=cv2.INTER_AREA)
            * cv2.resize(cv2.multiply(reference, reference), grid, interpolation=cv2.INTER_AREA)
            + 1e-6
        )
        textured = self._edges_reference >= config.smoke_min_reference_edge
        ratio = edges / np.maximum(self._edges_reference, 1e-6)
        # The frame's overall contrast change (dusk, exposure) is the median block's.
        contrast = _median(ratio[textured]) if textured.any() else 1.0
        smoky: Bools = textured & (ratio <= config.smoke_max_edge_share * max(contrast, 1e-3))
        if contrast < config.smoke_max_edge_share:
            # The whole picture faded (defocus, fog, dusk): nothing local to see.
            smoky[...] = False
        smoky &= correlation >= config.smoke_min_structure
        hsv = views.half_hsv()
        if hsv is not None:
            saturation = cv2.resize(cv2.extractChannel(hsv, 1), grid, interpolation=cv2.INTER_AREA)
            smoky &= saturation <= config.smoke_max_saturation

        assert self._age_s is not None
        self._age_s = np.where(smoky, self._age_s + np.float32(dt_s), np.float32(0.0)).astype(np.float32)
        persistent = self._age_s >= config.smoke_min_age_s
        smoky_blocks = int(np.count_nonzero(smoky))
        persistent_blocks = int(np.count_nonzero(persistent))
        if persistent_blocks == 0:
            self._onset_blocks, self._grown = None, False
        elif self._onset_blocks is None:
            self._onset_blocks = smoky_blocks
        elif smoky_blocks > self._onset_blocks:
            self._grown = True
        smoky_share = smoky_blocks / smoky.size
        seen = (
            persistent_blocks >= config.smoke_min_blocks and self._grown and smoky_share <= config.smoke_max_frame_share
        )
        zone = None
        if persistent_blocks:
            rows, columns = np.nonzero(persistent)
            zone = masks.zone_at(
                views.width,
                views.height,
                (float(columns.mean()) + 0.5) * views.width / grid[0],
                (float(rows.mean()) + 0.5) * views.height / grid[1],
            )
        event = self.condition.step(
            seen,
            at,
            frame_index,
            score=config.smoke_max_score * min(1.0, persistent_blocks / (2 * config.smoke_min_blocks)),
            detail={
                "blocks": float(persistent_blocks),
                "block_share": round(smoky_share, 4),
                "contrast": round(contrast, 3),
            },
            zone=zone,
        )
        self._learn(edges, laplacian, smoky, moving, dt_s)
        return event

    def _learn(self, edges: Floats, laplacian: Floats, smoky: Bools, moving: Grey | None, dt_s: float) -> None:
        """Follow the scene: quickly in clear blocks, slowly in smoky ones, never where someone
        walks (a visitor's edges learned into the reference would read as smoke once gone)."""
        assert self._edges_reference is not None and self._laplacian_reference is not None
        rate = learning_rate(dt_s, self._config.smoke_reference_time_constant_s)
        rates = np.where(smoky, rate / _SMOKE_ABSORB_SLOWER, rate).astype(np.float32)
        size = (laplacian.shape[1], laplacian.shape[0])
        clear = cv2.resize((~smoky).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        if moving is not None:
            moving_half = cv2.resize(moving, size, interpolation=cv2.INTER_AREA)
            cv2.bitwise_and(clear, cv2.inRange(moving_half, 0, 0), dst=clear)
            occupied = cv2.resize(moving_half, (edges.shape[1], edges.shape[0]), interpolation=cv2.INTER_AREA) > 0
            rates[occupied] = 0.0
        self._edges_reference += rates * (edges - self._edges_reference)
        cv2.accumulateWeighted(laplacian, self._laplacian_reference, rate, mask=clear)


def _median(values: npt.NDArray[np.floating[Any]]) -> float:
    # np.median costs ~100 µs on a few hundred values; a partition costs a few.
    middle = values.size // 2
    return float(np.partition(values.ravel(), middle)[middle])


class FireCues:
    """Flame and smoke together, for one camera."""

    def __init__(self, config: FireCueConfig, masks: ZoneMasks) -> None:
        self._masks = masks
        self.flame = FlameCue(config)
        self.smoke = SmokeCue(config)

    def restart(self) -> None:
        self.flame.restart()
        self.smoke.restart()

    def step(self, views: Views, at: datetime, dt_s: float, frame_index: int, moving: Grey | None) -> list[VideoEvent]:
        events = [
            self.flame.step(views, at, dt_s, frame_index, self._masks),
            self.smoke.step(views, at, dt_s, frame_index, self._masks, moving),
        ]
        return [event for event in events if event is not None]

    def end_all(self, at: datetime, frame_index: int | None) -> list[VideoEvent]:
        return [e for c in (self.flame.condition, self.smoke.condition) if (e := c.end(at, frame_index)) is not None]
