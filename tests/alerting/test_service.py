"""The alert service end to end inside one process: engine → routing → grouping → escalation →
dispatcher → the real webhook channel → real HTTP receivers on loopback. The clock is injected;
only delivery itself runs in real time (a few milliseconds on loopback)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import pytest

from alerts.channels.base import RetryPolicy
from alerts.channels.webhook import WebhookChannel, verify_signature
from alerts.escalation import EscalationPolicy, EscalationStep, PolicyTable
from alerts.maintenance import MaintenanceWindow, WindowKind
from alerts.model import AlertKey, Audience, Category, Classification, Severity
from alerts.routing import ChannelTarget, Directory, Recipient, RouteMatch, RoutingRule
from alerts.rules.common import RuleContext
from relic_guard.alerting.dispatch import Dispatcher, Resolved
from relic_guard.alerting.records import AlertSnapshot, DeliveryRecord, JournalItem, TimelineEntry
from relic_guard.alerting.service import AckLinks, AlertService
from relic_guard.registry import Device, Site
from relic_guard.routing_load import RoutingConfig
from sensors.model import Source
from tests.alerts.support import DAY, NIGHT, event
from tests.alerts_channels.receiver import Receiver, Reply

SITE = "chengziya"
SECRET = b"s3cret-for-the-test"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ListJournal:
    items: list[JournalItem] = field(default_factory=list)

    def put(self, item: JournalItem) -> None:
        self.items.append(item)

    def timeline(self, alert_id: str) -> list[str]:
        return [i.kind for i in self.items if isinstance(i, TimelineEntry) and i.alert_id == alert_id]

    def deliveries(self) -> list[DeliveryRecord]:
        return [i for i in self.items if isinstance(i, DeliveryRecord)]


class WebhookResolver:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.channel = WebhookChannel(client, timeout_s=2.0)

    def resolve(self, target: ChannelTarget) -> Resolved | str:
        if target.kind != "webhook":
            return f"{target.kind} not available in this test"
        return Resolved(self.channel, target.target, SECRET)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hook(receiver: Receiver, path: str) -> ChannelTarget:
    return ChannelTarget(kind="webhook", target=receiver.url(path))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def fallback_receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def make_routing(
    receiver: Receiver,
    *,
    policies: tuple[EscalationPolicy, ...] = (),
    windows: tuple[MaintenanceWindow, ...] = (),
    center_channels: tuple[ChannelTarget, ...] | None = None,
    center_fallback: tuple[ChannelTarget, ...] = (),
) -> RoutingConfig:
    recipients = (
        Recipient(id="center", name="监控中心", audience=Audience.MONITORING_CENTER,
                  channels=center_channels if center_channels is not None else (hook(receiver, "/center"),),
                  fallback=center_fallback),
        Recipient(id="c-wang", name="王建国", audience=Audience.CUSTODIANS, channels=(hook(receiver, "/wang"),)),
        Recipient(id="119", name="119指挥中心", audience=Audience.FIRE_BRIGADE, channels=(hook(receiver, "/119"),)),
        Recipient(id="110", name="110指挥中心", audience=Audience.POLICE, channels=(hook(receiver, "/110"),)),
        Recipient(id="wwj", name="文物局", audience=Audience.CULTURE_BUREAU, channels=(hook(receiver, "/wwj"),)),
    )
    rule = RoutingRule(name="all", match=RouteMatch(), recipients=("center", "119", "110", "wwj"))
    return RoutingConfig(
        recipients=recipients,
        directory=Directory.of(recipients),
        rules=(rule,),
        policies=PolicyTable(policies),
        windows=windows,
        group_wait_s=5.0,
    )


def make_service(routing: RoutingConfig, clock: Clock, journal: ListJournal, client: httpx.AsyncClient,
                 retry: RetryPolicy | None = None) -> AlertService:
    site = Site(id=SITE, name="城子崖遗址", district="章丘区", level="national", kind="古遗址",
                custodians=("王建国",), open_hours=None)
    devices = [Device(site=SITE, id=f"smoke-{i}", source=Source.FIRE, zone="主殿") for i in (1, 2)]
    ctx = RuleContext(sites={SITE: site}, devices={(d.site, d.id): d for d in devices})
    dispatcher = Dispatcher(WebhookResolver(client), retry or RetryPolicy(max_attempts=2, base_delay_s=0.01,
                                                                         max_delay_s=0.02), journal, clock)
    return AlertService(ctx=ctx, sites={SITE: site}, routing=routing, journal=journal, dispatcher=dispatcher,
                        ack_links=AckLinks("https://relic.example.cn", SECRET, 3600), clock=clock)


async def settle(service: AlertService) -> None:
    assert service.dispatcher is not None
    assert await service.dispatcher.drain(10.0) == 0


def by_path(receiver: Receiver) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for request in receiver.requests:
        assert verify_signature(SECRET, request.body, request.headers["x-relic-guard-signature"])
        found.setdefault(request.path, []).append(json.loads(request.body))
    return found


async def test_fire_alarm_then_confirmation_reaches_center_custodian_then_agencies(receiver: Receiver) -> None:
    clock, journal = Clock(NIGHT), ListJournal()
    async with httpx.AsyncClient() as client:
        service = make_service(make_routing(receiver), clock, journal, client)
        service.on_record(event("fire_alarm", "smoke-1", zone="主殿", at=NIGHT))
        await settle(service)
        first = by_path(receiver)
        assert sorted(first) == ["/center", "/wang"]  # unconfirmed: monitoring center + custodians
        body = first["/center"][0]
        alert = body["alert"]
        assert isinstance(alert, dict)
        assert body["event"] == "alert.opened" and alert["severity"] == "critical" and not alert["confirmed"]
        assert str(alert["ack_url"]).startswith("https://relic.example.cn/ack/")
        assert alert["site"] == {"id": SITE, "name": "城子崖遗址", "district": "章丘区", "level": "national",
                                 "lat": None, "lon": None}

        clock.advance(20)
        service.on_record(event("fire_alarm", "smoke-2", zone="主殿", at=clock.now))
        await settle(service)
        second = by_path(receiver)
        for agency in ("/119", "/110", "/wwj"):
            assert [b["event"] for b in second[agency]] == ["alert.escalated"], agency
        alert_id = str(alert["id"])
        timeline = journal.timeline(alert_id)
        assert timeline[0] == "opened" and timeline.index("confirmed") < timeline.index("escalated")
        snapshot = [i for i in journal.items if isinstance(i, AlertSnapshot)][-1].alert
        assert snapshot.confirmed and Audience.FIRE_BRIGADE in snapshot.audiences

        service.acknowledge(alert_id, "operator:zhang")
        service.resolve(alert_id, "operator:zhang", classification=Classification.FALSE_ALARM, note="烧香")
        await settle(service)
        events_119 = [b["event"] for b in by_path(receiver)["/119"]]
        assert events_119 == ["alert.escalated", "alert.acknowledged", "alert.resolved"]
        assert journal.timeline(alert_id)[-2:] == ["acknowledged", "false_alarm"]
        assert service.get(alert_id) is None and service.open_alerts() == []
        assert all(d.delivered for d in journal.deliveries())


async def test_escalation_step_and_reminders_stop_on_acknowledgement(receiver: Receiver) -> None:
    clock, journal = Clock(NIGHT), ListJournal()
    policy = EscalationPolicy(category=Category.SECURITY, steps=(EscalationStep(after_s=60,
                              add_audiences=(Audience.CULTURE_BUREAU,)),), reminder_every_s=30, max_reminders=5)
    async with httpx.AsyncClient() as client:
        service = make_service(make_routing(receiver, policies=(policy,)), clock, journal, client)
        # A door opened at night at a closed site: police + monitoring center + custodians.
        service.on_record(event("door_open", "door-1", Source.SECURITY, at=NIGHT))
        clock.advance(5)
        service.tick()  # the 5 s group wait is over: the (major) alert goes out
        await settle(service)
        assert sorted(by_path(receiver)) == ["/110", "/center", "/wang"]
        clock.advance(25)
        service.tick()  # 30 s: first reminder, held for the site's group wait
        clock.advance(5)
        service.tick()
        clock.advance(25)
        service.tick()  # 60 s: escalated to the culture bureau + second reminder, one group
        clock.advance(5)
        service.tick()
        await settle(service)
        seen = by_path(receiver)
        # One message each: the escalation leads, the reminder rides along in `related`.
        assert [b["event"] for b in seen["/wwj"]] == ["alert.escalated"]
        assert [b["event"] for b in seen["/110"]] == ["alert.opened", "alert.reminder", "alert.escalated"]
        assert [r["event"] for r in seen["/110"][-1]["related"]] == ["alert.reminder"]  # type: ignore[attr-defined]
        alert_id = str(seen["/110"][0]["alert"]["id"])  # type: ignore[index]
        service.acknowledge(alert_id, "custodian:王建国")
        count = len(receiver.requests)
        for _ in range(5):
            clock.advance(30)
            service.tick()
        await settle(service)
        after = by_path(receiver)
        # The acknowledgement goes to everyone who heard, culture bureau included; then silence.
        assert len(receiver.requests) == count + 4
        assert after["/wwj"][-1]["event"] == "alert.acknowledged"
        assert journal.timeline(alert_id).count("reminder") == 2


async def test_non_critical_alerts_of_a_site_are_grouped(receiver: Receiver) -> None:
    clock, journal = Clock(NIGHT), ListJournal()
    async with httpx.AsyncClient() as client:
        service = make_service(make_routing(receiver), clock, journal, client)
        service.on_record(event("door_open", "door-1", Source.SECURITY, at=NIGHT))
        clock.advance(1)
        service.on_record(event("vibration", "vib-1", Source.SECURITY, at=clock.now))
        clock.advance(1)
        service.tick()
        await settle(service)
        assert receiver.requests == []  # still inside the 5 s wait
        clock.advance(3)
        service.tick()
        await settle(service)
        seen = by_path(receiver)
        assert len(seen["/center"]) == 1
        body = seen["/center"][0]
        related = body["related"]
        assert isinstance(related, list) and len(related) == 1
        assert {body["alert"]["device"], related[0]["alert"]["device"]} == {"door-1", "vib-1"}  # type: ignore[index]
        assert str(related[0]["alert"]["ack_url"]).startswith("https://relic.example.cn/ack/")


async def test_drill_window_reaches_only_the_monitoring_center_and_is_recorded(receiver: Receiver) -> None:
    clock, journal = Clock(DAY), ListJournal()
    window = MaintenanceWindow(site=SITE, start=DAY - timedelta(hours=1), end=DAY + timedelta(hours=1),
                               kind=WindowKind.DRILL, reason="消防演练", set_by="supervisor:li")
    async with httpx.AsyncClient() as client:
        service = make_service(make_routing(receiver, windows=(window,)), clock, journal, client)
        service.on_record(event("fire_alarm", "smoke-1", zone="主殿", at=DAY))
        service.on_record(event("fire_alarm", "smoke-2", zone="主殿", at=DAY))
        await settle(service)
        seen = by_path(receiver)
        assert sorted(seen) == ["/center"]  # critical: not hidden, but no agency and no custodian
        assert all(b["alert"]["drill"] for b in seen["/center"])  # type: ignore[index]
        alert_id = str(seen["/center"][0]["alert"]["id"])  # type: ignore[index]
        assert "drill" in journal.timeline(alert_id)
        assert service.open_alerts()[0].drill


async def test_failed_channel_goes_to_fallback_and_total_failure_is_undelivered(
    receiver: Receiver, fallback_receiver: Receiver
) -> None:
    clock, journal = Clock(NIGHT), ListJournal()
    # The monitoring center's webhook receiver is down (nothing listens on its port).
    down = ChannelTarget(kind="webhook", target=f"http://127.0.0.1:{closed_port()}/center")
    routing = make_routing(receiver, center_channels=(down,),
                           center_fallback=(hook(fallback_receiver, "/center-sms"),))
    async with httpx.AsyncClient() as client:
        service = make_service(routing, clock, journal, client)
        service.on_record(event("fire_alarm", "smoke-1", zone="主殿", at=NIGHT))
        await settle(service)
        assert [r.path for r in fallback_receiver.requests] == ["/center-sms"]
        center = [d for d in journal.deliveries() if d.recipient == "center"]
        assert [(d.fallback, d.delivered, d.attempts) for d in center] == [(False, False, 2), (True, True, 1)]
        assert service.dispatcher is not None and service.dispatcher.undelivered == []

        # Both the channel and the fallback down: undelivered, recorded and kept for the API.
        fallback_receiver.script(*[Reply(status=500) for _ in range(2)])
        clock.advance(60)
        service.on_record(event("panic", "panic-1", Source.SECURITY, at=clock.now))
        await settle(service)
        undelivered = service.dispatcher.undelivered
        assert [(d.recipient, d.fallback) for d in undelivered] == [("center", True)]
        assert undelivered[0].status.startswith("500")


async def test_no_routing_records_alerts_and_sends_nothing() -> None:
    clock, journal = Clock(NIGHT), ListJournal()
    site = Site(id=SITE, name="城子崖遗址", district="章丘区", level="national", kind="古遗址")
    service = AlertService(ctx=RuleContext(sites={SITE: site}), sites={SITE: site}, routing=None, journal=journal,
                           dispatcher=None, ack_links=None, clock=clock)
    service.on_record(event("fire_alarm", "smoke-1", at=NIGHT))
    [alert] = service.open_alerts()
    assert alert.severity is Severity.CRITICAL
    assert journal.timeline(alert.id) == ["opened"]
    await asyncio.sleep(0)


async def test_a_recipient_hears_of_an_alerts_changes_in_order_even_behind_a_slow_delivery(
    receiver: Receiver, fallback_receiver: Receiver
) -> None:
    clock, journal = Clock(NIGHT), ListJournal()
    slow = fallback_receiver
    # The monitoring center's receiver refuses the acknowledgement's first attempt: it is retried
    # (after a backoff), and the resolution must wait for it rather than overtake it.
    slow.script(Reply(), Reply(status=503))
    routing = make_routing(receiver, center_channels=(hook(slow, "/center"),))
    async with httpx.AsyncClient() as client:
        service = make_service(routing, clock, journal, client)
        service.on_record(event("fire_alarm", "smoke-1", zone="主殿", at=NIGHT))
        [alert] = service.open_alerts()
        await settle(service)
        service.acknowledge(alert.id, "operator:zhang")
        service.resolve(alert.id, "operator:zhang", classification=Classification.FIRE)
        await settle(service)
        assert events(slow, "/center") == ["alert.opened", "alert.acknowledged", "alert.acknowledged",
                                           "alert.resolved"]


def events(receiver: Receiver, path: str) -> list[str]:
    return [json.loads(r.body)["event"] for r in receiver.requests if r.path == path]


async def test_a_condition_found_by_scheduled_work_is_raised_once_and_routed(receiver: Receiver) -> None:
    clock, journal = Clock(NIGHT), ListJournal()
    async with httpx.AsyncClient() as client:
        service = make_service(make_routing(receiver), clock, journal, client)
        key = AlertKey(SITE, "route:fire", "patrol.round_missed")
        first = service.raise_condition(key, category=Category.PATROL, severity=Severity.MAJOR, label="巡查漏巡",
                                        where="消防巡查 22:00", audiences=(Audience.MONITORING_CENTER, Audience.CUSTODIANS),
                                        detail={"round": "fire/night/20261127T2200"})
        again = service.raise_condition(key, category=Category.PATROL, severity=Severity.MAJOR, label="巡查漏巡",
                                        where="消防巡查 22:00", audiences=(Audience.MONITORING_CENTER, Audience.CUSTODIANS))
        assert again.id == first.id and again.count == 2  # one open alert per key, repeats counted
        assert first.title == "巡查漏巡：城子崖遗址 消防巡查 22:00"
        clock.advance(5)
        service.tick()  # major: sent after the site's group wait
        await settle(service)
        assert sorted(by_path(receiver)) == ["/center", "/wang"]
        assert journal.timeline(first.id)[:2] == ["opened", "detail"]
