"""Video end to end: `relic-guard run` with a cameras file starts the video process; a camera publishes
JPEG frames of a person walking into an armed zone at night; the intrusion reaches the monitoring
center's webhook with its snapshot as evidence, and the snapshot's URL, fetched from the daemon,
is the camera's own JPEG."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from relic_guard.embedded import EmbeddedMosquitto
from tests.alerts_channels.receiver import Receiver
from tests.e2e.harness import Publisher
from tests.e2e.test_alerts import alert_daemon, bodies, wait_until, write_routing
from tests.video.synth import Scenario, Walker
from tests.video_runtime.support import jpeg

CAMERAS = """\
[[camera]]
id = "cam-1"
site = "chengziya"

  [[camera.zone]]
  name = "北门"
  polygon = [[0.0, 0.6], [0.42, 0.6], [0.42, 1.0], [0.0, 1.0]]
  arming = "outside_open_hours"
"""


def test_an_intrusion_seen_by_a_camera_reaches_the_center_with_its_snapshot(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, pg_url: str
) -> None:
    cameras = tmp_path / "cameras.toml"
    cameras.write_text(CAMERAS, encoding="utf-8")
    with Receiver() as center, Receiver() as others:
        routing = write_routing(tmp_path / "routing.toml", center=center.url("/center"), center_fallback=None,
                                others=others, smtp=False)
        d = alert_daemon(tmp_path, mosquitto.url, pg_url, routing,
                         RELIC_GUARD_VIDEO_CAMERAS_FILE=str(cameras),
                         RELIC_GUARD_VIDEO_EVIDENCE_DIR=str(tmp_path / "evidence"),
                         RELIC_GUARD_VIDEO_QUEUE_FRAMES="64",
                         RELIC_GUARD_VIDEO_THREADS="1")
        d.extra_env["RELIC_GUARD_ALERTS_PUBLIC_URL"] = d.base_url
        # The site has no opening hours: it is closed, and the zone armed, whatever the hour of the test.
        sites = d.registry_dir / "sites.csv"
        sites.write_text(sites.read_text(encoding="utf-8").replace(",08:30-17:00\n", ",\n"), encoding="utf-8")
        d.start()
        wait_until(lambda: 'relic_guard_broker_connected{lane="video"} 1.0' in d.metrics(),
                   "the video process subscribed", timeout_s=20.0)
        pub = Publisher(mosquitto.port)
        try:
            walk = Scenario("walk", 12, (Walker(3, 12, (0.05, 0.95), (0.3, 0.85)),))
            first = datetime.now(UTC) - timedelta(seconds=30)
            sent: dict[str, bytes] = {}
            for at, frame in walk.frames():
                data = jpeg(frame)
                sent[hashlib.sha256(data).hexdigest()] = data
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.UserProperty = [("ts", str(round((first + (at - walk.start)).timestamp() * 1000)))]
                pub.publish("relic/chengziya/video/cam-1/frame", data, qos=0, properties=props)

            def video_alerts() -> list[dict[str, Any]]:
                return [b for b in bodies(center, "/center") if b["alert"]["category"] == "video"]

            (body,) = wait_until(video_alerts, "the intrusion at the monitoring center", timeout_s=15.0)
            alert = body["alert"]
            assert body["event"] == "alert.opened" and alert["severity"] == "critical"
            assert alert["title"] == "视频：人员闯入：城子崖遗址 北门" and alert["device"] == "cam-1"
            (evidence,) = alert["evidence"]
            assert evidence["kind"] == "snapshot" and evidence["url"].startswith(f"{d.base_url}/evidence/")

            image = httpx.get(evidence["url"], timeout=5)
            assert image.status_code == 200
            assert image.headers["content-type"] == "image/jpeg"
            assert image.headers["x-content-type-options"] == "nosniff"
            assert "immutable" in image.headers["cache-control"]
            digest = evidence["url"].rsplit("/", 1)[1].removesuffix(".jpg")
            assert hashlib.sha256(image.content).hexdigest() == digest and image.content == sent[digest]
            for wrong in (f"{'0' * 64}.jpg", f"{digest}.png", f"{digest[:-1]}.jpg", f"{digest.upper()}.jpg"):
                missing = httpx.get(f"{d.base_url}/evidence/{wrong}", timeout=5)
                assert missing.status_code == 404 and missing.headers["x-content-type-options"] == "nosniff"
            assert httpx.get(f"{d.base_url}/evidence/..%2F..%2Fetc%2Fpasswd", timeout=5).status_code == 404
            assert 'relic_guard_video_events_total{outcome="published",type="intrusion"} 1.0' in d.metrics()
        finally:
            pub.close()
            started = time.monotonic()
            assert d.stop() == 0
            assert time.monotonic() - started < 15
