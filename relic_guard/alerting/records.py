"""The values the alert service, the dispatcher and the journal exchange.

Every one is a plain frozen value with timezone-aware times; the journal writes them to the
database (alerts, alert_timeline, deliveries) and to the audit trail, in the order they were
made. None of them ever holds a secret: a delivery's `target` is the recipient's address with
any secret left out (webhook and e-mail targets carry none; apprise targets are stored with
`{secret}` still unfilled; a web push target is the subscription id, not its keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from alerts.model import Alert
from relic_guard.audit import AuditEntry

SYSTEM_ACTOR = "relic-guard"


@dataclass(frozen=True, slots=True)
class AlertSnapshot:
    """The alert as it is now: the row in `alerts` is replaced by the newest snapshot."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of an alert's history (CONTRACT §3 `GET /api/alerts/{id}` timeline).

    `kind`: opened, repeat, confirmed, severity, evidence, escalated, reminder, inhibited,
    uninhibited, cleared, acknowledged, assigned, resolved, false_alarm, suppressed (a
    maintenance window held the notification back), drill."""

    alert_id: str
    at: datetime
    kind: str
    actor: str = SYSTEM_ACTOR
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """How one notification to one recipient over one channel ended (after its retries).

    `fallback` is True for a delivery over the recipient's fallback channels, made because
    every primary channel failed. `delivered` False with `fallback` True, or with no fallback
    configured, is an undelivered notification: counted in /metrics and shown by the API."""

    delivery_id: str
    alert_id: str
    event: str
    recipient: str
    channel: str
    target: str
    fallback: bool
    delivered: bool
    attempts: int
    status: str
    gave_up: str | None
    started_at: datetime
    finished_at: datetime


# What the journal takes. Timeline entries and delivery records are also appended to the audit
# trail (the journal derives the entry); an `AuditEntry` given directly is for what is not an
# alert's business (configuration loaded or changed, a user's token used to read history).
JournalItem = AlertSnapshot | TimelineEntry | DeliveryRecord | AuditEntry
