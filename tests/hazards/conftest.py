"""Hazard fixtures: a migrated database on the session's real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from relic_guard.store.schema import migrate


@pytest.fixture
def db(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to a fresh, migrated database."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        yield conn
