"""Fixtures that start real servers: a private PostgreSQL and Mosquitto on free ports.

PostgreSQL is started once per test session (initdb takes a second or two);
each test gets a database of its own. Mosquitto is cheap to start, so each
test that asks for a broker gets a fresh one with empty persistence.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import psycopg
import pytest

from relic_guard.embedded import EmbeddedMosquitto, EmbeddedPostgres

_db_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (`timeout`, a CI job cancelled, `kill`) stops the run like Ctrl-C does: the
    fixtures' teardowns still run, so no PostgreSQL (which pg_ctl detaches), Mosquitto or
    daemon process group outlives pytest. A second SIGTERM ends pytest at once."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)


# Lines tests want shown at the end of the run (browser timings, screenshots saved). The tests run
# in parallel worker processes and the summary is printed by the controlling one, so the lines go
# through a file: emptied when the run starts, read back when it ends.
SUMMARY_FILE = Path(__file__).resolve().parents[1] / "test-artifacts" / "summary.txt"


def note_for_summary(line: str) -> None:
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    with SUMMARY_FILE.open("a", encoding="utf-8") as out:
        out.write(line.replace("\n", " ") + "\n")


def pytest_sessionstart(session: pytest.Session) -> None:
    """In the controlling process (not a worker), before any test: forget the last run's lines
    and screenshots, so the artifacts are this run's only (a stale failure's would mislead)."""
    if hasattr(session.config, "workerinput"):
        return
    SUMMARY_FILE.unlink(missing_ok=True)
    for old in (SUMMARY_FILE.parent / "browser").glob("*.png"):
        old.unlink()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    try:
        lines = SUMMARY_FILE.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    terminalreporter.section("measured and saved by the tests")
    for line in lines:
        terminalreporter.write_line(line)


def _terminate_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt(f"pytest got signal {signum}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    base = _world_traversable_dir("relic-guard-pg-")
    server = EmbeddedPostgres(base_dir=base, fast_unsafe=True)
    try:
        server.start()  # inside the try: a start cut short (timeout, Ctrl-C) is stopped all the same
        yield server
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL."""
    name = f"t{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/{name}"
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _world_traversable_dir(prefix: str) -> Path:
    # pytest's own tmp folders are private to root; PostgreSQL runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    return base


@pytest.fixture
def own_pg() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, for tests that stop and restart the server."""
    base = _world_traversable_dir("relic-guard-own-pg-")
    server = EmbeddedPostgres(base_dir=base, fast_unsafe=True)
    try:
        server.start()
        yield server
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mosquitto() -> Iterator[EmbeddedMosquitto]:
    # Outside pytest's tmp folders (private to root): Mosquitto runs as `mosquitto`, and must
    # reach its folder to write its log and the persistence file that keeps sessions across a
    # restart of the broker.
    base = _world_traversable_dir("relic-guard-mq-")
    broker = EmbeddedMosquitto(base_dir=base)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)
