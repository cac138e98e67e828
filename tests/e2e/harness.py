"""Helpers for end-to-end tests: a daemon in its own process, a windowed QoS 1 publisher, a registry."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg

from relic_guard.embedded import free_port

SITES_CSV = """\
id,name,district,level,kind,lat,lon,custodians,boundary_wkt,open_hours
chengziya,城子崖遗址,章丘区,全国重点文物保护单位,古遗址,36.7981,117.4723,王建国;李秀兰,"POLYGON((117.467 36.794,117.478 36.794,117.478 36.803,117.467 36.803,117.467 36.794))",08:30-17:00
lingyan-si,灵岩寺,长清区,全国重点文物保护单位,古建筑,36.3654,116.9702,张伟,,08:00-17:30
"""

DEVICES_CSV = """\
site,id,source,kind,zone,heartbeat_s,external_id
chengziya,panel-1,fire,fire_panel,主殿,60,
chengziya,sec-1,security,alarm_panel,库房,60,
chengziya,cam-1,video,camera,北门,60,chengziya_gate
chengziya,drone-1,drone,dji_m30t,,30,1581F5FKD23A00
chengziya,phone-wang,patrol,phone,,,
chengziya,th-1,env,thermo_hygrometer,展厅,300,
lingyan-si,panel-1,fire,fire_panel,千佛殿,60,
lingyan-si,th-1,env,thermo_hygrometer,千佛殿,300,
"""


# Daemons started and not yet stopped or killed: each runs in a session of its own (so that a test
# can signal its whole group), so nothing stops it when a test fails half-way or pytest exits.
_live: list[subprocess.Popen[bytes]] = []


def kill_leftover_daemons() -> int:
    """SIGKILL the process group of every daemon a test left running; how many there were."""
    killed = 0
    while _live:
        process = _live.pop()
        if process.poll() is None:
            killed += 1
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return killed


def write_registry(folder: Path, extra_devices: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sites.csv").write_text(SITES_CSV, encoding="utf-8")
    (folder / "devices.csv").write_text(DEVICES_CSV + extra_devices, encoding="utf-8")
    return folder


@dataclass
class Daemon:
    """`relic-guard run` as a child process, configured through the environment only."""

    mqtt_url: str
    database_url: str
    registry_dir: Path
    work_dir: Path
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("RELIC_GUARD_CONFIG", None)
        env.update(
            {
                "RELIC_GUARD_MQTT_URL": self.mqtt_url,
                "RELIC_GUARD_DATABASE_URL": self.database_url,
                "RELIC_GUARD_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
                "RELIC_GUARD_REGISTRY": str(self.registry_dir),
                "RELIC_GUARD_SPOOL_DIR": str(self.work_dir / "spool"),
                # Keys the daemon creates at first use: in the test's folder, never the checkout.
                "RELIC_GUARD_AUDIT_KEY_FILE": str(self.work_dir / "keys" / "audit.key"),
                "RELIC_GUARD_ALERTS_ACK_KEY_FILE": str(self.work_dir / "keys" / "ack.key"),
                "RELIC_GUARD_ALERTS_VAPID_KEY_FILE": str(self.work_dir / "keys" / "vapid.pem"),
                "RELIC_GUARD_INGEST_WORKERS": str(self.workers),
                "RELIC_GUARD_INGEST_BATCH_MAX_DELAY_MS": "50",
                "PROMETHEUS_MULTIPROC_DIR": str(self.work_dir / "metrics"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, wait_ready: bool = True, timeout_s: float = 60.0) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log = (self.work_dir / "daemon.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "relic_guard.cli", "run"],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        _live.append(self.process)
        if wait_ready:
            try:
                self.wait_ready(timeout_s)
            except BaseException:
                self._kill_group()
                raise

    def _kill_group(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self._forget()

    def _forget(self) -> None:
        if self.process in _live:
            _live.remove(self.process)
        self.process = None

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                r = httpx.get(self.base_url + "/readyz", timeout=2)
                if r.status_code == 200 and self.workers_connected():
                    return
                last = r.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise AssertionError(f"daemon not ready in {timeout_s} s ({last}):\n{self.log()[-4000:]}")

    def workers_connected(self) -> bool:
        text = self.metrics()
        up = [line for line in text.splitlines()
              if line.startswith("relic_guard_broker_connected{") and 'lane="ingest-' in line]
        return len(up) >= self.workers and all(line.rstrip().endswith(" 1.0") for line in up)

    def metrics(self) -> str:
        return httpx.get(self.base_url + "/metrics", timeout=5).text

    def log(self) -> str:
        path = self.work_dir / "daemon.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._kill_group()
                raise AssertionError(f"daemon did not stop on SIGTERM:\n{self.log()[-3000:]}") from None
        code = self.process.returncode
        self._forget()
        return code

    def kill(self) -> None:
        """SIGKILL the daemon (its workers die with it through PR_SET_PDEATHSIG)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._forget()


class Publisher:
    """A QoS 1 publisher that caps its unacknowledged messages (paho loses messages past 65,535)."""

    def __init__(self, port: int, client_id: str = "test-pub", window: int = 1000) -> None:
        self.window = threading.Semaphore(window)
        self._window_size = window
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = lambda *_: self.window.release()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, qos: int = 1,
                properties: mqtt.Properties | None = None) -> None:
        self.window.acquire()
        data = payload.encode() if isinstance(payload, str) else payload
        self.client.publish(topic, data, qos=qos, retain=retain, properties=properties)

    def publish_json(self, topic: str, obj: object) -> None:
        self.publish(topic, json.dumps(obj, ensure_ascii=False))

    def publish_many(self, items: Iterable[tuple[str, bytes]]) -> int:
        n = 0
        for topic, payload in items:
            self.publish(topic, payload)
            n += 1
        return n

    def drain(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        for _ in range(self._window_size):
            if not self.window.acquire(timeout=max(0.01, deadline - time.monotonic())):
                raise AssertionError("publisher: broker did not acknowledge all messages")
        for _ in range(self._window_size):
            self.window.release()

    def close(self) -> None:
        self.drain()
        self.client.disconnect()
        self.client.loop_stop()


def count(database_url: str, sql: str, *params: object) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0


def wait_for(predicate: object, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    assert callable(predicate)
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
