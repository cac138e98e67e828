"""DurableSink: make each batch durable, in the database when it is reachable, else in the spool.

Used from plain threads of an ingest worker process. `write(batch)` returns
only once the batch is committed (Durability.DATABASE) or fsync'd in the
spool (Durability.SPOOL): then its messages may be acknowledged.

Order is kept: while the spool holds anything, new batches are appended
behind it rather than written around it. A background thread (`start()`)
reconnects about once a second while the database is down and replays the
spool: first without blocking writers (they keep appending behind), then,
for the last few batches, holding the write lock so that nothing can slip in
between; then writes go to the database directly again.

Errors: a lost or refused connection (`psycopg.OperationalError`) is an
outage: the batch is spooled. Anything else the database says (a bug, a
constraint we did not plan for) is raised as StoreError with the cause. A
full spool raises SpoolFull after one ERROR line per episode; the caller
stops acknowledging and retries later. During a replay, a batch the database
refuses for its content (DataError, IntegrityError) is set aside in
`<spool>/rejected/` with an ERROR line, so one bad batch cannot block the
rest; any other refusal stops the replay (ERROR line, retried every
`stalled_retry_s`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from enum import StrEnum
from typing import Any, Final

import psycopg

from relic_guard import metrics
from relic_guard.batch import Batch
from relic_guard.errors import StoreError
from relic_guard.spool import Spool, SpoolFull
from relic_guard.store.writer import write_batch

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

# Below this many spooled bytes, the replay finishes while holding the write lock.
DRAIN_UNDER_LOCK_BYTES: Final = 4 * 1024 * 1024
# Replay rounds without the lock before the rest is drained under it anyway
# (ingest outpacing the replay then waits: that is the back-pressure).
MAX_UNLOCKED_ROUNDS: Final = 8
QUOTA_CONFIG_KEY: Final = "[spool] quota_bytes (RELIC_GUARD_SPOOL_QUOTA_BYTES)"


class _StoppingError(Exception):
    """Raised into a replay by close(): the replay stops after the batch in hand."""


class Durability(StrEnum):
    DATABASE = "database"
    SPOOL = "spool"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        return exc.diag.message_primary
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class DurableSink:
    """Writes batches to PostgreSQL, falling back to `spool` while it is unreachable.

    The sink owns `spool` (closes it in `close()`). Thread-safe; writes are serialized
    on one held connection.
    """

    def __init__(
        self,
        database_url: str,
        spool: Spool,
        *,
        connect_timeout_s: float,
        worker: str,
        statement_timeout_s: float | None = None,
        retry_interval_s: float = 1.0,
        stalled_retry_s: float = 30.0,
    ) -> None:
        self.database_url = database_url
        self.spool = spool
        self.worker = worker
        self.connect_timeout_s = connect_timeout_s
        self.statement_timeout_s = statement_timeout_s
        self.retry_interval_s = retry_interval_s
        self.stalled_retry_s = stalled_retry_s
        self._lock = threading.Lock()
        self._conn: Conn | None = None
        # True while batches go to the spool (database down, or spool not yet drained).
        self._spooling = spool.pending_batches() > 0
        self._full_logged = False
        self._stalled_error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: BaseException | None = None
        metrics.DATABASE_UP.labels(worker).set(0)
        if self._spooling:
            log.warning("spool %s holds %d batches from before; they are replayed once the database "
                        "is reachable, new batches queue behind them", spool.path, spool.pending_batches())

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"relic-guard-replay-{self.worker}", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the replay thread, close the connection and the spool. What is spooled stays spooled."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        with self._lock:
            self._drop_connection()
        self.spool.close()

    def __enter__(self) -> DurableSink:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def spooling(self) -> bool:
        return self._spooling

    # -- the write path ---------------------------------------------------------------
    def write(self, batch: Batch) -> Durability:
        """Commit `batch` or spool it; returns where it became durable.

        Raises SpoolFull (spool over quota: stop acknowledging, retry later), StoreError
        (the database refused the batch for a reason other than connectivity) or
        SpoolError (the spool folder cannot be written).
        """
        with self._lock:
            if not self._spooling:
                try:
                    self._write_direct(batch)
                    return Durability.DATABASE
                except psycopg.OperationalError as exc:
                    self._went_down(exc)
                except psycopg.Error as exc:
                    if self._conn is not None and self._conn.broken:
                        self._went_down(exc)
                    else:
                        self.last_error = exc
                        raise StoreError(f"database refused the batch: {_reason(exc)}") from exc
            return self._append(batch)

    def write_or_set_aside(self, batch: Batch) -> int:
        """`write`, but when the database refuses the batch for its content (StoreError), find
        the refused records by halving the batch, write the rest, and keep only the refused
        ones on disk (`<spool>/rejected/`) with the reason, so one bad record neither stops
        ingestion nor takes good records with it. Returns the number of records set aside.
        Raises SpoolFull and SpoolError as `write` does."""
        try:
            self.write(batch)
            return 0
        except StoreError as exc:
            if batch.rows <= 1:
                with self._lock:
                    path = self.spool.dead_letter(batch, str(exc))
                log.error("the database refused a record (%s); set aside in %s", exc, path)
                return batch.rows
        first, second = batch.halves()
        return self.write_or_set_aside(first) + self.write_or_set_aside(second)

    def _write_direct(self, batch: Batch) -> None:
        fresh = self._conn is None
        conn = self._connection()
        try:
            write_batch(conn, batch)
        except psycopg.OperationalError:
            if fresh:
                raise
            # A connection idle for a while may have been cut (server restart, a proxy's idle
            # timeout): one retry on a new connection before calling it an outage. A commit
            # whose answer was lost may repeat: the unique keys absorb that.
            self._drop_connection()
            write_batch(self._connection(), batch)

    def _append(self, batch: Batch) -> Durability:
        try:
            self.spool.append(batch)
        except SpoolFull as exc:
            if not self._full_logged:
                log.error(
                    "spool %s is full (%d bytes pending, quota %d bytes): ingestion pauses until the "
                    "database is back; to spool more, raise %s", self.spool.path, exc.pending, exc.quota,
                    QUOTA_CONFIG_KEY)
                self._full_logged = True
            raise
        self._full_logged = False
        return Durability.SPOOL

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            metrics.DATABASE_UP.labels(self.worker).set(1)
        return self._conn

    def _connect(self) -> Conn:
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, math.ceil(self.connect_timeout_s)),
            "application_name": f"relic-guard {self.worker}",
            # Notice a dead peer (a cut network, not a refused port) within about a minute.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        if self.statement_timeout_s:
            kwargs["options"] = f"-c statement_timeout={int(self.statement_timeout_s * 1000)}"
        return psycopg.connect(self.database_url, **kwargs)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _went_down(self, exc: BaseException) -> None:
        self._drop_connection()
        self._spooling = True
        self.last_error = exc
        metrics.DATABASE_UP.labels(self.worker).set(0)
        log.warning("database unreachable (%s); spooling to %s", _reason(exc), self.spool.path)
        self._wake.set()

    # -- recovery ---------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._spooling:
                self._wake.wait(self.retry_interval_s)
                self._wake.clear()
                continue
            delay = self.retry_interval_s
            try:
                self._recover()
            except StoreError as exc:
                delay = self.stalled_retry_s
                if str(exc) != self._stalled_error:
                    log.error("spool replay stopped: %s; retrying every %.0f s", exc, self.stalled_retry_s)
                    self._stalled_error = str(exc)
            except Exception:
                log.exception("spool replay failed unexpectedly; retrying in %.0f s", self.stalled_retry_s)
                delay = self.stalled_retry_s
            self._stop.wait(delay)

    def _recover(self) -> None:
        try:
            conn = self._connect()
        except psycopg.OperationalError:
            return
        replayed = 0
        handed_over = False
        try:
            rounds = 0
            while (self.spool.pending() > DRAIN_UNDER_LOCK_BYTES and rounds < MAX_UNLOCKED_ROUNDS
                   and not self._stop.is_set()):
                replayed += self.spool.replay(lambda batch: self._replay_one(conn, batch))
                rounds += 1
            if self._stop.is_set():
                return
            with self._lock:
                replayed += self.spool.replay(lambda batch: self._replay_one(conn, batch))
                self._drop_connection()
                self._conn = conn
                handed_over = True
                self._spooling = False
                self._stalled_error = None
                metrics.DATABASE_UP.labels(self.worker).set(1)
            log.warning("database reachable again; replayed %d batches from spool %s",
                        replayed, self.spool.path)
        except psycopg.OperationalError as exc:
            log.info("database lost again during spool replay after %d batches (%s)", replayed, _reason(exc))
        except _StoppingError:
            log.info("spool replay interrupted by shutdown; the rest stays spooled")
        finally:
            if not handed_over:
                with contextlib.suppress(psycopg.Error):
                    conn.close()

    def _replay_one(self, conn: Conn, batch: Batch) -> None:
        if self._stop.is_set():
            raise _StoppingError
        try:
            write_batch(conn, batch)
        except psycopg.OperationalError:
            raise
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            if conn.broken:
                raise psycopg.OperationalError(str(exc)) from exc
            path = self.spool.dead_letter(batch, f"{type(exc).__name__}: {_reason(exc)}")
            self.last_error = exc
            log.error("database refused a spooled batch of %d messages (%s); set aside in %s",
                      batch.messages, _reason(exc), path)
        except psycopg.Error as exc:
            if conn.broken:
                raise psycopg.OperationalError(str(exc)) from exc
            self.last_error = exc
            raise StoreError(f"database refused a spooled batch: {_reason(exc)}") from exc
