"""Simulated heritage sites: realistic native-contract MQTT traffic for tests, demos and benchmarks.

Two halves, kept apart on purpose:

- `plan_traffic` is pure: from (sites, rate, duration, seed, scenario, prefix, start_ms)
  it yields `(offset_s, topic, payload)` in non-decreasing offset order, the same
  bytes for the same arguments. It never reads the clock unless `start_ms` is left
  out (then "now" is read once, up front). `registry_for` yields the matching
  site and device sheets, so a daemon fed with them quarantines nothing as an
  unknown device.
- `publish` is the I/O: paho MQTT 5 publishers at QoS 1, split over worker
  processes by a hash of the topic (one device's messages keep their order),
  each capping its unacknowledged messages at `window` (past 65,535 outstanding
  packet ids paho silently loses messages), paced to the plan's offsets or as fast
  as the broker acknowledges.

Simulated site `sim-0001` holds: `fire-panel-1` (source fire; a heartbeat every
30 s, detectors reporting through it), `env-1`..`env-3` (source env; telemetry
with temperature, humidity and smoke obscuration drifting around the site's own
climate) and `security-panel-1` (source security; doors opening and closing).
Every device announces a retained `online` status at the start (not in `flood`).

Rate accounting: the plan emits exactly floor(rate x t) messages by every whole
simulated second t; periodic and scenario messages come first and telemetry fills
the rest of each second's budget (a burst, such as the start-up statuses, is paid
back by the following seconds).
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import io
import itertools
import json
import math
import multiprocessing
import os
import random
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from relic_guard.errors import RelicGuardError

SCENARIOS: Final = ("steady", "fire", "intrusion", "outage", "flood")
METRICS: Final = ("temperature_c", "humidity_pct", "smoke_obscuration_pct")
# Rows one simulated telemetry message becomes in the readings table.
METRICS_PER_TELEMETRY: Final = len(METRICS)
HEARTBEAT_S: Final = 30
ENV_SENSORS_PER_SITE: Final = 3
DEVICES_PER_SITE: Final = 2 + ENV_SENSORS_PER_SITE
# Plan rate behind `simulate --rate 0` (flat out): faster than any publisher here, so the
# timestamps lag the wall clock rather than run into the future (quarantined past 5 minutes).
FLAT_OUT_PLAN_RATE: Final = 100_000.0

Planned = tuple[float, str, bytes]

# Jinan's districts and counties, for the registry sheet.
JINAN_DISTRICTS: Final = (
    "历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区",
    "章丘区", "济阳区", "莱芜区", "钢城区", "平阴县", "商河县",
)
_LEVELS: Final = ("全国重点文物保护单位", "省级文物保护单位", "市级文物保护单位", "县级文物保护单位")
_KINDS: Final = ("古建筑", "古遗址", "古墓葬", "石窟寺及石刻", "近现代重要史迹及代表性建筑")
_SURNAMES: Final = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_GIVEN: Final = ("伟", "芳", "娜", "敏", "静", "磊", "强", "洋", "军", "杰", "涛", "明", "霞", "平", "刚")
_ENV_ZONES: Final = ("正殿", "东配殿", "库房")
_FIRE_ZONES: Final = ("Z01", "Z02", "Z03", "Z04")
_FIRE_ZONE_NAMES: Final = {"Z01": "正殿", "Z02": "东配殿", "Z03": "西配殿", "Z04": "库房"}
_DOORS: Final = ("正门", "东侧门", "库房门")
_PERIMETER: Final = ("北围墙", "东围墙", "后院")


class SimulateError(RelicGuardError):
    """The simulator could not reach the broker, or a publisher process failed."""


# --------------------------------------------------------------------------- sites and devices


@dataclass(frozen=True, slots=True)
class SimDevice:
    site: str
    id: str
    source: str
    kind: str
    zone: str
    heartbeat_s: int | None


def site_id(index: int) -> str:
    """The id of the `index`-th simulated site, counting from 1: `sim-0001`."""
    return f"sim-{index:04d}"


def devices_of(site: str) -> list[SimDevice]:
    """The devices every simulated site holds, in a fixed order."""
    devices = [SimDevice(site, "fire-panel-1", "fire", "fire_alarm_panel", "", HEARTBEAT_S)]
    devices += [
        SimDevice(site, f"env-{n}", "env", "env_sensor", _ENV_ZONES[(n - 1) % len(_ENV_ZONES)], None)
        for n in range(1, ENV_SENSORS_PER_SITE + 1)
    ]
    devices.append(SimDevice(site, "security-panel-1", "security", "intrusion_panel", "", None))
    return devices


def registry_for(sites: int) -> tuple[str, str]:
    """The registry sheets (CONTRACT §6) for `sites` simulated sites: (sites.csv, devices.csv) text."""
    if sites < 1:
        raise ValueError("sites must be at least 1")
    sites_out, devices_out = io.StringIO(), io.StringIO()
    site_rows = csv.writer(sites_out, lineterminator="\n")
    device_rows = csv.writer(devices_out, lineterminator="\n")
    site_rows.writerow(
        ["id", "name", "district", "level", "kind", "lat", "lon", "custodians", "boundary_wkt", "open_hours"]
    )
    device_rows.writerow(["site", "id", "source", "kind", "zone", "heartbeat_s", "external_id"])
    for index in range(1, sites + 1):
        sid = site_id(index)
        # Per-site generator: a site's row does not depend on how many sites there are.
        rng = random.Random(f"site-{index}")
        lat = round(rng.uniform(36.40, 36.90), 5)
        lon = round(rng.uniform(116.70, 117.60), 5)
        half = 0.0015
        boundary = (
            f"POLYGON(({lon - half:.5f} {lat - half:.5f}, {lon + half:.5f} {lat - half:.5f}, "
            f"{lon + half:.5f} {lat + half:.5f}, {lon - half:.5f} {lat + half:.5f}, "
            f"{lon - half:.5f} {lat - half:.5f}))"
        )
        custodians = ";".join(rng.choice(_SURNAMES) + rng.choice(_GIVEN) for _ in range(rng.randint(1, 3)))
        site_rows.writerow([
            sid, f"模拟文物点{index:04d}", JINAN_DISTRICTS[(index - 1) % len(JINAN_DISTRICTS)],
            rng.choice(_LEVELS), rng.choice(_KINDS), lat, lon, custodians, boundary,
            rng.choice(("08:30-17:00", "09:00-17:30", "08:00-18:00")),
        ])
        for device in devices_of(sid):
            device_rows.writerow([
                device.site, device.id, device.source, device.kind, device.zone,
                "" if device.heartbeat_s is None else device.heartbeat_s, "",
            ])
    return sites_out.getvalue(), devices_out.getvalue()


def write_registry(sites: int, folder: Path) -> tuple[Path, Path]:
    """Write `sites.csv` and `devices.csv` for `sites` simulated sites into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    sites_text, devices_text = registry_for(sites)
    sites_path, devices_path = folder / "sites.csv", folder / "devices.csv"
    sites_path.write_text(sites_text, encoding="utf-8")
    devices_path.write_text(devices_text, encoding="utf-8")
    return sites_path, devices_path


# --------------------------------------------------------------------------- the plan


@dataclass(slots=True)
class _EnvState:
    """One env sensor's drifting climate: mean-reverting random walks around the site's baseline."""

    site: str
    device: str
    topic: str
    temp_base: float
    hum_base: float
    smoke_base: float
    temp: float
    hum: float
    smoke: float
    # A fire nearby: from this offset on, smoke and heat climb.
    fire_from_s: float = math.inf
    # Readings are keyed by (device, metric, ts): two messages of one device never share a millisecond.
    last_ts: int = -1


def _json(obj: dict[str, object]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class _Planner:
    """The state behind one `plan_traffic` iteration (kept out of the generator for readability)."""

    def __init__(
        self, *, sites: int, rate_msgs_s: float, duration_s: float | None, seed: int, scenario: str,
        prefix: str, start_ms: int,
    ) -> None:
        self.rng = random.Random(seed)
        self.rate = rate_msgs_s
        self.duration = duration_s
        self.scenario = scenario
        self.prefix = prefix
        self.start_ms = start_ms
        self.id_prefix = f"{start_ms:x}.{seed}."
        self.counter = itertools.count(1)
        self.site_ids = [site_id(i) for i in range(1, sites + 1)]
        self.env: list[_EnvState] = []
        for sid in self.site_ids:
            temp_base = self.rng.uniform(8.0, 24.0)
            hum_base = self.rng.uniform(35.0, 68.0)
            for n in range(1, ENV_SENSORS_PER_SITE + 1):
                t = temp_base + self.rng.uniform(-1.0, 1.0)
                h = hum_base + self.rng.uniform(-3.0, 3.0)
                s = self.rng.uniform(0.01, 0.15)
                self.env.append(_EnvState(
                    sid, f"env-{n}", self.topic(sid, "env", f"env-{n}", "telemetry"), t, h, s, t, h, s,
                ))
        self.env_cursor = 0
        # Devices that went silent (scenario `outage`), as (site, device).
        self.silenced: set[tuple[str, str]] = set()
        # Background happenings, earliest first: (offset_s, tie-breaker, action).
        self.heap: list[tuple[float, int, Callable[[float], list[Planned]]]] = []
        self.tie = itertools.count()
        self.emitted = 0
        self._schedule_background()

    # -- helpers -------------------------------------------------------------------
    def topic(self, site: str, source: str, device: str, channel: str) -> str:
        return f"{self.prefix}/{site}/{source}/{device}/{channel}"

    def ts(self, offset_s: float) -> int:
        return self.start_ms + round(offset_s * 1000)

    def next_id(self) -> str:
        return f"{self.id_prefix}{next(self.counter)}"

    def at(self, offset_s: float, action: Callable[[float], list[Planned]]) -> None:
        heapq.heappush(self.heap, (offset_s, next(self.tie), action))

    def event(self, offset_s: float, site: str, source: str, device: str, **fields: object) -> Planned:
        body: dict[str, object] = {"id": self.next_id(), "ts": self.ts(offset_s)}
        body.update(fields)
        return (offset_s, self.topic(site, source, device, "event"), _json(body))

    def status(self, offset_s: float, device: SimDevice, state: str) -> Planned:
        return (offset_s, self.topic(device.site, device.source, device.id, "status"), state.encode())

    # -- background: statuses, heartbeats, doors, faults, the scenario --------------------
    def _schedule_background(self) -> None:
        if self.scenario == "flood":
            return
        rng = self.rng
        all_devices = [d for sid in self.site_ids for d in devices_of(sid)]
        spread = 0.9 / max(1, len(all_devices))

        def online(device: SimDevice) -> Callable[[float], list[Planned]]:
            return lambda t: [self.status(t, device, "online")]

        for index, device in enumerate(all_devices):
            self.at(index * spread, online(device))
        for sid in self.site_ids:
            # After the start-up statuses (all within the first second).
            self.at(1.0 + rng.uniform(0.0, HEARTBEAT_S), self._heartbeat(sid))
            self.at(1.0 + rng.expovariate(1 / 900.0), self._door_open(sid))
        first_s = rng.uniform(3.0, 8.0)
        target = rng.choice(self.site_ids)
        if self.scenario == "fire":
            self._plan_fire(first_s, target)
            for sid in self.site_ids:
                self.at(rng.expovariate(1 / 1200.0), self._fault(sid))
                self.at(rng.expovariate(1 / 3600.0), self._nuisance_alarm(sid))
        elif self.scenario == "intrusion":
            self._plan_intrusion(first_s, target)
        elif self.scenario == "outage":
            victim = rng.choice(devices_of(target))
            self.at(first_s, self._outage(victim))

    def _heartbeat(self, site: str) -> Callable[[float], list[Planned]]:
        def action(t: float) -> list[Planned]:
            self.at(t + HEARTBEAT_S, action)
            if (site, "fire-panel-1") in self.silenced:
                return []
            return [self.event(t, site, "fire", "fire-panel-1", type="heartbeat", component="panel")]
        return action

    def _door_open(self, site: str) -> Callable[[float], list[Planned]]:
        def action(t: float) -> list[Planned]:
            door = self.rng.choice(_DOORS)
            self.at(t + self.rng.uniform(5.0, 90.0), self._door_close(site, door))
            self.at(t + self.rng.expovariate(1 / 900.0) + 90.0, action)
            if (site, "security-panel-1") in self.silenced:
                return []
            return [self.event(t, site, "security", "security-panel-1", type="door_open", zone=door)]
        return action

    def _door_close(self, site: str, door: str) -> Callable[[float], list[Planned]]:
        def action(t: float) -> list[Planned]:
            if (site, "security-panel-1") in self.silenced:
                return []
            return [self.event(t, site, "security", "security-panel-1", type="door_close", zone=door)]
        return action

    def _fault(self, site: str) -> Callable[[float], list[Planned]]:
        def action(t: float) -> list[Planned]:
            self.at(t + self.rng.expovariate(1 / 1200.0) + 60.0, action)
            zone = self.rng.choice(_FIRE_ZONES)
            component, description = self.rng.choice((
                ("smoke_detector", "感烟探测器故障"), ("heat_detector", "感温探测器故障"),
                ("manual_call_point", "手动报警按钮故障"), ("panel", "回路通讯故障"),
            ))
            self.at(t + self.rng.uniform(20.0, 120.0), lambda t2: [self.event(
                t2, site, "fire", "fire-panel-1", type="fault", zone=zone, component=component,
                description=description + "恢复", clear=True,
            )])
            return [self.event(
                t, site, "fire", "fire-panel-1", type="fault", zone=zone, component=component,
                description=description, clear=False,
            )]
        return action

    def _nuisance_alarm(self, site: str) -> Callable[[float], list[Planned]]:
        # A lone detector alarm (dust, steam), never confirmed by a second detector.
        def action(t: float) -> list[Planned]:
            self.at(t + self.rng.expovariate(1 / 3600.0) + 300.0, action)
            zone = self.rng.choice(_FIRE_ZONES)
            return [self.event(
                t, site, "fire", "fire-panel-1", type="fire_alarm", zone=zone, component="smoke_detector",
                description=f"{_FIRE_ZONE_NAMES[zone]}感烟探测器报警",
            )]
        return action

    def _plan_fire(self, first_s: float, site: str) -> None:
        zone = self.rng.choice(_FIRE_ZONES)
        place = _FIRE_ZONE_NAMES[zone]
        confirm_s = first_s + self.rng.uniform(4.0, 12.0)
        self.at(first_s, lambda t: [self.event(
            t, site, "fire", "fire-panel-1", type="fire_alarm", zone=zone, component="smoke_detector",
            description=f"{place}感烟探测器报警 (回路1 地址07)",
        )])
        self.at(confirm_s, lambda t: [self.event(
            t, site, "fire", "fire-panel-1", type="fire_alarm", zone=zone, component="heat_detector",
            description=f"{place}感温探测器报警 (回路1 地址09), 火警确认",
        )])
        # The smoke reaches the env sensors of that site a little before the panel raises the alarm.
        for state in self.env:
            if state.site == site:
                state.fire_from_s = first_s - 2.0

    def _plan_intrusion(self, first_s: float, site: str) -> None:
        where = self.rng.choice(_PERIMETER)
        self.at(first_s, lambda t: [self.event(
            t, site, "security", "security-panel-1", type="vibration", zone=where)])
        self.at(first_s + self.rng.uniform(2.0, 6.0), lambda t: [self.event(
            t, site, "security", "security-panel-1", type="intrusion", zone=where)])
        self.at(first_s + self.rng.uniform(8.0, 15.0), lambda t: [self.event(
            t, site, "security", "security-panel-1", type="door_open", zone="库房门")])

    def _outage(self, device: SimDevice) -> Callable[[float], list[Planned]]:
        def action(t: float) -> list[Planned]:
            self.silenced.add((device.site, device.id))
            # What the broker publishes for a device's last will when its link dies.
            return [self.status(t, device, "offline")]
        return action

    # -- telemetry ------------------------------------------------------------------------
    def telemetry(self, offset_s: float) -> Planned | None:
        env = self.env
        for _ in range(len(env)):
            state = env[self.env_cursor]
            self.env_cursor = (self.env_cursor + 1) % len(env)
            if (state.site, state.device) not in self.silenced:
                break
        else:
            return None
        gauss = self.rng.gauss
        state.temp += 0.05 * (state.temp_base - state.temp) + gauss(0.0, 0.08)
        state.hum += 0.05 * (state.hum_base - state.hum) + gauss(0.0, 0.3)
        state.smoke = max(0.0, state.smoke + 0.1 * (state.smoke_base - state.smoke) + gauss(0.0, 0.01))
        temp, smoke = state.temp, state.smoke
        if offset_s >= state.fire_from_s:
            burning = offset_s - state.fire_from_s
            smoke += min(15.0, 0.8 * burning)
            temp += min(25.0, 0.4 * burning)
        hum = min(100.0, max(0.0, state.hum))
        ts = max(self.start_ms + round(offset_s * 1000), state.last_ts + 1)
        state.last_ts = ts
        payload = (
            f'{{"id":"{self.id_prefix}{next(self.counter)}","ts":{ts},'
            f'"values":{{"temperature_c":{temp:.2f},"humidity_pct":{hum:.1f},'
            f'"smoke_obscuration_pct":{smoke:.3f}}}}}'
        ).encode()
        return (offset_s, state.topic, payload)

    # -- the plan, second by second --------------------------------------------------------
    def __iter__(self) -> Iterator[Planned]:
        second = 0
        while self.duration is None or second < self.duration:
            end = second + 1.0
            if self.duration is not None:
                end = min(end, self.duration)
            budget = math.floor(self.rate * end + 1e-9) - self.emitted
            batch: list[Planned] = []
            while self.heap and self.heap[0][0] < end:
                t, _, action = heapq.heappop(self.heap)
                batch.extend(action(t))
            count = max(0, budget - len(batch))
            span = end - second
            for k in range(count):
                item = self.telemetry(second + span * k / count)
                if item is None:
                    break
                batch.append(item)
            batch.sort(key=lambda item: item[0])
            self.emitted += len(batch)
            yield from batch
            second += 1


def plan_traffic(
    sites: int,
    rate_msgs_s: float,
    duration_s: float | None,
    seed: int,
    scenario: str = "steady",
    prefix: str = "relic",
    *,
    start_ms: int | None = None,
) -> Iterator[Planned]:
    """Native-contract traffic of `sites` simulated sites: `(offset_s, topic, payload)`, offsets
    non-decreasing from 0, about `rate_msgs_s` messages per simulated second (exactly
    floor(rate x t) by every whole second t, see the module notes), for `duration_s`
    seconds or forever (None). Deterministic for (arguments, `start_ms`); `start_ms` is the
    epoch milliseconds of offset 0 (default: now, read once)."""
    if sites < 1:
        raise ValueError("sites must be at least 1")
    if not rate_msgs_s > 0 or not math.isfinite(rate_msgs_s):
        raise ValueError("rate_msgs_s must be a positive number of messages per second")
    if duration_s is not None and not duration_s > 0:
        raise ValueError("duration_s must be positive (or None: forever)")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if start_ms is None:
        start_ms = int(time.time() * 1000)
    return iter(_Planner(
        sites=sites, rate_msgs_s=rate_msgs_s, duration_s=duration_s, seed=seed, scenario=scenario,
        prefix=prefix, start_ms=start_ms,
    ))


# --------------------------------------------------------------------------- publishing


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://user:pass@host:port` (or `mqtts://` for TLS, `tcp://` as an alias of mqtt)."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise SimulateError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
    tls = parts.scheme in ("mqtts", "ssl")
    if not parts.hostname:
        raise SimulateError(f"broker URL {url!r} names no host")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise SimulateError(f"broker URL {url!r}: bad port") from exc
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
    )


@dataclass(frozen=True, slots=True)
class PublishReport:
    sent: int
    acked: int
    # Refused by the broker (PUBACK reason code >= 0x80: not authorized, quota, …).
    failed: int
    elapsed_s: float
    # Acknowledged messages per second from the first publish to the last acknowledgement.
    rate_msgs_s: float
    processes: int
    interrupted: bool = False

    @property
    def unacked(self) -> int:
        return self.sent - self.acked - self.failed


# Messages handed to a worker per queue item: amortises pickling without delaying a slow plan.
_CHUNK: Final = 200
_QUEUE_CHUNKS: Final = 64


@dataclass(frozen=True, slots=True)
class _WorkerSpec:
    index: int
    address: BrokerAddress
    client_id: str
    window: int
    paced: bool
    # MQTT 5, or 3.1.1 for a broker that refuses 5 (amqtt).
    protocol: int = mqtt.MQTTv5


def _publish_worker(spec: _WorkerSpec, work: Any, results: Any, counters: Any, stop: Any) -> None:
    """One publisher process: connect, publish what arrives on `work` at QoS 1 with at most
    `window` unacknowledged, then wait for the last acknowledgements and report."""
    # The parent decides when to stop (Ctrl-C and SIGTERM reach the whole process group);
    # should the parent die, the worker notices its new parent id and stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        _publish_worker_body(spec, work, results, counters, stop)
    except Exception as exc:  # reported to the parent, which raises it
        results.put(("error", spec.index, f"{type(exc).__name__}: {exc}"))


def _publish_worker_body(spec: _WorkerSpec, work: Any, results: Any, counters: Any, stop: Any) -> None:
    index, address, window, paced = spec.index, spec.address, spec.window, spec.paced
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=spec.client_id, protocol=spec.protocol)  # type: ignore[arg-type]
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    slots = threading.Semaphore(window)
    connected = threading.Event()
    refused: list[str] = []
    tally = {"acked": 0, "failed": 0, "last_ack": 0.0}
    sent_slot, acked_slot = 2 * index, 2 * index + 1

    def on_connect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        connected.set()

    def on_publish(_c: Any, _u: Any, _mid: int, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            tally["failed"] += 1
        else:
            tally["acked"] += 1
            counters[acked_slot] = int(tally["acked"])
        tally["last_ack"] = time.monotonic()
        slots.release()

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect(address.host, address.port, keepalive=30)
    client.loop_start()
    try:
        if not connected.wait(15.0) or refused:
            why = refused[0] if refused else "no CONNACK within 15 s"
            results.put(("error", index, f"broker {address.host}:{address.port} refused: {why}"))
            return
        results.put(("ready", index))
        parent = os.getppid()
        t0, until = work.get()  # the shared start (monotonic clock) and the end of publishing, if any
        sent = 0
        finished = False
        while not finished and not stop.value:
            try:
                chunk = work.get(timeout=0.2)
            except Exception:  # queue.Empty: look at `stop` again, and whether the parent died
                if os.getppid() != parent:
                    break
                continue
            if chunk is None:
                break
            for offset, topic, payload in chunk:
                if until is not None and time.monotonic() >= until:
                    finished = True
                    break
                if paced:
                    delay = t0 + offset - time.monotonic()
                    # Sleeping for less than a couple of milliseconds costs more than it paces.
                    while delay > 0.002 and not stop.value:
                        time.sleep(min(delay, 0.2))
                        delay = t0 + offset - time.monotonic()
                    if stop.value:
                        finished = True
                        break
                while not slots.acquire(timeout=0.2):
                    if stop.value or os.getppid() != parent:
                        finished = True
                        break
                if finished:
                    break
                info = client.publish(topic, payload, qos=1, retain=topic.endswith("/status"))
                if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                    slots.release()
                    raise SimulateError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
                sent += 1
                counters[sent_slot] = sent
        # The last acknowledgements: wait for them (briefly when asked to stop).
        deadline = time.monotonic() + (3.0 if stop.value else 120.0)
        while tally["acked"] + tally["failed"] < sent and time.monotonic() < deadline:
            if stop.value or os.getppid() != parent:
                deadline = min(deadline, time.monotonic() + 3.0)
            time.sleep(0.01)
        results.put(("done", index, sent, int(tally["acked"]), int(tally["failed"]), t0, tally["last_ack"]))
    finally:
        client.disconnect()
        client.loop_stop()


def _topic_worker(topic: str, processes: int) -> int:
    # crc32, not hash(): stable across runs, so a rerun splits the devices the same way.
    return zlib.crc32(topic.encode()) % processes


def publish(
    url: str,
    messages: Iterable[Planned],
    *,
    rate_msgs_s: float,
    processes: int = 1,
    window: int = 2000,
    progress: bool = False,
    total: int | None = None,
    max_seconds: float | None = None,
    client_id_prefix: str = "relic-sim",
) -> PublishReport:
    """Publish planned messages at QoS 1 (statuses retained) over `processes` worker processes.

    Paced to each message's offset when `rate_msgs_s` > 0 (the plan's offsets carry the
    rate), else as fast as the broker acknowledges. Returns once every sent message is
    acknowledged (or after a 2-minute grace). With `max_seconds`, publishing stops after that
    long even if messages remain. Ctrl-C (or SIGTERM) stops the workers and returns a report
    with `interrupted` set."""
    if processes < 1:
        raise ValueError("processes must be at least 1")
    if not 1 <= window <= 60000:
        raise ValueError("window must be between 1 and 60000 (MQTT packet ids are 16 bits)")
    address = parse_broker_url(url)
    if total is None and isinstance(messages, Sized):
        total = len(messages)
    from relic_guard.config import MqttConfig
    from relic_guard.mqtt_probe import negotiate_protocol

    protocol = negotiate_protocol(MqttConfig(url=url))
    ctx = multiprocessing.get_context("spawn")
    counters = ctx.Array("q", 2 * processes, lock=False)
    # A lock-free flag, not an Event: a process killed while holding an Event's lock
    # would leave everyone else waiting on it forever.
    stop = ctx.RawValue("b", 0)
    results: Any = ctx.Queue()
    queues: list[Any] = [ctx.Queue(maxsize=_QUEUE_CHUNKS) for _ in range(processes)]
    tag = f"{client_id_prefix}-{os.getpid()}-{random.randrange(16**6):06x}"
    workers = [
        ctx.Process(
            target=_publish_worker,
            args=(
                _WorkerSpec(i, address, f"{tag}-{i}", window, rate_msgs_s > 0, protocol),
                queues[i], results, counters, stop,
            ),
            name=f"relic-sim-publisher-{i}",
            daemon=True,
        )
        for i in range(processes)
    ]
    display = _Progress(counters, processes, total) if progress else None
    interrupted = False
    # SIGTERM (systemd, `timeout`, a benchmark harness) stops as cleanly as Ctrl-C.
    previous_sigterm = None
    if threading.current_thread() is threading.main_thread():
        previous_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    done: dict[int, tuple[int, int, int, float, float]] = {}
    try:
        for worker in workers:
            worker.start()
        _await_ready(results, workers)
        t0 = time.monotonic() + 0.05
        until = None if max_seconds is None else t0 + max_seconds
        for queue in queues:
            queue.put((t0, until))
        if display is not None:
            display.start(t0)
        buffers: list[list[Planned]] = [[] for _ in range(processes)]
        for item in messages:
            w = _topic_worker(item[1], processes) if processes > 1 else 0
            buffer = buffers[w]
            buffer.append(item)
            if len(buffer) >= _CHUNK:
                if not _put(queues[w], buffer, workers[w], until):
                    break
                buffers[w] = []
        for w, buffer in enumerate(buffers):
            if buffer:
                _put(queues[w], buffer, workers[w], until)
            _put(queues[w], None, workers[w], until)
        _collect(results, workers, done, stop)
    except KeyboardInterrupt:
        interrupted = True
        stop.value = 1
        for queue in queues:
            queue.cancel_join_thread()
        with contextlib.suppress(KeyboardInterrupt):
            _collect(results, workers, done, stop, grace_s=10.0)
    finally:
        stop.value = 1
        for queue in queues:
            queue.cancel_join_thread()  # what a stopped worker left unread does not matter
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        if display is not None:
            display.stop()
        for worker in workers:
            worker.join(timeout=5.0)
            if worker.is_alive():
                worker.kill()  # workers ignore SIGTERM
                worker.join()
    sent = sum(d[0] for d in done.values()) if done else sum(counters[2 * i] for i in range(processes))
    acked = sum(d[1] for d in done.values()) if done else sum(counters[2 * i + 1] for i in range(processes))
    failed = sum(d[2] for d in done.values())
    if done:
        begin = min(d[3] for d in done.values())
        end = max(d[4] for d in done.values())
        elapsed = max(end - begin, 1e-9) if end else 0.0
    else:
        elapsed = 0.0
    return PublishReport(
        sent=sent, acked=acked, failed=failed, elapsed_s=elapsed,
        rate_msgs_s=acked / elapsed if elapsed > 0 else 0.0, processes=processes, interrupted=interrupted,
    )


def _raise_keyboard_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _put(queue: Any, item: object, worker: Any, until: float | None) -> bool:
    """Hand `item` to a worker; False when `until` passed first (the worker stops by itself)."""
    while True:
        try:
            queue.put(item, timeout=0.2)
            return True
        except Exception as exc:  # queue.Full: is the worker still there, is it time to stop?
            if until is not None and time.monotonic() >= until:
                return False
            if not worker.is_alive():
                raise SimulateError(f"{worker.name} exited (code {worker.exitcode})") from exc


def _await_ready(results: Any, workers: list[Any]) -> None:
    ready: set[int] = set()
    deadline = time.monotonic() + 30.0
    while len(ready) < len(workers):
        if time.monotonic() > deadline:
            raise SimulateError("publisher processes did not connect to the broker within 30 s")
        try:
            message = results.get(timeout=0.2)
        except Exception:
            dead = [w for w in workers if not w.is_alive()]
            if dead:
                raise SimulateError(f"{dead[0].name} exited (code {dead[0].exitcode})") from None
            continue
        if message[0] == "error":
            raise SimulateError(message[2])
        ready.add(message[1])


def _collect(
    results: Any, workers: list[Any], done: dict[int, tuple[int, int, int, float, float]], stop: Any,
    grace_s: float | None = None,
) -> None:
    deadline = None if grace_s is None else time.monotonic() + grace_s
    while len(done) < len(workers):
        if deadline is not None and time.monotonic() > deadline:
            return
        try:
            message = results.get(timeout=0.2)
        except Exception:
            missing = [w for i, w in enumerate(workers) if i not in done and not w.is_alive()]
            if missing and results.empty():
                if stop.value:
                    return
                raise SimulateError(f"{missing[0].name} exited (code {missing[0].exitcode})") from None
            continue
        if message[0] == "error":
            if stop.value:
                continue
            raise SimulateError(message[2])
        if message[0] == "done":
            _, index, sent, acked, failed, begin, end = message
            done[index] = (sent, acked, failed, begin, end)


class _Progress:
    """A rich progress display fed from the workers' shared counters by a thread of its own."""

    def __init__(self, counters: Any, processes: int, total: int | None) -> None:
        self.counters = counters
        self.processes = processes
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:>10,.0f}{task.fields[of]}"),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeElapsedColumn(),
            refresh_per_second=5,
        )
        of = f" / {total:,}" if total else ""
        self.sent_task = self.progress.add_task("sent ", total=total, of=of, rate="")
        self.acked_task = self.progress.add_task("acked", total=total, of=of, rate="")
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="relic-sim-progress", daemon=True)
        self.t0 = time.monotonic()

    def start(self, t0: float) -> None:
        self.t0 = t0
        self.progress.start()
        self.thread.start()

    def _totals(self) -> tuple[int, int]:
        c, n = self.counters, self.processes
        return (sum(c[2 * i] for i in range(n)), sum(c[2 * i + 1] for i in range(n)))

    def _run(self) -> None:
        last_t, last_acked = self.t0, 0
        while True:
            halted = self.halt.wait(0.25)
            sent, acked = self._totals()
            now = time.monotonic()
            if now - last_t >= 1.0 or halted:
                recent = (acked - last_acked) / max(now - last_t, 1e-9)
                self.progress.update(self.acked_task, rate=f"{recent:,.0f} msg/s")
                last_t, last_acked = now, acked
            self.progress.update(self.sent_task, completed=sent)
            self.progress.update(self.acked_task, completed=acked)
            if halted:
                overall = acked / max(now - self.t0, 1e-9)
                self.progress.update(self.sent_task, rate=f"avg {overall:,.0f} msg/s")
                return

    def stop(self) -> None:
        if self.thread.is_alive():
            self.halt.set()
            self.thread.join()
        self.progress.stop()


# --------------------------------------------------------------------------- the command


def simulate_main(
    broker: str,
    sites: int,
    rate: float,
    duration: float | None,
    scenario: str = "steady",
    seed: int = 1,
    processes: int = 1,
    registry_out: Path | None = None,
    prefix: str = "relic",
) -> int:
    """`relic-guard simulate`: publish `sites` simulated sites' traffic to `broker` at `rate`
    messages per second (0: as fast as the broker acknowledges) for `duration` seconds
    (None: until Ctrl-C), writing the matching registry sheets to `registry_out` first if
    given. Returns the exit code:
    0 when every message was acknowledged, 1 when some were not, 130 after Ctrl-C."""
    console = Console(stderr=True)
    try:
        parse_broker_url(broker)
        # Checks the arguments before anything is written or connected.
        plan_traffic(sites, rate if rate > 0 else FLAT_OUT_PLAN_RATE, duration, seed, scenario, prefix, start_ms=0)
    except (ValueError, SimulateError) as exc:
        console.print(f"[red]simulate: {exc}[/]")
        return 2
    if registry_out is not None:
        sites_path, devices_path = write_registry(sites, registry_out)
        console.print(f"registry for {sites} simulated sites: {sites_path}, {devices_path}")
    if rate > 0:
        plan = plan_traffic(sites, rate, duration, seed, scenario, prefix)
        total = math.floor(rate * duration) if duration is not None else None
        speed = f"{rate:g} msg/s"
    else:
        # As fast as the broker takes them, for `duration` seconds of wall time. The plan's
        # timestamps advance at FLAT_OUT_PLAN_RATE, so they stay behind the clock, never ahead.
        plan = plan_traffic(sites, FLAT_OUT_PLAN_RATE, None, seed, scenario, prefix)
        total = None
        speed = "as fast as possible"
    how_long = f"for {duration:g} s" if duration is not None else "until Ctrl-C"
    console.print(
        f"simulating {sites} sites ({sites * DEVICES_PER_SITE} devices), scenario [bold]{scenario}[/], "
        f"{speed} {how_long} → {broker} ({processes} publisher process{'es' if processes > 1 else ''})"
    )
    try:
        report = publish(
            broker, plan, rate_msgs_s=rate, processes=processes, progress=True, total=total,
            max_seconds=duration if rate <= 0 else None,
        )
    except SimulateError as exc:
        console.print(f"[red]simulate: {exc}[/]")
        return 1
    table = Table(title="simulate: summary", show_header=False)
    table.add_row("sent", f"{report.sent:,}")
    table.add_row("acknowledged", f"{report.acked:,}")
    if report.failed:
        table.add_row("refused by broker", f"[red]{report.failed:,}[/]")
    if report.unacked:
        table.add_row("unacknowledged", f"[yellow]{report.unacked:,}[/]")
    table.add_row("elapsed", f"{report.elapsed_s:,.1f} s")
    table.add_row("achieved rate", f"{report.rate_msgs_s:,.0f} msg/s")
    if report.interrupted:
        table.add_row("stopped", "early (Ctrl-C or SIGTERM)")
    console.print(table)
    if report.interrupted:
        return 130
    return 0 if report.acked == report.sent and not report.failed else 1
