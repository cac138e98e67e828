"""Read queries that mean the same in both store modes (native partitions or TimescaleDB).

Only the objects both modes share are used: `readings`, `events`,
`readings_hourly` (a table filled by the maintenance job, or Timescale's
continuous aggregate, with the same columns), `quarantine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, overload

import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]

Bucket = Literal["raw", "hour"]

COUNTABLE_TABLES: Final = frozenset(
    {"readings", "events", "device_status", "quarantine", "readings_hourly", "sites", "devices",
     "rollup_backlog"}
)


@dataclass(frozen=True, slots=True)
class RawReading:
    ts: datetime
    value: float
    ts_from_receive: bool


@dataclass(frozen=True, slots=True)
class HourlyReading:
    bucket: datetime
    n: int
    avg: float
    min: float
    max: float


@overload
def readings(conn: Conn, site: str, device: str, metric: str, frm: datetime, to: datetime,
             bucket: Literal["raw"] = "raw") -> list[RawReading]: ...
@overload
def readings(conn: Conn, site: str, device: str, metric: str, frm: datetime, to: datetime,
             bucket: Literal["hour"]) -> list[HourlyReading]: ...
def readings(conn: Conn, site: str, device: str, metric: str, frm: datetime, to: datetime,
             bucket: Bucket = "raw") -> list[RawReading] | list[HourlyReading]:
    """One series over [frm, to), oldest first: raw rows, or hourly buckets starting in the range.

    Hourly buckets are as fresh as the last aggregation in either mode: the maintenance job
    (native) or Timescale's refresh policy (materialized_only); the current hour may lag.
    """
    if bucket == "raw":
        rows = conn.execute(
            "SELECT ts, value, ts_from_receive FROM readings "
            "WHERE site_id = %s AND device_id = %s AND metric = %s AND ts >= %s AND ts < %s ORDER BY ts",
            (site, device, metric, frm, to),
        ).fetchall()
        return [RawReading(ts=r[0], value=r[1], ts_from_receive=r[2]) for r in rows]
    if bucket == "hour":
        rows = conn.execute(
            "SELECT bucket, n, avg, min, max FROM readings_hourly "
            "WHERE site_id = %s AND device_id = %s AND metric = %s AND bucket >= %s AND bucket < %s "
            "ORDER BY bucket",
            (site, device, metric, frm, to),
        ).fetchall()
        return [HourlyReading(bucket=r[0], n=int(r[1]), avg=r[2], min=r[3], max=r[4]) for r in rows]
    raise ValueError(f"bucket must be 'raw' or 'hour', not {bucket!r}")


def count_rows(conn: Conn, table: str) -> int:
    if table not in COUNTABLE_TABLES:
        raise ValueError(f"count_rows: unknown table {table!r}")
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


def quarantine_counts(conn: Conn) -> dict[str, int]:
    """Quarantined messages by reason."""
    rows = conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY reason").fetchall()
    return {str(reason): int(n) for reason, n in rows}
