"""Apprise channel: IM bots and SMS gateways (DingTalk, WeCom, Feishu, Telegram, SMS APIs, …).

`delivery.target` is an apprise URL (`dingtalk://…`, `wecombot://…`, `json://host/path`, …).
A `{secret}` in it is replaced by `delivery.secret` (routing's `secret_ref` for apprise: the
bot token lives in the environment or a file, never in the routing file); the URL with the
token substituted never appears in a result or a log line.

The message is plain text, readable on a phone lock screen and in an SMS, rendered from the
CONTRACT §2 `alert` object (`render_message`):

    title: 【紧急·新告警】大成殿 烟感报警（未确认）
    body:  站点：曲阜孔庙（曲阜市）
           类别：火情 · 级别：紧急
           时间：2026-11-27 10:00:00（北京时间）
           设备：fire-panel-01
           确认：https://relic.example/ack/xyz
           编号：d-123

Times are shown in Asia/Shanghai (+08:00 all year). The `确认` (acknowledge) link is shown for
`alert.opened`/`escalated`/`reminder`, not once the alert is acknowledged or resolved. The
`编号` line is the delivery id, so an operator can match a message to the audit trail.

Apprise's `notify` is synchronous (it uses `requests`): each attempt runs in a worker thread
(`asyncio.to_thread`), bounded three ways by `timeout_s`: the plugin's socket connect/read
timeouts (so the thread itself ends), apprise's own call timeout, and an `asyncio.timeout`
around the thread (so the event loop never waits longer, whatever a plugin does).

Classification: apprise reports success or failure per service, not *why* (no HTTP status it
would let us act on; the reason is only a log line, which we copy into the status for the
operator). So every failure is treated as **retryable**: a 503 and a revoked bot token look the
same to us, and a permanently broken target is retried until the attempts run out, then the
fallback channel takes over. Only a URL that apprise cannot parse (unknown schema, missing
token) is permanent: sending again cannot fix the configuration.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from alerts.channels.base import Delivery, DeliveryEvent, DeliveryResult
from alerts.notification import CATEGORY_LABELS, EVENT_LABELS, SEVERITY_LABELS, related_lines, wall_clock_text

with warnings.catch_warnings():
    # apprise's e-mail plugin imports the stdlib `imghdr` (deprecated since 3.11; apprise shims it
    # on 3.13+). Load every plugin now, once, with that one warning silenced: the first fire alarm
    # must not pay the plugin scan, and a test run that turns warnings into errors must not fail.
    warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
    import apprise
    from apprise.manager_plugins import NotificationManager

    NotificationManager().load_modules()  # type: ignore[no-untyped-call]  # apprise leaves these two unannotated

log = logging.getLogger(__name__)

SECRET_PLACEHOLDER: Final = "{secret}"
MAX_REASON_CHARS: Final = 300

ACK_EVENTS: Final = frozenset({"alert.opened", "alert.escalated", "alert.reminder"})
"""Events whose message carries the acknowledge link (the alert still waits for someone)."""

DELIVERY_ID_LABEL: Final = "编号："


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    notify_type: str
    """apprise's NotifyType value (`failure` shows red in most IM bots, `warning` amber, …)."""


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def format_local_time(value: object) -> str:
    """An RFC 3339 time as `2026-11-27 10:00:00（北京时间）`; unreadable text as it came."""
    return wall_clock_text(value)


def _notify_type(event: DeliveryEvent, severity: str) -> str:
    if event == "alert.resolved":
        return str(apprise.NotifyType.SUCCESS.value)
    if event == "alert.acknowledged" or severity in {"info", ""}:
        return str(apprise.NotifyType.INFO.value)
    if severity == "critical":
        return str(apprise.NotifyType.FAILURE.value)
    return str(apprise.NotifyType.WARNING.value)


def render_message(delivery: Delivery) -> Message:
    """The title and plain-text body for one delivery (see the module docstring for the layout).

    Missing fields leave their line out; nothing here raises for a sparse or odd body.
    """
    raw_alert = delivery.body.get("alert")
    alert: Mapping[str, object] = raw_alert if isinstance(raw_alert, Mapping) else {}
    raw_site = alert.get("site")
    site: Mapping[str, object] = raw_site if isinstance(raw_site, Mapping) else {}
    severity = _text(alert.get("severity"))
    category = _text(alert.get("category"))
    severity_label = SEVERITY_LABELS.get(severity, severity)
    category_label = CATEGORY_LABELS.get(category, category)
    event_label = EVENT_LABELS[delivery.event]

    tag = "·".join(part for part in (severity_label, event_label) if part)
    title = f"【{tag}】{_text(alert.get('title')) or '告警'}"

    lines: list[str] = []
    site_name, district = _text(site.get("name")), _text(site.get("district"))
    if site_name:
        lines.append(f"站点：{site_name}" + (f"（{district}）" if district and district != site_name else ""))
    kinds = []
    if category_label:
        kinds.append(f"类别：{category_label}")
    if severity_label:
        kinds.append(f"级别：{severity_label}")
    kind = " · ".join(kinds)
    if kind:
        lines.append(kind)
    when = format_local_time(alert.get("opened_at"))
    if when:
        lines.append(f"时间：{when}")
    device = _text(alert.get("device"))
    if device:
        lines.append(f"设备：{device}")
    ack_url = _text(alert.get("ack_url"))
    if ack_url and delivery.event in ACK_EVENTS:
        lines.append(f"确认：{ack_url}")
    lines += related_lines(delivery.body)
    lines.append(f"{DELIVERY_ID_LABEL}{delivery.delivery_id}")
    return Message(title=title, body="\n".join(lines), notify_type=_notify_type(delivery.event, severity))


def delivery_id_of(body: str) -> str | None:
    """The delivery id a rendered body carries (its `编号：` line), for receivers and tests."""
    for line in reversed(body.splitlines()):
        if line.startswith(DELIVERY_ID_LABEL):
            return line[len(DELIVERY_ID_LABEL) :].strip()
    return None


@dataclass(frozen=True, slots=True)
class _Outcome:
    ok: bool
    timed_out: bool
    permanent: bool
    reason: str


class AppriseChannel:
    """Sends each delivery through apprise to `delivery.target`; one attempt per `deliver` call.

    Each attempt builds a fresh apprise plugin (no state shared between deliveries or threads;
    no throttling wait carried over from the last message to the same bot).
    """

    name: Final = "apprise"

    def __init__(self, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self._timeout_s = timeout_s

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        attempt = delivery.attempt
        secret = delivery.secret.decode("utf-8", "replace") if delivery.secret else ""
        url = delivery.target.replace(SECRET_PLACEHOLDER, secret) if secret else delivery.target
        message = render_message(delivery)
        try:
            async with asyncio.timeout(self._timeout_s):
                outcome = await asyncio.to_thread(self._notify, url, message)
        except TimeoutError:
            return DeliveryResult(
                delivered=False, status=f"timed out after {self._timeout_s:g} s", attempt=attempt, retryable=True
            )
        reason = _redact(outcome.reason, secret)
        if outcome.ok:
            return DeliveryResult(delivered=True, status=reason, attempt=attempt, retryable=False)
        if outcome.timed_out:
            status = f"timed out after {self._timeout_s:g} s ({reason})"
            return DeliveryResult(delivered=False, status=status, attempt=attempt, retryable=True)
        return DeliveryResult(delivered=False, status=reason, attempt=attempt, retryable=not outcome.permanent)

    def _notify(self, url: str, message: Message) -> _Outcome:
        """One apprise notify, in a worker thread. Never raises."""
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            return _Outcome(
                ok=False,
                timed_out=False,
                permanent=True,
                reason="bad apprise URL: unknown schema or missing parts (see the apprise URL docs)",
            )
        service = str(getattr(plugin, "service_name", "") or type(plugin).__name__)
        # Bound the worker thread itself: requests' connect and read timeouts.
        plugin.socket_connect_timeout = self._timeout_s
        plugin.socket_read_timeout = self._timeout_s
        notifier = apprise.Apprise()
        notifier.add(plugin)
        try:
            result = notifier.notify(
                body=message.body,
                title=message.title,
                notify_type=message.notify_type,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=self._timeout_s,
            )
        except Exception as exc:  # a plugin bug: report it, never take the dispatcher down
            log.exception("apprise %s raised", service)
            return _Outcome(ok=False, timed_out=False, permanent=False, reason=f"{service}: apprise raised {exc!r}")
        if result:
            return _Outcome(ok=True, timed_out=False, permanent=False, reason=f"{service}: sent")
        timed_out = result.status == apprise.AppriseResultStatus.TIMEOUT
        why = "; ".join(entry.message for entry in result.logs() if entry.level in {"WARNING", "ERROR", "CRITICAL"})
        reason = f"{service}: apprise reported {result.status.name.lower()}" + (f": {why}" if why else "")
        return _Outcome(ok=False, timed_out=timed_out, permanent=False, reason=reason[:MAX_REASON_CHARS])


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
