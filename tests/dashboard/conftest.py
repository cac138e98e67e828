"""The dashboard over a real AlertService and a real PostgreSQL, with users of every role."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from relic_guard.alerting.tokens import Role, TokenStore
from relic_guard.dashboard.pages import dashboard_deps
from relic_guard.dashboard.users import hash_password
from relic_guard.store.schema import migrate
from relic_guard.web import ReadinessProbe, create_app
from tests.alerting_api.conftest import OTHER, World, make_world
from tests.alerts.support import SITE

PASSWORD = "correct horse battery"

# login -> (name, role, sites)
USERS = {
    "ops": ("值班员张伟", Role.OPERATOR, ()),
    "wang": ("王建国", Role.CUSTODIAN, (SITE,)),
    "li": ("李秀兰", Role.CUSTODIAN, (OTHER,)),
    "sup": ("督察员", Role.SUPERVISOR, ()),
    "police": ("110指挥中心", Role.AGENCY, (SITE,)),
    "admin": ("管理员", Role.ADMIN, ()),
}


@dataclass
class Dashboard:
    world: World
    app: FastAPI
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


def build(world: World, database_url: str) -> FastAPI:
    probe = ReadinessProbe(database_url=database_url, broker_connected=lambda: True)
    deps = dashboard_deps(world.service, world.registry, database_url, "http://guard.test")
    return create_app(probe, service=world.service, tokens=TokenStore(()), database_url=database_url,
                      registry=world.registry, dashboard=deps)


@pytest.fixture
def dashboard(users_db: str) -> Dashboard:
    world = make_world()
    return Dashboard(world=world, app=build(world, users_db), database_url=users_db)


@pytest.fixture
async def browser(dashboard: Dashboard) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, like a browser; not logged in."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard.app), base_url="http://guard.test",
                                 headers={"accept": "text/html"}) as client:
        yield client


async def log_in(client: httpx.AsyncClient, login: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/login", data={"login": login, "password": password, "next": "/"})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
