"""A real AlertService over a two-site registry, the web app around it, and the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from alerts.channels.base import RetryPolicy
from alerts.model import Alert
from alerts.routing import ChannelTarget
from relic_guard.alerting.dispatch import Dispatcher, Resolved
from relic_guard.alerting.records import JournalItem
from relic_guard.alerting.service import AckLinks, AlertService
from relic_guard.alerting.tokens import Principal, Role, TokenStore
from relic_guard.registry import Device, Registry, Site
from relic_guard.store import alerts as alert_store
from relic_guard.store.schema import migrate
from relic_guard.web import ReadinessProbe, create_app
from sensors.model import Event, Source
from tests.alerts.support import DAY, SITE, context, site

OTHER = "lingyan-si"
# Nothing listens on port 1: connecting is refused at once.
DOWN_URL = "postgresql://relic@127.0.0.1:1/relic"
ACK_SECRET = b"ack-secret-for-tests-0123456789ab"
AUDIT_KEY = bytes(range(32))

TOKENS = {
    "op-token": Principal("ops", Role.OPERATOR, None),
    "custodian-token": Principal("zhang", Role.CUSTODIAN, frozenset({SITE})),
    "other-custodian-token": Principal("li", Role.CUSTODIAN, frozenset({OTHER})),
    "supervisor-token": Principal("sup", Role.SUPERVISOR, None),
    "agency-token": Principal("119", Role.AGENCY, frozenset({SITE})),
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


OPS = auth("op-token")
CUSTODIAN = auth("custodian-token")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ListJournal:
    items: list[JournalItem] = field(default_factory=list)

    def put(self, item: JournalItem) -> None:
        self.items.append(item)


class _NoChannels:
    def resolve(self, target: ChannelTarget) -> Resolved | str:
        return "no channels in tests"


def registry(other_name: str = "灵岩寺") -> Registry:
    reg = Registry()
    reg.add_site(site())
    reg.add_site(Site(id=OTHER, name=other_name, district="长清区", level="national", kind="古建筑"))
    reg.add_device(Device(site=SITE, id="d1", source=Source.FIRE, kind="smoke", zone="主殿", heartbeat_s=60))
    reg.add_device(Device(site=SITE, id="cam1", source=Source.VIDEO, kind="ipc", zone="山门"))
    reg.add_device(Device(site=OTHER, id="f1", source=Source.FIRE, kind="panel", zone="大殿", heartbeat_s=60))
    return reg


@dataclass
class World:
    service: AlertService
    journal: ListJournal
    clock: Clock
    registry: Registry
    dispatcher: Dispatcher

    def fire(self, site_id: str = SITE, device: str = "d1") -> Alert:
        at = self.clock()
        self.service.on_record(Event(site_id, device, Source.FIRE, "fire_alarm", at, f"{device}:{at.timestamp()}"))
        found = [a for a in self.service.open_alerts() if a.site == site_id and a.device == device]
        assert found, "the fire alarm opened no alert"
        return found[-1]

    def later(self, seconds: float) -> None:
        self.clock.now += timedelta(seconds=seconds)

    def app(self, database_url: str | None) -> FastAPI:
        probe = ReadinessProbe(database_url=database_url, broker_connected=lambda: True)
        return create_app(probe, service=self.service, tokens=TokenStore.of(TOKENS), database_url=database_url,
                          registry=self.registry)

    def write_journal(self, url: str) -> None:
        """What the journal thread does: the items made so far, into the database."""
        with psycopg.connect(url, autocommit=True) as conn:
            alert_store.write(conn, self.journal.items, AUDIT_KEY)
        self.journal.items.clear()


def make_world(other_name: str = "灵岩寺") -> World:
    reg = registry(other_name)
    clock = Clock(DAY)
    journal = ListJournal()
    ctx = context(sites=reg.sites.values(), devices=reg.devices.values())
    service = AlertService(ctx=ctx, sites=reg.sites, routing=None, journal=journal, dispatcher=None,
                           ack_links=AckLinks("https://guard.example/", ACK_SECRET, 3600), clock=clock)
    # A dispatcher only to hold undelivered notices: routing is None, so the service sends nothing.
    dispatcher = Dispatcher(_NoChannels(), RetryPolicy(max_attempts=1), journal, clock)
    service.dispatcher = dispatcher
    return World(service=service, journal=journal, clock=clock, registry=reg, dispatcher=dispatcher)


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def db(pg_url: str) -> Iterator[str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
    yield pg_url


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://guard.test")


@pytest.fixture
async def down_client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the database unreachable."""
    async with await client_for(world.app(DOWN_URL)) as client:
        yield client


@pytest.fixture
async def db_client(world: World, db: str) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(world.app(db)) as client:
        yield client


def error_of(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    return str(body["error"])

