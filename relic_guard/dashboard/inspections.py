"""The inspection pages: the year's plan by district, the 双随机 fire inspections, one inspection.

    GET  /inspections?year=&district=           the year's plan: each district's supervision (督察),
                                                each site's evaluation by district, the fire
                                                inspections of the draws; due days, overdue in red,
                                                assignees, ratings
    GET  /inspections/{id}                      facts, findings (linked to the hazards they became),
                                                attachments, the record in words, the forms
    POST /inspections/{id}/assign               csrf, to (logins or inspector ids, comma separated)
    POST /inspections/{id}/complete             multipart: csrf, rating, summary, findings (rows of
                                                title, severity, description, site), photo, photo_note
    GET  /inspections/{id}/photos/{sha256}      a photo the inspection's attachments name

Ids hold slashes (`2026/site_evaluation/lingyan-si`, `draw/3/JN-0107`), so the id is the rest of
the path. Who sees and who does what is the API's rule (relic_guard.inspections.api): a site's
evaluation or fire inspection to whoever sees the site, a district's supervision to supervisors and
administrators, and to callers whose scope holds the whole district; assigning to supervisors and
administrators, completing to the people assigned and to them. Anything the user may not see is
answered 404 in the same words as an unknown id.

The forms work without script. A completion has room for `FINDING_ROWS` findings; rows left
empty are skipped. Each finding becomes a tracked hazard in the same transaction (the inspection
store does it), and the page links the finding to its hazard. The audit entries of a change go
to the alert journal once it committed, as the API's do. Inspections live in the database only:
while it cannot be reached the pages say so (503) instead of showing an empty plan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from relic_guard.alerting.api import History, HistoryUnavailable
from relic_guard.alerting.tokens import Principal
from relic_guard.audit import AuditEntry
from relic_guard.dashboard import i18n
from relic_guard.dashboard.app import DashboardDeps, Templates, check_csrf, lang_of, make_current_user
from relic_guard.dashboard.mobile import PHOTO_HEADERS, UploadTooLarge, bounded_form
from relic_guard.dashboard.people import actor_text
from relic_guard.dashboard.users import WebUser
from relic_guard.hazards.model import Hazard, HazardError, HazardSource, Severity
from relic_guard.hazards.workdays import local_day
from relic_guard.inspections.annual import (
    KIND_ZH,
    RATING_ZH,
    STATUS_ZH,
    Attachment,
    Finding,
    IllegalInspectionTransition,
    Inspection,
    InspectionError,
    InspectionEvent,
    InspectionKind,
    InspectionStatus,
    Rating,
)
from relic_guard.inspections.api import OVERSEERS, can_see
from relic_guard.registry import Site
from relic_guard.store import hazard_store, inspection_store
from relic_guard.store.hazards import MAX_PHOTO_BYTES, Photo, PhotoRejected, photo_of

FINDING_ROWS: Final = 5
MAX_TEXT: Final = 2000
# The rating, the summary, the findings' fields, a photo and its note, and the multipart framing.
FORM_SLACK_BYTES: Final = 256 * 1024
MAX_UPLOAD_BYTES: Final = MAX_PHOTO_BYTES + FORM_SLACK_BYTES
MAX_FIELDS: Final = 8 + 4 * FINDING_ROWS
_EXTENSIONS: Final = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

_KIND_EN: Final = {InspectionKind.DISTRICT_SUPERVISION: "District supervision",
                   InspectionKind.SITE_EVALUATION: "Annual site evaluation",
                   InspectionKind.FIRE_RANDOM: "Random fire inspection (双随机)"}
_STATUS_EN: Final = {InspectionStatus.PLANNED: "Planned", InspectionStatus.ASSIGNED: "Assigned",
                     InspectionStatus.DONE: "Done", InspectionStatus.CANCELLED: "Cancelled"}
_RATING_EN: Final = {Rating.GOOD: "Good", Rating.FAIR: "Fair", Rating.POOR: "Poor"}
EVENT_WORDS: Final[Mapping[str, tuple[str, str]]] = {
    "inspection.planned": ("列入年度计划", "Planned for the year"),
    "inspection.drawn": ("双随机抽取", "Drawn (双随机)"),
    "inspection.assigned": ("安排检查人员", "Assigned"),
    "inspection.reassigned": ("调整检查人员", "Reassigned"),
    "inspection.completed": ("完成检查", "Completed"),
    "inspection.cancelled": ("取消", "Cancelled"),
}

i18n.register({f"insp.kind.{key.value}": (zh, _KIND_EN[key]) for key, zh in KIND_ZH.items()})
i18n.register({f"insp.status.{key.value}": (zh, _STATUS_EN[key]) for key, zh in STATUS_ZH.items()})
i18n.register({f"insp.rating.{key.value}": (zh, _RATING_EN[key]) for key, zh in RATING_ZH.items()})
i18n.register({f"insp.event.{key}": words for key, words in EVENT_WORDS.items()})
i18n.register({
    "insp.title": ("检查督察", "Inspections"),
    "insp.year": ("{year} 年度", "{year}"),
    "insp.prev_year": ("上一年", "Previous year"),
    "insp.next_year": ("下一年", "Next year"),
    "insp.filter.district": ("区县", "District"),
    "insp.filter.all": ("全部区县", "All districts"),
    "insp.filter.apply": ("筛选", "Filter"),
    "insp.summary": ("共 {total} 项：已完成 {done} 项，逾期未完成 {overdue} 项",
                     "{total} in all: {done} done, {overdue} overdue"),
    "insp.none": ("本年度没有您可查看的检查。", "No inspection of this year that you may see."),
    "insp.section.supervision": ("区县年度督察", "District supervision"),
    "insp.section.evaluation": ("文物点年度检查评估", "Annual evaluation of each site"),
    "insp.section.fire": ("双随机消防检查", "Random fire inspections (双随机)"),
    "insp.section.none": ("暂无。", "None."),
    "insp.col.name": ("对象", "Subject"),
    "insp.col.district": ("区县", "District"),
    "insp.col.status": ("状态", "Status"),
    "insp.col.due": ("截止日期", "Due"),
    "insp.col.assignees": ("检查人员", "Inspectors"),
    "insp.col.rating": ("评定", "Rating"),
    "insp.col.findings": ("发现隐患", "Findings"),
    "insp.col.draw": ("抽取批次", "Draw"),
    "insp.overdue": ("已逾期", "overdue"),
    "insp.reinspection": ("复查", "re-inspection"),
    "insp.draw_no": ("第 {n} 次抽取", "draw {n}"),
    "insp.back": ("返回年度检查", "Back to the year's inspections"),
    "insp.field.kind": ("类型", "Kind"),
    "insp.field.subject": ("检查对象", "Subject"),
    "insp.field.district": ("区县", "District"),
    "insp.field.due": ("截止日期", "Due"),
    "insp.field.assignees": ("检查人员", "Inspectors"),
    "insp.field.done": ("完成日期", "Done on"),
    "insp.field.rating": ("评定", "Rating"),
    "insp.field.summary": ("检查结论", "Summary"),
    "insp.field.cancelled": ("取消理由", "Cancelled because"),
    "insp.nobody": ("尚未安排", "nobody yet"),
    "insp.findings": ("发现的隐患", "Findings"),
    "insp.findings.none": ("未发现隐患。", "No findings."),
    "insp.finding.hazard": ("隐患 #{id}", "hazard #{id}"),
    "insp.attachments": ("附件", "Attachments"),
    "insp.record": ("检查记录", "Record"),
    "insp.actions": ("处理", "Actions"),
    "insp.assign.heading": ("安排检查人员", "Assign inspectors"),
    "insp.assign.to": ("检查人员账号（多人用逗号分隔）", "Inspectors' logins (separate with commas)"),
    "insp.assign.submit": ("安排", "Assign"),
    "insp.complete.heading": ("填写检查结果", "Record the result"),
    "insp.complete.rating": ("评定", "Rating"),
    "insp.complete.summary": ("检查结论", "Summary"),
    "insp.complete.findings": ("发现的隐患（每项登记为一条隐患并跟踪整改；不填则跳过）",
                               "Findings (each is tracked as a hazard until rectified; empty rows are skipped)"),
    "insp.complete.finding_title": ("隐患 {n}", "Finding {n}"),
    "insp.complete.finding_name": ("隐患名称", "Title"),
    "insp.complete.finding_severity": ("级别", "Severity"),
    "insp.complete.finding_description": ("说明", "Description"),
    "insp.complete.finding_site": ("所在文物点", "Site"),
    "insp.complete.photo": ("现场照片（可选）", "Photo (optional)"),
    "insp.complete.photo_note": ("照片说明", "What the photo shows"),
    "insp.complete.submit": ("提交检查结果", "Record the result"),
    "insp.choose": ("请选择…", "Choose…"),
    "insp.no_actions": ("您的角色只能查看此检查。", "Your role may only read this inspection."),
    "insp.planned_note": ("此检查尚未安排检查人员，督察员或管理员安排后才能填写结果。",
                          "Nobody is assigned yet; a supervisor or administrator assigns the inspectors first."),
    "insp.done.assign": ("检查人员已安排。", "The inspectors are assigned."),
    "insp.done.complete": ("检查结果已记录，发现的隐患已登记跟踪。", "The result is recorded; findings are tracked "
                           "as hazards."),
    "insp.error.not_allowed": ("您的角色不能执行此操作。", "Your role may not do this."),
    "insp.error.illegal": ("此检查当前为“{status}”，不能这样处理。", "The inspection is “{status}”: not possible now."),
    "insp.error.rating": ("请选择评定（优、中、差）。", "Choose a rating (good, fair, poor)."),
    "insp.error.summary": ("请填写检查结论。", "Write the summary."),
    "insp.error.finding_title": ("第 {n} 项隐患缺少标题。", "Finding {n} needs a title."),
    "insp.error.finding_site": ("第 {n} 项隐患请选择所在文物点。", "Finding {n}: choose the site where it was found."),
    "insp.error.photo_note": ("请写明照片显示的内容。", "Say what the photo shows."),
    "insp.error.to": ("请填写检查人员账号。", "Name the inspectors."),
    "insp.error.too_long": ("内容过长：最多 {n} 个字。", "Too long: at most {n} characters."),
    "insp.error.refused": ("未能保存：", "Not saved: "),
    "insp.error.db_down": ("数据库暂时无法访问，检查计划暂不能显示（{reason}）。",
                           "The database cannot be reached, so inspections cannot be shown now ({reason})."),
    "insp.error.db_down_write": ("数据库暂时无法访问，现在不能保存（{reason}），请稍后重试。",
                                 "The database cannot be reached, so nothing can be saved now ({reason}); try again "
                                 "shortly."),
})


# What the pages show -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InspectionRow:
    inspection: Inspection
    name: str  # the site's registered name, else the plan's target name (a district, a drawn unit)
    overdue: bool

    @property
    def path(self) -> str:
        return inspection_path(self.inspection.id)


@dataclass(frozen=True, slots=True)
class DistrictGroup:
    district: str
    rows: tuple[InspectionRow, ...]


@dataclass(frozen=True, slots=True)
class FindingLine:
    finding: Finding
    site_name: str
    hazard: Hazard | None  # as it stands now, when it can be read


@dataclass(frozen=True, slots=True)
class AttachmentLine:
    note: str
    url: str
    photo: bool
    is_link: bool


@dataclass(frozen=True, slots=True)
class RecordLine:
    at: str
    kind: str
    word: str
    actor: str
    detail: str


def inspection_path(inspection_id: str) -> str:
    return "/inspections/" + quote(inspection_id, safe="/")


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def subject_name(inspection: Inspection, sites: Mapping[str, Site]) -> str:
    site = sites.get(inspection.site_id) if inspection.site_id is not None else None
    return site.name if site is not None else inspection.target_name


def record_line(event: InspectionEvent, lang: str, names: Mapping[str, str] | None = None) -> RecordLine:
    detail = event.detail
    kind = event.kind
    text = ""
    if kind == "inspection.planned":
        text = f"{i18n.t('insp.field.due', lang)} {detail.get('due_on', '')}"
    elif kind == "inspection.drawn":
        people = detail.get("assignees")
        team = "、".join(str(p) for p in people) if isinstance(people, list) else ""
        text = f"{detail.get('period', '')} · {i18n.t('insp.draw_no', lang).format(n=detail.get('draw_id', ''))}"
        text += f" · {team}" if team else ""
    elif kind in ("inspection.assigned", "inspection.reassigned"):
        people = detail.get("to")
        text = "、".join(str(p) for p in people) if isinstance(people, list) else ""
    elif kind == "inspection.completed":
        rating = str(detail.get("rating") or "")
        text = (i18n.t(f"insp.rating.{rating}", lang) + " · " if rating else "") + str(detail.get("summary", ""))
    elif kind == "inspection.cancelled":
        text = str(detail.get("reason", ""))
    key = f"insp.event.{kind}"
    word = i18n.t(key, lang)
    return RecordLine(at=i18n.local_time(event.at, lang), kind=kind.removeprefix("inspection."),
                      word=kind if word == key else word, actor=actor_text(event.actor, lang, names=names),
                      detail=text)


def may_complete(who: Principal, inspection: Inspection) -> bool:
    return who.role in OVERSEERS or who.name in inspection.assignees


@dataclass(frozen=True, slots=True)
class CompletionForm:
    """What the completion form sent, as typed (kept in the form when it is refused)."""

    rating: str
    summary: str
    findings: tuple[dict[str, str], ...]
    photo_note: str


def completion_problem(form: CompletionForm, inspection: Inspection, lang: str) -> str | None:
    """What to fix before anything is written, in the page's words; None when nothing."""
    if form.rating not in {r.value for r in Rating}:
        return i18n.t("insp.error.rating", lang)
    if not form.summary:
        return i18n.t("insp.error.summary", lang)
    texts = [form.summary, form.photo_note] + [value for row in form.findings for value in row.values()]
    if any(len(text) > MAX_TEXT for text in texts):
        return i18n.t("insp.error.too_long", lang).format(n=MAX_TEXT)
    for number, row in enumerate(form.findings, start=1):
        if not row["title"]:
            if row["description"]:
                return i18n.t("insp.error.finding_title", lang).format(n=number)
            continue  # an empty row: the form always offers more rows than most inspections need
        if inspection.kind is InspectionKind.DISTRICT_SUPERVISION and not row["site"]:
            return i18n.t("insp.error.finding_site", lang).format(n=number)
    return None


def findings_of(form: CompletionForm) -> list[Finding]:
    found = []
    for row in form.findings:
        if not row["title"]:
            continue
        severity = Severity.MAJOR if row["severity"] == Severity.MAJOR.value else Severity.GENERAL
        found.append(Finding(title=row["title"], severity=severity, description=row["description"],
                             site_id=row["site"] or None))
    return found


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# The router ---------------------------------------------------------------------------------------


def inspections_pages(deps: DashboardDeps, templates: Templates) -> APIRouter:
    router = APIRouter()
    service = deps.service
    current_user = make_current_user(deps.sessions)

    def history() -> History:
        # The URL is read per call, as the phone page reads it: the deps may change it.
        return History(deps.database_url)

    def today() -> date:
        return local_day(service.clock())

    def districts_of(user: WebUser) -> list[str]:
        return sorted({site.district for site_id, site in service.sites.items() if user.can_see(site_id)})

    # The year's plan ----------------------------------------------------------------------------

    @router.get("/inspections", response_class=HTMLResponse)
    async def year_plan(request: Request, year: str = "", district: str = "") -> HTMLResponse:
        user = await current_user(request)
        lang = lang_of(request)
        day = today()
        chosen_year = int(year) if year.isdigit() and 2000 <= int(year) <= 2200 else day.year
        districts = districts_of(user)
        chosen_district = district if district in districts else ""
        common: dict[str, Any] = {"year": chosen_year, "districts": districts, "district": chosen_district}
        try:
            found = await history().read(lambda conn: inspection_store.list_inspections(
                conn, year=chosen_year, district=chosen_district or None))
        except HistoryUnavailable as exc:
            return templates.render(request, "inspections.html", status_code=503, supervisions=[], evaluations=[],
                                    fires=[], total=0, done=0, overdue=0,
                                    error=i18n.t("insp.error.db_down", lang).format(reason=exc.reason), **common)
        visible = [item for item in found if can_see(user.principal, item, service.sites)]
        rows = [InspectionRow(item, subject_name(item, service.sites), item.overdue_on(day)) for item in visible]
        by_district: dict[str, list[InspectionRow]] = {}
        for row in rows:
            if row.inspection.kind is InspectionKind.SITE_EVALUATION:
                by_district.setdefault(row.inspection.district, []).append(row)
        return templates.render(
            request, "inspections.html",
            supervisions=[r for r in rows if r.inspection.kind is InspectionKind.DISTRICT_SUPERVISION],
            evaluations=[DistrictGroup(name, tuple(group)) for name, group in sorted(by_district.items())],
            fires=[r for r in rows if r.inspection.kind is InspectionKind.FIRE_RANDOM],
            total=len(rows), done=sum(1 for r in rows if r.inspection.status is InspectionStatus.DONE),
            overdue=sum(1 for r in rows if r.overdue), error=None, **common,
        )

    # One inspection -----------------------------------------------------------------------------

    async def inspection_page(request: Request, user: WebUser, inspection_id: str, *, status_code: int = 200,
                              error: str | None = None, done: str = "",
                              form: CompletionForm | None = None, assign_to: str | None = None) -> HTMLResponse:
        lang = lang_of(request)
        principal = user.principal

        def read(conn: hazard_store.Conn) -> tuple[Inspection | None, list[InspectionEvent], list[Hazard]]:
            found = inspection_store.get(conn, inspection_id)
            if found is None or not can_see(principal, found, service.sites):
                return None, [], []
            return (found, inspection_store.events(conn, inspection_id),
                    hazard_store.by_source(conn, HazardSource.INSPECTION, inspection_id))

        try:
            inspection, record, hazards = await history().read(read)
        except HistoryUnavailable as exc:
            return templates.render(request, "inspection.html", status_code=503, inspection=None,
                                    error=i18n.t("insp.error.db_down", lang).format(reason=exc.reason))
        if inspection is None:
            return templates.render(request, "inspection.html", status_code=404, inspection=None,
                                    error=i18n.t("error.not_found", lang))
        # A finding's hazard is read back only when it is at a site the user sees (a supervision's
        # findings may lie at sites outside a district liaison's partial scope).
        by_id = {hazard.id: hazard for hazard in hazards if user.can_see(hazard.site_id)}
        findings = [FindingLine(item, subject_name_of(item.site_id), by_id.get(item.hazard_id or -1))
                    for item in inspection.findings]
        path = inspection_path(inspection.id)
        attachments = [
            AttachmentLine(item.note, f"{path}/photos/{item.photo_sha256}", True, True) if item.photo_sha256
            else AttachmentLine(item.note, item.url or "", False, is_web_url(item.url or ""))
            for item in inspection.attachments
        ]
        district_sites = sorted((site for site in service.sites.values() if site.district == inspection.district),
                                key=lambda site: (site.name, site.id))
        is_assigned = inspection.status is InspectionStatus.ASSIGNED
        blank = CompletionForm("", "", tuple({"title": "", "severity": "general", "description": "", "site": ""}
                                             for _ in range(FINDING_ROWS)), "")
        return templates.render(
            request, "inspection.html", status_code=status_code, inspection=inspection,
            subject=subject_name(inspection, service.sites), inspection_path=path,
            overdue=inspection.overdue_on(today()), findings=findings, attachments=attachments,
            record=[record_line(event, lang, deps.sessions.names) for event in record],
            can_assign=inspection.status.is_open and principal.role in OVERSEERS,
            can_complete=is_assigned and may_complete(principal, inspection),
            district_sites=district_sites if inspection.kind is InspectionKind.DISTRICT_SUPERVISION else [],
            ratings=[r.value for r in Rating], severities=[s.value for s in Severity],
            form=form or blank, assign_to=assign_to if assign_to is not None else ", ".join(inspection.assignees),
            error=error, done=i18n.t(f"insp.done.{done}", lang) if done in ("assign", "complete") else None,
            max_text=MAX_TEXT,
        )

    def subject_name_of(site_id: str | None) -> str:
        site = service.sites.get(site_id or "")
        return site.name if site is not None else (site_id or "")

    @router.get("/inspections/{inspection_id:path}/photos/{sha256}")
    async def inspection_photo(request: Request, inspection_id: str, sha256: str) -> Response:
        user = await current_user(request)
        missing = Response(i18n.t("error.not_found", lang_of(request)), status_code=404,
                           media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"})

        def read(conn: hazard_store.Conn) -> Photo | None:
            found = inspection_store.get(conn, inspection_id)
            if found is None or not can_see(user.principal, found, service.sites):
                return None
            if sha256 not in {item.photo_sha256 for item in found.attachments}:
                return None
            return hazard_store.stored_photo(conn, sha256)

        try:
            photo = await history().read(read)
        except HistoryUnavailable:
            return Response(status_code=503, headers={"Retry-After": "30", "Cache-Control": "no-store"})
        if photo is None:
            return missing
        name = f"inspection-{sha256[:12]}.{_EXTENSIONS.get(photo.content_type, 'bin')}"
        return Response(photo.data, media_type=photo.content_type,
                        headers={**PHOTO_HEADERS, "Content-Disposition": f'inline; filename="{name}"'})

    @router.get("/inspections/{inspection_id:path}", response_class=HTMLResponse)
    async def one_inspection(request: Request, inspection_id: str, done: str = "") -> Response:
        user = await current_user(request)
        for action in ("/assign", "/complete"):
            # A GET of an action's address (the language switch links back to the page it is on).
            if inspection_id.endswith(action):
                return RedirectResponse(inspection_path(inspection_id.removesuffix(action)), status_code=303)
        return await inspection_page(request, user, inspection_id, done=done)

    # Actions ------------------------------------------------------------------------------------

    async def act(request: Request, user: WebUser, inspection_id: str, done: str,
                  allowed: Callable[[Inspection], bool],
                  write: Callable[[hazard_store.Conn, list[AuditEntry]], Inspection],
                  again: Callable[[int, str], Awaitable[HTMLResponse]]) -> Response:
        lang = lang_of(request)
        principal = user.principal
        deferred: list[AuditEntry] = []

        def work(conn: hazard_store.Conn) -> Inspection | None:
            with conn.transaction():
                found = inspection_store.get(conn, inspection_id)
                if found is None or not can_see(principal, found, service.sites):
                    return None
                if not allowed(found):
                    raise ActionRefused(inspection_id)
                return write(conn, deferred)

        try:
            changed = await history().read(work)
        except HistoryUnavailable as exc:
            return await again(503, i18n.t("insp.error.db_down_write", lang).format(reason=exc.reason))
        except ActionRefused:
            return await again(403, i18n.t("insp.error.not_allowed", lang))
        except FormProblem as exc:
            return await again(422, str(exc))
        except IllegalInspectionTransition as exc:
            status = i18n.t(f"insp.status.{exc.status.value}", lang)
            return await again(409, i18n.t("insp.error.illegal", lang).format(status=status))
        except (InspectionError, HazardError) as exc:
            return await again(422, i18n.t("insp.error.refused", lang) + str(exc))
        if changed is None:
            return await again(404, i18n.t("error.not_found", lang))
        for entry in deferred:
            service.journal.put(entry)
        return RedirectResponse(f"{inspection_path(changed.id)}?{urlencode({'done': done})}", status_code=303)

    @router.post("/inspections/{inspection_id:path}/assign", response_class=HTMLResponse)
    async def assign_form(request: Request, inspection_id: str, csrf: str = Form(""), to: str = Form("")) -> Response:
        user = await current_user(request)
        check_csrf(request, csrf)
        lang = lang_of(request)

        async def again(status_code: int, message: str) -> HTMLResponse:
            return await inspection_page(request, user, inspection_id, status_code=status_code, error=message,
                                         assign_to=to)

        people = [person.strip() for person in to.replace("，", ",").replace("、", ",").split(",") if person.strip()]
        if not people:
            return await again(422, i18n.t("insp.error.to", lang))
        now = service.clock()
        actor = user.principal.actor
        return await act(request, user, inspection_id, "assign", lambda _: user.role in OVERSEERS,
                         lambda conn, deferred: inspection_store.assign(conn, inspection_id, to=people, by=actor,
                                                                         now=now, deferred=deferred), again)

    @router.post("/inspections/{inspection_id:path}/complete", response_class=HTMLResponse)
    async def complete_form(request: Request, inspection_id: str) -> Response:
        user = await current_user(request)
        lang = lang_of(request)
        try:
            raw = await bounded_form(request, MAX_UPLOAD_BYTES, MAX_FIELDS)
        except UploadTooLarge:
            return await inspection_page(request, user, inspection_id, status_code=413,
                                         error=i18n.t("m.err.photo_too_large", lang))
        except HTTPException:
            return await inspection_page(request, user, inspection_id, status_code=400,
                                         error=i18n.t("m.err.bad_upload", lang))
        photo: Photo | None = None
        try:
            token = raw.get("csrf")
            check_csrf(request, token if isinstance(token, str) else None)
            form = CompletionForm(
                rating=_field(raw, "rating"), summary=_field(raw, "summary"),
                findings=tuple({"title": _field(raw, f"finding_title_{n}"),
                                "severity": _field(raw, f"finding_severity_{n}"),
                                "description": _field(raw, f"finding_description_{n}"),
                                "site": _field(raw, f"finding_site_{n}")} for n in range(1, FINDING_ROWS + 1)),
                photo_note=_field(raw, "photo_note"))
            upload = raw.get("photo")
            if isinstance(upload, UploadFile) and (upload.filename or (upload.size or 0) > 0):
                try:
                    photo = photo_of(await upload.read(MAX_PHOTO_BYTES + 1))
                except PhotoRejected as exc:
                    status_code = {"too_large": 413, "not_image": 415}.get(exc.reason, 422)
                    return await inspection_page(request, user, inspection_id, status_code=status_code,
                                                 error=i18n.t(f"m.err.photo_{exc.reason}", lang), form=form)
        finally:
            await raw.close()

        async def again(status_code: int, message: str) -> HTMLResponse:
            return await inspection_page(request, user, inspection_id, status_code=status_code, error=message,
                                         form=form)

        now = service.clock()
        actor = user.principal.actor
        attachments = [Attachment(note=form.photo_note, photo_sha256=photo.sha256)] if photo is not None else []
        photos = [photo] if photo is not None else []

        def allowed(current: Inspection) -> bool:
            return may_complete(user.principal, current)

        def write(conn: hazard_store.Conn, deferred: list[AuditEntry]) -> Inspection:
            current = inspection_store.get(conn, inspection_id)
            assert current is not None  # read in this transaction a moment ago
            problem = completion_problem(form, current, lang)
            if problem is None and photo is not None and not form.photo_note:
                problem = i18n.t("insp.error.photo_note", lang)
            if problem is not None:
                raise FormProblem(problem)
            return inspection_store.complete(conn, inspection_id, rating=form.rating, summary=form.summary,
                                             findings=findings_of(form), attachments=attachments, photos=photos,
                                             sites=service.sites, by=actor, now=now, deferred=deferred)

        return await act(request, user, inspection_id, "complete", allowed, write, again)

    return router


class ActionRefused(InspectionError):  # noqa: N818 (reads as what happened)
    """The user's role (or not being assigned) does not allow this change to the inspection."""


class FormProblem(InspectionError):  # noqa: N818 (the message says what to fix in the form)
    """The completion form needs fixing before anything is written; the message is the page's words."""
