"""`/api/draws` over httpx against the daemon's app: drawing (supervisors and admins), reading
(anyone signed in: results are public), the publications, and the answers when things are missing."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest

from relic_guard.alerting.tokens import Principal, Role, TokenStore
from relic_guard.audit import AuditEntry
from relic_guard.inspections.draw import Period, draw
from relic_guard.inspections.draw_io import draw_csv, load_draw_input
from relic_guard.web import ReadinessProbe, create_app
from tests.alerting_api.conftest import DOWN_URL, OTHER, World, auth, client_for, error_of, make_world
from tests.alerts.support import SITE
from tests.inspections.test_draw_store import EXAMPLE, SEED

TOKENS = {
    "sup": Principal("督察员", Role.SUPERVISOR, None),
    "admin": Principal("admin", Role.ADMIN, None),
    "ops": Principal("ops", Role.OPERATOR, None),
    "custodian": Principal("zhang", Role.CUSTODIAN, frozenset({SITE})),
    "agency": Principal("119", Role.AGENCY, frozenset({OTHER})),
}
Q3 = {"period": "2026-Q3", "count": 4, "seed": SEED}


def app_for(world: World, database_url: str, pool_file: Path | None = EXAMPLE) -> httpx.AsyncClient:
    probe = ReadinessProbe(database_url=database_url, broker_connected=lambda: True)
    app = create_app(probe, service=world.service, tokens=TokenStore.of(TOKENS), database_url=database_url,
                     registry=world.registry, draw_pool_file=pool_file)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://guard.test")


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
async def client(world: World, pg_url: str) -> AsyncIterator[httpx.AsyncClient]:
    # The app's first write migrates nothing: the daemon's bootstrap does that, so do it here.
    from relic_guard.store.schema import migrate

    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
    async with app_for(world, pg_url) as http:
        yield http


def expected_q3() -> str:
    pool = load_draw_input(EXAMPLE)
    return draw_csv(draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history,
                         period=Period.parse("2026-Q3"), count=4, seed=SEED))


async def test_draw_read_and_publish(client: httpx.AsyncClient, world: World, pg_url: str) -> None:
    made = await client.post("/api/draws", json=Q3, headers=auth("sup"))
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["id"], body["created"], body["period"], body["drawn"], body["drawn_by"]) == (
        1, True, "2026-Q3", 4, "user:督察员")
    assert body["check"] == {"rerun": "matches", "problems": []}
    first = body["assignments"][0]
    assert first["target"] == "SZ-001" and first["mandatory"] is True
    assert first["inspection"] == {"id": "draw/1/SZ-001", "status": "assigned", "page": "/inspections/draw/1/SZ-001"}
    assert {s["target"]: s["reason"] for s in body["skipped"]} == {"HY-001": "yearly_limit"}
    # The audit entries went to the journal once the draw was committed.
    entries = [item for item in world.journal.items if isinstance(item, AuditEntry)]
    assert [(e.kind, e.actor) for e in entries] == [("draw.stored", "user:督察员")] + [
        ("inspection.drawn", "user:督察员")] * 4

    again = await client.post("/api/draws", json={**Q3, "period": "2026-q3"}, headers=auth("admin"))
    assert again.status_code == 200 and again.json()["id"] == 1 and again.json()["created"] is False
    assert len([item for item in world.journal.items if isinstance(item, AuditEntry)]) == 5

    # Public: a custodian of one site and an agency of another read the same draws.
    for token in ("custodian", "agency"):
        listed = await client.get("/api/draws", headers=auth(token))
        assert listed.status_code == 200
        assert [(d["id"], d["period"], d["fingerprint"]) for d in listed.json()["draws"]] == [
            (1, "2026-Q3", body["fingerprint"])]
    assert (await client.get("/api/draws?year=2025", headers=auth("ops"))).json() == {"draws": []}
    one = await client.get("/api/draws/1", headers=auth("agency"))
    assert one.status_code == 200 and one.json()["check"]["rerun"] == "matches"
    assert one.json()["input"]["targets"][0] == {"id": "CQ-001", "name": "莲台寺", "district": "长清区",
                                              "unit": "长清区文物管理所", "risk": "normal", "credit": "normal"}
    assert one.json()["links"] == {"self": "/api/draws/1", "csv": "/api/draws/1.csv", "html": "/api/draws/1.html",
                                   "pool": "/api/draws/1.toml"}

    as_csv = await client.get("/api/draws/1.csv", headers=auth("custodian"))
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.content.decode("utf-8") == expected_q3()
    assert 'filename="draw-1-2026-Q3.csv"' in as_csv.headers["content-disposition"]

    page = await client.get("/api/draws/1.html", headers=auth("custodian"))
    assert page.status_code == 200 and "西关关帝庙" in page.text and body["fingerprint"] in page.text
    assert "--input draw-1-input.toml" in page.text
    style = re.search(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode("utf-8")).digest()).decode("ascii")
    assert page.headers["content-security-policy"].startswith(f"default-src 'none'; style-src 'sha256-{digest}'")

    pool = await client.get("/api/draws/1.toml", headers=auth("custodian"))
    assert pool.status_code == 200
    assert len(tomllib.loads(pool.text)["inspected"]) == 6

    for path in ("/api/draws/2", "/api/draws/abc", "/api/draws/2.csv", "/api/draws/0.html",
                 "/api/draws/99999999999999999999"):
        missing = await client.get(path, headers=auth("ops"))
        assert missing.status_code == 404, path
    assert (await client.get("/api/draws/1")).status_code == 401

    # A row changed after the draw is not published, and says so.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE draws SET result = jsonb_set(result, '{assignments,0,inspectors,0,id}', "
                     "'\"JN-XF-9999\"')")
    refused = await client.get("/api/draws/1.csv", headers=auth("ops"))
    assert refused.status_code == 409 and "not published" in error_of(refused)
    assert any("drawn #1: stored SZ-001 (JN-XF-9999" in p for p in refused.json()["problems"])
    assert (await client.get("/api/draws/1", headers=auth("ops"))).json()["check"]["rerun"] == "differs"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**Q3, "period": "2026-13"}, "period: '2026-13': there is no month 13"),
        ({**Q3, "period": None}, "period: missing"),
        ({"period": "2026-Q3", "seed": SEED}, "count: missing"),
        ({**Q3, "count": True}, "count: must be a whole number, not bool"),
        ({**Q3, "count": -1}, "count: must be from 0 to"),
        ({**Q3, "per_target": 0}, "per_target: must be from 1 to 50"),
        ({**Q3, "seed": " "}, "seed: must not be empty"),
        ({**Q3, "seed": 7}, "seed: must be a string, not int"),
    ],
)
async def test_a_draw_request_says_what_is_wrong(world: World, body: dict[str, object], expected: str) -> None:
    async with app_for(world, DOWN_URL) as http:
        answer = await http.post("/api/draws", json=body, headers=auth("sup"))
    assert answer.status_code == 422 and expected in error_of(answer), answer.text


async def test_who_may_draw_and_what_drawing_needs(world: World, tmp_path: Path) -> None:
    async with app_for(world, DOWN_URL) as http:
        for token in ("ops", "custodian", "agency"):
            refused = await http.post("/api/draws", json=Q3, headers=auth(token))
            assert refused.status_code == 403 and "may read draws but not make them" in error_of(refused)
        assert (await http.post("/api/draws", json=Q3)).status_code == 401
        down = await http.post("/api/draws", json=Q3, headers=auth("sup"))
        assert down.status_code == 503 and error_of(down).startswith("the draw was not stored: ")
        listing = await http.get("/api/draws", headers=auth("ops"))
        assert listing.status_code == 503 and error_of(listing).startswith("draws cannot be read now: ")
        assert (await http.get("/api/draws?year=1999", headers=auth("ops"))).status_code == 422
    async with await client_for(create_app(
        ReadinessProbe(database_url=DOWN_URL, broker_connected=lambda: True), service=world.service,
        tokens=TokenStore.of(TOKENS), database_url=DOWN_URL, registry=world.registry,
    )) as http:
        unset = await http.post("/api/draws", json=Q3, headers=auth("sup"))
        assert unset.status_code == 503 and "set [inspections] pool_file" in error_of(unset)
    broken = tmp_path / "pool.toml"
    broken.write_text('[[inspector]]\nid = "I1"\n', encoding="utf-8")
    async with app_for(world, DOWN_URL, pool_file=broken) as http:
        invalid = await http.post("/api/draws", json=Q3, headers=auth("sup"))
    assert invalid.status_code == 503 and "is not valid" in error_of(invalid)
    assert any("name: is missing" in p for p in invalid.json()["problems"])
