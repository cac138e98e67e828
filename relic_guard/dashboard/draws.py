"""The 双随机 draws page: every stored draw, its publication and the fire inspections it made.

    GET /draws?year=     the draws of periods in that year (default: all), latest period first

A row shows what makes the draw checkable — period, seed, the input's fingerprint (short; the
whole one on hover and in the publication) — how many targets were drawn, who drew it and when,
links to the publication (`/api/draws/{id}.html`, `.csv`, and the input as a pool file `.toml`,
which the API serves to the same session) and one link per fire inspection the draw made
(`/inspections/<id>`, with its status). Draws are public (一公开): every signed-in user sees every
draw, whatever sites they cover. Draws live in the database only: while it cannot be read the page
says so (503) instead of showing an empty list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from relic_guard.alerting.api import History, HistoryUnavailable
from relic_guard.dashboard import i18n
from relic_guard.dashboard.app import DashboardDeps, Templates, lang_of, make_current_user
from relic_guard.store import draw_store
from relic_guard.store.draw_store import StoredDraw

FINGERPRINT_SHOWN: Final = 12

i18n.register({
    "draws.title": ("双随机抽查", "Random inspection draws"),
    "draws.intro": ("随机抽取检查对象、随机选派检查人员，结果公开。每次抽取由公开的随机种子和输入数据决定，"
                    "任何人都可以用公开的输入文件重新计算核验。",
                    "Random targets, random inspectors, results public. Each draw follows from its published "
                    "seed and inputs alone: anyone can re-run it from the published input file."),
    "draws.year": ("年份", "Year"),
    "draws.show": ("显示", "Show"),
    "draws.all_years": ("全部年份", "All years"),
    "draws.none": ("尚无抽取记录。", "No draws yet."),
    "draws.none_year": ("{year} 年没有抽取记录。", "No draws in {year}."),
    "draws.db_down": ("数据库暂时无法访问，暂不能显示抽取记录（{reason}）。",
                      "The database cannot be read, so the draws are not shown ({reason})."),
    "draws.col.id": ("编号", "No."),
    "draws.col.period": ("抽查期间", "Period"),
    "draws.col.seed": ("随机种子", "Seed"),
    "draws.col.fingerprint": ("输入指纹", "Input fingerprint"),
    "draws.col.drawn": ("抽取", "Drawn"),
    "draws.col.when": ("抽取时间（北京时间）", "Drawn at (Beijing time)"),
    "draws.col.by": ("抽取人", "Drawn by"),
    "draws.col.publication": ("公开", "Publication"),
    "draws.col.inspections": ("消防检查", "Fire inspections"),
    "draws.drawn": ("{n} / {count} 家，每家 {per} 人", "{n} of {count}, {per} inspectors each"),
    "draws.page": ("公示页", "Page"),
    "draws.csv": ("CSV", "CSV"),
    "draws.pool": ("输入数据", "Input"),
    "draws.mandatory": ("必查", "mandatory"),
    "draws.no_inspection": ("未建检查", "no inspection"),
    **{f"draws.status.{status}": words for status, words in {
        "planned": ("待安排", "planned"),
        "assigned": ("已指派", "assigned"),
        "done": ("已完成", "done"),
        "cancelled": ("已取消", "cancelled"),
    }.items()},
})


@dataclass(frozen=True, slots=True)
class DrawnTarget:
    name: str
    target_id: str
    mandatory: bool
    # The fire inspection the draw made of this target, if it is there: (link, status).
    inspection: tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class DrawRow:
    draw: StoredDraw
    fingerprint_short: str
    targets: tuple[DrawnTarget, ...]


def inspection_link(inspection_id: str) -> str:
    return f"/inspections/{quote(inspection_id, safe='/')}"


def draw_row(stored: StoredDraw, inspections: Mapping[str, tuple[str, str]]) -> DrawRow:
    targets = []
    for assignment in stored.assignments:
        target_id = str(assignment.get("target"))
        made = inspections.get(target_id)
        targets.append(DrawnTarget(
            name=str(assignment.get("target_name", target_id)), target_id=target_id,
            mandatory=bool(assignment.get("mandatory")),
            inspection=None if made is None else (inspection_link(made[0]), made[1]),
        ))
    return DrawRow(stored, stored.fingerprint[:FINGERPRINT_SHOWN], tuple(targets))


def parse_year(text: str) -> int | None:
    text = text.strip()
    if len(text) == 4 and text.isascii() and text.isdigit() and 2000 <= int(text) <= 2200:
        return int(text)
    return None


def draws_pages(deps: DashboardDeps, templates: Templates) -> APIRouter:
    router = APIRouter()
    current_user = make_current_user(deps.sessions)

    @router.get("/draws", response_class=HTMLResponse)
    async def draw_list(request: Request, year: str = "") -> HTMLResponse:
        await current_user(request)
        lang = lang_of(request)
        chosen = parse_year(year)

        def read(conn: draw_store.Conn) -> tuple[list[StoredDraw], dict[int, dict[str, tuple[str, str]]]]:
            found = draw_store.list_draws(conn, chosen)
            return found, draw_store.inspections_of(conn, [d.id for d in found])

        try:
            # The URL is read per call, as the other pages read it: the deps may change it.
            found, inspections = await History(deps.database_url).read(read)
        except HistoryUnavailable as exc:
            return templates.render(request, "draws.html", status_code=503, rows=[], year=chosen,
                                    error=i18n.t("draws.db_down", lang).format(reason=exc.reason))
        rows = [draw_row(stored, inspections.get(stored.id, {})) for stored in found]
        return templates.render(request, "draws.html", rows=rows, year=chosen, error=None)

    return router
