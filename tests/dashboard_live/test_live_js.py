"""static/live.js in a real (headless) Chromium against the live feed: rows, order, flags, sound,
title, mute, reconnect indicator, resync. Skipped where no Chromium can be started."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import playwright.async_api as playwright_api
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from relic_guard.alerting.tokens import Principal
from relic_guard.dashboard import live as live_module
from relic_guard.dashboard.live import LiveFeed, router
from sensors.model import Event, Source
from tests.alerting_api.conftest import OTHER, TOKENS, World
from tests.alerts.support import SITE

from .conftest import serve

STATIC = Path(live_module.__file__).parent / "static"
# The dashboard's policy: the page's own scripts only, nothing inline.
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'"
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>告警队列</title></head><body>
<span id="live-status" data-live="实时" data-reconnecting="连接中断，正在重连…" data-alarm-title="【紧急告警】">…</span>
<button id="sound-toggle" data-on="声音开" data-off="声音关"></button>
<table id="alert-queue"><thead><tr><th data-col="severity">级别</th><th data-col="title">告警</th>
<th data-col="site">地点</th><th data-col="status">状态</th><th data-col="count">次数</th></tr></thead><tbody></tbody></table>
<script src="/static/live.js"></script></body></html>"""
# Counts the alarms that would sound (the audio itself is not listened to).
COUNT_OSCILLATORS = """
window.__alarms = 0;
const original = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__alarms += 1; return original.call(this); };
"""


def browser_app(feed: LiveFeed) -> FastAPI:
    app = FastAPI()

    async def operator() -> Principal:
        return TOKENS["op-token"]

    app.include_router(router(feed, operator))

    @app.get("/")
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP})

    @app.get("/favicon.ico")
    async def favicon() -> Response:  # browsers ask; a 404 would show as a console error
        return Response(status_code=204)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    # Debian's Chromium, never a browser Playwright would download; scripts/test installs it.
    path = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).exists(), "no /usr/bin/chromium: run scripts/test, which installs Debian's chromium"
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield browser
        finally:
            await browser.close()


def opened(world: World, before: set[str]) -> str:
    """The id of the one alert opened since `before` (World.fire cannot tell apart two at one device)."""
    (new,) = {alert.id for alert in world.service.open_alerts()} - before
    return new


def record(world: World, type_: str, site_id: str = SITE, device: str = "d1") -> None:
    world.later(1)
    at = world.clock()
    world.service.on_record(Event(site_id, device, Source.FIRE, type_, at, f"{device}:{type_}:{at.timestamp()}"))


async def rows(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.eval_on_selector_all(
        "#alert-queue tbody tr",
        "trs => trs.map(tr => ({id: tr.dataset.id, cls: tr.className, "
        "cells: Array.from(tr.cells).map(td => td.textContent)}))",
    )
    return found


async def test_live_js_keeps_the_queue(world: World) -> None:
    record(world, "fault")  # major, the oldest
    fault = world.service.open_alerts()[0]
    world.later(1)
    elsewhere = world.fire(OTHER, "f1")  # critical, newer
    async with serve(world, app=browser_app, queue_size=4) as live, chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        await page.add_init_script(COUNT_OSCILLATORS)
        await page.goto(live.url + "/")
        await page.wait_for_function("() => document.getElementById('live-status').textContent === '实时'")
        await page.wait_for_function("() => document.querySelectorAll('#alert-queue tbody tr').length === 2")

        shown = await rows(page)
        assert [r["id"] for r in shown] == [elsewhere.id, fault.id]  # critical before major
        assert "critical-new" in shown[0]["cls"] and "critical-new" not in shown[1]["cls"]
        assert shown[0]["cells"] == ["紧急", elsewhere.title, "灵岩寺", "待响应", "1"]
        assert await page.is_visible("#sound-unlock")
        assert await page.evaluate("window.__alarms") == 0  # no gesture yet: no sound possible

        # The first click enables sound, and the alarm that was waiting sounds.
        await page.mouse.click(5, 300)
        await page.wait_for_function("() => window.__alarms === 1")
        assert not await page.is_visible("#sound-unlock")
        await page.wait_for_function("() => document.title.startsWith('【紧急告警】')")

        # A second critical alert, after the older one: sounds again.
        before = {alert.id for alert in world.service.open_alerts()}
        record(world, "fire_alarm")
        here = opened(world, before)
        await page.wait_for_function("() => document.querySelectorAll('#alert-queue tbody tr').length === 3")
        assert [r["id"] for r in await rows(page)] == [elsewhere.id, here, fault.id]
        await page.wait_for_function("() => window.__alarms === 2")

        # A repeat updates the row in place and does not sound.
        record(world, "fire_alarm", OTHER, "f1")
        await page.wait_for_function(
            f"() => document.querySelector('tr[data-id=\"{elsewhere.id}\"] td[data-col=count]').textContent === '2'")
        assert await page.evaluate("window.__alarms") == 2

        # Acknowledged: the flag goes; closed: the row goes; none flagged: the title is itself again.
        world.service.acknowledge(elsewhere.id, "user:ops")
        await page.wait_for_function(
            f"() => !document.querySelector('tr[data-id=\"{elsewhere.id}\"]').classList.contains('critical-new')")
        assert (await rows(page))[0]["cells"][3] == "已响应"
        world.service.resolve(here, "user:ops", classification=None)
        await page.wait_for_function("() => document.querySelectorAll('#alert-queue tbody tr').length === 2")
        await page.wait_for_function("() => document.title === '告警队列'")

        # Muted: remembered across a reload, and a new critical alert is flagged without sound.
        assert await page.text_content("#sound-toggle") == "声音开"
        await page.click("#sound-toggle")
        assert await page.text_content("#sound-toggle") == "声音关"
        assert await page.evaluate("localStorage.getItem('relic-guard.alarm-muted')") == "1"
        await page.reload()
        await page.wait_for_function("() => document.getElementById('live-status').textContent === '实时'")
        assert await page.text_content("#sound-toggle") == "声音关"
        await page.mouse.click(5, 300)
        before = {alert.id for alert in world.service.open_alerts()}
        record(world, "fire_alarm")
        again = opened(world, before)
        await page.wait_for_function(
            f"() => (document.querySelector('tr[data-id=\"{again}\"]') || {{classList: {{contains: () => false}}}})"
            ".classList.contains('critical-new')")
        assert await page.evaluate("window.__alarms") == 0

        # Fallen behind (more changes at once than its queue holds): the page reloads.
        await page.evaluate("window.__before_resync = true")
        async with page.expect_navigation():
            for _ in range(10):
                record(world, "fire_alarm")
        await page.wait_for_function("() => document.getElementById('live-status').textContent === '实时'")
        assert await page.evaluate("window.__before_resync === undefined")
        assert await page.text_content(f'tr[data-id="{again}"] td[data-col=count]') == "11"

        # The server goes away: the indicator says so.
        live.feed.close()
        await page.wait_for_function(
            "() => document.getElementById('live-status').textContent === '连接中断，正在重连…'")
        assert errors == []
        await page.close()


async def test_the_alarm_calls_again_until_the_critical_alert_is_acknowledged(world: World) -> None:
    alert = world.fire(OTHER, "f1")

    def repeating_page(feed: LiveFeed) -> FastAPI:
        app = browser_app(feed)
        app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != "/"]

        @app.get("/")
        async def page() -> HTMLResponse:
            quick = PAGE.replace('<table id="alert-queue">', '<table id="alert-queue" data-alarm-repeat-s="0.5">')
            return HTMLResponse(quick, headers={"Content-Security-Policy": CSP})

        return app

    async with serve(world, app=repeating_page, queue_size=4) as live, chromium() as browser:
        page = await browser.new_page()
        await page.add_init_script(COUNT_OSCILLATORS)
        await page.goto(live.url + "/")
        await page.wait_for_function("() => document.querySelectorAll('#alert-queue tbody tr').length === 1")
        await page.mouse.click(5, 300)  # the gesture that allows sound
        await page.wait_for_function("() => window.__alarms >= 3")  # the first call, then again and again
        world.service.acknowledge(alert.id, "user:ops")
        await page.wait_for_function("() => !document.querySelector('tr.critical-new')")
        settled = await page.evaluate("window.__alarms")
        await page.wait_for_timeout(1500)  # three periods: no call once acknowledged
        assert await page.evaluate("window.__alarms") == settled
        await page.close()


def test_the_page_of_the_test_uses_only_the_documented_hooks() -> None:
    # The contract the module docstring of live.js states, as this test's page uses it.
    script = (STATIC / "live.js").read_text(encoding="utf-8")
    for hook in ("alert-queue", "live-status", "sound-toggle", "sound-unlock", "data-live", "data-reconnecting",
                 "data-col", "critical-new", "localStorage", "AudioContext", "EventSource"):
        assert hook in script, hook
    assert "innerHTML" not in script and "eval(" not in script

