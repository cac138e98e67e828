"""The telemetry lane's MQTT connection against a real Mosquitto."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relic_guard.config import MqttConfig
from relic_guard.embedded import EmbeddedMosquitto
from relic_guard.ingest import wire
from relic_guard.ingest.wire_client import WireClient
from tests.e2e.harness import Publisher, wait_for


class Session:
    """A WireClient in a thread, recording what it receives."""

    def __init__(self, broker: EmbeddedMosquitto, *, v5: bool = True, client_id: str = "wire-test",
                 keepalive_s: int = 30) -> None:
        self.received: list[wire.Publish] = []
        self.ready_changes: list[bool] = []
        self.stop = threading.Event()
        cfg = MqttConfig(url=broker.url, keepalive_s=keepalive_s, reconnect_min_s=0.2, reconnect_max_s=1.0)
        self.client = WireClient(cfg, client_id, ["relic/#"], v5=v5, on_publish=self.received.append,
                                 stop=self.stop, on_ready_change=self.ready_changes.append, name=client_id)
        self.thread = threading.Thread(target=self.client.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.client.ready, 10, "subscription confirmed")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def publisher(mosquitto: EmbeddedMosquitto) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.port, client_id="wire-pub")
    yield pub
    pub.close()


@pytest.mark.parametrize("v5", [True, False])
def test_receives_in_order_and_acknowledged_messages_are_not_redelivered(
    mosquitto: EmbeddedMosquitto, publisher: Publisher, v5: bool
) -> None:
    session = Session(mosquitto, v5=v5)
    for i in range(500):
        publisher.publish("relic/chengziya/env/th-1/telemetry", f'{{"n": {i}}}')
    publisher.drain()
    wait_for(lambda: len(session.received) == 500, 10, "500 messages")
    assert [p.payload for p in session.received] == [f'{{"n": {i}}}'.encode() for i in range(500)]
    assert all(p.qos == 1 and p.packet_id for p in session.received)
    assert session.client.ack([p.packet_id for p in session.received])
    time.sleep(0.3)
    session.close()
    again = Session(mosquitto, v5=v5)
    time.sleep(0.5)
    again.close()
    assert again.received == []


def test_unacknowledged_messages_come_back_after_a_reconnect(
    mosquitto: EmbeddedMosquitto, publisher: Publisher
) -> None:
    session = Session(mosquitto)
    for i in range(100):
        publisher.publish("relic/chengziya/env/th-1/telemetry", str(i))
    publisher.drain()
    wait_for(lambda: len(session.received) == 100, 10, "100 messages")
    session.client.ack([p.packet_id for p in session.received[:40]])
    time.sleep(0.3)
    session.close()
    again = Session(mosquitto)
    wait_for(lambda: len(again.received) == 60, 10, "60 redelivered")
    again.close()
    assert [p.payload for p in again.received] == [str(i).encode() for i in range(40, 100)]
    assert all(p.dup for p in again.received)


def test_user_properties_reach_the_lane(mosquitto: EmbeddedMosquitto, publisher: Publisher) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    session = Session(mosquitto)
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("ts", "1764208800000")
    publisher.publish("relic/chengziya/video/cam-1/frame", b"\xff\xd8\xff\xd9", properties=props)
    publisher.drain()
    wait_for(lambda: len(session.received) == 1, 10, "the frame")
    session.close()
    assert session.received[0].user_properties == (("ts", "1764208800000"),)


def test_idle_connection_stays_up_with_pings(mosquitto: EmbeddedMosquitto, publisher: Publisher) -> None:
    session = Session(mosquitto, keepalive_s=2)
    time.sleep(5)  # past 1.5 x keepalive: the broker would have dropped a silent client
    publisher.publish("relic/chengziya/env/th-1/telemetry", "after idle")
    publisher.drain()
    wait_for(lambda: len(session.received) == 1, 5, "message after idle")
    session.close()
    assert session.client.connects == 1


def test_reconnects_after_the_broker_restarts(mosquitto: EmbeddedMosquitto) -> None:
    session = Session(mosquitto)
    port = mosquitto.port
    mosquitto.stop()
    wait_for(lambda: not session.client.ready, 10, "disconnect noticed")
    mosquitto.start()
    assert mosquitto.port == port
    wait_for(lambda: session.client.ready, 15, "reconnected and subscribed")
    pub = Publisher(mosquitto.port, client_id="wire-pub-2")
    pub.publish("relic/chengziya/env/th-1/telemetry", "after restart")
    pub.close()
    wait_for(lambda: len(session.received) == 1, 10, "message after restart")
    session.close()
    assert session.ready_changes[:3] == [True, False, True]
    assert session.client.connects == 2


def _make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the openssl command."""
    import subprocess

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=relic-guard test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n", encoding="utf-8")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.crt")
    for name in ("ca.crt", "server.crt", "server.key"):
        (folder / name).chmod(0o644)
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


def test_tls_connection_receives_and_acknowledges() -> None:
    import os
    import shutil
    import tempfile

    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make test certificates: apt-get install openssl")
    base = Path(tempfile.mkdtemp(prefix="relic-guard-tls-"))
    os.chmod(base, 0o755)
    try:
        ca, cert, key = _make_certificates(base)
        broker = EmbeddedMosquitto(base_dir=base / "broker", tls_files=(ca, cert, key))
        (base / "broker").mkdir()
        broker.start()
        try:
            assert broker.url.startswith("mqtts://")
            received: list[wire.Publish] = []
            stop = threading.Event()
            cfg = MqttConfig(url=broker.url, ca_file=ca, reconnect_min_s=0.2, reconnect_max_s=1.0)
            client = WireClient(cfg, "tls-test", ["relic/#"], v5=True, on_publish=received.append, stop=stop)
            thread = threading.Thread(target=client.run, daemon=True)
            thread.start()
            wait_for(lambda: client.ready, 10, "TLS subscription confirmed")

            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion

            pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-pub", protocol=mqtt.MQTTv5)
            pub.tls_set(ca_certs=str(ca))
            pub.connect("127.0.0.1", broker.port)
            pub.loop_start()
            for i in range(300):
                pub.publish("relic/chengziya/env/th-1/telemetry", f"{i}", qos=1)
            wait_for(lambda: len(received) == 300, 15, "300 messages over TLS")
            assert client.ack([p.packet_id for p in received])
            pub.disconnect()
            pub.loop_stop()
            stop.set()
            thread.join(5)
            assert [p.payload for p in received] == [str(i).encode() for i in range(300)]
        finally:
            broker.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
