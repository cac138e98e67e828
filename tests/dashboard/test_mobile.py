"""The phone page: scope, acknowledging, hazard reports with photos, the push worker and button."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from alerts.model import AlertStatus
from relic_guard.alerting.records import TimelineEntry
from relic_guard.alerting.tokens import Role, TokenStore
from relic_guard.audit import AuditEntry
from relic_guard.dashboard.app import DashboardDeps
from relic_guard.dashboard.mobile import PushInfo, push_info
from relic_guard.dashboard.pages import dashboard_deps
from relic_guard.dashboard.users import WebUser
from relic_guard.routing_load import RoutingConfig, load_routing
from relic_guard.store import hazards
from relic_guard.web import ReadinessProbe, create_app
from tests.alerting_api.conftest import DOWN_URL, OTHER, World, make_world
from tests.alerts.support import SITE, SITE_NAME
from tests.dashboard.conftest import Dashboard, csrf_of, log_in

# Helpers ---------------------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append(Element(tag, {name: value or "" for name, value in attrs}))


def elements(html: str) -> list[Element]:
    parser = _Collect()
    parser.feed(html)
    return parser.found


def with_class(html: str, name: str) -> list[Element]:
    return [e for e in elements(html) if name in e.attrs.get("class", "").split()]


def by_id(html: str, ident: str) -> Element | None:
    return next((e for e in elements(html) if e.attrs.get("id") == ident), None)


def png_1x1() -> bytes:
    """A real 1×1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = png_1x1()


@asynccontextmanager
async def logged_in(app: FastAPI, login: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://guard.test",
                                 headers={"accept": "text/html"}) as client:
        answer = await log_in(client, login)
        assert answer.status_code == 303, answer.text
        yield client


async def report(client: httpx.AsyncClient, csrf: str, *, site: str = SITE, description: str = "东配殿后檐墙新裂缝",
                 photo: tuple[str, bytes, str] | None = ("crack.png", PNG, "image/png")) -> httpx.Response:
    files = {"photo": photo if photo is not None else ("", b"", "application/octet-stream")}
    return await client.post("/m/hazards", data={"csrf": csrf, "site": site, "description": description},
                             files=files)


def db_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(row) for row in conn.execute(sql).fetchall()]


@pytest.fixture
async def wang(dashboard: Dashboard) -> AsyncIterator[httpx.AsyncClient]:
    async with logged_in(dashboard.app, "wang") as client:
        yield client


# The page --------------------------------------------------------------------------------------


async def test_wang_sees_his_sites_and_alerts_only(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    world = dashboard.world
    mine = world.fire()
    world.later(5)
    theirs = world.fire(site_id=OTHER, device="f1")
    page = await wang.get("/m")
    assert page.status_code == 200
    text = page.text
    for heading in ("我的文物点", "我的告警", "巡查任务", "上报隐患"):
        assert heading in text
    assert "暂无巡查任务" in text
    assert [e.attrs["data-id"] for e in with_class(text, "m-alert")] == [mine.id]
    assert theirs.id not in text and "灵岩寺" not in text
    assert [e.attrs["data-id"] for e in with_class(text, "m-site")] == [SITE]
    assert SITE_NAME in text and "告警 1 条" in text
    assert f'href="/alerts/{mine.id}"' in text
    acks = with_class(text, "m-ack")
    assert len(acks) == 1 and acks[0].tag == "button"
    assert re.search(r'<button type="submit" class="m-ack[^"]*"[^>]*>确认接警</button>', text)
    assert f'action="/m/alerts/{mine.id}/ack"' in text
    # The report form offers his site only.
    options = [e.attrs["value"] for e in elements(text) if e.tag == "option"]
    assert options == [SITE]
    photo = next(e for e in elements(text) if e.tag == "input" and e.attrs.get("type") == "file")
    assert photo.attrs["accept"] == "image/*" and photo.attrs["capture"] == "environment"
    form = by_id(text, "hazard-form")
    assert form is not None and form.attrs["enctype"] == "multipart/form-data" and form.attrs["action"] == "/m/hazards"


async def test_newest_alert_first_and_the_operator_sees_every_site(dashboard: Dashboard) -> None:
    world = dashboard.world
    first = world.fire()
    world.later(60)
    second = world.fire(site_id=OTHER, device="f1")
    async with logged_in(dashboard.app, "ops") as ops:
        page = await ops.get("/m")
    assert page.status_code == 200
    assert [e.attrs["data-id"] for e in with_class(page.text, "m-alert")] == [second.id, first.id]
    assert by_id(page.text, "m-push") is None  # the monitoring center registers no phone here


async def test_the_page_is_for_phones_and_has_no_inline_script(wang: httpx.AsyncClient) -> None:
    page = await wang.get("/m")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    scripts = [e for e in elements(page.text) if e.tag == "script"]
    assert scripts and all(e.attrs.get("src", "").startswith("/static/") for e in scripts)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)
    assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handlers either
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await wang.get("/static/mobile.js")
    assert script.status_code == 200 and "push-subscribe" in script.text


async def test_english_on_request(wang: httpx.AsyncClient, dashboard: Dashboard) -> None:
    dashboard.world.fire()
    await wang.get("/lang/en?next=/m")
    page = await wang.get("/m")
    assert "My alerts" in page.text and ">Acknowledge</button>" in page.text and "Report a hazard" in page.text
    assert "No patrol rounds are scheduled yet" in page.text


async def test_the_page_needs_a_login(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/m")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


# Acknowledging ---------------------------------------------------------------------------------


async def test_acknowledge_through_the_form_records_the_user(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    world = dashboard.world
    alert = world.fire()
    page = await wang.get("/m")
    answer = await wang.post(f"/m/alerts/{alert.id}/ack", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/m?acked=")
    acknowledged = world.service.get(alert.id)
    assert acknowledged is not None and acknowledged.status is AlertStatus.ACKNOWLEDGED
    assert acknowledged.acknowledged_by == "user:wang"
    assert any(isinstance(item, TimelineEntry) and item.kind == "acknowledged" and item.actor == "user:wang"
               for item in world.journal.items)
    after = await wang.get(answer.headers["location"])
    assert "已确认接警" in after.text
    card = with_class(after.text, "m-alert")
    assert card[0].attrs["data-status"] == "acknowledged" and not with_class(after.text, "m-ack")
    assert "由 王建国 于" in after.text  # the display name, not the login
    # A second tap changes nothing and still lands on the page.
    again = await wang.post(f"/m/alerts/{alert.id}/ack", data={"csrf": csrf_of(page.text)})
    assert again.status_code == 303


async def test_acknowledge_without_csrf_is_refused(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    alert = dashboard.world.fire()
    for data in ({}, {"csrf": "forged"}):
        answer = await wang.post(f"/m/alerts/{alert.id}/ack", data=data)
        assert answer.status_code == 403
        assert "页面已过期" in answer.json()["error"]
    current = dashboard.world.service.get(alert.id)
    assert current is not None and current.status is AlertStatus.OPEN


async def test_an_alert_at_another_site_cannot_be_acknowledged(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    theirs = dashboard.world.fire(site_id=OTHER, device="f1")
    page = await wang.get("/m")
    answer = await wang.post(f"/m/alerts/{theirs.id}/ack", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 404 and "不在您负责的文物点" in answer.text
    assert not with_class(answer.text, "m-alert") and "灵岩寺" not in answer.text
    # The page links back to its own path (language switch): a GET there leads to the page.
    back = await wang.get(f"/m/alerts/{theirs.id}/ack")
    assert back.status_code == 303 and back.headers["location"].startswith("/m#")
    current = dashboard.world.service.get(theirs.id)
    assert current is not None and current.status is AlertStatus.OPEN


async def test_a_supervisor_sees_no_ack_button(dashboard: Dashboard) -> None:
    dashboard.world.fire()
    async with logged_in(dashboard.app, "sup") as sup:
        page = await sup.get("/m")
        assert len(with_class(page.text, "m-alert")) == 1 and not with_class(page.text, "m-ack")


# Hazard reports --------------------------------------------------------------------------------


async def test_a_hazard_report_with_a_photo_is_stored_and_shown(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    page = await wang.get("/m")
    assert "您还没有上报过隐患" in page.text
    csrf = csrf_of(page.text)
    answer = await report(wang, csrf, description="东配殿后檐墙新裂缝 <img src=x onerror=alert(1)>")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/m?reported=")
    sha = hashlib.sha256(PNG).hexdigest()
    rows = db_rows(dashboard.database_url,
                   "SELECT id, site_id, reported_by, description, photo_sha256 FROM hazard_reports")
    assert len(rows) == 1
    report_id, site_id, by, description, photo_sha = rows[0]
    assert (site_id, by, photo_sha) == (SITE, "user:wang", sha)
    assert str(description).startswith("东配殿后檐墙新裂缝")
    assert db_rows(dashboard.database_url, "SELECT sha256, content_type, bytes FROM hazard_photos") == \
        [(sha, "image/png", PNG)]
    audit = [item for item in dashboard.world.journal.items if isinstance(item, AuditEntry)]
    assert len(audit) == 1
    assert (audit[0].kind, audit[0].actor, audit[0].subject) == ("hazard.reported", "user:wang", SITE)
    assert audit[0].detail["report"] == report_id and audit[0].detail["photo_sha256"] == sha

    after = await wang.get(answer.headers["location"])
    assert f"隐患已上报（编号 {report_id}）" in after.text
    assert [e.attrs["data-id"] for e in with_class(after.text, "m-report")] == [str(report_id)]
    assert f'<img src="/m/photos/{sha}"' in after.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in after.text and "<img src=x" not in after.text

    photo = await wang.get(f"/m/photos/{sha}")
    assert photo.status_code == 200 and photo.content == PNG
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in photo.headers["content-security-policy"]


async def test_the_same_photo_twice_is_stored_once(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    csrf = csrf_of((await wang.get("/m")).text)
    for text in ("北门锁损坏", "北门锁损坏（补充照片）"):
        assert (await report(wang, csrf, description=text)).status_code == 303
    assert db_rows(dashboard.database_url, "SELECT count(*) FROM hazard_photos") == [(1,)]
    assert db_rows(dashboard.database_url, "SELECT count(*) FROM hazard_reports") == [(2,)]


async def test_a_report_without_a_photo(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    csrf = csrf_of((await wang.get("/m")).text)
    answer = await report(wang, csrf, description="消防通道被杂物堵塞", photo=None)
    assert answer.status_code == 303
    assert db_rows(dashboard.database_url, "SELECT photo_sha256 FROM hazard_reports") == [(None,)]
    page = await wang.get("/m")
    assert "无照片" in page.text and "消防通道被杂物堵塞" in page.text


async def test_photos_are_served_only_within_scope(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    csrf = csrf_of((await wang.get("/m")).text)
    assert (await report(wang, csrf)).status_code == 303
    sha = hashlib.sha256(PNG).hexdigest()
    async with logged_in(dashboard.app, "li") as li:
        assert (await li.get(f"/m/photos/{sha}")).status_code == 404
        assert (await li.get(f"/m/photos/{'0' * 64}")).status_code == 404
        assert (await li.get("/m/photos/not-a-digest")).status_code == 404
        # li's own report of the same photo at her site makes it hers to see too.
        li_csrf = csrf_of((await li.get("/m")).text)
        assert (await report(li, li_csrf, site=OTHER)).status_code == 303
        assert (await li.get(f"/m/photos/{sha}")).status_code == 200
    async with logged_in(dashboard.app, "ops") as ops:
        assert (await ops.get(f"/m/photos/{sha}")).status_code == 200
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard.app), base_url="http://guard.test") as anon:
        assert (await anon.get(f"/m/photos/{sha}")).status_code == 401


async def test_a_report_needs_csrf_and_a_site_in_scope(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    csrf = csrf_of((await wang.get("/m")).text)
    refused = await report(wang, "forged")
    assert refused.status_code == 403
    missing = await wang.post("/m/hazards", data={"site": SITE, "description": "x"}, files={"photo": ("a.png", PNG)})
    assert missing.status_code == 403
    elsewhere = await report(wang, csrf, site=OTHER)
    assert elsewhere.status_code == 422 and "请选择您负责的文物点" in elsewhere.text
    empty = await report(wang, csrf, description="   ")
    assert empty.status_code == 422 and "请填写隐患描述" in empty.text
    assert db_rows(dashboard.database_url, "SELECT count(*) FROM hazard_reports") == [(0,)]
    assert db_rows(dashboard.database_url, "SELECT count(*) FROM hazard_photos") == [(0,)]


async def test_a_file_that_is_not_an_image_is_rejected_clearly(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    csrf = csrf_of((await wang.get("/m")).text)
    answer = await report(wang, csrf, description="南墙渗水",
                          photo=("photo.png", b"<html><script>alert(1)</script></html>", "image/png"))
    assert answer.status_code == 415
    error = by_id(answer.text, "hazard-error")
    assert error is not None and "不是 JPEG、PNG 或 WebP 图片" in answer.text
    assert ">南墙渗水</textarea>" in answer.text  # what was typed is kept
    assert db_rows(dashboard.database_url, "SELECT count(*) FROM hazard_reports") == [(0,)]


async def test_an_oversized_photo_is_rejected_clearly(dashboard: Dashboard, wang: httpx.AsyncClient) -> None:
    csrf = csrf_of((await wang.get("/m")).text)
    just_over = PNG + b"\x00" * (hazards.MAX_PHOTO_BYTES + 1 - len(PNG))
    answer = await report(wang, csrf, description="大殿梁架开裂", photo=("big.png", just_over, "image/png"))
    assert answer.status_code == 413
    assert "照片太大：不能超过 5 MB" in answer.text and ">大殿梁架开裂</textarea>" in answer.text
    # Far over: refused from Content-Length, before the body is read.
    huge = PNG + b"\x00" * (8 * 1024 * 1024)
    answer = await report(wang, csrf, photo=("huge.png", huge, "image/png"))
    assert answer.status_code == 413 and "照片太大" in answer.text
    assert db_rows(dashboard.database_url, "SELECT count(*) FROM hazard_photos") == [(0,)]


def test_photos_are_judged_by_their_first_bytes() -> None:
    assert hazards.sniff_image(b"\xff\xd8\xff\xe0" + b"\x00" * 16) == "image/jpeg"
    assert hazards.sniff_image(PNG) == "image/png"
    assert hazards.sniff_image(b"RIFF\x24\x00\x00\x00WEBPVP8 ") == "image/webp"
    for data, reason in ((b"", "empty"), (b"GIF89a", "not_image"), (b"RIFF\x00\x00\x00\x00WAVE", "not_image"),
                         (b"\xff\xd8\xff" + b"\x00" * hazards.MAX_PHOTO_BYTES, "too_large")):
        with pytest.raises(hazards.PhotoRejected) as rejected:
            hazards.sniff_image(data)
        assert rejected.value.reason == reason


# The database down -----------------------------------------------------------------------------


async def test_with_the_database_down_alerts_show_and_a_report_is_answered_503(users_db: str) -> None:
    world = make_world()
    deps = dashboard_deps(world.service, world.registry, users_db, "http://guard.test")
    app = create_app(ReadinessProbe(database_url=users_db, broker_connected=lambda: True), service=world.service,
                     tokens=TokenStore(()), database_url=users_db, registry=world.registry, dashboard=deps)
    alert = world.fire()
    async with logged_in(app, "wang") as client:
        csrf = csrf_of((await client.get("/m")).text)
        down(deps)
        page = await client.get("/m")
        assert page.status_code == 200
        assert [e.attrs["data-id"] for e in with_class(page.text, "m-alert")] == [alert.id]
        assert by_id(page.text, "hazard-db-down") is not None and "隐患上报现在无法保存" in page.text
        answer = await report(client, csrf, description="山门台阶松动")
        assert answer.status_code == 503
        assert "无法保存" in answer.text and ">山门台阶松动</textarea>" in answer.text
        photo = await client.get(f"/m/photos/{hashlib.sha256(PNG).hexdigest()}")
        assert photo.status_code == 503
    assert not [item for item in world.journal.items if isinstance(item, AuditEntry)]


def down(deps: DashboardDeps) -> None:
    # Sessions keep their own URL (and cache): only the page's reads and writes lose the database.
    deps.database_url = DOWN_URL


# The service worker and the push button --------------------------------------------------------


async def test_the_service_worker_is_served_at_the_root(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == "application/javascript"
    assert answer.headers["service-worker-allowed"] == "/"
    for needed in ('addEventListener("push"', 'addEventListener("notificationclick"', "requireInteraction",
                   "vibrate", "ack_url", "/alerts/"):
        assert needed in answer.text


ROUTING = """
[[recipient]]
id = "center"
name = "监控中心"
audience = "monitoring_center"
channels = [{ kind = "webpush", target = "sub-shared" }]

[[recipient]]
id = "wjg"
name = "王建国"
audience = "custodians"
channels = [{ kind = "webpush", target = "sub-wang" }, { kind = "webpush", target = "sub-shared" }]
fallback = [{ kind = "webpush", target = "sub-wang-phone2" }, { kind = "email", target = "wang@example.cn" }]

[[recipient]]
id = "lxl"
name = "李秀兰"
audience = "custodians"
channels = [{ kind = "email", target = "li@example.cn" }]

[[route]]
recipients = ["center"]
"""


def routing(tmp_path: Path) -> RoutingConfig:
    path = tmp_path / "routing.toml"
    path.write_text(ROUTING, encoding="utf-8")
    return load_routing(path)


def custodians(world: World, site_id: str, *names: str) -> None:
    world.registry.sites[site_id] = replace(world.registry.sites[site_id], custodians=names)


async def test_push_ids_come_from_the_routing(dashboard: Dashboard, tmp_path: Path) -> None:
    world = dashboard.world
    world.service.routing = routing(tmp_path)
    custodians(world, SITE, "王建国")
    custodians(world, OTHER, "李秀兰")
    async with logged_in(dashboard.app, "wang") as wang:
        page = await wang.get("/m")
    button = by_id(page.text, "push-subscribe")
    assert button is not None and button.tag == "button"
    # sub-shared also reaches the monitoring center: the API would refuse it to a custodian.
    assert button.attrs["data-push-ids"] == "sub-wang sub-wang-phone2"
    assert "开启手机提醒" in page.text and by_id(page.text, "push-status") is not None
    # li's recipient has no webpush channel.
    async with logged_in(dashboard.app, "li") as li:
        page = await li.get("/m")
    assert by_id(page.text, "push-subscribe") is None
    assert "路由配置中没有为您设置手机提醒通道" in page.text and "联系管理员" in page.text


async def test_without_routing_there_is_no_push_button(wang: httpx.AsyncClient) -> None:
    page = await wang.get("/m")
    assert by_id(page.text, "push-subscribe") is None
    unavailable = by_id(page.text, "push-unavailable")
    assert unavailable is not None and "路由配置中没有为您设置手机提醒通道" in page.text


def test_push_ids_follow_the_api_rule(tmp_path: Path) -> None:
    world = make_world()
    config = routing(tmp_path)
    wang = WebUser("wang", "王建国", Role.CUSTODIAN, frozenset({SITE}))
    # Not listed as a custodian of his site in sites.csv: the API would refuse every id.
    assert push_info(wang, config, world.registry.sites) == PushInfo((), "m.push.not_listed")
    custodians(world, SITE, "王建国")
    assert push_info(wang, config, world.registry.sites) == PushInfo(("sub-wang", "sub-wang-phone2"), None)
    assert push_info(wang, None, world.registry.sites) == PushInfo((), "m.push.none")
    stranger = replace(wang, name="赵六")
    assert push_info(stranger, config, world.registry.sites) == PushInfo((), "m.push.none")
