"""Helpers for the video process tests: a registry, a configuration, a clock the test moves, an MQTT
listener for the events, a frame publisher with the MQTT 5 `ts` property, and a Frigate HTTP API."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from relic_guard.config import AlertsConfig, Config, MqttConfig, VideoConfig
from relic_guard.registry import Device, Registry, Site
from relic_guard.video.cameras_load import Camera, ZoneEvent
from relic_guard.video.runner import VideoService
from sensors.model import Source
from sensors.video import CameraConfig, TamperConfig
from tests.video.synth import HALL, ZONES

PUBLIC_URL = "https://relic.wwj.jinan.example.cn"
FRIGATE_CAMERA = "chengziya_gate"


def registry() -> Registry:
    found = Registry()
    found.add_site(Site(id="chengziya", name="城子崖遗址", district="章丘区", level="national", kind="古遗址"))
    found.add_site(Site(id="lingyan-si", name="灵岩寺", district="长清区", level="national", kind="古建筑",
                        open_hours=(time(8, 0), time(17, 30))))
    for site, device, external in (("chengziya", "cam-1", FRIGATE_CAMERA), ("lingyan-si", "cam-2", None),
                                   ("lingyan-si", "cam-file", None)):
        found.add_device(Device(site=site, id=device, source=Source.VIDEO, kind="ipc", external_id=external))
    return found


def camera(site: str = "chengziya", device: str = "cam-1", **analysis: Any) -> Camera:
    settings: dict[str, Any] = {"zones": ZONES, "tamper": TamperConfig(occlusion_raise_after_s=2.0), **analysis}
    url = settings.pop("url", None)
    return Camera(site=site, device=device, analysis=CameraConfig(**settings), url=url,
                  zone_events={zone.name: ZoneEvent.INTRUSION for zone in settings["zones"]})


def video_config(tmp_path: Path, mqtt_url: str, **video: Any) -> Config:
    settings: dict[str, Any] = {"evidence_dir": tmp_path / "evidence", "threads": 2, "queue_frames": 64, **video}
    return replace(
        Config(),
        mqtt=MqttConfig(url=mqtt_url, reconnect_min_s=0.5, reconnect_max_s=1.0),
        alerts=AlertsConfig(public_url=PUBLIC_URL),
        video=VideoConfig(**settings),
    )


class ManualClock:
    """The service's clock: starts at the real time (frames must carry plausible times), moves
    only when the test says."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.start = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._now = self.start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


def jpeg(frame: npt.NDArray[np.uint8], quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(data)


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 10.0) -> Any:
    """Poll `check` until it answers something true (the service works in its own threads)."""
    pause = threading.Event()
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    while datetime.now(UTC) < deadline:
        found = check()
        if found:
            return found
        pause.wait(0.01)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class EventListener:
    """Collects what is published on the video event topics (a persistent QoS 1 session, so
    nothing published while it reconnects is lost)."""

    def __init__(self, port: int, topic: str = "relic/+/video/+/event") -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"video-listener-{port}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 300
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.events.append((message.topic, json.loads(message.payload)))
            self._changed.notify_all()

    def wait_for(self, match: Callable[[str, dict[str, Any]], bool], what: str,
                 timeout_s: float = 10.0) -> tuple[str, dict[str, Any]]:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((e for e in self.events if match(*e)), None), timeout=timeout_s)
        if found is None:
            raise AssertionError(f"no {what} within {timeout_s} s; got {self.events}")
        return found

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FramePublisher:
    """Publishes frames at QoS 0 with their time in the MQTT 5 user property `ts` (epoch ms)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"camera-{port}", protocol=mqtt.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def frame(self, site: str, device: str, data: bytes, at: datetime) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = [("ts", str(round(at.timestamp() * 1000)))]
        info = self.client.publish(f"relic/{site}/video/{device}/frame", data, qos=0, properties=props)
        info.wait_for_publish(5)

    def json(self, topic: str, body: object) -> None:
        self.client.publish(topic, json.dumps(body, ensure_ascii=False), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def running(service: VideoService) -> Iterator[VideoService]:
    service.start()
    try:
        assert service.link is not None
        assert service.link.subscribed.wait(10), "the video process did not subscribe"
        yield service
    finally:
        service.close()


class FrigateApi:
    """Frigate's HTTP API as far as snapshots go: GET /api/events/{id}/snapshot.jpg."""

    def __init__(self, snapshots: dict[str, bytes]) -> None:
        self.snapshots = snapshots
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(self.path)
                name = self.path.removeprefix("/api/events/").removesuffix("/snapshot.jpg")
                body = api.snapshots.get(name)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "image/jpeg" if body is not None else "text/plain")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FrigateApi:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = ["HALL", "ZONES"]
