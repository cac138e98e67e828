"""The private servers the demo and the tests rely on really start and answer."""

from __future__ import annotations

import psycopg

from relic_guard.embedded import EmbeddedMosquitto


def test_postgres_answers_in_its_own_database(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("select current_database(), '城子崖遗址'::text").fetchone()
    assert row is not None
    assert row[0].startswith("t")
    assert row[1] == "城子崖遗址"


def test_mosquitto_round_trips_a_qos1_message(mosquitto: EmbeddedMosquitto) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.subscribeoptions import SubscribeOptions

    received: list[bytes] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-sub", protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, msg: received.append(msg.payload)
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("relic/#", options=SubscribeOptions(qos=1))
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-pub", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    import time

    time.sleep(0.3)
    pub.publish("relic/chengziya/fire/panel-1/status", b"online", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    pub.loop_stop()
    sub.loop_stop()
    assert received == [b"online"]
