"""Zone polygons as pixel masks of the analysis frame, rasterized once per frame size.

A camera's zones are drawn once (as shares of the picture, or as pixels of a snapshot of
known size) but frames may arrive at any resolution, decoded full or reduced. Masks are
therefore made for the size actually analysed, the first time it is seen, and kept: one
dict look-up per frame afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from sensors.video.config import Zone

# Sub-pixel precision of the polygon vertices (cv2.fillPoly fixed-point shift).
_SHIFT = 4


@dataclass(frozen=True, slots=True)
class ZoneMask:
    zone: Zone
    # 255 inside the zone, 0 outside; same size as the analysis frame.
    mask: npt.NDArray[np.uint8]
    area_px: int
    # The zone's bounding box (rows, columns) and the mask cut to it: a zone is judged on its
    # box only, so a small zone costs little.
    rows: slice
    columns: slice
    box_mask: npt.NDArray[np.uint8]

    def share(self, image: npt.NDArray[np.uint8]) -> float:
        """Mean of a 0/255 `image` (the analysis frame's size) over the zone, as 0–1."""
        return float(cv2.mean(image[self.rows, self.columns], mask=self.box_mask)[0]) / 255.0


def rasterize(zone: Zone, width: int, height: int) -> ZoneMask:
    """The mask of `zone` in a `width` × `height` frame."""
    if zone.pixel_frame_size is None:
        scale_x, scale_y = float(width), float(height)
    else:
        scale_x, scale_y = width / zone.pixel_frame_size[0], height / zone.pixel_frame_size[1]
    # Points are on pixel edges (0 and width bound the picture); fillPoly puts integers on
    # pixel centres, hence the half-pixel offset.
    points = np.array(
        [[(x * scale_x - 0.5) * (1 << _SHIFT), (y * scale_y - 0.5) * (1 << _SHIFT)] for x, y in zone.polygon],
        dtype=np.float64,
    )
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=_SHIFT)
    area = int(cv2.countNonZero(mask))
    if area == 0:
        # A zone smaller than a pixel of the analysis frame still watches the pixel it falls in.
        x, y = zone.polygon[0]
        column = min(width - 1, max(0, int(x * scale_x)))
        row = min(height - 1, max(0, int(y * scale_y)))
        mask[row, column] = 255
        area = 1
    x, y, w, h = cv2.boundingRect(mask)
    rows, columns = slice(y, y + h), slice(x, x + w)
    return ZoneMask(zone, mask, area, rows, columns, mask[rows, columns].copy())


class ZoneMasks:
    """The masks of a camera's zones, per analysis frame size."""

    def __init__(self, zones: tuple[Zone, ...]) -> None:
        self._zones = zones
        self._by_size: dict[tuple[int, int], tuple[ZoneMask, ...]] = {}

    def for_size(self, width: int, height: int) -> tuple[ZoneMask, ...]:
        masks = self._by_size.get((width, height))
        if masks is None:
            masks = tuple(rasterize(zone, width, height) for zone in self._zones)
            self._by_size[(width, height)] = masks
        return masks

    def zone_at(self, width: int, height: int, x: float, y: float) -> str | None:
        """The first zone (in configuration order) holding pixel (x, y), or None."""
        column, row = min(width - 1, max(0, int(x))), min(height - 1, max(0, int(y)))
        for zone_mask in self.for_size(width, height):
            if zone_mask.mask[row, column]:
                return zone_mask.zone.name
        return None
