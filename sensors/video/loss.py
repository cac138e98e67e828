"""Video loss: cameras that have sent no frame for longer than their timeout.

The caller tells `seen(camera, at)` for every frame it receives and asks `due(now)` on its
tick. Cameras wait in one queue per timeout, least recently seen first: a frame moves its
camera to the back in O(1), and `due` looks only at the fronts, so a tick costs the number
of timeouts plus the cameras it declares lost, whatever the number of cameras.

Times are the caller's receive clock: a time earlier than one already seen counts as that
later time, which keeps every queue in order. Each loss is declared once (START), and
ends (END) with the camera's next frame.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from datetime import datetime, timedelta

from sensors.video.errors import VideoConfigError
from sensors.video.model import Phase, VideoEvent, VideoEventType


class VideoLossWatch:
    def __init__(self, *, timeout_s: float) -> None:
        _check_timeout(timeout_s)
        self.timeout_s = timeout_s
        # timeout_s -> camera -> last frame time, oldest first
        self._queues: dict[float, OrderedDict[str, datetime]] = {}
        self._timeout_of: dict[str, float] = {}
        # camera -> last frame time, for cameras declared lost (out of the queues until seen)
        self._lost: dict[str, datetime] = {}
        self._latest: datetime | None = None

    def seen(self, camera: str, at: datetime, *, timeout_s: float | None = None) -> VideoEvent | None:
        """A frame from `camera` arrived at `at`; END if the camera was lost until now.
        `timeout_s` overrides the watch's timeout for this camera (it then sticks)."""
        at = self._monotonic(at)
        timeout = self._timeout_of.get(camera, self.timeout_s) if timeout_s is None else timeout_s
        _check_timeout(timeout)
        previous = self._timeout_of.get(camera)
        if previous is not None and previous != timeout:
            self._queues[previous].pop(camera, None)
        self._timeout_of[camera] = timeout
        queue = self._queues.setdefault(timeout, OrderedDict())
        queue[camera] = at
        queue.move_to_end(camera)
        lost_since = self._lost.pop(camera, None)
        if lost_since is None:
            return None
        return VideoEvent(type=VideoEventType.VIDEO_LOSS, phase=Phase.END, at=at, frame_index=None, since=lost_since)

    def watch(self, camera: str, since: datetime, *, timeout_s: float | None = None) -> None:
        """Start the clock for a camera that has not sent a frame yet (registered, or the
        service just started), as if its last frame came at `since`."""
        if camera not in self._timeout_of:
            self.seen(camera, since, timeout_s=timeout_s)

    def forget(self, camera: str) -> None:
        """Stop watching `camera` (removed from the registry); no END is emitted."""
        timeout = self._timeout_of.pop(camera, None)
        if timeout is not None:
            self._queues[timeout].pop(camera, None)
        self._lost.pop(camera, None)

    def due(self, now: datetime) -> list[tuple[str, VideoEvent]]:
        """Cameras silent past their timeout at `now`, each declared once (START)."""
        declared: list[tuple[str, VideoEvent]] = []
        for timeout, queue in self._queues.items():
            limit = timedelta(seconds=timeout)
            while queue:
                camera, last = next(iter(queue.items()))
                if now - last < limit:
                    break
                del queue[camera]
                self._lost[camera] = last
                declared.append(
                    (
                        camera,
                        VideoEvent(
                            type=VideoEventType.VIDEO_LOSS,
                            phase=Phase.START,
                            at=now,
                            frame_index=None,
                            since=last,
                            detail={"silent_s": round((now - last).total_seconds(), 3)},
                        ),
                    )
                )
        return declared

    def lost(self) -> dict[str, datetime]:
        """Cameras declared lost, with their last frame time."""
        return dict(self._lost)

    def _monotonic(self, at: datetime) -> datetime:
        if self._latest is not None and at < self._latest:
            return self._latest
        self._latest = at
        return at


def _check_timeout(timeout_s: float) -> None:
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise VideoConfigError("VideoLossWatch timeout_s must be a positive number of seconds")
