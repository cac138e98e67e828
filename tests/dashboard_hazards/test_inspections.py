"""The inspection pages: the year's plan by district (supervisions, site evaluations, 双随机 fire
inspections), scope as the API has it, one inspection with its record, assigning and completing
with findings that become hazards, and a photo."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from relic_guard.audit import AuditEntry
from relic_guard.hazards.model import HazardSource, Severity
from relic_guard.inspections.annual import DEFAULT_POLICY
from relic_guard.inspections.draw import Inspector, Period, Target, draw
from relic_guard.store import hazard_store, inspection_store
from tests.alerting_api.conftest import DOWN_URL, OTHER
from tests.alerts.support import SITE
from tests.dashboard_hazards.conftest import Center, csrf, logged_in
from tests.hazards_api.conftest import png

EVALUATION = f"2026/site_evaluation/{SITE}"
OTHER_EVALUATION = f"2026/site_evaluation/{OTHER}"
SUPERVISION = "2026/district_supervision/章丘区"
PHOTO = png(rgb=(255, 149, 0))


def plan(center: Center) -> str:
    """The 2026 plan of the two registry sites, and one 双随机 fire inspection at 城子崖遗址; the
    fire inspection's id."""
    now = center.world.clock()
    result = draw(inspectors=[Inspector(id="JN-XF-0107", name="张建华", unit="济南市消防救援支队"),
                              Inspector(id="JN-ZF-0310", name="陈立新", unit="济南市文化市场综合执法支队")],
                  targets=[Target(id=SITE, name="城子崖遗址", district="章丘区", unit="城子崖遗址博物馆")],
                  history=[], period=Period.parse("2026-Q4"), count=1, seed="2026年10月8日 公证抽签", per_target=2)
    with psycopg.connect(center.database_url, autocommit=True) as conn:
        inspection_store.ensure_year_plan(conn, 2026, center.world.registry.sites.values(), DEFAULT_POLICY, now=now,
                                          by="relic-guard", audit_key=None)
        row = conn.execute(
            "INSERT INTO draws (period, period_start, period_end, seed, count, per_target, algorithm, fingerprint, "
            "input, result, drawn_at, drawn_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (result.period.label, result.period.start, result.period.end, result.seed, result.count, result.per_target,
             "relic-guard draw v1", result.fingerprint, Jsonb({}), Jsonb({}), now, "user:sup")).fetchone()
        assert row is not None
        [fire] = inspection_store.create_from_draw(conn, draw_id=int(row[0]), result=result, now=now, by="user:sup",
                                                   audit_key=None)
    return fire


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="insp-row[^"]*" data-id="([^"]+)"', html)


def completion(token: str, **fields: str) -> dict[str, str]:
    return {"csrf": token, "rating": "fair", "summary": "消防设施基本完好，东侧配电箱线路老化", **fields}


async def test_the_years_plan_by_district_with_overdue_in_red_and_scope(center: Center) -> None:
    fire = plan(center)
    async with logged_in(center.app, "sup") as sup:
        html = (await sup.get("/inspections", params={"year": "2026"})).text
        assert row_ids(html) == ["2026/district_supervision/章丘区", "2026/district_supervision/长清区",
                                 EVALUATION, OTHER_EVALUATION, fire]
        # Evaluations were due 2026-09-30; on 2026-11-27 they are overdue. Supervisions are due 11-30.
        assert re.search(rf'<tr class="insp-row overdue" data-id="{EVALUATION}"', html)
        assert re.search(r'<tr class="insp-row" data-id="2026/district_supervision/章丘区"', html)
        assert "2026-09-30 · 已逾期" in html and "共 5 项：已完成 0 项，逾期未完成 2 项" in html
        for words in ("区县年度督察", "文物点年度检查评估", "双随机消防检查", "城子崖遗址", "灵岩寺",
                      '<h3 data-district="长清区">', "JN-XF-0107、JN-ZF-0310", "已安排", "待安排"):
            assert words in html, words
        assert row_ids((await sup.get("/inspections", params={"year": "2026", "district": "长清区"})).text) == [
            "2026/district_supervision/长清区", OTHER_EVALUATION]
        assert "本年度没有您可查看的检查。" in (await sup.get("/inspections", params={"year": "2025"})).text
        assert '<a href="/inspections" aria-current="page">检查督察</a>' in html
    async with logged_in(center.app, "ops") as ops:
        # The monitoring center sees the sites' inspections, not the city's supervision of districts.
        assert row_ids((await ops.get("/inspections?year=2026")).text) == [EVALUATION, OTHER_EVALUATION, fire]
    async with logged_in(center.app, "wang") as wang:
        html = (await wang.get("/inspections?year=2026")).text
        # (章丘区 has no other registered site, so wang's scope holds the whole district: whether that
        # shows him its supervision is the API's rule, relic_guard.inspections.api.can_see_district.)
        assert [i for i in row_ids(html) if "district_supervision" not in i] == [EVALUATION, fire]
        assert "灵岩寺" not in html and "长清区" not in html
        hidden = await wang.get(f"/inspections/{OTHER_EVALUATION}")
        unknown = await wang.get("/inspections/2026/site_evaluation/nowhere")
        assert hidden.status_code == unknown.status_code == 404 and "灵岩寺" not in hidden.text


async def test_assign_then_complete_with_findings_and_a_photo(center: Center) -> None:
    plan(center)
    path = f"/inspections/{EVALUATION}"
    async with logged_in(center.app, "wang") as wang:
        page = (await wang.get(path)).text
        assert "此检查尚未安排检查人员" in page and 'id="complete-form"' not in page
        assert "列入年度计划" in page  # the record, in words
    async with logged_in(center.app, "sup") as sup:
        token = await csrf(sup, path)
        assigned = await sup.post(f"{path}/assign", data={"csrf": token, "to": "wang，zhang.wei"})
        assert assigned.status_code == 303 and assigned.headers["location"] == f"{path}?done=assign"
        page = (await sup.get(assigned.headers["location"])).text
        assert "检查人员已安排。" in page and "wang、zhang.wei" in page and "安排检查人员" in page
    async with logged_in(center.app, "police") as police:
        assert "您的角色只能查看此检查。" in (await police.get(path)).text
        token = await csrf(police, path)
        refused = await police.post(f"{path}/complete", data=completion(token))
        assert refused.status_code == 403 and "您的角色不能执行此操作。" in refused.text
    async with logged_in(center.app, "wang") as wang:
        token = await csrf(wang, path)
        assert 'id="complete-form"' in (await wang.get(path)).text
        no_summary = await wang.post(f"{path}/complete", data=completion(token, summary=" "))
        assert no_summary.status_code == 422 and "请填写检查结论。" in no_summary.text
        no_note = await wang.post(f"{path}/complete", data=completion(token, finding_title_1="配电箱线路老化"),
                                  files={"photo": ("box.png", PHOTO, "image/png")})
        assert no_note.status_code == 422 and "请写明照片显示的内容。" in no_note.text
        assert 'value="配电箱线路老化"' in no_note.text  # what was typed is kept
        done = await wang.post(f"{path}/complete", data=completion(
            token, finding_title_1="配电箱线路老化", finding_severity_1="major", finding_description_1="东侧配电箱",
            finding_title_3="灭火器过期", photo_note="东侧配电箱"), files={"photo": ("box.png", PHOTO, "image/png")})
        assert done.status_code == 303, done.text
        page = (await wang.get(done.headers["location"])).text
        assert "检查结果已记录" in page and "已完成" in page and 'id="rating" class="insp-rating-fair">中' in page
        with psycopg.connect(center.database_url, autocommit=True) as conn:
            hazards = hazard_store.by_source(conn, HazardSource.INSPECTION, EVALUATION)
        assert [(h.title, h.severity, h.site_id) for h in hazards] == [
            ("配电箱线路老化", Severity.MAJOR, SITE), ("灭火器过期", Severity.GENERAL, SITE)]
        for hazard in hazards:
            assert f'<a href="/hazards/{hazard.id}">隐患 #{hazard.id}</a> · 待整改' in page
        photo = re.search(r'<img src="(/inspections/[^"]+/photos/[0-9a-f]{64})"', page)
        assert photo, page
        answer = await wang.get(photo.group(1))
        assert answer.status_code == 200 and answer.content == PHOTO
        hazard_page = (await wang.get(f"/hazards/{hazards[0].id}")).text
        assert f'<a href="/inspections/{EVALUATION}">{EVALUATION}</a>' in hazard_page  # and back
        assert "完成检查" in page and 'id="complete-form"' not in page
    async with logged_in(center.app, "li") as li:
        assert (await li.get(photo.group(1))).status_code == 404
    audit = [(item.kind, item.actor) for item in center.world.journal.items if isinstance(item, AuditEntry)]
    assert audit == [("inspection.assigned", "user:sup"), ("hazard.created", "user:wang"),
                     ("hazard.created", "user:wang"), ("inspection.completed", "user:wang")]


async def test_a_supervision_finding_names_its_site_in_the_district(center: Center) -> None:
    plan(center)
    path = f"/inspections/{SUPERVISION}"
    async with logged_in(center.app, "sup") as sup:
        token = await csrf(sup, path)
        assert (await sup.post(f"{path}/assign", data={"csrf": token, "to": "sup"})).status_code == 303
        page = (await sup.get(path)).text
        assert 'name="finding_site_1"' in page and ">城子崖遗址</option>" in page and ">灵岩寺</option>" not in page
        fields: dict[str, Any] = completion(token, rating="poor", summary="区级年度检查未覆盖全部文物点",
                                            finding_title_1="未建立安全档案")
        nowhere = await sup.post(f"{path}/complete", data=fields)
        assert nowhere.status_code == 422 and "第 1 项隐患请选择所在文物点。" in nowhere.text
        done = await sup.post(f"{path}/complete", data={**fields, "finding_site_1": SITE})
        assert done.status_code == 303, done.text
        again = await sup.post(f"{path}/complete", data={**fields, "finding_site_1": SITE})
        assert again.status_code == 409 and "此检查当前为“已完成”，不能这样处理。" in again.text


async def test_the_plan_page_says_when_the_database_is_away(center: Center) -> None:
    async with logged_in(center.app, "sup") as sup:
        center.deps.database_url = DOWN_URL
        answer = await sup.get("/inspections")
        assert answer.status_code == 503 and "数据库暂时无法访问，检查计划暂不能显示" in answer.text
        assert (await sup.get(f"/inspections/{EVALUATION}")).status_code == 503
