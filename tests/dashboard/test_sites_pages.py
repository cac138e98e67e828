"""The sites list, the map and the site page, over a real AlertService and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from relic_guard.dashboard.pages import dashboard_deps
from relic_guard.dashboard.sites import SiteRow, SiteStates, matching
from relic_guard.dashboard.users import Sessions
from relic_guard.registry import Device
from relic_guard.web import ReadinessProbe, create_app
from sensors.model import Event, Source, StatusChange
from tests.alerting_api.conftest import DOWN_URL, OTHER
from tests.alerts.support import SITE
from tests.dashboard.conftest import Dashboard, log_in

NOT_FOUND = "未找到（或不在您负责的文物点）。"


def listed(html: str) -> list[tuple[str, str]]:
    """(site id, state) of each row of the sites table, in page order."""
    return re.findall(r'<tr class="site-row" data-site="([^"]+)" data-state="([^"]+)"', html)


def charts(html: str) -> list[tuple[str, str, dict[str, list[str]]]]:
    """(device, metric, query of the readings URL) of each chart div."""
    found = []
    for src, device, metric in re.findall(
        r'<div class="chart" data-src="([^"]+)" data-device="([^"]+)" data-metric="([^"]+)"', html
    ):
        url = urlsplit(unescape(src))
        found.append((device, metric, {"path": [url.path], **parse_qs(url.query)}))
    return found


def place(dashboard: Dashboard, site_id: str, lat: float, lon: float) -> None:
    sites = dashboard.world.registry.sites
    sites[site_id] = dataclasses.replace(sites[site_id], lat=lat, lon=lon)


def insert_readings(url: str, rows: list[tuple[datetime, str, str, str, float]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO readings (ts, site_id, device_id, metric, value) VALUES (%s, %s, %s, %s, %s)", rows
        )


# The list ---------------------------------------------------------------------------------------


async def test_the_list_shows_every_site_to_the_center_and_one_to_its_custodian(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    await log_in(browser, "ops")
    page = await browser.get("/sites")
    assert page.status_code == 200
    assert sorted(site for site, _ in listed(page.text)) == [SITE, OTHER]
    assert "城子崖遗址" in page.text and "灵岩寺" in page.text and "章丘区" in page.text
    assert "全国重点文物保护单位" in page.text and "古遗址" in page.text  # level "national", kind as registered
    assert '<span id="site-shown">2</span>' in page.text
    assert '<script src="/static/sites.js" defer></script>' in page.text
    assert "<script>" not in page.text  # CSP: no inline script

    browser.cookies.clear()
    await log_in(browser, "wang")
    page = await browser.get("/sites")
    assert page.status_code == 200
    assert listed(page.text) == [(SITE, "ok")]
    assert "灵岩寺" not in page.text


async def test_another_custodians_site_is_not_found_in_the_same_words_as_an_unknown_one(
    browser: httpx.AsyncClient,
) -> None:
    await log_in(browser, "wang")
    own = await browser.get(f"/sites/{SITE}")
    assert own.status_code == 200 and "城子崖遗址" in own.text
    other = await browser.get(f"/sites/{OTHER}")
    unknown = await browser.get("/sites/no-such-site")
    assert other.status_code == unknown.status_code == 404
    assert NOT_FOUND in other.text and NOT_FOUND in unknown.text
    assert "灵岩寺" not in other.text
    assert other.text.replace(OTHER, "X") == unknown.text.replace("no-such-site", "X")


async def test_chinese_and_case_insensitive_search(browser: httpx.AsyncClient) -> None:
    await log_in(browser, "ops")
    for query, expected in [
        ("灵岩", [OTHER]),
        ("灵岩寺", [OTHER]),
        ("章丘", [SITE]),  # the district
        ("LINGYAN", [OTHER]),  # the id, any case
        ("ｌｉｎｇｙａｎ", [OTHER]),  # full-width letters, as a Chinese input method types them
        ("城子崖 章丘区", [SITE]),  # every term must match
        ("城子崖 长清区", []),
        ("遗址", [SITE]),
    ]:
        page = await browser.get("/sites", params={"q": query})
        assert page.status_code == 200
        assert [site for site, _ in listed(page.text)] == expected, query
        assert f'value="{query}"' in page.text
    none = await browser.get("/sites", params={"q": "布达拉宫"})
    assert 'id="site-empty"' in none.text and "没有符合条件的文物点" in none.text


async def test_search_text_is_escaped(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    await log_in(browser, "ops")
    page = await browser.get("/sites", params={"q": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text


async def test_states_after_a_fire_alarm_and_devices_going_offline(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    world = dashboard.world
    await log_in(browser, "ops")
    assert listed((await browser.get("/sites")).text) == [(SITE, "ok"), (OTHER, "ok")]

    world.fire()
    page = await browser.get("/sites")
    assert listed(page.text)[0] == (SITE, "alarm")
    row = re.search(rf'data-site="{SITE}".*?</tr>', page.text, re.S)
    assert row is not None
    assert '<td class="num site-alerts">1</td>' in row.group(0)
    assert '<td class="num site-devices">1/2</td>' in row.group(0)  # d1 watched and online; cam1 not watched

    # Silence past the heartbeat: both sites' heartbeat devices go offline. 灵岩寺 has one watched
    # device, too few for a site-unreachable alert; its device-offline alert (major) makes it
    # `offline`, not `alarm`.
    world.later(61)
    world.service.tick()
    page = await browser.get("/sites")
    assert listed(page.text) == [(SITE, "alarm"), (OTHER, "offline")]
    row = re.search(rf'data-site="{OTHER}".*?</tr>', page.text, re.S)
    assert row is not None
    assert '<td class="num site-alerts">1</td>' in row.group(0)
    assert '<td class="num site-devices">0/1</td>' in row.group(0)
    assert 'data-state-count="alarm">1<' in page.text and 'data-state-count="offline">1<' in page.text


async def test_a_minor_alert_is_a_warning(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    world = dashboard.world
    # A detector switched off on purpose: a minor condition of the fire system.
    world.service.on_record(Event(OTHER, "f1", Source.FIRE, "shield", world.clock(), "f1:shield"))
    await log_in(browser, "ops")
    assert listed((await browser.get("/sites")).text) == [(OTHER, "warning"), (SITE, "ok")]


def test_states_of_ten_thousand_sites_are_one_pass(dashboard: Dashboard) -> None:
    """The list's cost does not depend on asking per site: many sites, one call."""
    from relic_guard.registry import Site

    world = dashboard.world
    for i in range(10_000):
        world.registry.add_site(Site(id=f"s{i:05d}", name=f"文物点{i:05d}", district="历城区", level="county",
                                     kind="古建筑"))
    states = SiteStates(world.service, world.registry.devices)
    rows = states.rows(None)
    assert len(rows) == 10_002
    assert [row.id for row in matching(rows, "文物点09999")] == ["s09999"]
    assert all(isinstance(row, SiteRow) for row in rows[:3])
    assert [row.id for row in states.rows(frozenset({"s00042", OTHER, "gone"}))] == ["s00042", OTHER]


def test_a_site_changed_in_the_registry_shows_at_once(dashboard: Dashboard) -> None:
    world = dashboard.world
    states = SiteStates(world.service, world.registry.devices)
    assert [row.name for row in states.rows(None)] == ["城子崖遗址", "灵岩寺"]
    sites = world.registry.sites
    sites[SITE] = dataclasses.replace(sites[SITE], name="龙山文化城子崖遗址")
    # Auto-registered: a device only the engine knows, watched from its status.
    world.service.on_record(StatusChange(OTHER, "auto1", Source.ENV, True, world.clock()))
    rows = states.rows(None)
    assert [row.name for row in rows] == ["灵岩寺", "龙山文化城子崖遗址"]  # sorted anew
    assert [(row.id, row.online, row.total) for row in rows] == [(OTHER, 2, 2), (SITE, 1, 2)]
    assert "龙山文化城子崖遗址" in states.table_rows(rows, "zh-CN")


# The map ----------------------------------------------------------------------------------------


async def test_the_map_shows_the_visible_sites_only(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    place(dashboard, SITE, 36.73, 117.54)
    place(dashboard, OTHER, 36.34, 116.94)
    dashboard.world.fire()
    await log_in(browser, "ops")
    page = await browser.get("/map")
    assert page.status_code == 200
    svg = re.search(r'<div id="site-map"[^>]*>(<svg .*?</svg>)</div>', page.text, re.S)
    assert svg is not None, page.text[:2000]
    assert sorted(re.findall(r'<a href="/sites/([^"]+)">', svg.group(1))) == [SITE, OTHER]
    assert 'class="rg-m rg-alarm rg-pulse"' in svg.group(1)
    assert 'id="map-legend"' in page.text and "重大告警" in page.text
    assert "<script>" not in page.text

    browser.cookies.clear()
    await log_in(browser, "wang")
    page = await browser.get("/map")
    svg = re.search(r'<div id="site-map"[^>]*>(<svg .*?</svg>)</div>', page.text, re.S)
    assert svg is not None
    assert re.findall(r'<a href="/sites/([^"]+)">', svg.group(1)) == [SITE]
    assert "灵岩寺" not in page.text


async def test_sites_without_coordinates_are_listed_below_the_map(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    place(dashboard, SITE, 36.73, 117.54)  # 灵岩寺 keeps no coordinates
    await log_in(browser, "ops")
    page = await browser.get("/map")
    unplaced = page.text.split('id="map-unplaced"', 1)[1]
    assert f'<li data-site="{OTHER}" data-state="ok"><a href="/sites/{OTHER}">灵岩寺</a>' in unplaced
    assert f'data-site="{SITE}"' not in unplaced


# One site ---------------------------------------------------------------------------------------


async def test_the_site_page_lists_facts_alerts_and_devices_offline_first(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    world = dashboard.world
    alert = world.fire()
    world.later(61)
    world.service.tick()  # d1 offline (no traffic); cam1 has no heartbeat: unknown
    await log_in(browser, "ops")
    page = await browser.get(f"/sites/{SITE}")
    assert page.status_code == 200
    html = page.text
    assert 'id="site-state" class="site-state site-state-alarm"' in html
    assert "章丘区" in html and "08:30–17:00" in html
    assert f'<a href="/alerts/{alert.id}">' in html
    devices = re.findall(r'<tr class="device-row device-(\w+)" data-device="([^"]+)"', html)
    assert devices == [("offline", "d1"), ("unknown", "cam1")]
    # Last heard: the daemon's start, in Beijing time (DAY is 10:00 there).
    assert "2026-11-27 10:00:00" in html
    assert "1 台设备离线" in html  # a current condition
    assert '<script src="/static/vendor/uplot/uPlot.iife.min.js"></script>' in html
    assert '<script src="/static/charts.js"></script>' in html


async def test_charts_for_the_metrics_each_device_reported(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    world = dashboard.world
    world.registry.add_device(Device(site=SITE, id="th1", source=Source.ENV, kind="温湿度", zone="库房"))
    now = world.clock()
    insert_readings(dashboard.database_url, [
        (now - timedelta(minutes=5), SITE, "th1", "temp_c", 12.5),
        (now - timedelta(minutes=4), SITE, "th1", "temp_c", 12.6),
        (now - timedelta(minutes=5), SITE, "th1", "rh_pct", 55.0),
        (now - timedelta(minutes=5), SITE, "d1", "battery_v", 24.1),  # a fire panel's telemetry
        (now - timedelta(minutes=5), SITE, "cam1", "fps", 25.0),  # video: no chart
        (now - timedelta(days=9), SITE, "th1", "co2_ppm", 420.0),  # reported long ago only
        (now - timedelta(minutes=5), OTHER, "f1", "battery_v", 23.9),  # another site
    ])
    await log_in(browser, "ops")
    page = await browser.get(f"/sites/{SITE}")
    assert page.status_code == 200
    found = charts(page.text)
    assert [(device, metric) for device, metric, _ in found] == [
        ("d1", "battery_v"), ("th1", "rh_pct"), ("th1", "temp_c"),
    ]
    query = found[0][2]
    assert query["path"] == [f"/api/sites/{SITE}/readings"]
    assert query["device"] == ["d1"] and query["metric"] == ["battery_v"] and query["bucket"] == ["raw"]
    assert datetime.fromisoformat(query["from"][0]) == now - timedelta(hours=24)
    assert '<a href="/sites/chengziya?range=24h" data-range="24h" aria-current="page">' in page.text

    # The chart's own request answers with the rows inserted.
    api = await browser.get(query["path"][0], params={k: v[0] for k, v in query.items() if k != "path"},
                            headers={"accept": "application/json"})
    assert api.status_code == 200 and [p["value"] for p in api.json()["points"]] == [24.1]

    week = charts((await browser.get(f"/sites/{SITE}", params={"range": "7d"})).text)
    assert {q["bucket"][0] for _, _, q in week} == {"hour"}
    assert datetime.fromisoformat(week[0][2]["from"][0]) == now - timedelta(days=7)

    # 30 days also looks at the hourly rollup, where the older series lives on.
    with psycopg.connect(dashboard.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO readings_hourly (bucket, site_id, device_id, metric, n, avg, min, max) "
                     "VALUES (%s, %s, 'th1', 'co2_ppm', 60, 421, 410, 430)", (now - timedelta(days=9), SITE))
    month = charts((await browser.get(f"/sites/{SITE}", params={"range": "30d"})).text)
    assert ("th1", "co2_ppm") in [(device, metric) for device, metric, _ in month]
    assert ("th1", "co2_ppm") not in [(d, m) for d, m, _ in charts((await browser.get(f"/sites/{SITE}")).text)]


async def test_no_readings_no_charts(browser: httpx.AsyncClient) -> None:
    await log_in(browser, "ops")
    page = await browser.get(f"/sites/{OTHER}", params={"range": "bogus"})
    assert page.status_code == 200
    assert 'id="charts-none"' in page.text and not charts(page.text)
    assert 'data-range="24h" aria-current="page"' in page.text  # an unknown range reads as the default


@pytest.fixture
async def db_down_browser(dashboard: Dashboard) -> AsyncIterator[httpx.AsyncClient]:
    """The dashboard whose readings database cannot be reached (sessions still work: the users
    live in the real database, as a session cached before the outage would)."""
    world = dashboard.world
    deps = dashboard_deps(world.service, world.registry, DOWN_URL, "http://guard.test")
    deps.sessions = Sessions(dashboard.database_url, world.registry.sites)
    probe = ReadinessProbe(database_url=DOWN_URL, broker_connected=lambda: True)
    app = create_app(probe, service=world.service, database_url=DOWN_URL, registry=world.registry, dashboard=deps)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://guard.test",
                                 headers={"accept": "text/html"}) as client:
        yield client


async def test_the_site_page_renders_with_a_note_when_the_database_is_down(
    dashboard: Dashboard, db_down_browser: httpx.AsyncClient
) -> None:
    alert = dashboard.world.fire()
    await log_in(db_down_browser, "ops")
    page = await db_down_browser.get(f"/sites/{SITE}")
    assert page.status_code == 200
    assert 'id="charts-unavailable"' in page.text and "数据库暂时无法访问" in page.text
    assert not charts(page.text)
    assert f'<a href="/alerts/{alert.id}">' in page.text  # alerts and devices come from memory
    assert 'data-device="d1"' in page.text
    assert (await db_down_browser.get("/sites")).status_code == 200
    assert (await db_down_browser.get("/map")).status_code == 200


async def test_english_pages(browser: httpx.AsyncClient) -> None:
    await log_in(browser, "ops")
    await browser.get("/lang/en?next=/sites")
    page = await browser.get("/sites")
    assert 'lang="en"' in page.text and "Open alerts" in page.text and "National key protected site" in page.text
    assert "城子崖遗址" in page.text  # names stay as registered
    site = await browser.get(f"/sites/{SITE}")
    assert "Devices" in site.text and "Open hours" in site.text


async def test_pages_need_a_login(browser: httpx.AsyncClient) -> None:
    for path in ("/sites", "/map", f"/sites/{SITE}"):
        answer = await browser.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
