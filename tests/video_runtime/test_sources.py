"""Stream readers over real `cv2.VideoCapture`s (MJPG recordings written in the test): a stream that
fails to open or ends is opened again; only max_fps frames are decoded; a recording is read once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from relic_guard.embedded import EmbeddedMosquitto
from relic_guard.video.process import VideoProcess
from relic_guard.video.sources import Capture, QueuedFrame, StreamReader, open_capture
from tests.video_runtime.support import camera, registry, video_config

T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


def recording(path: Path, frames: int, fps: float = 4.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 96))
    for n in range(frames):
        writer.write(np.full((96, 160, 3), 10 * n, np.uint8))
    writer.release()
    return path


class SteppingClock:
    """Each reading is `step_s` later than the one before: a camera sending at a known rate."""

    def __init__(self, step_s: float) -> None:
        self.step = timedelta(seconds=step_s)
        self.now = T0 - self.step
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            self.now += self.step
            return self.now


def test_a_stream_is_reopened_after_failures_and_decoded_at_max_fps(tmp_path: Path) -> None:
    clip = recording(tmp_path / "live.avi", 8)
    opened: list[str] = []
    plan = [tmp_path / "missing.avi", clip, clip]

    def opener(url: str) -> Capture:
        opened.append(url)
        return open_capture(f"file:{plan[min(len(opened), len(plan)) - 1]}")

    stop = threading.Event()
    got: list[QueuedFrame] = []

    def deliver(_camera: object, frame: QueuedFrame, wait: bool) -> bool:
        assert not wait  # a live stream never waits for room
        got.append(frame)
        if len(got) == 8:
            stop.set()
        return True

    live = camera(zones=(), url="rtsp://viewer:secret@192.168.20.31/Streaming/Channels/102")
    # 4 frames a second arrive; max_fps 2 keeps every other one.
    reader = StreamReader(live, deliver, stop, SteppingClock(0.25), reconnect_min_s=0.001, reconnect_max_s=0.002,
                          opener=opener)
    reader.start()
    reader.thread.join(10)
    assert not reader.thread.is_alive()
    assert len(opened) == 3 and set(opened) == {live.url}  # failed once, then two passes of the stream
    assert len(got) == 8 and reader.frames == 8
    assert all(frame.image is not None and frame.image.shape == (96, 160, 3) for frame in got)
    # Frames 0, 2, 4, 6 of each pass (grey levels 10 × n, give or take the JPEG coding).
    levels = [float(frame.image.mean()) for frame in got if frame.image is not None]
    assert np.allclose(levels, [0, 20, 40, 60] * 2, atol=3), levels
    assert [frame.at for frame in got] == [T0 + timedelta(seconds=n / 2) for n in range(8)]  # receive times


def test_a_recording_is_read_once_on_its_own_timeline_waiting_for_room(tmp_path: Path) -> None:
    clip = recording(tmp_path / "夜间录像.avi", 6, fps=2.0)
    stop = threading.Event()
    got: list[tuple[datetime, bool]] = []
    recorded = camera(zones=(), url=f"file:{clip}")

    def deliver(_camera: object, frame: QueuedFrame, wait: bool) -> bool:
        got.append((frame.at, wait))
        return True

    reader = StreamReader(recorded, deliver, stop, lambda: T0, reconnect_min_s=0.001, reconnect_max_s=0.002)
    reader.start()
    reader.thread.join(10)
    assert not reader.thread.is_alive()  # ended with the file: not reopened
    assert got == [(T0 + timedelta(seconds=n / 2), True) for n in range(6)]


def test_the_video_command_refuses_a_wrong_cameras_file_naming_the_line(tmp_path: Path) -> None:
    cameras = tmp_path / "cameras.toml"
    cameras.write_text('[[camera]]\nid = "cam-1"\nsite = "lingyan-si"\nmax_fps = "fast"\n', encoding="utf-8")
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "sites.csv").write_text(
        "id,name,district,level,kind,lat,lon,custodians,boundary_wkt,open_hours\n"
        "lingyan-si,灵岩寺,长清区,全国重点文物保护单位,古建筑,36.36,116.99,王建国,,08:00-17:30\n", encoding="utf-8")
    (registry / "devices.csv").write_text(
        "site,id,source,kind,zone,heartbeat_s,external_id\nlingyan-si,cam-1,video,ipc,千佛殿,60,\n", encoding="utf-8")
    env = {"RELIC_GUARD_REGISTRY": str(registry), "RELIC_GUARD_VIDEO_CAMERAS_FILE": str(cameras),
           "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    done = subprocess.run([sys.executable, "-m", "relic_guard.cli", "video"], env=env, capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert f"{cameras}:4: [[camera]] #1 max_fps: expected frames per second as a number" in done.stderr.decode()


def test_the_daemons_video_process_is_started_again_when_it_dies_and_stops_when_asked(
    tmp_path: Path, mosquitto: EmbeddedMosquitto
) -> None:
    cameras = tmp_path / "cameras.toml"
    cameras.write_text('[[camera]]\nid = "cam-2"\nsite = "lingyan-si"\n', encoding="utf-8")
    config = video_config(tmp_path, mosquitto.url, cameras_file=cameras, threads=1)
    child = VideoProcess(config, registry(), restart_pause_s=0.0)
    child.start()
    first = child.process
    assert first is not None and first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    first.join(10)
    child.check(stopping=False)
    second = child.process
    assert second is not None and second is not first and second.is_alive()
    child.stop(timeout_s=20)
    assert second.exitcode == 0
    child.check(stopping=False)
    assert child.process is second  # asked to stop: not started again
