"""Drones end to end: `relic-guard run` against a real Mosquitto and PostgreSQL. A dock's aircraft
publishes a short DJI Cloud API OSD flight over 城子崖遗址 that leaves the site's allowed area, comes
back and lands: the geofence alert reaches the monitoring center's webhook, and the flight is in
`drone_flights` with its coverage, readable through the API."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from msgspec.structs import replace

from relic_guard.alerting.tokens import Role, append_token
from relic_guard.drones.projection import LocalProjection
from relic_guard.embedded import EmbeddedMosquitto
from tests.alerts_channels.receiver import Receiver
from tests.drones.support import dji_osd, flight_samples
from tests.e2e.harness import Publisher
from tests.e2e.test_alerts import alert_daemon, bodies, wait_until, write_routing

# drone-1 of the harness registry; the site's boundary is a 1 km square around this centre.
AIRCRAFT_SN = "1581F5FKD23A00"
CENTRE = LocalProjection(36.7985, 117.4725)


def test_a_flight_out_past_the_fence_alerts_the_center_and_is_stored_with_its_coverage(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, pg_url: str
) -> None:
    now = datetime.now(UTC)
    with Receiver() as center, Receiver() as others:
        routing = write_routing(tmp_path / "routing.toml", center=center.url("/center"), center_fallback=None,
                                others=others, smtp=False)
        tokens = tmp_path / "tokens.toml"
        token = append_token(tokens, name="duty.zhang", role=Role.OPERATOR, now=now)
        d = alert_daemon(tmp_path, mosquitto.url, pg_url, routing, RELIC_GUARD_ALERTS_API_TOKENS_FILE=str(tokens))
        d.start()
        pub = Publisher(mosquitto.port)
        try:
            # 700 m east at 20 m/s (the allowed area ends 540 m east: boundary 490 m + 50 m margin) and back,
            # 60 m up, one OSD every 2 s as a dock sends them, stamped over the last three minutes.
            samples = flight_samples(CENTRE, [(0.0, 0.0), (700.0, 0.0), (0.0, 0.0)], height_m=60.0, speed_mps=20.0)
            first = now - timedelta(seconds=180, microseconds=now.microsecond % 1000)  # DJI stamps whole ms
            for k, sample in enumerate(samples):
                stamped = replace(sample, ts=first + timedelta(seconds=2 * k))
                pub.publish(f"thing/product/{AIRCRAFT_SN}/osd", dji_osd(stamped))

            def fence_alerts() -> list[dict[str, Any]]:
                return [b for b in bodies(center, "/center") if b["alert"]["category"] == "drone"]

            (body,) = wait_until(fence_alerts, "the geofence alert at the monitoring center", timeout_s=10.0)
            alert = body["alert"]
            assert alert["title"] == "无人机飞出允许区域：城子崖遗址 drone-1"
            assert alert["severity"] == "major" and alert["site"]["id"] == "chengziya"
            # Back inside within the group wait: the resolution travels with the opening.
            told = [body["event"], *(item["event"] for item in body.get("related", []))]
            assert "alert.opened" in told

            def stored() -> tuple[Any, ...] | None:
                with psycopg.connect(pg_url) as conn:
                    return conn.execute(
                        "SELECT id, aircraft, end_reason, takeoff_seen, coverage_share, counts_as_patrol, "
                        "jsonb_array_length(track_geojson->'coordinates'), ended_at FROM drone_flights"
                    ).fetchone()

            row = wait_until(stored, "the flight stored", timeout_s=10.0)
            flight_id, aircraft, end_reason, takeoff_seen, share, counts, lines, ended_at = row
            assert (aircraft, end_reason, takeoff_seen, counts, lines) == ("drone-1", "landed", True, False, 1)
            assert 0.01 < share < 0.2  # one 87 m swath across half the square
            assert ended_at == first + timedelta(seconds=2 * (len(samples) - 3))

            auth = {"Authorization": f"Bearer {token}"}
            listed = httpx.get(f"{d.base_url}/api/drones/flights?site=chengziya", headers=auth, timeout=5).json()
            assert [f["id"] for f in listed["flights"]] == [flight_id]
            track = httpx.get(f"{d.base_url}/api/drones/flights/{flight_id}/track.geojson", headers=auth, timeout=5)
            assert track.headers["content-type"] == "application/geo+json"
            assert json.loads(track.text)["geometry"]["type"] == "MultiLineString"
            assert httpx.get(f"{d.base_url}/api/drones/live", headers=auth, timeout=5).json()["aircraft"] == []
        finally:
            pub.close()
            started = time.monotonic()
            assert d.stop() == 0
            assert time.monotonic() - started < 15
