"""The HTTP API of tracked hazards (隐患), and the commands the dashboard's hazard pages share.

    GET  /api/hazards?status=&site=&severity=&overdue=&limit=   the caller's hazards, open ones first
    GET  /api/hazards/{id}                     one hazard, its timeline, its deadline in working days
    POST /api/hazards                          raise one: {site, title, description, severity, owner,
                                               source: alert|inspection|patrol, source_ref, found_at}
    POST /api/hazards/{id}/plan    {"plan"}    open → rectifying
    POST /api/hazards/{id}/close   {"evidence": [{"kind": "photo"|"document", "url" | "photo_sha256", "note"}]}
    POST /api/hazards/{id}/cancel  {"reason"}  not a hazard, or a duplicate
    POST /api/hazards/{id}/reopen  {"reason"}  the rectification did not hold
    POST /api/hazards/photos                   multipart field `photo` → {"sha256", …}; then name it in a close
    GET  /api/hazards/{id}/photos/{sha256}     a photo the hazard's timeline names (evidence, the report's photo)

Who may do what. The caller is a bearer token or a dashboard session (`caller_of`); a hazard at a
site outside the caller's scope is answered 404 in the same words as an unknown id, before any
role is looked at, so a custodian cannot learn what is wrong at another site.

    role        sees    raise  plan  close  cancel  reopen  upload photos
    operator    scope   yes    yes   yes    yes     yes     yes      monitoring center staff
    supervisor  scope   yes    yes   yes    yes     yes     yes      督察: tracks hazards until closed
    admin       scope   yes    yes   yes    yes     yes     yes
    custodian   scope   no     yes   yes    no      no      yes      rectifies the hazards of their sites
    agency      scope   no     no    no     no      no      no       reads only

Why: the custodian of a site is the one who puts a hazard right, so they file the plan and close it,
always with evidence (a photo or a document, and a note saying what it shows). Whether something is
a hazard at all (cancel) or whether a rectification held (reopen) is decided by the center or the
supervisors, never by the person who must fix it: otherwise an unfixed hazard could be made to
vanish by the one person it reminds. Custodians report new hazards from their phones (`/m`), which
the hazard job tracks, so raising here is for the center and supervisors (from an alert, an
inspection, a patrol). Supervisors are read-only on alerts (relic_guard.alerting.tokens), but
tracking hazards until closed (督办) is their own work. Agencies read.

Answers: 404 unknown or outside the scope; 403 a role that may not do this; 409 a move the
lifecycle has no entry for, with the hazard's `status`; 422 a body that cannot be recorded,
a close without evidence saying what to attach; 503 while the database cannot be reached (every
hazard lives in it), with the reason.

After a close or a cancel the hazard's deadline alert (relic_guard.hazards.alerting), if open, ends
as a condition that is over (`AlertService.end_condition`: no classification, so the annual report
counts no incident), so nobody keeps being reminded of a hazard that was dealt with; its timeline
says which hazard was closed or cancelled.

Audit: the hazard row and its timeline line are written in one transaction by
relic_guard.store.hazard_store; the matching audit entry goes through the alert journal (the
daemon's one writer of the trail for requests), as hazard reports from the phone page do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, TypeVar

import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from alerts.model import Alert
from alerts.notification import rfc3339
from relic_guard.alerting.api import ApiContext, ApiError, HistoryUnavailable, json_body, parse_moment, text_field
from relic_guard.alerting.service import AlertService
from relic_guard.alerting.tokens import Principal, Role
from relic_guard.dashboard.mobile import MAX_UPLOAD_BYTES, PHOTO_HEADERS, UploadTooLarge, bounded_form
from relic_guard.hazards import model
from relic_guard.hazards.alerting import deadline_key
from relic_guard.hazards.job import owner_for
from relic_guard.hazards.model import (
    Evidence,
    EvidenceKind,
    Hazard,
    HazardError,
    HazardEvent,
    HazardSource,
    HazardStatus,
    IllegalHazardTransition,
    InvalidHazard,
    MissingEvidence,
    Severity,
    Transition,
    UnknownHazard,
)
from relic_guard.hazards.workdays import local_day, working_days_between
from relic_guard.registry import Site
from relic_guard.store import alerts as alert_store
from relic_guard.store import hazard_store
from relic_guard.store.hazards import MAX_PHOTO_BYTES, Photo, PhotoRejected, photo_of

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.Connection[Any]

MAX_LIMIT: Final = 1000
MAX_EVIDENCE_ITEMS: Final = 20
_EXTENSIONS: Final = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

# The Chinese words of the coded values, for the API's `labels` and the pages (the dashboard
# registers them with their English beside them), so the two never disagree.
STATUS_LABELS: Final[Mapping[HazardStatus, str]] = {
    HazardStatus.OPEN: "待整改",
    HazardStatus.RECTIFYING: "整改中",
    HazardStatus.CLOSED: "已整改销号",
    HazardStatus.CANCELLED: "已撤销",
}
SEVERITY_LABELS: Final[Mapping[Severity, str]] = {Severity.MAJOR: "重大隐患", Severity.GENERAL: "一般隐患"}
SOURCE_LABELS: Final[Mapping[HazardSource, str]] = {
    HazardSource.PATROL: "巡查发现",
    HazardSource.INSPECTION: "检查发现",
    HazardSource.ALERT: "告警发现",
    HazardSource.REPORT: "保护员上报",
}
EVENT_LABELS: Final[Mapping[str, str]] = {
    "hazard.created": "登记隐患",
    "hazard.planned": "制定整改方案",
    "hazard.closed": "整改完成，销号",
    "hazard.cancelled": "撤销",
    "hazard.reopened": "重新打开",
}
EVIDENCE_HELP: Final = (
    'give "evidence" as a list of items, each {"kind": "photo", "photo_sha256": "<64 hex digits>", '
    '"note": "what it shows"} (upload the photo first with POST /api/hazards/photos, multipart field '
    '"photo") or {"kind": "document", "url": "https://…", "note": "what it shows"}'
)


# Who may do what ----------------------------------------------------------------------------------


class HazardAction(StrEnum):
    RAISE = "raise"
    PLAN = "plan"
    CLOSE = "close"
    CANCEL = "cancel"
    REOPEN = "reopen"
    UPLOAD = "upload photos for"


_EVERYTHING: Final = frozenset(HazardAction)
ALLOWED: Final[Mapping[Role, frozenset[HazardAction]]] = {
    Role.OPERATOR: _EVERYTHING,
    Role.SUPERVISOR: _EVERYTHING,
    Role.ADMIN: _EVERYTHING,
    Role.CUSTODIAN: frozenset({HazardAction.PLAN, HazardAction.CLOSE, HazardAction.UPLOAD}),
    Role.AGENCY: frozenset(),
}


def may(who: Principal, action: HazardAction) -> bool:
    return action in ALLOWED[who.role]


class ActionNotAllowed(HazardError):  # noqa: N818 (reads as the refusal it is)
    """The caller's role may not do this to hazards (the table in the module docstring)."""

    def __init__(self, role: Role, action: HazardAction) -> None:
        article = "an" if role.value[0] in "aeiou" else "a"
        hint = ("the monitoring center or a supervisor decides that" if role is Role.CUSTODIAN
                else "hazards are handled by the site's custodians, the monitoring center and supervisors")
        super().__init__(f"{article} {role.value} may not {action.value} hazards; {hint}")
        self.role = role
        self.action = action


def _unknown(hazard_id: int) -> UnknownHazard:
    # The same words whether the hazard does not exist or lies outside the caller's sites.
    return UnknownHazard(f"no hazard {hazard_id} (or not at a site you cover)")


# Deadlines in working days --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadlineView:
    """Where a hazard stands against its deadline on `today` (China's calendar day).

    For an open or rectifying hazard: `overdue` once the deadline day has ended, then
    `working_days_overdue` working days past it (0 over the weekend right after it), else
    `working_days_left` working days after today up to the deadline (0: due today). For a closed
    one, `on_time` says whether it was closed by the deadline day; cancelled ones have neither."""

    deadline: date
    overdue: bool
    working_days_left: int | None
    working_days_overdue: int | None
    on_time: bool | None


def deadline_view(hazard: Hazard, today: date) -> DeadlineView:
    if hazard.status.is_open:
        if today > hazard.deadline:
            return DeadlineView(hazard.deadline, True, None, working_days_between(hazard.deadline, today), None)
        return DeadlineView(hazard.deadline, False, working_days_between(today, hazard.deadline), None, None)
    on_time = None
    if hazard.status is HazardStatus.CLOSED and hazard.closed_at is not None:
        on_time = local_day(hazard.closed_at) <= hazard.deadline
    return DeadlineView(hazard.deadline, False, None, None, on_time)


# Commands, shared with the pages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """A recorded change: the hazard as it is now and the timeline line that records the change."""

    hazard: Hazard
    event: HazardEvent


def apply_command(conn: Conn, hazard_id: int, who: Principal, action: HazardAction,
                  command: Callable[[Hazard], Transition], photos: Sequence[Photo] = ()) -> Done:
    """Run a lifecycle command on the stored hazard for `who`, in one transaction: the scope
    (UnknownHazard), the role (ActionNotAllowed), the photos a close names (MissingEvidence
    unless stored, or among `photos`, which are stored with the change), then the command itself
    and its own refusals. Nothing is written when any of them refuses."""
    recorded: list[HazardEvent] = []

    def step(hazard: Hazard) -> Transition:
        if not who.can_see(hazard.site_id):
            raise _unknown(hazard_id)
        if not may(who, action):
            raise ActionNotAllowed(who.role, action)
        moved = command(hazard)
        named = [item.photo_sha256 for item in moved.hazard.evidence if item.photo_sha256 is not None]
        if moved.event.kind == "hazard.closed" and named:
            present = hazard_store.stored_photos(conn, named)
            for number, item in enumerate(moved.hazard.evidence, start=1):
                if item.photo_sha256 is not None and item.photo_sha256 not in present:
                    raise MissingEvidence(
                        f"evidence item {number} of hazard {hazard_id} names the photo {item.photo_sha256}, "
                        "which is not stored; upload it first with POST /api/hazards/photos (multipart field "
                        "\"photo\") and name the sha256 it answers")
        recorded.append(moved.event)
        return moved

    with conn.transaction():
        for photo in photos:
            hazard_store.store_photo(conn, photo)
        hazard = hazard_store.transition(conn, hazard_id, step)
    return Done(hazard, recorded[-1])


@dataclass(frozen=True, slots=True)
class NewHazard:
    site_id: str
    title: str
    description: str
    severity: Severity
    owner: str
    source: HazardSource
    source_ref: str | None
    found_at: datetime


def raise_hazard(conn: Conn, new: NewHazard, who: Principal, now: datetime) -> Done:
    """Record a hazard (the caller has been checked for scope and role). A hazard raised from an
    alert names an alert at the same site; an alert tracked already by an open hazard is refused
    (a double click, or two operators at once, would otherwise track it twice)."""
    with conn.transaction():
        if new.source is HazardSource.ALERT:
            assert new.source_ref is not None
            # Serialises raising from one alert: the second of two at once sees the first's hazard.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('hazard-from-alert:' || %s))", (new.source_ref,))
            tracked = [h for h in hazard_store.by_source(conn, HazardSource.ALERT, new.source_ref)
                       if h.status.is_open]
            if tracked:
                raise AlreadyTracked(new.source_ref, tracked[0])
        hazard = hazard_store.create(
            conn, site_id=new.site_id, source=new.source, source_ref=new.source_ref, title=new.title,
            description=new.description, severity=new.severity, owner=new.owner, found_at=new.found_at,
            by=who.actor, now=now,
        )
        created = hazard_store.events(conn, hazard.id)[0]
    return Done(hazard, created)


class AlreadyTracked(HazardError):  # noqa: N818
    """The alert is tracked by an open hazard already."""

    def __init__(self, alert_id: str, hazard: Hazard) -> None:
        super().__init__(f"alert '{alert_id}' is tracked already as hazard {hazard.id} ({hazard.status.value})")
        self.hazard = hazard


def after_change(service: AlertService, done: Done) -> Alert | None:
    """On the event loop, once the change is committed: its audit entry to the journal, and, for a
    close or a cancel, the hazard's open deadline alert resolved. Returns that alert, if any."""
    service.journal.put(hazard_store.audit_entry_of(done.event))
    if done.hazard.status in (HazardStatus.CLOSED, HazardStatus.CANCELLED):
        return settle_deadline_alert(service, done.hazard, done.event.actor)
    return None


def settle_deadline_alert(service: AlertService, hazard: Hazard, by: str) -> Alert | None:
    """End the hazard's deadline alert, if open: the condition it reminded of is over."""
    cancelled = hazard.status is HazardStatus.CANCELLED
    what = "已撤销，不再提醒 / cancelled" if cancelled else "已整改销号 / closed with evidence"
    return service.end_condition(deadline_key(hazard.site_id, hazard.id), by=by, note=f"隐患 {hazard.id} {what}")


# JSON ----------------------------------------------------------------------------------------------------


def _time(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def photo_path(hazard_id: int, sha256: str) -> str:
    return f"/api/hazards/{hazard_id}/photos/{sha256}"


def evidence_json(hazard_id: int, item: Evidence) -> dict[str, str]:
    body = item.as_json()
    if item.photo_sha256 is not None:
        body["photo_url"] = photo_path(hazard_id, item.photo_sha256)
    return body


def hazard_json(hazard: Hazard, sites: Mapping[str, Site], today: date) -> dict[str, object]:
    site = sites.get(hazard.site_id)
    view = deadline_view(hazard, today)
    return {
        "id": hazard.id,
        "site": hazard.site_id,
        "site_name": site.name if site is not None else None,
        "district": site.district if site is not None else None,
        "source": hazard.source.value,
        "source_ref": hazard.source_ref,
        "title": hazard.title,
        "description": hazard.description,
        "severity": hazard.severity.value,
        "owner": hazard.owner,
        "found_at": rfc3339(hazard.found_at),
        "deadline": hazard.deadline.isoformat(),
        "overdue": view.overdue,
        "working_days_left": view.working_days_left,
        "working_days_overdue": view.working_days_overdue,
        "closed_on_time": view.on_time,
        "status": hazard.status.value,
        "plan": hazard.plan,
        "closed_at": _time(hazard.closed_at),
        "closed_by": hazard.closed_by,
        "evidence": [evidence_json(hazard.id, item) for item in hazard.evidence],
        "labels": {
            "status": STATUS_LABELS[hazard.status],
            "severity": SEVERITY_LABELS[hazard.severity],
            "source": SOURCE_LABELS[hazard.source],
        },
    }


def event_json(event: HazardEvent) -> dict[str, object]:
    return {"at": rfc3339(event.at), "kind": event.kind, "label": EVENT_LABELS.get(event.kind, event.kind),
            "actor": event.actor, "detail": dict(event.detail)}


# Parameters -------------------------------------------------------------------------------------------


def hazard_number(text: str) -> int | None:
    """The id in a path, or None when it cannot be one (answered as unknown)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def parse_statuses(text: str | None) -> frozenset[HazardStatus] | None:
    if text is None or not text.strip():
        return None
    wanted: set[HazardStatus] = set()
    for part in text.split(","):
        word = part.strip().lower()
        if not word:
            continue
        try:
            wanted.add(HazardStatus(word))
        except ValueError:
            choices = [s.value for s in HazardStatus]
            raise ApiError(422, f"status: '{word}' is not a hazard status; give one or more of {', '.join(choices)}, "
                           "separated by commas", choices=choices) from None
    return frozenset(wanted) or None


def parse_severity(text: str | None, key: str = "severity") -> Severity | None:
    if text is None or not text.strip():
        return None
    try:
        return Severity(text.strip().lower())
    except ValueError:
        choices = [s.value for s in Severity]
        raise ApiError(422, f"{key}: '{text}' is not a severity; give major (重大隐患) or general (一般隐患)",
                       choices=choices) from None


def parse_flag(text: str | None, key: str) -> bool | None:
    if text is None or not text.strip():
        return None
    word = text.strip().lower()
    if word in ("true", "1", "yes"):
        return True
    if word in ("false", "0", "no"):
        return False
    raise ApiError(422, f"{key}: '{text}' is not true or false")


def _string(body: Mapping[str, Any], key: str, *, required: bool, limit: int = model.MAX_NOTE_CHARS) -> str | None:
    return text_field(body, key, required=required, limit=limit) or None


def parse_evidence(body: Mapping[str, Any]) -> list[Evidence]:
    """The items as given; what each lacks (a note, a reference) the lifecycle says, item by item."""
    raw = body.get("evidence")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ApiError(422, f"evidence: must be a list; {EVIDENCE_HELP}")
    if len(raw) > MAX_EVIDENCE_ITEMS:
        raise ApiError(422, f"evidence: at most {MAX_EVIDENCE_ITEMS} items")
    items: list[Evidence] = []
    for number, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            raise ApiError(422, f"evidence item {number}: must be an object; {EVIDENCE_HELP}")
        kind = entry.get("kind")
        try:
            evidence_kind = EvidenceKind(kind) if isinstance(kind, str) else None
        except ValueError:
            evidence_kind = None
        if evidence_kind is None:
            raise ApiError(422, f"evidence item {number}: kind must be \"photo\" or \"document\"; {EVIDENCE_HELP}")
        texts: dict[str, str | None] = {}
        for key in ("note", "url", "photo_sha256"):
            value = entry.get(key)
            if value is not None and not isinstance(value, str):
                raise ApiError(422, f"evidence item {number}: {key} must be a string")
            texts[key] = value
        sha = texts["photo_sha256"]
        items.append(Evidence(kind=evidence_kind, note=(texts["note"] or "").strip(), url=texts["url"],
                              photo_sha256=sha.strip().lower() if sha is not None else None))
    return items


def conflict(message: str, status: HazardStatus) -> ApiError:
    """409 with the hazard's current `status` beside the message (ApiError's own first argument
    is the HTTP status, so the field is added after)."""
    answer = ApiError(409, message)
    answer.extra["status"] = status.value
    return answer


# The router ---------------------------------------------------------------------------------------------


def make(ctx: ApiContext, caller: Any) -> APIRouter:
    router = APIRouter(prefix="/api")
    service = ctx.service
    history = ctx.history

    async def db(work: Callable[[Conn], T], what: str) -> T:
        try:
            return await history.read(work)
        except HistoryUnavailable as exc:
            raise ApiError(503, f"{what}: the database cannot be reached ({exc.reason}); hazards are kept there, "
                           "try again shortly", history=f"unavailable: {exc.reason}") from None

    def today() -> date:
        return local_day(service.clock())

    def as_api_error(exc: HazardError, hazard_id: int, verb: str) -> ApiError:
        if isinstance(exc, UnknownHazard):
            return ApiError(404, str(exc))
        if isinstance(exc, ActionNotAllowed):
            return ApiError(403, str(exc))
        if isinstance(exc, IllegalHazardTransition):
            return conflict(f"hazard {hazard_id} cannot be {verb}: it is {exc.status.value} "
                            f"({STATUS_LABELS[exc.status]})", exc.status)
        if isinstance(exc, MissingEvidence):
            return ApiError(422, f"{exc}; {EVIDENCE_HELP}")
        return ApiError(422, str(exc))

    async def command(hazard_id: str, who: Principal, action: HazardAction, verb: str,
                      step: Callable[[Hazard], Transition]) -> dict[str, object]:
        number = hazard_number(hazard_id)
        if number is None:
            raise ApiError(404, f"no hazard '{hazard_id}' (or not at a site you cover)")
        try:
            done = await db(lambda conn: apply_command(conn, number, who, action, step), f"hazard {number}")
        except HazardError as exc:
            raise as_api_error(exc, number, verb) from None
        settled = after_change(service, done)
        body = hazard_json(done.hazard, service.sites, today())
        body["deadline_alert_resolved"] = settled.id if settled is not None else None
        return body

    # Reads -----------------------------------------------------------------------------------------

    @router.get("/hazards")
    async def list_hazards(
        status: str | None = None,
        site: str | None = None,
        severity: str | None = None,
        overdue: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        who: Principal = caller,
    ) -> dict[str, object]:
        statuses = parse_statuses(status)
        chosen = parse_severity(severity)
        late = parse_flag(overdue, "overdue")
        if site is not None and not who.can_see(site):
            raise ApiError(404, f"no site '{site}' (or not one you cover)")
        day = today()
        found = await db(lambda conn: hazard_store.list_hazards(
            conn, sites=who.sites, site=site, statuses=statuses, severity=chosen, overdue=late, today=day,
            limit=limit), "hazards")
        return {"hazards": [hazard_json(h, service.sites, day) for h in found], "today": day.isoformat()}

    @router.get("/hazards/{hazard_id}")
    async def one_hazard(hazard_id: str, who: Principal = caller) -> dict[str, object]:
        number = hazard_number(hazard_id)
        if number is None:
            raise ApiError(404, f"no hazard '{hazard_id}' (or not at a site you cover)")

        def read(conn: Conn) -> tuple[Hazard | None, list[HazardEvent]]:
            hazard = hazard_store.get(conn, number)
            if hazard is None or not who.can_see(hazard.site_id):
                return None, []
            return hazard, hazard_store.events(conn, number)

        hazard, events = await db(read, f"hazard {number}")
        if hazard is None:
            raise ApiError(404, str(_unknown(number)))
        body = hazard_json(hazard, service.sites, today())
        body["events"] = [event_json(event) for event in events]
        return body

    @router.get("/hazards/{hazard_id}/photos/{sha256}")
    async def hazard_photo(hazard_id: str, sha256: str, who: Principal = caller) -> Response:
        number = hazard_number(hazard_id)
        missing = ApiError(404, f"no photo '{sha256[:64]}' of hazard '{hazard_id[:20]}' (or not at a site you cover)")
        if number is None or len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise missing

        def read(conn: Conn) -> Photo | None:
            hazard = hazard_store.get(conn, number)
            if hazard is None or not who.can_see(hazard.site_id):
                return None
            return hazard_store.hazard_photo(conn, number, sha256)

        found = await db(read, "the photo")
        if found is None:
            raise missing
        name = f"hazard-{number}-{sha256[:12]}.{_EXTENSIONS.get(found.content_type, 'bin')}"
        return Response(found.data, media_type=found.content_type,
                        headers={**PHOTO_HEADERS, "Content-Disposition": f'inline; filename="{name}"'})

    # Raising -----------------------------------------------------------------------------------------

    @router.post("/hazards", status_code=201)
    async def raise_one(request: Request, who: Principal = caller) -> JSONResponse:
        if not may(who, HazardAction.RAISE):
            raise ApiError(403, str(ActionNotAllowed(who.role, HazardAction.RAISE)))
        body = await json_body(request)
        source_text = _string(body, "source", required=True, limit=20)
        assert source_text is not None
        allowed_sources = (HazardSource.ALERT, HazardSource.INSPECTION, HazardSource.PATROL)
        try:
            source = HazardSource(source_text.lower())
        except ValueError:
            source = None
        if source not in allowed_sources:
            hint = (" (custodians' reports become hazards on their own, through the hazard job)"
                    if source is HazardSource.REPORT else "")
            raise ApiError(422, f"source: '{source_text}' cannot be raised here; give alert, inspection or patrol"
                           f"{hint}", choices=[s.value for s in allowed_sources])
        assert source is not None
        source_ref = _string(body, "source_ref", required=source is HazardSource.ALERT, limit=200)
        site_id = _string(body, "site", required=False, limit=64)
        alert: Alert | None = None
        if source is HazardSource.ALERT:
            assert source_ref is not None
            alert = service.get(source_ref)
            if alert is None:
                alert = await db(lambda conn: alert_store.get(conn, source_ref), "the alert")
            if alert is None or not who.can_see(alert.site) or (site_id is not None and alert.site != site_id):
                where = f" at site '{site_id}'" if site_id else ""
                raise ApiError(422, f"source_ref: no alert '{source_ref}'{where} that you cover; give the id of the "
                               "alert the hazard was found from")
            site_id = alert.site
        if site_id is None:
            raise ApiError(422, "site: missing; give the id of the site (sites.csv) the hazard is at")
        if site_id not in service.sites or not who.can_see(site_id):
            raise ApiError(404, f"no site '{site_id}' (or not one you cover)")
        title = _string(body, "title", required=alert is None, limit=hazard_store.MAX_TITLE_CHARS)
        if not title and alert is not None:
            title = alert.title[: hazard_store.MAX_TITLE_CHARS]
        assert title is not None
        severity = parse_severity(_string(body, "severity", required=True, limit=20))
        assert severity is not None
        now = service.clock()
        found_at = parse_moment(_string(body, "found_at", required=False, limit=64), "found_at") or now
        if found_at > now:
            raise ApiError(422, "found_at: lies in the future; give when the hazard was found")
        new = NewHazard(
            site_id=site_id, title=title,
            description=_string(body, "description", required=False, limit=hazard_store.MAX_DESCRIPTION_CHARS) or "",
            severity=severity,
            owner=_string(body, "owner", required=False, limit=200) or owner_for(site_id, service.sites),
            source=source, source_ref=source_ref, found_at=found_at,
        )
        try:
            done = await db(lambda conn: raise_hazard(conn, new, who, now), "the hazard")
        except AlreadyTracked as exc:
            answer = conflict(str(exc), exc.hazard.status)
            answer.extra["hazard"] = exc.hazard.id
            raise answer from None
        except InvalidHazard as exc:
            raise ApiError(422, str(exc)) from None
        after_change(service, done)
        return JSONResponse(hazard_json(done.hazard, service.sites, today()), status_code=201,
                            headers={"Location": f"/api/hazards/{done.hazard.id}"})

    # Lifecycle ---------------------------------------------------------------------------------------

    async def text_command(hazard_id: str, request: Request, who: Principal, action: HazardAction, verb: str,
                           key: str, make: Callable[[Hazard, str, datetime, str], Transition]) -> dict[str, object]:
        """A move that takes one text from the body (`plan`, `reason`)."""
        text = _string(await json_body(request), key, required=True)
        assert text is not None  # required: a missing text is answered 422 already
        now = service.clock()
        return await command(hazard_id, who, action, verb, lambda h: make(h, who.actor, now, text))

    @router.post("/hazards/{hazard_id}/plan")
    async def plan(hazard_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        return await text_command(hazard_id, request, who, HazardAction.PLAN, "planned", "plan",
                                  lambda h, by, now, text: model.plan(h, by=by, now=now, plan_text=text))

    @router.post("/hazards/{hazard_id}/close")
    async def close(hazard_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        items = parse_evidence(await json_body(request))
        now = service.clock()
        return await command(hazard_id, who, HazardAction.CLOSE, "closed",
                             lambda h: model.close(h, by=who.actor, now=now, evidence=items))

    @router.post("/hazards/{hazard_id}/cancel")
    async def cancel(hazard_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        return await text_command(hazard_id, request, who, HazardAction.CANCEL, "cancelled", "reason",
                                  lambda h, by, now, text: model.cancel(h, by=by, now=now, reason=text))

    @router.post("/hazards/{hazard_id}/reopen")
    async def reopen(hazard_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        return await text_command(hazard_id, request, who, HazardAction.REOPEN, "reopened", "reason",
                                  lambda h, by, now, text: model.reopen(h, by=by, now=now, reason=text))

    # Photos ------------------------------------------------------------------------------------------

    @router.post("/hazards/photos", status_code=201)
    async def upload_photo(request: Request, who: Principal = caller) -> dict[str, object]:
        if not may(who, HazardAction.UPLOAD):
            raise ApiError(403, str(ActionNotAllowed(who.role, HazardAction.UPLOAD)))
        photo = await read_photo(request)
        await db(lambda conn: hazard_store.store_photo(conn, photo), "the photo")
        return {"sha256": photo.sha256, "content_type": photo.content_type, "bytes": len(photo.data)}

    return router


async def read_photo(request: Request) -> Photo:
    """The checked photo of a multipart upload (field `photo`), refused as the API answers."""
    try:
        form = await bounded_form(request, MAX_UPLOAD_BYTES)
    except UploadTooLarge:
        raise ApiError(413, f"the upload is larger than a photo may be (at most {MAX_PHOTO_BYTES} bytes)") from None
    except HTTPException:
        raise ApiError(422, "send the photo as multipart/form-data, in the field \"photo\"") from None
    try:
        upload = form.get("photo")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "photo: missing; send the photo as multipart/form-data, in the field \"photo\"")
        data = await upload.read(MAX_PHOTO_BYTES + 1)
    finally:
        await form.close()
    try:
        return photo_of(data)
    except PhotoRejected as exc:
        status_code = {"too_large": 413, "not_image": 415}.get(exc.reason, 422)
        raise ApiError(status_code, f"photo: {exc}") from None

