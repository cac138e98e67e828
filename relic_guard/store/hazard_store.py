"""Tracked hazards in PostgreSQL (sql/008_hazards.sql): rows, timelines, the open and overdue lists.

Plain functions over a synchronous psycopg connection, as `relic_guard.store.hazards`. The rules
live in `relic_guard.hazards.model`; this module only loads, stores and records:
- every change writes the hazard row and its `hazard_events` line in one transaction, and, given
  the audit key, the matching audit entry (kind `hazard.<what>`, subject `hazard:<id>`), so the
  table, the timeline and the hash-chained trail never disagree;
- `transition` locks the row (SELECT … FOR UPDATE) while the pure command decides, so two people
  closing and cancelling the same hazard at once get one move and one IllegalHazardTransition;
- `from_report` makes at most one hazard of a custodian's report (a unique index): asked twice,
  it returns the hazard made the first time; `from_patrol_event` likewise of a patrol's `hazard`
  event;
- photos of rectification go into hazard_photos (007) beside the reports' (`store_photo`), and
  one is served for a hazard only when that hazard's timeline names it (`hazard_photo`).
`conn` is in autocommit mode or idle; inside a caller's transaction the writes commit with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from relic_guard import audit
from relic_guard.audit import AuditEntry
from relic_guard.hazards.model import (
    DEFAULT_RECTIFY_WORKING_DAYS,
    Evidence,
    Hazard,
    HazardEvent,
    HazardSource,
    HazardStatus,
    InvalidHazard,
    Severity,
    Transition,
    UnknownHazard,
    deadline_for,
)
from relic_guard.hazards.workdays import local_day
from relic_guard.store.hazards import Photo

Conn = psycopg.Connection[Any]

MAX_TITLE_CHARS: Final = 200
MAX_DESCRIPTION_CHARS: Final = 2000
# A report has a description only: its first line, cut to this, is the hazard's title.
REPORT_TITLE_CHARS: Final = 60

_COLUMNS: Final = ("id, site_id, source, source_ref, title, description, severity, owner, found_at, deadline, "
                   "status, plan, closed_at, closed_by, evidence")


def _hazard(row: Sequence[Any]) -> Hazard:
    return Hazard(
        id=int(row[0]), site_id=row[1], source=HazardSource(row[2]), source_ref=row[3], title=row[4],
        description=row[5], severity=Severity(row[6]), owner=row[7], found_at=row[8], deadline=row[9],
        status=HazardStatus(row[10]), plan=row[11], closed_at=row[12], closed_by=row[13],
        evidence=tuple(Evidence.from_json(item) for item in row[14]),
    )


def audit_entry_of(event: HazardEvent) -> AuditEntry:
    return AuditEntry(at=event.at, actor=event.actor, kind=event.kind, subject=f"hazard:{event.hazard_id}",
                      detail=event.detail)


def _record(conn: Conn, event: HazardEvent, audit_key: bytes | None) -> None:
    conn.execute(
        "INSERT INTO hazard_events (hazard_id, at, kind, actor, detail) VALUES (%s, %s, %s, %s, %s)",
        (event.hazard_id, event.at, event.kind, event.actor, Jsonb(dict(event.detail))),
    )
    if audit_key is not None:
        audit.append(conn, audit_key, [audit_entry_of(event)])


# A patrol event's hazard names the event: `event:<site>/<device>/<event key>` (sql/014).
PATROL_EVENT_REF: Final = "event:"


def patrol_event_ref(site_id: str, device_id: str, event_key: str) -> str:
    return f"{PATROL_EVENT_REF}{site_id}/{device_id}/{event_key}"


def _conflict(source: HazardSource, source_ref: str | None) -> str:
    """The ON CONFLICT clause of the unique indexes that make one hazard of one report or event."""
    if source is HazardSource.REPORT:
        return "ON CONFLICT (source_ref) WHERE source = 'report' DO NOTHING "
    if source is HazardSource.PATROL and source_ref is not None and source_ref.startswith(PATROL_EVENT_REF):
        return "ON CONFLICT (source_ref) WHERE source = 'patrol' AND source_ref LIKE 'event:%%' DO NOTHING "
    return ""


def _insert(conn: Conn, *, site_id: str, source: HazardSource, source_ref: str | None, title: str,
            description: str, severity: Severity, owner: str, found_at: datetime, deadline: date,
            now: datetime) -> Hazard | None:
    """The new hazard, or None when a hazard was made of this report or event already."""
    conflict = _conflict(source, source_ref)
    row = conn.execute(
        "INSERT INTO hazards (site_id, source, source_ref, title, description, severity, owner, found_at, "
        "deadline, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) " + conflict +
        f"RETURNING {_COLUMNS}",
        (site_id, source.value, source_ref, title, description, severity.value, owner, found_at, deadline, now),
    ).fetchone()
    return None if row is None else _hazard(row)


def _checked(title: str, description: str, owner: str) -> tuple[str, str, str]:
    title, owner = title.strip(), owner.strip()
    if not title or len(title) > MAX_TITLE_CHARS:
        raise InvalidHazard(f"a hazard needs a title of 1 to {MAX_TITLE_CHARS} characters")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidHazard(f"a description has at most {MAX_DESCRIPTION_CHARS} characters")
    if not owner:
        raise InvalidHazard("a hazard needs an owner who rectifies it")
    return title, description.strip(), owner


def create(conn: Conn, *, site_id: str, source: HazardSource, source_ref: str | None, title: str,
           description: str, severity: Severity, owner: str, found_at: datetime, by: str, now: datetime,
           deadline: date | None = None, periods: Mapping[Severity, int] = DEFAULT_RECTIFY_WORKING_DAYS,
           audit_key: bytes | None = None) -> Hazard:
    """Record a hazard found at `found_at`; the deadline defaults to `deadline_for` the day found."""
    title, description, owner = _checked(title, description, owner)
    due = deadline if deadline is not None else deadline_for(severity, local_day(found_at), periods)
    with conn.transaction():
        hazard = _insert(conn, site_id=site_id, source=source, source_ref=source_ref, title=title,
                         description=description, severity=severity, owner=owner, found_at=found_at,
                         deadline=due, now=now)
        if hazard is None:
            raise InvalidHazard(f"{source.value} {source_ref} is tracked already")
        _record(conn, _created(hazard, by, now, {}), audit_key)
    return hazard


def _created(hazard: Hazard, by: str, now: datetime, extra: Mapping[str, object]) -> HazardEvent:
    detail: dict[str, object] = {"site_id": hazard.site_id, "source": hazard.source.value,
                                 "source_ref": hazard.source_ref, "severity": hazard.severity.value,
                                 "owner": hazard.owner, "deadline": hazard.deadline.isoformat(), **extra}
    return HazardEvent(hazard.id, now, "hazard.created", by, detail)


def report_title(description: str) -> str:
    first = description.strip().splitlines()[0].strip() if description.strip() else ""
    return first if len(first) <= REPORT_TITLE_CHARS else first[: REPORT_TITLE_CHARS - 1] + "…"


def from_report(conn: Conn, report_id: int, *, severity: Severity, owner: str, by: str, now: datetime,
                title: str | None = None, periods: Mapping[Severity, int] = DEFAULT_RECTIFY_WORKING_DAYS,
                audit_key: bytes | None = None) -> Hazard:
    """Track the custodian's report `report_id` (hazard_reports) as a hazard: found when reported,
    at the report's site, with its description; whoever triages it sets severity and owner. The
    report's photo shows the hazard, not its rectification, so it is named in the `created` event
    rather than counted as evidence. A report already tracked gives back its hazard unchanged."""
    with conn.transaction():
        row = conn.execute(
            "SELECT site_id, reported_by, description, photo_sha256, reported_at FROM hazard_reports "
            "WHERE id = %s FOR SHARE", (report_id,),
        ).fetchone()
        if row is None:
            raise UnknownHazard(f"no hazard report has id {report_id}")
        site_id, reported_by, description, photo_sha256, reported_at = row
        checked_title, text, checked_owner = _checked(title or report_title(description), description, owner)
        hazard = _insert(conn, site_id=site_id, source=HazardSource.REPORT, source_ref=str(report_id),
                         title=checked_title, description=text, severity=severity, owner=checked_owner,
                         found_at=reported_at, deadline=deadline_for(severity, local_day(reported_at), periods),
                         now=now)
        if hazard is None:
            existing = conn.execute(
                f"SELECT {_COLUMNS} FROM hazards WHERE source = 'report' AND source_ref = %s", (str(report_id),),
            ).fetchone()
            assert existing is not None  # the unique index that refused the insert holds it
            return _hazard(existing)
        _record(conn, _created(hazard, by, now, {"reported_by": reported_by, "photo_sha256": photo_sha256}),
                audit_key)
    return hazard


def from_patrol_event(conn: Conn, *, site_id: str, device_id: str, event_key: str, found_at: datetime,
                      title: str, description: str, owner: str, by: str, now: datetime,
                      detail: Mapping[str, object], audit_key: bytes | None = None) -> Hazard | None:
    """Track a hazard reported during a patrol (a `patrol`/`hazard` event) as a general hazard;
    None when that event is tracked already (redelivered, replayed, or another instance's run)."""
    title, description, owner = _checked(title, description, owner)
    ref = patrol_event_ref(site_id, device_id, event_key)
    with conn.transaction():
        hazard = _insert(conn, site_id=site_id, source=HazardSource.PATROL, source_ref=ref, title=title,
                         description=description, severity=Severity.GENERAL, owner=owner, found_at=found_at,
                         deadline=deadline_for(Severity.GENERAL, local_day(found_at)), now=now)
        if hazard is not None:
            _record(conn, _created(hazard, by, now, detail), audit_key)
    return hazard


def get(conn: Conn, hazard_id: int) -> Hazard | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM hazards WHERE id = %s", (hazard_id,)).fetchone()
    return None if row is None else _hazard(row)


def transition(conn: Conn, hazard_id: int, step: Callable[[Hazard], Transition], *,
               audit_key: bytes | None = None) -> Hazard:
    """Apply a lifecycle command to the stored hazard, e.g.
    `transition(conn, 7, lambda h: model.close(h, by=..., now=..., evidence=[...]))`.
    The command's refusals (IllegalHazardTransition, MissingEvidence…) propagate; nothing is written then."""
    with conn.transaction():
        row = conn.execute(f"SELECT {_COLUMNS} FROM hazards WHERE id = %s FOR UPDATE", (hazard_id,)).fetchone()
        if row is None:
            raise UnknownHazard(f"no hazard has id {hazard_id}")
        moved = step(_hazard(row))
        new, event = moved.hazard, moved.event
        if new.id != hazard_id or event.hazard_id != hazard_id:
            raise ValueError("a lifecycle command must not change which hazard it is about")
        conn.execute(
            "UPDATE hazards SET status = %s, plan = %s, deadline = %s, closed_at = %s, closed_by = %s, "
            "evidence = %s, updated_at = %s WHERE id = %s",
            (new.status.value, new.plan, new.deadline, new.closed_at, new.closed_by,
             Jsonb([item.as_json() for item in new.evidence]), event.at, hazard_id),
        )
        _record(conn, event, audit_key)
    return new


def events(conn: Conn, hazard_id: int) -> list[HazardEvent]:
    """The timeline of one hazard, oldest first."""
    rows = conn.execute(
        "SELECT hazard_id, at, kind, actor, detail FROM hazard_events WHERE hazard_id = %s ORDER BY id",
        (hazard_id,),
    ).fetchall()
    return [HazardEvent(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def list_open(conn: Conn, sites: Collection[str] | None = None) -> list[Hazard]:
    """Open and rectifying hazards at `sites` (None: every site), nearest deadline first."""
    scope = sorted(sites) if sites is not None else None
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM hazards WHERE status IN ('open', 'rectifying') "
        "AND (%s::text[] IS NULL OR site_id = ANY(%s::text[])) ORDER BY deadline, id",
        (scope, scope),
    ).fetchall()
    return [_hazard(r) for r in rows]


def overdue(conn: Conn, now: datetime) -> list[Hazard]:
    """Open and rectifying hazards whose deadline day (in China) ended before `now`, most overdue first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM hazards WHERE status IN ('open', 'rectifying') AND deadline < %s "
        "ORDER BY deadline, id",
        (local_day(now),),
    ).fetchall()
    return [_hazard(r) for r in rows]


def list_hazards(conn: Conn, *, sites: Collection[str] | None = None, site: str | None = None,
                 statuses: Collection[HazardStatus] | None = None, severity: Severity | None = None,
                 overdue: bool | None = None, today: date | None = None, limit: int = 500) -> list[Hazard]:
    """Hazards at `sites` (None: every site) matching the filters: open and rectifying ones first,
    nearest deadline first, then the finished ones, most recently finished first. `overdue`
    True keeps the open hazards whose deadline ended before `today` (China's calendar day), False
    every other one; it needs `today`."""
    if overdue is not None and today is None:
        raise ValueError("filtering by overdue needs today's date")
    scope = sorted(sites) if sites is not None else None
    wanted = sorted(status.value for status in statuses) if statuses is not None else None
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM hazards WHERE (%(scope)s::text[] IS NULL OR site_id = ANY(%(scope)s::text[])) "
        "AND (%(site)s::text IS NULL OR site_id = %(site)s) "
        "AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[])) "
        "AND (%(severity)s::text IS NULL OR severity = %(severity)s) "
        "AND (%(overdue)s::boolean IS NULL OR "
        "     (status IN ('open', 'rectifying') AND deadline < %(today)s::date) = %(overdue)s) "
        "ORDER BY status IN ('open', 'rectifying') DESC, "
        "CASE WHEN status IN ('open', 'rectifying') THEN deadline END, closed_at DESC NULLS LAST, id DESC "
        "LIMIT %(limit)s",
        {"scope": scope, "site": site, "statuses": wanted, "severity": severity.value if severity else None,
         "overdue": overdue, "today": today, "limit": limit},
    ).fetchall()
    return [_hazard(r) for r in rows]


def store_photo(conn: Conn, photo: Photo) -> None:
    """Keep a checked photo (`relic_guard.store.hazards.photo_of`) in hazard_photos; a photo
    stored already (same SHA-256) is left as it is."""
    conn.execute(
        "INSERT INTO hazard_photos (sha256, content_type, bytes) VALUES (%s, %s, %s) ON CONFLICT (sha256) DO NOTHING",
        (photo.sha256, photo.content_type, photo.data),
    )


def stored_photos(conn: Conn, sha256s: Collection[str]) -> set[str]:
    """Which of these photos hazard_photos holds."""
    rows = conn.execute("SELECT sha256 FROM hazard_photos WHERE sha256 = ANY(%s::text[])",
                        (sorted(sha256s),)).fetchall()
    return {str(row[0]) for row in rows}


def hazard_photo(conn: Conn, hazard_id: int, sha256: str) -> Photo | None:
    """The photo, if the timeline of hazard `hazard_id` names it: evidence of a close (kept in the
    `closed` event also after a reopen) or the photo of the report the hazard was made from."""
    row = conn.execute(
        "SELECT p.content_type, p.bytes FROM hazard_photos p WHERE p.sha256 = %(sha)s AND EXISTS ("
        "SELECT 1 FROM hazard_events e WHERE e.hazard_id = %(hazard)s AND (e.detail->>'photo_sha256' = %(sha)s "
        "OR e.detail->'evidence' @> jsonb_build_array(jsonb_build_object('photo_sha256', %(sha)s::text))))",
        {"sha": sha256, "hazard": hazard_id},
    ).fetchone()
    if row is None:
        return None
    return Photo(sha256=sha256, content_type=str(row[0]), data=bytes(row[1]))


def by_source(conn: Conn, source: HazardSource, source_ref: str) -> list[Hazard]:
    """The hazards raised from one alert, inspection, patrol or report, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM hazards WHERE source = %s AND source_ref = %s ORDER BY id",
        (source.value, source_ref),
    ).fetchall()
    return [_hazard(r) for r in rows]


def stored_photo(conn: Conn, sha256: str) -> Photo | None:
    """The photo of this SHA-256, whoever it belongs to: the caller has checked that the record
    naming it (an inspection's attachments) is one the viewer may see."""
    row = conn.execute("SELECT content_type, bytes FROM hazard_photos WHERE sha256 = %s", (sha256,)).fetchone()
    if row is None:
        return None
    return Photo(sha256=sha256, content_type=str(row[0]), data=bytes(row[1]))
