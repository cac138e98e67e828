"""The content every channel carries: the CONTRACT §2 `alert` object, built from an Alert.

Pure: the site facts and the acknowledgement link come in as values. The webhook channel adds
`event` and `sent_at` around it; email, IM and push render the same object. Times are RFC 3339
in the site's time zone (Asia/Shanghai by default), so what an operator reads matches the wall
clock at the site.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from alerts.model import Alert, NotifyEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")


class SiteCard(Protocol):
    """The site facts a notification shows (`relic_guard.registry.Site` has them)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def district(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lon(self) -> float | None: ...


def rfc3339(moment: datetime, tz: tzinfo = SHANGHAI) -> str:
    return moment.astimezone(tz).isoformat(timespec="milliseconds")


def alert_object(alert: Alert, site: SiteCard | None, *, ack_url: str | None,
                 tz: tzinfo = SHANGHAI) -> dict[str, object]:
    """The `alert` member of a notification body (CONTRACT §2), plus the lifecycle fields a
    receiver needs to follow the alert through acknowledgement and resolution."""
    site_obj: dict[str, object] = (
        {"id": site.id, "name": site.name, "district": site.district, "level": site.level,
         "lat": site.lat, "lon": site.lon}
        if site is not None
        else {"id": alert.site, "name": alert.site, "district": None, "level": None, "lat": None, "lon": None}
    )
    body: dict[str, object] = {
        "id": alert.id,
        "status": alert.status.value,
        "category": alert.category.value,
        "severity": alert.severity.value,
        "title": alert.title,
        "opened_at": rfc3339(alert.opened_at, tz),
        "site": site_obj,
        "device": alert.device,
        "evidence": [{"kind": e.kind, "url": e.url} for e in alert.evidence],
        "ack_url": ack_url,
        # Beyond the contract's example, for receivers that track the lifecycle:
        "zone": alert.zone,
        "confirmed": alert.confirmed,
        "drill": alert.drill,
        "count": alert.count,
        "last_seen_at": rfc3339(alert.last_seen_at, tz),
    }
    if alert.acknowledged_at is not None:
        body["acknowledged_by"] = alert.acknowledged_by
        body["acknowledged_at"] = rfc3339(alert.acknowledged_at, tz)
    if alert.resolved_at is not None:
        body["resolved_by"] = alert.resolved_by
        body["resolved_at"] = rfc3339(alert.resolved_at, tz)
        body["classification"] = alert.classification.value if alert.classification else None
    return body


def notification_body(event: NotifyEvent, alert: Alert, site: SiteCard | None, *, ack_url: str | None,
                      tz: tzinfo = SHANGHAI) -> dict[str, object]:
    """`{"event": …, "alert": {…}}`; the webhook channel adds `sent_at` when it sends."""
    return {"event": event.value, "alert": alert_object(alert, site, ack_url=ack_url, tz=tz)}
