"""How fast can one process receive and acknowledge QoS 1 messages? Three receive paths, one run.

    python bench/receive_paths.py [--messages 100000]

For each path a private Mosquitto gets a persistent session registered, a backlog of telemetry
messages is published into it, and the clock runs from connecting until the last message has
been received and acknowledged (acknowledgements in batches of 1000, as the daemon does after a
commit). No parsing, no database: only the MQTT receive path.

- aiomqtt: the `async for message in client.messages` loop, manual acks through paho;
- paho: paho's network thread calling `on_message`;
- wire: relic-guard's telemetry-lane client (`relic_guard/ingest/wire_client.py`).

Prints msg/s for each and the ratios against paho (the baseline measured in the same run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from relic_guard.config import MqttConfig
from relic_guard.embedded import EmbeddedMosquitto
from relic_guard.ingest import wire
from relic_guard.ingest.wire_client import WireClient
from relic_guard.simulate import plan_traffic, publish

TOPIC_FILTER = "relic/#"
ACK_EVERY = 1000


def connect_props() -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 20000
    return props


def register_session(broker: EmbeddedMosquitto, client_id: str) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    done = threading.Event()
    c.on_subscribe = lambda *_a: done.set()
    c.connect("127.0.0.1", broker.port, clean_start=False, properties=connect_props())
    c.loop_start()
    c.subscribe(TOPIC_FILTER, qos=1)
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def run_paho(broker: EmbeddedMosquitto, client_id: str, n: int) -> float:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.manual_ack_set(True)
    pending: list[int] = []
    count = 0
    finished = threading.Event()

    def on_message(client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal count
        pending.append(msg.mid)
        count += 1
        if len(pending) >= ACK_EVERY or count == n:
            for mid in pending:
                client.ack(mid, 1)
            pending.clear()
        if count == n:
            finished.set()

    c.on_message = on_message
    started = time.perf_counter()
    c.connect("127.0.0.1", broker.port, clean_start=False, properties=connect_props())
    c.loop_start()
    finished.wait(600)
    elapsed = time.perf_counter() - started
    c.disconnect()
    c.loop_stop()
    return elapsed


def run_aiomqtt(broker: EmbeddedMosquitto, client_id: str, n: int) -> float:
    async def main() -> float:
        client = aiomqtt.Client("127.0.0.1", broker.port, identifier=client_id,
                                protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=connect_props())
        client._client.manual_ack_set(True)
        started = time.perf_counter()
        async with client:
            pending: list[int] = []
            count = 0
            async for message in client.messages:
                pending.append(message.mid)
                count += 1
                if len(pending) >= ACK_EVERY or count == n:
                    for mid in pending:
                        client._client.ack(mid, 1)
                    pending.clear()
                if count == n:
                    break
            return time.perf_counter() - started

    return asyncio.run(main())


def run_wire(broker: EmbeddedMosquitto, client_id: str, n: int) -> float:
    stop = threading.Event()
    pending: list[int] = []
    count = 0
    client: WireClient | None = None

    def on_publish(packet: wire.Publish) -> None:
        nonlocal count
        pending.append(packet.packet_id)
        count += 1
        if len(pending) >= ACK_EVERY or count == n:
            assert client is not None
            client.ack(list(pending))
            pending.clear()
        if count == n:
            stop.set()

    client = WireClient(MqttConfig(url=broker.url), client_id, [TOPIC_FILTER], v5=True, on_publish=on_publish,
                        stop=stop)
    started = time.perf_counter()
    thread = threading.Thread(target=client.run)
    thread.start()
    stop.wait(600)
    elapsed = time.perf_counter() - started
    thread.join(10)
    return elapsed


def measure(name: str, runner: Callable[[EmbeddedMosquitto, str, int], float],
            messages: list[tuple[float, str, bytes]], base: Path) -> float:
    broker = EmbeddedMosquitto(base_dir=base / name)
    (base / name).mkdir()
    broker.start()
    try:
        client_id = f"bench-{name}"
        register_session(broker, client_id)
        report = publish(broker.url, messages, rate_msgs_s=0, processes=2, window=2000, progress=False)
        if report.acked != len(messages):
            raise SystemExit(f"{name}: the broker took {report.acked} of {len(messages)} messages")
        elapsed = runner(broker, client_id, len(messages))
    finally:
        broker.stop()
    rate = len(messages) / elapsed
    print(f"[bench] {name:8s} {len(messages):,} messages in {elapsed:.2f} s = {rate:,.0f} msg/s", file=sys.stderr)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    plan = plan_traffic(1000, 10_000.0, None, 20261127, "flood", "relic", start_ms=int(time.time() * 1000))
    messages = [next(plan) for _ in range(args.messages)]
    base = Path(tempfile.mkdtemp(prefix="relic-guard-bench-receive-"))
    os.chmod(base, 0o755)
    try:
        rates = {name: measure(name, runner, messages, base)
                 for name, runner in (("paho", run_paho), ("aiomqtt", run_aiomqtt), ("wire", run_wire))}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"machine   {os.cpu_count()} cores; {args.messages:,}-message QoS 1 backlog, one process, no parsing")
    for name, rate in rates.items():
        print(f"{name:8s}  {rate:10,.0f} msg/s   {rate / rates['paho']:.2f}x paho")
    return 0


if __name__ == "__main__":
    sys.exit(main())
