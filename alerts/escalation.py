"""Escalation steps and reminders: what is due for an open alert at `now`, and when next.

A policy, chosen per (category, severity), says: after `after_s` seconds from the alert's
opening with nobody acknowledging, add these audiences (`EscalationStep`); and remind every
`reminder_every_s` seconds, at most `max_reminders` times, until someone acknowledges
(ThingsBoard cannot, its issue #5600; PagerDuty and Alertmanager can).

The planner is pure: `due_actions(alert, policy, state, now)` returns the new
`EscalationState` and the actions (`Escalated` + `Notify(alert.escalated)`,
`Notify(alert.reminder)`); `next_due(alert, policy, state)` says when to call it again, so
the dispatcher keeps one timer heap entry per alert instead of scanning every open alert.
The state (`EscalationState`, a few numbers per alert id) is what makes it idempotent:
planning twice at the same `now` gives nothing the second time.

Rules:
- Only an alert in status `open` is planned (`PLANNED` below is the table). Acknowledged,
  resolved and false-alarm alerts get nothing and have no next time: escalation and
  reminders stop on acknowledgement.
- A drill, and an alert covered by a site-wide alert (`inhibited_by`), are never escalated
  nor reminded: a drill must not reach an agency, and the covering alert speaks for it.
- Steps count from `opened_at`. Several overdue steps (the dispatcher was late) go out as
  one `Escalated` with all their audiences. A step that adds nothing new (the fire was
  confirmed meanwhile and the brigade is already in) is marked done in silence.
- Reminders count from `opened_at`, then from the last reminder. Missed reminders are not
  replayed as a burst: one reminder goes out and the next is `reminder_every_s` after it.
- Audiences added by escalation are kept in the state (`added_audiences`) and merged into
  every later reminder (`with_escalations`), so a reminder also reaches the agencies the
  alert was escalated to even if the engine's copy of the alert never learned of them.
- Changing an alert's severity keeps its state: the dispatcher looks the policy up again
  (`PolicyTable.for_alert`) and the step count carries over.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

import msgspec

from alerts.model import (
    Alert,
    AlertStatus,
    Audience,
    Category,
    Escalated,
    Notify,
    NotifyEvent,
    Severity,
    audiences,
)


class EscalationStep(msgspec.Struct, frozen=True, kw_only=True):
    """`after_s` seconds after opening, unacknowledged: bring in `add_audiences`."""

    after_s: float
    add_audiences: tuple[Audience, ...]


class EscalationPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Steps (in increasing `after_s`) and reminders for alerts of one (category, severity).
    `category` or `severity` None means "any" (a fallback policy). `reminder_every_s` None
    means no reminders."""

    category: Category | None = None
    severity: Severity | None = None
    steps: tuple[EscalationStep, ...] = ()
    reminder_every_s: float | None = None
    max_reminders: int = 0

    def __post_init__(self) -> None:
        if any(later.after_s < earlier.after_s for earlier, later in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("escalation steps must be in increasing after_s")
        if self.reminder_every_s is not None and self.reminder_every_s <= 0:
            raise ValueError("reminder_every_s must be positive")
        if self.max_reminders < 0:
            raise ValueError("max_reminders must not be negative")


class EscalationState(msgspec.Struct, frozen=True, kw_only=True):
    """What was already sent for one alert."""

    steps_done: int = 0
    reminders_sent: int = 0
    last_reminder_at: datetime | None = None
    added_audiences: tuple[Audience, ...] = ()


FRESH: Final = EscalationState()

# Whether the planner works on an alert, by status. Every status is listed (a new status
# added to the model fails the completeness test until someone decides here).
PLANNED: Final[dict[AlertStatus, bool]] = {
    AlertStatus.OPEN: True,
    AlertStatus.ACKNOWLEDGED: False,
    AlertStatus.RESOLVED: False,
    AlertStatus.FALSE_ALARM: False,
}


def is_planned(alert: Alert) -> bool:
    return PLANNED[alert.status] and not alert.drill and alert.inhibited_by is None


def with_escalations(alert: Alert, state: EscalationState) -> Alert:
    """`alert` with the audiences escalation added (for any later notification about it)."""
    merged = audiences(*alert.audiences, *state.added_audiences)
    return alert if merged == alert.audiences else msgspec.structs.replace(alert, audiences=merged)


def _step_at(alert: Alert, step: EscalationStep) -> datetime:
    return alert.opened_at + timedelta(seconds=step.after_s)


def _reminder_at(alert: Alert, policy: EscalationPolicy, state: EscalationState) -> datetime | None:
    if policy.reminder_every_s is None or state.reminders_sent >= policy.max_reminders:
        return None
    since = state.last_reminder_at if state.last_reminder_at is not None else alert.opened_at
    return since + timedelta(seconds=policy.reminder_every_s)


def due_actions(
    alert: Alert, policy: EscalationPolicy, state: EscalationState, now: datetime
) -> tuple[EscalationState, list[Escalated | Notify]]:
    """Escalations and reminders due at `now`, and the state that records them as sent."""
    if not is_planned(alert):
        return state, []
    current = with_escalations(alert, state)
    actions: list[Escalated | Notify] = []

    steps_done = state.steps_done
    wanted: list[Audience] = []
    while steps_done < len(policy.steps) and _step_at(alert, policy.steps[steps_done]) <= now:
        wanted.extend(policy.steps[steps_done].add_audiences)
        steps_done += 1
    added = tuple(item for item in audiences(*wanted) if item not in current.audiences)
    if added:
        current = msgspec.structs.replace(current, audiences=audiences(*current.audiences, *added))
        actions += [Escalated(current, added), Notify(current, NotifyEvent.ESCALATED)]
    state = msgspec.structs.replace(
        state, steps_done=steps_done, added_audiences=audiences(*state.added_audiences, *added)
    )

    reminder_at = _reminder_at(alert, policy, state)
    if reminder_at is not None and reminder_at <= now:
        actions.append(Notify(current, NotifyEvent.REMINDER))
        state = msgspec.structs.replace(state, reminders_sent=state.reminders_sent + 1, last_reminder_at=now)
    return state, actions


def next_due(alert: Alert, policy: EscalationPolicy, state: EscalationState = FRESH) -> datetime | None:
    """When `due_actions` will next have something to do, or None (acknowledged, closed,
    drill, covered, or nothing left in the policy)."""
    if not is_planned(alert):
        return None
    times: list[datetime] = []
    if state.steps_done < len(policy.steps):
        times.append(_step_at(alert, policy.steps[state.steps_done]))
    reminder_at = _reminder_at(alert, policy, state)
    if reminder_at is not None:
        times.append(reminder_at)
    return min(times) if times else None


class PolicyTable(msgspec.Struct, frozen=True):
    """Policies looked up by the most specific match: (category, severity), then
    (category, any), then (any, severity), then (any, any)."""

    policies: tuple[EscalationPolicy, ...] = ()

    def for_alert(self, alert: Alert) -> EscalationPolicy | None:
        by_key = {(policy.category, policy.severity): policy for policy in reversed(self.policies)}
        for key in (
            (alert.category, alert.severity),
            (alert.category, None),
            (None, alert.severity),
            (None, None),
        ):
            found = by_key.get(key)
            if found is not None:
                return found
        return None


class EscalationBook:
    """The planner's state for every planned alert, keyed by alert id. No I/O, no clock:
    the dispatcher calls `plan` when a timer fires and `forget` when an alert closes."""

    def __init__(self, table: PolicyTable) -> None:
        self.table = table
        self.states: dict[str, EscalationState] = {}

    def plan(self, alert: Alert, now: datetime) -> list[Escalated | Notify]:
        policy = self.table.for_alert(alert)
        # The state is kept when planning stops (acknowledged): the acknowledgement notice
        # still goes to the audiences escalation added (`current`). `forget` drops it.
        if policy is None or not is_planned(alert):
            return []
        state, actions = due_actions(alert, policy, self.states.get(alert.id, FRESH), now)
        self.states[alert.id] = state
        return actions

    def next_due(self, alert: Alert) -> datetime | None:
        policy = self.table.for_alert(alert)
        if policy is None:
            return None
        return next_due(alert, policy, self.states.get(alert.id, FRESH))

    def current(self, alert: Alert) -> Alert:
        """`alert` with its escalated audiences merged (for acknowledged/resolved notices)."""
        return with_escalations(alert, self.states.get(alert.id, FRESH))

    def forget(self, alert_ids: Iterable[str]) -> None:
        for alert_id in alert_ids:
            self.states.pop(alert_id, None)
