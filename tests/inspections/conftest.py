"""A migrated database per test module, emptied before each test (making one per test would cost
most of the time)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from relic_guard.embedded import EmbeddedPostgres
from relic_guard.store.schema import migrate

# Emptied before each test, in an order the foreign keys allow (DELETE: quicker than TRUNCATE for a
# few rows). The audit trail refuses deletion and keeps growing; nothing here depends on its length.
CLEARED = ("inspection_overdue_state", "inspection_events", "inspections", "draws", "hazard_deadline_state",
           "hazard_events", "hazards", "hazard_reports", "hazard_photos")


@pytest.fixture(scope="module")
def database(pg_server: EmbeddedPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"{request.module.__name__.rsplit('.', 1)[-1]}_{os.getpid()}"
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    yield url
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database, autocommit=True) as conn:
        for table in CLEARED:
            conn.execute(f"DELETE FROM {table}")
        yield conn
