"""The hazard pages: every hazard (隐患) the user may see, and one hazard followed until it is closed.

    GET  /hazards?status=&site=&severity=&overdue=   open ones first (nearest deadline first), then
                                                     the finished; overdue rows in red with the
                                                     working days overdue
    GET  /hazards/{id}                facts, deadline in working days, photos, the timeline in words,
                                      and the actions the user may take now
    POST /hazards/{id}/plan           csrf, plan                   open → rectifying
    POST /hazards/{id}/close          multipart: csrf, note, photo (file) and/or url   closed with evidence
    POST /hazards/{id}/cancel         csrf, reason
    POST /hazards/{id}/reopen         csrf, reason

Every action is a plain form that works without script, answered with a 303 back to the hazard's
page, or with the page again and the reason in words (not allowed, not possible in the hazard's
state, evidence missing, the database away) and what was typed kept in the form. The rules are the
API's (relic_guard.hazards.api: the role table, the scope, evidence checked before anything is
written, the deadline alert resolved on a close or a cancel, the audit entry through the journal):
the pages call the same commands with the user's principal.

Scope as everywhere: a hazard at a site outside the user's scope is answered 404 in the same words
as an unknown id. Photos are shown from `GET /api/hazards/{id}/photos/{sha256}`, which checks the
same scope with the session. Hazards live in the database only: while it cannot be reached the
pages say so (503) instead of showing an empty list, which would read as "nothing to rectify".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from relic_guard.alerting.api import History, HistoryUnavailable
from relic_guard.dashboard import i18n
from relic_guard.dashboard.app import DashboardDeps, Templates, check_csrf, lang_of, make_current_user
from relic_guard.dashboard.mobile import MAX_UPLOAD_BYTES, UploadTooLarge, bounded_form
from relic_guard.dashboard.people import actor_text
from relic_guard.dashboard.users import WebUser
from relic_guard.hazards import model
from relic_guard.hazards.api import (
    EVENT_LABELS,
    SEVERITY_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    ActionNotAllowed,
    DeadlineView,
    HazardAction,
    after_change,
    apply_command,
    deadline_view,
    hazard_number,
    may,
    photo_path,
)
from relic_guard.hazards.model import (
    Evidence,
    EvidenceKind,
    Hazard,
    HazardError,
    HazardEvent,
    HazardSource,
    HazardStatus,
    IllegalHazardTransition,
    MissingEvidence,
    Severity,
    Transition,
    UnknownHazard,
)
from relic_guard.hazards.workdays import local_day
from relic_guard.registry import Site
from relic_guard.store import hazard_store
from relic_guard.store.hazards import MAX_PHOTO_BYTES, Photo, PhotoRejected, photo_of

MAX_ROWS: Final = 500
MAX_TEXT: Final = model.MAX_NOTE_CHARS
MAX_URL: Final = 1000
# The page's status filter: each status, and "active" for both open ones.
ACTIVE: Final = "active"
STATUS_FILTERS: Final = (ACTIVE, *(status.value for status in HazardStatus))

_STATUS_EN: Final = {HazardStatus.OPEN: "Open", HazardStatus.RECTIFYING: "Being rectified",
                     HazardStatus.CLOSED: "Closed (rectified)", HazardStatus.CANCELLED: "Cancelled"}
_SEVERITY_EN: Final = {Severity.MAJOR: "Major hazard", Severity.GENERAL: "General hazard"}
_SOURCE_EN: Final = {HazardSource.PATROL: "Found on patrol", HazardSource.INSPECTION: "Found on inspection",
                     HazardSource.ALERT: "Found from an alert", HazardSource.REPORT: "Reported by a custodian"}
_EVENT_EN: Final = {"hazard.created": "Recorded", "hazard.planned": "Rectification plan",
                    "hazard.closed": "Rectified and closed", "hazard.cancelled": "Cancelled",
                    "hazard.reopened": "Reopened"}

i18n.register({f"hazard.status.{key.value}": (zh, _STATUS_EN[key]) for key, zh in STATUS_LABELS.items()})
i18n.register({f"hazard.sev.{key.value}": (zh, _SEVERITY_EN[key]) for key, zh in SEVERITY_LABELS.items()})
i18n.register({f"hazard.source.{key.value}": (zh, _SOURCE_EN[key]) for key, zh in SOURCE_LABELS.items()})
i18n.register({f"hazard.kind.{key}": (zh, _EVENT_EN[key]) for key, zh in EVENT_LABELS.items()})
i18n.register({
    "hazards.title": ("隐患整改", "Hazards"),
    "hazards.filter.status": ("状态", "Status"),
    "hazards.filter.site": ("文物点", "Site"),
    "hazards.filter.severity": ("级别", "Severity"),
    "hazards.filter.overdue": ("只看逾期", "Overdue only"),
    "hazards.filter.all": ("全部", "All"),
    "hazards.filter.active": ("未销号（待整改、整改中）", "Not closed (open, being rectified)"),
    "hazards.filter.apply": ("筛选", "Filter"),
    "hazards.filter.clear": ("清除筛选", "Clear"),
    "hazards.summary": ("未销号 {open} 项，其中逾期 {overdue} 项", "{open} not closed, {overdue} of them overdue"),
    "hazards.shown": ("显示 {n} 项", "Showing {n}"),
    "hazards.capped": ("仅显示前 {n} 项，请用筛选缩小范围。", "Only the first {n} are shown; narrow the filter."),
    "hazards.none": ("没有符合条件的隐患。", "No hazard matches."),
    "hazards.col.id": ("编号", "No."),
    "hazards.col.severity": ("级别", "Severity"),
    "hazards.col.title": ("隐患", "Hazard"),
    "hazards.col.site": ("文物点", "Site"),
    "hazards.col.status": ("状态", "Status"),
    "hazards.col.owner": ("整改责任人", "Owner"),
    "hazards.col.found": ("发现时间", "Found"),
    "hazards.col.deadline": ("整改期限", "Deadline"),
    "hazards.left": ("剩 {n} 个工作日", "{n} working day(s) left"),
    "hazards.due_today": ("今天到期", "due today"),
    "hazards.overdue": ("逾期 {n} 个工作日", "{n} working day(s) overdue"),
    "hazards.overdue_now": ("已逾期", "overdue"),
    "hazards.on_time": ("按期销号", "closed on time"),
    "hazards.late": ("逾期后销号", "closed after the deadline"),
    "hazards.db_down": ("数据库暂时无法访问，隐患清单暂不能显示（{reason}）。告警处置不受影响。",
                        "The database cannot be reached, so hazards cannot be shown now ({reason}). "
                        "Alerts are unaffected."),
    "hazard.back": ("返回隐患清单", "Back to the hazards"),
    "hazard.field.site": ("文物点", "Site"),
    "hazard.field.source": ("来源", "Source"),
    "hazard.field.found": ("发现时间", "Found"),
    "hazard.field.owner": ("整改责任人", "Owner"),
    "hazard.field.deadline": ("整改期限", "Deadline"),
    "hazard.field.description": ("隐患描述", "Description"),
    "hazard.field.plan": ("整改方案", "Rectification plan"),
    "hazard.field.closed": ("销号", "Closed"),
    "hazard.field.cancelled": ("撤销", "Cancelled"),
    "hazard.by_at": ("{who}，{at}", "{who}, {at}"),
    "hazard.source_link": ("查看来源", "open the source"),
    "hazard.evidence": ("整改证据", "Evidence of rectification"),
    "hazard.report_photo": ("上报时的照片", "Photo sent with the report"),
    "hazard.photo_alt": ("整改照片：{note}", "Photo: {note}"),
    "hazard.document": ("整改文件", "Document"),
    "hazard.timeline": ("整改记录", "Timeline"),
    "hazard.actions": ("处理", "Actions"),
    "hazard.plan.label": ("整改方案（措施、完成时间）", "Rectification plan (what will be done, by when)"),
    "hazard.plan.submit": ("提交整改方案", "File the plan"),
    "hazard.close.heading": ("整改完成，销号", "Rectified: close it"),
    "hazard.close.note": ("证据说明（照片或文件显示了什么）", "What the evidence shows"),
    "hazard.close.photo": ("整改后的照片", "Photo after rectification"),
    "hazard.close.photo_hint": ("JPEG、PNG 或 WebP，不超过 5 MB。", "JPEG, PNG or WebP, at most 5 MB."),
    "hazard.close.url": ("或整改文件链接（验收单、报告）", "or a link to a document (acceptance form, report)"),
    "hazard.close.hint": ("销号必须附证据：至少一张照片或一个文件链接，并写明其内容。",
                          "Closing needs evidence: at least one photo or document link, and what it shows."),
    "hazard.close.submit": ("销号", "Close with evidence"),
    "hazard.cancel.heading": ("撤销（不是隐患或重复登记）", "Cancel (not a hazard, or a duplicate)"),
    "hazard.cancel.reason": ("撤销理由", "Why"),
    "hazard.cancel.submit": ("撤销", "Cancel the hazard"),
    "hazard.reopen.heading": ("重新打开（整改未见效）", "Reopen (the rectification did not hold)"),
    "hazard.reopen.reason": ("理由（复查发现的情况）", "Why (what the re-inspection found)"),
    "hazard.reopen.submit": ("重新打开", "Reopen"),
    "hazard.no_actions": ("您的角色只能查看此隐患。", "Your role may only read this hazard."),
    "hazard.closed_done": ("此隐患已整改销号。", "This hazard is closed."),
    "hazard.finished": ("此隐患已撤销，不能再处理。", "This hazard is cancelled; nothing more can be done."),
    "hazard.detail.created": ("{source}；整改期限 {deadline}；责任人 {owner}",
                              "{source}; deadline {deadline}; owner {owner}"),
    "hazard.detail.reopened": ("{reason}（新期限 {deadline}）", "{reason} (new deadline {deadline})"),
    "hazard.detail.photo": ("照片", "photo"),
    "hazard.detail.document": ("文件", "document"),
    "hazard.done.plan": ("整改方案已提交。", "The plan is filed."),
    "hazard.done.close": ("隐患已销号。", "The hazard is closed."),
    "hazard.done.cancel": ("隐患已撤销。", "The hazard is cancelled."),
    "hazard.done.reopen": ("隐患已重新打开，整改期限重新计算。", "The hazard is reopened; its deadline counts anew."),
    "hazard.done.alert": ("相关的整改期限告警已解除。", "Its deadline alert is resolved."),
    "hazard.error.not_allowed": ("您的角色不能执行此操作。", "Your role may not do this."),
    "hazard.error.illegal": ("此隐患当前为“{status}”，不能这样处理。",
                             "The hazard is “{status}”: that is not possible now."),
    "hazard.error.need_plan": ("请填写整改方案。", "Write the plan first."),
    "hazard.error.need_reason": ("请填写理由。", "Give the reason."),
    "hazard.error.need_note": ("请写明证据显示了什么。", "Say what the evidence shows."),
    "hazard.error.need_evidence": ("销号必须附证据：请上传整改后的照片，或填写整改文件链接。",
                                   "Closing needs evidence: upload a photo after rectification, or give a document "
                                   "link."),
    "hazard.error.bad_url": ("文件链接须以 http:// 或 https:// 开头。", "A document link starts with http:// or https://."),
    "hazard.error.too_long": ("内容过长：最多 {n} 个字。", "Too long: at most {n} characters."),
    "hazard.error.evidence": ("证据不完整：", "The evidence is incomplete: "),
    "hazard.error.db_down": ("数据库暂时无法访问，现在不能保存（{reason}），请稍后重试。",
                             "The database cannot be reached, so nothing can be saved now ({reason}); try again "
                             "shortly."),
    "hazard.error.db_down_read": ("数据库暂时无法访问，此隐患暂不能显示（{reason}）。",
                                  "The database cannot be reached, so this hazard cannot be shown now ({reason})."),
})


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def deadline_text(view: DeadlineView, lang: str) -> str:
    if view.overdue:
        days = view.working_days_overdue or 0
        return i18n.t("hazards.overdue", lang).format(n=days) if days else i18n.t("hazards.overdue_now", lang)
    if view.working_days_left is not None:
        if view.working_days_left == 0:
            return i18n.t("hazards.due_today", lang)
        return i18n.t("hazards.left", lang).format(n=view.working_days_left)
    if view.on_time is not None:
        return i18n.t("hazards.on_time" if view.on_time else "hazards.late", lang)
    return ""


def site_words(site_id: str, sites: Mapping[str, Site]) -> tuple[str, str]:
    site = sites.get(site_id)
    return (site.name, site.district) if site is not None else (site_id, "")


@dataclass(frozen=True, slots=True)
class HazardRow:
    hazard: Hazard
    site_name: str
    district: str
    view: DeadlineView
    deadline_words: str


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    kind: str
    note: str
    url: str | None  # a link for documents, the photo's address for photos
    is_link: bool


@dataclass(frozen=True, slots=True)
class TimelineLine:
    at: str
    kind: str
    word: str
    actor: str
    detail: str
    evidence: tuple[EvidenceLine, ...]


def evidence_lines(hazard_id: int, items: Sequence[Mapping[str, object]]) -> tuple[EvidenceLine, ...]:
    lines = []
    for raw in items:
        try:
            item = Evidence.from_json(raw)
        except (KeyError, ValueError):
            continue
        if item.photo_sha256 is not None:
            lines.append(EvidenceLine("photo", item.note, photo_path(hazard_id, item.photo_sha256), True))
        else:
            url = item.url or ""
            lines.append(EvidenceLine("document", item.note, url, is_web_url(url)))
    return tuple(lines)


def timeline_line(event: HazardEvent, lang: str, names: Mapping[str, str] | None = None) -> TimelineLine:
    detail = event.detail
    kind = event.kind
    text = ""
    evidence: tuple[EvidenceLine, ...] = ()
    if kind == "hazard.created":
        source = str(detail.get("source", ""))
        text = i18n.t("hazard.detail.created", lang).format(
            source=i18n.t(f"hazard.source.{source}", lang) if source else "",
            deadline=detail.get("deadline", ""), owner=detail.get("owner", ""))
    elif kind == "hazard.planned":
        text = str(detail.get("plan", ""))
    elif kind == "hazard.closed":
        raw = detail.get("evidence")
        evidence = evidence_lines(event.hazard_id, raw if isinstance(raw, list) else [])
    elif kind == "hazard.cancelled":
        text = str(detail.get("reason", ""))
    elif kind == "hazard.reopened":
        text = i18n.t("hazard.detail.reopened", lang).format(reason=detail.get("reason", ""),
                                                             deadline=detail.get("deadline", ""))
    key = f"hazard.kind.{kind}"
    word = i18n.t(key, lang)
    return TimelineLine(at=i18n.local_time(event.at, lang), kind=kind.removeprefix("hazard."),
                        word=kind if word == key else word, actor=actor_text(event.actor, lang, names=names),
                        detail=text, evidence=evidence)


def source_link(hazard: Hazard) -> str | None:
    """Where the hazard came from, when the dashboard has a page for it."""
    if hazard.source_ref is None:
        return None
    if hazard.source is HazardSource.ALERT:
        return f"/alerts/{quote(hazard.source_ref, safe='')}"
    if hazard.source is HazardSource.INSPECTION:
        return f"/inspections/{quote(hazard.source_ref, safe='/')}"
    return None


# The router ---------------------------------------------------------------------------------------


def hazards_pages(deps: DashboardDeps, templates: Templates) -> APIRouter:
    router = APIRouter()
    service = deps.service
    current_user = make_current_user(deps.sessions)

    def history() -> History:
        # The URL is read per call, as the phone page reads it: the deps may change it.
        return History(deps.database_url)

    def today() -> date:
        return local_day(service.clock())

    def visible_sites(user: WebUser) -> list[Site]:
        return sorted((site for site_id, site in service.sites.items() if user.can_see(site_id)),
                      key=lambda site: (site.district, site.name, site.id))

    # The list ------------------------------------------------------------------------------------

    @router.get("/hazards", response_class=HTMLResponse)
    async def hazard_list(request: Request, status: str = "", site: str = "", severity: str = "",
                          overdue: str = "") -> HTMLResponse:
        user = await current_user(request)
        lang = lang_of(request)
        chosen_status = status if status in STATUS_FILTERS else ""
        statuses: frozenset[HazardStatus] | None = None
        if chosen_status == ACTIVE:
            statuses = frozenset({HazardStatus.OPEN, HazardStatus.RECTIFYING})
        elif chosen_status:
            statuses = frozenset({HazardStatus(chosen_status)})
        chosen_severity = severity if severity in {s.value for s in Severity} else ""
        chosen_site = site if site and user.can_see(site) else ""
        late = True if overdue in ("1", "true") else None
        day = today()
        filters = {"status": chosen_status, "site": chosen_site, "severity": chosen_severity,
                   "overdue": "1" if late else ""}
        common: dict[str, Any] = {"filters": filters, "sites": visible_sites(user), "statuses": STATUS_FILTERS,
                  "severities": [s.value for s in Severity], "filtered": any(filters.values())}

        def read(conn: hazard_store.Conn) -> tuple[list[Hazard], list[Hazard]]:
            rows = hazard_store.list_hazards(
                conn, sites=user.sites, site=chosen_site or None, statuses=statuses,
                severity=Severity(chosen_severity) if chosen_severity else None, overdue=late, today=day,
                limit=MAX_ROWS + 1)
            return rows, hazard_store.list_open(conn, user.sites)

        try:
            found, still_open = await history().read(read)
        except HistoryUnavailable as exc:
            return templates.render(request, "hazards.html", status_code=503, rows=[], shown=0, capped=False,
                                    open_count=0, overdue_count=0,
                                    error=i18n.t("hazards.db_down", lang).format(reason=exc.reason), **common)
        rows = []
        for hazard in found[:MAX_ROWS]:
            view = deadline_view(hazard, day)
            name, district = site_words(hazard.site_id, service.sites)
            rows.append(HazardRow(hazard, name, district, view, deadline_text(view, lang)))
        return templates.render(
            request, "hazards.html", rows=rows, shown=len(rows), capped=len(found) > MAX_ROWS,
            open_count=len(still_open), overdue_count=sum(1 for h in still_open if h.deadline < day),
            error=None, **common,
        )

    # One hazard ---------------------------------------------------------------------------------

    async def hazard_page(request: Request, user: WebUser, hazard_id: str, *, status_code: int = 200,
                          error: str | None = None, done: Sequence[str] = (),
                          draft: Mapping[str, str] | None = None) -> HTMLResponse:
        lang = lang_of(request)
        number = hazard_number(hazard_id)
        if number is None:
            return templates.render(request, "hazard.html", status_code=404, hazard=None,
                                    error=i18n.t("error.not_found", lang))

        def read(conn: hazard_store.Conn) -> tuple[Hazard | None, list[HazardEvent]]:
            hazard = hazard_store.get(conn, number)
            if hazard is None or not user.can_see(hazard.site_id):
                return None, []
            return hazard, hazard_store.events(conn, number)

        try:
            hazard, events = await history().read(read)
        except HistoryUnavailable as exc:
            return templates.render(request, "hazard.html", status_code=503, hazard=None,
                                    error=i18n.t("hazard.error.db_down_read", lang).format(reason=exc.reason))
        if hazard is None:
            return templates.render(request, "hazard.html", status_code=404, hazard=None,
                                    error=i18n.t("error.not_found", lang))
        principal = user.principal
        is_open = hazard.status.is_open
        view = deadline_view(hazard, today())
        name, district = site_words(hazard.site_id, service.sites)
        report_photo = next((str(e.detail["photo_sha256"]) for e in events
                             if e.kind == "hazard.created" and e.detail.get("photo_sha256")), None)
        return templates.render(
            request, "hazard.html", status_code=status_code, hazard=hazard, site_name=name, district=district,
            view=view, deadline_words=deadline_text(view, lang), hazard_path=f"/hazards/{hazard.id}",
            source_link=source_link(hazard),
            evidence=evidence_lines(hazard.id, [item.as_json() for item in hazard.evidence]),
            report_photo=photo_path(hazard.id, report_photo) if report_photo else None,
            timeline=[timeline_line(event, lang, deps.sessions.names) for event in events],
            who=lambda actor: actor_text(actor, lang, names=deps.sessions.names),
            can_plan=hazard.status is HazardStatus.OPEN and may(principal, HazardAction.PLAN),
            can_close=is_open and may(principal, HazardAction.CLOSE),
            can_cancel=is_open and may(principal, HazardAction.CANCEL),
            can_reopen=hazard.status is HazardStatus.CLOSED and may(principal, HazardAction.REOPEN),
            error=error, done=[i18n.t(f"hazard.done.{key}", lang) for key in done if key in _DONE],
            draft=draft or {}, max_text=MAX_TEXT, max_url=MAX_URL, max_photo_bytes=MAX_PHOTO_BYTES,
        )

    @router.get("/hazards/{hazard_id}", response_class=HTMLResponse)
    async def one_hazard(request: Request, hazard_id: str, done: str = "") -> HTMLResponse:
        user = await current_user(request)
        return await hazard_page(request, user, hazard_id, done=done.split(",") if done else ())

    # Actions ------------------------------------------------------------------------------------

    async def act(request: Request, user: WebUser, hazard_id: str, action: HazardAction, done: str,
                  step: Callable[[Hazard], Transition], draft: Mapping[str, str], problem: str | None = None,
                  photos: Sequence[Photo] = ()) -> Response:
        """One form action: the checks of `apply_command`, then 303 back to the hazard's page, or
        the page again with the reason in words and the form as it was typed."""
        lang = lang_of(request)

        async def again(status_code: int, message: str) -> HTMLResponse:
            return await hazard_page(request, user, hazard_id, status_code=status_code, error=message, draft=draft)

        number = hazard_number(hazard_id)
        if number is None:
            return await again(404, i18n.t("error.not_found", lang))
        principal = user.principal
        if not may(principal, action):
            return await again(403, i18n.t("hazard.error.not_allowed", lang))
        if problem is not None:
            return await again(422, problem)
        try:
            changed = await history().read(lambda conn: apply_command(conn, number, principal, action, step, photos))
        except HistoryUnavailable as exc:
            return await again(503, i18n.t("hazard.error.db_down", lang).format(reason=exc.reason))
        except UnknownHazard:
            return await again(404, i18n.t("error.not_found", lang))
        except ActionNotAllowed:
            return await again(403, i18n.t("hazard.error.not_allowed", lang))
        except IllegalHazardTransition as exc:
            status = i18n.t(f"hazard.status.{exc.status.value}", lang)
            return await again(409, i18n.t("hazard.error.illegal", lang).format(status=status))
        except MissingEvidence as exc:
            return await again(422, i18n.t("hazard.error.evidence", lang) + str(exc))
        except HazardError as exc:
            return await again(422, str(exc))
        settled = after_change(service, changed)
        shown = done + (",alert" if settled is not None else "")
        return RedirectResponse(f"/hazards/{number}?{urlencode({'done': shown})}", status_code=303)

    def text_problem(text: str, missing_key: str, lang: str) -> str | None:
        if not text:
            return i18n.t(missing_key, lang)
        if len(text) > MAX_TEXT:
            return i18n.t("hazard.error.too_long", lang).format(n=MAX_TEXT)
        return None

    async def text_action(request: Request, hazard_id: str, csrf: str, typed: str, action: HazardAction,
                          done: str, draft_key: str, missing_key: str,
                          make: Callable[[Hazard, str, datetime, str], Transition]) -> Response:
        """A form that moves the hazard with one text (a plan, a reason), checked as typed."""
        user = await current_user(request)
        check_csrf(request, csrf)
        text = typed.strip()
        now = service.clock()
        return await act(request, user, hazard_id, action, done,
                         lambda h: make(h, user.principal.actor, now, text),
                         {draft_key: typed}, text_problem(text, missing_key, lang_of(request)))

    @router.post("/hazards/{hazard_id}/plan", response_class=HTMLResponse)
    async def plan_form(request: Request, hazard_id: str, csrf: str = Form(""), plan: str = Form("")) -> Response:
        return await text_action(request, hazard_id, csrf, plan, HazardAction.PLAN, "plan", "plan",
                                 "hazard.error.need_plan",
                                 lambda h, by, now, text: model.plan(h, by=by, now=now, plan_text=text))

    @router.post("/hazards/{hazard_id}/cancel", response_class=HTMLResponse)
    async def cancel_form(request: Request, hazard_id: str, csrf: str = Form(""),
                          reason: str = Form("")) -> Response:
        return await text_action(request, hazard_id, csrf, reason, HazardAction.CANCEL, "cancel", "cancel_reason",
                                 "hazard.error.need_reason",
                                 lambda h, by, now, text: model.cancel(h, by=by, now=now, reason=text))

    @router.post("/hazards/{hazard_id}/reopen", response_class=HTMLResponse)
    async def reopen_form(request: Request, hazard_id: str, csrf: str = Form(""),
                          reason: str = Form("")) -> Response:
        return await text_action(request, hazard_id, csrf, reason, HazardAction.REOPEN, "reopen", "reopen_reason",
                                 "hazard.error.need_reason",
                                 lambda h, by, now, text: model.reopen(h, by=by, now=now, reason=text))

    @router.post("/hazards/{hazard_id}/close", response_class=HTMLResponse)
    async def close_form(request: Request, hazard_id: str) -> Response:
        user = await current_user(request)
        lang = lang_of(request)
        try:
            form = await bounded_form(request, MAX_UPLOAD_BYTES)
        except UploadTooLarge:
            # The token is in the unread body: a refusal that writes nothing needs no check of it.
            return await hazard_page(request, user, hazard_id, status_code=413,
                                     error=i18n.t("m.err.photo_too_large", lang))
        except HTTPException:
            return await hazard_page(request, user, hazard_id, status_code=400, error=i18n.t("m.err.bad_upload", lang))
        try:
            token = form.get("csrf")
            check_csrf(request, token if isinstance(token, str) else None)
            note = _field(form.get("note")).strip()
            url = _field(form.get("url")).strip()
            draft = {"close_note": note, "close_url": url}
            photo: Photo | None = None
            upload = form.get("photo")
            problem = text_problem(note, "hazard.error.need_note", lang)
            if isinstance(upload, UploadFile) and (upload.filename or (upload.size or 0) > 0):
                try:
                    photo = photo_of(await upload.read(MAX_PHOTO_BYTES + 1))
                except PhotoRejected as exc:
                    status_code = {"too_large": 413, "not_image": 415}.get(exc.reason, 422)
                    return await hazard_page(request, user, hazard_id, status_code=status_code,
                                             error=i18n.t(f"m.err.photo_{exc.reason}", lang), draft=draft)
        finally:
            await form.close()
        if problem is None and url and (not is_web_url(url) or len(url) > MAX_URL):
            problem = i18n.t("hazard.error.bad_url", lang)
        if problem is None and photo is None and not url:
            problem = i18n.t("hazard.error.need_evidence", lang)
        items: list[Evidence] = []
        if photo is not None:
            items.append(Evidence(EvidenceKind.PHOTO, note, photo_sha256=photo.sha256))
        if url:
            items.append(Evidence(EvidenceKind.DOCUMENT, note, url=url))
        now = service.clock()
        return await act(request, user, hazard_id, HazardAction.CLOSE, "close",
                         lambda h: model.close(h, by=user.principal.actor, now=now, evidence=items),
                         draft, problem, photos=[photo] if photo is not None else [])

    # A GET of an action's address (the language switch links back to the page it is on) leads to
    # the hazard's page rather than to "405 Method Not Allowed".
    @router.get("/hazards/{hazard_id}/{action}", include_in_schema=False)
    async def action_get(hazard_id: str, action: str) -> Response:
        return RedirectResponse(f"/hazards/{quote(hazard_id, safe='')}", status_code=303)

    return router


_DONE: Final = frozenset({"plan", "close", "cancel", "reopen", "alert"})


def _field(value: str | UploadFile | None) -> str:
    return value if isinstance(value, str) else ""
