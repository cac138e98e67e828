"""Fixtures for the TimescaleDB group: PGlite (WASM PostgreSQL 17 + TimescaleDB) on a free port.

No TimescaleDB package exists for this Debian, so the group runs the real
TimescaleDB SQL on PGlite's WASM build with the extension, served on the
PostgreSQL wire protocol by pglite-socket (`pglite/server.mjs`). The npm
packages are installed on first use (`npm ci` in `pglite/`); the group is
skipped only when `node` itself is missing.

What PGlite is not, and what these tests therefore do not cover: every client
connection shares ONE backend session (so no concurrency, no locking between
sessions, and session settings leak between connections: connect with
`prepare_threshold=None`); COPY crashes the WASM backend (use INSERT); there
are no background workers, so policies run only when a test says
`CALL run_job(id)`.

Tests share one server per session and get a schema each (`ts_conn`); a test
that needs a database nobody touched (extension not yet installed, the real
migration in `public`) asks for `pglite_fresh_dsn`, a server of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from relic_guard.embedded import free_port, wait_for_port

PGLITE_DIR = Path(__file__).parent / "pglite"
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
NPM_TIMEOUT_S = 600.0

_schema_counter = itertools.count()


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection suited to PGlite: no server-side prepared statements
    (all connections share one session, so statement names would collide)."""
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(dsn, prepare_threshold=None, **kwargs)


@pytest.fixture(scope="session")
def pglite_node() -> str:
    """Path of `node`, with `pglite/node_modules` installed. Skips the group without node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "TimescaleDB tests need Node.js (node + npm) to run PGlite+TimescaleDB: "
            "`apt-get install nodejs npm`; `node` is not on PATH"
        )
    # Another pytest run in the same checkout may be installing too: one at a time.
    lock_path = Path(tempfile.gettempdir()) / f"relic-guard-pglite-{os.getuid()}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _node_modules_stale():
            _npm_install()
    return node


def _node_modules_stale() -> bool:
    """node_modules missing, or older than package-lock.json (npm writes its own copy on install)."""
    installed = PGLITE_DIR / "node_modules" / ".package-lock.json"
    lock = PGLITE_DIR / "package-lock.json"
    if not (installed.exists() and (PGLITE_DIR / "node_modules" / "@unni-craftsman" / "pglite").is_dir()):
        return True
    return lock.exists() and lock.stat().st_mtime > installed.stat().st_mtime


def _npm_install() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("`node` is installed but `npm` is not: `apt-get install npm`", pytrace=False)
    if (PGLITE_DIR / "package-lock.json").exists():
        cmd = [npm, "ci", "--legacy-peer-deps", "--no-audit", "--no-fund"]
    else:
        cmd = [npm, "install", "--legacy-peer-deps", "--no-audit", "--no-fund"]
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=PGLITE_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False)
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(cmd)}` in {PGLITE_DIR} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    print(f"\n[pglite] npm {cmd[1]} took {time.monotonic() - started:.1f}s")


@contextlib.contextmanager
def run_pglite(node: str, log_path: Path) -> Iterator[str]:
    """Start `node server.mjs` on a free port; yield its DSN; stop it afterwards."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [node, "server.mjs", "--port", str(port), "--host", HOST],
            cwd=PGLITE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            if wait_for_port(HOST, port, 0.5):
                ready = True
                break
        if not ready:
            tail = log_path.read_text(errors="replace")[-3000:]
            pytest.fail(
                f"PGlite server did not listen on {HOST}:{port} within {START_TIMEOUT_S:.0f}s "
                f"(exit code {proc.poll()}); log {log_path}:\n{tail}",
                pytrace=False,
            )
        # pglite-socket accepts any password; sslmode=disable saves the SSLRequest round trip.
        yield f"postgresql://postgres:postgres@{HOST}:{port}/postgres?sslmode=disable&connect_timeout=10"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="session")
def pglite_dsn(pglite_node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of the group's shared PGlite+TimescaleDB server (extension installed)."""
    log = tmp_path_factory.mktemp("pglite") / "server.log"
    with run_pglite(pglite_node, log) as dsn:
        with connect(dsn) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        yield dsn


@pytest.fixture
def pglite_fresh_dsn(pglite_node: str, tmp_path: Path) -> Iterator[str]:
    """DSN of a PGlite+TimescaleDB server of this test's own, extension not installed."""
    with run_pglite(pglite_node, tmp_path / "pglite-server.log") as dsn:
        yield dsn


@pytest.fixture
def ts_conn(pglite_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """Autocommit connection to the shared server, with a fresh schema first on the
    search path (TimescaleDB's functions stay reachable through `public`)."""
    schema = f"t{os.getpid()}_{next(_schema_counter)}"
    with connect(pglite_dsn) as conn:
        # PGlite starts with client_min_messages = debug3.
        conn.execute("SET client_min_messages = warning")
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path = {schema}, public")
        try:
            yield conn
        finally:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            conn.execute("SET search_path = public")
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# The agreed schema, as the migration creates it before calling setup_timescale().
READINGS_DDL = """
CREATE TABLE readings (
    ts timestamptz NOT NULL,
    site_id text NOT NULL,
    device_id text NOT NULL,
    metric text NOT NULL,
    value double precision NOT NULL,
    ts_from_receive boolean NOT NULL DEFAULT false,
    UNIQUE (site_id, device_id, metric, ts)
)
"""

EVENTS_DDL = """
CREATE TABLE events (
    ts timestamptz NOT NULL,
    site_id text,
    device_id text,
    source text,
    type text,
    zone text,
    clear boolean,
    event_key text NOT NULL,
    attrs jsonb,
    received_at timestamptz,
    ts_from_receive boolean,
    UNIQUE (site_id, device_id, event_key, ts)
)
"""


@pytest.fixture
def plain_tables(ts_conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """`ts_conn` with plain `readings` and `events` tables in its schema."""
    ts_conn.execute(READINGS_DDL)
    ts_conn.execute(EVENTS_DDL)
    return ts_conn
