"""Migrations against a real PostgreSQL: order, idempotence, two daemons at once, failures."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from relic_guard.errors import MigrationError
from relic_guard.store import schema
from relic_guard.store.schema import applied_migrations, load_migrations, migrate, store_mode

# Every shipped migration, as applied to a database without TimescaleDB.
SHIPPED_NATIVE = [m.files["native"] for m in load_migrations()]

def test_shipped_migrations_are_ordered_and_complete() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].files["native"] == "001_core.sql"
    timeseries = migrations[schema.TIMESERIES_VERSION - 1]
    assert timeseries.files == {"native": "002_timeseries.native.sql", "timescale": "002_timeseries.timescale.sql"}


def test_migrate_applies_once_then_nothing(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        first = migrate(conn)
        assert first == SHIPPED_NATIVE
        assert migrate(conn) == []
        assert [name for _, name in applied_migrations(conn)] == first
        assert store_mode(conn) == "native"
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}
        assert {"sites", "devices", "device_status", "quarantine", "readings_hourly", "readings_default",
                "events_default", "schema_migrations"} <= tables
        partitioned = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid").fetchall()}
        assert partitioned == {"readings", "events"}


def test_migrate_works_on_a_non_autocommit_connection(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        assert migrate(conn) == SHIPPED_NATIVE
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn) == []


def test_two_daemons_migrating_at_once_apply_each_file_once(pg_url: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4, timeout=30)

    def start_daemon() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                barrier.wait()
                results.append(migrate(conn))
        except BaseException as exc:
            errors.append(exc)

    # daemon threads, joined with a limit: a migration that deadlocks fails the test and does not
    # keep pytest from exiting
    threads = [threading.Thread(target=start_daemon, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a migration did not finish within 60 s"
    assert errors == []
    applied = sorted(name for names in results for name in names)
    assert applied == SHIPPED_NATIVE


def test_a_failing_migration_names_its_file_and_line_and_leaves_nothing_behind(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = load_migrations()
    broken_version = shipped[-1].version + 1
    broken = schema.Migration(version=broken_version, name="broken",
                              files={"native": "003_broken.sql", "timescale": "003_broken.sql"})
    real_read = schema._read

    def read(name: str) -> str:
        if name == "003_broken.sql":
            return "CREATE TABLE fine_so_far (id int);\n\nCREATE TABLE oops (id nosuchtype);\n"
        return real_read(name)

    monkeypatch.setattr(schema, "load_migrations", lambda: [*shipped, broken])
    monkeypatch.setattr(schema, "_read", read)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with pytest.raises(MigrationError) as failure:
            migrate(conn)
        message = str(failure.value)
        assert "003_broken.sql line 3" in message
        assert 'type "nosuchtype" does not exist' in message
        # The earlier migrations are committed, the failed one entirely rolled back.
        assert [v for v, _ in applied_migrations(conn)] == [m.version for m in shipped]
        assert conn.execute("SELECT to_regclass('fine_so_far')").fetchone() == (None,)


def _columns(conn: psycopg.Connection[Any], schema_name: str, table: str) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (schema_name, table)).fetchall()]


def test_timescale_variant_has_the_same_tables_and_keys_as_native(db: psycopg.Connection[Any]) -> None:
    # The TimescaleDB file is plain DDL until setup_timescale runs: try it in a schema of its own.
    db.execute("CREATE SCHEMA ts_variant")
    with db.transaction():
        db.execute("SET LOCAL search_path = ts_variant")
        db.execute(schema._read("002_timeseries.timescale.sql").encode())
    for table in ("readings", "events"):
        assert _columns(db, "ts_variant", table) == _columns(db, "public", table)
        keys = [
            sorted(r[0] for r in db.execute(
                "SELECT conname || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE t.relname = %s AND n.nspname = %s", (table, nsp)).fetchall())
            for nsp in ("ts_variant", "public")
        ]
        assert keys[0] == keys[1]
