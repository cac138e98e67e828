"""Logging in and out, sessions, CSRF, throttling, and the API through the session."""

from __future__ import annotations

import httpx

from relic_guard.dashboard.app import COOKIE
from tests.dashboard.conftest import PASSWORD, Dashboard, csrf_of, log_in


async def test_pages_need_a_login_and_the_home_depends_on_the_role(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    page = await browser.get("/login")
    assert page.status_code == 200 and "登录" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]

    answer = await log_in(browser, "ops")
    assert answer.status_code == 303 and answer.headers["location"] == "/queue"
    cookie = answer.cookies[COOKIE]
    assert len(cookie) > 30
    assert "httponly" in answer.headers["set-cookie"].lower()
    home = await browser.get("/")
    assert home.headers["location"] == "/queue"


async def test_custodians_land_on_the_mobile_page(browser: httpx.AsyncClient) -> None:
    answer = await log_in(browser, "wang")
    assert answer.headers["location"] == "/m"


async def test_wrong_password_then_throttled(browser: httpx.AsyncClient) -> None:
    for _ in range(5):
        answer = await log_in(browser, "ops", "wrong password!!")
        assert answer.status_code == 401 and "账号或密码不正确" in answer.text
    answer = await log_in(browser, "ops")  # the right password, but too many failures just now
    assert answer.status_code == 429 and "秒后再试" in answer.text
    assert COOKIE not in answer.cookies


async def test_unknown_login_fails_like_a_wrong_password(browser: httpx.AsyncClient) -> None:
    answer = await log_in(browser, "nobody")
    assert answer.status_code == 401 and "账号或密码不正确" in answer.text


async def test_english_on_request(browser: httpx.AsyncClient) -> None:
    switched = await browser.get("/lang/en?next=/login")
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    page = await browser.get("/login")
    assert "Log in" in page.text and 'lang="en"' in page.text


async def test_open_redirects_are_refused(browser: httpx.AsyncClient) -> None:
    answer = await browser.post("/login", data={"login": "ops", "password": PASSWORD, "next": "//evil.example/x"})
    assert answer.headers["location"] == "/queue"


async def test_the_api_accepts_the_session_and_wants_csrf_on_post(
    dashboard: Dashboard, browser: httpx.AsyncClient
) -> None:
    alert = dashboard.world.fire()
    await log_in(browser, "ops")
    listed = await browser.get("/api/alerts?status=open", headers={"accept": "application/json"})
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["alerts"]] == [alert.id]
    refused = await browser.post(f"/api/alerts/{alert.id}/ack")
    assert refused.status_code == 403
    login_page = await browser.get("/login")
    csrf = csrf_of(login_page.text)
    acked = await browser.post(f"/api/alerts/{alert.id}/ack", headers={"x-csrf-token": csrf})
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "user:ops"


async def test_custodian_session_sees_only_their_site(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    other = dashboard.world.fire(site_id="lingyan-si", device="f1")
    await log_in(browser, "wang")
    answer = await browser.get(f"/api/alerts/{other.id}", headers={"accept": "application/json"})
    assert answer.status_code == 404


async def test_logout_ends_the_session(browser: httpx.AsyncClient) -> None:
    await log_in(browser, "ops")
    csrf = csrf_of((await browser.get("/login")).text)
    answer = await browser.post("/logout", data={"csrf": csrf})
    assert answer.status_code == 303
    assert (await browser.get("/")).status_code == 303
    assert (await browser.get("/api/alerts", headers={"accept": "application/json"})).status_code == 401


async def test_a_note_lands_on_the_timeline(dashboard: Dashboard, browser: httpx.AsyncClient) -> None:
    alert = dashboard.world.fire()
    await log_in(browser, "ops")
    csrf = csrf_of((await browser.get("/login")).text)
    answer = await browser.post(f"/api/alerts/{alert.id}/note", json={"note": "已电话联系王建国，正在赶往现场"},
                                headers={"x-csrf-token": csrf})
    assert answer.status_code == 200, answer.text
    notes = [i for i in dashboard.world.journal.items if getattr(i, "kind", None) == "note"]
    assert [(n.actor, n.detail["text"]) for n in notes] == [("user:ops", "已电话联系王建国，正在赶往现场")]
    refused = await browser.post(f"/api/alerts/{alert.id}/note", json={"note": "  "}, headers={"x-csrf-token": csrf})
    assert refused.status_code == 422
