"""The inspections' HTTP API through httpx against the daemon's app (create_app with a real
AlertService) and a real PostgreSQL: scope, roles, the lifecycle, findings, audit via the journal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from relic_guard.alerting.records import JournalItem
from relic_guard.alerting.service import AckLinks, AlertService
from relic_guard.alerting.tokens import Principal, Role, TokenStore
from relic_guard.api_routers import api_routers
from relic_guard.audit import AuditEntry
from relic_guard.hazards.model import HazardSource, Severity
from relic_guard.inspections import api as inspections_api
from relic_guard.inspections.annual import AnnualPolicy
from relic_guard.registry import Registry, Site
from relic_guard.store import hazard_store, inspection_store
from relic_guard.web import ReadinessProbe, create_app
from tests.alerts.support import context
from tests.inspections.conftest import CLEARED

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in China
SITES = {
    "lingyan-si": Site(id="lingyan-si", name="灵岩寺", district="长清区", level="全国重点文物保护单位", kind="古建筑",
                       custodians=("王建国",)),
    "xiaotangshan": Site(id="xiaotangshan", name="孝堂山郭氏墓石祠", district="长清区", level="全国重点文物保护单位",
                         kind="古建筑"),
    "fuxue-wenmiao": Site(id="fuxue-wenmiao", name="济南府学文庙", district="历下区", level="全国重点文物保护单位",
                          kind="古建筑"),
}
CHANGQING = frozenset({"lingyan-si", "xiaotangshan"})
TOKENS = {
    "admin": Principal("admin", Role.ADMIN, None),
    "sup": Principal("city.sup", Role.SUPERVISOR, None),
    "ops": Principal("ops", Role.OPERATOR, None),
    "zhang": Principal("zhang.wei", Role.CUSTODIAN, frozenset({"lingyan-si"})),
    "cq-bureau": Principal("cq.bureau", Role.AGENCY, CHANGQING),  # the district's bureau: 长清区 as a whole
    "cq-sup": Principal("cq.sup", Role.SUPERVISOR, CHANGQING),
}
EVALUATION = "2026/site_evaluation/lingyan-si"
SUPERVISION = "2026/district_supervision/长清区"
LIXIA = "2026/district_supervision/历下区"
DOWN_URL = "postgresql://relic@127.0.0.1:1/relic"  # nothing listens on port 1


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class ListJournal:
    items: list[JournalItem] = field(default_factory=list)

    def put(self, item: JournalItem) -> None:
        self.items.append(item)

    def audit_kinds(self) -> list[tuple[str, str, str]]:
        return [(i.kind, i.subject, i.actor) for i in self.items if isinstance(i, AuditEntry)]

@pytest.fixture
def db(database: str) -> Iterator[psycopg.Connection[Any]]:
    """The module's database holding this year's plan for SITES, nothing else."""
    with psycopg.connect(database, autocommit=True) as conn:
        for table in CLEARED:
            conn.execute(f"DELETE FROM {table}")
        inspection_store.ensure_year_plan(conn, 2026, SITES.values(), AnnualPolicy(), now=NOW, by="relic-guard",
                                          audit_key=None)
        yield conn


@pytest.fixture(scope="module")
def module_journal() -> ListJournal:
    return ListJournal()


@pytest.fixture
def journal(module_journal: ListJournal) -> ListJournal:
    module_journal.items.clear()
    return module_journal


def app_for(database_url: str, journal: ListJournal) -> Any:
    service = AlertService(ctx=context(sites=SITES.values()), sites=SITES, routing=None, journal=journal,
                           dispatcher=None, ack_links=AckLinks("https://guard.example/", b"k" * 32, 3600),
                           clock=lambda: NOW)
    probe = ReadinessProbe(database_url=database_url, broker_connected=lambda: True)
    return create_app(probe, service=service, tokens=TokenStore.of(TOKENS), database_url=database_url,
                      registry=Registry(sites=dict(SITES)))


@pytest.fixture(scope="module")
def app(database: str, module_journal: ListJournal) -> Any:
    """One app for the module: building it costs more than most tests here."""
    return app_for(database, module_journal)


@pytest.fixture
async def client(db: psycopg.Connection[Any], app: Any, journal: ListJournal) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://guard.test") as http:
        yield http


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["inspections"]]


def test_the_router_is_registered_for_the_daemon() -> None:
    assert inspections_api.make in api_routers()


@pytest.mark.parametrize(("token", "seen"), [
    ("admin", [LIXIA, SUPERVISION, "2026/site_evaluation/fuxue-wenmiao", EVALUATION,
               "2026/site_evaluation/xiaotangshan"]),
    ("sup", [LIXIA, SUPERVISION, "2026/site_evaluation/fuxue-wenmiao", EVALUATION, "2026/site_evaluation/xiaotangshan"]),
    # the monitoring center sees every site's evaluation, not the city's supervision of districts
    ("ops", ["2026/site_evaluation/fuxue-wenmiao", EVALUATION, "2026/site_evaluation/xiaotangshan"]),
    # a custodian: their site's evaluation only, not the district's supervision
    ("zhang", [EVALUATION]),
    # the district's bureau (scope: every site of 长清区): its supervision and its sites'
    ("cq-bureau", [SUPERVISION, EVALUATION, "2026/site_evaluation/xiaotangshan"]),
])
async def test_each_caller_sees_what_their_scope_covers(client: httpx.AsyncClient, token: str, seen: list[str]) -> None:
    assert ids(await client.get("/api/inspections", headers=auth(token))) == seen


async def test_filters_and_labels(client: httpx.AsyncClient) -> None:
    assert ids(await client.get("/api/inspections", params={"year": 2026, "district": "长清区",
                                                             "kind": "site_evaluation"}, headers=auth("admin"))) == [
        EVALUATION, "2026/site_evaluation/xiaotangshan"]
    assert ids(await client.get("/api/inspections", params={"status": "done"}, headers=auth("admin"))) == []
    assert ids(await client.get("/api/inspections", params={"year": 2025}, headers=auth("admin"))) == []
    body = (await client.get("/api/inspections", params={"kind": "district_supervision"}, headers=auth("sup"))).json()
    assert body["year"] == 2026  # this year in China, by the service's clock
    first = body["inspections"][0]
    assert (first["target_name"], first["due_on"], first["status"], first["overdue"], first["labels"]["kind"],
            first["labels"]["status"]) == ("历下区", "2026-11-30", "planned", False, "区县年度督察", "待安排")
    refused = await client.get("/api/inspections", params={"kind": "yearly"}, headers=auth("admin"))
    assert refused.status_code == 422 and "district_supervision" in refused.json()["error"]
    assert (await client.get("/api/inspections")).status_code == 401


async def test_one_inspection_with_its_record_chinese_id_and_all(client: httpx.AsyncClient) -> None:
    for path in (f"/api/inspections/{SUPERVISION}", f"/api/inspections/{quote(SUPERVISION, safe='')}"):
        found = await client.get(path, headers=auth("cq-bureau"))
        assert found.status_code == 200, found.text
        body = found.json()
        assert (body["id"], body["district"], body["site_id"]) == (SUPERVISION, "长清区", None)
        assert [(e["kind"], e["actor"]) for e in body["events"]] == [("inspection.planned", "relic-guard")]
    site = (await client.get(f"/api/inspections/{EVALUATION}", headers=auth("zhang"))).json()
    assert (site["site_name"], site["target_name"]) == ("灵岩寺", "灵岩寺")
    # Outside the scope reads exactly as unknown.
    hidden = await client.get(f"/api/inspections/{SUPERVISION}", headers=auth("zhang"))
    unknown = await client.get("/api/inspections/2026/site_evaluation/nowhere", headers=auth("zhang"))
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error"].replace(SUPERVISION, "X") == unknown.json()["error"].replace(
        "2026/site_evaluation/nowhere", "X")
    assert (await client.get(f"/api/inspections/{LIXIA}", headers=auth("cq-sup"))).status_code == 404


async def test_assign_is_for_supervisors_and_goes_to_the_record_and_the_journal(
        client: httpx.AsyncClient, db: psycopg.Connection[Any], journal: ListJournal) -> None:
    for token in ("ops", "cq-bureau"):
        refused = await client.post(f"/api/inspections/{EVALUATION}/assign", json={"to": ["zhang.wei"]},
                                    headers=auth(token))
        assert refused.status_code == 403 and "supervisor" in refused.json()["error"]
    outside = await client.post(f"/api/inspections/{LIXIA}/assign", json={"to": ["x"]}, headers=auth("cq-sup"))
    assert outside.status_code == 404
    done = await client.post(f"/api/inspections/{EVALUATION}/assign", json={"to": "zhang.wei,li.na"},
                             headers=auth("cq-sup"))
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["assignees"]) == ("assigned", ["zhang.wei", "li.na"])
    assert journal.audit_kinds() == [("inspection.assigned", f"inspection:{EVALUATION}", "user:cq.sup")]
    bad = await client.post(f"/api/inspections/{EVALUATION}/assign", json={"to": [7]}, headers=auth("sup"))
    assert bad.status_code == 422 and "list of logins" in bad.json()["error"]
    assert [e.kind for e in inspection_store.events(db, EVALUATION)] == ["inspection.planned", "inspection.assigned"]


async def test_the_assignee_completes_with_findings_that_become_hazards(
        client: httpx.AsyncClient, db: psycopg.Connection[Any], journal: ListJournal) -> None:
    early = await client.post(f"/api/inspections/{EVALUATION}/complete", json={"rating": "good", "summary": "好"},
                              headers=auth("sup"))
    assert early.status_code == 409 and early.json()["inspection_status"] == "planned"
    assert "assign it first" in early.json()["error"]
    await client.post(f"/api/inspections/{EVALUATION}/assign", json={"to": ["zhang.wei"]}, headers=auth("sup"))
    body = {"rating": "fair", "summary": "千佛殿消防设施基本完好",
            "findings": [{"title": "配电箱线路老化", "description": "千佛殿东侧", "severity": "major"}],
            "attachments": [{"url": "https://wwj.example/records/7", "note": "检查记录表"}]}
    not_assigned = await client.post(f"/api/inspections/{EVALUATION}/complete", json=body, headers=auth("ops"))
    assert not_assigned.status_code == 403 and "zhang.wei" in not_assigned.json()["error"]
    done = await client.post(f"/api/inspections/{EVALUATION}/complete", json=body, headers=auth("zhang"))
    assert done.status_code == 200, done.text
    answer = done.json()
    [hazard] = hazard_store.list_open(db, {"lingyan-si"})
    assert (hazard.title, hazard.severity, hazard.source, hazard.source_ref, hazard.owner) == (
        "配电箱线路老化", Severity.MAJOR, HazardSource.INSPECTION, EVALUATION, "王建国")
    assert (answer["status"], answer["rating"], answer["labels"]["rating"], answer["done_on"]) == (
        "done", "fair", "中", "2026-06-01")
    assert answer["findings"] == [{"title": "配电箱线路老化", "description": "千佛殿东侧", "severity": "major",
                                   "site_id": "lingyan-si", "hazard_id": hazard.id}]
    assert answer["attachments"] == [{"url": "https://wwj.example/records/7", "note": "检查记录表"}]
    assert [kind for kind, _, _ in journal.audit_kinds()] == [
        "inspection.assigned", "hazard.created", "inspection.completed"]
    again = await client.post(f"/api/inspections/{EVALUATION}/complete", json=body, headers=auth("zhang"))
    assert again.status_code == 409 and again.json()["inspection_status"] == "done"


@pytest.mark.parametrize(("body", "words"), [
    ({"summary": "好"}, "rating: missing"),
    ({"rating": "good"}, "summary: missing"),
    ({"rating": "great", "summary": "好"}, "good, fair or poor"),
    ({"rating": "good", "summary": "好", "findings": [{"title": "裂缝", "severity": "grave"}]},
     "findings[1].severity"),
    ({"rating": "good", "summary": "好", "findings": {"title": "裂缝"}}, "list of objects"),
    ({"rating": "good", "summary": "好", "attachments": [{"note": "照片"}]}, "exactly one reference"),
    ({"rating": "good", "summary": "好", "attachments": [{"photo_sha256": "e" * 64, "note": "照片"}]},
     "no stored photo"),
])
async def test_a_completion_that_cannot_be_recorded_is_422_and_writes_nothing(
        client: httpx.AsyncClient, db: psycopg.Connection[Any], body: dict[str, Any], words: str) -> None:
    await client.post(f"/api/inspections/{EVALUATION}/assign", json={"to": ["zhang.wei"]}, headers=auth("sup"))
    refused = await client.post(f"/api/inspections/{EVALUATION}/complete", json=body, headers=auth("zhang"))
    assert refused.status_code == 422 and words in refused.json()["error"], refused.text
    assert [e.kind for e in inspection_store.events(db, EVALUATION)][-1] == "inspection.assigned"


async def test_a_supervision_is_completed_by_the_city_with_findings_at_named_sites(
        client: httpx.AsyncClient, db: psycopg.Connection[Any]) -> None:
    await client.post(f"/api/inspections/{SUPERVISION}/assign", json={"to": ["city.sup"]}, headers=auth("sup"))
    finding = {"title": "未建立文物安全档案", "severity": "general"}
    unnamed = await client.post(f"/api/inspections/{SUPERVISION}/complete", headers=auth("sup"),
                                json={"rating": "poor", "summary": "区级检查流于形式", "findings": [finding]})
    assert unnamed.status_code == 422 and "name the site of 长清区" in unnamed.json()["error"]
    done = await client.post(f"/api/inspections/{SUPERVISION}/complete", headers=auth("sup"),
                             json={"rating": "poor", "summary": "区级检查流于形式",
                                   "findings": [{**finding, "site": "xiaotangshan"}]})
    assert done.status_code == 200, done.text
    assert [h.site_id for h in hazard_store.list_open(db)] == ["xiaotangshan"]


async def test_cancel_is_for_supervisors_and_ends_the_inspection(client: httpx.AsyncClient) -> None:
    refused = await client.post(f"/api/inspections/{EVALUATION}/cancel", json={"reason": "闭馆"}, headers=auth("zhang"))
    assert refused.status_code == 403
    empty = await client.post(f"/api/inspections/{EVALUATION}/cancel", json={"reason": " "}, headers=auth("sup"))
    assert empty.status_code == 422
    done = await client.post(f"/api/inspections/{EVALUATION}/cancel", json={"reason": "全年闭馆修缮"},
                             headers=auth("admin"))
    assert (done.status_code, done.json()["status"], done.json()["cancel_reason"]) == (200, "cancelled", "全年闭馆修缮")
    after = await client.post(f"/api/inspections/{EVALUATION}/assign", json={"to": ["x"]}, headers=auth("admin"))
    assert after.status_code == 409 and after.json()["inspection_status"] == "cancelled"


async def test_without_the_database_the_answer_is_503_with_the_reason() -> None:
    journal = ListJournal()
    transport = httpx.ASGITransport(app=app_for(DOWN_URL, journal))
    async with httpx.AsyncClient(transport=transport, base_url="http://guard.test") as http:
        listed = await http.get("/api/inspections", headers=auth("admin"))
        assert listed.status_code == 503 and listed.json()["history"].startswith("unavailable: ")
        write = await http.post(f"/api/inspections/{EVALUATION}/cancel", json={"reason": "闭馆"}, headers=auth("admin"))
        assert write.status_code == 503 and "nothing was changed" in write.json()["error"]
    assert journal.items == []
