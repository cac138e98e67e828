"""The hazard pages over a real AlertService and a real PostgreSQL, with users of every role
(tests/dashboard's: ops, wang and li custodians of 城子崖遗址 and 灵岩寺, sup, police, admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from relic_guard.alerting.tokens import TokenStore
from relic_guard.dashboard.app import DashboardDeps
from relic_guard.dashboard.pages import dashboard_deps
from relic_guard.dashboard.users import hash_password
from relic_guard.embedded import EmbeddedPostgres
from relic_guard.web import ReadinessProbe, create_app
from tests.alerting_api.conftest import World, make_world
from tests.dashboard.conftest import PASSWORD, USERS, csrf_of, log_in
from tests.hazards_api.conftest import emptied, module_database


@dataclass
class Center:
    world: World
    app: FastAPI
    deps: DashboardDeps
    database_url: str


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture(scope="module")
def database(pg_server: EmbeddedPostgres, password_hash: str) -> Iterator[str]:
    """One migrated database with the users for the module; each test starts with no hazards,
    inspections or draws (`emptied`)."""
    with module_database(pg_server, "dashboard_hazards") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for login, (name, role, sites) in USERS.items():
                conn.execute("INSERT INTO users (login, name, role, sites, password_hash) VALUES (%s, %s, %s, %s, %s)",
                             (login, name, role.value, list(sites), password_hash))
        yield url


@pytest.fixture
def users_db(database: str) -> str:
    return emptied(database)


@pytest.fixture
def center(users_db: str) -> Center:
    world = make_world()
    deps = dashboard_deps(world.service, world.registry, users_db, "http://guard.test")
    probe = ReadinessProbe(database_url=users_db, broker_connected=lambda: True)
    app = create_app(probe, service=world.service, tokens=TokenStore(()), database_url=users_db,
                     registry=world.registry, dashboard=deps)
    return Center(world, app, deps, users_db)


@asynccontextmanager
async def logged_in(app: FastAPI, login: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://guard.test",
                                 headers={"accept": "text/html"}) as client:
        answer = await log_in(client, login)
        assert answer.status_code == 303, answer.text
        yield client


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    return csrf_of((await client.get(path)).text)
