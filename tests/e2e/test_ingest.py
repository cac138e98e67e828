"""End to end: real Mosquitto, real PostgreSQL, the daemon in its own process.

Every contract message kind lands in its table; every quarantine reason is
recorded and counted; redelivery creates no duplicates; a database outage
spools and replays; a SIGKILL mid-stream loses nothing and duplicates nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from relic_guard.embedded import EmbeddedMosquitto, EmbeddedPostgres
from tests.e2e.harness import Daemon, Publisher, count, wait_for, write_registry

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def daemon(tmp_path: Path, mosquitto: EmbeddedMosquitto, pg_url: str) -> Iterator[Daemon]:
    d = Daemon(mosquitto.url, pg_url, write_registry(tmp_path / "registry"), tmp_path / "daemon")
    d.start()
    yield d
    assert d.stop() == 0, d.log()[-3000:]


def test_every_contract_message_kind_lands_in_its_table(daemon: Daemon, mosquitto: EmbeddedMosquitto) -> None:
    pub = Publisher(mosquitto.port)
    t = now_ms()
    p = "relic/chengziya"
    pub.publish_json(f"{p}/fire/panel-1/event", {"ts": t, "id": "f1", "type": "fire_alarm", "zone": "主殿",
                                                 "component": "smoke_detector", "description": "主殿烟感报警"})
    pub.publish_json(f"{p}/fire/panel-1/event", {"ts": t + 1, "type": "fault", "clear": True})
    pub.publish_json(f"{p}/security/sec-1/event", {"ts": t, "id": "s1", "type": "intrusion", "zone": "库房"})
    pub.publish_json(f"{p}/video/cam-1/event", {"ts": t, "type": "motion", "zone": "北门", "score": 0.8,
                                                "snapshot": "http://nvr/snap/1.jpg"})
    pub.publish_json(f"{p}/drone/drone-1/event", {"ts": t, "type": "detection", "label": "excavation",
                                                  "lat": 36.799, "lon": 117.471, "score": 0.7, "mission": "m1"})
    pub.publish_json(f"{p}/patrol/phone-wang/event", {"ts": t, "type": "checkin", "custodian": "王建国",
                                                      "checkpoint": "北门", "route": "r1", "note": "一切正常"})
    pub.publish_json(f"{p}/env/th-1/telemetry", {"ts": t, "values": {"temperature_c": 21.5, "door_closed": True}})
    pub.publish_json(f"{p}/drone/drone-1/telemetry", {"ts": t, "lat": 36.799, "lon": 117.471, "alt_m": 80.0,
                                                      "battery_pct": 76, "mode": "mission", "mission": "m1"})
    pub.publish(f"{p}/env/th-1/status", "online", retain=True)
    pub.publish_json(f"{p}/video/cam-1/status", {"state": "offline"})
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("ts", str(t))
    pub.publish(f"{p}/video/cam-1/frame", JPEG, properties=props)
    pub.publish_json("thing/product/1581F5FKD23A00/osd", {
        "tid": "t", "bid": "b", "timestamp": t, "gateway": "dock-sn",
        "data": {"latitude": 36.8, "longitude": 117.47, "height": 120.5, "elevation": 80.1,
                 "attitude_head": 90, "horizontal_speed": 5.2, "vertical_speed": 0.1, "mode_code": 5,
                 "battery": {"capacity_percent": 64}}})
    pub.publish_json("frigate/events", {"type": "new", "before": {}, "after": {
        "id": "1700000000.1-abc", "camera": "chengziya_gate", "label": "person", "score": 0.9, "top_score": 0.9,
        "false_positive": False, "start_time": t / 1000, "end_time": None, "current_zones": ["北门"],
        "entered_zones": ["北门"], "has_snapshot": True}})
    pub.close()

    url = daemon.database_url
    # 7 events + 2 status changes (statuses are kept in the event history too)
    wait_for(lambda: count(url, "select count(*) from events") >= 9, what="events")
    # th-1: 2 values, native drone: 4, DJI OSD: at least 4
    wait_for(lambda: count(url, "select count(*) from readings") >= 10, what="readings")
    with psycopg.connect(url) as conn:
        fire = conn.execute("select zone, attrs->>'description', clear from events where event_key='f1'").fetchone()
        assert fire == ("主殿", "主殿烟感报警", False)
        assert conn.execute("select clear from events where type='fault'").fetchone() == (True,)
        patrol = conn.execute("select attrs->>'custodian', attrs->>'note' from events where source='patrol'").fetchone()
        assert patrol == ("王建国", "一切正常")
        env = dict(conn.execute("select metric, value from readings where device_id='th-1'").fetchall())
        assert env == {"temperature_c": 21.5, "door_closed": 1.0}
        drone = dict(conn.execute("select metric, value from readings where device_id='drone-1'").fetchall())
        assert drone["alt_m"] in (80.0, 120.5) and "battery_pct" in drone
        wait_for(lambda: count(url, "select count(*) from device_status") >= 2, what="device status")
        status = dict(conn.execute("select device_id, online from device_status").fetchall())
        assert status["th-1"] is True and status["cam-1"] is False
        assert count(url, "select count(*) from events where type = 'detection'") == 1
        assert count(url, "select count(*) from events where device_id='cam-1' and type='intrusion'") == 1
    assert count(url, "select count(*) from quarantine") == 0, _quarantine(url)


def _quarantine(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("select topic, reason, detail from quarantine").fetchall()


BAD_MESSAGES = [
    ("bad topic", "relic/chengziya/kitchen/panel-1/event", b'{"type":"fire_alarm"}'),
    ("bad json", "relic/chengziya/env/th-1/telemetry", b'{"ts": 1, "values": {'),
    ("bad encoding", "relic/chengziya/env/th-1/telemetry", b'{"values": {"t\xff": 1}}'),
    ("bad payload", "relic/chengziya/fire/panel-1/event", b'{"type": "barbecue"}'),
    ("unknown device", "relic/chengziya/env/th-99/telemetry", b'{"values": {"temperature_c": 1}}'),
    ("timestamp out of range", "relic/chengziya/env/th-1/telemetry",
     json.dumps({"ts": "2099-01-01T00:00:00+08:00", "values": {"temperature_c": 1}}).encode()),
    ("oversized", "relic/chengziya/env/th-1/telemetry",
     b'{"values": {"temperature_c": 1}, "pad": "' + b"x" * (300 * 1024) + b'"}'),
    ("non-finite value", "relic/chengziya/env/th-1/telemetry", b'{"values": {"temperature_c": NaN}}'),
]


def test_each_quarantine_reason_is_recorded_and_counted(daemon: Daemon, mosquitto: EmbeddedMosquitto) -> None:
    pub = Publisher(mosquitto.port)
    for _reason, topic, payload in BAD_MESSAGES:
        pub.publish(topic, payload)
    # the alarm lane quarantines too
    pub.publish("relic/chengziya/security/ghost/event", b'{"type": "intrusion"}')
    pub.close()
    url = daemon.database_url
    wait_for(lambda: count(url, "select count(*) from quarantine") >= len(BAD_MESSAGES) + 1, what="quarantine")
    with psycopg.connect(url) as conn:
        rows = conn.execute("select topic, reason, payload, payload_size from quarantine").fetchall()
    reasons = sorted(r[1] for r in rows)
    assert reasons == sorted([r for r, _, _ in BAD_MESSAGES] + ["unknown device"])
    oversized = next(r for r in rows if r[1] == "oversized")
    assert oversized[3] > 300 * 1024 and len(oversized[2]) == 256 * 1024
    metrics = daemon.metrics()
    assert 'relic_guard_rejections_total{reason="bad json"} 1.0' in metrics
    assert 'relic_guard_rejections_total{reason="unknown device"} 2.0' in metrics


def test_redelivered_messages_create_no_duplicate_rows(daemon: Daemon, mosquitto: EmbeddedMosquitto) -> None:
    pub = Publisher(mosquitto.port)
    t = now_ms()
    reading = {"ts": t, "values": {"temperature_c": 20.5}}
    event = {"ts": t, "id": "evt-1", "type": "door_open", "zone": "库房"}
    for _ in range(3):
        pub.publish_json("relic/chengziya/env/th-1/telemetry", reading)
        pub.publish_json("relic/chengziya/security/sec-1/event", event)
        pub.publish_json("relic/chengziya/video/cam-1/event", {"ts": t, "type": "motion"})  # no id: digest
    pub.publish_json("relic/chengziya/env/th-1/telemetry", {"ts": t + 1000, "values": {"temperature_c": 20.6}})
    pub.close()
    url = daemon.database_url
    wait_for(lambda: count(url, "select count(*) from readings") >= 2, what="readings")
    time.sleep(1.0)  # the duplicates would have landed by now
    assert count(url, "select count(*) from readings") == 2
    assert count(url, "select count(*) from events where type='door_open'") == 1
    assert count(url, "select count(*) from events where type='motion'") == 1


def _telemetry_stream(n: int, start_ms: int) -> Iterator[tuple[str, bytes]]:
    for i in range(n):
        site = "chengziya" if i % 2 else "lingyan-si"
        payload = {"ts": start_ms + i, "id": f"m{i}", "values": {"temperature_c": 15 + (i % 100) / 10}}
        yield f"relic/{site}/env/th-1/telemetry", json.dumps(payload).encode()


def test_database_outage_spools_and_replays_in_full(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, own_pg: EmbeddedPostgres
) -> None:
    url = own_pg.create_database("relic")
    d = Daemon(mosquitto.url, url, write_registry(tmp_path / "registry"), tmp_path / "daemon")
    d.start()
    try:
        pub = Publisher(mosquitto.port)
        start = now_ms() - 60_000
        stream = _telemetry_stream(3000, start)
        pub.publish_many(next(stream) for _ in range(1000))
        pub.drain()
        wait_for(lambda: count(url, "select count(*) from readings") == 1000, what="first third stored")
        own_pg.stop()
        pub.publish_many(next(stream) for _ in range(1000))
        # a fire alarm during the outage still goes through the alarm lane (and waits in its spool)
        pub.publish_json("relic/chengziya/fire/panel-1/event", {"ts": start, "id": "fire-out", "type": "fire_alarm"})
        pub.drain()
        wait_for(lambda: "ALARM fire_alarm at site chengziya" in d.log(), what="alarm logged while DB down")
        wait_for(lambda: any(p.stat().st_size > 0 for p in (tmp_path / "daemon" / "spool").rglob("*") if p.is_file()),
                 what="spool written")
        back_at = time.time()
        own_pg.start()
        pub.publish_many(stream)
        pub.close()
        wait_for(lambda: count(url, "select count(*) from readings") == 3000, timeout_s=60, what="all replayed")
        # the alarm lane's spool replays on its own cycle
        wait_for(lambda: count(url, "select count(*) from events where event_key='fire-out'") == 1,
                 what="alarm record replayed")
        # the record keeps the moment the alarm was received, not the moment it was replayed
        with psycopg.connect(url) as conn:
            row = conn.execute("select extract(epoch from received_at)::float8 from events "
                               "where event_key='fire-out'").fetchone()
        assert row is not None and row[0] < back_at
        assert "database unreachable" in d.log()
    finally:
        d.stop()
    assert count(url, "select count(*) from (select distinct site_id, device_id, metric, ts from readings) x") == 3000


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, pg_url: str
) -> None:
    total = 20_000
    d = Daemon(mosquitto.url, pg_url, write_registry(tmp_path / "registry"), tmp_path / "daemon")
    d.start()
    pub = Publisher(mosquitto.port, window=2000)
    start = now_ms() - 3_600_000
    done = threading.Event()

    def produce() -> None:
        pub.publish_many(_telemetry_stream(total, start))
        pub.drain()
        done.set()

    # a daemon thread: one stuck on an unacknowledged window must not keep pytest from exiting
    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    wait_for(lambda: count(pg_url, "select count(*) from readings") > 2000, what="stream under way")
    d.kill()
    stored_at_kill = count(pg_url, "select count(*) from readings")
    d.start()
    producer.join(120)
    assert done.is_set()
    pub.close()
    wait_for(lambda: count(pg_url, "select count(*) from readings") >= total, timeout_s=120, what="all stored")
    time.sleep(1.0)
    d.stop()
    assert stored_at_kill < total, "the kill came too late to prove anything"
    assert count(pg_url, "select count(*) from readings") == total
    assert count(pg_url, "select count(distinct ts) from readings") == total


def test_readyz_reports_each_part_and_sigterm_to_the_group_stops_cleanly(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, pg_url: str
) -> None:
    import os
    import signal

    import httpx

    d = Daemon(mosquitto.url, pg_url, write_registry(tmp_path / "registry"), tmp_path / "daemon")
    d.start()
    body = httpx.get(d.base_url + "/readyz", timeout=5).json()
    assert body == {"ready": True, "broker": "ok", "ingest": "ok", "database": "ok"}
    assert httpx.get(d.base_url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert d.process is not None
    # systemd's default stop, and Ctrl-C in a terminal, signal every process of the group
    os.killpg(d.process.pid, signal.SIGTERM)
    assert d.process.wait(30) == 0, d.log()[-3000:]
    assert "restarting it" not in d.log()
    d.process = None


def test_a_broker_that_speaks_only_mqtt_311_is_served_through_the_fallback(tmp_path: Path, pg_url: str) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from relic_guard.embedded_fallback import AmqttBroker

    broker = AmqttBroker()
    broker.start()
    d = Daemon(broker.url, pg_url, write_registry(tmp_path / "registry"), tmp_path / "daemon", workers=1,
               extra_env={"RELIC_GUARD_MQTT_SHARED_SUBSCRIPTION": "false"})
    try:
        d.start()
        assert "falling back to MQTT 3.1.1" in d.log()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub-311", protocol=mqtt.MQTTv311)
        pub.username_pw_set(broker.username)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        t = now_ms()
        infos = [pub.publish("relic/chengziya/env/th-1/telemetry",
                             json.dumps({"ts": t + i, "values": {"temperature_c": 20 + i}}), qos=1) for i in range(50)]
        infos.append(pub.publish("relic/chengziya/fire/panel-1/event",
                                 json.dumps({"ts": t, "id": "f-311", "type": "fire_alarm"}), qos=1))
        for info in infos:
            info.wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        wait_for(lambda: count(pg_url, "select count(*) from readings") == 50, what="telemetry via 3.1.1")
        wait_for(lambda: count(pg_url, "select count(*) from events where event_key='f-311'") == 1,
                 what="fire alarm via 3.1.1")
    finally:
        d.stop()
        broker.stop()
