"""Exception root of the video analyzer (`sensors.video`).

    SensorsError
     └── VideoError            anything the video analyzer raises
          ├── VideoConfigError    a camera's analysis settings or zones are wrong (also a ValueError)
          └── UnusableFrame       a frame the analyzer cannot read: not 8-bit, not grey or BGR, too
                                  small, or a naive timestamp (also a ValueError)

Conditions a camera shows (covered, blurred, moved, smoke, flame) are events, never
exceptions. `UnusableFrame` is for input no camera condition explains, so the caller
can count it and drop the frame.
"""

from __future__ import annotations

from sensors.errors import SensorsError


class VideoError(SensorsError):
    """Root of every exception raised by sensors.video."""


class VideoConfigError(VideoError, ValueError):
    """A camera configuration that cannot work; the message names the field."""


class UnusableFrame(VideoError, ValueError):  # noqa: N818 (reads as what the frame is)
    """A frame (or its timestamp) the analyzer cannot use."""
