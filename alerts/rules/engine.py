"""The rule engine: every rule family behind two calls, `evaluate` (a record) and `tick` (time).

    engine = rebuild(open_alerts_from_db, now, ctx)      # or Engine() on a fresh system
    engine, actions = evaluate(engine, record, now, ctx)  # per alarm-lane / telemetry record
    engine, actions = tick(engine, now, ctx)              # every second or so
    engine, actions = acknowledge(engine, alert_id, by, now)   # operator commands

No I/O, no clock, no threads: `now` comes in, actions go out, and the dispatcher acts on
them. `Engine` is mutable and changed in place (see `alerts.rules.common` for why); the
calls return it anyway so that callers read as the pure shape they are. One engine per
process, driven from one thread (the daemon's event loop).

Order of work for a record: first the device is marked as heard from (any record
counts), so a detector that comes back *with* a fire alarm resolves its offline alert
before the fire alert opens; then the family of its source decides.

Operator commands go through the engine, not straight to `alerts.lifecycle`, so that the
book frees the key of a closed alert (a recurrence opens a new alert) and a fire incident
closed by a person is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from alerts import lifecycle
from alerts.errors import UnknownAlertError
from alerts.model import Action, Alert, Classification, Notify, NotifyEvent, Updated, UpdateKind
from alerts.rules import devices, fire, security, thresholds, video_drone
from alerts.rules.common import AlertBook, RuleContext, evidence_of
from sensors.model import Event, Record, Source, StatusChange, Telemetry


@dataclass(slots=True)
class Engine:
    book: AlertBook = field(default_factory=AlertBook)
    fire: fire.FireState = field(default_factory=fire.FireState)
    security: security.SecurityState = field(default_factory=security.SecurityState)
    devices: devices.DeviceState = field(default_factory=devices.DeviceState)
    thresholds: thresholds.ThresholdState = field(default_factory=thresholds.ThresholdState)

    @property
    def open_alerts(self) -> list[Alert]:
        """Open and acknowledged alerts, in key order."""
        return [self.book.open[key] for key in sorted(self.book.open)]


def evaluate(engine: Engine, record: Record, now: datetime, ctx: RuleContext) -> tuple[Engine, list[Action]]:
    if isinstance(record, StatusChange):
        return engine, devices.status(engine.devices, engine.book, record.site, record.device, record.online, now, ctx)
    actions = devices.seen(engine.devices, engine.book, record.site, record.device, now, ctx)
    if isinstance(record, Telemetry):
        if ctx.thresholds:
            actions += thresholds.on_telemetry(engine.thresholds, engine.book, record, now, ctx)
    elif isinstance(record, Event):
        actions += _on_event(engine, record, now, ctx)
    return engine, actions


def _on_event(engine: Engine, event: Event, now: datetime, ctx: RuleContext) -> list[Action]:
    source = event.source
    if source is Source.FIRE:
        return fire.on_event(engine.fire, engine.book, event, now, ctx)
    if source is Source.SECURITY:
        return security.on_event(engine.security, engine.book, event, now, ctx)
    if source is Source.VIDEO or source is Source.DRONE:
        zone = event.zone if event.zone is not None else ctx.device_zone(event.site, event.device)
        # A camera may say its zone is armed by its own schedule (`armed: true`, our video analysis).
        armed = engine.security.is_armed(event.site, zone) or event.attrs.get("armed") is True
        if source is Source.VIDEO:
            rule = video_drone.video_rule(event)
            actions = video_drone.on_video_event(engine.book, event, now, ctx, armed=armed)
        else:
            rule = video_drone.drone_rule(event)
            actions = video_drone.on_drone_event(engine.book, event, now, ctx, armed=armed)
        if rule is not None and rule.fire_signal and not event.clear:
            evidence = evidence_of(event.attrs)
            actions += fire.on_fire_signal(engine.fire, engine.book, event.site, zone, event.device, evidence, now, ctx)
        return actions
    return []  # patrol: hazards and missed rounds come with the patrol issue


def tick(engine: Engine, now: datetime, ctx: RuleContext) -> tuple[Engine, list[Action]]:
    """Time passing: heartbeat deadlines and threshold durations that fell due."""
    actions = devices.check_heartbeats(engine.devices, engine.book, now, ctx)
    actions += thresholds.tick(engine.thresholds, engine.book, now, ctx)
    return engine, actions


# Operator commands --------------------------------------------------------------------------


def _held(engine: Engine, alert_id: str) -> Alert:
    key = engine.book.by_id.get(alert_id)
    if key is None:
        raise UnknownAlertError(alert_id)
    return engine.book.open[key]


def acknowledge(engine: Engine, alert_id: str, by: str, now: datetime) -> tuple[Engine, list[Action]]:
    alert = lifecycle.acknowledge(_held(engine, alert_id), by, now)
    engine.book.put(alert)
    return engine, [Updated(alert, (UpdateKind.ACKNOWLEDGED,)), Notify(alert, NotifyEvent.ACKNOWLEDGED)]


def assign(engine: Engine, alert_id: str, to: str, by: str) -> tuple[Engine, Alert]:
    """Record who owns the follow-up; no notification (the assignee is told by the dashboard)."""
    alert = lifecycle.assign(_held(engine, alert_id), to, by)
    engine.book.put(alert)
    return engine, alert


def resolve(
    engine: Engine,
    alert_id: str,
    by: str,
    now: datetime,
    classification: Classification,
    note: str | None = None,
) -> tuple[Engine, list[Action]]:
    alert = lifecycle.resolve(_held(engine, alert_id), by, now, classification, note)
    return engine, _closed(engine, alert, UpdateKind.RESOLVED)


def mark_false_alarm(
    engine: Engine, alert_id: str, by: str, now: datetime, note: str | None = None
) -> tuple[Engine, list[Action]]:
    alert = lifecycle.mark_false_alarm(_held(engine, alert_id), by, now, note)
    return engine, _closed(engine, alert, UpdateKind.FALSE_ALARM)


def _closed(engine: Engine, alert: Alert, what: UpdateKind) -> list[Action]:
    engine.book.put(alert)  # frees the key
    if alert.rule.startswith(fire.TEST_RULE):
        engine.fire.testing.discard((alert.site, alert.device))
    return [Updated(alert, (what,)), Notify(alert, NotifyEvent.RESOLVED)]


# Start-up -----------------------------------------------------------------------------------


def rebuild(
    open_alerts: Iterable[Alert],
    now: datetime,
    ctx: RuleContext,
    *,
    armed: Mapping[tuple[str, str | None], bool] | None = None,
) -> Engine:
    """An engine holding the open alerts read back from the database, with the derived state
    they imply: fire incidents per zone, devices under test, devices and sites offline. Every
    registered device with a heartbeat is watched from `now` (a full period of grace).
    `armed` is the last arm/disarm per (site, zone) from the event history.

    Lost across a restart, by design: when each detector of a zone last alarmed (so a second
    detector confirms only within the window after the restart), pending threshold breaches
    (the clock restarts at the next breaching reading)."""
    engine = Engine()
    for alert in open_alerts:
        if not alert.status.is_open:
            continue
        engine.book.put(alert)
        rule = alert.rule
        if rule.startswith(fire.FIRE_ALARM_RULE):
            slot = (alert.site, alert.zone if alert.zone is not None else f"@{alert.device}")
            engine.fire.incidents[slot] = fire.Incident(alert.key, alert.zone)
        elif rule == fire.TEST_RULE:
            engine.fire.testing.add((alert.site, alert.device))
        elif rule == devices.OFFLINE_RULE:
            devices.restore_offline(
                engine.devices, alert.site, alert.device, ctx.heartbeat_s(alert.site, alert.device), now
            )
        elif rule == devices.UNREACHABLE_RULE:
            engine.devices.unreachable.add(alert.site)
    for (site, device), facts in ctx.devices.items():
        if facts.heartbeat_s:
            if (site, device) in engine.devices.watches:
                watch = engine.devices.watches[(site, device)]
                watch.heartbeat_s = float(facts.heartbeat_s)
            else:
                devices.watch(engine.devices, site, device, float(facts.heartbeat_s), now)
    if armed:
        engine.security.armed.update(armed)
    return engine
