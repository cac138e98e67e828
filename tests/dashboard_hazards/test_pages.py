"""The hazard pages: the list (open first, overdue in red, filters, Chinese names, scope), one
hazard (timeline in words, photos), and the actions as plain forms with CSRF, without script."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from alerts.model import AlertStatus
from relic_guard.alerting.records import AlertSnapshot
from relic_guard.hazards.alerting import raise_hazard_notice
from relic_guard.hazards.deadlines import Audience
from relic_guard.hazards.job import HazardNotice, NoticeKind
from relic_guard.hazards.model import Severity
from tests.alerting_api.conftest import DOWN_URL, OTHER
from tests.alerts.support import SITE
from tests.dashboard_hazards.conftest import Center, csrf, logged_in
from tests.hazards_api.conftest import add_hazard, png

PHOTO = png(rgb=(78, 161, 255))
FORTY_DAYS = timedelta(days=40)


def rows(html: str) -> list[str]:
    """The hazard ids of the list, in order."""
    return re.findall(r'<tr class="hazard-row[^"]*" data-id="(\d+)"', html)


async def test_list_puts_open_first_marks_overdue_in_working_days_and_filters(center: Center) -> None:
    world = center.world
    late = add_hazard(center.database_url, world, site=SITE, found_at=world.clock() - FORTY_DAYS)
    fresh = add_hazard(center.database_url, world, site=OTHER, title="千佛殿屋面瓦件松动", severity=Severity.MAJOR)
    async with logged_in(center.app, "ops") as ops:
        page = await ops.get("/hazards")
        assert page.status_code == 200
        html = page.text
        assert rows(html) == [str(late.id), str(fresh.id)]
        overdue_row = re.search(rf'<tr class="hazard-row overdue" data-id="{late.id}"[^>]*data-overdue="10"', html)
        assert overdue_row, html
        assert "逾期 10 个工作日" in html and "剩 10 个工作日" in html
        assert "城子崖遗址" in html and "灵岩寺" in html and "千佛殿屋面瓦件松动" in html
        assert "未销号 2 项，其中逾期 1 项" in html
        assert '<a href="/hazards" aria-current="page">隐患整改</a>' in html
        assert rows((await ops.get("/hazards", params={"site": OTHER})).text) == [str(fresh.id)]
        assert rows((await ops.get("/hazards", params={"overdue": "1"})).text) == [str(late.id)]
        assert rows((await ops.get("/hazards", params={"severity": "major"})).text) == [str(fresh.id)]
        closed_only = (await ops.get("/hazards", params={"status": "closed"})).text
        assert rows(closed_only) == [] and "没有符合条件的隐患。" in closed_only
        await ops.get("/lang/en")
        english = (await ops.get("/hazards")).text
        assert "10 working day(s) overdue" in english and "Hazards" in english
    async with logged_in(center.app, "wang") as wang:
        html = (await wang.get("/hazards")).text
        assert rows(html) == [str(late.id)]
        assert "灵岩寺" not in html and "千佛殿" not in html
        # A site outside the scope in the filter is ignored, not shown.
        assert rows((await wang.get("/hazards", params={"site": OTHER})).text) == [str(late.id)]


async def test_custodian_plans_then_closes_with_a_photo_and_the_deadline_alert_is_resolved(center: Center) -> None:
    world = center.world
    hazard = add_hazard(center.database_url, world, site=SITE, found_at=world.clock() - FORTY_DAYS)
    notice = HazardNotice(hazard.id, SITE, hazard.title, hazard.deadline, NoticeKind.OVERDUE, 1, 10,
                          (Audience.OWNER, Audience.DISTRICT_BUREAU))
    alert_id = raise_hazard_notice(world.service, notice).id
    path = f"/hazards/{hazard.id}"
    async with logged_in(center.app, "wang") as wang:
        page = (await wang.get(path)).text
        assert 'id="plan-form"' in page and 'id="close-form"' in page and 'enctype="multipart/form-data"' in page
        assert 'id="cancel-form"' not in page and 'id="reopen-form"' not in page  # the center decides those
        assert "登记隐患" in page and "巡查发现" in page and 'class="overdue"' in page
        token = await csrf(wang, path)

        forged = await wang.post(f"{path}/plan", data={"csrf": "forged", "plan": "明日清运"})
        assert forged.status_code == 403
        empty = await wang.post(f"{path}/plan", data={"csrf": token, "plan": "  "})
        assert empty.status_code == 422 and "请填写整改方案。" in empty.text
        planned = await wang.post(f"{path}/plan", data={"csrf": token, "plan": "周六前清运木料，疏通消防通道"})
        assert planned.status_code == 303 and planned.headers["location"] == f"{path}?done=plan"
        page = (await wang.get(planned.headers["location"])).text
        assert "整改方案已提交。" in page and "周六前清运木料" in page and "整改中" in page
        assert "制定整改方案" in page  # the timeline, in words

        nothing = await wang.post(f"{path}/close", data={"csrf": token, "note": "通道已清空"})
        assert nothing.status_code == 422 and "销号必须附证据" in nothing.text
        assert ">通道已清空</textarea>" in nothing.text  # what was typed is kept
        not_a_photo = await wang.post(f"{path}/close", data={"csrf": token, "note": "通道已清空"},
                                      files={"photo": ("x.png", b"<svg onload=alert(1)>", "image/png")})
        assert not_a_photo.status_code == 415
        no_token = await wang.post(f"{path}/close", data={"note": "通道已清空"},
                                   files={"photo": ("after.png", PHOTO, "image/png")})
        assert no_token.status_code == 403
        assert world.service.get(alert_id) is not None  # nothing was closed by the refusals

        closed = await wang.post(f"{path}/close", data={"csrf": token, "note": "木料已清运，通道畅通"},
                                 files={"photo": ("after.png", PHOTO, "image/png")})
        assert closed.status_code == 303, closed.text
        assert closed.headers["location"] == f"{path}?done=close%2Calert"
        page = (await wang.get(closed.headers["location"])).text
        assert "隐患已销号。" in page and "相关的整改期限告警已解除。" in page and "已整改销号" in page
        photo_url = re.search(r'<img src="(/api/hazards/\d+/photos/[0-9a-f]{64})"', page)
        assert photo_url, page
        picture = await wang.get(photo_url.group(1))
        assert picture.status_code == 200 and picture.content == PHOTO
        assert "整改完成，销号" in page and "此隐患已整改销号。" in page
    assert world.service.get(alert_id) is None
    last = [i.alert for i in world.journal.items if isinstance(i, AlertSnapshot) and i.alert.id == alert_id][-1]
    assert last.status is AlertStatus.RESOLVED and last.resolved_by == "user:wang"
    async with logged_in(center.app, "li") as li:
        assert (await li.get(photo_url.group(1))).status_code == 404


async def test_scope_roles_and_the_center_cancels_and_reopens(center: Center) -> None:
    world = center.world
    mine = add_hazard(center.database_url, world, site=SITE)
    other = add_hazard(center.database_url, world, site=SITE, title="碑廊照明线路裸露")
    async with logged_in(center.app, "li") as li:
        hidden = await li.get(f"/hazards/{mine.id}")
        unknown = await li.get("/hazards/424242")
        assert hidden.status_code == unknown.status_code == 404
        assert "未找到（或不在您负责的文物点）。" in hidden.text and "消防通道" not in hidden.text
        token = await csrf(li, "/hazards")
        refused = await li.post(f"/hazards/{mine.id}/plan", data={"csrf": token, "plan": "x"})
        assert refused.status_code == 404 and "消防通道" not in refused.text
    async with logged_in(center.app, "police") as police:
        page = (await police.get(f"/hazards/{mine.id}")).text
        assert "您的角色只能查看此隐患。" in page and "<form method=\"post\" action=\"/hazards" not in page
        token = await csrf(police, f"/hazards/{mine.id}")
        refused = await police.post(f"/hazards/{mine.id}/plan", data={"csrf": token, "plan": "x"})
        assert refused.status_code == 403 and "您的角色不能执行此操作。" in refused.text
    async with logged_in(center.app, "ops") as ops:
        path = f"/hazards/{other.id}"
        token = await csrf(ops, path)
        cancelled = await ops.post(f"{path}/cancel", data={"csrf": token, "reason": "与 #1 重复登记"})
        assert cancelled.status_code == 303 and cancelled.headers["location"] == f"{path}?done=cancel"
        page = (await ops.get(path)).text
        assert "已撤销" in page and "与 #1 重复登记" in page and "此隐患已撤销，不能再处理。" in page
        again = await ops.post(f"{path}/cancel", data={"csrf": token, "reason": "再次撤销"})
        assert again.status_code == 409 and "此隐患当前为“已撤销”，不能这样处理。" in again.text

        path = f"/hazards/{mine.id}"
        closed = await ops.post(f"{path}/close", data={"csrf": token, "note": "验收单",
                                                       "url": "https://oa.example/验收单.pdf"})
        assert closed.status_code == 303, closed.text
        page = (await ops.get(path)).text
        assert 'id="reopen-form"' in page and "https://oa.example/验收单.pdf" in page
        bad_url = await ops.post(f"{path}/reopen", data={"csrf": token, "reason": " "})
        assert bad_url.status_code == 422 and "请填写理由。" in bad_url.text
        reopened = await ops.post(f"{path}/reopen", data={"csrf": token, "reason": "复查发现通道再次堆放杂物"})
        assert reopened.status_code == 303
        page = (await ops.get(path)).text
        assert "待整改" in page and "重新打开" in page and "复查发现通道再次堆放杂物" in page
        assert (await ops.get(f"{path}/plan")).headers["location"] == path


async def test_pages_say_when_the_database_is_away(center: Center) -> None:
    hazard = add_hazard(center.database_url, center.world, site=SITE)
    async with logged_in(center.app, "ops") as ops:
        token = await csrf(ops, f"/hazards/{hazard.id}")
        center.deps.database_url = DOWN_URL  # the session stays cached; the hazards cannot be read
        listing = await ops.get("/hazards")
        assert listing.status_code == 503 and "数据库暂时无法访问，隐患清单暂不能显示" in listing.text
        one = await ops.get(f"/hazards/{hazard.id}")
        assert one.status_code == 503 and "此隐患暂不能显示" in one.text
        plan = await ops.post(f"/hazards/{hazard.id}/plan", data={"csrf": token, "plan": "明日处理"})
        assert plan.status_code == 503


async def test_the_api_accepts_the_session_with_its_csrf_header(center: Center) -> None:
    hazard = add_hazard(center.database_url, center.world, site=SITE)
    async with logged_in(center.app, "wang") as wang:
        token = await csrf(wang, "/hazards")
        without = await wang.post(f"/api/hazards/{hazard.id}/plan", json={"plan": "明日清运"})
        assert without.status_code == 403
        answer = await wang.post(f"/api/hazards/{hazard.id}/plan", json={"plan": "明日清运"},
                                 headers={"x-csrf-token": token})
        assert answer.status_code == 200 and answer.json()["status"] == "rectifying"
        anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=center.app), base_url="http://guard.test",
                                      headers={"accept": "text/html"})
        async with anonymous:
            assert (await anonymous.get("/hazards")).headers["location"] == "/login?next=/hazards"
