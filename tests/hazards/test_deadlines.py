"""Reminders before a rectification deadline and escalation after it, at injected times."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time

import pytest

from relic_guard.hazards.deadlines import (
    FRESH,
    Audience,
    DeadlinePolicy,
    DeadlineState,
    Escalate,
    OverdueStep,
    Remind,
    due_actions,
    next_due,
)
from relic_guard.hazards.model import Hazard, HazardSource, HazardStatus, Severity
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME

OWNER, DISTRICT, CITY = Audience.OWNER, Audience.DISTRICT_BUREAU, Audience.CITY_BUREAU

# Found Wednesday 2024-09-25, major: deadline Monday 2024-10-14 (National Day week in between).
HAZARD = Hazard(id=3, site_id="jn-lingyansi", source=HazardSource.PATROL, source_ref=None, title="消防通道堵塞",
                description="", severity=Severity.MAJOR, owner="user:wang",
                found_at=datetime(2024, 9, 25, 9, 0, tzinfo=CHINA_STANDARD_TIME), deadline=date(2024, 10, 14))


def cst(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=CHINA_STANDARD_TIME)


def test_the_whole_course_of_an_unrectified_hazard() -> None:
    state = FRESH
    # reminder 2 working days before: Friday 10-11 (Saturday 10-12 is worked, Sunday 10-13 is not)
    assert next_due(HAZARD, state) == cst(10, 11)
    state, actions = due_actions(HAZARD, state, cst(10, 11, 8, 59))
    assert actions == []
    state, actions = due_actions(HAZARD, state, cst(10, 11))
    assert actions == [Remind(3, date(2024, 10, 14), working_days_left=2)]
    assert next_due(HAZARD, state) == cst(10, 14)
    state, actions = due_actions(HAZARD, state, cst(10, 14))
    assert actions == [Remind(3, date(2024, 10, 14), working_days_left=0)]
    # 1st working day overdue: owner and district bureau
    assert next_due(HAZARD, state) == cst(10, 15)
    state, actions = due_actions(HAZARD, state, cst(10, 15))
    assert actions == [Escalate(3, date(2024, 10, 14), level=1, working_days_overdue=1, added=(OWNER, DISTRICT),
                                audiences=(OWNER, DISTRICT))]
    # 5th working day overdue: 10-15, 16, 17, 18, 21 → the city bureau
    assert next_due(HAZARD, state) == cst(10, 21)
    state, actions = due_actions(HAZARD, state, cst(10, 21, 9, 30))
    assert actions == [Escalate(3, date(2024, 10, 14), level=2, working_days_overdue=5, added=(CITY,),
                                audiences=(OWNER, DISTRICT, CITY))]
    assert next_due(HAZARD, state) is None
    assert due_actions(HAZARD, state, cst(12, 1)) == (state, [])


@pytest.mark.parametrize("now", [cst(10, 11), cst(10, 14, 12), cst(10, 15), cst(10, 21), cst(11, 30)])
def test_planning_twice_at_the_same_time_gives_nothing_the_second_time(now: datetime) -> None:
    state, first = due_actions(HAZARD, FRESH, now)
    assert first
    again, second = due_actions(HAZARD, state, now)
    assert (again, second) == (state, [])


def test_a_late_planner_sends_one_reminder_not_a_burst() -> None:
    state, actions = due_actions(HAZARD, FRESH, cst(10, 14, 15))
    assert actions == [Remind(3, date(2024, 10, 14), working_days_left=0)]
    assert state.reminders_sent == 2


def test_a_planner_back_after_the_deadline_escalates_once_with_every_level_and_no_reminder() -> None:
    state, actions = due_actions(HAZARD, FRESH, cst(10, 22))
    assert actions == [Escalate(3, date(2024, 10, 14), level=2, working_days_overdue=6,
                                added=(OWNER, DISTRICT, CITY), audiences=(OWNER, DISTRICT, CITY))]
    assert state == DeadlineState(deadline=date(2024, 10, 14), reminders_sent=2, steps_done=2,
                                  escalated_to=(OWNER, DISTRICT, CITY))


def test_nothing_for_closed_or_cancelled_hazards() -> None:
    for status in (HazardStatus.CLOSED, HazardStatus.CANCELLED):
        done = replace(HAZARD, status=status)
        assert due_actions(done, FRESH, cst(10, 22)) == (FRESH, [])
        assert next_due(done, FRESH) is None
    rectifying = replace(HAZARD, status=HazardStatus.RECTIFYING)
    assert due_actions(rectifying, FRESH, cst(10, 11))[1] == [Remind(3, date(2024, 10, 14), 2)]


def test_a_new_deadline_starts_a_fresh_count() -> None:
    state, _ = due_actions(HAZARD, FRESH, cst(10, 22))
    reopened = replace(HAZARD, deadline=date(2024, 11, 5))  # Tuesday; 2 working days before: Friday 11-01
    assert next_due(reopened, state) == cst(11, 1)
    state, actions = due_actions(reopened, state, cst(11, 1))
    assert actions == [Remind(3, date(2024, 11, 5), working_days_left=2)]
    assert state.deadline == date(2024, 11, 5) and state.steps_done == 0


def test_a_policy_from_configuration() -> None:
    policy = DeadlinePolicy(remind_before=(0,), steps=(OverdueStep(3, (CITY,)),), notify_at=time(8, 30))
    assert next_due(HAZARD, FRESH, policy) == cst(10, 14, 8, 30)
    _, actions = due_actions(HAZARD, FRESH, cst(10, 17, 8, 30), policy)  # 10-15, 16, 17
    assert actions == [Escalate(3, date(2024, 10, 14), 1, 3, (CITY,), (CITY,))]


@pytest.mark.parametrize("kwargs", [
    {"remind_before": (0, 2)},
    {"remind_before": (-1,)},
    {"steps": (OverdueStep(0, (OWNER,)),)},
    {"steps": (OverdueStep(5, (CITY,)), OverdueStep(1, (OWNER,)))},
    {"notify_at": time(9, tzinfo=CHINA_STANDARD_TIME)},
])
def test_policies_that_make_no_sense_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"remind_before|overdue steps|notify_at"):
        DeadlinePolicy(**kwargs)  # type: ignore[arg-type]
