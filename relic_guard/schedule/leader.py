"""Which daemon runs the schedule: the one holding a PostgreSQL advisory lock.

Several daemons may run against one database (a standby, a rolling upgrade). Scheduled work —
generating patrol rounds, flagging missed ones, hazard reminders — must run exactly once, so
only the holder of a session-level advisory lock runs it. The lock lives as long as the holder's
database session: a leader that dies, hangs up or loses the network loses the lock when
PostgreSQL notices the session is gone, and another daemon's next attempt takes over. No clocks
or heartbeats of our own are involved, so there is no split brain to reason about beyond
PostgreSQL's own session handling.

Blocking (psycopg): call from a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Final

import psycopg

log = logging.getLogger(__name__)

# pg_advisory_lock key: "sched" in ASCII; nothing else takes it.
SCHEDULE_LOCK_KEY: Final = 0x7363686564


class LeaderLock:
    def __init__(self, database_url: str, *, key: int = SCHEDULE_LOCK_KEY, connect_timeout_s: float = 5.0) -> None:
        self.database_url = database_url
        self.key = key
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def hold(self) -> bool:
        """Keep or take the lock; True while this process is the leader. Never raises for the
        database being away: that is simply not being the leader."""
        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")  # the session, and with it the lock, is still there
                return True
            except psycopg.Error:
                log.warning("lost the schedule lock (the database session ended); another daemon may take over")
                self._drop()
        try:
            conn = psycopg.connect(self.database_url, autocommit=True,
                                   connect_timeout=max(1, int(self.connect_timeout_s)))
        except psycopg.Error:
            return False
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error:
            conn.close()
            return False
        if row is None or not row[0]:
            conn.close()
            return False
        self._conn = conn
        log.info("this daemon now runs the schedule (holds the schedule lock)")
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
