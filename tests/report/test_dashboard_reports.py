"""`/reports` on the dashboard: supervisors and administrators see the reports made and ask for one;
a district's files go to whoever sees the whole district, the city summary to those who see every
site; everyone else is refused. Reports are made by the job (tests/report/test_job.py): here the
record is written as the job writes it, with small files, so the page is tested on its own."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from relic_guard.alerting.service import AckLinks, AlertService
from relic_guard.alerting.tokens import Role, TokenStore
from relic_guard.audit import AuditEntry
from relic_guard.dashboard.app import CSP
from relic_guard.dashboard.pages import dashboard_deps
from relic_guard.dashboard.users import hash_password
from relic_guard.embedded import EmbeddedPostgres
from relic_guard.registry import Registry
from relic_guard.report import records
from relic_guard.report.make import CONTENT_TYPES, WrittenFile
from relic_guard.store.registry_sync import sync_registry
from relic_guard.store.schema import migrate
from relic_guard.web import ReadinessProbe, create_app
from tests.alerting_api.conftest import Clock, ListJournal
from tests.alerts.support import context
from tests.dashboard.conftest import PASSWORD
from tests.report import world
from tests.report.world import LIXIA, NOW, ZHANGQIU

# login -> (name, role, sites)
USERS = {
    "chief": ("市局督察员", Role.SUPERVISOR, ()),
    "lixia-sup": ("历下区督察员", Role.SUPERVISOR, ("fuxue", "museum", "jiefangge")),
    "admin": ("管理员", Role.ADMIN, ()),
    "ops": ("值班员", Role.OPERATOR, ()),
}


@dataclass
class Center:
    app: FastAPI
    journal: ListJournal
    url: str


@pytest.fixture(scope="module")
def database(pg_server: EmbeddedPostgres) -> Iterator[str]:
    name = f"report_pages_{os.getpid()}"
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/{name}"
    digest = hash_password(PASSWORD)  # argon2 is slow by design: once for the module
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        sync_registry(conn, registry())
        for login, (name_, role, sites) in USERS.items():
            conn.execute("INSERT INTO users (login, name, role, sites, password_hash) VALUES (%s, %s, %s, %s, %s)",
                         (login, name_, role.value, list(sites), digest))
    yield url
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def registry() -> Registry:
    found = Registry()
    for site in world.SITES:
        found.add_site(site)
    return found


@pytest.fixture
def center(database: str) -> Iterator[Center]:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DELETE FROM annual_report_files")
        conn.execute("DELETE FROM annual_reports")
    sites = registry()
    journal = ListJournal()
    service = AlertService(ctx=context(sites=sites.sites.values()), sites=sites.sites, routing=None,
                           journal=journal, dispatcher=None, ack_links=AckLinks("https://guard.example/", b"k" * 32, 60),
                           clock=Clock(NOW))
    deps = dashboard_deps(service, sites, database, "http://guard.test")
    app = create_app(ReadinessProbe(database_url=database, broker_connected=lambda: True), service=service,
                     tokens=TokenStore(()), database_url=database, registry=sites, dashboard=deps)
    yield Center(app, journal, database)


@asynccontextmanager
async def logged_in(app: FastAPI, login: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://guard.test",
                                 headers={"accept": "text/html"}) as client:
        answer = await client.post("/login", data={"login": login, "password": PASSWORD, "next": "/reports"})
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def made_report(url: str) -> int:
    """A report of every district, recorded as the job records it."""
    files = []
    for district in (LIXIA, ZHANGQIU, "全市"):
        stem = f"2025-{district}"
        files += [WrittenFile(f"{stem}.pdf", district, CONTENT_TYPES[".pdf"], f"%PDF-1.7 {district}".encode()),
                  WrittenFile(f"{stem}.html", district, CONTENT_TYPES[".html"], f"<h1>{district}</h1>".encode()),
                  WrittenFile(f"{stem}-csv/summary.csv", district, CONTENT_TYPES[".csv"], "\ufeff指标\r\n".encode())]
    with psycopg.connect(url, autocommit=True) as conn:
        assert records.request_scheduled(conn, year=2025, by="relic-guard", now=NOW)
        with conn.transaction():
            claimed = records.claim(conn)
            assert claimed is not None
            records.finish(conn, claimed.id, files=files, folder="/srv/reports/2025", now=NOW)
    return claimed.id


async def test_a_supervisor_sees_the_reports_and_asks_for_one(center: Center) -> None:
    report_id = made_report(center.url)
    async with logged_in(center.app, "chief") as client:
        page = await client.get("/reports")
        assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
        html = page.text
        assert "年度督察报告" in html and '<a href="/reports" aria-current="page">年度报告</a>' in html
        assert "<script" not in html and 'http-equiv="refresh"' not in html
        pdf = f"/reports/{report_id}/files/{quote('2025-历下区.pdf')}"
        assert f'href="{pdf}"' in html and "全部区县及全市汇总" in html and "（年度自动生成）" in html
        assert html.count('class="report-district"') == 3 and "全市汇总" in html
        # the form offers the past year and every district
        assert 'value="2025"' in html and f'<option value="{LIXIA}"' in html and f'<option value="{ZHANGQIU}"' in html

        answer = await client.get(pdf)
        assert answer.status_code == 200 and answer.content == "%PDF-1.7 历下区".encode()
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["content-disposition"] == f"inline; filename*=UTF-8''{quote('2025-历下区.pdf')}"
        assert "sandbox" in answer.headers["content-security-policy"]
        table = await client.get(f"/reports/{report_id}/files/{quote('2025-全市-csv/summary.csv')}")
        assert table.status_code == 200 and table.headers["content-disposition"].startswith("attachment;")
        assert (await client.get(f"/reports/{report_id}/files/nothing.pdf")).status_code == 404

        asked = await client.post("/reports", data={"csrf": csrf_of(html), "year": "2025", "district": LIXIA})
        assert asked.status_code == 303 and asked.headers["location"].startswith("/reports?requested=")
        waiting = (await client.get(asked.headers["location"])).text
        assert "已提交生成申请" in waiting and "等待生成" in waiting and 'http-equiv="refresh"' in waiting
        # no CSRF token, a year to come, a district that is none: refused, nothing asked for
        assert (await client.post("/reports", data={"year": "2025"})).status_code == 403
        bad = await client.post("/reports", data={"csrf": csrf_of(html), "year": "2027", "district": ""})
        assert bad.status_code == 422 and "已经开始的年度" in bad.text
        bad = await client.post("/reports", data={"csrf": csrf_of(html), "year": "2025", "district": "别处"})
        assert bad.status_code == 403
    with psycopg.connect(center.url) as conn:
        waiting_rows = [r for r in records.recent(conn) if r.status == "requested"]
    assert [(r.year, r.district, r.requested_by) for r in waiting_rows] == [(2025, LIXIA, "user:chief")]
    audits = [item for item in center.journal.items if isinstance(item, AuditEntry)]
    assert [(a.kind, a.actor, dict(a.detail)) for a in audits] == [
        ("report.requested", "user:chief", {"year": 2025, "district": LIXIA})]


async def test_a_district_supervisor_sees_their_district_only(center: Center) -> None:
    report_id = made_report(center.url)
    async with logged_in(center.app, "lixia-sup") as client:
        html = (await client.get("/reports")).text
        assert html.count('class="report-district"') == 1 and ">全市汇总</span>" not in html
        assert quote("2025-全市.pdf") not in html and quote("2025-章丘区.pdf") not in html
        assert f'<option value="{ZHANGQIU}"' not in html and "全部区县及全市汇总</option>" not in html
        assert (await client.get(f"/reports/{report_id}/files/{quote('2025-历下区.pdf')}")).status_code == 200
        for other in ("2025-章丘区.pdf", "2025-全市.pdf"):
            assert (await client.get(f"/reports/{report_id}/files/{quote(other)}")).status_code == 404
        # the whole city is not theirs to ask for
        refused = await client.post("/reports", data={"csrf": csrf_of(html), "year": "2025", "district": ""})
        assert refused.status_code == 403


async def test_others_are_refused(center: Center) -> None:
    report_id = made_report(center.url)
    async with logged_in(center.app, "ops") as client:
        page = await client.get("/reports")
        assert page.status_code == 403 and "只有督察人员和管理员" in page.text
        assert 'href="/reports"' not in page.text.split("<main>")[0]  # no link in the navigation
        assert (await client.get(f"/reports/{report_id}/files/{quote('2025-历下区.pdf')}")).status_code == 404
    async with logged_in(center.app, "admin") as client:
        client.cookies.set("rg_lang", "en")
        english = (await client.get("/reports")).text
        assert "Annual supervision reports" in english and "Generate now" in english
