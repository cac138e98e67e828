"""The escalation and reminder planner: steps, reminders, stop on acknowledgement, idempotence."""

from __future__ import annotations

from datetime import datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import lifecycle
from alerts.escalation import (
    FRESH,
    PLANNED,
    EscalationBook,
    EscalationPolicy,
    EscalationState,
    EscalationStep,
    PolicyTable,
    due_actions,
    next_due,
)
from alerts.model import AlertStatus, Audience, Category, Escalated, Notify, NotifyEvent, Severity

from .support import alert, at

A = Audience
FIRE = EscalationPolicy(
    category=Category.FIRE,
    severity=Severity.CRITICAL,
    steps=(
        EscalationStep(after_s=180, add_audiences=(A.FIRE_BRIGADE, A.CULTURE_BUREAU)),
        EscalationStep(after_s=600, add_audiences=(A.POLICE,)),
    ),
    reminder_every_s=60,
    max_reminders=3,
)


def kinds(actions: list[Escalated | Notify]) -> list[str]:
    return [a.event.value if isinstance(a, Notify) else f"escalated:{','.join(a.added)}" for a in actions]


def run(times: list[float], policy: EscalationPolicy = FIRE) -> list[tuple[float, list[str]]]:
    made, state, seen = alert(), FRESH, []
    for t in times:
        state, actions = due_actions(made, policy, state, at(t))
        seen.append((t, kinds(actions)))
    return seen


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0, 59.999], [(0, []), (59.999, [])]),
        ([60], [(60, ["alert.reminder"])]),
        ([60, 60], [(60, ["alert.reminder"]), (60, [])]),  # idempotent at the same now
        ([60, 119, 120], [(60, ["alert.reminder"]), (119, []), (120, ["alert.reminder"])]),
        (
            [180],  # late dispatcher: one reminder, not three; the step fires
            [(180, ["escalated:fire_brigade,culture_bureau", "alert.escalated", "alert.reminder"])],
        ),
        (
            [700],  # both steps overdue: one Escalated with everything
            [(700, ["escalated:fire_brigade,police,culture_bureau", "alert.escalated", "alert.reminder"])],
        ),
        (
            [60, 120, 180, 240, 300],  # max_reminders = 3
            [
                (60, ["alert.reminder"]),
                (120, ["alert.reminder"]),
                (180, ["escalated:fire_brigade,culture_bureau", "alert.escalated", "alert.reminder"]),
                (240, []),
                (300, []),
            ],
        ),
    ],
)
def test_plan_table(times: list[float], expected: list[tuple[float, list[str]]]) -> None:
    assert run(times) == expected


def test_escalated_alert_carries_the_new_audiences_and_later_reminders_keep_them() -> None:
    made = alert()
    state, actions = due_actions(made, FIRE, FRESH, at(180))
    escalated = actions[0]
    assert isinstance(escalated, Escalated)
    assert escalated.added == (A.FIRE_BRIGADE, A.CULTURE_BUREAU)
    assert escalated.alert.audiences == (A.MONITORING_CENTER, A.CUSTODIANS, A.FIRE_BRIGADE, A.CULTURE_BUREAU)
    # The engine's copy (made) never learned of it; the reminder still reaches the agencies.
    state, actions = due_actions(made, FIRE, state, at(240))
    assert kinds(actions) == ["alert.reminder"]
    assert A.FIRE_BRIGADE in actions[0].alert.audiences


def test_step_adding_nothing_new_is_done_in_silence() -> None:
    confirmed = alert(audience=(A.MONITORING_CENTER, A.CUSTODIANS, A.FIRE_BRIGADE, A.CULTURE_BUREAU))
    policy = msgspec.structs.replace(FIRE, reminder_every_s=None, max_reminders=0)
    state, actions = due_actions(confirmed, policy, FRESH, at(200))
    assert actions == [] and state.steps_done == 1
    assert next_due(confirmed, policy, state) == at(600)


@pytest.mark.parametrize("status", [s for s in AlertStatus if s is not AlertStatus.OPEN])
def test_nothing_after_acknowledgement_or_close(status: AlertStatus) -> None:
    made = alert(status=status)
    assert due_actions(made, FIRE, FRESH, at(10_000)) == (FRESH, [])
    assert next_due(made, FIRE, FRESH) is None


def test_acknowledgement_stops_a_running_plan() -> None:
    made = alert()
    state, _ = due_actions(made, FIRE, FRESH, at(60))
    acked = lifecycle.acknowledge(made, "王建国", at(90))
    assert due_actions(acked, FIRE, state, at(700)) == (state, [])
    assert next_due(acked, FIRE, state) is None


@pytest.mark.parametrize("changes", [{"drill": True}, {"inhibited_by": "site-wide"}])
def test_drills_and_covered_alerts_are_not_planned(changes: dict[str, object]) -> None:
    made = msgspec.structs.replace(alert(), **changes)
    assert due_actions(made, FIRE, FRESH, at(700)) == (FRESH, [])
    assert next_due(made, FIRE) is None


def test_planned_table_lists_every_status() -> None:
    assert set(PLANNED) == set(AlertStatus)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (FRESH, at(60)),
        (EscalationState(reminders_sent=1, last_reminder_at=at(60)), at(120)),
        (EscalationState(steps_done=1, reminders_sent=3, last_reminder_at=at(180)), at(600)),
        (EscalationState(steps_done=2, reminders_sent=3, last_reminder_at=at(180)), None),
    ],
)
def test_next_due(state: EscalationState, expected: datetime | None) -> None:
    assert next_due(alert(), FIRE, state) == expected


def test_policy_table_picks_the_most_specific() -> None:
    any_fire = EscalationPolicy(category=Category.FIRE, reminder_every_s=600, max_reminders=1)
    any_critical = EscalationPolicy(severity=Severity.CRITICAL, reminder_every_s=30, max_reminders=1)
    fallback = EscalationPolicy(reminder_every_s=1800, max_reminders=1)
    table = PolicyTable((fallback, any_critical, any_fire, FIRE))
    assert table.for_alert(alert()) is FIRE
    assert table.for_alert(alert(severity=Severity.MAJOR)) is any_fire
    assert table.for_alert(alert(Category.SECURITY)) is any_critical
    assert table.for_alert(alert(Category.DEVICE, Severity.MINOR)) is fallback
    assert PolicyTable(()).for_alert(alert()) is None


def test_policy_rejects_unordered_steps() -> None:
    with pytest.raises(ValueError, match="increasing"):
        EscalationPolicy(
            steps=(EscalationStep(after_s=60, add_audiences=()), EscalationStep(after_s=30, add_audiences=()))
        )


def test_book_keeps_state_per_alert_and_forgets() -> None:
    book = EscalationBook(PolicyTable((FIRE,)))
    one, two = alert(device="d1"), alert(device="d2", now=at(30))
    assert kinds(book.plan(one, at(60))) == ["alert.reminder"]
    assert book.plan(one, at(60)) == []
    assert book.next_due(one) == at(120)
    assert book.next_due(two) == at(90)
    book.plan(one, at(180))
    acked = lifecycle.acknowledge(one, "李秀兰", at(200))
    assert book.plan(acked, at(700)) == []
    assert A.FIRE_BRIGADE in book.current(acked).audiences  # the ack notice still reaches the brigade
    book.forget([one.id])
    assert one.id not in book.states


@given(st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), min_size=1, max_size=30))
def test_replanning_at_the_same_now_is_idempotent_and_bounded(times: list[float]) -> None:
    made, state = alert(), FRESH
    reminders = escalations = 0
    for t in sorted(times):
        state, actions = due_actions(made, FIRE, state, at(t))
        again, repeat = due_actions(made, FIRE, state, at(t))
        assert repeat == [] and again == state
        reminders += sum(isinstance(a, Notify) and a.event is NotifyEvent.REMINDER for a in actions)
        escalations += sum(isinstance(a, Escalated) for a in actions)
        due = next_due(made, FIRE, state)
        assert due is None or due > at(t)
    assert reminders <= FIRE.max_reminders
    assert escalations <= len(FIRE.steps)
    assert state.steps_done <= len(FIRE.steps)
