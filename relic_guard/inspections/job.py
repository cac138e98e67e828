"""The inspection job for the schedule (`relic_guard.schedule.runner`): keep the year's plan, watch due days.

    schedule.add(Job(JOB_NAME, make_inspection_job(registry.sites, hand_over, policy=...), every_s=3600))

Each run works in the connection's one transaction:
- the current year's plan (China's calendar year at `now`) is made sure to exist
  (`ensure_year_plan`): in the first run of January the new year's plan appears by itself, after
  downtime too, and a site added to the registry is planned at the next run;
- every planned or assigned inspection past its due day whose next overdue step is due
  (`next_overdue_at`) is planned with `overdue_notice` against its stored `OverdueState`
  (inspection_overdue_state, row locked while planning), and the new state is stored;
- every inspection done or cancelled since its overdue notices went out is marked ended
  (`finished_after_notices`), so its overdue alerts end too;
- the notices and endings found are passed to `on_notices`, and only then does the runner commit.
If `on_notices` raises, nothing is kept (the plan included) and the next run offers the same
notices again; if the commit is lost after it returned, they are offered again too. So a notice
may at worst be offered twice, never lost; the alert it becomes is keyed by the inspection, for
the alert service to fold a second copy into the open alert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import psycopg

from relic_guard.hazards.workdays import local_day
from relic_guard.inspections.annual import (
    DEFAULT_POLICY,
    NOTHING_SENT,
    AnnualPolicy,
    OverdueEnded,
    OverdueNotice,
    PlanSite,
    next_overdue_at,
    overdue_notice,
)
from relic_guard.schedule.runner import JobFunction
from relic_guard.store import inspection_store

JOB_NAME: Final = "inspections.annual"
# Recorded as the planner of the year's inspections, in their record and the audit trail.
ACTOR: Final = "relic-guard"

Conn = psycopg.Connection[Any]


def plan_overdue(conn: Conn, now: datetime,
                 policy: AnnualPolicy = DEFAULT_POLICY) -> tuple[int, list[OverdueNotice]]:
    """Plan every open inspection past its due day: (inspections overdue, notices due now), the
    new states stored."""
    overdue = inspection_store.open_past_due(conn, local_day(now))
    known = inspection_store.overdue_states(conn, [inspection.id for inspection in overdue])
    notices: list[OverdueNotice] = []
    for inspection in overdue:
        due = next_overdue_at(inspection, known.get(inspection.id, NOTHING_SENT), policy)
        if due is None or due > now:
            continue  # nothing to send: no row to lock or write
        state = inspection_store.locked_overdue_state(conn, inspection, now)
        new_state, notice = overdue_notice(inspection, state, now, policy)
        if new_state != state:
            inspection_store.store_overdue_state(conn, inspection.id, new_state, now)
        if notice is not None:
            notices.append(notice)
    return len(overdue), notices


def make_inspection_job(
    sites: Mapping[str, PlanSite],
    on_notices: Callable[[list[OverdueNotice | OverdueEnded]], None],
    *,
    policy: AnnualPolicy = DEFAULT_POLICY,
    audit_key: bytes | None = None,
) -> JobFunction:
    """The schedule job over the registry's `sites`. `on_notices` is called (from the job's worker
    thread) with the notices of a run, only when there are some; it should hand them over and
    return quickly, since the state rows stay locked until it does. With `audit_key`, the
    inspections planned are also written to the audit trail."""

    def run(conn: Conn, now: datetime) -> str:
        year = local_day(now).year
        # One block for the whole run: the store's own blocks become savepoints in it, so a plan
        # written before `on_notices` raised is rolled back with the notices' state.
        with conn.transaction():
            planned = inspection_store.ensure_year_plan(conn, year, sites.values(), policy, now=now, by=ACTOR,
                                                        audit_key=audit_key)
            overdue, notices = plan_overdue(conn, now, policy)
            ended = inspection_store.finished_after_notices(conn, now)
            if notices or ended:
                on_notices([*notices, *ended])
        return (f"planned {planned} for {year}, overdue {overdue}, notices {len(notices)}"
                + (f", ended {len(ended)}" if ended else ""))

    return run
