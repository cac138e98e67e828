"""What an alert is, and the actions the rule engine emits about alerts.

An `Alert` is one situation someone must own until it is closed: a fire alarm in
a zone, a door opened at night, a detector that stopped reporting. It is keyed by
`AlertKey(site, device, rule)`; the engine keeps at most one *open* alert
(status open or acknowledged) per key, and repeats update it (`count`,
`last_seen_at`) instead of opening another.

Invariants:
- alerts are immutable; every change makes a new one (`msgspec.structs.replace`);
- `id` is a function of the key and `opened_at` only, so rebuilding the engine
  from the database, or replaying the same records, yields the same ids;
- `audiences` is a tuple in `Audience` declaration order without repeats, so two
  alerts with the same audiences compare equal;
- timestamps are timezone-aware (the engine's `now`, UTC in production).

The engine does not send anything: it emits `Action`s (`Opened`, `Updated`,
`Escalated`, `Cleared`, `Notify`) that the dispatcher (routing, escalation
timers, channels, audit trail) turns into deliveries and records. `Notify`
carries the CONTRACT §2 event name; the other actions are the state changes the
audit trail and the store record.

Titles: the engine knows the site's name when the rule context's site facts
carry one (the registry's `Site` does), so titles are ready to show, e.g.
"火警（未确认）：城子崖遗址 主殿". A title is fixed at the moment it is written (open,
confirmation); a later rename in the registry does not rewrite history.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Final

import msgspec


class Severity(StrEnum):
    """How urgent, highest first. Compares by urgency: `Severity.CRITICAL > Severity.MAJOR`."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """4 for critical … 0 for info."""
        return _SEVERITY_RANK[self]

    # str's own ordering is alphabetical, which would make "info" > "critical".
    def __lt__(self, other: str) -> bool:
        if isinstance(other, Severity):
            return self.rank < other.rank
        return NotImplemented

    def __le__(self, other: str) -> bool:
        if isinstance(other, Severity):
            return self.rank <= other.rank
        return NotImplemented

    def __gt__(self, other: str) -> bool:
        if isinstance(other, Severity):
            return self.rank > other.rank
        return NotImplemented

    def __ge__(self, other: str) -> bool:
        if isinstance(other, Severity):
            return self.rank >= other.rank
        return NotImplemented


_SEVERITY_RANK: Final = {
    Severity.CRITICAL: 4,
    Severity.MAJOR: 3,
    Severity.MINOR: 2,
    Severity.WARNING: 1,
    Severity.INFO: 0,
}


class Category(StrEnum):
    FIRE = "fire"
    SECURITY = "security"
    DEVICE = "device"
    ENVIRONMENT = "environment"
    VIDEO = "video"
    DRONE = "drone"
    PATROL = "patrol"
    HAZARD = "hazard"
    INSPECTION = "inspection"  # an annual or 双随机 inspection left undone past its due day


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"

    @property
    def is_open(self) -> bool:
        """Open or acknowledged: someone still owns it, and it holds its key."""
        return self in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class Classification(StrEnum):
    """What a closed alert turned out to be, in the categories the national bureau counts
    (盗掘, 盗窃/抢劫, 损毁, 火灾, 其他安全事故) plus the two every supervisor asks about."""

    LOOTING = "looting"  # 盗掘古文化遗址古墓葬
    THEFT = "theft"  # 盗窃/抢劫文物
    DAMAGE = "damage"  # 故意或过失损毁
    FIRE = "fire"  # 文物火灾事故
    OTHER_ACCIDENT = "other_accident"  # 其他安全事故
    FALSE_ALARM = "false_alarm"  # 误报
    DEVICE_FAULT = "device_fault"  # 设备故障


class Audience(StrEnum):
    """Who must learn of an alert; routing (not the engine) turns these into recipients."""

    MONITORING_CENTER = "monitoring_center"  # 监控中心
    CUSTODIANS = "custodians"  # the site's 文物保护员
    FIRE_BRIGADE = "fire_brigade"  # 消防救援
    POLICE = "police"  # 公安
    CULTURE_BUREAU = "culture_bureau"  # 文物局
    LAW_ENFORCEMENT = "law_enforcement"  # 文化市场综合执法


_AUDIENCE_ORDER: Final = {audience: index for index, audience in enumerate(Audience)}


def audiences(*items: Audience) -> tuple[Audience, ...]:
    """The canonical form of a set of audiences: declaration order, no repeats."""
    return tuple(sorted(set(items), key=_AUDIENCE_ORDER.__getitem__))


class NotifyEvent(StrEnum):
    """The `event` of a CONTRACT §2 notification."""

    OPENED = "alert.opened"
    ESCALATED = "alert.escalated"
    REMINDER = "alert.reminder"
    ACKNOWLEDGED = "alert.acknowledged"
    RESOLVED = "alert.resolved"


class UpdateKind(StrEnum):
    """What changed in an `Updated` action."""

    REPEAT = "repeat"  # the condition was reported again: count and last_seen_at
    CONFIRMED = "confirmed"  # a fire alarm was confirmed by a second signal
    SEVERITY = "severity"  # severity raised (never lowered while open)
    EVIDENCE = "evidence"  # a snapshot or photo was added
    INHIBITED = "inhibited"  # a site-wide alert now covers this one: no notifications
    UNINHIBITED = "uninhibited"  # the covering alert closed; this one speaks again
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


SITE_WIDE: Final = "*"
"""The `device` of an alert about a whole site (ids never contain `*`)."""


class AlertKey(msgspec.Struct, frozen=True, order=True):
    """What an open alert is about. `rule` is a dotted name: `fire.alarm`, `device.offline`,
    `threshold.<name>`; `device` is `SITE_WIDE` for site-level alerts."""

    site: str
    device: str
    rule: str


class Evidence(msgspec.Struct, frozen=True):
    """A pointer to what was seen: CONTRACT §2 `{"kind": "snapshot", "url": …}`."""

    kind: str
    url: str


_ID_NAMESPACE: Final = uuid.UUID("5b0f7e0c-6a53-4c1e-9d64-72656c696367")


def alert_id(key: AlertKey, opened_at: datetime) -> str:
    """Deterministic id: a name-based UUID (v5) of the key and the opening instant (UTC)."""
    stamp = opened_at.timestamp()
    return str(uuid.uuid5(_ID_NAMESPACE, f"{key.site}\x1f{key.device}\x1f{key.rule}\x1f{stamp!r}"))


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    key: AlertKey
    category: Category
    severity: Severity
    title: str
    opened_at: datetime
    last_seen_at: datetime
    status: AlertStatus = AlertStatus.OPEN
    # Fire only: a second signal (second detector, manual call point, video) backs the first.
    confirmed: bool = False
    count: int = 1
    zone: str | None = None
    # Devices that contributed beyond the key's device (a fire's second detector, a camera).
    devices: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    audiences: tuple[Audience, ...] = ()
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    # Who owns the follow-up (CONTRACT §3 assign): a user or recipient id; any open alert.
    assigned_to: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    classification: Classification | None = None
    note: str | None = None
    # A drill or panel test: recorded, shown, never sent to agencies.
    drill: bool = False
    # When the device said the condition ended (restore, `clear`, panel reset, back online).
    # A latched alert stays open after this until a person closes it.
    condition_cleared_at: datetime | None = None
    # Id of the site-wide alert that covers this one (notifications are suppressed).
    inhibited_by: str | None = None
    # False while an alert opened under inhibition has not been notified yet.
    announced: bool = True

    @property
    def site(self) -> str:
        return self.key.site

    @property
    def device(self) -> str:
        return self.key.device

    @property
    def rule(self) -> str:
        return self.key.rule


def new_alert(
    key: AlertKey,
    *,
    category: Category,
    severity: Severity,
    title: str,
    now: datetime,
    zone: str | None = None,
    evidence: tuple[Evidence, ...] = (),
    audience: tuple[Audience, ...] = (),
    confirmed: bool = False,
    drill: bool = False,
) -> Alert:
    return Alert(
        id=alert_id(key, now),
        key=key,
        category=category,
        severity=severity,
        title=title,
        opened_at=now,
        last_seen_at=now,
        confirmed=confirmed,
        zone=zone,
        evidence=evidence,
        audiences=audiences(*audience),
        drill=drill,
    )


# Actions ---------------------------------------------------------------------------------


class Opened(msgspec.Struct, frozen=True, tag="opened"):
    alert: Alert


class Updated(msgspec.Struct, frozen=True, tag="updated"):
    alert: Alert
    what: tuple[UpdateKind, ...]


class Escalated(msgspec.Struct, frozen=True, tag="escalated"):
    """New audiences were added (a fire confirmed: fire brigade, culture bureau, police)."""

    alert: Alert
    added: tuple[Audience, ...]


class Cleared(msgspec.Struct, frozen=True, tag="cleared"):
    """The condition ended. `alert.status` says what followed: still open (latched alarms,
    held for a person, GB 50394) or resolved (self-restoring conditions: faults, offline)."""

    alert: Alert


class Notify(msgspec.Struct, frozen=True, tag="notify"):
    """Tell the alert's audiences (routing picks recipients and channels)."""

    alert: Alert
    event: NotifyEvent


Action = Opened | Updated | Escalated | Cleared | Notify
