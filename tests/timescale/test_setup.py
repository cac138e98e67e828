"""setup_timescale() on the real TimescaleDB SQL engine: what it creates, and that it is idempotent."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from relic_guard.config import StoreConfig
from relic_guard.errors import MigrationError
from relic_guard.store.timescale import (
    setup_timescale,
    timescale_available,
    timescale_installed,
    timescale_version,
)

from .conftest import EVENTS_DDL, READINGS_DDL, connect

pytestmark = pytest.mark.timescale

CFG = StoreConfig(retention_days=30, compress_after_days=2)


def _schema(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    return str(row[0])


def _jobs(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """(proc_name, table, config, schedule_interval) of the policy jobs in this test's schema."""
    return conn.execute(
        """
        SELECT proc_name, hypertable_name, config, schedule_interval
        FROM timescaledb_information.jobs
        WHERE hypertable_schema = current_schema()
        ORDER BY hypertable_name, proc_name
        """
    ).fetchall()


def _snapshot(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Everything setup_timescale() is responsible for, as the information views show it."""
    return {
        "hypertables": conn.execute(
            """
            SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables
            WHERE hypertable_schema = current_schema() ORDER BY 1
            """
        ).fetchall(),
        "dimensions": conn.execute(
            """
            SELECT hypertable_name, column_name, dimension_type, time_interval
            FROM timescaledb_information.dimensions
            WHERE hypertable_schema = current_schema() AND hypertable_name IN ('readings', 'events')
            ORDER BY 1
            """
        ).fetchall(),
        "compression": conn.execute(
            """
            SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index,
                   orderby_asc, orderby_nullsfirst
            FROM timescaledb_information.compression_settings
            WHERE hypertable_schema = current_schema() AND hypertable_name IN ('readings', 'events')
            ORDER BY 1, 2
            """
        ).fetchall(),
        "caggs": conn.execute(
            """
            SELECT view_name, hypertable_name, materialized_only
            FROM timescaledb_information.continuous_aggregates
            WHERE view_schema = current_schema()
            """
        ).fetchall(),
        "jobs": _jobs(conn),
    }


def test_fresh_server_detection_and_extension_install(pglite_fresh_dsn: str) -> None:
    with connect(pglite_fresh_dsn) as conn:
        conn.execute("SET client_min_messages = warning")
        assert timescale_available(conn) is True
        assert timescale_installed(conn) is False
        assert timescale_version(conn) is None
        conn.execute(READINGS_DDL)
        conn.execute(EVENTS_DDL)

        setup_timescale(conn, CFG)  # installs the extension itself

        assert timescale_installed(conn) is True
        version = timescale_version(conn)
        assert version is not None and version >= (2, 13)
        names = conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1").fetchall()
        assert names == [("events",), ("readings",)]


def test_setup_creates_hypertables_compression_policies_and_aggregate(
    plain_tables: psycopg.Connection[Any],
) -> None:
    conn = plain_tables
    # Rows already in the plain tables must survive the conversion (migrate_data).
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    conn.execute(
        "INSERT INTO readings (ts, site_id, device_id, metric, value) VALUES (%s, 's1', 'd1', 'temp', 21.5)",
        (now - timedelta(days=1),),
    )
    conn.execute(
        "INSERT INTO events (ts, site_id, device_id, event_key) VALUES (%s, 's1', 'd1', 'door:open')",
        (now - timedelta(days=1),),
    )

    setup_timescale(conn, CFG)

    snap = _snapshot(conn)
    assert snap["hypertables"] == [("events", True), ("readings", True)]
    assert snap["dimensions"] == [
        ("events", "ts", "Time", timedelta(days=1)),
        ("readings", "ts", "Time", timedelta(days=1)),
    ]
    assert snap["compression"] == [
        ("events", "device_id", 2, None, None, None),
        ("events", "site_id", 1, None, None, None),
        ("events", "ts", None, 1, False, True),
        ("readings", "device_id", 2, None, None, None),
        ("readings", "site_id", 1, None, None, None),
        ("readings", "ts", None, 1, False, True),
    ]
    assert len(snap["caggs"]) == 1
    view, _, materialized_only = snap["caggs"][0]
    assert view == "readings_hourly" and materialized_only is True

    jobs = {(proc, table): (config, every) for proc, table, config, every in snap["jobs"]}
    assert set(jobs) == {
        ("policy_compression", "events"),
        ("policy_retention", "events"),
        ("policy_compression", "readings"),
        ("policy_retention", "readings"),
        ("policy_refresh_continuous_aggregate", "readings_hourly"),
    }
    for table in ("readings", "events"):
        assert jobs["policy_compression", table][0]["compress_after"] == "2 days"
        assert jobs["policy_retention", table][0]["drop_after"] == "30 days"
    refresh_config, refresh_every = jobs["policy_refresh_continuous_aggregate", "readings_hourly"]
    assert refresh_config["start_offset"] == "3 days"
    assert refresh_config["end_offset"] == "01:00:00"
    assert refresh_every == timedelta(minutes=30)

    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
    # The migrated rows sit in chunks now, not in the hypertables' parent tables.
    assert conn.execute("SELECT count(*) FROM ONLY readings").fetchone() == (0,)

    # Second run: nothing changes, no duplicate jobs, no error.
    setup_timescale(conn, CFG)
    assert _snapshot(conn) == snap


def test_setup_runs_inside_the_callers_transaction(plain_tables: psycopg.Connection[Any]) -> None:
    conn = plain_tables
    # As the migration may call it: in a transaction that the caller then commits ...
    with conn.transaction():
        setup_timescale(conn, CFG)
        setup_timescale(conn, CFG)
    snap = _snapshot(conn)
    assert [name for name, _ in snap["hypertables"]] == ["events", "readings"]
    assert len(snap["jobs"]) == 5

    # ... and one the caller rolls back after it has run a third time (with other settings).
    with pytest.raises(RuntimeError, match="roll back"), conn.transaction():
        setup_timescale(conn, StoreConfig(retention_days=90, compress_after_days=3))
        raise RuntimeError("roll back")
    assert _snapshot(conn) == snap


def test_setup_follows_changed_retention_and_compression_settings(
    plain_tables: psycopg.Connection[Any],
) -> None:
    conn = plain_tables
    setup_timescale(conn, CFG)
    setup_timescale(conn, StoreConfig(retention_days=400, compress_after_days=7))

    jobs = _jobs(conn)
    assert len(jobs) == 5, jobs
    by_kind = {(proc, table): config for proc, table, config, _ in jobs}
    for table in ("readings", "events"):
        assert by_kind["policy_compression", table]["compress_after"] == "7 days"
        assert by_kind["policy_retention", table]["drop_after"] == "400 days"


def test_setup_refuses_a_plain_readings_hourly_table(plain_tables: psycopg.Connection[Any]) -> None:
    conn = plain_tables
    conn.execute(
        "CREATE TABLE readings_hourly (bucket timestamptz, site_id text, device_id text, metric text,"
        " n bigint, avg double precision, min double precision, max double precision)"
    )
    with pytest.raises(MigrationError, match="readings_hourly exists but is not a continuous aggregate"):
        setup_timescale(conn, CFG)
    # Atomic: the failed call left the tables plain.
    assert conn.execute(
        "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_schema = %s",
        (_schema(conn),),
    ).fetchone() == (0,)


def test_setup_requires_the_tables(ts_conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(MigrationError, match="'readings' does not exist"):
        setup_timescale(ts_conn, CFG)


def test_plain_postgresql_is_detected_as_without_timescale(pg_url: str) -> None:
    """On the stock PostgreSQL of the other tests (no TimescaleDB package on Debian)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if timescale_available(conn):
            pytest.skip("this PostgreSQL has TimescaleDB installed; the test is about one without")
        assert timescale_installed(conn) is False
        assert timescale_version(conn) is None
        conn.execute(READINGS_DDL)
        conn.execute(EVENTS_DDL)
        with pytest.raises(MigrationError, match="not available"):
            setup_timescale(conn, CFG)


def test_setup_with_the_older_create_hypertable_signature(
    plain_tables: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TimescaleDB before 2.13 has no by_range(): the positional-column form must do the same."""
    from relic_guard.store import timescale

    real_load = timescale._Timescale.load

    def load_without_by_range(cls: type[timescale._Timescale], conn: psycopg.Connection[Any]) -> Any:
        return dataclasses.replace(real_load(conn), has_by_range=False)

    monkeypatch.setattr(timescale._Timescale, "load", classmethod(load_without_by_range))
    conn = plain_tables
    setup_timescale(conn, CFG)
    setup_timescale(conn, CFG)

    snap = _snapshot(conn)
    assert snap["hypertables"] == [("events", True), ("readings", True)]
    assert [(table, interval) for table, _, _, interval in snap["dimensions"]] == [
        ("events", timedelta(days=1)),
        ("readings", timedelta(days=1)),
    ]
    assert len(snap["jobs"]) == 5
