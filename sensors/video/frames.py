"""A camera frame turned into the small images every detector works on, once per frame.

The frame is scaled down first to the analysis width (INTER_AREA, which averages: sensor
noise and rain speckle shrink with it), by halving while it is at least twice too wide:
OpenCV averages an exact half quickly, where a direct 4:1 area resize costs several times
more. Then it is converted to grey, smoothed and differentiated once, and halved once more
for the detectors that look at blocks or the whole view (tamper, fire cues); the detectors
share these views rather than each redoing the work. Buffers are reused from frame to
frame, so a view is only valid until the next frame: a detector that keeps an image copies it.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt
from cv2.typing import MatLike

from sensors.video.config import MIN_ANALYSIS_WIDTH_PX
from sensors.video.errors import UnusableFrame

MIN_ANALYSIS_HEIGHT_PX = 64
# Mean HSV saturation below which a colour frame holds no colour (JPEG leaves a little).
_MONOCHROME_SATURATION = 6.0

Grey = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]


def as_grey(image: MatLike) -> Grey:
    """OpenCV's result typed as what it is (the stubs return a union of every array type)."""
    return cast(Grey, image)


def as_floats(image: MatLike) -> Floats:
    return cast(Floats, image)


def shrink(image: Grey, size: tuple[int, int]) -> Grey:
    """`image` averaged down to `size` (width, height): exact halves first, then the rest."""
    width, height = size
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        image = as_grey(cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA))
    if (image.shape[1], image.shape[0]) != size:
        image = as_grey(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    return image


class Views:
    """The analysis-size images of one frame, and their halves."""

    __slots__ = (
        "_half_hsv",
        "_half_laplacian",
        "colour",
        "grey",
        "half_colour",
        "half_smooth",
        "height",
        "laplacian",
        "smooth",
        "width",
    )

    def __init__(
        self,
        colour: Grey | None,
        grey: Grey,
        smooth: Grey,
        laplacian: Floats,
        half_colour: Grey | None,
        half_smooth: Grey,
    ) -> None:
        self.colour = colour  # BGR, or None for a grey camera (infrared at night, a grey decode)
        self.grey = grey
        self.smooth = smooth  # grey after a 3×3 Gaussian: what motion compares
        self.laplacian = laplacian  # of `smooth`, float32: sharpness
        self.height, self.width = grey.shape
        self.half_colour = half_colour
        self.half_smooth = half_smooth
        self._half_hsv: Grey | None = None
        self._half_laplacian: Floats | None = None

    def half_hsv(self) -> Grey | None:
        """HSV of the half colour view (hue 0–255: OpenCV's `_FULL` conversion, the faster
        one), computed on first use; None for a grey frame."""
        if self.half_colour is None:
            return None
        if self._half_hsv is None:
            self._half_hsv = as_grey(cv2.cvtColor(self.half_colour, cv2.COLOR_BGR2HSV_FULL))
        return self._half_hsv

    def monochrome(self) -> bool:
        """True for a grey picture: a grey frame, or a colour frame without colour (a camera
        in infrared night mode sends BGR frames whose channels are equal)."""
        hsv = self.half_hsv()
        return hsv is None or cv2.mean(cv2.extractChannel(hsv, 1))[0] < _MONOCHROME_SATURATION

    def half_laplacian(self) -> Floats:
        """Laplacian of the half grey view, float32 (texture per block)."""
        if self._half_laplacian is None:
            self._half_laplacian = as_floats(cv2.Laplacian(self.half_smooth, cv2.CV_32F))
        return self._half_laplacian


class FramePrep:
    def __init__(self, analysis_width_px: int) -> None:
        self._analysis_width_px = analysis_width_px
        self._shape: tuple[int, int, int] | None = None
        self._grey: Grey | None = None
        self._smooth: Grey | None = None
        self._laplacian: Floats | None = None

    def prepare(self, frame: npt.NDArray[np.uint8] | MatLike) -> Views:
        """Views of `frame` (8-bit grey, or BGR as `cv2.imdecode` gives it)."""
        image = _checked(frame)
        height, width = image.shape[:2]
        if width > self._analysis_width_px:
            size = (self._analysis_width_px, max(1, round(height * self._analysis_width_px / width)))
        else:
            size = (width, height)
        if size[0] < MIN_ANALYSIS_WIDTH_PX or size[1] < MIN_ANALYSIS_HEIGHT_PX:
            raise UnusableFrame(
                f"a {width}×{height} frame is too small to analyse "
                f"(at least {MIN_ANALYSIS_WIDTH_PX}×{MIN_ANALYSIS_HEIGHT_PX} after scaling)"
            )
        colour_frame = image.ndim == 3
        shape = (size[1], size[0], 3 if colour_frame else 1)
        if shape != self._shape or self._grey is None or self._smooth is None or self._laplacian is None:
            self._shape = shape
            self._grey = np.empty(shape[:2], np.uint8)
            self._smooth = np.empty(shape[:2], np.uint8)
            self._laplacian = np.empty(shape[:2], np.float32)
        small = shrink(image, size)
        grey = as_grey(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY, dst=self._grey)) if colour_frame else small
        smooth = as_grey(cv2.GaussianBlur(grey, (3, 3), 0, dst=self._smooth))
        laplacian = as_floats(cv2.Laplacian(smooth, cv2.CV_32F, dst=self._laplacian))
        half = (size[0] // 2, size[1] // 2)
        half_colour = shrink(small, half) if colour_frame else None
        half_smooth = shrink(smooth, half)
        return Views(small if colour_frame else None, grey, smooth, laplacian, half_colour, half_smooth)


def _checked(frame: object) -> Grey:
    if not isinstance(frame, np.ndarray):
        raise UnusableFrame(f"a frame must be a numpy array, not {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise UnusableFrame(f"a frame must be 8-bit (uint8), not {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = np.ascontiguousarray(frame[:, :, 0])
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise UnusableFrame(f"a frame must be grey (H×W) or BGR (H×W×3), not shape {frame.shape}")
    return cast(Grey, frame)
