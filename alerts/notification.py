"""The content every channel carries: the CONTRACT §2 `alert` object, built from an Alert.

Pure: the site facts and the acknowledgement link come in as values. The webhook channel adds
`event` and `sent_at` around it; email, IM and push render the same object. Times are RFC 3339
in the site's time zone (Asia/Shanghai by default), so what an operator reads matches the wall
clock at the site.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Final, Protocol

from alerts.model import Alert, NotifyEvent
from alerts.rules.common import SHANGHAI

# The words every channel shows a person, one table so that an IM message, an e-mail and a
# phone notification about the same alert never disagree.
SEVERITY_LABELS: Final[Mapping[str, str]] = {
    "critical": "紧急",
    "major": "严重",
    "minor": "一般",
    "warning": "预警",
    "info": "提示",
}
CATEGORY_LABELS: Final[Mapping[str, str]] = {
    "fire": "火警",
    "security": "安防",
    "device": "设备",
    "environment": "环境",
    "video": "视频",
    "drone": "无人机",
    "patrol": "巡查",
    "hazard": "隐患",
    "inspection": "检查",
}
STATUS_LABELS: Final[Mapping[str, str]] = {
    "open": "待响应",
    "acknowledged": "已响应",
    "resolved": "已解除",
    "false_alarm": "误报",
}
EVENT_LABELS: Final[Mapping[str, str]] = {
    "alert.opened": "新告警",
    "alert.escalated": "告警升级",
    "alert.reminder": "告警提醒（仍未响应）",
    "alert.acknowledged": "告警已响应",
    "alert.resolved": "告警已解除",
}


def wall_clock_text(value: object, tz: tzinfo = SHANGHAI) -> str:
    """An RFC 3339 time from a notification body as `2026-11-27 10:00:00（北京时间）`; text that is
    not such a time (or has no offset: no way to know its wall clock) comes back as given."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.utcoffset() is None:
        return text
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"


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


def related_lines(body: Mapping[str, object]) -> list[str]:
    """The other alerts a grouped notification carries (`related`), one line each, for channels
    that show text: `同时：【新告警】安防：城子崖遗址 北门（确认：https://…）`."""
    related = body.get("related")
    if not isinstance(related, list) or not related:
        return []
    lines = [f"同时另有 {len(related)} 条告警："]
    for item in related:
        if not isinstance(item, Mapping):
            continue
        alert = item.get("alert")
        alert = alert if isinstance(alert, Mapping) else {}
        event = item.get("event")
        label = EVENT_LABELS.get(event, "") if isinstance(event, str) else ""
        title = alert.get("title") if isinstance(alert.get("title"), str) else "告警"
        ack_url = alert.get("ack_url")
        line = f"· 【{label}】{title}" if label else f"· {title}"
        if isinstance(ack_url, str) and ack_url:
            line += f"（确认：{ack_url}）"
        lines.append(line)
    return lines


def notification_body(event: NotifyEvent, alert: Alert, site: SiteCard | None, *, ack_url: str | None,
                      tz: tzinfo = SHANGHAI) -> dict[str, object]:
    """`{"event": …, "alert": {…}}`; the webhook channel adds `sent_at` when it sends."""
    return {"event": event.value, "alert": alert_object(alert, site, ack_url=ack_url, tz=tz)}
