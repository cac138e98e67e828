"""The hazard job for the schedule (`relic_guard.schedule.runner`): track reports, watch deadlines.

    schedule.add(Job(JOB_NAME, make_hazard_job(registry.sites, hand_over), every_s=300))

Each run works in the connection's one transaction:
- every custodian's report (hazard_reports) and every hazard reported during a patrol (a `patrol`
  event of type `hazard`, CONTRACT §1) not yet tracked becomes a hazard:
  a general hazard owned by the site's first custodian, so nobody has to triage a report before
  its deadline starts counting; whoever triages it later may raise the severity or change owner;
- every open or rectifying hazard whose next reminder or escalation is due (`next_due`) is planned
  with `due_actions` against its stored `DeadlineState` (hazard_deadline_state, row locked while
  planning), and the new state is stored;
- the reminders and escalations found are passed to `on_notices` as `HazardNotice` values, and
  only then does the runner commit.
If `on_notices` raises, nothing is kept and the next run offers the same notices again; if the
commit is lost after it returned, they are offered again too. So a notice may at worst be
offered twice, never lost; the alert it becomes is keyed by the hazard, for the alert service to
fold a second copy into the open alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

import psycopg
from psycopg.types.json import Jsonb

from relic_guard.hazards.deadlines import (
    DEFAULT_POLICY,
    FRESH,
    Audience,
    DeadlinePolicy,
    DeadlineState,
    Escalate,
    Remind,
    due_actions,
    next_due,
)
from relic_guard.hazards.model import Hazard, InvalidHazard, Severity
from relic_guard.schedule.runner import JobFunction
from relic_guard.store import hazard_store

log = logging.getLogger(__name__)

JOB_NAME: Final = "hazards.deadlines"
# Recorded as the creator of hazards made from reports, in the timeline and the audit trail.
ACTOR: Final = "relic-guard"
# The owner of a report's hazard when the registry names no custodian for the site.
FALLBACK_OWNER: Final = "site custodians"

Conn = psycopg.Connection[Any]


class HazardSite(Protocol):
    """What the job needs of a site; the registry's `Site` satisfies it as it is."""

    @property
    def custodians(self) -> tuple[str, ...]: ...


class NoticeKind(StrEnum):
    REMINDER = "reminder"  # the deadline is near (or today)
    OVERDUE = "overdue"  # the deadline has passed: an escalation


@dataclass(frozen=True, slots=True)
class HazardNotice:
    """A reminder or an overdue escalation that people must hear of.

    `level` is the escalation step reached (0 for a reminder); `working_days` the working days
    left before the deadline (reminder) or past it (overdue); `audiences` everyone to tell."""

    hazard_id: int
    site: str
    title: str
    deadline: date
    kind: NoticeKind
    level: int
    working_days: int
    audiences: tuple[Audience, ...]


def notice_of(hazard: Hazard, action: Remind | Escalate) -> HazardNotice:
    if isinstance(action, Remind):
        return HazardNotice(hazard.id, hazard.site_id, hazard.title, action.deadline, NoticeKind.REMINDER, 0,
                            action.working_days_left, action.audiences)
    return HazardNotice(hazard.id, hazard.site_id, hazard.title, action.deadline, NoticeKind.OVERDUE, action.level,
                        action.working_days_overdue, action.audiences)


def owner_for(site_id: str, sites: Mapping[str, HazardSite]) -> str:
    site = sites.get(site_id)
    if site is not None and site.custodians:
        return site.custodians[0]
    return FALLBACK_OWNER


def convert_reports(conn: Conn, sites: Mapping[str, HazardSite], now: datetime, *,
                    audit_key: bytes | None = None) -> int:
    """Track every report not yet tracked; the number of hazards made."""
    rows = conn.execute(
        "SELECT r.id, r.site_id, r.description FROM hazard_reports r WHERE NOT EXISTS ("
        "SELECT 1 FROM hazards h WHERE h.source = 'report' AND h.source_ref = r.id::text) ORDER BY r.id"
    ).fetchall()
    made = 0
    for report_id, site_id, description in rows:
        # A report of blanks has no first line to be its title; it is still a report to follow.
        title = None if hazard_store.report_title(description) else f"隐患报告 {report_id}"
        try:
            # from_report is idempotent by its unique index: a report tracked meanwhile (a person
            # triaging it at this moment) gives back that hazard, and nothing is made twice.
            hazard_store.from_report(conn, int(report_id), severity=Severity.GENERAL,
                                     owner=owner_for(site_id, sites), by=ACTOR, now=now, title=title,
                                     audit_key=audit_key)
        except InvalidHazard:
            # One report the tracker refuses must not stop every other report and every deadline:
            # it stays in hazard_reports for a person to triage.
            log.warning("hazard report %s could not be tracked automatically", report_id, exc_info=True)
            continue
        made += 1
    return made


# How far back the job looks for patrol hazard events not yet tracked. Events are written as they
# arrive, and those held in the spool during a database outage keep their own time when replayed;
# a month covers any outage the spool's quota allows.
PATROL_EVENTS_LOOKBACK: Final = timedelta(days=31)
# The title of a patrol hazard sent without a note.
PATROL_HAZARD_TITLE: Final = "巡查发现隐患"


def convert_patrol_events(conn: Conn, sites: Mapping[str, HazardSite], now: datetime, *,
                          audit_key: bytes | None = None) -> int:
    """Track every `patrol`/`hazard` event (a custodian reporting a hazard during a round) of the
    last month not yet tracked; the number of hazards made."""
    rows = conn.execute(
        "SELECT e.ts, e.site_id, e.device_id, e.event_key, e.attrs FROM events e "
        "WHERE e.source = 'patrol' AND e.type = 'hazard' AND e.ts >= %s AND NOT EXISTS ("
        "SELECT 1 FROM hazards h WHERE h.source = 'patrol' AND h.source_ref = "
        "%s || e.site_id || '/' || e.device_id || '/' || e.event_key) ORDER BY e.ts",
        (now - PATROL_EVENTS_LOOKBACK, hazard_store.PATROL_EVENT_REF),
    ).fetchall()
    made = 0
    for ts, site_id, device_id, event_key, attrs in rows:
        fields = attrs if isinstance(attrs, dict) else {}
        note = str(fields.get("note") or "").strip()
        detail = {key: fields[key] for key in ("custodian", "route", "checkpoint", "photo", "lat", "lon")
                  if fields.get(key) is not None}
        try:
            hazard = hazard_store.from_patrol_event(
                conn, site_id=site_id, device_id=device_id, event_key=event_key, found_at=ts,
                title=hazard_store.report_title(note) or PATROL_HAZARD_TITLE, description=note[:2000],
                owner=owner_for(site_id, sites), by=ACTOR, now=now, detail=detail, audit_key=audit_key)
        except InvalidHazard:
            log.warning("patrol hazard event %s/%s/%s could not be tracked", site_id, device_id, event_key,
                        exc_info=True)
            continue
        made += hazard is not None
    return made


def _state(row: tuple[Any, ...] | None) -> DeadlineState:
    if row is None:
        return FRESH
    deadline, reminders_sent, steps_done, escalated_to = row
    return DeadlineState(deadline=deadline, reminders_sent=int(reminders_sent), steps_done=int(steps_done),
                         escalated_to=tuple(Audience(a) for a in escalated_to))


def stored_states(conn: Conn, hazard_ids: Collection[int]) -> dict[int, DeadlineState]:
    """The stored states of `hazard_ids`, unlocked: enough to tell which hazards have work due."""
    rows = conn.execute(
        "SELECT hazard_id, deadline, reminders_sent, steps_done, escalated_to FROM hazard_deadline_state "
        "WHERE hazard_id = ANY(%s::bigint[])", (sorted(hazard_ids),),
    ).fetchall()
    return {int(row[0]): _state(tuple(row[1:])) for row in rows}


def _locked_state(conn: Conn, hazard_id: int, now: datetime) -> DeadlineState:
    # A row to lock even for a hazard never planned before: two instances planning it at once
    # then queue on the same row instead of both sending its first reminder.
    conn.execute(
        "INSERT INTO hazard_deadline_state (hazard_id, updated_at) VALUES (%s, %s) ON CONFLICT (hazard_id) DO NOTHING",
        (hazard_id, now),
    )
    row = conn.execute(
        "SELECT deadline, reminders_sent, steps_done, escalated_to FROM hazard_deadline_state "
        "WHERE hazard_id = %s FOR UPDATE", (hazard_id,),
    ).fetchone()
    return _state(None if row is None else tuple(row))


def _store_state(conn: Conn, hazard_id: int, state: DeadlineState, now: datetime) -> None:
    conn.execute(
        "UPDATE hazard_deadline_state SET deadline = %s, reminders_sent = %s, steps_done = %s, escalated_to = %s, "
        "updated_at = %s WHERE hazard_id = %s",
        (state.deadline, state.reminders_sent, state.steps_done, Jsonb([a.value for a in state.escalated_to]), now,
         hazard_id),
    )


def plan_deadlines(conn: Conn, now: datetime,
                   policy: DeadlinePolicy = DEFAULT_POLICY) -> tuple[int, list[HazardNotice]]:
    """Plan every open hazard at `now`: (hazards checked, notices due), the new states stored."""
    hazards = hazard_store.list_open(conn)
    known = stored_states(conn, [hazard.id for hazard in hazards])
    notices: list[HazardNotice] = []
    for hazard in hazards:
        due = next_due(hazard, known.get(hazard.id, FRESH), policy)
        if due is None or due > now:
            continue  # nothing to send: no row to lock or write
        state = _locked_state(conn, hazard.id, now)
        new_state, actions = due_actions(hazard, state, now, policy)
        if new_state != state:
            _store_state(conn, hazard.id, new_state, now)
        notices.extend(notice_of(hazard, action) for action in actions)
    return len(hazards), notices


def make_hazard_job(
    sites: Mapping[str, HazardSite],
    on_notices: Callable[[list[HazardNotice]], None],
    *,
    policy: DeadlinePolicy = DEFAULT_POLICY,
    audit_key: bytes | None = None,
) -> JobFunction:
    """The schedule job. `on_notices` is called (from the job's worker thread) with the notices of
    a run, only when there are some; it should hand them over and return quickly, since the state
    rows stay locked until it does. With `audit_key`, hazards made from reports are also written
    to the audit trail."""

    def run(conn: Conn, now: datetime) -> str:
        converted = (convert_reports(conn, sites, now, audit_key=audit_key)
                     + convert_patrol_events(conn, sites, now, audit_key=audit_key))
        checked, notices = plan_deadlines(conn, now, policy)
        if notices:
            on_notices(notices)
        reminders = sum(1 for notice in notices if notice.kind is NoticeKind.REMINDER)
        return (f"converted {converted}, checked {checked}, reminders {reminders}, "
                f"escalations {len(notices) - reminders}")

    return run
