"""One daemon runs the schedule; when it dies, another takes over (real PostgreSQL, real processes)."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from relic_guard.schedule.leader import LeaderLock
from relic_guard.schedule.runner import Job, Schedule
from relic_guard.store.schema import migrate
from tests.schedule import child


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ticks(url: str) -> list[tuple[str, datetime]]:
    with psycopg.connect(url) as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT instance, at FROM ticks ORDER BY at").fetchall()]


def test_only_one_holds_the_lock_and_it_passes_on_release(pg_url: str) -> None:
    first, second = LeaderLock(pg_url), LeaderLock(pg_url)
    assert first.hold() and first.held
    assert not second.hold()
    assert first.hold()  # still held: the session is alive
    first.release()
    assert second.hold()
    second.release()


def test_a_database_away_means_not_leader() -> None:
    assert not LeaderLock("postgresql://relic@127.0.0.1:1/none", connect_timeout_s=1).hold()


def test_killing_the_leader_hands_the_schedule_to_the_other_daemon(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("CREATE TABLE ticks (instance text NOT NULL, at timestamptz NOT NULL)")
    ctx = multiprocessing.get_context("spawn")
    a = ctx.Process(target=child.run, args=(pg_url, "daemon-a"), daemon=True)
    b = ctx.Process(target=child.run, args=(pg_url, "daemon-b"), daemon=True)
    a.start()
    try:
        wait_for(lambda: len(ticks(pg_url)) >= 3, "the first daemon's ticks")
        b.start()
        time.sleep(1.0)  # b tries the lock several times meanwhile
        assert {instance for instance, _ in ticks(pg_url)} == {"daemon-a"}, "two daemons ran the schedule"
        a.kill()
        a.join(10)
        killed_at = datetime.now(UTC)
        wait_for(lambda: any(instance == "daemon-b" for instance, _ in ticks(pg_url)), "the other daemon to take over")
        taken = min(at for instance, at in ticks(pg_url) if instance == "daemon-b")
        assert (taken - killed_at).total_seconds() < 5.0
        assert max(at for instance, at in ticks(pg_url) if instance == "daemon-a") < taken  # never both at once
        with psycopg.connect(pg_url) as conn:
            runs = conn.execute("SELECT DISTINCT instance FROM schedule_runs WHERE job = 'tick' AND ok").fetchall()
        assert {r[0] for r in runs} == {"daemon-a", "daemon-b"}
    finally:
        for process in (a, b):
            if process.is_alive():
                process.kill()
            process.join(10)


def test_a_failing_job_is_recorded_and_does_not_stop_the_schedule(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)

    def broken(conn: psycopg.Connection[object], now: datetime) -> str:  # type: ignore[type-arg]
        raise RuntimeError("the plan table is missing a column")

    schedule = Schedule(pg_url, instance="solo")
    assert not schedule.run_once(Job("broken", broken, every_s=60))
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT ok, detail FROM schedule_runs WHERE job = 'broken'").fetchone()
    assert row is not None and row[0] is False and "missing a column" in row[1]
