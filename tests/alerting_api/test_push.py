"""Web Push subscriptions through the API: the key, registering a phone under the routing file's
id, who may register which id, removal, the database behind it (real PostgreSQL), and a real
delivery through the registered subscription to a local push service that decrypts."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from alerts.channels.base import RetryPolicy
from alerts.routing import ChannelTarget
from relic_guard.alerting.api import ApiContext, History, mount
from relic_guard.alerting.channels import ChannelSet, StoredPushSubscriptions, open_channels
from relic_guard.alerting.dispatch import Dispatcher, Resolved
from relic_guard.alerting.records import DeliveryRecord
from relic_guard.alerting.service import AckLinks, AlertService
from relic_guard.alerting.tokens import Principal, Role, TokenStore
from relic_guard.audit import AuditEntry
from relic_guard.config import AlertsConfig
from relic_guard.registry import Device, Registry, Site
from relic_guard.routing_load import load_routing
from relic_guard.store import push as push_store
from relic_guard.store.schema import migrate
from sensors.model import Event, Source
from tests.alerting_api.conftest import (
    ACK_SECRET,
    DOWN_URL,
    OTHER,
    Clock,
    ListJournal,
    auth,
    client_for,
    error_of,
    make_world,
)
from tests.alerts.support import NIGHT, SITE, context
from tests.alerts_channels.harness import PushSubscriber
from tests.alerts_channels.receiver import Receiver

WANG = "sub-wangjianguo"  # the webpush target of 王建国, custodian of SITE
LI = "sub-lixiulan"  # of 李秀兰, custodian of OTHER
SHARED = "sub-shared"  # 张立军's (custodian of SITE), and the monitoring center's fallback too

ROUTING = """
group_wait_s = 5

[[recipient]]
id = "center"
name = "监控中心"
audience = "monitoring_center"
channels = [{ kind = "email", target = "center@relic.example.cn" }]
fallback = [{ kind = "webpush", target = "sub-shared" }]

[[recipient]]
id = "custodian-wangjianguo"
name = "王建国"
audience = "custodians"
channels = [{ kind = "webpush", target = "sub-wangjianguo" }]
fallback = [{ kind = "email", target = "wang@relic.example.cn" }]

[[recipient]]
id = "custodian-zhanglijun"
name = "张立军"
audience = "custodians"
channels = [{ kind = "webpush", target = "sub-shared" }]

[[recipient]]
id = "custodian-lixiulan"
name = "李秀兰"
audience = "custodians"
channels = [{ kind = "webpush", target = "sub-lixiulan" }]

[[route]]
name = "center"
recipients = ["center"]
"""

PUSH_TOKENS = {
    "admin-token": Principal("root", Role.ADMIN, None),
    "op-token": Principal("ops", Role.OPERATOR, None),
    "custodian-token": Principal("zhang", Role.CUSTODIAN, frozenset({SITE})),
    "other-custodian-token": Principal("li", Role.CUSTODIAN, frozenset({OTHER})),
    "supervisor-token": Principal("sup", Role.SUPERVISOR, None),
    "agency-token": Principal("119", Role.AGENCY, frozenset({SITE})),
}
ADMIN = auth("admin-token")
CUSTODIAN = auth("custodian-token")
OTHER_CUSTODIAN = auth("other-custodian-token")


def push_registry() -> Registry:
    reg = Registry()
    reg.add_site(Site(id=SITE, name="城子崖遗址", district="章丘区", level="national", kind="古遗址",
                      custodians=("王建国", "张立军")))
    reg.add_site(Site(id=OTHER, name="灵岩寺", district="长清区", level="national", kind="古建筑",
                      custodians=("李秀兰",)))
    reg.add_device(Device(site=SITE, id="d1", source=Source.FIRE, kind="smoke", zone="主殿", heartbeat_s=60))
    return reg


@dataclass
class PushWorld:
    service: AlertService
    journal: ListJournal
    clock: Clock
    channels: ChannelSet
    subscriptions: StoredPushSubscriptions
    routing_file: Path
    database_url: str

    def app(self, *, channels: bool = True, allow_http: bool = True) -> FastAPI:
        app = FastAPI()
        mount(app, ApiContext(
            service=self.service, tokens=TokenStore.of(PUSH_TOKENS), history=History(self.database_url),
            channels=self.channels if channels else None, allow_http_push_endpoints=allow_http,
        ))
        return app

    def audit(self) -> list[AuditEntry]:
        return [item for item in self.journal.items if isinstance(item, AuditEntry)]

    def deliveries(self) -> list[DeliveryRecord]:
        return [item for item in self.journal.items if isinstance(item, DeliveryRecord)]

    def stored(self) -> dict[str, str]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return push_store.load_all(conn)


def subscription_json(endpoint: str, phone: PushSubscriber | None = None) -> dict[str, Any]:
    made: dict[str, Any] = json.loads((phone or PushSubscriber()).subscription(endpoint))
    return made


async def build_world(tmp_path: Path, database_url: str, client: httpx.AsyncClient,
                      subscriptions: StoredPushSubscriptions) -> PushWorld:
    routing_file = tmp_path / "routing.toml"
    routing_file.write_text(ROUTING, encoding="utf-8")
    routing = load_routing(routing_file)
    reg = push_registry()
    config = AlertsConfig(vapid_key_file=tmp_path / "vapid.pem", vapid_subject="mailto:ops@relic-guard.test",
                          delivery_timeout_s=2.0)
    channels = open_channels(config, client=client, subscriptions=subscriptions)
    clock, journal = Clock(NIGHT), ListJournal()
    service = AlertService(
        ctx=context(sites=reg.sites.values(), devices=reg.devices.values()), sites=reg.sites, routing=routing,
        journal=journal, dispatcher=Dispatcher(channels, RetryPolicy(max_attempts=1), journal, clock),
        ack_links=AckLinks("https://guard.example/", ACK_SECRET, 3600), clock=clock,
    )
    return PushWorld(service, journal, clock, channels, subscriptions, routing_file, database_url)


@pytest.fixture
async def push_world(tmp_path: Path, db: str) -> AsyncIterator[PushWorld]:
    subscriptions = StoredPushSubscriptions(db)
    async with httpx.AsyncClient() as client:
        made = await build_world(tmp_path, db, client, subscriptions)
        assert await subscriptions.start()
        try:
            yield made
        finally:
            await subscriptions.aclose()
            await made.channels.aclose()


@pytest.fixture
async def api(push_world: PushWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(push_world.app()) as client:
        yield client


@pytest.fixture
def push_service() -> Iterator[Receiver]:
    """The phone's push service (FCM, Mozilla, Apple…), on loopback."""
    with Receiver() as receiver:
        yield receiver


def webpush(subscription_id: str) -> ChannelTarget:
    return ChannelTarget(kind="webpush", target=subscription_id)


# The key ------------------------------------------------------------------------------------------


async def test_key_is_the_vapid_public_key_of_the_channels(push_world: PushWorld, api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/push/key", headers=CUSTODIAN)
    assert answer.status_code == 200
    assert answer.json() == {"public_key": push_world.channels.vapid_public_key}
    assert (await api.get("/api/push/key")).status_code == 401


async def test_without_channels_push_answers_503(push_world: PushWorld) -> None:
    async with await client_for(push_world.app(channels=False)) as client:
        for answer in (
            await client.get("/api/push/key", headers=ADMIN),
            await client.post("/api/push/subscriptions", headers=ADMIN,
                              json={"id": WANG, "subscription": subscription_json("https://push.example/x")}),
        ):
            assert answer.status_code == 503
            assert error_of(answer).startswith("Web Push not configured")


async def test_the_app_made_without_channels_answers_503() -> None:
    # create_app as the other API tests call it: a service, no channels.
    async with await client_for(make_world().app(DOWN_URL)) as client:
        answer = await client.get("/api/push/key", headers=auth("op-token"))
    assert answer.status_code == 503 and error_of(answer).startswith("Web Push not configured")


# Registering ----------------------------------------------------------------------------------------


async def test_registered_subscription_is_stored_and_resolves(push_world: PushWorld, api: httpx.AsyncClient) -> None:
    assert isinstance(push_world.channels.resolve(webpush(WANG)), str)  # nothing registered yet: the fallback's turn
    sent = subscription_json("https://fcm.googleapis.com/fcm/send/abc123")
    answer = await api.post("/api/push/subscriptions", headers=CUSTODIAN, json={"id": WANG, "subscription": sent})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": WANG, "recipient": "custodian-wangjianguo",
                             "endpoint_origin": "https://fcm.googleapis.com", "replaced": False, "database": "ok"}

    resolved = push_world.channels.resolve(webpush(WANG))
    assert isinstance(resolved, Resolved), resolved
    assert resolved.channel is push_world.channels.channel("webpush")
    assert json.loads(resolved.target) == {"endpoint": sent["endpoint"], "keys": sent["keys"]}
    assert {key: json.loads(text) for key, text in push_world.stored().items()} == {WANG: json.loads(resolved.target)}
    with psycopg.connect(push_world.database_url) as conn:
        row = conn.execute("SELECT recipient, registered_by FROM push_subscriptions WHERE id = %s", (WANG,)).fetchone()
    assert row == ("custodian-wangjianguo", "user:zhang")

    [entry] = push_world.audit()
    assert (entry.kind, entry.actor, entry.subject) == ("push.subscribed", "user:zhang", WANG)
    assert entry.detail == {"recipient": "custodian-wangjianguo", "endpoint_origin": "https://fcm.googleapis.com",
                            "replaced": False}
    # The phone's keys and its endpoint path stay out of the audit trail.
    for secret in (sent["keys"]["p256dh"], sent["keys"]["auth"], "abc123"):
        assert secret not in repr(entry)

    again = subscription_json("https://fcm.googleapis.com/fcm/send/new-phone")
    answer = await api.post("/api/push/subscriptions", headers=CUSTODIAN, json={"id": WANG, "subscription": again})
    assert answer.status_code == 200 and answer.json()["replaced"] is True
    assert json.loads(push_world.stored()[WANG])["endpoint"] == again["endpoint"]


async def test_registered_phone_gets_the_fire_alarm(
    push_world: PushWorld, api: httpx.AsyncClient, push_service: Receiver
) -> None:
    phone = PushSubscriber()
    sent = subscription_json(push_service.url("/push/v2/wangjianguo-phone"), phone)
    answer = await api.post("/api/push/subscriptions", headers=CUSTODIAN, json={"id": WANG, "subscription": sent})
    assert answer.status_code == 200, answer.text

    at = push_world.clock()
    push_world.service.on_record(Event(SITE, "d1", Source.FIRE, "fire_alarm", at, f"d1:{at.timestamp()}"))
    assert push_world.service.dispatcher is not None
    assert await push_world.service.dispatcher.drain(10.0) == 0

    [request] = push_service.requests
    assert request.path == "/push/v2/wangjianguo-phone"
    assert request.headers["authorization"].endswith(f"k={push_world.channels.vapid_public_key}")
    payload = json.loads(phone.decrypt(request.body))
    [alert] = push_world.service.open_alerts()
    assert payload["event"] == "alert.opened" and payload["alert"]["id"] == alert.id
    [record] = [d for d in push_world.deliveries() if d.recipient == "custodian-wangjianguo"]
    assert (record.channel, record.target, record.delivered, record.fallback) == ("webpush", WANG, True, False)
    # 张立军 registered no phone: his delivery failed with the reason, for his fallback.
    [missed] = [d for d in push_world.deliveries() if d.recipient == "custodian-zhanglijun"]
    assert not missed.delivered and missed.status.startswith(f"no push subscription registered for {SHARED}")


async def test_plain_http_endpoints_are_refused_by_default(push_world: PushWorld) -> None:
    async with await client_for(push_world.app(allow_http=False)) as client:
        answer = await client.post("/api/push/subscriptions", headers=ADMIN,
                                   json={"id": WANG, "subscription": subscription_json("http://10.0.0.5/push")})
    assert answer.status_code == 422
    assert error_of(answer) == ("subscription: the endpoint http://10.0.0.5 is plain http; browsers' push services "
                                "are https, so this is not a browser's subscription")
    assert push_world.subscriptions.get(WANG) is None and push_world.stored() == {}


# Who may register what ------------------------------------------------------------------------


async def test_custodians_register_only_their_sites_custodians(push_world: PushWorld, api: httpx.AsyncClient) -> None:
    sent = {"subscription": subscription_json("https://push.example/x")}
    # 李秀兰 is a custodian of the other site; 王建国 is not one of the other custodian's sites.
    for headers, subscription_id in ((CUSTODIAN, LI), (OTHER_CUSTODIAN, WANG), (CUSTODIAN, SHARED)):
        answer = await api.post("/api/push/subscriptions", headers=headers, json={"id": subscription_id, **sent})
        assert answer.status_code == 404, (subscription_id, answer.text)
        assert error_of(answer) == (
            f"no recipient in the routing file {push_world.routing_file} has a webpush channel with target "
            f"'{subscription_id}' (or it is not one of a custodian of a site your token covers)"
        )
        removal = await api.delete(f"/api/push/subscriptions/{subscription_id}", headers=headers)
        assert removal.status_code == 404
    # The same words for an id that exists nowhere: a refusal tells nothing about other sites.
    unknown = await api.post("/api/push/subscriptions", headers=CUSTODIAN, json={"id": "sub-nobody", **sent})
    assert error_of(unknown).endswith("'sub-nobody' (or it is not one of a custodian of a site your token covers)")

    for token in ("op-token", "supervisor-token", "agency-token"):
        answer = await api.post("/api/push/subscriptions", headers=auth(token), json={"id": WANG, **sent})
        assert answer.status_code == 403, token
        assert "token may not register push subscriptions" in error_of(answer)
    assert error_of(answer).startswith("an agency token may not register")

    assert push_world.stored() == {} and push_world.audit() == []
    # The id shared with the monitoring center's fallback: only an administrator.
    answer = await api.post("/api/push/subscriptions", headers=ADMIN, json={"id": SHARED, **sent})
    assert answer.status_code == 200 and answer.json()["recipient"] == "center,custodian-zhanglijun"
    answer = await api.post("/api/push/subscriptions", headers=OTHER_CUSTODIAN, json={"id": LI, **sent})
    assert answer.status_code == 200 and answer.json()["recipient"] == "custodian-lixiulan"
    assert sorted(push_world.stored()) == [LI, SHARED]


async def test_unknown_id_is_404_naming_the_routing_file(push_world: PushWorld, api: httpx.AsyncClient) -> None:
    sent = subscription_json("https://push.example/x")
    answer = await api.post("/api/push/subscriptions", headers=ADMIN, json={"id": "sub-wangjiangou", "subscription": sent})
    assert answer.status_code == 404
    assert error_of(answer) == (
        f"no recipient in the routing file {push_world.routing_file} has a webpush channel with target "
        "'sub-wangjiangou'; register under the id the custodian's recipient names there, or add "
        '{ kind = "webpush", target = "sub-wangjiangou" } to its channels'
    )
    answer = await api.post("/api/push/subscriptions", headers=ADMIN, json={"id": "sub wang", "subscription": sent})
    assert answer.status_code == 422 and error_of(answer).startswith("id: 'sub wang' is not a subscription id")
    answer = await api.post("/api/push/subscriptions", headers=ADMIN, json={"subscription": sent})
    assert answer.status_code == 422 and error_of(answer) == "id: missing; give it as a string"


@pytest.mark.parametrize(
    ("subscription", "message"),
    [
        ({"endpoint": "https://push.example/x"}, "subscription lacks keys.p256dh and keys.auth"),
        ({"keys": {"p256dh": "BNc", "auth": "tBH"}}, "subscription has no endpoint"),
        ({"endpoint": "ftp://push.example/x", "keys": {"p256dh": "BNc", "auth": "tBH"}},
         "subscription endpoint is not an http(s) URL"),
        ("{not json", "subscription is not JSON: Expecting property name enclosed in double quotes"),
    ],
)
async def test_bad_subscription_is_422_saying_what_is_wrong(
    push_world: PushWorld, api: httpx.AsyncClient, subscription: object, message: str
) -> None:
    answer = await api.post("/api/push/subscriptions", headers=CUSTODIAN,
                            json={"id": WANG, "subscription": subscription})
    assert answer.status_code == 422
    assert error_of(answer) == (
        f"subscription: {message}; send the browser's PushSubscription.toJSON() as it is "
        '({"endpoint": …, "keys": {"p256dh": …, "auth": …}})'
    )
    assert push_world.subscriptions.get(WANG) is None and push_world.stored() == {} and push_world.audit() == []


async def test_missing_or_odd_subscription_is_422(api: httpx.AsyncClient) -> None:
    answer = await api.post("/api/push/subscriptions", headers=CUSTODIAN, json={"id": WANG})
    assert answer.status_code == 422 and error_of(answer).startswith("subscription: missing; send the browser's")
    answer = await api.post("/api/push/subscriptions", headers=CUSTODIAN, json={"id": WANG, "subscription": [1]})
    assert answer.status_code == 422 and error_of(answer).startswith("subscription: must be a JSON object, not list")
    answer = await api.post("/api/push/subscriptions", headers=CUSTODIAN, content=b"[]")
    assert answer.status_code == 422


# Removing -----------------------------------------------------------------------------------------


async def test_delete_forgets_the_subscription(push_world: PushWorld, api: httpx.AsyncClient) -> None:
    sent = subscription_json("https://updates.push.services.mozilla.com/wpush/v2/gAAA")
    assert (await api.post("/api/push/subscriptions", headers=CUSTODIAN,
                           json={"id": WANG, "subscription": sent})).status_code == 200
    answer = await api.delete(f"/api/push/subscriptions/{WANG}", headers=CUSTODIAN)
    assert answer.status_code == 200
    assert answer.json() == {"id": WANG, "recipient": "custodian-wangjianguo", "removed": True, "database": "ok"}
    assert push_world.stored() == {}
    assert isinstance(push_world.channels.resolve(webpush(WANG)), str)
    removed = push_world.audit()[-1]
    assert (removed.kind, removed.actor, removed.subject) == ("push.removed", "user:zhang", WANG)
    assert removed.detail == {"recipient": "custodian-wangjianguo",
                              "endpoint_origin": "https://updates.push.services.mozilla.com"}

    again = await api.delete(f"/api/push/subscriptions/{WANG}", headers=CUSTODIAN)
    assert again.status_code == 404 and error_of(again) == f"no push subscription is registered for '{WANG}'"
    assert (await api.delete(f"/api/push/subscriptions/{WANG}", headers=auth("supervisor-token"))).status_code == 403


# The database -------------------------------------------------------------------------------------


async def test_stored_subscriptions_are_loaded_at_start(tmp_path: Path, db: str) -> None:
    good = PushSubscriber().subscription("https://fcm.googleapis.com/fcm/send/kept")
    with psycopg.connect(db) as conn:
        push_store.upsert(conn, WANG, good, "custodian-wangjianguo", "user:zhang")
        push_store.upsert(conn, LI, json.dumps({"endpoint": "https://push.example/x"}), "custodian-lixiulan", "x")
        assert push_store.delete(conn, "sub-none") is False
    assert sorted(push_store_rows(db)) == [LI, WANG]

    subscriptions = StoredPushSubscriptions(db)
    async with httpx.AsyncClient() as client:
        world = await build_world(tmp_path, db, client, subscriptions)
        try:
            assert not subscriptions.loaded and isinstance(world.channels.resolve(webpush(WANG)), str)
            assert await subscriptions.start()
            assert subscriptions.loaded and len(subscriptions) == 1  # the row without keys is skipped
            resolved = world.channels.resolve(webpush(WANG))
            assert isinstance(resolved, Resolved)
            assert json.loads(resolved.target)["endpoint"] == "https://fcm.googleapis.com/fcm/send/kept"
            assert isinstance(world.channels.resolve(webpush(LI)), str)
        finally:
            await subscriptions.aclose()
            await world.channels.aclose()


def push_store_rows(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return push_store.load_all(conn)


async def test_registration_while_the_database_is_down_is_kept_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    subscriptions = StoredPushSubscriptions(DOWN_URL, retry_max_s=0.05)
    caplog.set_level(logging.WARNING, logger="relic_guard.alerting.channels")
    async with httpx.AsyncClient() as client:
        world = await build_world(tmp_path, DOWN_URL, client, subscriptions)
        try:
            assert not await subscriptions.start()
            async with await client_for(world.app()) as api:
                answer = await api.post("/api/push/subscriptions", headers=CUSTODIAN,
                                        json={"id": WANG, "subscription": subscription_json("https://push.example/a")})
            assert answer.status_code == 200, answer.text
            note = answer.json()["database"]
            assert note.startswith("pending: ") and note.endswith(
                "; kept in memory (pushes work now) and written when the database answers")
            assert isinstance(world.channels.resolve(webpush(WANG)), Resolved)
            assert subscriptions.pending == 1
            assert [entry.kind for entry in world.audit()] == ["push.subscribed"]
            assert any("registrations are kept in memory" in r.getMessage() for r in caplog.records)
        finally:
            await subscriptions.aclose()
            await world.channels.aclose()
    assert any(r.levelno == logging.ERROR and "could not be written" in r.getMessage() and WANG in r.getMessage()
               for r in caplog.records)


async def test_pending_registration_is_written_when_the_database_can_take_it(tmp_path: Path, pg_url: str) -> None:
    # The database answers but has no table yet (a migration still to come): the same as down.
    subscriptions = StoredPushSubscriptions(pg_url, retry_max_s=0.05)
    async with httpx.AsyncClient() as client:
        world = await build_world(tmp_path, pg_url, client, subscriptions)
        try:
            assert not await subscriptions.start()
            sent = json.dumps(subscription_json("https://push.example/b"))
            assert not await subscriptions.save(WANG, sent, recipient="custodian-wangjianguo", by="user:zhang")
            subscriptions.register(LI, sent)  # taken now, written in the background
            subscriptions.remove(LI)  # the last change of an id is what gets stored
            assert subscriptions.last_error is not None and "push_subscriptions" in subscriptions.last_error
            with psycopg.connect(pg_url, autocommit=True) as conn:
                migrate(conn)
            for _ in range(200):
                if subscriptions.pending == 0:
                    break
                await asyncio.sleep(0.025)
            assert subscriptions.pending == 0 and subscriptions.loaded and subscriptions.last_error is None
            assert sorted(push_store_rows(pg_url)) == [WANG]
            assert isinstance(world.channels.resolve(webpush(WANG)), Resolved)
        finally:
            await subscriptions.aclose()
            await world.channels.aclose()
