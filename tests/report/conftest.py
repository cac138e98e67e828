"""One generated year (tests/report/world.py) per test process: building it costs about a second,
and the tests that use it only read it (a test that writes rolls its transaction back)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import psycopg
import pytest

from relic_guard.embedded import EmbeddedPostgres
from tests.report import world

_numbers = itertools.count()


@pytest.fixture(scope="session")
def year_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A database holding the generated year 2025, read-only for the tests that use it."""
    name = f"report_year_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/{name}"
    world.build(url)
    yield url
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
