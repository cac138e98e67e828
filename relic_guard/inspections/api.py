"""The HTTP API of inspections: the annual plan, the 双随机 fire inspections, their records.

    GET  /api/inspections?year=&district=&kind=&status=   the caller's inspections of a year (default: this one)
    GET  /api/inspections/{id}                 one inspection and its record (`events`)
    POST /api/inspections/{id}/assign          {"to": ["login", …]} (or "a,b")       supervisor, admin
    POST /api/inspections/{id}/complete        {"rating": "good"|"fair"|"poor", "summary",
                                                "findings": [{"title", "description", "severity": "major"|"general",
                                                              "site" (a district supervision's: where found)}],
                                                "attachments": [{"photo_sha256" | "url", "note"}]}
                                               the assignees, supervisor, admin
    POST /api/inspections/{id}/cancel          {"reason"}                             supervisor, admin

Ids hold slashes (`2026/site_evaluation/lingyan-si`); send them as they are or percent-encoded.

Who sees what. The caller is a bearer token or a dashboard session (`caller_of`). A site
evaluation or a fire inspection is seen by whoever may see its site (`Principal.can_see`). A
district supervision is the city's oversight of a district's own work, so it is seen by
supervisors and administrators whose scope covers the district, and by a district-scoped caller
of that district (one whose scope holds every registered site of it: what a token or user with
`districts = [...]` has), not by the custodians or the agencies of one site there, nor by the
monitoring center's operators. Anything outside what the caller sees is answered 404 in the same
words as an unknown id, before any role is looked at.

Who does what. Assigning and cancelling decide who works and what is done this year: supervisors
(督察) and administrators. Completing records what an inspector found: the people assigned to it
(their login is their `name`), or a supervisor or administrator entering the result for them.

Answers: 404 unknown or outside the scope; 403 a role that may not do this; 409 a move the
lifecycle has no entry for (completing an inspection nobody was assigned, anything on a done or
cancelled one), with its `inspection_status`; 422 a body that cannot be recorded, saying what to
send; 503 while the database cannot be reached (inspections live only there), with the reason.

Audit: the inspection row, its record line and the hazards its findings raise are written in one
transaction by relic_guard.store.inspection_store; the matching audit entries go through the alert
journal once it committed (the daemon's one writer of the trail for requests: the audit key stays
with it), as the other API writers' do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Query, Request

from alerts.notification import rfc3339
from relic_guard.alerting.api import ApiContext, ApiError, Conn, HistoryUnavailable, json_body, text_field
from relic_guard.alerting.tokens import Principal, Role
from relic_guard.audit import AuditEntry
from relic_guard.hazards.model import HazardError, Severity
from relic_guard.hazards.workdays import local_day
from relic_guard.inspections.annual import (
    KIND_ZH,
    MAX_ITEMS,
    RATING_ZH,
    SEVERITY_ZH,
    STATUS_ZH,
    Attachment,
    Finding,
    IllegalInspectionTransition,
    Inspection,
    InspectionEvent,
    InspectionKind,
    InspectionStatus,
    InvalidInspection,
    UnknownInspection,
)
from relic_guard.store import inspection_store

OVERSEERS: Final = frozenset({Role.SUPERVISOR, Role.ADMIN})
MAX_BODY_TEXT: Final = 2000


def can_see_district(who: Principal, district: str, sites: Mapping[str, Any]) -> bool:
    """Supervisors and administrators of every site, or a caller whose scope holds every
    registered site of `district` (see the module docstring)."""
    if who.sites is None:
        return who.role in OVERSEERS
    covered = {site_id for site_id, site in sites.items() if site.district == district}
    return bool(covered) and covered <= who.sites


def can_see(who: Principal, inspection: Inspection, sites: Mapping[str, Any]) -> bool:
    if inspection.kind is InspectionKind.DISTRICT_SUPERVISION:
        return can_see_district(who, inspection.district, sites)
    return inspection.site_id is not None and who.can_see(inspection.site_id)


def inspection_json(inspection: Inspection, today: date, sites: Mapping[str, Any]) -> dict[str, object]:
    site = sites.get(inspection.site_id) if inspection.site_id is not None else None
    rating = inspection.rating
    return {
        "id": inspection.id,
        "kind": inspection.kind.value,
        "year": inspection.year,
        "district": inspection.district,
        "site_id": inspection.site_id,
        "site_name": site.name if site is not None else None,
        "target_name": inspection.target_name,
        "draw_id": inspection.draw_id,
        "reinspection": inspection.reinspection,
        "due_on": inspection.due_on.isoformat(),
        "status": inspection.status.value,
        "overdue": inspection.overdue_on(today),
        "assignees": list(inspection.assignees),
        "done_on": inspection.done_on.isoformat() if inspection.done_on else None,
        "rating": rating.value if rating else None,
        "summary": inspection.summary,
        "findings": [item.as_json() for item in inspection.findings],
        "attachments": [item.as_json() for item in inspection.attachments],
        "cancel_reason": inspection.cancel_reason,
        "updated_at": rfc3339(inspection.updated_at) if inspection.updated_at else None,
        "updated_by": inspection.updated_by,
        "labels": {
            "kind": KIND_ZH[inspection.kind],
            "status": STATUS_ZH[inspection.status],
            "rating": RATING_ZH[rating] if rating else None,
            "findings": [SEVERITY_ZH[item.severity] for item in inspection.findings],
        },
    }


def event_json(event: InspectionEvent) -> dict[str, object]:
    return {"at": rfc3339(event.at), "kind": event.kind, "actor": event.actor, "detail": dict(event.detail)}


E = TypeVar("E", InspectionKind, InspectionStatus)


def _choice(text: str | None, enum: type[E], name: str) -> E | None:
    if text is None or not text.strip():
        return None
    try:
        return enum(text.strip().lower())
    except ValueError:
        choices = [item.value for item in enum]
        raise ApiError(422, f"{name}: '{text}' is not one of {', '.join(choices)}", choices=choices) from None


def _string(body: Mapping[str, Any], key: str, *, required: bool, where: str = "") -> str:
    return text_field(body, key, required=required, limit=MAX_BODY_TEXT, where=where)


def _list(body: Mapping[str, Any], key: str, example: str) -> list[Mapping[str, Any]]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ApiError(422, f"{key}: must be a list of objects, like {example}")
    if len(value) > MAX_ITEMS:
        raise ApiError(422, f"{key}: at most {MAX_ITEMS} items")
    return value


def assignees_from(body: Mapping[str, Any]) -> list[str]:
    to = body.get("to")
    if isinstance(to, str):
        return to.split(",")
    if isinstance(to, list) and all(isinstance(person, str) for person in to):
        return list(to)
    raise ApiError(422, 'to: give the people who inspect as a list of logins or inspector ids, like {"to": '
                   '["zhang.wei", "JN-XF-0107"]}')


def findings_from(body: Mapping[str, Any]) -> list[Finding]:
    found = []
    for number, item in enumerate(_list(body, "findings", '[{"title": "…", "severity": "major"}]'), start=1):
        where = f"findings[{number}]."
        severity = _string(item, "severity", required=True, where=where)
        try:
            chosen = Severity(severity.lower())
        except ValueError:
            raise ApiError(422, f"{where}severity: '{severity}' is not major (重大隐患) or general (一般隐患)") \
                from None
        site = _string(item, "site", required=False, where=where)
        found.append(Finding(title=_string(item, "title", required=True, where=where),
                             description=_string(item, "description", required=False, where=where),
                             severity=chosen, site_id=site or None))
    return found


def attachments_from(body: Mapping[str, Any]) -> list[Attachment]:
    found = []
    for number, item in enumerate(_list(body, "attachments", '[{"url": "…", "note": "…"}]'), start=1):
        where = f"attachments[{number}]."
        url = _string(item, "url", required=False, where=where)
        sha = _string(item, "photo_sha256", required=False, where=where)
        found.append(Attachment(note=_string(item, "note", required=True, where=where), url=url or None,
                                photo_sha256=sha or None))
    return found


def make(ctx: ApiContext, caller: Any) -> APIRouter:
    router = APIRouter(prefix="/api")
    service = ctx.service
    history = ctx.history

    def not_found(inspection_id: str) -> ApiError:
        return ApiError(404, f"no inspection '{inspection_id}' (or not one your token covers)")

    def unavailable(what: str, exc: HistoryUnavailable) -> ApiError:
        return ApiError(503, f"{what}: the database cannot be reached ({exc.reason}); nothing was changed, "
                        "try again shortly", history=f"unavailable: {exc.reason}")

    def today() -> date:
        return local_day(service.clock())

    @router.get("/inspections")
    async def list_inspections(
        year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
        district: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        who: Principal = caller,
    ) -> dict[str, object]:
        chosen_kind = _choice(kind, InspectionKind, "kind")
        chosen_status = _choice(status, InspectionStatus, "status")
        day = today()
        wanted_year = year if year is not None else day.year
        where = district.strip() if district and district.strip() else None
        try:
            found = await history.read(lambda conn: inspection_store.list_inspections(
                conn, year=wanted_year, district=where, kind=chosen_kind, status=chosen_status))
        except HistoryUnavailable as exc:
            raise ApiError(503, f"inspections cannot be read now: {exc.reason}",
                           history=f"unavailable: {exc.reason}") from None
        visible = [item for item in found if can_see(who, item, service.sites)]
        return {"year": wanted_year, "inspections": [inspection_json(item, day, service.sites) for item in visible]}

    @router.get("/inspections/{inspection_id:path}")
    async def one_inspection(inspection_id: str, who: Principal = caller) -> dict[str, object]:
        def read(conn: Conn) -> tuple[Inspection | None, list[InspectionEvent]]:
            found = inspection_store.get(conn, inspection_id)
            if found is None or not can_see(who, found, service.sites):
                return None, []  # the record of what the caller may not see is not read either
            return found, inspection_store.events(conn, inspection_id)

        try:
            found, record = await history.read(read)
        except HistoryUnavailable as exc:
            raise ApiError(503, f"inspection '{inspection_id}' cannot be read now: {exc.reason}",
                           history=f"unavailable: {exc.reason}") from None
        if found is None:
            raise not_found(inspection_id)
        body = inspection_json(found, today(), service.sites)
        body["events"] = [event_json(event) for event in record]
        return body

    async def command(inspection_id: str, who: Principal, verb: str, allowed: Callable[[Inspection], None],
                      write: Callable[[Conn, list[AuditEntry]], Inspection]) -> dict[str, object]:
        """Check scope and role on the locked inspection, write, then hand the audit entries to the
        journal; the store's refusals answered as the API's errors."""
        deferred: list[AuditEntry] = []

        def work(conn: Conn) -> Inspection:
            with conn.transaction():
                current = inspection_store.get_for_update(conn, inspection_id)
                if not can_see(who, current, service.sites):
                    raise not_found(inspection_id)
                allowed(current)
                return write(conn, deferred)

        try:
            done = await history.read(work)
        except UnknownInspection:
            raise not_found(inspection_id) from None
        except IllegalInspectionTransition as exc:
            raise ApiError(409, str(exc), inspection_status=exc.status.value) from None
        except (InvalidInspection, HazardError) as exc:
            raise ApiError(422, f"inspection '{inspection_id}' cannot be {verb}: {exc}") from None
        except HistoryUnavailable as exc:
            raise unavailable(f"inspection '{inspection_id}' cannot be {verb} now", exc) from None
        for entry in deferred:
            service.journal.put(entry)
        return inspection_json(done, today(), service.sites)

    def overseers_only(who: Principal, action: str) -> Callable[[Inspection], None]:
        def check(_: Inspection) -> None:
            if who.role not in OVERSEERS:
                raise ApiError(403, f"a {who.role.value} may not {action} inspections; a supervisor (督察) or an "
                               "administrator does")

        return check

    @router.post("/inspections/{inspection_id:path}/assign")
    async def assign(inspection_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        to = assignees_from(await json_body(request))
        now = service.clock()
        return await command(inspection_id, who, "assigned", overseers_only(who, "assign"), lambda conn, deferred: (
            inspection_store.assign(conn, inspection_id, to=to, by=who.actor, now=now, deferred=deferred)))

    @router.post("/inspections/{inspection_id:path}/complete")
    async def complete(inspection_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        body = await json_body(request)
        rating = _string(body, "rating", required=True)
        summary = _string(body, "summary", required=True)
        findings = findings_from(body)
        attachments = attachments_from(body)
        now = service.clock()

        def may_complete(current: Inspection) -> None:
            if who.role not in OVERSEERS and who.name not in current.assignees:
                people = ", ".join(current.assignees) or "nobody yet"
                raise ApiError(403, f"only the people assigned to inspection '{inspection_id}' ({people}), a "
                               "supervisor or an administrator may complete it")

        return await command(inspection_id, who, "completed", may_complete, lambda conn, deferred: (
            inspection_store.complete(conn, inspection_id, rating=rating, summary=summary, findings=findings,
                                      attachments=attachments, sites=service.sites, by=who.actor, now=now,
                                      deferred=deferred)))

    @router.post("/inspections/{inspection_id:path}/cancel")
    async def cancel(inspection_id: str, request: Request, who: Principal = caller) -> dict[str, object]:
        reason = _string(await json_body(request), "reason", required=True)
        now = service.clock()
        return await command(inspection_id, who, "cancelled", overseers_only(who, "cancel"), lambda conn, deferred: (
            inspection_store.cancel(conn, inspection_id, reason=reason, by=who.actor, now=now, deferred=deferred)))

    return router
