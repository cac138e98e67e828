"""Browser tests of the monitoring center: Debian's Chromium, driven by Playwright, against
`relic-guard run` with a real Mosquitto and PostgreSQL.

    chromium      one browser per module (/usr/bin/chromium; never a downloaded one)
    center        one daemon for the package, with its broker, database, routing and dashboard users
    open_page     a fresh browser context (cookies, viewport) per call, logged in if asked;
                  a failing test leaves a screenshot of every page it had open
    shot          a screenshot under test-artifacts/browser/, named for what it shows

The tests share the daemon, so each raises its alarms on devices and zones of its own
(`DEVICES`): fire alarms of one (site, zone) join one alert, and a test must see its own.

The sync Playwright API runs its own event loop in a greenlet and, between calls, leaves it marked
as the thread's running loop. So it is used from plain (non-async) tests only, and the browser is
module-scoped: it is gone before any other module's async tests ask pytest-asyncio for a loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from relic_guard.embedded import EmbeddedMosquitto, EmbeddedPostgres
from tests.alerts_channels.receiver import Receiver
from tests.conftest import note_for_summary
from tests.e2e.harness import Daemon, Publisher, kill_leftover_daemons, write_registry

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]
# Playwright's own wait would be 30 s; a page that has not answered in 10 has failed.
PAGE_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class User:
    login: str
    name: str
    role: str
    sites: tuple[str, ...]
    password: str


USERS = {
    user.login: user
    for user in (
        User("ops", "值班员", "operator", (), "duty-desk-night-shift"),
        User("wang", "王建国", "custodian", ("chengziya",), "chengziya-gate-key"),
        User("zhang", "张伟", "custodian", ("lingyan-si",), "lingyan-bell-tower"),
    )
}

# (site, device) → zone. Every test raises its alarms on devices of its own, each in a zone of
# its own, so each alarm opens a new alert even with the alerts of earlier tests still open.
DEVICES = {
    ("chengziya", "smoke-queue"): "东配殿",
    ("chengziya", "smoke-lang"): "西配殿",
    ("chengziya", "smoke-scope"): "南门楼",
    ("chengziya", "smoke-phone"): "碑廊",
    ("lingyan-si", "smoke-scope"): "大雄宝殿",
    ("lingyan-si", "smoke-phone"): "辟支塔",
}
EXTRA_DEVICES = "".join(f"{site},{device},fire,smoke_detector,{zone},,\n" for (site, device), zone in DEVICES.items())


HOOK_SECRET = "browser-hook-secret"


def _hook(receiver: Receiver, path: str) -> str:
    return f'{{ kind = "webhook", target = "{receiver.url(path)}", secret_ref = "env:RG_BROWSER_HOOK_SECRET" }}'


def write_routing(path: Path, receiver: Receiver) -> Path:
    """Every recipient the registry's sites need, each a webhook into `receiver`: the daemon
    notifies as in production, and no notification leaves the machine."""
    recipients = [
        ("center", "监控中心值班台", "monitoring_center"),
        ("custodian-wang", "王建国", "custodians"),
        ("custodian-li", "李秀兰", "custodians"),
        ("custodian-zhang", "张伟", "custodians"),
        ("119", "119指挥中心", "fire_brigade"),
        ("110", "110指挥中心", "police"),
        ("wwj", "文物局安全科", "culture_bureau"),
        ("zhifa", "综合执法支队", "law_enforcement"),
    ]
    text = "".join(
        f'[[recipient]]\nid = "{rid}"\nname = "{name}"\naudience = "{audience}"\n'
        f"channels = [{_hook(receiver, '/' + rid)}]\n\n"
        for rid, name, audience in recipients
    )
    text += '[[route]]\nname = "everyone"\nrecipients = ["center", "119", "110", "wwj", "zhifa"]\n'
    path.write_text(text, encoding="utf-8")
    return path


# Chromium ------------------------------------------------------------------------------------


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Run scripts/test, which "
                    "installs it (apt-get install chromium fonts-noto-cjk), or install those two packages.",
                    pytrace=False)


@pytest.fixture(scope="package", autouse=True)
def _browser_run() -> None:
    """Before anything is started: the browser must be there. (The screenshot folder is emptied
    when the run starts, by tests/conftest.py, so it holds this run's pictures only.)"""
    require_chromium()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# The daemon ------------------------------------------------------------------------------------


@dataclass
class Center:
    """A running daemon, the broker it listens to, and an operator's API session."""

    daemon: Daemon
    publisher: Publisher
    receiver: Receiver  # where every notification goes
    api: httpx.Client

    @property
    def base_url(self) -> str:
        return self.daemon.base_url

    def url(self, path: str) -> str:
        return self.daemon.base_url + path

    def fire(self, site: str, device: str) -> float:
        """Publish a smoke detector's fire alarm (QoS 1, acknowledged by the broker); returns the
        monotonic time just before the publish, for latency measurements."""
        zone = DEVICES[(site, device)]
        now_ms = int(time.time() * 1000)
        started = time.monotonic()
        self.publisher.publish_json(f"relic/{site}/fire/{device}/event",
                                    {"type": "fire_alarm", "zone": zone, "component": "smoke_detector",
                                     "ts": now_ms, "id": f"{site}-{device}-{now_ms}"})
        return started

    def open_alert(self, site: str, device: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The open alert the device's alarm raised, as the API (operator's session) shows it."""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self.api.get("/api/alerts", params={"site": site})
            answer.raise_for_status()
            for alert in answer.json()["alerts"]:
                mine = alert["device"] == device or device in alert.get("devices", ())
                if mine and alert["status"] not in ("resolved", "false_alarm"):
                    return dict(alert)
            if time.monotonic() > deadline:
                raise AssertionError(f"no open alert from {site}/{device} in {timeout_s} s: {answer.text[:2000]}\n"
                                     f"daemon log:\n{self.daemon.log()[-3000:]}")
            time.sleep(0.05)


def add_user(daemon: Daemon, user: User) -> None:
    """A dashboard user, made with the command an administrator types. It migrates the database
    first, under PostgreSQL's advisory lock as the daemon does, so several run side by side with
    each other and with the daemon's start."""
    env = daemon.env()
    # The daemon's metrics folder is the daemon's: a one-off command keeps its metrics in memory.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "relic_guard.cli", "user", "add", user.login, "--name", user.name,
               "--role", user.role, "--password-stdin"]
    for site in user.sites:
        command += ["--site", site]
    done = subprocess.run(command, input=user.password + "\n", env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, f"relic-guard user add {user.login}: {done.stdout}{done.stderr}"


def http_login(base_url: str, login: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=10)
    answer = client.post("/login", data={"login": login, "password": USERS[login].password, "next": "/"})
    if answer.status_code != 303:
        client.close()
        raise AssertionError(f"login as {login}: {answer.status_code} {answer.text[:500]}")
    return client


@pytest.fixture(scope="package")
def center(tmp_path_factory: pytest.TempPathFactory, pg_server: EmbeddedPostgres) -> Iterator[Center]:
    """One daemon for the browser tests: their alarms are on devices and zones of their own, so
    they cannot disturb each other, and starting it once saves seconds per module."""
    base = tmp_path_factory.mktemp("browser")
    os.chmod(base, 0o755)  # Mosquitto drops to its own user and must reach its folder
    database = f"browser_{os.getpid()}"
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    database_url = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/{database}"
    broker = EmbeddedMosquitto(base_dir=base / "mosquitto")
    with contextlib.ExitStack() as stack:
        stack.callback(_drop_database, pg_server, database)
        broker.start()
        stack.callback(broker.stop)
        receiver = stack.enter_context(Receiver())
        daemon = Daemon(broker.url, database_url, write_registry(base / "registry", EXTRA_DEVICES), base / "daemon",
                        workers=1,
                        extra_env={"RELIC_GUARD_ALERTS_ROUTING_FILE": str(write_routing(base / "routing.toml",
                                                                                          receiver)),
                                   "RG_BROWSER_HOOK_SECRET": HOOK_SECRET})
        daemon.extra_env["RELIC_GUARD_ALERTS_PUBLIC_URL"] = daemon.base_url
        stack.callback(kill_leftover_daemons)  # after a failed stop: nothing outlives the tests
        with ThreadPoolExecutor(len(USERS)) as pool:
            adding = [pool.submit(add_user, daemon, user) for user in USERS.values()]
            daemon.start()
            stack.callback(daemon.stop)
            for future in adding:
                future.result()
        publisher = Publisher(broker.port, client_id=f"browser-{database}")
        stack.callback(publisher.close)
        api = http_login(daemon.base_url, "ops")
        stack.callback(api.close)
        yield Center(daemon, publisher, receiver, api)


def _drop_database(server: EmbeddedPostgres, name: str) -> None:
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Pages -------------------------------------------------------------------------------------------

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    # Kept on the item, so a fixture's teardown knows whether its test failed.
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def report(line: str) -> None:
    """A measurement, listed at the end of the run (passed or failed, quiet or not): kept in a
    file, because with parallel test workers the summary is printed by another process."""
    note_for_summary(line)
    print(line)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as test-artifacts/browser/<name>.png (the name says what it shows)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{slug(name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    note_for_summary(f"screenshot: {path.relative_to(ROOT)}")
    return path


def log_in(page: Page, base_url: str, login: str) -> str:
    """Log in through the form, as a person does; returns the path the login page sent us to."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", USERS[login].password)
    with page.expect_navigation():
        page.click("form.login-form button[type=submit]")
    path = re.sub(r"^https?://[^/]+", "", page.url)
    assert not path.startswith("/login"), f"login as {login} failed: still on {path}: {page.inner_text('main')}"
    return path


@dataclass
class Pages:
    """Browser contexts opened by one test; see `open_page`."""

    browser: Browser
    base_url: str
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __call__(self, login: str | None = None, **options: Any) -> Page:
        """A page in a fresh context (own cookies), logged in as `login` when given. `options`
        go to `new_context` (viewport, is_mobile …); the default is a desk's screen, in Chinese,
        on Beijing time."""
        settings: dict[str, Any] = {"viewport": {"width": 1440, "height": 900}, "locale": "zh-CN",
                                    "timezone_id": "Asia/Shanghai"}
        settings.update(options)
        context = self.browser.new_context(**settings)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        # A script that throws on a page is a bug of that page, whatever the test checks.
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        if login is not None:
            log_in(page, self.base_url, login)
        return page


@pytest.fixture
def open_page(request: pytest.FixtureRequest, chromium: Browser, center: Center) -> Iterator[Pages]:
    pages = Pages(chromium, center.base_url)
    try:
        yield pages
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        failed = any(outcome.failed for outcome in reports.values())
        if failed:
            for n, context in enumerate(pages.contexts):
                for m, page in enumerate(context.pages):
                    with contextlib.suppress(Exception):
                        saved = shot(page, f"FAILED-{request.node.name}-{n}{m}")
                        print(f"screenshot of the failed page {page.url}: {saved}")
        for context in pages.contexts:
            with contextlib.suppress(Exception):
                context.close()
    if pages.errors and not failed:
        pytest.fail("scripts threw on the pages:\n" + "\n".join(pages.errors), pytrace=False)


def rgba(css_color: str) -> tuple[float, float, float, float]:
    """`rgb(255, 59, 48)` / `rgba(255, 59, 48, 0.35)` → (r, g, b, alpha)."""
    numbers = [float(x) for x in re.findall(r"[\d.]+", css_color)]
    assert len(numbers) in (3, 4), css_color
    return (numbers[0], numbers[1], numbers[2], numbers[3] if len(numbers) == 4 else 1.0)


def dump(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)[:3000]

