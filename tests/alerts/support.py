"""Builders for alert tests: records, a registry-backed context, and an engine driver with a fake clock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from alerts.model import Action, Alert, AlertKey, Notify, NotifyEvent, Opened
from alerts.rules import engine as eng
from alerts.rules.common import EngineSettings, RuleContext
from alerts.rules.thresholds import ThresholdRule
from relic_guard.registry import Device, Site
from sensors.model import Event, Source, StatusChange, Telemetry

# 2026-11-27 10:00 Asia/Shanghai (open hours 08:30-17:00): DAY; 23:00 local: NIGHT.
DAY = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
NIGHT = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)

SITE = "chengziya"
SITE_NAME = "城子崖遗址"


def site(
    site_id: str = SITE, name: str = SITE_NAME, open_hours: tuple[time, time] | None = (time(8, 30), time(17, 0))
) -> Site:
    return Site(id=site_id, name=name, district="章丘区", level="national", kind="古遗址", open_hours=open_hours)


def context(
    sites: Iterable[Site] = (),
    devices: Iterable[Device] = (),
    thresholds: Iterable[ThresholdRule] = (),
    **settings: Any,
) -> RuleContext:
    site_list = list(sites) or [site()]
    return RuleContext(
        sites={s.id: s for s in site_list},
        devices={(d.site, d.id): d for d in devices},
        thresholds=tuple(thresholds),
        settings=EngineSettings(**settings),
    )


def event(
    type_: str,
    device: str = "d1",
    source: Source = Source.FIRE,
    *,
    site_id: str = SITE,
    zone: str | None = None,
    clear: bool = False,
    at: datetime = DAY,
    **attrs: object,
) -> Event:
    return Event(site_id, device, source, type_, at, f"{device}:{type_}:{at.timestamp()}", zone, clear, attrs)


def status(device: str, online: bool, *, site_id: str = SITE, source: Source = Source.ENV) -> StatusChange:
    return StatusChange(site_id, device, source, online, DAY)


def reading(device: str, *, site_id: str = SITE, **values: float) -> Telemetry:
    return Telemetry(site_id, device, Source.ENV, DAY, values)


class Driver:
    """Runs records through one engine with a clock the test moves."""

    def __init__(self, ctx: RuleContext | None = None, start: datetime = DAY) -> None:
        self.ctx = ctx or context()
        self.engine = eng.Engine()
        self.now = start
        self.log: list[Action] = []

    def at(self, seconds: float) -> Driver:
        self.now = self.now + timedelta(seconds=seconds)
        return self

    def feed(self, *records: Event | StatusChange | Telemetry) -> list[Action]:
        out: list[Action] = []
        for record in records:
            _, actions = eng.evaluate(self.engine, record, self.now, self.ctx)
            out += actions
        self.log += out
        return out

    def tick(self) -> list[Action]:
        _, actions = eng.tick(self.engine, self.now, self.ctx)
        self.log += actions
        return actions

    def alert(self, key: AlertKey) -> Alert:
        found = self.engine.book.get(key)
        assert found is not None, f"no open alert {key}"
        return found

    def only_open(self) -> Alert:
        (alert,) = self.engine.open_alerts
        return alert


def kinds(actions: Iterable[Action]) -> list[str]:
    """Compact trace: opened/updated/escalated/cleared/notify:<event>."""
    out = []
    for action in actions:
        if isinstance(action, Notify):
            out.append(f"notify:{action.event.value.removeprefix('alert.')}")
        else:
            out.append(type(action).__name__.lower())
    return out


def opened(actions: Iterable[Action]) -> list[Alert]:
    return [action.alert for action in actions if isinstance(action, Opened)]


def notified(actions: Iterable[Action], event: NotifyEvent = NotifyEvent.OPENED) -> list[Alert]:
    return [action.alert for action in actions if isinstance(action, Notify) and action.event is event]
