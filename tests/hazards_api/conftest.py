"""The hazard API over a real AlertService (two sites, 城子崖遗址 and 灵岩寺) and a real PostgreSQL."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest

from relic_guard.embedded import EmbeddedPostgres
from relic_guard.hazards.model import Hazard, HazardSource, Severity
from relic_guard.store import hazard_store
from relic_guard.store.schema import migrate
from tests.alerting_api.conftest import DOWN_URL, World, client_for, make_world

Conn = psycopg.Connection[Any]


@pytest.fixture
def world() -> World:
    return make_world()


# What a test may have written; emptied before each test of a module that shares one database.
TABLES = ("inspection_overdue_state, inspection_events, inspections, draws, hazard_deadline_state, hazard_events, "
          "hazards, hazard_reports, hazard_photos")


@contextmanager
def module_database(server: EmbeddedPostgres, prefix: str) -> Iterator[str]:
    """One migrated database for a test module: making and migrating one per test would cost
    most of the tests' time."""
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{server.user}@127.0.0.1:{server.port}/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    try:
        yield url
    finally:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def emptied(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY")
    return url


@pytest.fixture(scope="module")
def database(pg_server: EmbeddedPostgres) -> Iterator[str]:
    with module_database(pg_server, "hazards_api") as url:
        yield url


@pytest.fixture
def db(database: str) -> str:
    return emptied(database)


@pytest.fixture
async def api(world: World, db: str) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(world.app(db)) as client:
        yield client


@pytest.fixture
async def down_api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(world.app(DOWN_URL)) as client:
        yield client


def add_hazard(url: str, world: World, *, site: str, title: str = "消防通道堆放木料", found_at: datetime | None = None,
               severity: Severity = Severity.GENERAL, source: HazardSource = HazardSource.PATROL) -> Hazard:
    """A hazard recorded as a patrol would have it (straight into the store)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return hazard_store.create(conn, site_id=site, source=source, source_ref="round-1", title=title,
                                   description="大殿东侧通道", severity=severity, owner="王建国",
                                   found_at=found_at or world.clock(), by="user:ops", now=world.clock())


def png(width: int = 48, height: int = 32, rgb: tuple[int, int, int] = (52, 199, 89)) -> bytes:
    """A real PNG of one colour (a browser draws it; the store sniffs its signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))  # filter byte, then the pixels
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
