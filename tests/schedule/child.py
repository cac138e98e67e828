"""A process running a Schedule with one job that records its ticks (spawned by the tests)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import psycopg

from relic_guard.schedule.runner import Job, Schedule


def tick(conn: psycopg.Connection[Any], now: datetime) -> str:
    conn.execute("INSERT INTO ticks (instance, at) VALUES (current_setting('application_name'), %s)", (now,))
    return "ticked"


def run(database_url: str, instance: str) -> None:
    async def main() -> None:
        schedule = Schedule(f"{database_url}?application_name={instance}", instance=instance, leadership_s=0.2)
        schedule.add(Job("tick", tick, every_s=0.2))
        await schedule.start()
        await asyncio.Event().wait()  # until killed

    asyncio.run(main())
