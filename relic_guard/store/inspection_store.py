"""Inspections in PostgreSQL (sql/012_inspections.sql): the year's plan, draws' inspections, moves,
findings tracked as hazards, and what the overdue job has sent.

Plain functions over a synchronous psycopg connection, as `relic_guard.store.hazard_store`. The
rules live in `relic_guard.inspections.annual`; this module loads, stores and records:
- every change writes the inspection row and its `inspection_events` line in one transaction, and,
  given the audit key, the matching audit entry (kind `inspection.<what>`, subject
  `inspection:<id>`), so the table, the record and the hash-chained trail never disagree. A caller
  without the key (the HTTP API: the daemon's key stays with its journal) passes `deferred`, a
  list that receives the audit entries to hand to the journal once the transaction committed;
- `transition` locks the row (SELECT … FOR UPDATE) while the pure command decides, so two people
  completing and cancelling the same inspection at once get one move and one refusal;
- planning is idempotent by the stable ids (`ensure_year_plan`, `create_from_draw`): asked again,
  after downtime or from a second daemon at the same moment, nothing is inserted twice;
- completing with findings tracks each finding as a hazard (hazards, 008: source `inspection`,
  source_ref the inspection id) in the same transaction, and the findings keep the hazard ids.
`conn` is in autocommit mode or idle; inside a caller's transaction the writes commit with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final, Protocol

import psycopg
from psycopg.types.json import Jsonb

from relic_guard import audit
from relic_guard.audit import AuditEntry
from relic_guard.hazards.job import owner_for
from relic_guard.hazards.model import HazardSource
from relic_guard.inspections import annual
from relic_guard.inspections.annual import (
    AnnualPolicy,
    Attachment,
    Finding,
    Inspection,
    InspectionEvent,
    InspectionKind,
    InspectionStatus,
    InvalidInspection,
    OverdueEnded,
    OverdueState,
    PlanSite,
    Rating,
    Transition,
    UnknownInspection,
)
from relic_guard.inspections.draw import Draw, PastInspection
from relic_guard.store import hazard_store
from relic_guard.store.hazards import Photo

Conn = psycopg.Connection[Any]

_COLUMNS: Final = ("id, kind, year, district, site_id, target_name, draw_id, reinspection, due_on, status, assignees, "
                   "done_on, rating, summary, findings, attachments, cancel_reason, updated_at, updated_by")
# Lists read in the order people think of a year: the districts' supervisions, then the sites'
# evaluations, then the fire inspections; by district and site within each.
_ORDER: Final = ("ORDER BY array_position(ARRAY['district_supervision', 'site_evaluation', 'fire_random'], kind), "
                 "district, site_id NULLS FIRST, id")


class FindingSite(Protocol):
    """What tracking a finding needs of a site: its district (a supervision's finding must lie in
    the district) and custodians (the first owns the hazard, as for reports)."""

    @property
    def district(self) -> str: ...
    @property
    def custodians(self) -> tuple[str, ...]: ...


def _inspection(row: Sequence[Any]) -> Inspection:
    return Inspection(
        id=row[0], kind=InspectionKind(row[1]), year=int(row[2]), district=row[3], site_id=row[4],
        target_name=row[5], draw_id=None if row[6] is None else int(row[6]), reinspection=bool(row[7]),
        due_on=row[8], status=InspectionStatus(row[9]), assignees=tuple(str(a) for a in row[10]), done_on=row[11],
        rating=None if row[12] is None else Rating(row[12]), summary=row[13],
        findings=tuple(Finding.from_json(item) for item in row[14]),
        attachments=tuple(Attachment.from_json(item) for item in row[15]), cancel_reason=row[16],
        updated_at=row[17], updated_by=row[18],
    )


def audit_entry_of(event: InspectionEvent) -> AuditEntry:
    return AuditEntry(at=event.at, actor=event.actor, kind=event.kind, subject=f"inspection:{event.inspection_id}",
                      detail=event.detail)


def _record(conn: Conn, found: Sequence[InspectionEvent], audit_key: bytes | None,
            deferred: list[AuditEntry] | None) -> None:
    if not found:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO inspection_events (inspection_id, at, kind, actor, detail) VALUES (%s, %s, %s, %s, %s)",
            [(e.inspection_id, e.at, e.kind, e.actor, Jsonb(dict(e.detail))) for e in found],
        )
    _audit(conn, [audit_entry_of(event) for event in found], audit_key, deferred)


def _audit(conn: Conn, entries: list[AuditEntry], audit_key: bytes | None, deferred: list[AuditEntry] | None) -> None:
    if audit_key is not None:
        audit.append(conn, audit_key, entries)
    elif deferred is not None:
        deferred.extend(entries)


def _insert(conn: Conn, inspection: Inspection, now: datetime, by: str) -> bool:
    """Insert unless an inspection of that id exists; True when this call inserted it."""
    row = conn.execute(
        "INSERT INTO inspections (id, kind, year, district, site_id, target_name, draw_id, reinspection, due_on, "
        "status, assignees, updated_at, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING RETURNING id",
        (inspection.id, inspection.kind.value, inspection.year, inspection.district, inspection.site_id,
         inspection.target_name, inspection.draw_id, inspection.reinspection, inspection.due_on,
         inspection.status.value, Jsonb(list(inspection.assignees)), now, by),
    ).fetchone()
    return row is not None


def ensure_year_plan(conn: Conn, year: int, sites: Iterable[PlanSite], policy: AnnualPolicy, *, now: datetime,
                     by: str, audit_key: bytes | None, deferred: list[AuditEntry] | None = None) -> int:
    """Make sure the year's plan for `sites` is stored; the number of inspections new to it.
    Existing inspections are left as they are (their due day included), so a site added to the
    registry mid-year is planned at the next call and nothing else changes."""
    plan = annual.plan_year(year, sites, policy)
    with conn.transaction():
        rows = conn.execute("SELECT id FROM inspections WHERE id = ANY(%s::text[])",
                            ([p.id for p in plan],)).fetchall()
        have = {str(row[0]) for row in rows}
        made: list[InspectionEvent] = []
        for planned in plan:
            if planned.id in have or not _insert(conn, Inspection.planned(planned), now, by):
                continue
            made.append(InspectionEvent(planned.id, now, "inspection.planned", by, {
                "kind": planned.kind.value, "year": planned.year, "district": planned.district,
                "site_id": planned.site_id, "target_name": planned.target_name,
                "due_on": planned.due_on.isoformat(),
            }))
        _record(conn, made, audit_key, deferred)
    return len(made)


def draw_inspection_id(draw_id: int, target_id: str) -> str:
    return f"draw/{draw_id}/{target_id}"


def create_from_draw(conn: Conn, *, draw_id: int, result: Draw, now: datetime, by: str,
                     audit_key: bytes | None) -> list[str]:
    """One `fire_random` inspection per drawn target of the stored draw `draw_id`, assigned to the
    drawn inspectors in team order and due when the period ends; the ids in draw order. Asked
    again for the same draw, it inserts nothing and returns the same ids."""
    ids: list[str] = []
    with conn.transaction():
        made: list[InspectionEvent] = []
        for assignment in result.assignments:
            target = assignment.target
            inspection = Inspection(
                id=draw_inspection_id(draw_id, target.id), kind=InspectionKind.FIRE_RANDOM,
                year=result.period.start.year, district=target.district, site_id=target.id, target_name=target.name,
                due_on=result.period.end, status=InspectionStatus.ASSIGNED,
                assignees=tuple(inspector.id for inspector in assignment.inspectors), draw_id=draw_id,
            )
            ids.append(inspection.id)
            if _insert(conn, inspection, now, by):
                made.append(InspectionEvent(inspection.id, now, "inspection.drawn", by, {
                    "draw_id": draw_id, "period": result.period.label, "target_name": target.name,
                    "district": target.district, "mandatory": assignment.mandatory,
                    "assignees": list(inspection.assignees), "due_on": inspection.due_on.isoformat(),
                }))
        _record(conn, made, audit_key, None)
    return ids


def draw_history(conn: Conn, target_ids: Collection[str], *, before: date) -> list[PastInspection]:
    """The done `fire_random` inspections of these targets before `before`, re-inspections
    flagged, oldest first: the history a next draw's frequency rules count."""
    rows = conn.execute(
        "SELECT site_id, done_on, reinspection FROM inspections WHERE kind = 'fire_random' AND status = 'done' "
        "AND site_id = ANY(%s::text[]) AND done_on < %s ORDER BY done_on, site_id, id",
        (sorted(target_ids), before),
    ).fetchall()
    return [PastInspection(target_id=str(r[0]), on=r[1], reinspection=bool(r[2])) for r in rows]


def list_inspections(conn: Conn, *, year: int, district: str | None = None, kind: InspectionKind | None = None,
                     status: InspectionStatus | None = None, sites: Collection[str] | None = None) -> list[Inspection]:
    """The year's inspections matching the filters. `sites` keeps those at these sites (None: all);
    a district supervision is at no one site, so `sites` leaves it out."""
    scope = sorted(sites) if sites is not None else None
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM inspections WHERE year = %(year)s "
        "AND (%(district)s::text IS NULL OR district = %(district)s) "
        "AND (%(kind)s::text IS NULL OR kind = %(kind)s) "
        "AND (%(status)s::text IS NULL OR status = %(status)s) "
        f"AND (%(scope)s::text[] IS NULL OR site_id = ANY(%(scope)s::text[])) {_ORDER}",
        {"year": year, "district": district, "kind": kind.value if kind else None,
         "status": status.value if status else None, "scope": scope},
    ).fetchall()
    return [_inspection(r) for r in rows]


def get(conn: Conn, inspection_id: str) -> Inspection | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM inspections WHERE id = %s", (inspection_id,)).fetchone()
    return None if row is None else _inspection(row)


def events(conn: Conn, inspection_id: str) -> list[InspectionEvent]:
    """The record of one inspection, oldest first."""
    rows = conn.execute(
        "SELECT inspection_id, at, kind, actor, detail FROM inspection_events WHERE inspection_id = %s ORDER BY id",
        (inspection_id,),
    ).fetchall()
    return [InspectionEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def open_past_due(conn: Conn, day: date) -> list[Inspection]:
    """Planned and assigned inspections whose due day is before `day` (China's), oldest due first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM inspections WHERE status IN ('planned', 'assigned') AND due_on < %s "
        "ORDER BY due_on, id",
        (day,),
    ).fetchall()
    return [_inspection(r) for r in rows]


def _update(conn: Conn, new: Inspection, at: datetime) -> None:
    conn.execute(
        "UPDATE inspections SET status = %s, assignees = %s, done_on = %s, rating = %s, summary = %s, findings = %s, "
        "attachments = %s, cancel_reason = %s, updated_at = %s, updated_by = %s WHERE id = %s",
        (new.status.value, Jsonb(list(new.assignees)), new.done_on, new.rating.value if new.rating else None,
         new.summary, Jsonb([f.as_json() for f in new.findings]), Jsonb([a.as_json() for a in new.attachments]),
         new.cancel_reason, at, new.updated_by, new.id),
    )


def get_for_update(conn: Conn, inspection_id: str) -> Inspection:
    """The inspection, its row locked until the caller's transaction ends; UnknownInspection if none."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM inspections WHERE id = %s FOR UPDATE", (inspection_id,)).fetchone()
    if row is None:
        raise UnknownInspection(f"no inspection has id '{inspection_id}'; `relic-guard inspection list --year YYYY` "
                                "shows the ids")
    return _inspection(row)


def transition(conn: Conn, inspection_id: str, step: Callable[[Inspection], Transition], *,
               audit_key: bytes | None = None, deferred: list[AuditEntry] | None = None) -> Inspection:
    """Apply a lifecycle command to the stored inspection, e.g.
    `transition(conn, id, lambda i: annual.cancel(i, by=..., now=..., reason=...))`.
    The command's refusals propagate; nothing is written then."""
    with conn.transaction():
        moved = step(get_for_update(conn, inspection_id))
        _check_same(inspection_id, moved)
        _update(conn, moved.inspection, moved.event.at)
        _record(conn, [moved.event], audit_key, deferred)
    return moved.inspection


def _check_same(inspection_id: str, moved: Transition) -> None:
    if moved.inspection.id != inspection_id or moved.event.inspection_id != inspection_id:
        raise ValueError("a lifecycle command must not change which inspection it is about")


def assign(conn: Conn, inspection_id: str, *, to: Sequence[str], by: str, now: datetime,
           audit_key: bytes | None = None, deferred: list[AuditEntry] | None = None) -> Inspection:
    return transition(conn, inspection_id, lambda i: annual.assign(i, to=to, by=by, now=now),
                      audit_key=audit_key, deferred=deferred)


def cancel(conn: Conn, inspection_id: str, *, reason: str, by: str, now: datetime,
           audit_key: bytes | None = None, deferred: list[AuditEntry] | None = None) -> Inspection:
    return transition(conn, inspection_id, lambda i: annual.cancel(i, by=by, now=now, reason=reason),
                      audit_key=audit_key, deferred=deferred)


def complete(conn: Conn, inspection_id: str, *, rating: Rating | str, summary: str, findings: Sequence[Finding] = (),
             attachments: Sequence[Attachment] = (), photos: Sequence[Photo] = (),
             sites: Mapping[str, FindingSite], by: str, now: datetime, audit_key: bytes | None = None,
             deferred: list[AuditEntry] | None = None) -> Inspection:
    """Complete with the evaluation. `photos` (checked by `relic_guard.store.hazards.photo_of`) are
    kept in hazard_photos, content-addressed; `attachments` name them by SHA-256, as they may name
    photos stored earlier (a SHA-256 that nothing stored is refused). Each finding becomes a hazard
    at its site, owned by the site's first custodian, found now."""
    with conn.transaction():
        moved = annual.complete(get_for_update(conn, inspection_id), by=by, now=now, rating=rating, summary=summary,
                                findings=findings, attachments=attachments)
        _check_same(inspection_id, moved)
        inspection = moved.inspection
        for photo in photos:
            conn.execute(
                "INSERT INTO hazard_photos (sha256, content_type, bytes) VALUES (%s, %s, %s) "
                "ON CONFLICT (sha256) DO NOTHING",
                (photo.sha256, photo.content_type, photo.data),
            )
        _check_photos(conn, inspection.attachments)
        hazard_ids: list[int] = []
        hazard_entries: list[AuditEntry] = []
        for number, finding in enumerate(inspection.findings, start=1):
            site_id = finding.site_id
            assert site_id is not None  # annual.complete puts a site on every finding
            if inspection.kind is InspectionKind.DISTRICT_SUPERVISION:
                _check_in_district(number, finding, inspection.district, sites)
            hazard = hazard_store.create(
                conn, site_id=site_id, source=HazardSource.INSPECTION, source_ref=inspection.id, title=finding.title,
                description=finding.description, severity=finding.severity, owner=owner_for(site_id, sites),
                found_at=now, by=by, now=now, audit_key=audit_key,
            )
            hazard_ids.append(hazard.id)
            if audit_key is None and deferred is not None:
                hazard_entries += [hazard_store.audit_entry_of(e) for e in hazard_store.events(conn, hazard.id)]
        moved = annual.with_hazards(moved, hazard_ids)
        _update(conn, moved.inspection, now)
        if deferred is not None:
            deferred.extend(hazard_entries)  # before the completion, as a trail written with the key has them
        _record(conn, [moved.event], audit_key, deferred)
    return moved.inspection


def _check_photos(conn: Conn, attachments: Sequence[Attachment]) -> None:
    wanted = {a.photo_sha256 for a in attachments if a.photo_sha256 is not None}
    if not wanted:
        return
    rows = conn.execute("SELECT sha256 FROM hazard_photos WHERE sha256 = ANY(%s::text[])", (sorted(wanted),)).fetchall()
    missing = sorted(wanted - {str(r[0]) for r in rows})
    if missing:
        raise InvalidInspection(f"no stored photo has SHA-256 {', '.join(missing)}; upload the photo first "
                                "(or attach it with --photo on the command line)")


def _check_in_district(number: int, finding: Finding, district: str, sites: Mapping[str, FindingSite]) -> None:
    site = sites.get(finding.site_id or "")
    if site is None or site.district != district:
        known = sorted(site_id for site_id, s in sites.items() if s.district == district)
        raise InvalidInspection(
            f"finding {number} ({finding.title}): '{finding.site_id}' is not a registered site of {district}; "
            f"name one of: {', '.join(known) or '(the registry has no site there)'}")


# What the overdue job has sent -----------------------------------------------------------------------


def _state(row: Sequence[Any] | None) -> OverdueState:
    return OverdueState() if row is None else OverdueState(due_on=row[0], steps_done=int(row[1]))


def overdue_states(conn: Conn, inspection_ids: Collection[str]) -> dict[str, OverdueState]:
    """The stored states of these inspections, unlocked: enough to tell which have a notice due."""
    rows = conn.execute(
        "SELECT inspection_id, due_on, steps_done FROM inspection_overdue_state WHERE inspection_id = ANY(%s::text[])",
        (sorted(inspection_ids),),
    ).fetchall()
    return {str(r[0]): _state(r[1:]) for r in rows}


def locked_overdue_state(conn: Conn, inspection: Inspection, now: datetime) -> OverdueState:
    """The state of one inspection, its row locked until the transaction ends. The row is made
    first when missing, so two instances planning the same inspection queue on it instead of
    both sending its first notice."""
    conn.execute(
        "INSERT INTO inspection_overdue_state (inspection_id, due_on, updated_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (inspection_id) DO NOTHING",
        (inspection.id, inspection.due_on, now),
    )
    row = conn.execute(
        "SELECT due_on, steps_done FROM inspection_overdue_state WHERE inspection_id = %s FOR UPDATE",
        (inspection.id,),
    ).fetchone()
    return _state(row)


def finished_after_notices(conn: Conn, now: datetime) -> list[OverdueEnded]:
    """The inspections done or cancelled since overdue notices went out for them, marked ended
    (each is returned by one run only; rolled back with the run if its hand-over fails)."""
    rows = conn.execute(
        "UPDATE inspection_overdue_state s SET ended_at = %s, updated_at = %s FROM inspections i "
        "WHERE i.id = s.inspection_id AND s.steps_done > 0 AND s.ended_at IS NULL "
        "AND i.status IN ('done', 'cancelled') RETURNING i.id, i.kind, i.district, i.site_id, i.status",
        (now, now),
    ).fetchall()
    return sorted((OverdueEnded(inspection_id=row[0], kind=InspectionKind(row[1]), district=row[2], site_id=row[3],
                                status=InspectionStatus(row[4])) for row in rows),
                  key=lambda ended: ended.inspection_id)


def store_overdue_state(conn: Conn, inspection_id: str, state: OverdueState, now: datetime) -> None:
    conn.execute(
        "UPDATE inspection_overdue_state SET due_on = %s, steps_done = %s, updated_at = %s WHERE inspection_id = %s",
        (state.due_on, state.steps_done, now, inspection_id),
    )
