"""What every rule family shares: the facts a rule may consult, and the book of open alerts.

`RuleContext` is read-only: the site and device facts (the registry's `Site` and
`Device` satisfy `SiteFacts` and `DeviceFacts` as they are, so the daemon passes
`Registry.sites` and `Registry.devices` straight in), the threshold rules and the
engine settings. Rules never read the clock: `now` is an argument.

`AlertBook` is the one index of open alerts (status open or acknowledged) across all
rule families. It holds the invariant "at most one open alert per `AlertKey`":
`report` opens an alert for a key that has none and otherwise updates the open one
(count, last_seen_at, severity raised never lowered, audiences widened, evidence
added), emitting the matching actions. Inhibition (a site-wide alert covering
per-device ones) and notification suppression live here too, so every family gets
them the same way.

The book and the families' states are mutable objects owned by one engine and
changed in place: a persistent (copy-on-write) structure would cost an allocation
per heartbeat over 100k devices, and the issue asks O(1) per heartbeat. The alerts
inside are immutable; an action always carries the alert as it was at that moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from alerts import lifecycle
from alerts.model import (
    Action,
    Alert,
    AlertKey,
    Audience,
    Category,
    Classification,
    Cleared,
    Escalated,
    Evidence,
    Notify,
    NotifyEvent,
    Opened,
    Severity,
    Updated,
    UpdateKind,
    audiences,
    new_alert,
)

if TYPE_CHECKING:
    from alerts.rules.thresholds import ThresholdRule


def _shanghai() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # no tz database on the host: China has kept UTC+8 without DST since 1991
        return timezone(timedelta(hours=8), "CST")


SHANGHAI: Final = _shanghai()


class SiteFacts(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def open_hours(self) -> tuple[time, time] | None: ...


class DeviceFacts(Protocol):
    @property
    def zone(self) -> str | None: ...
    @property
    def heartbeat_s(self) -> int | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSettings:
    # A second fire signal within this many seconds of the first confirms a fire alarm.
    fire_confirm_window_s: float = 120.0
    # A site with at least this many watched devices, all offline, gets one "site unreachable"
    # alert instead of one per device. A one-device site's offline alert already says it all.
    site_unreachable_min_devices: int = 2
    # Snapshots kept per alert (the first ones: the moment of discovery matters most).
    evidence_cap: int = 20
    # Wall-clock zone of `open_hours` (the registry writes them as local times).
    tz: tzinfo = SHANGHAI


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleContext:
    sites: Mapping[str, SiteFacts] = field(default_factory=dict)
    devices: Mapping[tuple[str, str], DeviceFacts] = field(default_factory=dict)
    thresholds: tuple[ThresholdRule, ...] = ()
    settings: EngineSettings = field(default_factory=EngineSettings)

    def site_name(self, site: str) -> str:
        facts = self.sites.get(site)
        return facts.name if facts is not None and facts.name else site

    def device_zone(self, site: str, device: str) -> str | None:
        facts = self.devices.get((site, device))
        return facts.zone if facts is not None else None

    def heartbeat_s(self, site: str, device: str) -> float | None:
        facts = self.devices.get((site, device))
        if facts is None or not facts.heartbeat_s:
            return None
        return float(facts.heartbeat_s)

    def is_open(self, site: str, now: datetime) -> bool:
        """Whether the site is open to the public at `now` (its local time). A site with no
        `open_hours` is never open: unmanned sites are closed, and every alarm there counts."""
        facts = self.sites.get(site)
        if facts is None or facts.open_hours is None:
            return False
        start, end = facts.open_hours
        local = now.astimezone(self.settings.tz).time().replace(tzinfo=None)
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # hours across midnight (e.g. 18:00-02:00)


def zoned_rule(base: str, zone: str | None) -> str:
    """The rule part of a key for zone-scoped alerts: a panel reporting two zones gets two alerts."""
    return base if zone is None else f"{base}:{zone}"


def make_title(label: str, site_name: str, where: str | None) -> str:
    return f"{label}：{site_name}" if not where else f"{label}：{site_name} {where}"


def evidence_of(attrs: Mapping[str, object]) -> tuple[Evidence, ...]:
    """Snapshot (video, drone) and photo (patrol) URLs an event carries."""
    found: list[Evidence] = []
    for name, kind in (("snapshot", "snapshot"), ("photo", "photo")):
        url = attrs.get(name)
        if isinstance(url, str) and url:
            found.append(Evidence(kind=kind, url=url))
    return tuple(found)


AGENCIES_FIRE: Final = (Audience.FIRE_BRIGADE, Audience.CULTURE_BUREAU, Audience.POLICE)
LOCAL: Final = (Audience.MONITORING_CENTER, Audience.CUSTODIANS)


@dataclass(slots=True)
class AlertBook:
    open: dict[AlertKey, Alert] = field(default_factory=dict)
    by_id: dict[str, AlertKey] = field(default_factory=dict)

    def get(self, key: AlertKey) -> Alert | None:
        return self.open.get(key)

    def put(self, alert: Alert) -> None:
        """Store a changed open alert, or forget a closed one (its key is free again)."""
        if alert.status.is_open:
            self.open[alert.key] = alert
            self.by_id[alert.id] = alert.key
        else:
            self.open.pop(alert.key, None)
            self.by_id.pop(alert.id, None)

    def report(
        self,
        key: AlertKey,
        now: datetime,
        *,
        category: Category,
        severity: Severity,
        title: str,
        audience: tuple[Audience, ...],
        settings: EngineSettings,
        zone: str | None = None,
        evidence: tuple[Evidence, ...] = (),
        confirmed: bool = False,
        drill: bool = False,
        device: str | None = None,
        inhibited_by: str | None = None,
        repeat: bool = True,
    ) -> list[Action]:
        """Open an alert for `key`, or update the open one. `device` names a contributor other
        than the key's device; `repeat=False` updates without counting a new occurrence (a
        confirmation from another source is not a repeat of this one)."""
        current = self.open.get(key)
        if current is None:
            alert = new_alert(
                key,
                category=category,
                severity=severity,
                title=title,
                now=now,
                zone=zone,
                evidence=evidence[: settings.evidence_cap],
                audience=audience,
                confirmed=confirmed,
                drill=drill,
            )
            if device is not None and device != key.device:
                alert = msgspec.structs.replace(alert, devices=(device,))
            if inhibited_by is not None:
                alert = msgspec.structs.replace(alert, inhibited_by=inhibited_by, announced=False)
            self.put(alert)
            actions: list[Action] = [Opened(alert)]
            if alert.announced:
                actions.append(Notify(alert, NotifyEvent.OPENED))
            return actions
        return self.update(
            current,
            now,
            severity=severity,
            title=title,
            audience=audience,
            settings=settings,
            evidence=evidence,
            confirmed=confirmed,
            device=device,
            repeat=repeat,
        )

    def update(
        self,
        current: Alert,
        now: datetime,
        *,
        severity: Severity | None = None,
        title: str | None = None,
        audience: tuple[Audience, ...] = (),
        settings: EngineSettings,
        evidence: tuple[Evidence, ...] = (),
        confirmed: bool = False,
        device: str | None = None,
        repeat: bool = True,
    ) -> list[Action]:
        what: list[UpdateKind] = []
        changes: dict[str, object] = {"last_seen_at": now}
        if repeat:
            what.append(UpdateKind.REPEAT)
            changes["count"] = current.count + 1
            # The condition is active again: a latched alert's "cleared" mark no longer holds.
            changes["condition_cleared_at"] = None
        if confirmed and not current.confirmed:
            what.append(UpdateKind.CONFIRMED)
            changes["confirmed"] = True
        if severity is not None and severity > current.severity:
            what.append(UpdateKind.SEVERITY)
            changes["severity"] = severity
        # A title is rewritten only when what it says changed (confirmed, more severe), so a
        # repeat carrying a fresh reading does not churn it.
        if title is not None and title != current.title and what and what[-1] is not UpdateKind.REPEAT:
            changes["title"] = title
        room = settings.evidence_cap - len(current.evidence)
        fresh = tuple(item for item in evidence if item not in current.evidence)[: max(room, 0)]
        if fresh:
            what.append(UpdateKind.EVIDENCE)
            changes["evidence"] = current.evidence + fresh
        if device is not None and device != current.key.device and device not in current.devices:
            changes["devices"] = (*current.devices, device)
        added = tuple(item for item in audiences(*audience) if item not in current.audiences)
        if added and not current.drill:
            changes["audiences"] = audiences(*current.audiences, *added)
        else:
            added = ()
        alert = msgspec.structs.replace(current, **changes)
        self.put(alert)
        actions: list[Action] = []
        if what:
            actions.append(Updated(alert, tuple(what)))
        if added:
            actions.append(Escalated(alert, added))
            if alert.announced:
                actions.append(Notify(alert, NotifyEvent.ESCALATED))
        return actions

    def clear(
        self,
        key: AlertKey,
        now: datetime,
        *,
        auto_resolve: bool,
        classification: Classification | None = None,
        by: str = lifecycle.SYSTEM_ACTOR,
    ) -> list[Action]:
        """The condition behind `key` ended. Self-restoring conditions (`auto_resolve`) close
        their alert (as `by`: the engine, or the person whose work ended it); latched ones only
        record when the condition ended and stay open."""
        current = self.open.get(key)
        if current is None:
            return []
        if auto_resolve:
            alert = lifecycle.resolve(
                msgspec.structs.replace(current, condition_cleared_at=now),
                by,
                now,
                classification,
            )
            self.put(alert)
            actions: list[Action] = [Cleared(alert)]
            if alert.announced:
                actions.append(Notify(alert, NotifyEvent.RESOLVED))
            return actions
        if current.condition_cleared_at is not None:
            return []
        alert = msgspec.structs.replace(current, condition_cleared_at=now)
        self.put(alert)
        return [Cleared(alert)]

    def set_inhibition(self, key: AlertKey, inhibited_by: str | None) -> list[Action]:
        """Cover an alert by a site-wide one (`inhibited_by` its id), or lift the cover. An alert
        first opened under cover is announced (alert.opened) when the cover lifts."""
        current = self.open.get(key)
        if current is None or current.inhibited_by == inhibited_by:
            return []
        if inhibited_by is not None:
            alert = msgspec.structs.replace(current, inhibited_by=inhibited_by)
            self.put(alert)
            return [Updated(alert, (UpdateKind.INHIBITED,))]
        alert = msgspec.structs.replace(current, inhibited_by=None, announced=True)
        self.put(alert)
        actions: list[Action] = [Updated(alert, (UpdateKind.UNINHIBITED,))]
        if not current.announced:
            actions.append(Notify(alert, NotifyEvent.OPENED))
        return actions
