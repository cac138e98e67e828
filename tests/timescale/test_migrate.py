"""The store's real migrate() on PGlite+TimescaleDB: it must take the TimescaleDB branch,
end to end, and the shared read queries must work on what it built.

Not covered here: the writer (`relic_guard.store.writer`) sends readings by COPY,
which crashes PGlite; rows are written with INSERT instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from relic_guard.config import StoreConfig
from relic_guard.store import queries
from relic_guard.store.schema import applied_migrations, migrate, store_mode

from .conftest import connect

pytestmark = pytest.mark.timescale

CFG = StoreConfig(retention_days=90, compress_after_days=3)


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_migrate_takes_the_timescale_branch(pglite_fresh_dsn: str) -> None:
    with connect(pglite_fresh_dsn) as conn:
        conn.execute("SET client_min_messages = warning")
        assert _one(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") == 0

        applied = migrate(conn, CFG)

        assert any(name.endswith(".timescale.sql") for name in applied), applied
        assert not any(name.endswith(".native.sql") for name in applied), applied
        assert store_mode(conn) == "timescale"
        assert [name for _, name in applied_migrations(conn)] == applied
        assert _one(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") == 1
        hypertables = conn.execute(
            "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
        assert hypertables == [("events", True), ("readings", True)]
        assert conn.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
        ).fetchall() == [("readings_hourly", True)]
        jobs = conn.execute(
            """
            SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs
            WHERE hypertable_name IS NOT NULL ORDER BY 2, 1
            """
        ).fetchall()
        assert [(proc, table) for proc, table, _ in jobs] == [
            ("policy_compression", "events"),
            ("policy_retention", "events"),
            ("policy_compression", "readings"),
            ("policy_retention", "readings"),
            ("policy_refresh_continuous_aggregate", "readings_hourly"),
        ]
        assert {str(config.get("drop_after")) for proc, _, config in jobs if proc == "policy_retention"} == {"90 days"}
        assert {str(config.get("compress_after")) for proc, _, config in jobs if proc == "policy_compression"} == {
            "3 days"
        }

        # Up to date: a second run applies nothing and changes nothing.
        assert migrate(conn, CFG) == []
        assert store_mode(conn) == "timescale"

        # Data in (INSERT: the writer's COPY crashes PGlite), rollup, and the shared read queries.
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(days=1, hours=3)
        rows = [(start + timedelta(minutes=10 * i), float(i % 7)) for i in range(18)]  # 3 hours
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (ts, site_id, device_id, metric, value) VALUES (%s, 's1', 'd1', 'temp', %s)",
                rows,
            )
            cur.execute(
                "INSERT INTO events (ts, site_id, device_id, source, type, event_key)"
                " VALUES (%s, 's1', 'd1', 'fire', 'smoke', 'smoke:1')",
                (start,),
            )
        conn.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")

        raw = queries.readings(conn, "s1", "d1", "temp", start, now)
        assert [(r.ts, r.value) for r in raw] == rows
        hourly = queries.readings(conn, "s1", "d1", "temp", start, now, bucket="hour")
        assert [h.bucket for h in hourly] == [start + timedelta(hours=h) for h in range(3)]
        for h, chunk in zip(hourly, (rows[0:6], rows[6:12], rows[12:18]), strict=True):
            values = [v for _, v in chunk]
            assert (h.n, h.min, h.max) == (6, min(values), max(values))
            assert h.avg == pytest.approx(sum(values) / 6)
        assert queries.count_rows(conn, "events") == 1
