"""Builders for alert store and journal tests: alerts with Chinese text, timeline entries, deliveries."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec

from alerts.model import (
    Alert,
    AlertKey,
    AlertStatus,
    Audience,
    Category,
    Classification,
    Evidence,
    Severity,
    alert_id,
    audiences,
)
from relic_guard.alerting.records import DeliveryRecord, TimelineEntry

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))
KEY = bytes(range(32))


def alert(i: int = 0, *, site: str = "chengziya", category: Category = Category.FIRE, opened: datetime | None = None,
          **changes: Any) -> Alert:
    key = AlertKey(site=site, device=f"smoke-{i}", rule="fire.alarm")
    at = opened or T0 + timedelta(minutes=i)
    base = Alert(
        id=alert_id(key, at),
        key=key,
        category=category,
        severity=Severity.CRITICAL,
        title=f"火警（未确认）：城子崖遗址 主殿 {i}",
        opened_at=at,
        last_seen_at=at + timedelta(seconds=30),
        zone="主殿",
        devices=("smoke-99",),
        evidence=(Evidence(kind="snapshot", url=f"https://cam.example/主殿/{i}.jpg"),),
        audiences=audiences(Audience.FIRE_BRIGADE, Audience.MONITORING_CENTER, Audience.CUSTODIANS),
    )
    return msgspec.structs.replace(base, **changes) if changes else base


def acknowledged(a: Alert, by: str = "王建国") -> Alert:
    return msgspec.structs.replace(a, status=AlertStatus.ACKNOWLEDGED, acknowledged_by=by,
                                   acknowledged_at=(a.last_seen_at + timedelta(minutes=1)).astimezone(SHANGHAI))


def resolved(a: Alert) -> Alert:
    return msgspec.structs.replace(a, status=AlertStatus.RESOLVED, resolved_by="李秀兰",
                                   resolved_at=a.last_seen_at + timedelta(minutes=5),
                                   classification=Classification.FIRE,
                                   note="灭火器扑灭，未波及文物")


def entry(a: Alert, kind: str, seconds: float = 0, **detail: object) -> TimelineEntry:
    return TimelineEntry(alert_id=a.id, at=a.opened_at + timedelta(seconds=seconds), kind=kind,
                         detail=detail or {"site": a.site, "zone": "主殿"})


def delivery(a: Alert, n: int = 0, *, delivered: bool = True, fallback: bool = False, channel: str = "webhook",
             recipient: str = "duty-desk", event: str = "alert.opened", seconds: float = 1) -> DeliveryRecord:
    start = a.opened_at + timedelta(seconds=seconds)
    return DeliveryRecord(
        delivery_id=f"dl-{a.id[:8]}-{recipient}-{channel}-{n}", alert_id=a.id, event=event, recipient=recipient,
        channel=channel, target=f"https://hooks.example/{recipient}", fallback=fallback, delivered=delivered,
        attempts=1 if delivered else 3, status="200" if delivered else "503",
        gave_up=None if delivered else "retries exhausted", started_at=start,
        finished_at=start + timedelta(seconds=2),
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.02)
