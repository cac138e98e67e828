from __future__ import annotations

from datetime import UTC, datetime, time

import cv2
import numpy as np
import pytest

from sensors.errors import SensorsError
from sensors.video import (
    SITE_TZ,
    Arming,
    CameraConfig,
    FireCueConfig,
    MotionConfig,
    TamperConfig,
    VideoConfigError,
    VideoError,
    Zone,
    is_open,
)
from sensors.video.zones import ZoneMasks, rasterize

SQUARE = ((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Zone(name="", polygon=SQUARE), "name"),
        (lambda: Zone(name=" 大殿", polygon=SQUARE), "name"),
        (lambda: Zone(name="x" * 65, polygon=SQUARE), "name"),
        (lambda: Zone(name="a", polygon=((0, 0), (1, 1))), "at least 3 points"),
        (lambda: Zone(name="a", polygon=((0, 0), (1, 0), (float("nan"), 1))), "finite"),
        (lambda: Zone(name="a", polygon=((0, 0), (1.2, 0), (1, 1))), "inside the frame"),
        (lambda: Zone(name="a", polygon=((0, 0), (0.5, 0.5), (1, 1))), "no area"),
        (lambda: Zone(name="a", polygon=((0, 0), (700, 0), (700, 500)), pixel_frame_size=(640, 480)), "0–640 × 0–480"),
        (lambda: Zone(name="a", polygon=SQUARE, pixel_frame_size=(0, 480)), "pixel_frame_size"),
        (lambda: Zone(name="a", polygon=SQUARE, min_area_share=0), "min_area_share"),
        (lambda: Zone(name="a", polygon=SQUARE, min_area_share=1.5), "min_area_share"),
        (lambda: Zone(name="a", polygon=SQUARE, min_duration_s=-1), "min_duration_s"),
        (lambda: CameraConfig(zones=(Zone(name="碑廊", polygon=SQUARE),) * 2), "unique, repeated: 碑廊"),
        (lambda: CameraConfig(analysis_width_px=100), "analysis_width_px"),
        (lambda: CameraConfig(max_frame_gap_s=0), "max_frame_gap_s"),
        (lambda: CameraConfig(open_hours=(time(8), time(8))), "open_hours"),
        (lambda: MotionConfig(pixel_delta_levels=0), "pixel_delta_levels"),
        (lambda: MotionConfig(global_change_share=0), "global_change_share"),
        (lambda: MotionConfig(background_time_constant_s=0), "background_time_constant_s"),
        (lambda: TamperConfig(occlusion_min_share=0.4, occlusion_clear_share=0.5), "occlusion_clear_share"),
        (lambda: TamperConfig(defocus_raise_share=0.7, defocus_clear_share=0.6), "defocus_raise_share"),
        (lambda: TamperConfig(scene_raise_after_s=float("inf")), "scene_raise_after_s"),
        (lambda: FireCueConfig(flame_max_hue=180), "flame_max_hue"),
        (lambda: FireCueConfig(smoke_min_blocks=0), "smoke_min_blocks"),
        (lambda: FireCueConfig(flame_max_score=1.2), "flame_max_score"),
    ],
)
def test_bad_settings_name_the_field(build: object, message: str) -> None:
    with pytest.raises(VideoConfigError, match=message) as caught:
        build()  # type: ignore[operator]
    assert isinstance(caught.value, VideoError) and isinstance(caught.value, SensorsError)
    assert isinstance(caught.value, ValueError)


def test_defaults_are_valid() -> None:
    config = CameraConfig(zones=(Zone.whole_frame("画面"),))
    assert config.zones[0].polygon == ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    assert config.tz is SITE_TZ and config.analysis_width_px == 320


def test_normalized_and_pixel_zones_rasterize_alike() -> None:
    shares = Zone(name="大殿", polygon=((0.1, 0.2), (0.6, 0.3), (0.5, 0.9)))
    pixels = Zone(name="大殿", polygon=((128, 144), (768, 216), (640, 648)), pixel_frame_size=(1280, 720))
    for width, height in ((320, 180), (160, 90), (1280, 720)):
        a, b = rasterize(shares, width, height), rasterize(pixels, width, height)
        assert a.area_px == b.area_px > 0
        assert np.array_equal(a.mask, b.mask)
        # The triangle covers about 0.17 of the frame.
        assert a.area_px / (width * height) == pytest.approx(0.17, abs=0.02)


def test_whole_frame_zone_covers_every_pixel_and_its_box_is_the_frame() -> None:
    mask = rasterize(Zone.whole_frame("画面"), 160, 90)
    assert mask.area_px == 160 * 90
    assert mask.box_mask.shape == (90, 160)
    assert mask.share(np.full((90, 160), 255, np.uint8)) == 1.0


def test_a_zone_smaller_than_a_pixel_still_watches_one() -> None:
    tiny = Zone(name="点", polygon=((0.5, 0.5), (0.5004, 0.5), (0.5004, 0.5004)))
    assert rasterize(tiny, 160, 90).area_px >= 1


def test_zone_share_is_measured_in_the_zone_box() -> None:
    zone = Zone(name="右下", polygon=((0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)))
    mask = rasterize(zone, 200, 100)
    moving = np.zeros((100, 200), np.uint8)
    cv2.rectangle(moving, (100, 50), (149, 99), 255, -1)  # the zone's left half
    cv2.rectangle(moving, (0, 0), (99, 49), 255, -1)  # outside the zone
    assert mask.share(moving) == pytest.approx(0.5, abs=0.01)


def test_masks_are_made_once_per_frame_size() -> None:
    masks = ZoneMasks((Zone(name="大殿", polygon=SQUARE), Zone(name="碑廊", polygon=((0.8, 0.8), (1, 0.8), (1, 1)))))
    first = masks.for_size(320, 180)
    assert masks.for_size(320, 180) is first
    assert masks.for_size(160, 90) is not first
    assert masks.zone_at(320, 180, 160, 90) == "大殿"
    assert masks.zone_at(320, 180, 316, 176) == "碑廊"
    assert masks.zone_at(320, 180, 10, 10) is None


@pytest.mark.parametrize(
    ("hours", "local", "open_"),
    [
        (None, time(10), False),
        ((time(8, 30), time(17)), time(8, 29), False),
        ((time(8, 30), time(17)), time(8, 30), True),
        ((time(8, 30), time(17)), time(16, 59), True),
        ((time(8, 30), time(17)), time(17), False),
        ((time(18), time(2)), time(23), True),
        ((time(18), time(2)), time(1, 59), True),
        ((time(18), time(2)), time(12), False),
    ],
)
def test_open_hours_in_site_local_time(hours: tuple[time, time] | None, local: time, open_: bool) -> None:
    at = datetime(2026, 11, 27, local.hour, local.minute, tzinfo=SITE_TZ).astimezone(UTC)
    assert is_open(hours, at) is open_


def test_arming_words() -> None:
    assert [a.value for a in Arming] == ["always", "outside_open_hours"]
