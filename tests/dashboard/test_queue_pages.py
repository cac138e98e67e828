"""The alert queue and the alert page: order, the critical banner, scope, the actions as plain
forms, history from the database (and without it), words in both languages, no inline script."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from html.parser import HTMLParser

import httpx
from fastapi import FastAPI

from alerts.model import Alert
from relic_guard.alerting.records import DeliveryRecord
from relic_guard.alerting.tokens import TokenStore
from relic_guard.dashboard.pages import dashboard_deps
from relic_guard.dashboard.queue import age_text
from relic_guard.web import ReadinessProbe, create_app
from sensors.model import Source
from tests.alerting_api.conftest import DOWN_URL, OTHER, World, make_world
from tests.alerts.support import event
from tests.dashboard.conftest import Dashboard, csrf_of, log_in

ROW = re.compile(r'<tr data-id="([^"]+)" data-severity="([^"]+)" data-status="([^"]+)" data-opened="(\d+)"\s+class="([^"]*)"')


class ScriptFinder(HTMLParser):
    """What the Content-Security-Policy would refuse: script elements without a src (or with a
    body) and event-handler attributes, as a browser parses them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name: value for name, value in attrs}
        self.problems += [f"<{tag} {name}=…>" for name in names if name.startswith("on")]
        if tag == "script":
            self.scripts += 1
            self._in_script = True
            src = names.get("src") or ""
            if not src.startswith("/static/"):
                self.problems.append(f"<script> without a src of this server: {attrs}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"an inline script: {data[:80]!r}")


def assert_no_inline_script(html: str) -> None:
    finder = ScriptFinder()
    finder.feed(html)
    finder.close()
    assert finder.problems == []
    assert finder.scripts >= 1  # every page has its scripts: the check looked at something


async def page(client: httpx.AsyncClient, url: str, status: int = 200) -> str:
    answer = await client.get(url)
    assert answer.status_code == status, f"{url}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert_no_inline_script(answer.text)
    return answer.text


async def post_form(client: httpx.AsyncClient, url: str, data: dict[str, str]) -> httpx.Response:
    answer = await client.post(url, data=data)
    if answer.headers.get("content-type", "").startswith("text/html"):
        assert_no_inline_script(answer.text)
    return answer


def rows(html: str) -> list[tuple[str, str, str, int, str]]:
    return [(i, sev, status, int(opened), cls) for i, sev, status, opened, cls in ROW.findall(html)]


def visible(html: str, element_id: str) -> bool:
    """Whether the element is on the page and not `hidden`."""
    found = re.search(rf'<[a-z]+ id="{element_id}"[^>]*>', html)
    return found is not None and " hidden" not in found.group(0)


def tamper(world: World) -> Alert:
    """A camera's tamper alarm: a major alert."""
    world.service.on_record(event("tamper", "cam1", Source.VIDEO, at=world.clock()))
    return next(a for a in world.service.open_alerts() if a.device == "cam1")


async def csrf_for(client: httpx.AsyncClient, alert_id: str) -> str:
    return csrf_of(await page(client, f"/alerts/{alert_id}"))


def client(app: FastAPI) -> httpx.AsyncClient:
    """Another browser (its own cookies) on the same app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://guard.test",
                             headers={"accept": "text/html"})


# The queue --------------------------------------------------------------------------------------


async def test_the_queue_lists_what_the_user_sees_most_urgent_then_oldest_first(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    world = dashboard.world
    major = tamper(world)
    world.later(30)
    other_fire = world.fire(site_id=OTHER, device="f1")
    world.later(30)
    fire = world.fire()
    world.later(600)

    await log_in(browser, "ops")
    html = await page(browser, "/queue")
    listed = rows(html)
    assert [r[0] for r in listed] == [other_fire.id, fire.id, major.id]
    assert [r[1] for r in listed] == ["critical", "critical", "major"]
    assert listed[0][3] == int(other_fire.opened_at.timestamp() * 1000)
    assert all("critical-new" in r[4] for r in listed[:2]) and "critical-new" not in listed[2][4]
    assert '<table id="alert-queue" class="responsive"' in html
    assert visible(html, "critical-banner") and "有 2 条紧急告警尚未响应" in html
    assert re.search(r'data-severity="critical" class=""><span class="sev sev-critical">紧急</span><span class="n">2</span>', html)
    assert re.search(r'data-severity="major" class=""><span class="sev sev-major">严重</span><span class="n">1</span>', html)
    assert '<span class="n" id="total-count">3</span>' in html
    assert "灵岩寺<span class=\"sub\">长清区</span>" in html and "城子崖遗址<span class=\"sub\">章丘区</span>" in html
    assert f'href="/alerts/{fire.id}"' in html and "待响应" in html
    assert "10分钟前" in html  # the fire opened 600 s ago on the service's clock
    assert 'id="live-status"' in html and 'id="sound-toggle"' in html and 'data-can-ack="1"' in html
    assert html.index('src="/static/queue.js"') < html.index('src="/static/live.js"')
    assert not visible(html, "queue-empty")

    # The police liaison of one site sees only that site's alerts.
    async with client(dashboard.app) as police:
        await log_in(police, "police")
        theirs = await page(police, "/queue")
        assert [r[0] for r in rows(theirs)] == [fire.id, major.id]
        assert "灵岩寺" not in theirs and "有 1 条紧急告警尚未响应" in theirs


async def test_acknowledging_ends_the_banner_and_the_flashing(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    fire = dashboard.world.fire()
    await log_in(browser, "ops")
    csrf = await csrf_for(browser, fire.id)
    answer = await post_form(browser, f"/alerts/{fire.id}/ack", {"csrf": csrf})
    assert answer.status_code == 303
    html = await page(browser, "/queue")
    [(_, _, status, _, cls)] = rows(html)
    assert status == "acknowledged" and "critical-new" not in cls and "已响应" in html
    assert not visible(html, "critical-banner")


async def test_an_empty_queue_says_so(browser: httpx.AsyncClient) -> None:
    await log_in(browser, "sup")
    html = await page(browser, "/queue")
    assert rows(html) == [] and visible(html, "queue-empty") and "当前没有待处理的告警" in html
    assert not visible(html, "critical-banner")
    assert 'data-can-ack="0"' in html  # a supervisor reads, never handles


async def test_custodians_are_sent_to_their_mobile_page(browser: httpx.AsyncClient) -> None:
    await log_in(browser, "wang")
    answer = await browser.get("/queue")
    assert answer.status_code == 303 and answer.headers["location"] == "/m"


async def test_pages_need_a_login(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    fire = dashboard.world.fire()
    for url in ("/queue", f"/alerts/{fire.id}"):
        answer = await browser.get(url)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert (await browser.post(f"/alerts/{fire.id}/ack", data={"csrf": "x"})).status_code == 401
    assert dashboard.world.service.get(fire.id).status.value == "open"  # type: ignore[union-attr]


# The alert page and its forms --------------------------------------------------------------------


async def test_ack_assign_note_resolve_through_the_forms_land_on_the_timeline(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    world = dashboard.world
    fire = world.fire()
    await log_in(browser, "ops")
    html = await page(browser, f"/alerts/{fire.id}")
    for element in ('id="alert-status"', 'id="ack"', 'id="assign-to"', 'id="assign"', 'id="note"', 'id="add-note"',
                    'id="classification"', 'id="resolve-note"', 'id="resolve"', 'id="false-alarm"'):
        assert element in html, element
    assert f'action="/alerts/{fire.id}/ack"' in html and 'method="post"' in html
    for value, word in (("looting", "盗掘"), ("theft", "盗窃/抢劫"), ("damage", "损毁"), ("fire", "火灾"),
                        ("other_accident", "其他安全事故"), ("device_fault", "设备故障")):
        assert f'<option value="{value}">{word}</option>' in html
    csrf = csrf_of(html)

    refused = await post_form(browser, f"/alerts/{fire.id}/ack", {})
    assert refused.status_code == 403
    refused = await post_form(browser, f"/alerts/{fire.id}/ack", {"csrf": "not-the-token"})
    assert refused.status_code == 403
    assert world.service.get(fire.id).status.value == "open"  # type: ignore[union-attr]

    answer = await post_form(browser, f"/alerts/{fire.id}/ack", {"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == f"/alerts/{fire.id}?done=ack"
    html = await page(browser, answer.headers["location"])
    assert re.search(r'id="alert-status" class="status-acknowledged" data-status="acknowledged">已响应<', html)
    assert visible(html, "action-done") and "已确认响应" in html
    assert 'id="ack"' not in html  # acknowledged: no second button

    again = await post_form(browser, f"/alerts/{fire.id}/ack", {"csrf": csrf})
    assert again.status_code == 409 and "此告警已由 值班员张伟 于 2026-11-27 10:00:00 确认响应" in again.text

    world.later(60)
    answer = await post_form(browser, f"/alerts/{fire.id}/assign", {"csrf": csrf, "to": "王建国"})
    assert answer.status_code == 303, answer.text
    answer = await post_form(browser, f"/alerts/{fire.id}/note", {"csrf": csrf, "note": "已电话联系王建国，正在赶往现场"})
    assert answer.status_code == 303, answer.text
    world.later(600)
    answer = await post_form(browser, f"/alerts/{fire.id}/resolve",
                             {"csrf": csrf, "classification": "fire", "note": "配电箱起火，已扑灭", "outcome": "resolved"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=resolve")
    assert world.service.get(fire.id) is None

    # Moments after the close the journal has not written it: the page still shows the closed alert.
    html = await page(browser, f"/alerts/{fire.id}?done=resolve")
    assert "已解除" in html and "告警已解除。" in html and 'id="resolve"' not in html
    assert 'id="classification-shown">火灾<' in html

    world.write_journal(dashboard.database_url)
    html = await page(browser, f"/alerts/{fire.id}")
    kinds = re.findall(r'<li data-kind="([a-z_]+)"><time>[^<]*</time><span class="kind">([^<]+)</span>', html)
    assert kinds == [("opened", "告警产生"), ("acknowledged", "已响应"), ("assigned", "已指派"), ("note", "备注"),
                     ("resolved", "已解除")]
    assert "给 王建国" in html and "已电话联系王建国，正在赶往现场" in html and "火灾 · 配电箱起火，已扑灭" in html
    assert '<span class="actor">值班员张伟</span>' in html and '<span class="actor">系统</span>' in html
    assert "操作未完成" in html  # the words scripts show for a refused action, carried by the page
    answer = await post_form(browser, f"/alerts/{fire.id}/note", {"csrf": csrf, "note": "补充"})
    assert answer.status_code == 409 and "此告警已关闭" in answer.text


async def test_form_mistakes_are_shown_on_the_page(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    world = dashboard.world
    fire = world.fire()
    await log_in(browser, "ops")
    csrf = await csrf_for(browser, fire.id)

    answer = await post_form(browser, f"/alerts/{fire.id}/resolve", {"csrf": csrf, "note": "现场已查看"})
    assert answer.status_code == 422 and "请选择定性" in answer.text
    assert ">现场已查看</textarea>" in answer.text  # what was typed is kept
    answer = await post_form(browser, f"/alerts/{fire.id}/note", {"csrf": csrf, "note": "   "})
    assert answer.status_code == 422 and "请填写备注内容" in answer.text
    answer = await post_form(browser, f"/alerts/{fire.id}/assign", {"csrf": csrf, "to": "x" * 129})
    assert answer.status_code == 422 and "最多 128 个字" in answer.text
    assert world.service.get(fire.id).status.value == "open"  # type: ignore[union-attr]

    answer = await post_form(browser, f"/alerts/{fire.id}/resolve",
                             {"csrf": csrf, "classification": "", "note": "烟感误报，现场无烟", "outcome": "false_alarm"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=false_alarm")
    html = await page(browser, answer.headers["location"])
    assert re.search(r'id="alert-status" class="status-false_alarm" data-status="false_alarm">误报<', html)
    assert "已标记为误报" in html


async def test_who_may_act_is_the_apis_rule(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    fire = dashboard.world.fire()
    await log_in(browser, "police")  # an agency: acknowledge only
    html = await page(browser, f"/alerts/{fire.id}")
    assert 'id="ack"' in html and 'id="assign"' not in html and 'id="resolve"' not in html
    csrf = csrf_of(html)
    answer = await post_form(browser, f"/alerts/{fire.id}/resolve", {"csrf": csrf, "classification": "fire"})
    assert answer.status_code == 403 and "您的角色不能执行此操作" in answer.text
    answer = await post_form(browser, f"/alerts/{fire.id}/note", {"csrf": csrf, "note": "已派警"})
    assert answer.status_code == 403
    answer = await post_form(browser, f"/alerts/{fire.id}/ack", {"csrf": csrf})
    assert answer.status_code == 303
    assert dashboard.world.service.get(fire.id).acknowledged_by == "user:police"  # type: ignore[union-attr]

    async with client(dashboard.app) as sup:
        await log_in(sup, "sup")
        html = await page(sup, f"/alerts/{fire.id}")
        assert 'id="alert-status"' in html and "<form method=\"post\" action=\"/alerts/" not in html


async def test_a_custodian_opens_their_sites_alerts_and_nothing_else(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    ours = dashboard.world.fire()
    theirs = dashboard.world.fire(site_id=OTHER, device="f1")
    await log_in(browser, "wang")
    html = await page(browser, f"/alerts/{ours.id}")
    assert ours.title in html and 'href="/m"' in html and 'id="ack"' in html

    unknown = await page(browser, "/alerts/00000000-0000-0000-0000-000000000000", status=404)
    other = await page(browser, f"/alerts/{theirs.id}", status=404)
    # The same page, but for the address the language link returns to: nothing says the id exists.
    assert other.replace(theirs.id, "?") == unknown.replace("00000000-0000-0000-0000-000000000000", "?")
    assert "未找到" in other and "灵岩寺" not in other
    answer = await post_form(browser, f"/alerts/{theirs.id}/ack", {"csrf": csrf_of(html)})
    assert answer.status_code == 404
    assert dashboard.world.service.get(theirs.id).status.value == "open"  # type: ignore[union-attr]


async def test_a_closed_alert_is_read_from_the_database(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    # Closed in another daemon's life: this service never saw it, only the database has it.
    earlier = make_world()
    gone = earlier.fire()
    earlier.later(120)
    earlier.service.acknowledge(gone.id, "user:ops")
    earlier.later(300)
    earlier.service.resolve(gone.id, "user:ops", classification=None, note="测试按钮误触")
    earlier.write_journal(dashboard.database_url)
    assert dashboard.world.service.get(gone.id) is None

    await log_in(browser, "ops")
    html = await page(browser, f"/alerts/{gone.id}")
    assert gone.title in html and 'data-status="false_alarm">误报<' in html
    assert "测试按钮误触" in html and 'id="ack"' not in html and 'id="actions-title"' not in html
    assert [k for k in re.findall(r'<li data-kind="([a-z_]+)">', html)] == ["opened", "acknowledged", "false_alarm"]
    assert "已由" not in html and "值班员张伟，2026-11-27 10:02:00" in html


async def test_with_the_database_down_the_open_alert_shows_with_a_note(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    world = dashboard.world
    fire = world.fire()
    # Sessions read the real database (logging in needs it); the alert pages read an unreachable one.
    deps = dataclasses.replace(dashboard_deps(world.service, world.registry, dashboard.database_url, "http://guard.test"),
                               database_url=DOWN_URL)
    app = create_app(ReadinessProbe(database_url=DOWN_URL, broker_connected=lambda: True), service=world.service,
                     tokens=TokenStore(()), database_url=DOWN_URL, registry=world.registry, dashboard=deps)
    async with client(app) as down:
        await log_in(down, "ops")
        html = await page(down, f"/alerts/{fire.id}")
        assert fire.title in html and 'data-status="open">待响应<' in html
        assert visible(html, "history-note") and "数据库暂时无法读取" in html
        assert 'id="ack"' in html
        answer = await post_form(down, f"/alerts/{fire.id}/ack", {"csrf": csrf_of(html)})
        assert answer.status_code == 303  # acting needs only the service
        html = await page(down, answer.headers["location"])
        assert 'data-status="acknowledged">已响应<' in html and visible(html, "history-note")
        missing = await page(down, "/alerts/00000000-0000-0000-0000-000000000000", status=503)
        assert "无法显示已关闭的告警" in missing
        queue = await page(down, "/queue")
        assert [r[0] for r in rows(queue)] == [fire.id]


# Words, escaping, evidence --------------------------------------------------------------------------


async def test_english_pages(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    fire = dashboard.world.fire()
    await log_in(browser, "ops")
    await browser.get("/lang/en?next=/queue")
    html = await page(browser, "/queue")
    assert 'lang="en"' in html and "Open alerts" in html and "Critical" in html and "1 critical alert(s)" in html
    assert "Fire</td>" in html and ">Open</td>" in html and "just now" in html
    html = await page(browser, f"/alerts/{fire.id}")
    assert ">Acknowledge</button>" in html and ">False alarm</button>" in html and "Timeline" in html
    assert fire.title in html  # titles are written once, in Chinese


async def test_chinese_and_markup_round_trip_escaped(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    world = dashboard.world
    fire = world.fire()
    await log_in(browser, "ops")
    csrf = await csrf_for(browser, fire.id)
    note = "东配殿<script>alert('x')</script>烟雾 & “疑似”起火"
    assert (await post_form(browser, f"/alerts/{fire.id}/note", {"csrf": csrf, "note": note})).status_code == 303
    who = '<img src=x onerror="alert(1)">李四'
    assert (await post_form(browser, f"/alerts/{fire.id}/assign", {"csrf": csrf, "to": who})).status_code == 303
    world.write_journal(dashboard.database_url)
    html = await page(browser, f"/alerts/{fire.id}")
    assert "东配殿&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;烟雾 &amp; “疑似”起火" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;李四" in html
    queue = await page(browser, "/queue")
    assert "&lt;img src=x onerror=" in queue


async def test_evidence_images_are_lazy_and_only_for_web_urls(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    world = dashboard.world
    snapshot = "https://nvr.example/snap/1.jpg?cam=1&t=2"
    world.service.on_record(event("object_removed", "cam1", Source.VIDEO, at=world.clock(), snapshot=snapshot,
                                  photo="javascript:alert(1)"))
    alert = next(a for a in world.service.open_alerts() if a.device == "cam1")
    await log_in(browser, "ops")
    html = await page(browser, f"/alerts/{alert.id}")
    assert '<img src="https://nvr.example/snap/1.jpg?cam=1&amp;t=2" alt="snapshot" loading="lazy"' in html
    assert "photo：javascript:alert(1)" in html  # shown as text, never a link or an image
    assert 'href="javascript:' not in html and 'src="javascript:' not in html


async def test_deliveries_show_who_was_reached_and_who_was_not(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    world = dashboard.world
    fire = world.fire()
    at = world.clock()
    for channel, delivered, status in (("sms", False, "gateway timeout"), ("webhook", True, "200")):
        world.journal.put(DeliveryRecord(
            delivery_id=f"dl-{channel}", alert_id=fire.id, event="alert.opened", recipient="wang-jianguo",
            channel=channel, target="+8613800000000" if channel == "sms" else "https://im.example/hook",
            fallback=False, delivered=delivered, attempts=3 if not delivered else 1, status=status,
            gave_up=None if delivered else "attempts", started_at=at, finished_at=at + timedelta(seconds=9),
        ))
    world.write_journal(dashboard.database_url)
    await log_in(browser, "wang")  # a custodian of the site
    html = await page(browser, f"/alerts/{fire.id}")
    table = html[html.index('id="delivery-table"'):]
    undelivered = re.search(r'<tr class="undelivered">(.*?)</tr>', table, re.S)
    delivered = re.search(r'<tr class="delivered">(.*?)</tr>', table, re.S)
    assert undelivered and delivered
    assert "sms" in undelivered.group(1) and "未送达" in undelivered.group(1) and "gateway timeout" in undelivered.group(1)
    assert ">3<" in undelivered.group(1) and "wang-jianguo" in undelivered.group(1) and "新告警" in undelivered.group(1)
    assert "webhook" in delivered.group(1) and "已送达" in delivered.group(1)
    assert "+8613800000000" not in html  # addresses stay in the API, not on every viewer's screen


def test_ages_read_at_a_glance() -> None:
    assert age_text(2, "zh-CN") == "刚刚"
    assert age_text(45, "zh-CN") == "45秒前"
    assert age_text(600, "zh-CN") == "10分钟前"
    assert age_text(3 * 3600 + 5 * 60, "zh-CN") == "3小时5分钟前"
    assert age_text(2 * 86400 + 3 * 3600, "en") == "2 d 3 h ago"


def test_the_inline_script_check_finds_what_the_policy_refuses() -> None:
    for bad in ('<script>alert(1)</script>', '<script src="/static/a.js">x()</script>',
                '<script src="https://cdn.example/a.js"></script>', '<script src="/static/a.js"></script><b onclick="x()">'):
        finder = ScriptFinder()
        finder.feed(bad)
        assert finder.problems, bad
    assert_no_inline_script('<script src="/static/a.js" defer></script><input value="&lt;b onclick=x&gt;">')
