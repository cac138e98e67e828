"""The video process as a child of the daemon (`relic-guard run`), and as a command of its own
(`relic-guard video`).

As a child it is started at once (it needs no database: its events wait in the broker until the
ingest stores them), dies with the daemon (PR_SET_PDEATHSIG, and a watch on its parent), runs
at a lower priority than the telemetry workers (video may lag; alarms and telemetry may not), and
is started again if it dies, at most once every `RESTART_PAUSE_S`. Its metrics reach the daemon's
`/metrics` through the multiprocess folder it inherits.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.context import SpawnProcess
from typing import TYPE_CHECKING, Any, Final

from relic_guard.config import Config
from relic_guard.errors import ConfigError
from relic_guard.registry import Registry

if TYPE_CHECKING:
    from relic_guard.video.cameras_load import Camera

log = logging.getLogger(__name__)

VIDEO_NICENESS: Final = 10
RESTART_PAUSE_S: Final = 5.0


def video_wanted(config: Config) -> bool:
    """Whether there is anything for a video process to do."""
    return config.video.cameras_file is not None or config.video.frigate_url is not None


def load_video_cameras(config: Config, registry: Registry) -> dict[tuple[str, str], Camera]:
    """The cameras of `[video] cameras_file` (none without one); ConfigError lists what is wrong.
    OpenCV is imported only here and below: a daemon without cameras never loads it."""
    from relic_guard.video.cameras_load import load_cameras

    path = config.video.cameras_file
    return {} if path is None else load_cameras(path, registry.sites, registry.devices)


class VideoProcess:
    def __init__(self, config: Config, registry: Registry, *, restart_pause_s: float = RESTART_PAUSE_S) -> None:
        # Read here, in the daemon: a wrong cameras file stops `run` at start saying where it is
        # wrong, rather than a child that dies at every restart.
        load_video_cameras(config, registry)
        self.config = config
        self.registry = registry
        self.ctx = multiprocessing.get_context("spawn")
        self.stop_event = self.ctx.Event()
        self.process: SpawnProcess | None = None
        self.restart_pause_s = restart_pause_s
        self._started_at = 0.0

    def start(self) -> None:
        self.process = self.ctx.Process(
            target=video_main, args=(self.config, self.registry, self.stop_event), name="video", daemon=False
        )
        self.process.start()
        self._started_at = time.monotonic()

    def check(self, stopping: bool) -> None:
        """Start the process again if it died (not while stopping)."""
        process = self.process
        if process is None or process.is_alive() or stopping or self.stop_event.is_set():
            return
        if time.monotonic() - self._started_at < self.restart_pause_s:
            return
        log.error("video process exited (code %s); restarting it", process.exitcode)
        self.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stop_event.set()
        process = self.process
        if process is None:
            return
        process.join(timeout_s)
        if process.is_alive():
            log.error("video process did not stop in %.0f s; terminating it", timeout_s)
            process.terminate()
            process.join(5)


def video_main(config: Config, registry: Registry, stop: Any) -> None:
    """Entry point of the child process. `stop` is a multiprocessing Event."""
    from relic_guard.ingest.worker import _die_with_parent
    from relic_guard.logs import setup_logging
    from relic_guard.video.runner import VideoService

    _die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(VIDEO_NICENESS)
    # The daemon decides when the child stops (Ctrl-C reaches the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging()
    stop_flag = threading.Event()
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop_flag.set())
    parent = os.getppid()

    def watch_parent() -> None:
        while not stop.is_set() and os.getppid() == parent and not stop_flag.is_set():
            time.sleep(0.2)
        stop_flag.set()

    threading.Thread(target=watch_parent, name="stop-watch", daemon=True).start()
    try:
        cameras = load_video_cameras(config, registry)
    except ConfigError as error:  # the file was changed since the daemon read it
        for problem in error.problems:
            log.error("video not started: %s", problem)
        raise SystemExit(2) from None
    VideoService(config, registry, cameras).run(stop_flag)
