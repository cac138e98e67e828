"""Fire alarm to webhook latency: idle, and under 10,000 msg/s of background telemetry.

    python bench/alert_latency.py [--alarms 300] [--rate 10000] [--quick] [--spacing-ms 100]

Starts its own PostgreSQL (default durability, as in bench/ingest.py) and Mosquitto on free
ports, a webhook receiver in this process, and `relic-guard run` configured through the
environment only: a registry of `--sites` simulated sites (3 env sensors each, no custodians)
plus one smoke detector per measured alarm, each in a zone of its own, and a routing file with
one monitoring-center recipient whose webhook is the receiver (the agencies every site must
have point at the receiver too, on other paths, and never fire: an unconfirmed fire alarm goes
to the monitoring center and the custodians only).

Each measured alarm is a QoS 1 `fire_alarm` event from a detector that never alarmed before,
so it opens a new critical alert, which skips grouping and leaves at once as one POST. The
latency is from just before `publish` to the receiver having read the whole request, both on
this process's monotonic clock. Two conditions, in one daemon, one after the other:
- idle: nothing else flows;
- load: `--rate` msg/s of env telemetry, `relic-guard simulate`'s flood plan (same topics and
  payloads) published at QoS 1 by a process of its own from packets encoded in advance (see
  `LoadGenerator`), started a few seconds before the first alarm and running past the last;
  the rate the daemon achieved is read from its /metrics (`relic_guard_messages_total`,
  source env) at the first and the last alarm.
In both, half a spacing after each alarm, the same publisher sends a message to `bench/floor/…`
that a paho subscriber in this process turns into a POST to the same receiver: the floor, what
any MQTT-to-webhook bridge costs on this machine at that moment. Ratios, not times, are what
compare across machines.

Not measured: opening the daemon's HTTP connection. Alarms here come 100 ms apart, so the
webhook's connection stays open (the first alarms of each condition open it and are not
counted); alarms minutes apart in the field each open a new one (and TLS for https://).

Where the time goes: the webhook body carries `alert.opened_at` (the daemon's clock when the
alarm lane handed the record to the engine) and `sent_at` (when the webhook channel encoded
it), both to the millisecond on the same host clock, which splits each alarm into
publish → engine, engine → channel, channel → receiver.

Exit status 0 when every alarm and floor message arrived, 1 when some did not, 2 when the
daemon cannot be run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import io
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# bench/ingest.py: run as a script, this file's folder is first on sys.path.
import ingest as ingest_bench
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from relic_guard.embedded import EmbeddedMosquitto, EmbeddedPostgres, free_port
from relic_guard.ingest import wire
from relic_guard.simulate import plan_traffic, registry_for

TARGET_P99_MS = 50.0
WARMUP_ALARMS = 5  # per condition, not counted: the first opens the daemon's HTTP connection
LOAD_WINDOW = 1000  # unacknowledged background messages at most
SECRET_ENV = "BENCH_WEBHOOK_SECRET"  # outside RELIC_GUARD_*: the daemon refuses unknown keys there
AGENCIES = ("fire_brigade", "police", "culture_bureau", "law_enforcement")

log = ingest_bench.log
BenchError = ingest_bench.BenchError


# The receiver ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    path: str
    body: bytes
    mono: float
    wall: float
    client_port: int  # tells the sender's connections apart


class Receiver:
    """A threaded HTTP/1.1 server answering 200 at once, recording when each request was read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[Arrival] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Longer than any pause between phases: a closed keep-alive connection would make
            # the next alarm pay for a new TCP connection, which is not what is measured.
            timeout = 600

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mono, wall = time.monotonic(), time.time()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.lock:
                    receiver.arrivals.append(Arrival(self.path, body, mono, wall, int(self.client_address[1])))

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="receiver", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def take(self) -> list[Arrival]:
        with self.lock:
            taken, self.arrivals = self.arrivals, []
        return taken


# MQTT: the alarm publisher and the floor bridge --------------------------------------------


def mqtt_client(broker: EmbeddedMosquitto, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect("127.0.0.1", broker.port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        client.loop_stop()
        raise BenchError(f"{client_id}: no CONNACK from the broker within 10 s")
    return client


class FloorBridge:
    """MQTT subscriber that POSTs each message it gets to the receiver: the least any bridge does."""

    def __init__(self, broker: EmbeddedMosquitto, receiver_port: int) -> None:
        self.port = receiver_port
        self.conn: http.client.HTTPConnection | None = None
        self.failures = 0
        self.client = mqtt_client(broker, "bench-floor")
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.on_message = self._on_message
        self.client.subscribe("bench/floor/#", qos=1)
        if not subscribed.wait(10):
            raise BenchError("the floor bridge could not subscribe within 10 s")

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        for _attempt in range(2):  # once more on a fresh connection if the kept one was closed
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                self.conn.request("POST", "/" + message.topic, body=message.payload,
                                  headers={"Content-Type": "application/json"})
                self.conn.getresponse().read()
                return
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
        self.failures += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        if self.conn is not None:
            self.conn.close()


# Registry and routing ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Detector:
    site: str
    device: str
    zone: str


def write_registry(folder: Path, sites: int, detectors: int) -> list[Detector]:
    """The simulated sites with their custodians removed (each would need a recipient) and only
    their env sensors (the panels have heartbeats, and nothing here sends them), plus
    `detectors` smoke detectors without heartbeat, one zone each, spread over the sites."""
    sites_text, devices_text = registry_for(sites)
    site_rows = list(csv.reader(io.StringIO(sites_text)))
    custodians = site_rows[0].index("custodians")
    for row in site_rows[1:]:
        row[custodians] = ""
    device_rows = list(csv.reader(io.StringIO(devices_text)))
    source = device_rows[0].index("source")
    kept = [device_rows[0]] + [row for row in device_rows[1:] if row[source] == "env"]
    site_ids = [row[0] for row in site_rows[1:]]
    made = [Detector(site_ids[i % len(site_ids)], f"smoke-{i:04d}", f"BZ{i:04d}") for i in range(detectors)]
    kept += [[d.site, d.device, "fire", "smoke_detector", d.zone, "", ""] for d in made]
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("sites.csv", site_rows), ("devices.csv", kept)):
        with (folder / name).open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(rows)
    return made


def write_routing(path: Path, receiver_port: int) -> None:
    base = f"http://127.0.0.1:{receiver_port}"

    def recipient(ident: str, audience: str, hook: str) -> str:
        return (
            f'[[recipient]]\nid = "{ident}"\nname = "{ident}"\naudience = "{audience}"\n'
            f'channels = [{{ kind = "webhook", target = "{base}{hook}", secret_ref = "env:{SECRET_ENV}" }}]\n\n'
        )

    text = "group_wait_s = 5\n\n" + recipient("bench-center", "monitoring_center", "/hook")
    text += "".join(recipient(f"bench-{a}", a, f"/agency/{a}") for a in AGENCIES)
    ids = ", ".join(f'"{i}"' for i in ["bench-center", *(f"bench-{a}" for a in AGENCIES)])
    text += f'[[route]]\nname = "everything"\nrecipients = [{ids}]\n'
    path.write_text(text, encoding="utf-8")


# Measurements ------------------------------------------------------------------------------


@dataclass
class Condition:
    name: str
    alarms: dict[str, tuple[int, float, float]] = field(default_factory=dict)  # device -> (seq, mono, wall)
    floors: dict[int, tuple[float, float]] = field(default_factory=dict)  # seq -> (mono, wall)
    daemon_ms: dict[int, float] = field(default_factory=dict)
    floor_ms: dict[int, float] = field(default_factory=dict)
    # Per alarm: publish -> opened_at, opened_at -> sent_at, sent_at -> received (wall clock, ms).
    segments: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    warmup: set[int] = field(default_factory=set)
    other_posts: int = 0
    # The daemon's connections that carried alarms: more than one means deliveries overlapped
    # (or an idle one was closed) and the daemon paid for opening another.
    hook_connections: set[int] = field(default_factory=set)
    env_msgs_s: float | None = None
    publisher: str | None = None  # what the load generator sent, as a sentence

    def measured(self, values: dict[int, float]) -> list[float]:
        return sorted(v for seq, v in values.items() if seq not in self.warmup)

    @property
    def expected(self) -> int:
        return len(self.alarms) - len(self.warmup)


def as_json(cond: Condition) -> dict[str, object]:
    """Every alarm of `cond` in publishing order: when it was published (epoch s), its device,
    and its latencies (ms; null when it never arrived)."""
    rows = []
    for device, (seq, _mono, wall) in sorted(cond.alarms.items(), key=lambda item: item[1][0]):
        segments = cond.segments.get(seq)
        rows.append({
            "seq": seq, "device": device, "published": wall, "warmup": seq in cond.warmup,
            "daemon_ms": cond.daemon_ms.get(seq), "floor_ms": cond.floor_ms.get(seq),
            "publish_engine_ms": segments[0] if segments else None,
            "engine_channel_ms": segments[1] if segments else None,
            "channel_receiver_ms": segments[2] if segments else None,
        })
    return {"condition": cond.name, "env_msgs_s": cond.env_msgs_s, "alarms": rows}


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def run_alarms(cond: Condition, publisher: mqtt.Client, detectors: Iterator[Detector], count: int,
               spacing_s: float) -> None:
    """`count` alarms (after the warm-up ones), one per spacing, each followed half a spacing
    later by a floor message."""
    total = WARMUP_ALARMS + count
    start = time.monotonic() + 0.2
    every = max(1, total // 5)
    for seq in range(total):
        detector = next(detectors)
        if seq < WARMUP_ALARMS:
            cond.warmup.add(seq)
        at = start + seq * spacing_s
        _sleep_until(at)
        wall_ms = int(time.time() * 1000)
        payload = json.dumps({"type": "fire_alarm", "zone": detector.zone, "ts": wall_ms,
                              "id": f"bench-{cond.name}-{seq}"}).encode()
        topic = f"relic/{detector.site}/fire/{detector.device}/event"
        mono, wall = time.monotonic(), time.time()
        publisher.publish(topic, payload, qos=1)
        cond.alarms[detector.device] = (seq, mono, wall)
        _sleep_until(at + spacing_s / 2)
        mono, wall = time.monotonic(), time.time()
        publisher.publish(f"bench/floor/{cond.name}/{seq}", b'{"type":"fire_alarm"}', qos=1)
        cond.floors[seq] = (mono, wall)
        if (seq + 1) % every == 0:
            log(f"{cond.name}: {seq + 1}/{total} alarms published")


def _sleep_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def collect(cond: Condition, receiver: Receiver, timeout_s: float) -> None:
    """Match the receiver's requests to the alarms and floor messages of `cond`, waiting up to
    `timeout_s` for the last ones."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for arrival in receiver.take():
            _match(cond, arrival)
        if len(cond.daemon_ms) >= len(cond.alarms) and len(cond.floor_ms) >= len(cond.floors):
            return
        time.sleep(0.1)
    for arrival in receiver.take():
        _match(cond, arrival)


def _match(cond: Condition, arrival: Arrival) -> None:
    if arrival.path.startswith("/bench/floor/"):
        name, number = arrival.path.rsplit("/", 2)[1:]
        sent_floor = cond.floors.get(int(number)) if name == cond.name else None
        if sent_floor is None:
            cond.other_posts += 1  # a straggler of the previous condition
        else:
            cond.floor_ms[int(number)] = (arrival.mono - sent_floor[0]) * 1000
        return
    if arrival.path != "/hook":
        cond.other_posts += 1
        return
    body = json.loads(arrival.body)
    alert = body.get("alert", {})
    sent = cond.alarms.get(alert.get("device"))
    if sent is None or body.get("event") != "alert.opened":
        cond.other_posts += 1
        return
    seq, mono, wall = sent
    cond.hook_connections.add(arrival.client_port)
    cond.daemon_ms[seq] = (arrival.mono - mono) * 1000
    opened = datetime.fromisoformat(alert["opened_at"]).timestamp()
    sent_at = datetime.fromisoformat(body["sent_at"]).timestamp()
    cond.segments[seq] = ((opened - wall) * 1000, (sent_at - opened) * 1000, (arrival.wall - sent_at) * 1000)


# The daemon's side ---------------------------------------------------------------------------


def env_messages(http: str) -> float:
    """relic_guard_messages_total of source env, all lanes, from the daemon's /metrics."""
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=5) as answer:
        text = answer.read().decode("utf-8", errors="replace")
    total = 0.0
    for line in text.splitlines():
        if line.startswith("relic_guard_messages_total{") and 'source="env"' in line:
            total += float(line.rsplit(" ", 1)[-1])
    return total


class LoadGenerator:
    """The background telemetry, in a process of its own: `simulate.plan_traffic`'s flood
    (the same topics and payloads as `relic-guard simulate`) encoded up front into QoS 1
    PUBLISH packets, one buffer per 10 ms of the plan, each written with one `sendall` on
    time. A paho publisher costs about 0.5 ms of CPU per QoS 1 message on a 2-vCPU machine
    (about 2,000 msg/s per process), so `relic-guard simulate` cannot reach 10,000 msg/s there,
    and its publishers would take the cores the daemon is measured on."""

    def __init__(self, broker_port: int, sites: int, rate: float, duration_s: float, start_ms: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_load_generator, args=(child, broker_port, sites, rate, duration_s, start_ms),
            name="bench-load", daemon=True,
        )
        self.process.start()
        self.started = False
        self.messages = 0
        self.result: tuple[int, int, float] | None = None  # sent, acknowledged, seconds

    def wait_ready(self, timeout_s: float) -> int:
        if not self.conn.poll(timeout_s):
            raise BenchError(f"the load generator did not finish encoding within {timeout_s:.0f} s")
        kind, *rest = self.conn.recv()
        if kind != "ready":
            raise BenchError(f"the load generator failed: {rest[0]}")
        self.messages = int(rest[0])
        return self.messages

    def go(self) -> None:
        self.conn.send("go")
        self.started = True

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        """Stop publishing and keep the generator's own count; a generator that never started
        publishing (a failure before the load phase) is killed at once."""
        if self.started and self.process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self.conn.send("stop")
                if self.conn.poll(15):
                    kind, *rest = self.conn.recv()
                    if kind == "done":
                        self.result = (int(rest[0]), int(rest[1]), float(rest[2]))
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


def _load_generator(conn: Any, port: int, sites: int, rate: float, duration_s: float, start_ms: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this stops
    try:
        _load_generator_body(conn, port, sites, rate, duration_s, start_ms)
    except Exception as exc:  # reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _load_generator_body(conn: Any, port: int, sites: int, rate: float, duration_s: float, start_ms: int) -> None:
    slice_s = 0.01
    # (offset in the plan, messages up to and including this slice, the encoded packets)
    slices: list[tuple[float, int, bytes]] = []
    current: list[bytes] = []
    bound, n = slice_s, 0
    for offset, topic, payload in plan_traffic(sites, rate, duration_s, 7, "flood", "relic", start_ms=start_ms):
        while offset >= bound:
            slices.append((bound - slice_s, n, b"".join(current)))
            current, bound = [], bound + slice_s
        # Packet ids cycle; LOAD_WINDOW keeps an id from being reused while still unacknowledged.
        current.append(wire.encode_publish(topic, payload, qos=1, packet_id=n % 65535 + 1, v5=True))
        n += 1
    slices.append((bound - slice_s, n, b"".join(current)))

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # keepalive 0: no PINGREQ to schedule; the broker keeps the connection while we write.
    sock.sendall(wire.encode_connect(f"bench-load-{os.getpid()}", v5=True, keepalive_s=0, clean_start=True))
    decoder = wire.PacketDecoder(v5=True)
    acked = 0
    connack = threading.Event()

    def read() -> None:
        nonlocal acked
        with contextlib.suppress(OSError, wire.ProtocolError):
            while data := sock.recv(65536):
                for packet in decoder.feed(data):
                    if isinstance(packet, wire.ConnAck):
                        connack.set()
                    elif isinstance(packet, wire.Other) and packet.packet_type == wire.PUBACK:
                        acked += 1

    sock.settimeout(None)
    reader = threading.Thread(target=read, name="pubacks", daemon=True)
    reader.start()
    if not connack.wait(10):
        raise BenchError("no CONNACK from the broker within 10 s")
    conn.send(("ready", n))
    if conn.recv() != "go":
        return
    t0 = time.monotonic()
    sent = 0
    for offset, upto, blob in slices:
        if conn.poll():
            break  # "stop"
        _sleep_until(t0 + offset)
        # Mosquitto takes at most its max_inflight_messages unacknowledged from one client.
        while upto - acked > LOAD_WINDOW and not conn.poll():
            time.sleep(0.001)
        if blob:
            sock.sendall(blob)
        sent = upto
    elapsed = time.monotonic() - t0
    deadline = time.monotonic() + 5
    while acked < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    with contextlib.suppress(OSError):
        sock.sendall(wire.encode_disconnect(v5=True))
        sock.close()
    conn.send(("done", sent, acked, elapsed))


def wait_for_rate(http: str, rate: float, load: LoadGenerator, timeout_s: float) -> float:
    """Wait until the daemon takes in at least 90% of `rate` over one second; the last rate seen."""
    deadline = time.monotonic() + timeout_s
    seen = 0.0
    before, t0 = env_messages(http), time.monotonic()
    while time.monotonic() < deadline:
        if not load.alive:
            raise BenchError("the load generator exited early")
        time.sleep(1.0)
        now_count, now = env_messages(http), time.monotonic()
        seen = (now_count - before) / (now - t0)
        if seen >= 0.9 * rate:
            return seen
        before, t0 = now_count, now
    return seen


def log_findings(path: Path) -> list[str]:
    """The daemon's log lines that matter for latency: errors and warnings other than the alarms
    themselves (each fire alarm is logged at WARNING by design) and the keys made at first start."""
    lines: list[str] = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            expected = "ALARM fire_alarm" in line or " created the " in line
            if ("ERROR" in line or "WARNING" in line) and not expected:
                lines.append(line.strip())
    return lines


# Report --------------------------------------------------------------------------------------


def stats_line(label: str, values: list[float], expected: int) -> str:
    if not values:
        return f"{label:<26} no samples ({expected} expected)"
    missing = expected - len(values)
    return (f"{label:<26} n={len(values):<4} p50 {quantile(values, 0.5):7.2f}  p90 {quantile(values, 0.9):7.2f}  "
            f"p99 {quantile(values, 0.99):7.2f}  max {values[-1]:7.2f} ms"
            + (f"  ({missing} missing)" if missing else ""))


def ratio(a: list[float], b: list[float], q: float) -> str:
    if not a or not b:
        return "n/a"
    return f"{quantile(a, q) / max(quantile(b, q), 1e-9):.2f}x"


def report(idle: Condition, load: Condition, rate: float, machine: str, spacing_ms: float) -> None:
    print(f"machine                    {machine}")
    print(f"alarms                     {idle.expected} per condition, {spacing_ms:g} ms apart "
          f"(+{WARMUP_ALARMS} warm-up each, not counted); latency = MQTT publish -> webhook request read")
    achieved = f"{load.env_msgs_s:,.0f} msg/s" if load.env_msgs_s is not None else "n/a"
    print(f"background (load)          target {rate:,.0f} msg/s; daemon took in {achieved} of env telemetry "
          "during the alarms")
    if load.publisher:
        print(f"load generator             {load.publisher}")
    print()
    for cond in (idle, load):
        daemon, floor = cond.measured(cond.daemon_ms), cond.measured(cond.floor_ms)
        print(stats_line(f"daemon, {cond.name}", daemon, cond.expected))
        print(stats_line(f"floor (bridge), {cond.name}", floor, cond.expected))
    print()
    d_idle, d_load = idle.measured(idle.daemon_ms), load.measured(load.daemon_ms)
    f_idle, f_load = idle.measured(idle.floor_ms), load.measured(load.floor_ms)
    print(f"ratio daemon load/idle     p50 {ratio(d_load, d_idle, 0.5)}  p99 {ratio(d_load, d_idle, 0.99)}")
    print(f"ratio daemon/floor, idle   p50 {ratio(d_idle, f_idle, 0.5)}  p99 {ratio(d_idle, f_idle, 0.99)}")
    print(f"ratio daemon/floor, load   p50 {ratio(d_load, f_load, 0.5)}  p99 {ratio(d_load, f_load, 0.99)}")
    print(f"ratio floor load/idle      p50 {ratio(f_load, f_idle, 0.5)}  p99 {ratio(f_load, f_idle, 0.99)}")
    print()
    print("where the daemon's time goes (wall clock, ms resolution; p50 / p99 / max):")
    for cond in (idle, load):
        segs = [s for seq, s in cond.segments.items() if seq not in cond.warmup]
        parts = []
        for index, name in enumerate(("publish->engine", "engine->channel", "channel->receiver")):
            values = sorted(s[index] for s in segs)
            if values:
                parts.append(f"{name} {quantile(values, 0.5):.0f}/{quantile(values, 0.99):.0f}/{values[-1]:.0f}")
        print(f"  {cond.name:<6} " + ("  ".join(parts) if parts else "no samples"))
    print(f"webhook connections used   idle {len(idle.hook_connections)}, load {len(load.hook_connections)} "
          "(each past the first was opened while alarms waited)")
    if idle.other_posts or load.other_posts:
        print(f"other webhook requests     {idle.other_posts + load.other_posts} (not alarms opened here)")
    print()
    if d_load:
        p99 = quantile(d_load, 0.99)
        verdict = "met" if p99 <= TARGET_P99_MS and len(d_load) == load.expected else "MISSED"
        print(f"target p99 <= {TARGET_P99_MS:g} ms under load: {verdict} (p99 {p99:.2f} ms, "
              f"{quantile(d_load, 0.99) / max(quantile(f_load, 0.99), 1e-9) if f_load else math.nan:.1f}x "
              "the floor's p99)")


# Main --------------------------------------------------------------------------------------


def daemon_env(base: Path, broker: EmbeddedMosquitto, database_url: str, registry: Path, routing: Path,
               http: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELIC_GUARD_")}
    keys = base / "keys"
    env.update({
        "RELIC_GUARD_MQTT_URL": broker.url,
        "RELIC_GUARD_DATABASE_URL": database_url,
        "RELIC_GUARD_REGISTRY": str(registry),
        "RELIC_GUARD_HTTP_LISTEN": http,
        "RELIC_GUARD_SPOOL_DIR": str(base / "spool"),
        "RELIC_GUARD_AUDIT_KEY_FILE": str(keys / "audit.key"),
        "RELIC_GUARD_ALERTS_ACK_KEY_FILE": str(keys / "ack.key"),
        "RELIC_GUARD_ALERTS_VAPID_KEY_FILE": str(keys / "vapid.pem"),
        "RELIC_GUARD_ALERTS_ROUTING_FILE": str(routing),
        "RELIC_GUARD_ALERTS_PUBLIC_URL": f"http://{http}",
        "PROMETHEUS_MULTIPROC_DIR": str(base / "metrics"),
        "PYTHONUNBUFFERED": "1",
        SECRET_ENV: "bench-secret",
    })
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--alarms", type=int, default=None, help="measured alarms per condition (default 300)")
    parser.add_argument("--rate", type=float, default=10_000.0, help="background telemetry, msg/s (default 10000)")
    parser.add_argument("--quick", action="store_true", help="50 alarms per condition")
    parser.add_argument("--spacing-ms", type=float, default=100.0, help="between alarms (default 100)")
    parser.add_argument("--sites", type=int, default=1000, help="simulated sites sending telemetry (default 1000)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    parser.add_argument("--json", type=Path, default=None, help="also write every alarm's timings here")
    args = parser.parse_args(argv)
    alarms = args.alarms if args.alarms is not None else (50 if args.quick else 300)
    if alarms < 1 or args.rate <= 0 or args.spacing_ms <= 0:
        parser.error("--alarms, --rate and --spacing-ms must be positive")
    spacing_s = args.spacing_ms / 1000.0

    try:
        command = ingest_bench.daemon_command()
    except BenchError as exc:
        print(f"bench/alert_latency.py: {exc}", file=sys.stderr)
        return 2
    machine = ingest_bench.machine_line()
    base = Path(tempfile.mkdtemp(prefix="relic-guard-bench-alerts-"))
    os.chmod(base, 0o755)  # PostgreSQL runs as its own user and must reach its folder
    log(f"{machine}; working in {base}")
    idle, load = Condition("idle"), Condition("load")
    code = 0
    receiver = Receiver()
    try:
        with ingest_bench.postgres(base) as pg:
            code = _run(args, alarms, spacing_s, base, pg, command, receiver, idle, load, machine)
    except BenchError as exc:
        print(f"bench/alert_latency.py: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("bench/alert_latency.py: interrupted", file=sys.stderr)
        code = 130
    finally:
        with contextlib.suppress(Exception):
            receiver.stop()
        if args.json is not None:
            args.json.write_text(json.dumps([as_json(c) for c in (idle, load)], indent=1) + "\n", encoding="utf-8")
        if args.keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
            if code != 0:
                log("the temporary folder is removed; rerun with --keep to read the daemon's log")
    return code


def _run(args: argparse.Namespace, alarms: int, spacing_s: float, base: Path, pg: EmbeddedPostgres,
         command: list[str], receiver: Receiver, idle: Condition, load: Condition, machine: str) -> int:
    receiver.start()
    broker = ingest_bench.fresh_broker(base, "broker")
    daemon: ingest_bench.Daemon | None = None
    generator: LoadGenerator | None = None
    publisher: mqtt.Client | None = None
    bridge: FloorBridge | None = None
    try:
        measure_s = (alarms + WARMUP_ALARMS) * spacing_s
        warmup_s = 3.0
        # Encoded while PostgreSQL and the daemon start. The plan's timestamps start about when
        # it will be sent; they need only be unique per device and within the daemon's window.
        start_ms = int((time.time() + 15.0 + measure_s) * 1000)
        generator = LoadGenerator(broker.port, args.sites, args.rate, warmup_s + 10.0 + measure_s + 10.0, start_ms)
        registry, routing = base / "registry", base / "routing.toml"
        detectors = iter(write_registry(registry, args.sites, 2 * (alarms + WARMUP_ALARMS)))
        write_routing(routing, receiver.port)
        http = f"127.0.0.1:{free_port()}"
        env = daemon_env(base, broker, pg.create_database("relic"), registry, routing, http)
        daemon = ingest_bench.Daemon(command, env, base / "daemon.log", http)
        log("starting the daemon (and encoding the background telemetry meanwhile)")
        daemon.start()
        daemon.wait_ready(120)
        lanes = os.cpu_count() or 1
        if not daemon.wait_ingest_subscribed(lanes, 60):
            log(f"could not confirm that {lanes} telemetry workers subscribed; going on")
        publisher = mqtt_client(broker, "bench-alarms")
        bridge = FloorBridge(broker, receiver.port)
        planned = generator.wait_ready(120)
        log(f"background ready: {planned:,} messages encoded")
        time.sleep(1.0)  # the daemon's start-up work (restore, config audit entry) is over

        log(f"idle: {alarms} alarms + {WARMUP_ALARMS} warm-up, {args.spacing_ms:g} ms apart, no background")
        run_alarms(idle, publisher, detectors, alarms, spacing_s)
        collect(idle, receiver, 15.0)

        log(f"load: starting {args.rate:,.0f} msg/s of telemetry from {args.sites} sites")
        generator.go()
        seen = wait_for_rate(http, args.rate, generator, 10.0)
        log(f"load: daemon taking in {seen:,.0f} msg/s; {warmup_s:g} s more before the first alarm")
        time.sleep(warmup_s)
        before, t0 = env_messages(http), time.monotonic()
        run_alarms(load, publisher, detectors, alarms, spacing_s)
        after, t1 = env_messages(http), time.monotonic()
        load.env_msgs_s = (after - before) / (t1 - t0)
        log(f"load: {load.env_msgs_s:,.0f} msg/s of telemetry taken in during the alarms")
        if not generator.alive:
            log("note: the background ended before the last alarm")
        collect(load, receiver, 15.0)
        generator.stop()
        if generator.result is not None:
            sent, acked, elapsed = generator.result
            load.publisher = f"{sent:,} sent, {acked:,} acknowledged in {elapsed:.1f} s = {acked / elapsed:,.0f} msg/s"

        findings = log_findings(base / "daemon.log")
        report(idle, load, args.rate, machine, args.spacing_ms)
        if findings:
            print(f"\ndaemon log: {len(findings)} warning/error line(s) besides the alarms; first ones:")
            for line in findings[:5]:
                print(f"  {line[:200]}")
        if bridge.failures:
            print(f"floor bridge: {bridge.failures} POST(s) failed")
        complete = all(
            len(c.daemon_ms) == len(c.alarms) and len(c.floor_ms) == len(c.floors) for c in (idle, load)
        )
        return 0 if complete else 1
    finally:
        if generator is not None:
            generator.stop()
        if bridge is not None:
            bridge.close()
        if publisher is not None:
            publisher.disconnect()
            publisher.loop_stop()
        if daemon is not None:
            daemon.stop()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
