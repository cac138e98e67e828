"""The schedule: APScheduler as the clock, our tables as the plan, one leader at a time.

    schedule = Schedule(database_url, instance="host-1")
    schedule.add(Job("patrol.rounds", generate_rounds, every_s=60))
    await schedule.start(); …; await schedule.stop()

APScheduler (AsyncIOScheduler) only says *when*: every `leadership_s` this daemon tries to hold
the schedule lock (`leader.LeaderLock`), and every job's interval fires a run that happens only
while it does. What to do comes from the database each time: a job is a function of a database
connection and `now`, idempotent, that finds its work from the tables (rounds whose window
passed without check-ins, hazards past their deadline…). So a job that ran twice does nothing
the second time, and one that did not run while the daemon was down catches up at its next run:
nothing is kept in APScheduler's memory that the database does not also know.

Every run is recorded in `schedule_runs` (job, instance, start, end, ok, detail), so failover and
missed runs are visible. A job that raises is logged and recorded; the next interval runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from relic_guard.schedule.leader import SCHEDULE_LOCK_KEY, LeaderLock

log = logging.getLogger(__name__)

JobFunction = Callable[[psycopg.Connection[Any], datetime], str]
"""A job: does what is due at `now`, returns a one-line summary for the record."""


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    run: JobFunction
    every_s: float


def utc_now() -> datetime:
    return datetime.now(UTC)


class Schedule:
    def __init__(
        self,
        database_url: str,
        *,
        instance: str,
        leadership_s: float = 5.0,
        lock_key: int = SCHEDULE_LOCK_KEY,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.database_url = database_url
        self.instance = instance
        self.leadership_s = leadership_s
        self.clock = clock
        self.lock = LeaderLock(database_url, key=lock_key)
        self.jobs: list[Job] = []
        self._scheduler: AsyncIOScheduler | None = None
        self._busy: set[str] = set()

    @property
    def leader(self) -> bool:
        return self.lock.held

    def add(self, job: Job) -> None:
        self.jobs.append(job)

    async def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        # coalesce + max_instances: a run that is late (the loop was busy, the daemon was
        # suspended) happens once, not once per missed interval; the job finds its own backlog.
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        scheduler.add_job(self._keep_leadership, "interval", seconds=self.leadership_s, id="leadership",
                          next_run_time=datetime.now(UTC), **defaults)
        for job in self.jobs:
            scheduler.add_job(self._run, "interval", seconds=job.every_s, args=(job,), id=job.name, **defaults)
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        # Let a run in progress finish its transaction rather than cut it off.
        deadline = time.monotonic() + 10
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(self.lock.release)

    async def _keep_leadership(self) -> None:
        await asyncio.to_thread(self.lock.hold)

    async def _run(self, job: Job) -> None:
        if not self.lock.held or job.name in self._busy:
            return
        self._busy.add(job.name)
        try:
            await asyncio.to_thread(self.run_once, job)
        finally:
            self._busy.discard(job.name)

    def run_once(self, job: Job) -> bool:
        """Run `job` now and record it; True if it ended without an error."""
        started = self.clock()
        ok, detail = True, ""
        try:
            with psycopg.connect(self.database_url, connect_timeout=5) as conn:
                detail = job.run(conn, started)
        except Exception as exc:  # a job's bug must not stop the schedule: recorded, retried next time
            ok, detail = False, f"{type(exc).__name__}: {exc}"
            log.exception("scheduled job %s failed", job.name)
        with contextlib.suppress(psycopg.Error), psycopg.connect(self.database_url, connect_timeout=5) as conn:
            conn.execute(
                "INSERT INTO schedule_runs (job, instance, started_at, finished_at, ok, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (job.name, self.instance, started, self.clock(), ok, detail[:2000]),
            )
        return ok
