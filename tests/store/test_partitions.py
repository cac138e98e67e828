"""Partition planning (pure, table-tested) and the maintenance job against a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from relic_guard.batch import Batch
from relic_guard.config import StoreConfig
from relic_guard.store.partitions import existing_partitions, maintain, merge_ranges, plan_partitions
from relic_guard.store.queries import count_rows, readings
from relic_guard.store.writer import write_batch

from .conftest import make_batch, telemetry

Conn = psycopg.Connection[Any]
NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
D = date(2026, 11, 27)


def days(*offsets: int) -> list[date]:
    return [D + timedelta(days=o) for o in offsets]


@pytest.mark.parametrize(
    ("existing", "now", "ahead", "retention", "create", "drop"),
    [
        # fresh: yesterday .. today+ahead
        (set(), NOW, 2, 400, days(-1, 0, 1, 2), []),
        # all there: nothing to do
        (set(days(-1, 0, 1, 2)), NOW, 2, 400, [], []),
        # partly there, older ones kept while inside retention
        (set(days(-30, -1, 0)), NOW, 1, 400, days(1), []),
        # retention 10 days: cutoff 2026-11-17 10:30 -> partitions up to 11-16 go, 11-17 stays (partly inside)
        (set(days(-12, -11, -10, -9, 0)), NOW, 0, 10, days(-1), days(-12, -11)),
        # the boundary: now exactly midnight, retention 1 day: cutoff = yesterday 00:00 -> day -2 goes
        (set(days(-2, -1)), datetime(2026, 11, 27, tzinfo=UTC), 0, 1, days(0), days(-2)),
        # retention shorter than "yesterday": never create what would be dropped at once
        (set(), NOW, 0, 0, days(0), []),
        # `now` in another zone is the same instant (dates are UTC dates)
        (set(), datetime(2026, 11, 28, 1, 0, tzinfo=__import__("zoneinfo").ZoneInfo("Asia/Shanghai")),
         0, 400, days(-1, 0), []),
    ],
)
def test_plan_partitions(existing: set[date], now: datetime, ahead: int, retention: int,
                         create: list[date], drop: list[date]) -> None:
    assert plan_partitions(existing, now, ahead, retention) == (create, drop)


def test_merge_ranges_widens_to_whole_hours_and_merges() -> None:
    h = datetime(2026, 1, 1, 10, tzinfo=UTC)
    m = timedelta(minutes=1)
    assert merge_ranges([(h + 5 * m, h + 65 * m), (h + 120 * m, h + 121 * m), (h + 300 * m, h + 360 * m)]) == [
        (h, h + timedelta(hours=3)), (h + timedelta(hours=5), h + timedelta(hours=6))]
    assert merge_ranges([]) == []


def _partition_of(conn: Conn, table: str, ts: datetime) -> str:
    row = conn.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE ts = %s LIMIT 1", (ts,)).fetchone()
    assert row is not None
    return str(row[0])


def test_maintain_creates_partitions_and_default_catches_the_rest(db: Conn) -> None:
    cfg = StoreConfig(partition_ahead_days=2, retention_days=30)
    report = maintain(db, cfg, NOW)
    assert report.mode == "native"
    assert sorted(report.created) == sorted(
        [f"{t}_p{d:%Y%m%d}" for t in ("readings", "events") for d in days(-1, 0, 1, 2)])
    assert existing_partitions(db, "readings") == set(days(-1, 0, 1, 2))
    assert maintain(db, cfg, NOW).created == []

    inside = datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)
    straggler = NOW - timedelta(days=5)
    write_batch(db, Batch(telemetry=[telemetry(0, base=inside), telemetry(0, base=straggler),
                                     telemetry(0, base=NOW + timedelta(days=10))], messages=3))
    assert _partition_of(db, "readings", inside) == "readings_p20261127"
    assert _partition_of(db, "readings", straggler) == "readings_default"
    assert _partition_of(db, "readings", NOW + timedelta(days=10)) == "readings_default"


def test_rows_waiting_in_default_move_into_their_new_partition(db: Conn) -> None:
    # Written before the job ever ran: everything is in DEFAULT.
    write_batch(db, make_batch(10, base=NOW, n_events=3))
    assert _partition_of(db, "readings", NOW) == "readings_default"
    report = maintain(db, StoreConfig(partition_ahead_days=1), NOW)
    assert report.moved_from_default == 20 + 3
    assert _partition_of(db, "readings", NOW) == "readings_p20261127"
    assert _partition_of(db, "events", NOW) == "events_p20261127"
    assert count_rows(db, "readings") == 20
    assert db.execute("SELECT count(*) FROM readings_default").fetchone() == (0,)


def test_retention_drops_old_partitions_and_old_stragglers(db: Conn) -> None:
    cfg = StoreConfig(partition_ahead_days=0, retention_days=3)
    old_now = NOW - timedelta(days=6)
    maintain(db, cfg, old_now)  # partitions for 11-20 and 11-21
    write_batch(db, make_batch(2, base=old_now))                          # into readings_p20261121
    write_batch(db, make_batch(2, base=old_now - timedelta(days=3)))      # 11-18: DEFAULT
    write_batch(db, make_batch(2, base=NOW - timedelta(hours=1)))         # today: DEFAULT until created
    write_batch(db, make_batch(n_quarantine=2, base=old_now))
    report = maintain(db, cfg, NOW)
    assert {"readings_p20261120", "readings_p20261121", "events_p20261120", "events_p20261121"} <= set(
        report.dropped)
    assert existing_partitions(db, "readings") == set(days(-1, 0))
    assert count_rows(db, "readings") == 4          # only today's two messages x 2 metrics
    assert count_rows(db, "quarantine") == 0
    assert report.expired_rows >= 4 + 2


def test_hourly_rollup_matches_an_aggregate_over_raw_rows(db: Conn) -> None:
    cfg = StoreConfig(maintenance_interval_s=3600)
    maintain(db, cfg, NOW)
    start = NOW - timedelta(hours=2, minutes=17)
    batch = Batch(telemetry=[telemetry(i * 7, base=start, device=f"d{i % 3}",
                                       values={"temperature_c": (i * 37) % 23 / 3.0})
                             for i in range(1500)], messages=1500)
    write_batch(db, batch)
    report = maintain(db, cfg, NOW)
    assert report.hourly_rows > 0
    expected = db.execute(
        "SELECT date_trunc('hour', ts, 'UTC'), site_id, device_id, metric, count(*), avg(value), min(value), "
        "max(value) FROM readings GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4").fetchall()
    got = db.execute("SELECT bucket, site_id, device_id, metric, n, avg, min, max FROM readings_hourly "
                     "ORDER BY 1, 2, 3, 4").fetchall()
    assert [r[:5] for r in got] == [r[:5] for r in expected]
    assert [r[5:] for r in got] == [pytest.approx(r[5:], rel=1e-12) for r in expected]
    hourly = readings(db, "s1", "d0", "temperature_c", NOW - timedelta(hours=3), NOW + timedelta(hours=3),
                      bucket="hour")
    assert sum(h.n for h in hourly) == 500
    # Re-running changes nothing.
    assert maintain(db, cfg, NOW).hourly_rows == 0


def test_late_readings_from_a_spool_replay_reach_the_rollup(db: Conn) -> None:
    now = datetime.now(UTC)
    cfg = StoreConfig(maintenance_interval_s=3600)
    maintain(db, cfg, now)
    long_ago = now - timedelta(days=2)
    write_batch(db, make_batch(30, base=long_ago))  # notes its hours in rollup_backlog
    report = maintain(db, cfg, now)
    assert count_rows(db, "rollup_backlog") == 0
    got = db.execute("SELECT sum(n) FROM readings_hourly WHERE bucket < %s", (now - timedelta(days=1),)).fetchone()
    assert got == (60,)
    assert any(a <= long_ago < b for a, b in report.hourly_ranges)


def test_maintain_needs_a_migrated_database(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn, pytest.raises(Exception, match="migrate"):
        maintain(conn, StoreConfig(), NOW)
