"""Write one Batch in one transaction: the moment its MQTT messages may be acknowledged.

Readings (the volume: thousands of rows per batch) go by binary COPY straight
into `readings`, sorted by the unique key. That is optimistic: a redelivered batch (broker resend after
a crash before PUBACK, or a spool replay of a batch that had in fact
committed) makes the COPY hit the unique key; the whole transaction is then
redone with the readings staged in a temporary table and inserted with
`ON CONFLICT DO NOTHING`, which also settles duplicates inside the batch
(first one wins). Events and status changes are few, so they always take the
conflict-tolerant path, through `unnest()` of array parameters rather than a
temporary table: the same `INSERT … SELECT … ON CONFLICT DO NOTHING`, without
creating and dropping a catalog entry for every batch. Quarantine rows have
no natural key and go by COPY.

Invariants: nothing is committed unless all of it is; counters are only
bumped after the commit; text from devices is made storable (NUL and lone
surrogates replaced) so that one odd payload cannot wedge ingestion.
psycopg errors propagate unchanged: the caller (DurableSink) tells a lost
connection from a refused statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, Final

import msgspec
import psycopg
from psycopg import errors as pg_errors

from relic_guard import metrics
from relic_guard.batch import Batch
from sensors.model import Event, StatusChange

Conn = psycopg.Connection[Any]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_HOUR: Final = timedelta(hours=1)

# Readings older than this when written are "late": the native rollup job would not
# look back far enough on its own, so their time range is noted in rollup_backlog.
LATE_AFTER: Final = timedelta(hours=1)

READING_COLUMNS: Final = "ts, site_id, device_id, metric, value, ts_from_receive"
READING_TYPES: Final = ["timestamptz", "text", "text", "text", "float8", "bool"]
_COPY_READINGS: Final = f"COPY readings ({READING_COLUMNS}) FROM STDIN (FORMAT BINARY)"

_CREATE_READINGS_STAGE: Final = (
    "CREATE TEMP TABLE readings_stage (ts timestamptz, site_id text, device_id text, metric text,"
    " value float8, ts_from_receive bool, ord int4) ON COMMIT DROP"
)
_COPY_READINGS_STAGE: Final = f"COPY readings_stage ({READING_COLUMNS}, ord) FROM STDIN (FORMAT BINARY)"
_INSERT_READINGS_STAGED: Final = f"""
INSERT INTO readings ({READING_COLUMNS})
SELECT DISTINCT ON (site_id, device_id, metric, ts) {READING_COLUMNS}
FROM readings_stage
ORDER BY site_id, device_id, metric, ts, ord
ON CONFLICT DO NOTHING
"""

_INSERT_EVENTS: Final = """
INSERT INTO events (ts, site_id, device_id, source, type, zone, clear, event_key, attrs, ts_from_receive,
                    received_at)
SELECT DISTINCT ON (site_id, device_id, event_key, ts)
       ts, site_id, device_id, source, type, zone, clear, event_key, attrs::jsonb, ts_from_receive,
       coalesce(received_at, now())
FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::bool[], %s::text[], %s::text[], %s::bool[], %s::timestamptz[])
     WITH ORDINALITY AS s(ts, site_id, device_id, source, type, zone, clear, event_key, attrs,
                          ts_from_receive, received_at, ord)
ORDER BY site_id, device_id, event_key, ts, ord
ON CONFLICT DO NOTHING
"""

_UPSERT_STATUS: Final = """
INSERT INTO device_status (site_id, device_id, online, changed_at)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bool[], %s::timestamptz[])
ON CONFLICT (site_id, device_id) DO UPDATE
SET online = excluded.online, changed_at = excluded.changed_at
WHERE device_status.changed_at < excluded.changed_at
"""

QUARANTINE_TYPES: Final = ["timestamptz", "text", "text", "text", "bytea", "int4"]
_COPY_QUARANTINE: Final = (
    "COPY quarantine (received_at, topic, reason, detail, payload, payload_size) FROM STDIN (FORMAT BINARY)"
)

_NOTE_LATE: Final = "INSERT INTO rollup_backlog (frm, until) VALUES (%s, %s)"


@dataclass(frozen=True, slots=True)
class WriteCounts:
    """What one committed batch did. Status changes are counted in `events` (they are event rows too)."""

    readings: int = 0
    readings_duplicates: int = 0
    events: int = 0
    events_duplicates: int = 0
    device_status: int = 0
    quarantine: int = 0
    # True when the readings had to take the conflict-tolerant path.
    redelivered: bool = False


def write_batch(conn: Conn, batch: Batch) -> WriteCounts:
    """Make `batch` durable in one transaction, then count rows and duplicates in the metrics.

    (BATCH_SECONDS / BATCH_MESSAGES / SPOOL_FULL are the callers': they time the whole
    durability, database or spool, retries included.)

    `conn` must be idle (autocommit, or no transaction open): this commits.
    Raises psycopg errors unchanged.
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise psycopg.ProgrammingError("write_batch() needs a connection outside any transaction")
    readings = reading_rows(batch)
    # In unique-key order, the index is filled leaf after leaf instead of all over:
    # +10-20% rows/s (bench/store_write.py). The sort is stable: of equal keys, the first stays first.
    readings.sort(key=_KEY_ORDER)
    try:
        with conn.transaction():
            counts = _write(conn, batch, readings, optimistic=True)
    except pg_errors.UniqueViolation:
        with conn.transaction():
            counts = _write(conn, batch, readings, optimistic=False)
    for table, n in (("readings", counts.readings), ("events", counts.events),
                     ("device_status", counts.device_status), ("quarantine", counts.quarantine)):
        if n:
            metrics.ROWS_WRITTEN.labels(table).inc(n)
    if counts.readings_duplicates:
        metrics.DUPLICATES.labels("readings").inc(counts.readings_duplicates)
    if counts.events_duplicates:
        metrics.DUPLICATES.labels("events").inc(counts.events_duplicates)
    return counts


ReadingRow = tuple[datetime, str, str, str, float, bool]
_KEY_ORDER: Final = itemgetter(1, 2, 3, 0)  # (site_id, device_id, metric, ts): readings_key


def reading_rows(batch: Batch) -> list[ReadingRow]:
    """One row per (telemetry message, metric), in the COPY column order."""
    return [
        (t.ts, t.site, t.device, metric, value, t.ts_from_receive)
        for t in batch.telemetry
        for metric, value in t.values.items()
    ]


def _write(conn: Conn, batch: Batch, readings: list[ReadingRow], *, optimistic: bool) -> WriteCounts:
    n_readings = n_reading_dups = 0
    with conn.cursor() as cur:
        if readings:
            if optimistic:
                with cur.copy(_COPY_READINGS) as copy:
                    copy.set_types(READING_TYPES)
                    for row in readings:
                        copy.write_row(row)
                n_readings = len(readings)
            else:
                cur.execute(_CREATE_READINGS_STAGE)
                with cur.copy(_COPY_READINGS_STAGE) as copy:
                    copy.set_types([*READING_TYPES, "int4"])
                    for i, row in enumerate(readings):
                        copy.write_row((*row, i))
                cur.execute(_INSERT_READINGS_STAGED)
                n_readings = max(cur.rowcount, 0)
                n_reading_dups = len(readings) - n_readings
            _note_if_late(cur, batch)

        n_events = n_event_dups = 0
        if batch.events or batch.statuses:
            attempted, n_events = _insert_events(cur, batch.events, batch.statuses)
            n_event_dups = attempted - n_events

        n_status = _upsert_status(cur, batch.statuses) if batch.statuses else 0

        if batch.quarantine:
            with cur.copy(_COPY_QUARANTINE) as copy:
                copy.set_types(QUARANTINE_TYPES)
                for q in batch.quarantine:
                    copy.write_row(
                        (q.received_at, clean_text(q.topic), str(q.reason), clean_text(q.detail),
                         q.payload, q.payload_size)
                    )
    return WriteCounts(
        readings=n_readings,
        readings_duplicates=n_reading_dups,
        events=n_events,
        events_duplicates=n_event_dups,
        device_status=n_status,
        quarantine=len(batch.quarantine),
        redelivered=not optimistic,
    )


def _note_if_late(cur: psycopg.Cursor[Any], batch: Batch) -> None:
    threshold = datetime.now(UTC) - LATE_AFTER
    if min(t.ts for t in batch.telemetry) >= threshold:
        return
    # Only now (a late batch: a spool replay) pay for the exact hours, so a batch mixing
    # one year-old reading with current ones does not make the rollup rescan the year.
    runs = hour_runs({t.ts.replace(minute=0, second=0, microsecond=0)
                      for t in batch.telemetry if t.ts < threshold})
    cur.executemany(_NOTE_LATE, runs)


def hour_runs(hours: set[datetime]) -> list[tuple[datetime, datetime]]:
    """Whole hours merged into [start, end) runs of consecutive hours, in order."""
    runs: list[tuple[datetime, datetime]] = []
    for hour in sorted(hours):
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + _HOUR)
        else:
            runs.append((hour, hour + _HOUR))
    return runs


def status_event_key(status: StatusChange) -> str:
    state = "online" if status.online else "offline"
    return f"status:{state}:{(status.ts - EPOCH) // _MS}"


def _insert_events(
    cur: psycopg.Cursor[Any], events: list[Event], statuses: list[StatusChange]
) -> tuple[int, int]:
    """Insert events and status-change events; returns (rows attempted, rows inserted)."""
    ts: list[datetime] = []
    site: list[str] = []
    device: list[str] = []
    source: list[str] = []
    kind: list[str] = []
    zone: list[str | None] = []
    clear: list[bool] = []
    key: list[str] = []
    attrs: list[str] = []
    from_receive: list[bool] = []
    received: list[datetime | None] = []
    for e in events:
        ts.append(e.ts)
        site.append(e.site)
        device.append(e.device)
        source.append(str(e.source))
        kind.append(clean_text(e.type))
        zone.append(None if e.zone is None else clean_text(e.zone))
        clear.append(e.clear)
        key.append(clean_text(e.event_key))
        attrs.append(attrs_json(e.attrs))
        from_receive.append(e.ts_from_receive)
        received.append(e.received_at)
    for s in statuses:
        ts.append(s.ts)
        site.append(s.site)
        device.append(s.device)
        source.append(str(s.source))
        kind.append("online" if s.online else "offline")
        zone.append(None)
        clear.append(False)
        key.append(status_event_key(s))
        attrs.append("{}")
        from_receive.append(s.ts_from_receive)
        received.append(s.received_at)
    cur.execute(_INSERT_EVENTS, (ts, site, device, source, kind, zone, clear, key, attrs, from_receive, received))
    return len(ts), max(cur.rowcount, 0)


def _upsert_status(cur: psycopg.Cursor[Any], statuses: list[StatusChange]) -> int:
    # One row per device (ON CONFLICT DO UPDATE may touch a row once per statement):
    # the latest wins, and of equal timestamps the one that arrived last.
    latest: dict[tuple[str, str], StatusChange] = {}
    for s in statuses:
        seen = latest.get((s.site, s.device))
        if seen is None or s.ts >= seen.ts:
            latest[(s.site, s.device)] = s
    rows = list(latest.values())
    cur.execute(
        _UPSERT_STATUS,
        ([s.site for s in rows], [s.device for s in rows], [s.online for s in rows], [s.ts for s in rows]),
    )
    return max(cur.rowcount, 0)


# --- making device text storable ------------------------------------------------------

_REPLACEMENT = "\ufffd"
_json_encoder = msgspec.json.Encoder(enc_hook=str)


def clean_text(s: str) -> str:
    """`s` as PostgreSQL text accepts it: NUL and unencodable surrogates replaced."""
    if "\x00" in s:
        s = s.replace("\x00", _REPLACEMENT)
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            s = s.encode("utf-8", "replace").decode("utf-8")
    return s


def _clean_value(value: object) -> object:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_value(v) for v in value]
    return value


def attrs_json(attrs: Mapping[str, object]) -> str:
    """Event attributes as JSON text that jsonb accepts (jsonb refuses \\u0000 and lone surrogates)."""
    if not attrs:
        return "{}"
    plain = attrs if isinstance(attrs, dict) else dict(attrs)
    try:
        encoded = _json_encoder.encode(plain)
        if b"\\u0000" not in encoded:
            return encoded.decode("utf-8")
    except UnicodeEncodeError:
        pass
    return _json_encoder.encode(_clean_value(plain)).decode("utf-8")
