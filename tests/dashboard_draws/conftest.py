"""The draws page over a real AlertService and a real PostgreSQL, with tests/dashboard's users
(ops of the monitoring center, wang custodian of 城子崖遗址, sup, …)."""

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
from relic_guard.store.schema import migrate
from relic_guard.web import ReadinessProbe, create_app
from tests.alerting_api.conftest import World, make_world
from tests.dashboard.conftest import PASSWORD, USERS, log_in


@dataclass
class Center:
    world: World
    app: FastAPI
    deps: DashboardDeps
    database_url: str


@pytest.fixture(scope="session")
def password_hash() -> str:
    # argon2 costs ~0.1 s a hash by design: hash once, insert the users with it.
    return hash_password(PASSWORD)


@pytest.fixture
def users_db(pg_url: str, password_hash: str) -> Iterator[str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        for login, (name, role, sites) in USERS.items():
            conn.execute("INSERT INTO users (login, name, role, sites, password_hash) VALUES (%s, %s, %s, %s, %s)",
                         (login, name, role.value, list(sites), password_hash))
    yield pg_url


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
