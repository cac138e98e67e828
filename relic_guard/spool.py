"""The on-disk spool: where batches wait, fsync'd, while the database is unreachable.

Once `append` returns, the batch is on disk (data and, for a new segment
file, its directory entry fsync'd), so its MQTT messages may be acknowledged.
`replay` hands the batches back in append order and deletes a segment file
only after every record in it was written; a write failure stops the replay
and leaves the rest (the next replay resumes after the last written record).

Layout: `<dir>/<seq:016d>.seg`, append-only (one folder per worker); a new segment is
started when the current one would pass `segment_max_bytes`, when a replay
begins (so the replayer reads only closed files) and on every reopen (a
process never appends behind a record it did not write itself). A record is

    u32 little-endian body length | u32 little-endian CRC-32 of body | body

with the body a msgpack encoding of the batch as plain tuples (see
`encode_batch`; datetimes as integer epoch microseconds, so nothing depends on
msgpack's timestamp extension). A crash during an append leaves a torn tail:
a length running past the end of the file, or a CRC that does not match. It
is detected, logged and cut off; that batch was never acknowledged, so the
broker redelivers it.

One process at a time: an exclusive `flock` on `<dir>/.lock`.
The quota counts the bytes of the segment files (what the disk holds).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

from relic_guard import metrics
from relic_guard.batch import Batch, Quarantined
from relic_guard.errors import SpoolError
from sensors.model import Event, RejectReason, Source, StatusChange, Telemetry

log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct("<II")
SEGMENT_SUFFIX: Final = ".seg"
_SEGMENT_RE: Final = re.compile(r"^(\d{16})\.seg$")
DEFAULT_SEGMENT_MAX_BYTES: Final = 16 * 1024 * 1024
# A body larger than this is taken for a garbage length field (a torn header).
MAX_RECORD_BYTES: Final = 1024 * 1024 * 1024


class SpoolFull(SpoolError):  # noqa: N818 (the name the callers know)
    """The batch would take the spool over its quota; nothing was written."""

    def __init__(self, path: Path, needed: int, pending: int, quota: int) -> None:
        self.path = path
        self.needed = needed
        self.pending = pending
        self.quota = quota
        super().__init__(
            f"spool {path} is full: {pending} bytes pending, a batch of {needed} bytes "
            f"would pass the quota of {quota} bytes"
        )


# --- encoding ---------------------------------------------------------------------------

SPOOL_FORMAT: Final = 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
# Attribute values msgpack has no type for are kept as their text, as the database's JSON does.
_encoder = msgspec.msgpack.Encoder(enc_hook=str)
_decoder = msgspec.msgpack.Decoder()


def _us(ts: datetime) -> int:
    return (ts - _EPOCH) // _US


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _scrub(value: Any) -> Any:
    """`value` with every string made UTF-8 encodable (lone surrogates become '?', as the
    database writer stores them), for the rare batch msgpack cannot encode as it is."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, tuple | list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def _us_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else _us(moment)


def _dt_or_none(rest: list[int | None]) -> datetime | None:
    # Records spooled before the receive time was kept have no such field.
    return _dt(rest[0]) if rest and rest[0] is not None else None


def encode_batch(batch: Batch) -> bytes:
    """The batch as a msgpack array of plain tuples:

    (format, messages, telemetry, events, statuses, quarantine) where
      telemetry  = (site, device, source, ts_us, {metric: value}, ts_from_receive, {tag: text})
      event      = (site, device, source, type, ts_us, event_key, zone|nil, clear, {attrs}, ts_from_receive,
                    received_at_us|nil)
      status     = (site, device, source, online, ts_us, ts_from_receive, received_at_us|nil)
      quarantine = (topic, payload bytes, payload_size, received_at_us, reason, detail)
    """
    plain = (
        SPOOL_FORMAT,
        batch.messages,
        [(t.site, t.device, str(t.source), _us(t.ts), dict(t.values), t.ts_from_receive, dict(t.tags))
         for t in batch.telemetry],
        [(e.site, e.device, str(e.source), e.type, _us(e.ts), e.event_key, e.zone, e.clear,
          dict(e.attrs), e.ts_from_receive, _us_or_none(e.received_at))
         for e in batch.events],
        [(s.site, s.device, str(s.source), s.online, _us(s.ts), s.ts_from_receive, _us_or_none(s.received_at))
         for s in batch.statuses],
        [(q.topic, q.payload, q.payload_size, _us(q.received_at), str(q.reason), q.detail)
         for q in batch.quarantine],
    )
    try:
        return _encoder.encode(plain)
    except UnicodeEncodeError:
        # Text a device sent that is not valid UTF-8 (e.g. a topic decoded with surrogateescape).
        return _encoder.encode(_scrub(plain))


def decode_batch(body: bytes) -> Batch:
    try:
        fmt, messages, telemetry, events, statuses, quarantine = _decoder.decode(body)
        if fmt != SPOOL_FORMAT:
            raise SpoolError(f"spool record format {fmt} is unknown here (expected {SPOOL_FORMAT})")
        return Batch(
            telemetry=[
                Telemetry(site=site, device=device, source=Source(source), ts=_dt(ts), values=values,
                          ts_from_receive=from_receive, tags=tags)
                for site, device, source, ts, values, from_receive, tags in telemetry
            ],
            events=[
                Event(site=site, device=device, source=Source(source), type=type_, ts=_dt(ts),
                      event_key=key, zone=zone, clear=clear, attrs=attrs, ts_from_receive=from_receive,
                      received_at=_dt_or_none(received))
                for site, device, source, type_, ts, key, zone, clear, attrs, from_receive, *received in events
            ],
            statuses=[
                StatusChange(site=site, device=device, source=Source(source), online=online, ts=_dt(ts),
                             ts_from_receive=from_receive, received_at=_dt_or_none(received))
                for site, device, source, online, ts, from_receive, *received in statuses
            ],
            quarantine=[
                Quarantined(topic=topic, payload=payload, payload_size=size, received_at=_dt(received),
                            reason=RejectReason(reason), detail=detail)
                for topic, payload, size, received, reason, detail in quarantine
            ],
            messages=messages,
        )
    except SpoolError:
        raise
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        raise SpoolError(f"spool record does not decode as a batch: {exc}") from exc


def frame_record(body: bytes) -> bytes:
    return _HEADER.pack(len(body), zlib.crc32(body)) + body


def scan_records(data: bytes, start: int = 0) -> tuple[list[tuple[int, int]], int, str | None]:
    """Walk the records of a segment image from `start`.

    Returns ([(body offset, body length)], end of the last good record, why the walk
    stopped early or None when it reached the end cleanly).
    """
    spans: list[tuple[int, int]] = []
    offset = start
    size = len(data)
    while offset < size:
        if size - offset < _HEADER.size:
            return spans, offset, f"torn header at offset {offset}"
        length, crc = _HEADER.unpack_from(data, offset)
        body_at = offset + _HEADER.size
        if length == 0 or length > MAX_RECORD_BYTES or body_at + length > size:
            left = size - body_at
            return spans, offset, f"torn record at offset {offset} (length {length}, {left} bytes left)"
        if zlib.crc32(data[body_at:body_at + length]) != crc:
            return spans, offset, f"CRC mismatch at offset {offset}"
        spans.append((body_at, length))
        offset = body_at + length
    return spans, offset, None


# --- the spool --------------------------------------------------------------------------

@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    size: int
    records: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Append-only, fsync'd, quota-bounded batch spool of one worker. Thread-safe."""

    def __init__(self, dir: Path, quota_bytes: int, worker: str, *,
                 segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES) -> None:
        self.path = Path(dir)
        self.quota_bytes = quota_bytes
        self.worker = worker
        self.segment_max_bytes = segment_max_bytes
        self._lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._closed_segments: list[_Segment] = []
        self._active: _Segment | None = None
        self._active_fd: int | None = None
        # seq -> offset of the first record not yet replayed (a replay that stopped midway).
        self._cursor: dict[int, int] = {}
        self._bytes = 0
        self._records = 0
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SpoolError(f"cannot open spool folder {self.path}: {exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            raise SpoolError(f"spool {self.path} is in use by another process") from exc
        self._next_seq = 1
        self._open_existing()
        self._update_gauges()

    # -- opening ---------------------------------------------------------------------
    def _open_existing(self) -> None:
        found = sorted(
            (int(m.group(1)), self.path / name)
            for name in os.listdir(self.path)
            if (m := _SEGMENT_RE.match(name))
        )
        for seq, path in found:
            self._next_seq = max(self._next_seq, seq + 1)
            data = path.read_bytes()
            spans, good_end, problem = scan_records(data)
            if problem is not None:
                log.warning(
                    "spool segment %s: %s; cutting it off (a batch whose append was interrupted was never "
                    "acknowledged, so the broker redelivers it)", path, problem)
                os.truncate(path, good_end)
            if not spans:
                path.unlink()
                continue
            self._closed_segments.append(_Segment(seq=seq, path=path, size=good_end, records=len(spans)))
            self._bytes += good_end
            self._records += len(spans)
        if found:
            _fsync_dir(self.path)
        if self._records:
            log.info("spool %s holds %d batches (%d bytes) from before",
                     self.path, self._records, self._bytes)

    # -- state -----------------------------------------------------------------------
    def pending(self) -> int:
        """Bytes of spooled batches not yet replayed and deleted."""
        with self._lock:
            return self._bytes

    def pending_batches(self) -> int:
        with self._lock:
            return self._records

    def _update_gauges(self) -> None:
        metrics.SPOOL_BYTES.labels(self.worker).set(self._bytes)
        metrics.SPOOL_BATCHES.labels(self.worker).set(self._records)

    # -- appending -------------------------------------------------------------------
    def append(self, batch: Batch) -> None:
        """Write `batch` durably (fsync) or raise: SpoolFull (nothing written) or SpoolError."""
        try:
            record = frame_record(encode_batch(batch))
        except (TypeError, ValueError, UnicodeEncodeError, OverflowError) as exc:
            raise SpoolError(f"batch cannot be encoded for the spool: {exc}") from exc
        with self._lock:
            if self._bytes + len(record) > self.quota_bytes:
                raise SpoolFull(self.path, len(record), self._bytes, self.quota_bytes)
            if self._active is not None and self._active.size + len(record) > self.segment_max_bytes:
                self._close_active()
            if self._active is None:
                self._open_active()
            assert self._active is not None and self._active_fd is not None
            try:
                view = memoryview(record)
                while view:
                    written = os.write(self._active_fd, view)
                    view = view[written:]
                os.fdatasync(self._active_fd)
            except OSError as exc:
                self._undo_partial_append()
                raise SpoolError(f"cannot write to spool {self._active_path()}: {exc}") from exc
            self._active.size += len(record)
            self._active.records += 1
            self._bytes += len(record)
            self._records += 1
            self._update_gauges()

    def _active_path(self) -> Path | None:
        return self._active.path if self._active else None

    def _open_active(self) -> None:
        seq = self._next_seq
        self._next_seq += 1
        path = self.path / f"{seq:016d}{SEGMENT_SUFFIX}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
            _fsync_dir(self.path)
        except OSError as exc:
            raise SpoolError(f"cannot create spool segment {path}: {exc}") from exc
        self._active = _Segment(seq=seq, path=path, size=0, records=0)
        self._active_fd = fd

    def _close_active(self) -> None:
        if self._active_fd is not None:
            os.close(self._active_fd)
            self._active_fd = None
        if self._active is not None:
            if self._active.records:
                self._closed_segments.append(self._active)
            else:
                with contextlib.suppress(OSError):
                    self._active.path.unlink()
            self._active = None

    def _undo_partial_append(self) -> None:
        # Never leave a torn record in front of later records: cut the file back,
        # or if even that fails, stop appending to it.
        assert self._active is not None and self._active_fd is not None
        try:
            os.ftruncate(self._active_fd, self._active.size)
        except OSError:
            self._close_active()

    # -- replaying -------------------------------------------------------------------
    def replay(self, write: Callable[[Batch], object]) -> int:
        """Hand every batch spooled so far to `write`, oldest first; returns how many.

        A segment file is deleted once all its records were written. An exception
        from `write` stops the replay and propagates; the batches not written stay
        (the next replay starts at the one that failed). Batches appended while
        this runs are left for the next call.
        """
        with self._replay_lock:
            with self._lock:
                if self._active is not None and self._active.records:
                    self._close_active()
                todo = list(self._closed_segments)
            done = 0
            for segment in todo:
                done += self._replay_segment(segment, write)
            return done

    def _replay_segment(self, segment: _Segment, write: Callable[[Batch], object]) -> int:
        data = segment.path.read_bytes()[: segment.size]
        spans, _, problem = scan_records(data, self._cursor.get(segment.seq, 0))
        if problem is not None:
            log.warning("spool segment %s: %s; the rest of it is skipped", segment.path, problem)
        done = 0
        for body_at, length in spans:
            batch = decode_batch(data[body_at:body_at + length])
            write(batch)
            done += 1
            with self._lock:
                self._cursor[segment.seq] = body_at + length
                self._records -= 1
                segment.records -= 1
                self._update_gauges()
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            _fsync_dir(self.path)
            self._closed_segments.remove(segment)
            self._cursor.pop(segment.seq, None)
            self._bytes -= segment.size
            self._records -= segment.records  # records skipped after a bad one
            self._update_gauges()
        return done

    # -- batches the database refuses -------------------------------------------------
    def dead_letter(self, batch: Batch, reason: str) -> Path:
        """Keep a batch the database refuses for its content in `<spool>/rejected/`, out of the
        replay and the quota, for an operator to inspect (decode with `decode_batch`)."""
        folder = self.path / "rejected"
        folder.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{stamp}{SEGMENT_SUFFIX}"
        path.write_bytes(frame_record(encode_batch(batch)))
        path.with_suffix(".txt").write_text(reason + "\n", encoding="utf-8")
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(folder)
        return path

    # -- closing ---------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._close_active()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = -1

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def spooled_workers(dir: Path) -> list[str]:
    """Names of the sub-folders of `dir` that hold spool segments. With one spool per worker
    under one base folder, the daemon can replay those whose worker no longer runs (after
    the worker count went down) by opening a Spool on each."""
    base = Path(dir)
    if not base.is_dir():
        return []
    return sorted(
        child.name for child in base.iterdir()
        if child.is_dir() and any(_SEGMENT_RE.match(p.name) for p in child.iterdir())
    )
