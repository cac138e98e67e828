"""The maintenance job: daily partitions, retention and the hourly rollup (native mode).

`plan_partitions` is the pure part: from the days that have a partition and
`now`, which days to create (yesterday through now + ahead) and which to drop
(wholly older than the retention window). `maintain` does the I/O, each step
in its own short transaction with a lock timeout, so a long query holding a
lock makes the job skip a step (and retry next run) rather than stall writers.

DEFAULT partitions catch rows for which no daily partition exists. When a
partition is about to be created for a range that DEFAULT already holds rows
for (data written before the job first ran, or while it was not running),
PostgreSQL would refuse the new partition; so those rows are moved, in the
same transaction: deleted from DEFAULT into a temporary table, the partition
created, the rows inserted again through the parent (they land in the new
partition). Older stragglers stay in DEFAULT (no partitions are made for the
past) until retention deletes them there.

The rollup re-aggregates `readings_hourly` for the hours since the previous
run (the maintenance interval plus margins) and for the hours the writer
noted in `rollup_backlog` (late readings, e.g. a spool replay after an outage).

TimescaleDB mode: hypertable retention, compression and the continuous
aggregate are Timescale's own policies; this job only trims the quarantine
and empties `rollup_backlog`.

In both modes it also rolls up the finished days into `device_days`, the
daily device health the annual report reads (relic_guard/report/rollups.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from relic_guard.config import StoreConfig
from relic_guard.errors import StoreError
from relic_guard.store.schema import Mode, store_mode
from relic_guard.store.writer import LATE_AFTER

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

PARTITIONED_TABLES: Final = ("readings", "events")
_DAY: Final = timedelta(days=1)
_HOUR: Final = timedelta(hours=1)
# Maintenance steps give up rather than queue behind a long lock (writers would queue behind them).
LOCK_TIMEOUT: Final = "5s"


@dataclass(slots=True)
class MaintenanceReport:
    mode: Mode
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    # Rows moved out of DEFAULT into partitions created for their range.
    moved_from_default: int = 0
    # Rows older than retention deleted from DEFAULT partitions, readings_hourly and quarantine.
    expired_rows: int = 0
    # readings_hourly rows inserted or changed, and the [from, to) ranges re-aggregated.
    hourly_rows: int = 0
    hourly_ranges: list[tuple[datetime, datetime]] = field(default_factory=list)
    # Steps skipped because a lock was not granted in time (retried next run).
    skipped: list[str] = field(default_factory=list)
    # China days rolled up into device_days (the annual report's device health).
    device_days: int = 0


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    return now - timedelta(days=retention_days)


def plan_partitions(
    existing: set[date], now: datetime, ahead_days: int, retention_days: int
) -> tuple[list[date], list[date]]:
    """(days to create, days to drop), each ascending; days are UTC dates.

    Create: yesterday through `now + ahead_days`, minus existing, minus days already past retention.
    Drop: existing days whose whole range [day, day + 1) is older than `now - retention_days`.
    """
    today = now.astimezone(UTC).date()
    cutoff_day = retention_cutoff(now, retention_days).astimezone(UTC).date()
    first = max(today - _DAY, cutoff_day)
    wanted = {first + timedelta(days=i) for i in range((today + timedelta(days=ahead_days) - first).days + 1)}
    to_create = sorted(wanted - existing)
    to_drop = sorted(day for day in existing if day < cutoff_day)
    return to_create, to_drop


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


_NAME_RE = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")


def existing_partitions(conn: Conn, table: str) -> set[date]:
    """Days of the daily partitions of `table` (named `<table>_pYYYYMMDD`)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        (table,),
    ).fetchall()
    days = set()
    for (name,) in rows:
        match = _NAME_RE.match(name)
        if match and match["table"] == table:
            days.add(datetime.strptime(match["day"], "%Y%m%d").date())
    return days


def maintain(conn: Conn, cfg: StoreConfig, now: datetime) -> MaintenanceReport:
    """Run the maintenance job once; each step commits on its own (`conn` autocommit or idle)."""
    if now.tzinfo is None:
        raise ValueError("maintain() needs an aware `now`")
    with conn.transaction():  # (each read in a block of its own: nothing left open without autocommit)
        mode = store_mode(conn)
    if mode is None:
        raise StoreError("the database has no readings table yet: run migrate() first")
    report = MaintenanceReport(mode=mode)
    cutoff = retention_cutoff(now, cfg.retention_days)

    if mode == "native":
        for table in PARTITIONED_TABLES:
            with conn.transaction():
                existing = existing_partitions(conn, table)
            to_create, to_drop = plan_partitions(existing, now, cfg.partition_ahead_days, cfg.retention_days)
            for day in to_create:
                _step(conn, report, f"create {partition_name(table, day)}",
                      lambda day=day, table=table: _create_partition(conn, report, table, day))
            for day in to_drop:
                _step(conn, report, f"drop {partition_name(table, day)}",
                      lambda day=day, table=table: _drop_partition(conn, report, table, day))
            _step(conn, report, f"expire {table}_default",
                  lambda table=table: _expire(conn, report, f"{table}_default", "ts", cutoff))
        _step(conn, report, "expire readings_hourly",
              lambda: _expire(conn, report, "readings_hourly", "bucket", cutoff))
        lookback = timedelta(seconds=cfg.maintenance_interval_s) + LATE_AFTER + _HOUR
        _step(conn, report, "rollup", lambda: _rollup(conn, report, now - lookback, now, cutoff))
    else:
        _step(conn, report, "clear rollup_backlog", lambda: _clear_backlog(conn))

    _step(conn, report, "device days", lambda: _device_days(conn, report, now, cfg.retention_days))
    _step(conn, report, "expire quarantine",
          lambda: _expire(conn, report, "quarantine", "received_at", cutoff))
    if report.created or report.dropped or report.moved_from_default:
        log.info("maintenance: created %s, dropped %s, moved %d rows out of DEFAULT",
                 report.created, report.dropped, report.moved_from_default)
    return report


def _step(conn: Conn, report: MaintenanceReport, what: str, action: Any) -> None:
    try:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
            action()
    except pg_errors.LockNotAvailable:
        log.warning("maintenance: %s skipped, a lock was not granted within %s; retried next run",
                    what, LOCK_TIMEOUT)
        report.skipped.append(what)


def _create_partition(conn: Conn, report: MaintenanceReport, table: str, day: date) -> None:
    name = partition_name(table, day)
    start, end = _utc_midnight(day), _utc_midnight(day + _DAY)
    default = sql.Identifier(f"{table}_default")
    in_default = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE ts >= %s AND ts < %s)").format(default), (start, end)
    ).fetchone()
    moved = 0
    if in_default and in_default[0]:
        # PostgreSQL refuses a partition whose range DEFAULT holds rows for: take them out first.
        conn.execute(sql.SQL("CREATE TEMP TABLE partition_move (LIKE {}) ON COMMIT DROP").format(
            sql.Identifier(table)))
        cur = conn.execute(
            sql.SQL("WITH gone AS (DELETE FROM {} WHERE ts >= %s AND ts < %s RETURNING *) "
                    "INSERT INTO partition_move SELECT * FROM gone").format(default),
            (start, end),
        )
        moved = cur.rowcount
    conn.execute(
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(name), sql.Identifier(table), sql.Literal(start), sql.Literal(end))
    )
    if moved:
        conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM partition_move").format(sql.Identifier(table)))
        log.info("maintenance: moved %d rows of %s from DEFAULT into new partition %s",
                 moved, day, name)
    report.created.append(name)
    report.moved_from_default += moved


def _drop_partition(conn: Conn, report: MaintenanceReport, table: str, day: date) -> None:
    name = partition_name(table, day)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
    report.dropped.append(name)


def _expire(conn: Conn, report: MaintenanceReport, table: str, column: str, cutoff: datetime) -> None:
    cur = conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} < %s").format(sql.Identifier(table), sql.Identifier(column)),
        (cutoff,),
    )
    report.expired_rows += max(cur.rowcount, 0)


def _device_days(conn: Conn, report: MaintenanceReport, now: datetime, retention_days: int) -> None:
    # Both modes: the rollup reads `readings` and `events`, which both modes have.
    from relic_guard.report.rollups import maintain_days

    report.device_days += maintain_days(conn, now, retention_days=retention_days)


def _clear_backlog(conn: Conn) -> None:
    conn.execute("DELETE FROM rollup_backlog")


_ROLLUP: Final = """
INSERT INTO readings_hourly AS h (bucket, site_id, device_id, metric, n, avg, min, max)
SELECT date_trunc('hour', ts, 'UTC'), site_id, device_id, metric, count(*), avg(value), min(value), max(value)
FROM readings
WHERE ts >= %(frm)s AND ts < %(to)s
GROUP BY 1, 2, 3, 4
ON CONFLICT (site_id, device_id, metric, bucket) DO UPDATE
SET n = excluded.n, avg = excluded.avg, min = excluded.min, max = excluded.max
-- Rewrite only what changed (less WAL); avg compared with a tolerance: summation order may differ.
WHERE h.n <> excluded.n OR h.min <> excluded.min OR h.max <> excluded.max
   OR abs(h.avg - excluded.avg) > 1e-9 * greatest(1.0, abs(excluded.avg))
"""


def floor_hour(ts: datetime) -> datetime:
    utc = ts.astimezone(UTC)
    return utc.replace(minute=0, second=0, microsecond=0)


def ceil_hour(ts: datetime) -> datetime:
    floor = floor_hour(ts)
    return floor if floor == ts else floor + _HOUR


def merge_ranges(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Whole-hour [from, to) ranges covering `ranges`, overlapping or touching ones merged."""
    widened = sorted((floor_hour(a), ceil_hour(b)) for a, b in ranges if b > a)
    merged: list[tuple[datetime, datetime]] = []
    for a, b in widened:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _rollup(conn: Conn, report: MaintenanceReport, frm: datetime, now: datetime, cutoff: datetime) -> None:
    backlog = conn.execute("SELECT id, frm, until FROM rollup_backlog ORDER BY id FOR UPDATE").fetchall()
    ranges = [(frm, now + _HOUR)] + [(max(a, cutoff), b) for _, a, b in backlog]
    for a, b in merge_ranges(ranges):
        cur = conn.execute(_ROLLUP, {"frm": a, "to": b})
        report.hourly_rows += max(cur.rowcount, 0)
        report.hourly_ranges.append((a, b))
    if backlog:
        conn.execute("DELETE FROM rollup_backlog WHERE id = ANY(%s)", ([row[0] for row in backlog],))
