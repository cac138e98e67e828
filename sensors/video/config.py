"""How one camera is analysed: zones, motion, tamper and fire-cue settings.

Frozen, keyword-only, units in the names (`_s` seconds, `_px` pixels, `_share` a fraction
0–1, `_levels` 8-bit grey levels). Every model checks itself when built and raises
`VideoConfigError` naming the field, so an analyzer never starts on settings that cannot
work. Thresholds on images refer to the analysis frame (the camera frame scaled down to
`analysis_width_px`), so they do not change with the camera's resolution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import time, tzinfo
from enum import StrEnum
from typing import Final

from sensors.video.errors import VideoConfigError
from sensors.video.schedule import SITE_TZ

MAX_ZONE_NAME: Final = 64
# Below this an analysis frame holds too few pixels for blocks, zones and phase correlation.
MIN_ANALYSIS_WIDTH_PX: Final = 128


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise VideoConfigError(message)


def _share(name: str, value: float, *, zero_ok: bool = False) -> None:
    low_ok = value >= 0 if zero_ok else value > 0
    _require(
        math.isfinite(value) and low_ok and value <= 1, f"{name} must be a share in {'[0' if zero_ok else '(0'}, 1]"
    )


def _seconds(name: str, value: float) -> None:
    _require(math.isfinite(value) and value >= 0, f"{name} must be a finite number of seconds ≥ 0")


def _positive(name: str, value: float) -> None:
    _require(math.isfinite(value) and value > 0, f"{name} must be positive")


def _check_all(
    owner: object, shares: Iterable[str] = (), seconds: Iterable[str] = (), positive: Iterable[str] = ()
) -> None:
    kind = type(owner).__name__
    for name in shares:
        _share(f"{kind}.{name}", getattr(owner, name))
    for name in seconds:
        _seconds(f"{kind}.{name}", getattr(owner, name))
    for name in positive:
        _positive(f"{kind}.{name}", getattr(owner, name))


class Arming(StrEnum):
    """When motion in a zone counts."""

    ALWAYS = "always"
    # Visitors walk through a hall by day; the same motion at night is an intruder.
    OUTSIDE_OPEN_HOURS = "outside_open_hours"


class BackgroundModel(StrEnum):
    # A per-pixel running mean: the cheaper of the two (bench/video.py measures both).
    RUNNING_AVERAGE = "running_average"
    # OpenCV's Gaussian mixture (MOG2): learns per-pixel variance, costs more per frame.
    MOG2 = "mog2"


@dataclass(frozen=True, slots=True, kw_only=True)
class Zone:
    """A named polygon of the picture where motion is watched (a hall door, a stele corridor)."""

    name: str
    polygon: tuple[tuple[float, float], ...]
    # None: the points are shares of the frame's width and height (0–1, origin top left), so
    # the zone survives a change of resolution. (width, height): the points are pixels of a
    # frame of that size (as drawn on a snapshot), scaled to whatever size is analysed.
    pixel_frame_size: tuple[int, int] | None = None
    # Motion must cover at least this share of the zone...
    min_area_share: float = 0.02
    # ...in every frame for this long before it is reported.
    min_duration_s: float = 1.0
    arming: Arming = Arming.ALWAYS

    def __post_init__(self) -> None:
        label = f"zone {self.name!r}"
        _require(
            0 < len(self.name) <= MAX_ZONE_NAME and self.name.strip() == self.name,
            f"{label}: the name must be 1–{MAX_ZONE_NAME} characters without surrounding spaces",
        )
        _require(len(self.polygon) >= 3, f"{label}: a polygon needs at least 3 points")
        _require(
            all(len(p) == 2 and all(math.isfinite(c) for c in p) for p in self.polygon),
            f"{label}: every point must be two finite numbers (x, y)",
        )
        if self.pixel_frame_size is None:
            width, height = 1.0, 1.0
        else:
            width, height = self.pixel_frame_size
            _require(width > 0 and height > 0, f"{label}: pixel_frame_size must be positive (width, height)")
        bounds = "0–1 shares" if self.pixel_frame_size is None else f"0–{width} × 0–{height} pixels"
        _require(
            all(0 <= x <= width and 0 <= y <= height for x, y in self.polygon),
            f"{label}: points must lie inside the frame ({bounds})",
        )
        _require(abs(polygon_area(self.polygon)) > 0, f"{label}: the polygon encloses no area")
        _share(f"{label}: min_area_share", self.min_area_share)
        _seconds(f"{label}: min_duration_s", self.min_duration_s)

    @classmethod
    def whole_frame(cls, name: str, **settings: float | Arming) -> Zone:
        """A zone covering the whole picture."""
        return cls(name=name, polygon=((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)), **settings)  # type: ignore[arg-type]


def polygon_area(points: tuple[tuple[float, float], ...]) -> float:
    """Signed area (shoelace formula)."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        total += x1 * y2 - x2 * y1
    return total / 2


@dataclass(frozen=True, slots=True, kw_only=True)
class MotionConfig:
    background: BackgroundModel = BackgroundModel.RUNNING_AVERAGE
    # A pixel is moving when it differs from the background by more than this (after the
    # frame's overall brightness is matched to the background's).
    pixel_delta_levels: int = 22
    # MOG2 only: squared Mahalanobis distance for foreground (OpenCV's varThreshold).
    mog2_var_threshold: float = 36.0
    # The background follows the scene with this time constant where nothing moves...
    background_time_constant_s: float = 4.0
    # ...and absorbs what stays put (a parked cart, a ghost of a departed object) this slowly.
    absorb_time_constant_s: float = 60.0
    # When this share of the whole frame changes at once (lights switched, lightning, the
    # infrared day/night switch), it is the light, not a visitor: no motion, and the
    # background is learned again over `relearn_s`.
    global_change_share: float = 0.5
    relearn_s: float = 1.0
    # Motion ends when a zone has been still for this long.
    clear_after_s: float = 2.0

    def __post_init__(self) -> None:
        _require(1 <= self.pixel_delta_levels <= 254, "MotionConfig.pixel_delta_levels must be 1–254")
        _check_all(
            self,
            shares=("global_change_share",),
            seconds=("relearn_s", "clear_after_s"),
            positive=("background_time_constant_s", "absorb_time_constant_s", "mog2_var_threshold"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TamperConfig:
    # Covered lens: the picture is cut into blocks; a block is blank when its grey levels
    # hardly vary (a hand, tape, a bag) or it is black.
    occlusion_block_max_std_levels: float = 5.0
    occlusion_dark_levels: float = 14.0
    # Raised when at least this share of blocks is blank for the raise time; cleared once
    # fewer than the clear share are blank (a band, so it does not flicker).
    occlusion_min_share: float = 0.75
    occlusion_clear_share: float = 0.5
    occlusion_raise_after_s: float = 5.0
    occlusion_clear_after_s: float = 2.0
    # Defocus: sharpness (the spread of the Laplacian over the spread of the grey levels, so a
    # dimmer picture is not a blurred one) below this share of the camera's learned baseline;
    # cleared above the clear share.
    defocus_raise_share: float = 0.4
    defocus_clear_share: float = 0.6
    defocus_raise_after_s: float = 5.0
    defocus_clear_after_s: float = 3.0
    # The sharpness baseline and the scene reference are learned over the first seconds of a
    # healthy picture, then follow it with the long time constants.
    baseline_learn_s: float = 5.0
    sharpness_time_constant_s: float = 600.0
    scene_reference_time_constant_s: float = 600.0
    # Camera moved: the picture is displaced from the reference by at least this share of its
    # width (phase correlation, blind to brightness), or matches it no better than the
    # response floor (turned to another view; a healthy view answers 0.75–1 even with
    # visitors, rain and lightning in it).
    scene_min_shift_share: float = 0.025
    scene_min_response: float = 0.2
    scene_raise_after_s: float = 5.0
    scene_clear_after_s: float = 3.0

    def __post_init__(self) -> None:
        _check_all(
            self,
            shares=(
                "occlusion_min_share",
                "occlusion_clear_share",
                "defocus_raise_share",
                "defocus_clear_share",
                "scene_min_shift_share",
                "scene_min_response",
            ),
            seconds=(
                "occlusion_raise_after_s",
                "occlusion_clear_after_s",
                "defocus_raise_after_s",
                "defocus_clear_after_s",
                "baseline_learn_s",
                "scene_raise_after_s",
                "scene_clear_after_s",
            ),
            positive=(
                "occlusion_block_max_std_levels",
                "sharpness_time_constant_s",
                "scene_reference_time_constant_s",
            ),
        )
        _require(0 <= self.occlusion_dark_levels < 255, "TamperConfig.occlusion_dark_levels must be 0–254")
        _require(
            self.occlusion_clear_share <= self.occlusion_min_share,
            "TamperConfig.occlusion_clear_share must not exceed occlusion_min_share",
        )
        _require(
            self.defocus_raise_share <= self.defocus_clear_share,
            "TamperConfig.defocus_raise_share must not exceed defocus_clear_share",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FireCueConfig:
    # Flame: bright, saturated red-to-yellow pixels (OpenCV hue 0–179, so 35 is about 70°)...
    flame_max_hue: int = 35
    flame_min_saturation: int = 100
    flame_min_value: int = 170
    # ...covering at least this share of the picture...
    flame_min_area_share: float = 0.0006
    # ...that flicker: the blob's pixels switch in and out of flame colour at least this often
    # for each time they show it (a red lantern or a lit pillar stays put)...
    flame_min_flicker_share: float = 0.3
    # ...in one place (the blob's centre moves less than this share of the picture's width per
    # second over the raise time; an orange jacket walking by gets somewhere).
    flame_max_drift_share_per_s: float = 0.008
    flame_raise_after_s: float = 3.0
    flame_clear_after_s: float = 3.0
    flame_max_score: float = 0.5
    # Smoke: blocks of the picture whose texture fades (edge energy below this share of the
    # block's learned reference, allowing for the frame's overall contrast)...
    smoke_max_edge_share: float = 0.75
    # ...yet still shows through (correlation with the reference edges: a veil, not an
    # opaque object passing in front)...
    smoke_min_structure: float = 0.5
    # ...grey (mean HSV saturation, colour frames only)...
    smoke_max_saturation: int = 80
    # ...in blocks that had texture to lose (mean |Laplacian| of the reference)...
    smoke_min_reference_edge: float = 2.0
    # ...for this long in each block, in at least this many blocks, having grown since first
    # seen, but not over the whole picture (that is fog, or defocus).
    smoke_min_age_s: float = 4.0
    smoke_min_blocks: int = 2
    smoke_max_frame_share: float = 0.4
    smoke_reference_time_constant_s: float = 30.0
    smoke_clear_after_s: float = 4.0
    smoke_max_score: float = 0.4

    def __post_init__(self) -> None:
        _require(0 <= self.flame_max_hue <= 179, "FireCueConfig.flame_max_hue must be an OpenCV hue 0–179")
        _require(0 <= self.flame_min_saturation <= 255, "FireCueConfig.flame_min_saturation must be 0–255")
        _require(0 <= self.flame_min_value <= 255, "FireCueConfig.flame_min_value must be 0–255")
        _require(0 <= self.smoke_max_saturation <= 255, "FireCueConfig.smoke_max_saturation must be 0–255")
        _require(self.smoke_min_blocks >= 1, "FireCueConfig.smoke_min_blocks must be at least 1")
        _check_all(
            self,
            shares=(
                "flame_min_area_share",
                "flame_min_flicker_share",
                "flame_max_drift_share_per_s",
                "flame_max_score",
                "smoke_max_edge_share",
                "smoke_min_structure",
                "smoke_max_frame_share",
                "smoke_max_score",
            ),
            seconds=("flame_raise_after_s", "flame_clear_after_s", "smoke_min_age_s", "smoke_clear_after_s"),
            positive=("smoke_min_reference_edge", "smoke_reference_time_constant_s"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraConfig:
    # Motion is watched in these zones only (none: no motion events; `Zone.whole_frame` for all).
    zones: tuple[Zone, ...] = ()
    # Frames wider than this are scaled down before anything else: every detector then costs
    # the same whatever the camera sends (decode at reduced size to save the scaling too).
    analysis_width_px: int = 320
    # The site's opening hours (the registry's `Site.open_hours`) and local time zone, for
    # zones armed only outside opening hours.
    open_hours: tuple[time, time] | None = None
    tz: tzinfo = SITE_TZ
    # A silence longer than this (a dropped stream) and the background is learned again.
    max_frame_gap_s: float = 30.0
    motion: MotionConfig = field(default_factory=MotionConfig)
    tamper: TamperConfig = field(default_factory=TamperConfig)
    fire: FireCueConfig = field(default_factory=FireCueConfig)

    def __post_init__(self) -> None:
        names = [zone.name for zone in self.zones]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        _require(not duplicates, f"CameraConfig.zones: zone names must be unique, repeated: {', '.join(duplicates)}")
        _require(
            self.analysis_width_px >= MIN_ANALYSIS_WIDTH_PX,
            f"CameraConfig.analysis_width_px must be at least {MIN_ANALYSIS_WIDTH_PX}",
        )
        _positive("CameraConfig.max_frame_gap_s", self.max_frame_gap_s)
        if self.open_hours is not None:
            _require(
                self.open_hours[0] != self.open_hours[1],
                "CameraConfig.open_hours must not open and close at the same time",
            )
