"""AlertJournal: alert snapshots, timeline entries, deliveries and audit entries to the database,
in the order they were made, without ever holding up the event loop that makes them.

`put(item)` (from the asyncio loop, or any thread) only appends to an in-memory queue: no I/O,
no waiting beyond a lock held for a few instructions. One thread drains the queue in batches
of up to `batch_max_items`, taking whatever has accumulated (no artificial wait: a fire alarm's
record goes out at once, and under load batches fill by themselves while the previous one
commits), and writes each batch with `relic_guard.store.alerts.write` in one transaction.

Invariants:
- order: items are written in the order they were put; a batch that fails is retried whole,
  as the same batch under the same id, before anything after it, so a retry after a lost
  commit answer is recognised by the store and not written twice;
- nothing is dropped: while the database is unreachable everything stays in memory (an
  ERROR line for every 100,000 items beyond 1,000,000, and still nothing refused); at
  `close()`, what could not be written is saved to `<pending_dir>/alert-journal.pending`
  (JSON lines, fsync'd, replaced atomically) and read back first by the next journal,
  which deletes the file once those items are in the database;
- a line of the pending file that does not decode is logged with its number, skipped, and
  kept in `<pending_dir>/alert-journal.malformed`;
- an item the database refuses for its content (not for being unreachable) is found by
  halving its batch and set aside in `<pending_dir>/alert-journal.rejected` with an ERROR
  line, so one bad record cannot hold back every alarm behind it.
Only one journal may use a pending folder at a time.

Outages: one ERROR line when the database becomes unreachable (or refuses the writes, e.g.
a schema not migrated), one INFO line when it is back, with how many items were held;
retries back off from `retry_min_s` to `retry_max_s`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import psycopg

from relic_guard.alerting.records import AlertSnapshot, DeliveryRecord, JournalItem, TimelineEntry
from relic_guard.audit import AuditEntry
from relic_guard.errors import RelicGuardError
from relic_guard.store import alerts as store_alerts

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

PENDING_FILE: Final = "alert-journal.pending"
REJECTED_FILE: Final = "alert-journal.rejected"
MALFORMED_FILE: Final = "alert-journal.malformed"
BATCH_MAX_ITEMS: Final = 500
# Beyond this many items held in memory, an ERROR line for every BACKLOG_LOG_EVERY more.
BACKLOG_ALARM: Final = 1_000_000
BACKLOG_LOG_EVERY: Final = 100_000
# Of close()'s timeout, the share spent writing to the database; the rest is for the file.
_DRAIN_SHARE: Final = 0.8


# --- the on-disk form of items -----------------------------------------------------------

class _SnapshotLine(msgspec.Struct, frozen=True, tag="snapshot", tag_field="t"):
    item: AlertSnapshot


class _TimelineLine(msgspec.Struct, frozen=True, tag="timeline", tag_field="t"):
    item: TimelineEntry


class _DeliveryLine(msgspec.Struct, frozen=True, tag="delivery", tag_field="t"):
    item: DeliveryRecord


class _AuditLine(msgspec.Struct, frozen=True, tag="audit", tag_field="t"):
    item: AuditEntry


class _BatchLine(msgspec.Struct, frozen=True, tag="batch", tag_field="t"):
    """The next `size` lines are one batch, to be written again under `id` (it may have been
    committed already: the store then skips it)."""

    id: str
    size: int


class _RejectedLine(msgspec.Struct, frozen=True, tag="rejected", tag_field="t"):
    at: datetime
    reason: str
    line: Any


_ItemLine = _SnapshotLine | _TimelineLine | _DeliveryLine | _AuditLine
_line_decoder: Final[msgspec.json.Decoder[_ItemLine | _BatchLine]] = msgspec.json.Decoder(_ItemLine | _BatchLine)


def _line_of(item: JournalItem) -> _ItemLine:
    if isinstance(item, AlertSnapshot):
        return _SnapshotLine(item)
    if isinstance(item, TimelineEntry):
        return _TimelineLine(item)
    if isinstance(item, DeliveryRecord):
        return _DeliveryLine(item)
    if isinstance(item, AuditEntry):
        return _AuditLine(item)
    raise TypeError(f"not a journal item: {type(item).__name__}")


def encode_item(item: JournalItem) -> bytes:
    """One item as a JSON line (no newline): `{"t": "snapshot"|"timeline"|"delivery"|"audit",
    "item": {…}}`. Datetimes keep their offset; a detail value JSON has no type for is kept as
    its text, and text a file cannot hold (lone surrogates) is replaced."""
    return store_alerts.json_text(_line_of(item)).encode("utf-8")


def decode_item(line: bytes | str) -> JournalItem:
    """The item of a line made by `encode_item`; raises msgspec.DecodeError for anything else."""
    decoded = _line_decoder.decode(line)
    if isinstance(decoded, _BatchLine):
        raise msgspec.ValidationError("a batch marker, not an item")
    return decoded.item


# --- the journal ---------------------------------------------------------------------------

@dataclass(slots=True)
class _Batch:
    id: str
    items: list[JournalItem]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        return exc.diag.message_primary
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _refused_for_content(exc: Exception, conn: Conn | None) -> bool:
    """Whether the batch itself is at fault (writing it again would fail again), rather than
    the database being unreachable or unready (a schema not migrated, a server shutting down)."""
    if conn is not None and conn.broken:
        return False
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return True
    if isinstance(exc, psycopg.ProgrammingError):
        # Raised on our side, before the server saw it: a value psycopg cannot send.
        return exc.sqlstate is None
    return not isinstance(exc, psycopg.Error)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalFileError(RelicGuardError):
    """The journal's pending file exists but cannot be read."""


class AlertJournal:
    """Writes journal items to the database in order, from a thread of its own. Thread-safe."""

    def __init__(
        self,
        database_url: str,
        audit_key: bytes,
        pending_dir: Path,
        *,
        connect_timeout_s: float = 5.0,
        batch_max_items: int = BATCH_MAX_ITEMS,
        retry_min_s: float = 0.5,
        retry_max_s: float = 10.0,
    ) -> None:
        self.database_url = database_url
        self.pending_dir = Path(pending_dir)
        self.pending_path = self.pending_dir / PENDING_FILE
        self.rejected_path = self.pending_dir / REJECTED_FILE
        self.malformed_path = self.pending_dir / MALFORMED_FILE
        self.connect_timeout_s = connect_timeout_s
        self.batch_max_items = max(1, batch_max_items)
        self.retry_min_s = retry_min_s
        self.retry_max_s = max(retry_min_s, retry_max_s)
        self._audit_key = audit_key
        # Guards the queue, the batches, the counters and the closing flags. Never held across
        # I/O: put() takes it, and put() must not wait.
        self._lock = threading.Lock()
        self._written_cond = threading.Condition(self._lock)
        # Serialises the pending file between the writer (deleting it) and close() (writing it).
        self._file_lock = threading.Lock()
        self._queue: deque[JournalItem] = deque()
        # Batches formed before (read back from the pending file), written before the queue.
        self._formed: deque[_Batch] = deque()
        # The batch being written; kept until it is in the database.
        self._in_flight: _Batch | None = None
        self._accepted = 0
        self._done = 0
        # Items read from the pending file: once this many are done, the file goes.
        self._file_items = 0
        self._closed = False
        self._abandoned = False
        self._deadline: float | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # Touched only by the writer thread.
        self._conn: Conn | None = None
        self._down_logged = False
        self._next_backlog_log = BACKLOG_ALARM
        self._ok = False
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        self._load_pending_file()

    # -- state ------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Items accepted and not yet in the database (nor set aside as refused)."""
        with self._lock:
            return self._accepted - self._done

    @property
    def database_ok(self) -> bool:
        """Whether the last attempt to reach the database succeeded."""
        return self._ok

    # -- the caller's side ----------------------------------------------------------------
    def put(self, item: JournalItem) -> None:
        """Queue `item` for writing; returns at once. Raises RuntimeError after close()."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the alert journal is closed")
            self._queue.append(item)
            self._accepted += 1
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        if self._closed:
            raise RuntimeError("the alert journal is closed")
        self._thread = threading.Thread(target=self._run, name="relic-guard-alert-journal", daemon=True)
        self._thread.start()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every item put so far is written (or set aside); False on timeout."""
        with self._lock:
            target = self._accepted
            return self._written_cond.wait_for(lambda: self._done >= target, timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what can be written within most of `timeout_s` (one more attempt if the
        database is down), then save the rest to the pending file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        started = time.monotonic()
        self._deadline = started + timeout_s * _DRAIN_SHARE
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(max(0.0, started + timeout_s - time.monotonic()))
        with self._lock:
            self._abandoned = True
            batches = list(self._formed)
            if self._in_flight is not None:
                batches.insert(0, self._in_flight)
            loose = list(self._queue)
            self._formed.clear()
            self._queue.clear()
        if thread is not None and thread.is_alive():
            log.warning("the alert journal's writer did not finish within %.1f s; what it was writing is "
                        "saved with the rest (written once only, whichever way it goes)", timeout_s)
        with self._file_lock:
            self._save_pending(batches, loose)

    def __enter__(self) -> AlertJournal:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the pending file -------------------------------------------------------------------
    def _load_pending_file(self) -> None:
        try:
            data = self.pending_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise JournalFileError(
                f"cannot read the alert journal's pending file {self.pending_path} ({exc}); it holds alert "
                "records not yet in the database: make it readable, or move it away to start without them"
            ) from exc
        group: _Batch | None = None
        group_end = 0
        loaded = 0
        malformed: list[bytes] = []
        for number, raw in enumerate(data.splitlines(), start=1):
            if group is not None and number > group_end:
                self._formed.append(group)
                group = None
            if not raw.strip():
                continue
            try:
                line = _line_decoder.decode(raw)
            except msgspec.DecodeError as exc:
                log.error("%s line %d is not a journal item (%s); skipped, kept in %s", self.pending_path, number,
                          exc, self.malformed_path)
                malformed.append(b"%d\t%s" % (number, raw))
                continue
            if isinstance(line, _BatchLine):
                if group is not None:
                    self._formed.append(group)
                group, group_end = _Batch(line.id, []), number + max(0, line.size)
                continue
            if group is not None:
                group.items.append(line.item)
            else:
                self._queue.append(line.item)
            loaded += 1
        if group is not None:
            self._formed.append(group)
        self._formed = deque(b for b in self._formed if b.items)
        if malformed:
            self._keep_malformed(malformed)
        self._accepted += loaded
        self._file_items = loaded
        if loaded:
            log.info("alert journal: %d items left from before in %s are written first", loaded, self.pending_path)
        else:
            self._remove_pending_file()

    def _keep_malformed(self, lines: list[bytes]) -> None:
        """Lines of the pending file that did not decode, kept (`<line number>\\t<line>`) for a
        person to read: the pending file itself goes once its good items are written."""
        try:
            fd = os.open(self.malformed_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                os.write(fd, b"".join(line + b"\n" for line in lines))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.error("cannot keep the malformed lines of %s in %s (%s); they follow here:\n%s", self.pending_path,
                      self.malformed_path, exc, b"\n".join(lines).decode("utf-8", "replace"))

    def _save_pending(self, batches: list[_Batch], loose: list[JournalItem]) -> None:
        count = sum(len(b.items) for b in batches) + len(loose)
        if count == 0:
            self._remove_pending_file()
            return
        lines: list[bytes] = []
        for batch in batches:
            lines.append(msgspec.json.encode(_BatchLine(batch.id, len(batch.items))))
            lines.extend(self._encoded(item) for item in batch.items)
        lines.extend(self._encoded(item) for item in loose)
        body = b"\n".join(lines) + b"\n"
        temp = self.pending_path.with_name(self.pending_path.name + ".tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.pending_path)
            _fsync_dir(self.pending_dir)
        except OSError as exc:
            # The last place these records can go: the log.
            log.error("alert journal: cannot save %d items to %s (%s); they follow here, one per line:\n%s",
                      count, self.pending_path, exc, body.decode("utf-8", "replace"))
            return
        log.warning("alert journal: %d items could not be written to the database; saved to %s, written "
                    "first at the next start", count, self.pending_path)

    @staticmethod
    def _encoded(item: JournalItem) -> bytes:
        try:
            return encode_item(item)
        except (TypeError, ValueError) as exc:
            # Not an item at all (put() does not check): kept as text for a person to read.
            return msgspec.json.encode({"t": "unencodable", "reason": str(exc), "repr": repr(item)})

    def _remove_pending_file(self) -> None:
        try:
            self.pending_path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("alert journal: cannot delete %s (%s); its items are in the database, delete it by hand "
                      "or they are written again (harmlessly) at the next start", self.pending_path, exc)
            return
        with contextlib.suppress(OSError):
            _fsync_dir(self.pending_dir)

    def _set_aside(self, item: JournalItem, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {_reason(exc)}"
        try:
            line: Any = msgspec.json.decode(self._encoded(item))
            record = msgspec.json.encode(_RejectedLine(datetime.now(UTC), reason, line)) + b"\n"
            fd = os.open(self.rejected_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                os.write(fd, record)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            log.error("alert journal: the database refused an item (%s) and it cannot be set aside in %s (%s): %r",
                      reason, self.rejected_path, err, item)
            return
        log.error("alert journal: the database refused an item (%s); set aside in %s", reason, self.rejected_path)

    # -- the writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.retry_min_s
        try:
            if self._probe():
                delay = self.retry_min_s
            while True:
                self._check_backlog()
                batch, stop = self._take(None if self._ok else delay)
                if stop:
                    return
                if batch is None:  # idle while the database is down: see whether it is back
                    delay = self.retry_min_s if self._probe() else min(delay * 2, self.retry_max_s)
                    continue
                if self._write(batch):
                    delay = self.retry_min_s
                    self._finished(batch)
                    continue
                if self._stop.is_set():
                    return  # closing, and the one attempt after close() failed
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max_s)
        except Exception:
            log.exception("the alert journal's writer stopped unexpectedly; what it holds is saved at close")
        finally:
            self._drop_connection()

    def _take(self, wait_s: float | None) -> tuple[_Batch | None, bool]:
        """The next batch to write, or (None, False) after `wait_s` with nothing to write, or
        (None, True) when the thread should end."""
        while True:
            with self._lock:
                if self._abandoned:
                    return None, True
                if self._stop.is_set() and self._deadline is not None and time.monotonic() > self._deadline:
                    return None, True
                if self._in_flight is None and self._formed:
                    self._in_flight = self._formed.popleft()
                if self._in_flight is None and self._queue:
                    count = min(len(self._queue), self.batch_max_items)
                    self._in_flight = _Batch(uuid.uuid4().hex, [self._queue.popleft() for _ in range(count)])
                if self._in_flight is not None:
                    return self._in_flight, False
                if self._stop.is_set():
                    return None, True
                # Cleared under the lock: a put() after this sets it again, so no wake-up is lost.
                self._wake.clear()
            if not self._wake.wait(wait_s):
                return None, False

    def _finished(self, batch: _Batch) -> None:
        with self._lock:
            if self._abandoned:
                return
            self._in_flight = None
            self._done += len(batch.items)
            self._written_cond.notify_all()
            file_done = self._file_items > 0 and self._done >= self._file_items
            if file_done:
                self._file_items = 0
        if file_done:
            with self._file_lock:
                with self._lock:
                    if self._abandoned:
                        return  # close() is writing the file anew
                self._remove_pending_file()

    def _check_backlog(self) -> None:
        pending = self.pending
        if pending <= BACKLOG_ALARM:
            self._next_backlog_log = BACKLOG_ALARM
        elif pending > self._next_backlog_log:
            log.error("alert journal: %d items held in memory while the database is unreachable; nothing is "
                      "dropped, but memory keeps growing until it is back", pending)
            self._next_backlog_log = (pending // BACKLOG_LOG_EVERY + 1) * BACKLOG_LOG_EVERY

    def _write(self, batch: _Batch) -> bool:
        """Write `batch` (setting refused items aside); False if it must be tried again later."""
        conn: Conn | None = None
        try:
            fresh = self._conn is None
            conn = self._connection()
            try:
                self._write_split(conn, batch)
            except psycopg.OperationalError:
                if fresh:
                    raise
                # A connection idle for a while may have been cut (a server restart, a proxy's
                # idle timeout): one retry on a new one before calling it an outage. The batch
                # keeps its id, so a first attempt that did commit is not written twice.
                self._drop_connection()
                conn = self._connection()
                self._write_split(conn, batch)
        except Exception as exc:
            self._drop_connection()
            self._went_down(exc)
            return False
        self._came_back()
        return True

    def _write_split(self, conn: Conn, batch: _Batch) -> None:
        try:
            written = store_alerts.write(conn, batch.items, self._audit_key, batch_id=batch.id)
        except Exception as exc:
            if not _refused_for_content(exc, conn):
                raise
            if len(batch.items) == 1:
                self._set_aside(batch.items[0], exc)
                return
            half = len(batch.items) // 2
            # Sub-batches get ids of their own: after an outage half-way, the halves already
            # written are skipped when the whole batch is tried again.
            self._write_split(conn, _Batch(f"{batch.id}.1", batch.items[:half]))
            self._write_split(conn, _Batch(f"{batch.id}.2", batch.items[half:]))
            return
        if not written:
            log.info("alert journal: batch %s of %d items was already in the database (an earlier commit "
                     "went through unanswered); not written again", batch.id, len(batch.items))

    def _probe(self) -> bool:
        try:
            self._connection()
        except Exception as exc:
            self._drop_connection()
            self._went_down(exc)
            return False
        self._came_back()
        return True

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.database_url,
                autocommit=True,
                connect_timeout=max(1, math.ceil(self.connect_timeout_s)),
                application_name="relic-guard alert journal",
                # Notice a dead peer (a cut network, not a refused port) within about a minute.
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _went_down(self, exc: BaseException) -> None:
        self._ok = False
        if self._down_logged:
            return
        self._down_logged = True
        what = "unreachable" if isinstance(exc, psycopg.OperationalError) else "refusing the journal's writes"
        log.error("alert journal: database %s (%s); alert records are held in memory (%d now) and written "
                  "in order once it is back", what, _reason(exc), self.pending)

    def _came_back(self) -> None:
        self._ok = True
        if not self._down_logged:
            return
        self._down_logged = False
        log.info("alert journal: database reachable again; writing the %d alert records held meanwhile",
                 self.pending)
