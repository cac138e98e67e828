"""Rectification deadlines: which reminders and overdue escalations are due for a hazard at `now`.

Computed like alert escalation (alerts/escalation.py): `due_actions(hazard, state, now)` returns
the new `DeadlineState` and the actions due; `next_due(hazard, state)` says when to ask again, so a
scheduler keeps one timer per hazard instead of scanning them all. The state (a few numbers per
hazard) makes it idempotent: planning twice at the same `now` gives nothing the second time.

Default policy (`DEFAULT_POLICY`; configuration may change it later):
- reminders to the owner 2 working days before the deadline and on the deadline day;
- overdue escalation by working days past the deadline: on the 1st the owner and the district
  bureau (区县文物局) are told, on the 5th the city bureau (市文物局) as well, as the city tracks
  major hazards until closed (督办).
Everything goes out at `notify_at` (09:00 China time) of the day concerned: a reminder at
midnight would wake a custodian and reach a bureau nobody staffs until morning. Days are
working days (`workdays`), so an escalation never lands on a holiday.

Rules:
- Only open and rectifying hazards are planned; closing or cancelling stops everything.
- Missed times (the scheduler was down) are not replayed as a burst: one reminder, or one
  escalation carrying every audience the missed levels add, and the counts move past them.
- Reminders not sent before the deadline passed are dropped in silence: the escalation speaks.
- The state records the deadline it counts for. A hazard whose deadline changed (reopened, or a
  deadline extended) starts a fresh count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time
from enum import StrEnum
from typing import Final

from relic_guard.hazards.model import Hazard
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME, add_working_days, local_day, working_days_between


class Audience(StrEnum):
    OWNER = "owner"
    DISTRICT_BUREAU = "district_bureau"
    CITY_BUREAU = "city_bureau"


@dataclass(frozen=True, slots=True)
class OverdueStep:
    """`working_days_overdue` working days past the deadline: bring in `add_audiences`."""

    working_days_overdue: int
    add_audiences: tuple[Audience, ...]


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    # working days before the deadline, latest last; 0 is the deadline day itself
    remind_before: tuple[int, ...] = (2, 0)
    steps: tuple[OverdueStep, ...] = (
        OverdueStep(1, (Audience.OWNER, Audience.DISTRICT_BUREAU)),
        OverdueStep(5, (Audience.CITY_BUREAU,)),
    )
    notify_at: time = time(9, 0)

    def __post_init__(self) -> None:
        if any(b < 0 for b in self.remind_before) or list(self.remind_before) != sorted(
                set(self.remind_before), reverse=True):
            raise ValueError("remind_before lists distinct working-day counts >= 0, largest first")
        days = [step.working_days_overdue for step in self.steps]
        if any(d < 1 for d in days) or days != sorted(set(days)):
            raise ValueError("overdue steps need distinct working-day counts >= 1, in increasing order")
        if self.notify_at.tzinfo is not None:
            raise ValueError("notify_at is a wall-clock time in China; give it without a time zone")


DEFAULT_POLICY: Final = DeadlinePolicy()


@dataclass(frozen=True, slots=True)
class DeadlineState:
    """What was already sent for one hazard, for the deadline `deadline`."""

    deadline: date | None = None
    reminders_sent: int = 0
    steps_done: int = 0
    escalated_to: tuple[Audience, ...] = ()


FRESH: Final = DeadlineState()


@dataclass(frozen=True, slots=True)
class Remind:
    """Tell the owner the deadline is near (`working_days_left` 0: it is today)."""

    hazard_id: int
    deadline: date
    working_days_left: int
    audiences: tuple[Audience, ...] = (Audience.OWNER,)


@dataclass(frozen=True, slots=True)
class Escalate:
    """The hazard is overdue: `level` steps reached; `added` are new, `audiences` everyone so far."""

    hazard_id: int
    deadline: date
    level: int
    working_days_overdue: int
    added: tuple[Audience, ...]
    audiences: tuple[Audience, ...]


def _at(day: date, policy: DeadlinePolicy) -> datetime:
    return datetime.combine(day, policy.notify_at, tzinfo=CHINA_STANDARD_TIME)


def _reminder_at(deadline: date, before: int, policy: DeadlinePolicy) -> datetime:
    return _at(add_working_days(deadline, -before), policy)


def _step_at(deadline: date, step: OverdueStep, policy: DeadlinePolicy) -> datetime:
    return _at(add_working_days(deadline, step.working_days_overdue), policy)


def _for(hazard: Hazard, state: DeadlineState) -> DeadlineState:
    return state if state.deadline == hazard.deadline else DeadlineState(deadline=hazard.deadline)


def due_actions(hazard: Hazard, state: DeadlineState, now: datetime,
                policy: DeadlinePolicy = DEFAULT_POLICY) -> tuple[DeadlineState, list[Remind | Escalate]]:
    """Reminders and escalations due at `now`, and the state that records them as sent."""
    if not hazard.status.is_open:
        return state, []
    state = _for(hazard, state)
    deadline = hazard.deadline
    actions: list[Remind | Escalate] = []

    steps_done = state.steps_done
    wanted: list[Audience] = []
    while steps_done < len(policy.steps) and _step_at(deadline, policy.steps[steps_done], policy) <= now:
        wanted.extend(policy.steps[steps_done].add_audiences)
        steps_done += 1
    if steps_done > state.steps_done:
        added = tuple(dict.fromkeys(a for a in wanted if a not in state.escalated_to))
        everyone = (*state.escalated_to, *added)
        actions.append(Escalate(hazard.id, deadline, steps_done,
                                working_days_between(deadline, local_day(now)), added, everyone))
        state = replace(state, steps_done=steps_done, escalated_to=everyone)

    sent = state.reminders_sent
    while sent < len(policy.remind_before) and _reminder_at(deadline, policy.remind_before[sent], policy) <= now:
        sent += 1
    if sent > state.reminders_sent:
        today = local_day(now)
        if today <= deadline:
            actions.append(Remind(hazard.id, deadline, working_days_between(today, deadline)))
        state = replace(state, reminders_sent=sent)
    return state, actions


def next_due(hazard: Hazard, state: DeadlineState = FRESH,
             policy: DeadlinePolicy = DEFAULT_POLICY) -> datetime | None:
    """When `due_actions` next has something to do; None for a closed or cancelled hazard, or
    when every reminder and step was done."""
    if not hazard.status.is_open:
        return None
    state = _for(hazard, state)
    times: list[datetime] = []
    if state.steps_done < len(policy.steps):
        times.append(_step_at(hazard.deadline, policy.steps[state.steps_done], policy))
    if state.reminders_sent < len(policy.remind_before):
        times.append(_reminder_at(hazard.deadline, policy.remind_before[state.reminders_sent], policy))
    return min(times) if times else None
