"""Fire rules, with the semantics of GB/T 26875 fire-alarm monitoring.

- `fire_alarm` from one detector opens a critical, *unconfirmed* fire alert at once,
  to the monitoring center and the site's custodians (the people who can look).
- It is *confirmed* by a second, independent signal (the "two alarm signals" logic of
  GB 50116 linkage): another detector in the same zone alarming within
  `fire_confirm_window_s` of the first, a `manual_alarm` (someone pressed a call point),
  or a video/drone `smoke`/`flame` at the same site (same zone when the signal names
  one). Confirmation raises the alert to the fire brigade, the culture bureau and the
  police (GB 50440: confirmed fire alarms go to the 119 center). A manual call point
  with no fire alert open opens one already confirmed: a person saw the fire.
- One fire alert per (site, zone): a second detector in the zone joins the open alert
  (`devices`) instead of opening another. The key is (site, first device,
  `fire.alarm:<zone>`), so a panel reporting two zones has two alerts.
- A fire alarm is latched, as on the panel: a detector's restore (`clear`) or a panel
  `reset` records that the condition ended (`Cleared`), and the alert stays open until
  a person resolves it with a classification.
- `fault`, `shield`, `supervisory`, `power_fault` are conditions of the reporting device,
  open until that device sends the same type with `clear: true` or a `reset`; they restore
  themselves (GB 4717 panels do not latch faults), so clearing resolves them.
- `test`: the device is being tested. A drill alert (info, monitoring center only,
  `drill=True`) records it, and any fire alarm from that device during the test counts
  on the drill alert, never reaching an agency. `test` with `clear` or a `reset` ends it.
- A detector is the event's device plus its `address` attribute when it sends one
  (a panel reporting loop/point addresses); otherwise the device itself.
- Zone: the event's `zone`, else the device's zone in the registry, else none (then the
  alert is per device, and only a manual call point or a site-wide video signal confirms it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from alerts.model import (
    Action,
    AlertKey,
    Audience,
    Category,
    Classification,
    Evidence,
    Severity,
)
from alerts.rules.common import AGENCIES_FIRE, LOCAL, AlertBook, RuleContext, make_title, zoned_rule
from sensors.model import Event

FIRE_ALARM_RULE: Final = "fire.alarm"
TEST_RULE: Final = "fire.test"

TITLE_UNCONFIRMED: Final = "火警（未确认）"
TITLE_CONFIRMED: Final = "火警（已确认）"


@dataclass(frozen=True, slots=True)
class ConditionRule:
    rule: str
    label: str
    category: Category
    severity: Severity
    # What a supervisor counts when the condition restores itself.
    classification: Classification | None


CONDITIONS: Final[dict[str, ConditionRule]] = {
    "fault": ConditionRule("fire.fault", "消防设备故障", Category.DEVICE, Severity.MAJOR, Classification.DEVICE_FAULT),
    "power_fault": ConditionRule(
        "fire.power_fault", "消防电源故障", Category.DEVICE, Severity.MAJOR, Classification.DEVICE_FAULT
    ),
    "supervisory": ConditionRule("fire.supervisory", "消防监管报警", Category.FIRE, Severity.MAJOR, None),
    # Detectors switched off on purpose: visible until switched back, but no incident in itself.
    "shield": ConditionRule("fire.shield", "消防设备屏蔽", Category.DEVICE, Severity.MINOR, None),
}


@dataclass(slots=True)
class Incident:
    """An open fire alert of one (site, zone) and when each detector last alarmed."""

    key: AlertKey
    zone: str | None
    detectors: dict[str, datetime] = field(default_factory=dict)


@dataclass(slots=True)
class FireState:
    # (site, zone, or "@device" when there is no zone) -> incident
    incidents: dict[tuple[str, str], Incident] = field(default_factory=dict)
    # (site, zone or None) -> last video/drone smoke or flame there, for alarms that follow it
    signals: dict[tuple[str, str | None], tuple[datetime, str, tuple[Evidence, ...]]] = field(default_factory=dict)
    # (site, device) under test
    testing: set[tuple[str, str]] = field(default_factory=set)


def _zone_slot(zone: str | None, device: str) -> str:
    return zone if zone is not None else f"@{device}"


def _detector(event: Event) -> str:
    address = event.attrs.get("address")
    if isinstance(address, str | int) and not isinstance(address, bool):
        return f"{event.device}:{address}"
    return event.device


def _live(state: FireState, book: AlertBook, slot: tuple[str, str]) -> Incident | None:
    incident = state.incidents.get(slot)
    if incident is None:
        return None
    if book.get(incident.key) is None:  # closed by a person since: a new alarm is a new incident
        del state.incidents[slot]
        return None
    return incident


def on_event(state: FireState, book: AlertBook, event: Event, now: datetime, ctx: RuleContext) -> list[Action]:
    kind = event.type
    zone = event.zone if event.zone is not None else ctx.device_zone(event.site, event.device)
    if kind == "fire_alarm":
        if event.clear:
            return _alarm_restored(state, book, event, zone, now)
        if (event.site, event.device) in state.testing:
            return _drill(book, event, zone, now, ctx, repeat=True)
        return _detector_alarm(state, book, event, zone, now, ctx)
    if kind == "manual_alarm":
        if event.clear:
            return _alarm_restored(state, book, event, zone, now)
        if (event.site, event.device) in state.testing:
            return _drill(book, event, zone, now, ctx, repeat=True)
        return _manual_alarm(state, book, event, zone, now, ctx)
    condition = CONDITIONS.get(kind)
    if condition is not None:
        key = AlertKey(event.site, event.device, condition.rule)
        if event.clear:
            return book.clear(key, now, auto_resolve=True, classification=condition.classification)
        return book.report(
            key,
            now,
            category=condition.category,
            severity=condition.severity,
            title=make_title(condition.label, ctx.site_name(event.site), zone or event.device),
            audience=LOCAL,
            settings=ctx.settings,
            zone=zone,
        )
    if kind == "test":
        if event.clear:
            state.testing.discard((event.site, event.device))
            return book.clear(AlertKey(event.site, event.device, TEST_RULE), now, auto_resolve=True)
        state.testing.add((event.site, event.device))
        return _drill(book, event, zone, now, ctx, repeat=True)
    if kind == "reset":
        return _reset(state, book, event, now)
    return []  # heartbeat, feedback: traffic only (the device rules count it)


def _confirmers(incident: Incident, detector: str, now: datetime, window_s: float) -> bool:
    return any(
        other != detector and (now - seen).total_seconds() <= window_s for other, seen in incident.detectors.items()
    )


def _recent_signal(
    state: FireState, site: str, zone: str | None, now: datetime, window_s: float
) -> tuple[datetime, str, tuple[Evidence, ...]] | None:
    for slot in ((site, zone), (site, None)) if zone is not None else ((site, None),):
        signal = state.signals.get(slot)
        if signal is not None and (now - signal[0]).total_seconds() <= window_s:
            return signal
    if zone is None:
        # An alarm with no zone is matched by a signal in any zone of the site.
        for (signal_site, _), signal in state.signals.items():
            if signal_site == site and (now - signal[0]).total_seconds() <= window_s:
                return signal
    return None


def _detector_alarm(
    state: FireState, book: AlertBook, event: Event, zone: str | None, now: datetime, ctx: RuleContext
) -> list[Action]:
    window = ctx.settings.fire_confirm_window_s
    detector = _detector(event)
    slot = (event.site, _zone_slot(zone, event.device))
    incident = _live(state, book, slot)
    site_name = ctx.site_name(event.site)
    if incident is not None:
        current = book.get(incident.key)
        assert current is not None  # _live checked it
        confirm = not current.confirmed and _confirmers(incident, detector, now, window)
        incident.detectors[detector] = now
        return book.report(
            incident.key,
            now,
            category=Category.FIRE,
            severity=Severity.CRITICAL,
            title=make_title(
                TITLE_CONFIRMED if confirm else TITLE_UNCONFIRMED, site_name, incident.zone or incident.key.device
            ),
            audience=LOCAL + AGENCIES_FIRE if confirm else LOCAL,
            settings=ctx.settings,
            confirmed=confirm,
            device=event.device,
        )
    signal = _recent_signal(state, event.site, zone, now, window)
    confirm = signal is not None
    key = AlertKey(event.site, event.device, zoned_rule(FIRE_ALARM_RULE, zone))
    state.incidents[slot] = Incident(key, zone, {detector: now})
    return book.report(
        key,
        now,
        category=Category.FIRE,
        severity=Severity.CRITICAL,
        title=make_title(TITLE_CONFIRMED if confirm else TITLE_UNCONFIRMED, site_name, zone or event.device),
        audience=LOCAL + AGENCIES_FIRE if confirm else LOCAL,
        settings=ctx.settings,
        zone=zone,
        confirmed=confirm,
        evidence=signal[2] if signal is not None else (),
        device=signal[1] if signal is not None else None,
    )


def _manual_alarm(
    state: FireState, book: AlertBook, event: Event, zone: str | None, now: datetime, ctx: RuleContext
) -> list[Action]:
    site_name = ctx.site_name(event.site)
    matched = _matching_incidents(state, book, event.site, zone)
    if matched:
        actions: list[Action] = []
        for incident in matched:
            actions += _confirm(book, incident, event.device, (), now, ctx, repeat=True)
        return actions
    key = AlertKey(event.site, event.device, zoned_rule(FIRE_ALARM_RULE, zone))
    state.incidents[(event.site, _zone_slot(zone, event.device))] = Incident(key, zone, {_detector(event): now})
    return book.report(
        key,
        now,
        category=Category.FIRE,
        severity=Severity.CRITICAL,
        title=make_title(TITLE_CONFIRMED, site_name, zone or event.device),
        audience=LOCAL + AGENCIES_FIRE,
        settings=ctx.settings,
        zone=zone,
        confirmed=True,
    )


def _matching_incidents(state: FireState, book: AlertBook, site: str, zone: str | None) -> list[Incident]:
    """Live incidents at `site` in `zone`; every live incident at the site when `zone` is None."""
    if zone is not None:
        incident = _live(state, book, (site, zone))
        return [incident] if incident is not None else []
    slots = sorted(slot for slot in state.incidents if slot[0] == site)
    return [incident for slot in slots if (incident := _live(state, book, slot)) is not None]


def _confirm(
    book: AlertBook,
    incident: Incident,
    device: str,
    evidence: tuple[Evidence, ...],
    now: datetime,
    ctx: RuleContext,
    *,
    repeat: bool,
) -> list[Action]:
    current = book.get(incident.key)
    assert current is not None
    return book.report(
        incident.key,
        now,
        category=Category.FIRE,
        severity=Severity.CRITICAL,
        title=make_title(TITLE_CONFIRMED, ctx.site_name(incident.key.site), incident.zone or incident.key.device),
        audience=LOCAL + AGENCIES_FIRE,
        settings=ctx.settings,
        confirmed=True,
        evidence=evidence,
        device=device,
        repeat=repeat,
    )


def on_fire_signal(
    state: FireState,
    book: AlertBook,
    site: str,
    zone: str | None,
    device: str,
    evidence: tuple[Evidence, ...],
    now: datetime,
    ctx: RuleContext,
) -> list[Action]:
    """A camera or drone saw smoke or flame: confirm the fire alerts it matches, and remember
    it for the window so that a detector alarm that follows is confirmed at once."""
    state.signals[(site, zone)] = (now, device, evidence)
    actions: list[Action] = []
    for incident in _matching_incidents(state, book, site, zone):
        actions += _confirm(book, incident, device, evidence, now, ctx, repeat=False)
    return actions


def _alarm_restored(state: FireState, book: AlertBook, event: Event, zone: str | None, now: datetime) -> list[Action]:
    incident = _live(state, book, (event.site, _zone_slot(zone, event.device)))
    if incident is None:
        return []
    incident.detectors.pop(_detector(event), None)
    if incident.detectors:
        return []  # another detector of the zone is still in alarm
    return book.clear(incident.key, now, auto_resolve=False)


def _drill(
    book: AlertBook, event: Event, zone: str | None, now: datetime, ctx: RuleContext, *, repeat: bool
) -> list[Action]:
    return book.report(
        AlertKey(event.site, event.device, TEST_RULE),
        now,
        category=Category.FIRE,
        severity=Severity.INFO,
        title=make_title("消防测试（演练）", ctx.site_name(event.site), zone or event.device),
        audience=(Audience.MONITORING_CENTER,),
        settings=ctx.settings,
        zone=zone,
        drill=True,
        repeat=repeat,
    )


def _reset(state: FireState, book: AlertBook, event: Event, now: datetime) -> list[Action]:
    """A panel reset ends this device's conditions and test, and marks the fire alarms it
    reported as no longer active (they stay open for a person to close)."""
    actions: list[Action] = []
    for condition in CONDITIONS.values():
        actions += book.clear(
            AlertKey(event.site, event.device, condition.rule),
            now,
            auto_resolve=True,
            classification=condition.classification,
        )
    state.testing.discard((event.site, event.device))
    actions += book.clear(AlertKey(event.site, event.device, TEST_RULE), now, auto_resolve=True)
    for slot in sorted(slot for slot in state.incidents if slot[0] == event.site):
        incident = _live(state, book, slot)
        if incident is None:
            continue
        alert = book.get(incident.key)
        assert alert is not None
        if incident.key.device == event.device or event.device in alert.devices:
            incident.detectors.clear()
            actions += book.clear(incident.key, now, auto_resolve=False)
    return actions
