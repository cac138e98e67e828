"""Builders shared by the routing, escalation, grouping and maintenance tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from alerts.model import Alert, AlertKey, Audience, Category, Severity, new_alert
from alerts.routing import ChannelTarget, Recipient
from relic_guard.registry import Site

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert(
    category: Category = Category.FIRE,
    severity: Severity = Severity.CRITICAL,
    *,
    site: str = "lingyan-si",
    device: str = "d1",
    rule: str = "fire.alarm",
    audience: tuple[Audience, ...] = (Audience.MONITORING_CENTER, Audience.CUSTODIANS),
    now: datetime = T0,
    **changes: object,
) -> Alert:
    made = new_alert(
        AlertKey(site, device, rule), category=category, severity=severity, title="t", now=now, audience=audience
    )
    return msgspec.structs.replace(made, **changes) if changes else made


def site(
    site_id: str = "lingyan-si",
    district: str = "长清区",
    level: str = "全国重点文物保护单位",
    custodians: tuple[str, ...] = ("王建国", "李秀兰"),
) -> Site:
    return Site(id=site_id, name=site_id, district=district, level=level, kind="古建筑", custodians=custodians)


def recipient(recipient_id: str, audience: Audience, name: str | None = None) -> Recipient:
    return Recipient(
        id=recipient_id,
        name=name or recipient_id,
        audience=audience,
        channels=(ChannelTarget(kind="email", target=f"{recipient_id}@example.cn"),),
    )
