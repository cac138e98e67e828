"""The annual supervision reports page: the reports made, their files, and a form to make one now.

    GET  /reports                            the reports made and asked for, newest year first, with
                                             download links; the form (year, district)
    POST /reports                            csrf, year, district ('' for every district and the
                                             city summary): asks for the report, then back to the list
    GET  /reports/{id}/files/{name}          one file of a report (PDF and HTML shown, the rest
                                             downloaded)

For supervisors and administrators only (everyone else: 403), and within their scope, as the
inspection pages decide it (`inspections.api.can_see_district`): a district's files to whoever may
see the whole district, the city summary and the all-district request to those who see every site.
A report is not made in the web process: the form records a request, which the report job on the
schedule leader makes within `[reports] job_interval_s` (`relic_guard/report/job.py`); the page
refreshes itself (a meta refresh, no script) while a request it shows is waiting. The files are
served from the database copy, so any daemon serves them, whichever one made them. A request is an
entry in the audit trail (through the alert journal, as the inspection pages' changes are).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from relic_guard.alerting.api import History, HistoryUnavailable
from relic_guard.alerting.tokens import Principal
from relic_guard.audit import AuditEntry
from relic_guard.dashboard import i18n
from relic_guard.dashboard.app import DashboardDeps, Templates, check_csrf, lang_of, make_current_user
from relic_guard.dashboard.users import WebUser
from relic_guard.hazards.workdays import local_day
from relic_guard.inspections.api import OVERSEERS, can_see_district
from relic_guard.report import records
from relic_guard.report.model import CITY
from relic_guard.report.records import ReportFileInfo, ReportRecord

# How often the list reloads itself while a report it shows is being made.
REFRESH_S: Final = 15
SHOWN: Final = 50
FILE_HEADERS: Final = {
    # A report's page is shown as it is: its own styles, its charts as data: images, nothing else.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}

i18n.register({
    "reports.title": ("年度督察报告", "Annual supervision reports"),
    "reports.intro": ("每年一月自动生成上一年度各区县的督察报告和全市汇总；也可以在此随时生成。报告含 PDF（供签字）、"
                      "网页、Excel 工作簿和各表的 CSV 文件。",
                      "Each January the past year's report of every district and the city summary are made by "
                      "themselves; you may make one here at any time. Each comes as a PDF (to sign), a web page, "
                      "an Excel workbook and one CSV file per table."),
    "reports.generate": ("立即生成", "Generate now"),
    "reports.year": ("年度", "Year"),
    "reports.district": ("区县", "District"),
    "reports.all": ("全部区县及全市汇总", "Every district and the city summary"),
    "reports.none": ("尚未生成任何报告。", "No reports yet."),
    "reports.col.year": ("年度", "Year"),
    "reports.col.scope": ("范围", "Scope"),
    "reports.col.status": ("状态", "Status"),
    "reports.col.by": ("申请人", "Asked by"),
    "reports.col.when": ("完成时间（北京时间）", "Made at (Beijing time)"),
    "reports.col.files": ("文件", "Files"),
    "reports.status.requested": ("等待生成", "Waiting"),
    "reports.status.done": ("已生成", "Made"),
    "reports.status.failed": ("生成失败", "Failed"),
    "reports.scheduled": ("（年度自动生成）", "(yearly, by the schedule)"),
    "reports.waiting": ("报告正在排队生成，通常一分钟内完成；本页会自动刷新。",
                        "The report is queued and usually made within a minute; this page reloads itself."),
    "reports.requested": ("已提交生成申请。", "Asked for: the report is being made."),
    "reports.csv": ("CSV 表格", "CSV tables"),
    "reports.city": ("全市汇总", "City summary"),
    "reports.error.role": ("只有督察人员和管理员可以查看和生成年度督察报告。",
                           "Only supervisors and administrators see and make the annual reports."),
    "reports.error.year": ("请填写已经开始的年度（2000 年以后）。", "Give a year that has begun (2000 or later)."),
    "reports.error.district": ("您不能生成该范围的报告。", "You may not make a report of that scope."),
    "reports.error.db_down": ("数据库暂时无法访问，暂不能显示或生成报告（{reason}）。",
                              "The database cannot be reached, so reports cannot be shown or made ({reason})."),
})


@dataclass(frozen=True, slots=True)
class FileLink:
    label: str
    href: str
    size_kb: int


@dataclass(frozen=True, slots=True)
class DistrictFiles:
    district: str
    main: tuple[FileLink, ...]  # PDF, HTML, XLSX
    tables: tuple[FileLink, ...]  # the CSV files


@dataclass(frozen=True, slots=True)
class ReportRow:
    record: ReportRecord
    scope: str
    groups: tuple[DistrictFiles, ...]


_MAIN_ORDER: Final = {"pdf": 0, "html": 1, "xlsx": 2}


def _ext(item: ReportFileInfo) -> str:
    return item.name.rsplit(".", 1)[-1]


def _kb(item: ReportFileInfo) -> int:
    return -(-item.size // 1024)  # rounded up: a small CSV is "1 KB", not "0 KB"


def file_href(report_id: int, name: str) -> str:
    return f"/reports/{report_id}/files/{quote(name, safe='/')}"


def may_see(who: Principal, district: str | None, sites: Mapping[str, Any]) -> bool:
    """A district's report to whoever may see the whole district; the city (None or CITY) to those
    who see every site."""
    if who.role not in OVERSEERS:
        return False
    if district is None or district == CITY:
        return who.sites is None
    return can_see_district(who, district, sites)


def report_row(record: ReportRecord, who: Principal, sites: Mapping[str, Any], lang: str) -> ReportRow:
    by_district: dict[str, list[ReportFileInfo]] = {}
    for item in record.files:
        if may_see(who, item.district, sites):
            by_district.setdefault(item.district, []).append(item)
    groups = []
    # The districts first in name order, the city summary last (as the files were made).
    for district in sorted(by_district, key=lambda d: (d == CITY, d)):
        items = by_district[district]
        whole = sorted((i for i in items if not i.name.endswith(".csv")), key=lambda i: _MAIN_ORDER.get(_ext(i), 9))
        main = [FileLink(_ext(item).upper(), file_href(record.id, item.name), _kb(item)) for item in whole]
        tables = [FileLink(item.name.rsplit("/", 1)[-1], file_href(record.id, item.name), _kb(item))
                  for item in items if item.name.endswith(".csv")]
        label = i18n.t("reports.city", lang) if district == CITY else district
        groups.append(DistrictFiles(label, tuple(main), tuple(tables)))
    scope = record.district or i18n.t("reports.all", lang)
    return ReportRow(record=record, scope=scope, groups=tuple(groups))


def parse_year(text: str, current: int) -> int | None:
    text = text.strip()
    if text.isascii() and text.isdigit() and 2000 <= int(text) <= current:
        return int(text)
    return None


def reports_pages(deps: DashboardDeps, templates: Templates) -> APIRouter:
    router = APIRouter()
    service = deps.service
    current_user = make_current_user(deps.sessions)

    def history() -> History:
        # The URL is read per call, as the other pages read it: the deps may change it.
        return History(deps.database_url)

    def districts_of(user: WebUser) -> list[str]:
        names = sorted({site.district for site in service.sites.values() if site.district})
        return [name for name in names if may_see(user.principal, name, service.sites)]

    async def page(request: Request, user: WebUser, *, status_code: int = 200, error: str | None = None,
                   notice: str | None = None, form_year: str = "", form_district: str = "") -> HTMLResponse:
        lang = lang_of(request)
        this_year = local_day(service.clock()).year
        common: dict[str, Any] = {
            "districts": districts_of(user), "all_districts": user.sites is None, "this_year": this_year,
            "form_year": form_year or str(this_year - 1), "form_district": form_district, "notice": notice,
        }
        if user.role not in OVERSEERS:
            return templates.render(request, "reports.html", status_code=403, rows=[], waiting=False,
                                    error=i18n.t("reports.error.role", lang), allowed=False, **common)
        try:
            found = await history().read(lambda conn: records.recent(conn, limit=SHOWN))
        except HistoryUnavailable as exc:
            return templates.render(request, "reports.html", status_code=503, rows=[], waiting=False,
                                    error=i18n.t("reports.error.db_down", lang).format(reason=exc.reason),
                                    allowed=True, **common)
        principal = user.principal
        rows = [report_row(record, principal, service.sites, lang) for record in found
                if may_see(principal, record.district, service.sites)
                or any(may_see(principal, item.district, service.sites) for item in record.files)]
        waiting = any(row.record.status == "requested" for row in rows)
        return templates.render(request, "reports.html", status_code=status_code, rows=rows, waiting=waiting,
                                refresh_s=REFRESH_S, error=error, allowed=True, **common)

    @router.get("/reports", response_class=HTMLResponse)
    async def report_list(request: Request, requested: str = "") -> HTMLResponse:
        user = await current_user(request)
        notice = i18n.t("reports.requested", lang_of(request)) if requested.isdigit() else None
        return await page(request, user, notice=notice)

    @router.post("/reports", response_class=HTMLResponse)
    async def report_request(request: Request, csrf: str = Form(""), year: str = Form(""),
                             district: str = Form("")) -> Response:
        user = await current_user(request)
        check_csrf(request, csrf)
        lang = lang_of(request)

        async def again(status_code: int, message: str) -> HTMLResponse:
            return await page(request, user, status_code=status_code, error=message, form_year=year,
                              form_district=district)

        if user.role not in OVERSEERS:
            return await again(403, i18n.t("reports.error.role", lang))
        now = service.clock()
        chosen_year = parse_year(year, local_day(now).year)
        if chosen_year is None:
            return await again(422, i18n.t("reports.error.year", lang))
        chosen = district.strip() or None
        if not may_see(user.principal, chosen, service.sites) or (
                chosen is not None and chosen not in districts_of(user)):
            return await again(403, i18n.t("reports.error.district", lang))
        actor = user.principal.actor
        try:
            made = await history().read(lambda conn: records.request(conn, year=chosen_year, district=chosen,
                                                                     by=actor, now=now))
        except HistoryUnavailable as exc:
            return await again(503, i18n.t("reports.error.db_down", lang).format(reason=exc.reason))
        service.journal.put(AuditEntry(at=now, actor=actor, kind="report.requested", subject=f"report/{made.id}",
                                       detail={"year": chosen_year, "district": chosen}))
        return RedirectResponse(f"/reports?{urlencode({'requested': made.id})}", status_code=303)

    @router.get("/reports/{report_id}/files/{name:path}")
    async def report_file(request: Request, report_id: int, name: str) -> Response:
        user = await current_user(request)
        lang = lang_of(request)
        missing = Response(i18n.t("error.not_found", lang), status_code=404, media_type="text/plain; charset=utf-8",
                           headers={"Cache-Control": "no-store"})
        if user.role not in OVERSEERS:
            return missing
        try:
            found = await history().read(lambda conn: records.file_of(conn, report_id, name))
        except HistoryUnavailable:
            return Response(status_code=503, headers={"Retry-After": "30", "Cache-Control": "no-store"})
        if found is None or not may_see(user.principal, found[0].district, service.sites):
            return missing
        info, data = found
        shown = info.name.endswith((".pdf", ".html"))
        filename = info.name.rsplit("/", 1)[-1]
        disposition = f"{'inline' if shown else 'attachment'}; filename*=UTF-8''{quote(filename)}"
        return Response(data, media_type=info.content_type,
                        headers={**FILE_HEADERS, "Content-Disposition": disposition})

    return router
