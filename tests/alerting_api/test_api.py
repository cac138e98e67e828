"""The alert API against a real AlertService: authentication, scope, commands, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from alerts.model import AlertStatus
from relic_guard.alerting.records import DeliveryRecord, TimelineEntry
from sensors.model import Source, StatusChange
from tests.alerts.support import SITE

from .conftest import CUSTODIAN, DOWN_URL, OPS, OTHER, World, auth, client_for, error_of

# Probes ---------------------------------------------------------------------------------


async def test_probes_need_no_token(down_client: httpx.AsyncClient) -> None:
    assert (await down_client.get("/healthz")).json() == {"status": "ok"}
    ready = await down_client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"].startswith("unreachable")


# Authentication ------------------------------------------------------------------------------


async def test_missing_token_is_401_saying_how_to_authenticate(down_client: httpx.AsyncClient) -> None:
    response = await down_client.get("/api/alerts")
    assert response.status_code == 401
    assert "Authorization: Bearer <token>" in error_of(response)
    assert "relic-guard token new" in error_of(response)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nope", "Basic b3BzOm9wcw==", "Bearer ", "op-token"])
async def test_bad_or_malformed_token_is_401(down_client: httpx.AsyncClient, header: str) -> None:
    response = await down_client.get("/api/sites", headers={"Authorization": header})
    assert response.status_code == 401
    assert "Bearer" in error_of(response)


async def test_every_api_route_needs_a_token(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    for method, path in [
        ("GET", f"/api/alerts/{alert.id}"),
        ("POST", f"/api/alerts/{alert.id}/ack"),
        ("POST", f"/api/alerts/{alert.id}/assign"),
        ("POST", f"/api/alerts/{alert.id}/resolve"),
        ("GET", f"/api/sites/{SITE}"),
        ("GET", f"/api/sites/{SITE}/readings?device=d1&metric=t"),
        ("GET", "/api/deliveries/undelivered"),
    ]:
        response = await down_client.request(method, path)
        assert response.status_code == 401, path
    assert world.service.get(alert.id) is not None
    assert world.service.get(alert.id).status is AlertStatus.OPEN  # type: ignore[union-attr]


async def test_no_tokens_configured_says_so(world: World) -> None:
    from relic_guard.web import ReadinessProbe, create_app

    app = create_app(ReadinessProbe(database_url=None, broker_connected=lambda: True), service=world.service)
    async with await client_for(app) as client:
        response = await client.get("/api/alerts", headers=OPS)
    assert response.status_code == 401
    assert "api_tokens_file" in error_of(response)


# Listing with the database down ---------------------------------------------------------------


async def test_open_alerts_answer_while_the_database_is_down(world: World, down_client: httpx.AsyncClient) -> None:
    first = world.fire()
    world.later(60)
    second = world.fire(OTHER, "f1")
    response = await down_client.get("/api/alerts", headers=OPS)
    assert response.status_code == 200
    body = response.json()
    assert [a["id"] for a in body["alerts"]] == [second.id, first.id]  # newest first
    assert body["history"].startswith("unavailable: ")
    shown = body["alerts"][1]
    assert shown["status"] == "open"
    assert shown["category"] == "fire"
    assert shown["opened_at"] == "2026-11-27T10:00:00.000+08:00"
    assert shown["site"]["name"] == "城子崖遗址"
    assert shown["labels"] == {"severity": "紧急", "category": "火警", "status": "待响应"}


async def test_filters(world: World, down_client: httpx.AsyncClient) -> None:
    world.fire()
    world.later(120)
    late = world.fire(OTHER, "f1")
    by_site = (await down_client.get(f"/api/alerts?site={OTHER}&status=open", headers=OPS)).json()
    assert [a["id"] for a in by_site["alerts"]] == [late.id]
    assert by_site["history"].startswith("not needed")
    since = (await down_client.get("/api/alerts?status=open&since=2026-11-27T10:01:00", headers=OPS)).json()
    assert [a["id"] for a in since["alerts"]] == [late.id]  # no offset: Beijing time
    none = (await down_client.get("/api/alerts?category=security", headers=OPS)).json()
    assert none["alerts"] == []
    bad = await down_client.get("/api/alerts?status=opened", headers=OPS)
    assert bad.status_code == 422
    assert "acknowledged" in error_of(bad)
    bad_time = await down_client.get("/api/alerts?since=yesterday", headers=OPS)
    assert bad_time.status_code == 422
    assert "RFC 3339" in error_of(bad_time)


async def test_detail_of_an_open_alert_from_memory_when_the_database_is_down(
    world: World, down_client: httpx.AsyncClient
) -> None:
    alert = world.fire()
    response = await down_client.get(f"/api/alerts/{alert.id}", headers=OPS)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == alert.id
    assert body["timeline"] == []
    assert body["history"].startswith("unavailable: ")
    missing = await down_client.get("/api/alerts/no-such-alert", headers=OPS)
    assert missing.status_code == 503  # it might be a closed alert: cannot tell without the database
    assert "cannot be read now" in error_of(missing)


# Scope ----------------------------------------------------------------------------------------------


async def test_a_custodian_sees_only_their_sites(world: World, down_client: httpx.AsyncClient) -> None:
    mine = world.fire()
    theirs = world.fire(OTHER, "f1")
    listed = (await down_client.get("/api/alerts", headers=CUSTODIAN)).json()
    assert [a["id"] for a in listed["alerts"]] == [mine.id]
    hidden = await down_client.get(f"/api/alerts/{theirs.id}", headers=CUSTODIAN)
    unknown = await down_client.get("/api/alerts/00000000-0000-0000-0000-000000000000", headers=CUSTODIAN)
    # Answered as an id that does not exist: with the database down, neither can be told from a closed alert.
    assert hidden.status_code == unknown.status_code == 503
    assert error_of(hidden).replace(theirs.id, "X") == error_of(unknown).replace(
        "00000000-0000-0000-0000-000000000000", "X")
    ack = await down_client.post(f"/api/alerts/{theirs.id}/ack", headers=CUSTODIAN)
    assert ack.status_code == 404
    assert world.service.get(theirs.id).status is AlertStatus.OPEN  # type: ignore[union-attr]
    sites = (await down_client.get("/api/sites", headers=CUSTODIAN)).json()
    assert [s["id"] for s in sites["sites"]] == [SITE]
    assert (await down_client.get(f"/api/sites/{OTHER}", headers=CUSTODIAN)).status_code == 404
    assert (await down_client.get(f"/api/alerts?site={OTHER}", headers=CUSTODIAN)).status_code == 404
    everything = (await down_client.get("/api/sites", headers=OPS)).json()
    assert [s["id"] for s in everything["sites"]] == [SITE, OTHER]
    assert everything["sites"][0]["open_alerts"] == 1


async def test_hidden_and_unknown_alerts_read_the_same_with_the_database_up(
    world: World, db_client: httpx.AsyncClient
) -> None:
    theirs = world.fire(OTHER, "f1")
    hidden = await db_client.get(f"/api/alerts/{theirs.id}", headers=CUSTODIAN)
    unknown = await db_client.get("/api/alerts/nope", headers=CUSTODIAN)
    assert hidden.status_code == unknown.status_code == 404
    assert error_of(hidden).replace(theirs.id, "X") == error_of(unknown).replace("nope", "X")


# Commands ------------------------------------------------------------------------------------


async def test_acknowledge_then_a_second_acknowledge_is_409(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    world.later(30)
    first = await down_client.post(f"/api/alerts/{alert.id}/ack", headers=OPS)
    assert first.status_code == 200
    assert first.json()["status"] == "acknowledged"
    assert first.json()["acknowledged_by"] == "user:ops"
    assert first.json()["acknowledged_at"] == "2026-11-27T10:00:30.000+08:00"
    second = await down_client.post(f"/api/alerts/{alert.id}/ack", headers=CUSTODIAN)
    assert second.status_code == 409
    assert error_of(second) == "already acknowledged by user:ops at 2026-11-27T10:00:30.000+08:00"
    entries = [i for i in world.journal.items if isinstance(i, TimelineEntry) and i.kind == "acknowledged"]
    assert [(e.alert_id, e.actor) for e in entries] == [(alert.id, "user:ops")]


async def test_roles(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    read_only = await down_client.post(f"/api/alerts/{alert.id}/ack", headers=auth("supervisor-token"))
    assert read_only.status_code == 403
    assert "supervisor" in error_of(read_only)
    assert (await down_client.get(f"/api/alerts/{alert.id}", headers=auth("supervisor-token"))).status_code == 200
    agency_resolve = await down_client.post(f"/api/alerts/{alert.id}/resolve", headers=auth("agency-token"),
                                            json={"classification": "fire"})
    assert agency_resolve.status_code == 403
    agency_ack = await down_client.post(f"/api/alerts/{alert.id}/ack", headers=auth("agency-token"))
    assert agency_ack.status_code == 200
    assert agency_ack.json()["acknowledged_by"] == "user:119"


async def test_assign(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    missing = await down_client.post(f"/api/alerts/{alert.id}/assign", headers=OPS, json={})
    assert missing.status_code == 422
    assert "to" in error_of(missing)
    not_json = await down_client.post(f"/api/alerts/{alert.id}/assign", headers=OPS, content=b"to=li")
    assert not_json.status_code == 422
    done = await down_client.post(f"/api/alerts/{alert.id}/assign", headers=CUSTODIAN, json={"to": "王师傅"})
    assert done.status_code == 200
    assert done.json()["assigned_to"] == "王师傅"
    assert done.json()["status"] == "open"


async def test_resolve_validation(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    url = f"/api/alerts/{alert.id}/resolve"
    bare = await down_client.post(url, headers=OPS)
    assert bare.status_code == 422
    assert "classification: required unless false_alarm is true" in error_of(bare)
    for choice in ("looting", "theft", "damage", "fire", "other_accident", "device_fault"):
        assert choice in error_of(bare)
    assert bare.json()["choices"] == ["looting", "theft", "damage", "fire", "other_accident", "device_fault"]
    wrong = await down_client.post(url, headers=OPS, json={"classification": "arson"})
    assert wrong.status_code == 422
    assert "'arson' is not a classification" in error_of(wrong)
    both = await down_client.post(url, headers=OPS, json={"false_alarm": True, "classification": "theft"})
    assert both.status_code == 422
    not_bool = await down_client.post(url, headers=OPS, json={"false_alarm": "yes"})
    assert not_bool.status_code == 422
    assert world.service.get(alert.id) is not None  # nothing above closed it
    done = await down_client.post(url, headers=OPS, json={"classification": "fire", "note": "厨房油锅起火，已扑灭"})
    assert done.status_code == 200
    assert done.json()["status"] == "resolved"
    assert done.json()["classification"] == "fire"
    assert done.json()["note"] == "厨房油锅起火，已扑灭"
    assert world.service.get(alert.id) is None


async def test_false_alarm(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    done = await down_client.post(f"/api/alerts/{alert.id}/resolve", headers=CUSTODIAN,
                                  json={"false_alarm": True, "note": "蒸汽误触发"})
    assert done.status_code == 200
    assert done.json()["status"] == "false_alarm"
    assert done.json()["resolved_by"] == "user:zhang"


async def test_commands_on_closed_or_unknown_alerts(world: World, db_client: httpx.AsyncClient, db: str) -> None:
    alert = world.fire()
    assert (await db_client.post(f"/api/alerts/{alert.id}/resolve", headers=OPS,
                                 json={"false_alarm": True})).status_code == 200
    world.write_journal(db)
    closed = await db_client.post(f"/api/alerts/{alert.id}/ack", headers=OPS)
    assert closed.status_code == 409
    assert "is closed already (false_alarm by user:ops at 2026-11-27T10:00:00.000+08:00)" in error_of(closed)
    again = await db_client.post(f"/api/alerts/{alert.id}/resolve", headers=OPS, json={"classification": "fire"})
    assert again.status_code == 409
    # A custodian of another site learns nothing, not even that it is closed.
    hidden = await db_client.post(f"/api/alerts/{alert.id}/ack", headers=auth("other-custodian-token"))
    assert hidden.status_code == 404
    unknown = await db_client.post("/api/alerts/nope/ack", headers=OPS)
    assert unknown.status_code == 404
    assert "no alert 'nope'" in error_of(unknown)


# History from the database ----------------------------------------------------------------------


async def test_closed_alerts_and_timeline_from_the_database(world: World, db_client: httpx.AsyncClient, db: str) -> None:
    closed = world.fire()
    world.later(20)
    await db_client.post(f"/api/alerts/{closed.id}/ack", headers=OPS)
    world.later(600)
    await db_client.post(f"/api/alerts/{closed.id}/resolve", headers=OPS, json={"classification": "other_accident"})
    world.later(60)
    still_open = world.fire()  # the zone's incident is closed: a new alarm opens a new alert
    assert still_open.id != closed.id
    world.write_journal(db)

    listed = (await db_client.get("/api/alerts", headers=OPS)).json()
    assert listed["history"] == "ok"
    assert [(a["id"], a["status"]) for a in listed["alerts"]] == [(still_open.id, "open"), (closed.id, "resolved")]
    only_closed = (await db_client.get("/api/alerts?status=closed", headers=CUSTODIAN)).json()
    assert [a["id"] for a in only_closed["alerts"]] == [closed.id]
    assert (await db_client.get("/api/alerts?status=closed", headers=auth("other-custodian-token"))).json()[
        "alerts"] == []

    detail = (await db_client.get(f"/api/alerts/{closed.id}", headers=CUSTODIAN)).json()
    assert detail["status"] == "resolved"
    assert detail["history"] == "ok"
    kinds = [(entry["kind"], entry["actor"]) for entry in detail["timeline"]]
    assert ("opened", "relic-guard") in kinds
    assert ("acknowledged", "user:ops") in kinds
    assert ("resolved", "user:ops") in kinds
    assert detail["timeline"][0]["at"] == "2026-11-27T10:00:00.000+08:00"


async def test_an_open_alert_not_yet_in_the_database_is_answered_from_memory(
    world: World, db_client: httpx.AsyncClient
) -> None:
    alert = world.fire()  # the journal has not written anything
    response = await db_client.get(f"/api/alerts/{alert.id}", headers=OPS)
    assert response.status_code == 200
    assert response.json()["history"] == "ok"
    assert response.json()["timeline"] == []


# Deliveries -----------------------------------------------------------------------------------------


def _failed(alert_id: str, delivery_id: str, at: datetime, recipient: str = "center-1") -> DeliveryRecord:
    return DeliveryRecord(
        delivery_id=delivery_id, alert_id=alert_id, event="alert.opened", recipient=recipient, channel="webhook",
        target="https://hooks.example/relic", fallback=False, delivered=False, attempts=5, status="HTTP 502",
        gave_up="attempts exhausted", started_at=at, finished_at=at + timedelta(seconds=40),
    )


async def test_undelivered_from_memory_and_database_scoped_by_site(
    world: World, db_client: httpx.AsyncClient, db: str
) -> None:
    mine = world.fire()
    theirs = world.fire(OTHER, "f1")
    world.journal.items.append(_failed(theirs.id, "db-1", world.clock()))
    world.write_journal(db)
    world.dispatcher.undelivered.append(_failed(mine.id, "mem-1", world.clock() + timedelta(seconds=5)))

    everything = (await db_client.get("/api/deliveries/undelivered", headers=OPS)).json()
    assert everything["history"] == "ok"
    assert [(d["delivery_id"], d["site"]) for d in everything["deliveries"]] == [("mem-1", SITE), ("db-1", OTHER)]
    assert everything["deliveries"][0]["status"] == "HTTP 502"
    assert everything["deliveries"][0]["finished_at"] == "2026-11-27T10:00:45.000+08:00"
    scoped = (await db_client.get("/api/deliveries/undelivered", headers=CUSTODIAN)).json()
    assert [d["delivery_id"] for d in scoped["deliveries"]] == ["mem-1"]
    # The alert's own page lists them too.
    detail = (await db_client.get(f"/api/alerts/{theirs.id}", headers=OPS)).json()
    assert [d["delivery_id"] for d in detail["deliveries"]] == ["db-1"]


async def test_undelivered_with_the_database_down(world: World, down_client: httpx.AsyncClient) -> None:
    mine = world.fire()
    world.dispatcher.undelivered.append(_failed(mine.id, "mem-1", world.clock()))
    body = (await down_client.get("/api/deliveries/undelivered", headers=CUSTODIAN)).json()
    assert body["history"].startswith("unavailable: ")
    assert [d["delivery_id"] for d in body["deliveries"]] == ["mem-1"]


# Sites and readings --------------------------------------------------------------------------------


async def test_site_detail_with_device_state(world: World, down_client: httpx.AsyncClient) -> None:
    world.fire()  # d1 is heard from
    world.later(5)
    world.service.on_record(StatusChange(SITE, "cam1", Source.VIDEO, False, world.clock()))
    body = (await down_client.get(f"/api/sites/{SITE}", headers=CUSTODIAN)).json()
    assert body["name"] == "城子崖遗址"
    assert body["open_hours"] == "08:30-17:00"
    devices = {d["id"]: d for d in body["devices"]}
    assert devices["d1"]["state"] == "online"
    assert devices["d1"]["zone"] == "主殿"
    assert devices["d1"]["source"] == "fire"
    assert devices["d1"]["heartbeat_s"] == 60
    assert devices["d1"]["last_seen"] == "2026-11-27T10:00:00.000+08:00"
    assert devices["d1"]["open_alerts"] == 1
    assert devices["cam1"]["state"] == "offline"
    assert devices["cam1"]["last_seen"] == "2026-11-27T10:00:05.000+08:00"
    assert {a["category"] for a in body["open_alerts"]} == {"fire", "device"}


async def test_readings(world: World, db_client: httpx.AsyncClient, db: str) -> None:
    base = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    with psycopg.connect(db, autocommit=True) as conn:
        for minute, value in [(0, 20.5), (10, 21.0), (20, 21.5)]:
            conn.execute(
                "INSERT INTO readings (ts, site_id, device_id, metric, value) VALUES (%s, %s, 'd1', 'temperature_c', %s)",
                (base + timedelta(minutes=minute), SITE, value),
            )
        conn.execute(
            "INSERT INTO readings (ts, site_id, device_id, metric, value) VALUES (%s, %s, 'f1', 'temperature_c', 99)",
            (base, OTHER),
        )
        conn.execute(
            "INSERT INTO readings_hourly (bucket, site_id, device_id, metric, n, avg, min, max) "
            "VALUES (%s, %s, 'd1', 'temperature_c', 3, 21.0, 20.5, 21.5)",
            (base, SITE),
        )
    url = f"/api/sites/{SITE}/readings?device=d1&metric=temperature_c&from=2026-11-27T09:00:00%2B08:00&to=2026-11-27T10:00:00%2B08:00"
    raw = await db_client.get(url, headers=CUSTODIAN)
    assert raw.status_code == 200
    body = raw.json()
    assert body["bucket"] == "raw"
    assert [(p["ts"], p["value"]) for p in body["points"]] == [
        ("2026-11-27T09:00:00.000+08:00", 20.5),
        ("2026-11-27T09:10:00.000+08:00", 21.0),
        ("2026-11-27T09:20:00.000+08:00", 21.5),
    ]
    hourly = (await db_client.get(url + "&bucket=hour", headers=CUSTODIAN)).json()
    assert hourly["points"] == [{"ts": "2026-11-27T09:00:00.000+08:00", "n": 3, "avg": 21.0, "min": 20.5,
                                 "max": 21.5}]
    # Default range: the 24 hours before now (the service's clock, 10:00 Beijing).
    default = (await db_client.get(f"/api/sites/{SITE}/readings?device=d1&metric=temperature_c",
                                   headers=CUSTODIAN)).json()
    assert len(default["points"]) == 3
    hidden = await db_client.get(f"/api/sites/{OTHER}/readings?device=f1&metric=temperature_c", headers=CUSTODIAN)
    assert hidden.status_code == 404
    bad = await db_client.get(f"/api/sites/{SITE}/readings?device=d1&metric=Temp", headers=CUSTODIAN)
    assert bad.status_code == 422
    wrong_bucket = await db_client.get(url + "&bucket=day", headers=CUSTODIAN)
    assert wrong_bucket.status_code == 422


async def test_readings_with_the_database_down(world: World) -> None:
    async with await client_for(world.app(DOWN_URL)) as client:
        response = await client.get(f"/api/sites/{SITE}/readings?device=d1&metric=temperature_c", headers=OPS)
    assert response.status_code == 503
    assert "readings cannot be read now" in error_of(response)
