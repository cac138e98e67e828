"""The alert service: the pure engine driven by the daemon's records and clock, its actions turned
into notifications, timers and records.

    alarm lane ─ on_record ─┐                         ┌─ journal (database + audit trail, later)
    workers ── on_feed ─────┼─► engine ─► actions ─► ┤
    timer ──── tick ────────┘        ▲                └─ grouping ─► routing ─► dispatcher (now)
    API ────── acknowledge / assign / resolve ─┘

Everything here runs on the daemon's event loop, one call at a time, and never waits on I/O:
the dispatcher starts delivery tasks, the journal queues records for its own thread. So a fire
alarm is evaluated and its notifications are on their way while the database is down, and what
happened lands in the database when it returns (the journal holds it).

What this layer adds to the pure parts (`alerts.*`):
- maintenance windows: applied when an alert opens (a drill marks it, a repair narrows it to the
  monitoring center; stored on the engine's alert, so escalation skips drills) and again on every
  notification (a window may have begun since);
- escalation and reminders: one timer per planned alert (`EscalationBook.next_due`), kept in a
  heap with the latest due time per alert; a popped entry that is no longer the latest is stale;
- grouping: a site's notifications within `group_wait_s` leave as one per recipient; the most
  severe alert leads the body (`alert`), the others follow in `related` (each with its ack_url);
- ack links: every notification about an open alert carries an `ack_url` for its recipient.

State lost on restart and rebuilt: open alerts and what they imply (`alerts.rules.engine.rebuild`);
escalation steps already taken are recognised by the audiences the stored alert carries, so only
reminders may repeat once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from alerts import ack_token, maintenance
from alerts.errors import InvalidResolutionError, UnknownAlertError
from alerts.escalation import EscalationBook, PolicyTable
from alerts.grouping import DEFAULT_WAIT_S, Group, Grouper, per_recipient
from alerts.model import (
    Action,
    Alert,
    AlertKey,
    AlertStatus,
    Audience,
    Category,
    Classification,
    Cleared,
    Escalated,
    Notify,
    NotifyEvent,
    Opened,
    Severity,
    Updated,
)
from alerts.notification import alert_object, notification_body
from alerts.routing import Recipient, route
from alerts.rules import devices
from alerts.rules import engine as rules
from alerts.rules.common import RuleContext, make_title
from relic_guard import metrics
from relic_guard.alerting.dispatch import Dispatcher, JournalPort, Notice
from relic_guard.alerting.records import SYSTEM_ACTOR, AlertSnapshot, TimelineEntry
from relic_guard.registry import Site
from relic_guard.routing_load import RoutingConfig
from sensors.model import Record

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Monitor(Protocol):
    """A watcher ticked with the alert engine (`AlertService.monitors`)."""

    def tick(self, now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class AckLinks:
    """`ack_url`s: `<public_url>/ack/<token>`, the token signed and expiring (alerts.ack_token)."""

    public_url: str
    secret: bytes
    ttl_s: float

    def url(self, alert_id: str, recipient: str, now: datetime) -> str:
        token = ack_token.issue(self.secret, alert_id, recipient, now + timedelta(seconds=self.ttl_s))
        return f"{self.public_url.rstrip('/')}/ack/{token}"


class AlertService:
    def __init__(
        self,
        *,
        ctx: RuleContext,
        sites: Mapping[str, Site],
        routing: RoutingConfig | None,
        journal: JournalPort,
        dispatcher: Dispatcher | None,
        ack_links: AckLinks | None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.ctx = ctx
        self.sites = sites
        self.routing = routing
        self.journal = journal
        self.dispatcher = dispatcher
        self.ack_links = ack_links
        self.clock = clock
        self.engine = rules.rebuild((), clock(), ctx)
        self.escalation = EscalationBook(routing.policies if routing is not None else PolicyTable())
        self.grouper = Grouper(routing.group_wait_s if routing is not None else DEFAULT_WAIT_S)
        self.windows = list(routing.windows) if routing is not None else []
        self._timers: list[tuple[float, int, str]] = []
        self._timer_due: dict[str, float] = {}
        self._seq = itertools.count()
        self._counted_at = 0.0
        # Told of every alert change (the dashboard's live queue subscribes here).
        self.listeners: list[Callable[[Alert], None]] = []
        # Watchers beside the rule engine that run on this loop and raise their alerts through
        # `raise_condition` (the drone monitor): ticked with the engine, and found by name by the
        # API (which aircraft are in the air now).
        self.monitors: dict[str, Monitor] = {}
        if routing is None:
            log.warning("no routing configured ([alerts] routing_file): alerts are recorded and shown, not sent")

    # Start-up -----------------------------------------------------------------------------

    def restore(self, open_alerts: Iterable[Alert], armed: Mapping[tuple[str, str | None], bool] | None = None) -> int:
        """Take up the open alerts stored before a restart; returns how many."""
        now = self.clock()
        self.engine = rules.rebuild(open_alerts, now, self.ctx, armed=armed)
        for alert in self.engine.open_alerts:
            self._schedule(alert)
        self._count_open()
        return len(self.engine.book.open)

    # Inputs -------------------------------------------------------------------------------

    def on_record(self, record: Record) -> None:
        """An alarm-lane record (fire, security, status), straight from the broker."""
        since = time.monotonic()
        now = self.clock()
        _, actions = rules.evaluate(self.engine, record, now, self.ctx)
        if actions:
            self._handle(actions, now, since)

    def on_feed(self, heard: Iterable[tuple[str, str]], records: Iterable[Record]) -> None:
        """From a telemetry worker, once per batch: the devices heard from (liveness), and the
        records rules need (video and drone events, readings of metrics with thresholds)."""
        since = time.monotonic()
        now = self.clock()
        actions: list[Action] = []
        for site, device in heard:
            actions += devices.seen(self.engine.devices, self.engine.book, site, device, now, self.ctx)
        for record in records:
            actions += rules.evaluate(self.engine, record, now, self.ctx)[1]
        if actions:
            self._handle(actions, now, since)

    def tick(self) -> None:
        """Time passing: heartbeat deadlines, threshold durations, escalations, reminders, groups."""
        now = self.clock()
        _, actions = rules.tick(self.engine, now, self.ctx)
        if actions:
            self._handle(actions, now, None)
        at = now.timestamp()
        while self._timers and self._timers[0][0] <= at:
            due, _, alert_id = heapq.heappop(self._timers)
            if self._timer_due.get(alert_id) != due:
                continue  # stale: rescheduled or closed since
            del self._timer_due[alert_id]
            alert = self._open(alert_id)
            if alert is None:
                continue
            planned = self.escalation.plan(alert, now)
            if planned:
                self._handle(list(planned), now, None)
            self._schedule(self._open(alert_id) or alert)
        for name, monitor in self.monitors.items():
            try:
                monitor.tick(now)
            except Exception:  # one monitor's bug must not stop heartbeats and escalations
                log.exception("%s monitor tick failed", name)
        for group in self.grouper.due(now):
            self._send_group(group, now, None)
        # The gauge walks every open alert: once a second is plenty (ticks come every 200 ms, and a
        # site-wide outage can hold tens of thousands of offline alerts).
        if time.monotonic() - self._counted_at >= 1.0:
            self._count_open()

    def raise_condition(
        self,
        key: AlertKey,
        *,
        category: Category,
        severity: Severity,
        label: str,
        where: str | None,
        audiences: tuple[Audience, ...],
        detail: Mapping[str, object] | None = None,
    ) -> Alert:
        """An alert found by scheduled work rather than by a device (a patrol round missed, a
        hazard overdue): opened (or updated, by its key) like any other, through the same book,
        windows, routing, escalation and records."""
        now = self.clock()
        title = make_title(label, self.ctx.site_name(key.site), where)
        actions = self.engine.book.report(
            key, now, category=category, severity=severity, title=title, audience=audiences,
            settings=self.ctx.settings,
        )
        self._handle(actions, now, None)
        current = self.engine.book.open[key]  # report() always leaves an open alert under the key
        if detail:
            self._timeline(current.id, now, "detail", SYSTEM_ACTOR, dict(detail))
        return current

    def end_condition(
        self, key: AlertKey, *, resolve: bool = True, by: str = SYSTEM_ACTOR, note: str | None = None,
        classification: Classification | None = None,
    ) -> Alert | None:
        """The condition behind an alert `raise_condition` opened is over. `resolve`: the alert
        closes now as a condition that ended, without a classification unless one is given (no
        incident to count: a hazard rectified, an inspection done, a drone back inside its allowed
        area); else it is only marked ended and held open for a person (a forced landing: someone
        must go and look). `note` goes on its timeline, by `by`. None when nothing is open under
        `key`, or nothing changed."""
        current = self.engine.book.open.get(key)
        if current is None:
            return None
        now = self.clock()
        actions = self.engine.book.clear(key, now, auto_resolve=resolve, classification=classification, by=by)
        if not actions:
            return None
        if note:
            self._timeline(current.id, now, "note", by, {"text": note[:2000]})
        self._handle(actions, now, None, actor=by)
        return self._latest(current.id, actions)

    # Commands (the API and ack links) -----------------------------------------------------------

    def acknowledge(self, alert_id: str, by: str) -> Alert:
        now = self.clock()
        _, actions = rules.acknowledge(self.engine, alert_id, by, now)
        self._handle(actions, now, None, actor=by)
        return self._latest(alert_id, actions)

    def assign(self, alert_id: str, to: str, by: str) -> Alert:
        now = self.clock()
        _, alert = rules.assign(self.engine, alert_id, to, by)
        alert = self.escalation.current(alert)
        self.journal.put(AlertSnapshot(alert))
        self._timeline(alert.id, now, "assigned", by, {"to": alert.assigned_to})
        self._tell(alert)
        return alert

    def annotate(self, alert_id: str, note: str, by: str) -> Alert:
        """A remark on an open alert's timeline (what was seen, who was called); no state change."""
        alert = self.get(alert_id)
        if alert is None:
            raise UnknownAlertError(alert_id)
        text = note.strip()
        if not text:
            raise InvalidResolutionError("a note needs some text")
        self._timeline(alert_id, self.clock(), "note", by, {"text": text[:2000]})
        return alert

    def resolve(
        self, alert_id: str, by: str, *, classification: Classification | None, note: str | None = None
    ) -> Alert:
        now = self.clock()
        if classification is None or classification is Classification.FALSE_ALARM:
            _, actions = rules.mark_false_alarm(self.engine, alert_id, by, now, note)
        else:
            _, actions = rules.resolve(self.engine, alert_id, by, now, classification, note)
        self._handle(actions, now, None, actor=by)
        return self._latest(alert_id, actions)

    # Reads ------------------------------------------------------------------------------------

    def open_alerts(self) -> list[Alert]:
        return [self.escalation.current(alert) for alert in self.engine.open_alerts]

    def get(self, alert_id: str) -> Alert | None:
        alert = self._open(alert_id)
        return self.escalation.current(alert) if alert is not None else None

    # Actions → records, timers, notifications ---------------------------------------------------

    def _open(self, alert_id: str) -> Alert | None:
        key = self.engine.book.by_id.get(alert_id)
        return self.engine.book.open.get(key) if key is not None else None

    @staticmethod
    def _latest(alert_id: str, actions: list[Action]) -> Alert:
        return [action.alert for action in actions if action.alert.id == alert_id][-1]

    def _handle(self, actions: list[Action], now: datetime, since: float | None, actor: str = SYSTEM_ACTOR) -> None:
        touched: dict[str, Alert] = {}
        for action in actions:
            alert = action.alert
            if isinstance(action, Opened):
                alert = self._under_windows(alert, now)
                self._timeline(alert.id, now, "opened", SYSTEM_ACTOR, _opened_detail(alert))
            elif isinstance(action, Updated):
                for what in action.what:
                    self._timeline(alert.id, now, what.value, actor if _by_person(what.value) else SYSTEM_ACTOR,
                                   _updated_detail(alert, what.value))
            elif isinstance(action, Escalated):
                self._timeline(alert.id, now, "escalated", SYSTEM_ACTOR,
                               {"added": [item.value for item in action.added]})
            elif isinstance(action, Cleared):
                self._timeline(alert.id, now, "cleared", SYSTEM_ACTOR, {"status": alert.status.value})
                if not alert.status.is_open:
                    self._timeline(alert.id, now, "resolved", SYSTEM_ACTOR,
                                   {"classification": alert.classification.value if alert.classification else None})
            elif isinstance(action, Notify):
                self._notify(alert, action.event, now, since)
                if action.event is NotifyEvent.REMINDER:
                    self._timeline(alert.id, now, "reminder", SYSTEM_ACTOR, {})
            touched[alert.id] = alert
        for alert_id, last in touched.items():
            current = self._open(alert_id)
            final = self.escalation.current(current if current is not None else last)
            self.journal.put(AlertSnapshot(final))
            self._tell(final)
            if current is None:
                self.escalation.forget((alert_id,))
                self._timer_due.pop(alert_id, None)
            else:
                self._schedule(current)

    def _under_windows(self, alert: Alert, now: datetime) -> Alert:
        """An alert opened during a drill or repair window, as the window wants it recorded."""
        window = maintenance.active_window(alert, self.windows, now)
        if window is None:
            return alert
        changed, _suppressed = maintenance.apply(alert, self.windows, now)
        if changed != alert:
            self.engine.book.put(changed)
        self._timeline(alert.id, now, window.kind.value, window.set_by,
                       {"reason": window.reason, "until": window.end.isoformat()})
        return changed

    def _schedule(self, alert: Alert) -> None:
        due = self.escalation.next_due(alert)
        if due is None:
            self._timer_due.pop(alert.id, None)
            return
        at = due.timestamp()
        if self._timer_due.get(alert.id) == at:
            return
        self._timer_due[alert.id] = at
        heapq.heappush(self._timers, (at, next(self._seq), alert.id))

    def _timeline(self, alert_id: str, now: datetime, kind: str, actor: str, detail: Mapping[str, object]) -> None:
        metrics.ALERT_ACTIONS.labels(kind=kind).inc()
        self.journal.put(TimelineEntry(alert_id=alert_id, at=now, kind=kind, actor=actor, detail=dict(detail)))

    def _tell(self, alert: Alert) -> None:
        for listener in self.listeners:
            try:
                listener(alert)
            except Exception:
                log.exception("alert listener %r failed", listener)

    def _count_open(self) -> None:
        self._counted_at = time.monotonic()
        counts = Counter(alert.severity for alert in self.engine.book.open.values())
        for severity in Severity:
            metrics.ALERTS_OPEN.labels(severity=severity.value).set(counts.get(severity, 0))

    def _notify(self, alert: Alert, event: NotifyEvent, now: datetime, since: float | None) -> None:
        alert = self.escalation.current(alert)
        sent, suppressed = maintenance.apply(alert, self.windows, now)
        if suppressed:
            self._timeline(alert.id, now, "suppressed", SYSTEM_ACTOR, {"event": event.value})
            return
        for group in self.grouper.add(Notify(sent, event), now):
            self._send_group(group, now, since)

    def _send_group(self, group: Group, now: datetime, since: float | None) -> None:
        site = self.sites.get(group.site)
        routing = self.routing
        if routing is None or self.dispatcher is None:
            return
        if site is None:
            log.error("alert at unknown site %s: routed to no one; add the site to sites.csv", group.site)
            return
        dispatcher = self.dispatcher

        def recipients_of(item: Notify) -> list[Recipient]:
            return route(item.alert, site, routing.rules, routing.directory)

        batches = per_recipient(group, recipients_of)
        if not batches:
            for item in group.items:
                log.error("%s for alert %s (%s) has no recipient: check routing.toml", item.event.value,
                          item.alert.id, item.alert.title)
                self._timeline(item.alert.id, now, "unrouted", SYSTEM_ACTOR, {"event": item.event.value})
            return
        for batch in batches:
            items = sorted(batch.items, key=lambda item: (-item.alert.severity.rank, _LEAD_ORDER[item.event]))
            lead, others = items[0], items[1:]
            recipient = batch.recipient
            body = notification_body(lead.event, lead.alert, site, ack_url=self._ack_url(lead.alert, recipient, now))
            if others:
                body["related"] = [
                    {"event": item.event.value,
                     "alert": alert_object(item.alert, site, ack_url=self._ack_url(item.alert, recipient, now))}
                    for item in others
                ]
            notice = Notice(alert_id=lead.alert.id, event=lead.event.value, recipient=recipient, body=body,
                            since_monotonic=since)
            dispatcher.send(notice, f"{lead.alert.id}\x1f{lead.event.value}\x1f{now.timestamp()!r}")

    def _ack_url(self, alert: Alert, recipient: Recipient, now: datetime) -> str | None:
        if self.ack_links is None or alert.status is not AlertStatus.OPEN:
            return None
        return self.ack_links.url(alert.id, recipient.id, now)


# Which notification of a group leads its body (after severity): what asks the most of its reader.
_LEAD_ORDER = {
    NotifyEvent.ESCALATED: 0,
    NotifyEvent.OPENED: 1,
    NotifyEvent.REMINDER: 2,
    NotifyEvent.ACKNOWLEDGED: 3,
    NotifyEvent.RESOLVED: 4,
}

_PERSON_KINDS = frozenset({"acknowledged", "resolved", "false_alarm"})


def _by_person(kind: str) -> bool:
    return kind in _PERSON_KINDS


def _opened_detail(alert: Alert) -> dict[str, object]:
    return {
        "title": alert.title,
        "severity": alert.severity.value,
        "category": alert.category.value,
        "confirmed": alert.confirmed,
        "drill": alert.drill,
        "audiences": [item.value for item in alert.audiences],
        "zone": alert.zone,
    }


def _updated_detail(alert: Alert, kind: str) -> dict[str, object]:
    if kind == "repeat":
        return {"count": alert.count}
    if kind == "confirmed":
        return {"devices": list(alert.devices), "audiences": [item.value for item in alert.audiences]}
    if kind == "severity":
        return {"severity": alert.severity.value}
    if kind == "evidence":
        return {"evidence": [item.url for item in alert.evidence]}
    if kind == "inhibited":
        return {"by": alert.inhibited_by}
    if kind in ("resolved", "false_alarm"):
        return {"classification": alert.classification.value if alert.classification else None, "note": alert.note}
    return {}
