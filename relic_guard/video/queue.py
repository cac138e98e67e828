"""Frames waiting for analysis: one bounded queue per camera, shared by a pool of analysis threads.

Policy when a camera's queue is full: the **oldest** frame is dropped to make room. A frame that
waited while analysis fell behind shows the past; the newest shows what a camera sees now, and an
alarm raised late on fresh frames is worth more than one raised very late on stale ones. Drops are
counted per camera. Recordings (file cameras) may instead wait for room (`put_waiting`): a recording
has no "now", and skipping its frames would only lose what it shows.

Scheduling: a camera is handed to one thread at a time (its analyzer keeps state from frame to
frame and is not thread-safe). A camera with frames waiting is in a ready line; `take` gives the
first ready camera and its oldest frame and marks it busy; `done` puts it back at the end of the
line if it has more, so a camera flooding frames cannot starve the others: every camera with work
gets one frame analysed per round.

Nothing here reads the clock or does I/O; the frames are opaque.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
F = TypeVar("F")


@dataclass(slots=True)
class QueueCounts:
    """What happened to a camera's frames in the queue, since the start."""

    queued: int = 0
    # Oldest frames dropped to make room for newer ones.
    dropped: int = 0
    taken: int = 0
    # The most frames the queue ever held (never above the capacity).
    high_water: int = 0


class FrameQueues(Generic[K, F]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a frame queue must hold at least one frame")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._ready_or_closed = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._queues: dict[K, deque[F]] = {}
        self._counts: dict[K, QueueCounts] = {}
        # Cameras waiting for a thread, in order; and those in the line or being analysed.
        self._ready: deque[K] = deque()
        self._scheduled: set[K] = set()
        self._busy: set[K] = set()
        self._closed = False

    def put(self, camera: K, frame: F) -> F | None:
        """Queue `frame`; when the camera's queue is full, drop its oldest frame and return it."""
        with self._lock:
            queue = self._queue(camera)
            dropped = queue.popleft() if len(queue) >= self.capacity else None
            counts = self._counts[camera]
            if dropped is not None:
                counts.dropped += 1
            self._append(camera, queue, frame)
            return dropped

    def put_waiting(self, camera: K, frame: F, stop: threading.Event, poll_s: float = 0.2) -> bool:
        """Queue `frame`, waiting while the camera's queue is full; False if `stop` was set or
        the queues were closed first (the frame is then not queued)."""
        with self._lock:
            queue = self._queue(camera)
            while len(queue) >= self.capacity:
                if stop.is_set() or self._closed:
                    return False
                self._room.wait(poll_s)
            self._append(camera, queue, frame)
            return True

    def take(self, timeout_s: float | None = None) -> tuple[K, F] | None:
        """The first ready camera and its oldest frame (the camera is busy until `done`), or
        None when nothing was ready within the timeout or the queues are closed."""
        with self._lock:
            if not self._ready and not self._closed:
                self._ready_or_closed.wait(timeout_s)
            if not self._ready or self._closed:
                return None
            camera = self._ready.popleft()
            frame = self._queues[camera].popleft()
            self._busy.add(camera)
            self._counts[camera].taken += 1
            self._room.notify_all()
            return camera, frame

    def done(self, camera: K) -> None:
        """The frame taken for `camera` is analysed: the camera may be taken again."""
        with self._lock:
            self._busy.discard(camera)
            if self._queues[camera]:
                self._ready.append(camera)
                self._ready_or_closed.notify()
            else:
                self._scheduled.discard(camera)

    def close(self) -> None:
        """Wake every waiting thread; `take` answers None from now on."""
        with self._lock:
            self._closed = True
            self._ready_or_closed.notify_all()
            self._room.notify_all()

    def depth(self, camera: K) -> int:
        with self._lock:
            queue = self._queues.get(camera)
            return len(queue) if queue is not None else 0

    def counts(self, camera: K) -> QueueCounts:
        with self._lock:
            counts = self._counts.get(camera, QueueCounts())
            return QueueCounts(counts.queued, counts.dropped, counts.taken, counts.high_water)

    def busy(self) -> frozenset[K]:
        with self._lock:
            return frozenset(self._busy)

    def _queue(self, camera: K) -> deque[F]:
        queue = self._queues.get(camera)
        if queue is None:
            queue = self._queues[camera] = deque()
            self._counts[camera] = QueueCounts()
        return queue

    def _append(self, camera: K, queue: deque[F], frame: F) -> None:
        queue.append(frame)
        counts = self._counts[camera]
        counts.queued += 1
        counts.high_water = max(counts.high_water, len(queue))
        if camera not in self._scheduled:
            self._scheduled.add(camera)
            self._ready.append(camera)
            self._ready_or_closed.notify()
