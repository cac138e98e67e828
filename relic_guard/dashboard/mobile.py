"""The custodian's phone page: my sites, my alerts, patrol tasks, report a hazard, phone alerts.

    GET  /m                       the page (any logged-in user; each sees the sites of their scope)
    POST /m/alerts/{id}/ack       acknowledge from the page (form field `csrf`), back to /m
    POST /m/hazards               a hazard report: multipart `csrf`, `site`, `description`, `photo`
    GET  /m/photos/{sha256}       a report's photo, to users who may see a site it was reported at
    GET  /sw.js                   the Web Push service worker (static/sw.js), at the root of the origin

Custodians read this page on a phone, often outdoors and in a hurry: everything works as plain
forms without script (`static/mobile.js` only adds photo downscaling, double-tap protection, a
"something changed" hint and the push subscription), buttons are large, and the open alerts come
from the alert service's memory, so the page answers while the database is down. Only hazard
reports need the database; while it is down the form says a report cannot be saved now and a
report sent anyway is answered 503 with the text kept in the form, never a 500. Today's patrol
rounds (local day, from `patrol_rounds`, kept by the patrol job) are read from the database too;
while it is down the section says so instead of listing them.

Phone alerts: the button carries, in `data-push-ids`, the webpush targets of the routing
recipient named as the user (`directory.custodians_by_name[user.name]`), those the API's rule
would let this user register (`relic_guard.alerting.api` docstring: ids used by custodian
recipients alone, each a custodian of a site in the user's scope). With none, the page says
why instead of offering a button that could only fail.

The service worker lives at `/sw.js`, not under `/static/`: a worker controls only the paths
below its own URL, and pushes must be able to open `/alerts/{id}` and `/ack/…` pages.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Final, TypeVar
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from alerts.errors import IllegalTransition, UnknownAlertError
from alerts.model import Alert, AlertStatus, Audience
from alerts.rules.common import SHANGHAI
from relic_guard.alerting.api import webpush_recipients
from relic_guard.alerting.tokens import Role
from relic_guard.audit import AuditEntry
from relic_guard.dashboard import i18n
from relic_guard.dashboard.app import HERE, DashboardDeps, Templates, check_csrf, make_current_user
from relic_guard.dashboard.people import actor_text
from relic_guard.dashboard.users import WebUser
from relic_guard.patrols import store as patrol_store
from relic_guard.registry import Site
from relic_guard.routing_load import RoutingConfig
from relic_guard.store import hazards

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.Connection[Any]

SW_FILE: Final = HERE / "static" / "sw.js"
SW_HEADERS: Final = {
    # The page's worker may control the whole origin (it is served from the root anyway).
    "Service-Worker-Allowed": "/",
    # Browsers check for a new worker on navigation; a cached copy would delay a fix for a day.
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}
PHOTO_PATTERN: Final = re.compile(r"[0-9a-f]{64}")
# The description, the CSRF token and the multipart framing around one photo fit in this.
FORM_SLACK_BYTES: Final = 64 * 1024
MAX_UPLOAD_BYTES: Final = hazards.MAX_PHOTO_BYTES + FORM_SLACK_BYTES
# A phone with every site of a province in scope (an operator) gets the busiest ones first.
MAX_SITES: Final = 100
MAX_ALERTS: Final = 100
MAX_ROUNDS: Final = 100
RECENT_REPORTS: Final = 10
DB_CONNECT_TIMEOUT_S: Final = 2
DB_TIMEOUT_S: Final = 10.0
PHOTO_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    # Content-addressed, so it never changes; private, because who may see it depends on the session.
    "Cache-Control": "private, max-age=86400",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
_EXTENSIONS: Final = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

i18n.register({
    "m.title": ("我的文物点", "My sites"),
    "m.sites": ("我的文物点", "My sites"),
    "m.sites.none": ("您名下暂无文物点，请联系管理员。", "No site is assigned to you; ask the administrator."),
    "m.sites.more": ("另有 {n} 处文物点未列出。", "{n} more site(s) not listed."),
    "m.site.alerts": ("告警 {n} 条", "{n} open alert(s)"),
    "m.site.offline": ("离线设备 {n} 台", "{n} device(s) offline"),
    "m.site.ok": ("正常", "All clear"),
    "m.alerts": ("我的告警", "My alerts"),
    "m.alerts.none": ("目前没有待处理的告警。", "No open alerts right now."),
    "m.alerts.more": ("另有 {n} 条告警未列出，请在告警队列中查看。", "{n} more alert(s); see the alert queue."),
    "m.alerts.changed": ("告警有变化，点此刷新", "Alerts have changed: tap to reload"),
    "m.ack": ("确认接警", "Acknowledge"),
    "m.ack.sending": ("正在确认…", "Acknowledging…"),
    "m.acked_by": ("由 {who} 于 {at} 确认", "by {who} at {at}"),
    "m.flash.acked": ("已确认接警：{title}。请按应急预案处置。", "Acknowledged: {title}. Follow the response plan."),
    "m.flash.acked_other": ("此告警已由 {who} 确认：{title}", "Already acknowledged by {who}: {title}"),
    "m.flash.ack_gone": ("告警不存在、已解除，或不在您负责的文物点。",
                         "The alert does not exist, is closed, or is not at one of your sites."),
    "m.flash.ack_forbidden": ("您的角色不能确认告警。", "Your role may not acknowledge alerts."),
    "m.flash.reported": ("隐患已上报（编号 {id}），谢谢！", "Hazard reported (no. {id}). Thank you!"),
    "m.patrol": ("巡查任务", "Patrol tasks"),
    "m.patrol.none": ("暂无巡查任务：巡查计划尚未排定。", "No patrol rounds are scheduled yet."),
    "m.patrol.db_down": ("数据库暂时无法访问，今日巡查任务无法显示。", "The database cannot be reached, so today's "
                         "patrol rounds cannot be shown."),
    "m.patrol.missing": ("未巡：{names}", "Not visited: {names}"),
    "m.patrol.more": ("另有 {n} 个巡查任务未列出。", "{n} more round(s) not listed."),
    "m.patrol.status.upcoming": ("未开始", "Upcoming"),
    "m.patrol.status.withdrawn": ("已撤销", "Withdrawn"),
    "m.patrol.status.pending": ("进行中", "Due now"),
    "m.patrol.status.complete": ("已完成", "Done"),
    "m.patrol.status.late": ("超时完成", "Done late"),
    "m.patrol.status.partial": ("未巡完", "Incomplete"),
    "m.patrol.status.missed": ("漏巡", "Missed"),
    "m.hazard": ("上报隐患", "Report a hazard"),
    "m.hazard.site": ("文物点", "Site"),
    "m.hazard.description": ("隐患描述", "What is wrong"),
    "m.hazard.description_hint": ("例如：东配殿后檐墙出现新裂缝，约 30 厘米。",
                                  "e.g. a new crack, about 30 cm, in the rear wall of the east hall."),
    "m.hazard.photo": ("现场照片（可选）", "Photo (optional)"),
    "m.hazard.photo_hint": ("JPEG、PNG 或 WebP，不超过 5 MB。", "JPEG, PNG or WebP, at most 5 MB."),
    "m.hazard.submit": ("上报", "Send report"),
    "m.hazard.sending": ("正在上传…", "Uploading…"),
    "m.hazard.no_sites": ("您名下没有文物点，无法上报隐患。", "You have no site to report a hazard at."),
    "m.hazard.db_down": ("数据库暂时无法访问，隐患上报现在无法保存；紧急情况请直接致电监控中心。",
                         "The database cannot be reached, so a report cannot be saved now; "
                         "for anything urgent, call the monitoring center."),
    "m.hazard.recent": ("我最近的上报", "My recent reports"),
    "m.hazard.recent_none": ("您还没有上报过隐患。", "You have not reported any hazard yet."),
    "m.hazard.photo_alt": ("隐患照片", "Hazard photo"),
    "m.hazard.no_photo": ("无照片", "no photo"),
    "m.err.site": ("请选择您负责的文物点。", "Choose one of your sites."),
    "m.err.description": ("请填写隐患描述。", "Describe the hazard."),
    "m.err.description_long": ("隐患描述不能超过 {n} 字。", "The description may have at most {n} characters."),
    "m.err.photo_too_large": ("照片太大：不能超过 5 MB。请降低相机分辨率或换一张照片后重试。",
                              "The photo is too large: at most 5 MB. Lower the camera resolution or "
                              "choose another photo."),
    "m.err.photo_not_image": ("所选文件不是 JPEG、PNG 或 WebP 图片，请拍照或选择照片。",
                              "The file is not a JPEG, PNG or WebP image; take or choose a photo."),
    "m.err.photo_empty": ("照片文件是空的，请重新拍照。", "The photo file is empty; take the photo again."),
    "m.err.bad_upload": ("上传内容无法读取，请重试。", "The upload could not be read; try again."),
    "m.err.db_down": ("数据库暂时无法访问，隐患上报现在无法保存，请稍后重试；紧急情况请直接致电监控中心。",
                      "The database cannot be reached, so the report cannot be saved now; try again later, "
                      "and call the monitoring center for anything urgent."),
    "m.push": ("手机提醒", "Phone alerts"),
    "m.push.subscribe": ("开启手机提醒", "Turn on phone alerts"),
    "m.push.hint": ("开启后，告警会直接推送到这部手机，即使没有打开本页面。",
                    "Alerts then reach this phone even when this page is not open."),
    "m.push.none": ("路由配置中没有为您设置手机提醒通道，请联系管理员添加。",
                    "The routing configuration has no phone channel for you; ask the administrator to add one."),
    "m.push.not_listed": ("您未被登记为所负责文物点的保护员（sites.csv），无法开启手机提醒，请联系管理员。",
                          "You are not listed as a custodian of your sites (sites.csv), so phone alerts cannot "
                          "be turned on; ask the administrator."),
    "m.push.working": ("正在开启…", "Turning on…"),
    "m.push.ok": ("已开启：告警将推送到这部手机。", "On: alerts will be pushed to this phone."),
    "m.push.denied": ("浏览器拒绝了通知权限。请在浏览器设置中允许本网站发送通知后重试。",
                      "The browser refused notifications; allow them for this site in its settings and try again."),
    "m.push.unsupported": ("此浏览器不支持手机提醒（iPhone 需先将本页“添加到主屏幕”）。",
                           "This browser cannot receive push alerts (on an iPhone, add this page to the home "
                           "screen first)."),
    "m.push.failed": ("开启失败：", "Could not turn on: "),
})


class DatabaseDown(Exception):  # noqa: N818 (reads as the condition it reports)
    """The database could not be read or written; `reason` is one line for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UploadTooLarge(Exception):  # noqa: N818
    """The request body is longer than any acceptable hazard report."""


# What the page shows -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteRow:
    id: str
    name: str
    district: str
    open_alerts: int
    offline: int

    @property
    def state(self) -> str:
        return "alarm" if self.open_alerts else "offline" if self.offline else "ok"


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: str
    title: str
    site_name: str
    severity: str
    status: str
    opened_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    can_ack: bool


@dataclass(frozen=True, slots=True)
class ReportRow:
    id: int
    site_name: str
    description: str
    photo_sha256: str | None
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class PatrolRow:
    id: str
    window: str  # "08:30–10:30", local time
    route_name: str
    site_name: str
    # upcoming | pending | complete | late | partial | missed | withdrawn
    status: str
    # Names of the checkpoints not yet visited, shown once the round has begun to go wrong or
    # is under way (an untouched round that is still open lists nothing: that is every checkpoint).
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PushInfo:
    ids: tuple[str, ...]
    # i18n key of the sentence shown instead of the button (when `ids` is empty)
    missing: str | None


@dataclass(frozen=True, slots=True)
class Flash:
    kind: str  # ok | error
    key: str
    args: Mapping[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class HazardForm:
    site: str = ""
    description: str = ""
    error: str | None = None  # i18n key
    error_args: dict[str, object] = field(default_factory=dict)


def site_rows(user: WebUser, sites: Mapping[str, Site], open_alerts: list[Alert],
              offline: Mapping[str, Any]) -> list[SiteRow]:
    counts: dict[str, int] = {}
    for alert in open_alerts:
        counts[alert.site] = counts.get(alert.site, 0) + 1
    rows = [
        SiteRow(id=site_id, name=site.name, district=site.district, open_alerts=counts.get(site_id, 0),
                offline=len(offline.get(site_id, ())))
        for site_id, site in sites.items() if user.can_see(site_id)
    ]
    rows.sort(key=lambda row: (-row.open_alerts, -row.offline, row.name, row.id))
    return rows


def patrol_rows(rounds: list[patrol_store.StoredRound], now: datetime, sites: Mapping[str, Site]) -> list[PatrolRow]:
    rows = []
    for item in rounds:
        status = item.status.value
        if status == "pending" and now < item.window_start:
            status = "upcoming"
        show_missing = status in ("partial", "missed") or (status == "pending" and bool(item.done))
        start, end = item.window_start.astimezone(SHANGHAI), item.window_end.astimezone(SHANGHAI)
        site = sites.get(item.site_id)
        rows.append(PatrolRow(
            id=item.id, window=f"{start:%H:%M}–{end:%H:%M}", route_name=item.route_name or item.route_id,
            site_name=site.name if site is not None else item.site_id, status=status,
            missing=tuple(item.checkpoint_names.get(c, c) for c in item.missing) if show_missing else (),
        ))
    return rows


def push_info(user: WebUser, routing: RoutingConfig | None, sites: Mapping[str, Site]) -> PushInfo:
    """The webpush ids this custodian's phone may register (see the module docstring)."""
    recipient = routing.directory.custodians_by_name.get(user.name) if routing is not None else None
    if routing is None or recipient is None:
        return PushInfo((), "m.push.none")
    targets = list(dict.fromkeys(
        channel.target for channel in (*recipient.channels, *recipient.fallback) if channel.kind == "webpush"
    ))
    if not targets:
        return PushInfo((), "m.push.none")
    names = {name for site_id, site in sites.items() if user.can_see(site_id) for name in site.custodians}
    allowed = tuple(
        target for target in targets
        if all(r.audience is Audience.CUSTODIANS and r.name in names for r in webpush_recipients(routing, target))
    )
    return PushInfo(allowed, None if allowed else "m.push.not_listed")


# The router ----------------------------------------------------------------------------------


def mobile_pages(deps: DashboardDeps, templates: Templates) -> APIRouter:
    router = APIRouter()
    service = deps.service
    current_user = make_current_user(deps.sessions)
    worker_script = SW_FILE.read_bytes()

    async def db(work: Callable[[Conn], T]) -> T:
        """`work` on a fresh connection in a worker thread, so a slow database never holds up the
        event loop that evaluates fire alarms. The URL is read per call (the deps may change it)."""
        url = deps.database_url

        def run() -> T:
            with psycopg.connect(url, connect_timeout=DB_CONNECT_TIMEOUT_S, autocommit=True) as conn:
                return work(conn)

        try:
            return await asyncio.wait_for(asyncio.to_thread(run), DB_TIMEOUT_S)
        except TimeoutError:
            raise DatabaseDown(f"no answer within {DB_TIMEOUT_S:g} s") from None
        except psycopg.Error as exc:
            text = str(exc).strip()
            raise DatabaseDown(text.splitlines()[0] if text else type(exc).__name__) from None

    async def render(request: Request, user: WebUser, *, status_code: int = 200, flash: Flash | None = None,
                     form: HazardForm | None = None) -> HTMLResponse:
        routing = service.routing
        open_alerts = [alert for alert in service.open_alerts() if user.can_see(alert.site)]
        open_alerts.sort(key=lambda alert: (alert.opened_at, alert.id), reverse=True)
        sites = site_rows(user, service.sites, open_alerts, service.engine.devices.offline)
        may_ack = user.principal.can_act("acknowledge")
        alerts = [
            AlertRow(
                id=alert.id, title=alert.title,
                site_name=service.sites[alert.site].name if alert.site in service.sites else alert.site,
                severity=alert.severity.value, status=alert.status.value, opened_at=alert.opened_at,
                acknowledged_by=actor_text(alert.acknowledged_by, user.lang, routing=routing,
                                           names=deps.sessions.names) or None,
                acknowledged_at=alert.acknowledged_at,
                can_ack=may_ack and alert.status is AlertStatus.OPEN,
            )
            for alert in open_alerts[:MAX_ALERTS]
        ]
        reports: list[ReportRow] = []
        reports_down = False
        try:
            found = await db(lambda conn: hazards.recent_reports(
                conn, reported_by=user.principal.actor, sites=user.sites, limit=RECENT_REPORTS))
            reports = [
                ReportRow(id=r.id, site_name=service.sites[r.site_id].name if r.site_id in service.sites else r.site_id,
                          description=r.description, photo_sha256=r.photo_sha256, reported_at=r.reported_at)
                for r in found
            ]
        except DatabaseDown as exc:
            log.warning("hazard reports cannot be read: %s", exc.reason)
            reports_down = True
        report_sites = sorted(sites, key=lambda row: (row.name, row.id))
        patrols: list[PatrolRow] = []
        patrols_down = False
        now = service.clock()
        day_start = datetime.combine(now.astimezone(SHANGHAI).date(), time(0), tzinfo=SHANGHAI)
        site_ids = [row.id for row in sites]
        try:
            if reports_down:
                # Known down a moment ago: a second wait for the connect timeout would only slow the page.
                raise DatabaseDown("hazard reports could not be read either")
            stored = await db(lambda conn: patrol_store.rounds_for(conn, site_ids, day_start,
                                                                   day_start + timedelta(days=1)))
            patrols = patrol_rows(stored, now, service.sites)
        except DatabaseDown as exc:
            log.warning("patrol rounds cannot be read: %s", exc.reason)
            patrols_down = True
        return templates.render(
            request, "mobile.html", status_code=status_code,
            sites=sites[:MAX_SITES], sites_more=max(0, len(sites) - MAX_SITES),
            alerts=alerts, alerts_more=max(0, len(open_alerts) - MAX_ALERTS),
            reports=reports, reports_down=reports_down, report_sites=report_sites,
            patrols=patrols[:MAX_ROUNDS], patrols_more=max(0, len(patrols) - MAX_ROUNDS), patrols_down=patrols_down,
            form=form or HazardForm(site=report_sites[0].id if len(report_sites) == 1 else ""),
            push=push_info(user, routing, service.sites) if user.role is Role.CUSTODIAN else None,
            flash=flash, max_description=hazards.MAX_DESCRIPTION_CHARS,
        )

    def flash_for(user: WebUser, acked: str | None, reported: str | None) -> Flash | None:
        if reported is not None and reported.isdigit():
            return Flash("ok", "m.flash.reported", {"id": int(reported)})
        if acked is None:
            return None
        alert = service.get(acked)
        if alert is None or not user.can_see(alert.site) or alert.status is not AlertStatus.ACKNOWLEDGED:
            return None
        if alert.acknowledged_by == user.principal.actor:
            return Flash("ok", "m.flash.acked", {"title": alert.title})
        return Flash("ok", "m.flash.acked_other",
                     {"title": alert.title, "who": actor_text(alert.acknowledged_by, user.lang, routing=service.routing,
                                                            names=deps.sessions.names)})

    @router.get("/m", response_class=HTMLResponse)
    async def mobile_page(request: Request, acked: str | None = None, reported: str | None = None) -> HTMLResponse:
        user = await current_user(request)
        return await render(request, user, flash=flash_for(user, acked, reported))

    @router.post("/m/alerts/{alert_id}/ack")
    async def acknowledge(request: Request, alert_id: str, csrf: str = Form("")) -> Response:
        user = await current_user(request)
        check_csrf(request, csrf)
        alert = service.get(alert_id)
        if alert is None or not user.can_see(alert.site):
            return await render(request, user, status_code=404, flash=Flash("error", "m.flash.ack_gone"))
        if not user.principal.can_act("acknowledge"):
            return await render(request, user, status_code=403, flash=Flash("error", "m.flash.ack_forbidden"))
        back = RedirectResponse(f"/m?acked={quote(alert_id, safe='')}#alert-{quote(alert_id, safe='')}",
                                status_code=303)
        if alert.status is AlertStatus.ACKNOWLEDGED:
            return back  # a second tap, or a colleague was quicker: the page says who
        try:
            service.acknowledge(alert_id, user.principal.actor)
        except UnknownAlertError:
            return await render(request, user, status_code=404, flash=Flash("error", "m.flash.ack_gone"))
        except IllegalTransition:
            current = service.get(alert_id)
            if current is None:
                return await render(request, user, status_code=404, flash=Flash("error", "m.flash.ack_gone"))
            return back
        log.info("alert %s acknowledged by %s on the mobile page", alert_id, user.principal.actor)
        return back

    @router.post("/m/hazards")
    async def report_hazard(request: Request) -> Response:
        user = await current_user(request)
        header_token = request.headers.get("x-csrf-token")
        if header_token is not None:
            check_csrf(request, header_token)
        try:
            form = await bounded_form(request, MAX_UPLOAD_BYTES)
        except UploadTooLarge:
            return await render(request, user, status_code=413,
                                form=HazardForm(error="m.err.photo_too_large"))
        except HTTPException:
            return await render(request, user, status_code=400, form=HazardForm(error="m.err.bad_upload"))
        try:
            if header_token is None:
                token = form.get("csrf")
                check_csrf(request, token if isinstance(token, str) else None)
            return await save_report(request, user, form)
        finally:
            await form.close()

    async def save_report(request: Request, user: WebUser, form: FormData) -> Response:
        site_id = _text(form.get("site"))
        description = _text(form.get("description")).strip()
        entered = HazardForm(site=site_id, description=description)

        def refused(status_code: int, key: str, **args: object) -> Awaitable[HTMLResponse]:
            entered.error, entered.error_args = key, dict(args)
            return render(request, user, status_code=status_code, form=entered)

        if site_id not in service.sites or not user.can_see(site_id):
            return await refused(422, "m.err.site")
        if not description:
            return await refused(422, "m.err.description")
        if len(description) > hazards.MAX_DESCRIPTION_CHARS:
            return await refused(422, "m.err.description_long", n=hazards.MAX_DESCRIPTION_CHARS)
        photo: hazards.Photo | None = None
        upload = form.get("photo")
        if isinstance(upload, UploadFile) and (upload.filename or (upload.size or 0) > 0):
            data = await upload.read(hazards.MAX_PHOTO_BYTES + 1)
            try:
                photo = hazards.photo_of(data)
            except hazards.PhotoRejected as exc:
                status_code = {"too_large": 413, "not_image": 415}.get(exc.reason, 422)
                return await refused(status_code, f"m.err.photo_{exc.reason}")
        at = service.clock()
        actor = user.principal.actor
        try:
            report = await db(lambda conn: hazards.add_report(
                conn, site_id=site_id, reported_by=actor, description=description, photo=photo, at=at))
        except DatabaseDown as exc:
            log.warning("a hazard report by %s at %s could not be saved: %s", actor, site_id, exc.reason)
            return await refused(503, "m.err.db_down")
        service.journal.put(AuditEntry(
            at=at, actor=actor, kind="hazard.reported", subject=site_id,
            detail={"report": report.id, "description": description,
                    "photo_sha256": photo.sha256 if photo is not None else None,
                    "photo_bytes": len(photo.data) if photo is not None else 0},
        ))
        log.info("hazard report %d at %s by %s", report.id, site_id, actor)
        return RedirectResponse(f"/m?reported={report.id}#hazards", status_code=303)

    # The pages these POSTs answer with link back to their own path (the language switch does):
    # a GET there leads to the page rather than to "405 Method Not Allowed".
    @router.get("/m/hazards", include_in_schema=False)
    async def hazards_get() -> Response:
        return RedirectResponse("/m#hazards", status_code=303)

    @router.get("/m/alerts/{alert_id}/ack", include_in_schema=False)
    async def ack_get(alert_id: str) -> Response:
        return RedirectResponse(f"/m#alert-{quote(alert_id, safe='')}", status_code=303)

    @router.get("/m/photos/{sha256}")
    async def photo(request: Request, sha256: str) -> Response:
        user = await current_user(request)
        not_found = PlainTextResponse(i18n.t("error.not_found", i18n.DEFAULT_LANG), status_code=404,
                                      headers={"Cache-Control": "no-store"})
        if not PHOTO_PATTERN.fullmatch(sha256):
            return not_found
        try:
            found = await db(lambda conn: hazards.photo_for(conn, sha256, user.sites))
        except DatabaseDown as exc:
            log.warning("a hazard photo cannot be read: %s", exc.reason)
            return PlainTextResponse(i18n.t("m.hazard.db_down", i18n.DEFAULT_LANG), status_code=503,
                                     headers={"Cache-Control": "no-store", "Retry-After": "30"})
        if found is None:
            return not_found
        name = f"hazard-{sha256[:12]}.{_EXTENSIONS.get(found.content_type, 'bin')}"
        return Response(found.data, media_type=found.content_type,
                        headers={**PHOTO_HEADERS, "Content-Disposition": f'inline; filename="{name}"'})

    @router.get("/sw.js", include_in_schema=False)
    async def service_worker() -> Response:
        return Response(worker_script, media_type="application/javascript", headers=SW_HEADERS)

    return router


# Helpers --------------------------------------------------------------------------------------

async def bounded_form(request: Request, limit: int, max_fields: int = 8) -> FormData:
    """The multipart form, read only while the body stays within `limit` bytes (a declared
    Content-Length over it is refused before reading anything). Starlette spools file parts to
    disk without a bound of its own; this keeps a huge upload from filling it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge()
    received = 0
    upstream = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise UploadTooLarge()
        return message

    return await Request(request.scope, receive).form(max_files=1, max_fields=max_fields)


def _text(value: str | UploadFile | None) -> str:
    return value if isinstance(value, str) else ""
