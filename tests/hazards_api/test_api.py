"""The hazard API end to end: httpx → FastAPI → the hazard store in a real PostgreSQL, and the
alert service the deadline alerts live in. Tokens as in tests/alerting_api: ops (operator, every
site), zhang (custodian of 城子崖遗址), li (custodian of 灵岩寺), sup (supervisor), 119 (agency,
城子崖遗址)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import psycopg

from alerts.model import AlertStatus
from relic_guard.alerting.records import AlertSnapshot, TimelineEntry
from relic_guard.audit import AuditEntry
from relic_guard.hazards import model
from relic_guard.hazards.alerting import raise_hazard_notice
from relic_guard.hazards.api import SEVERITY_LABELS, SOURCE_LABELS, STATUS_LABELS
from relic_guard.hazards.deadlines import Audience
from relic_guard.hazards.job import HazardNotice, NoticeKind
from relic_guard.hazards.model import Hazard, HazardSource, HazardStatus, Severity
from relic_guard.store import hazard_store, hazards
from tests.alerting_api.conftest import CUSTODIAN, OPS, OTHER, World, auth, error_of
from tests.alerts.support import SITE
from tests.hazards_api.conftest import add_hazard, png

OTHER_CUSTODIAN = auth("other-custodian-token")
SUPERVISOR = auth("supervisor-token")
AGENCY = auth("agency-token")
PHOTO = png()


def photo_evidence(sha: str, note: str = "木料已清运，通道畅通") -> dict[str, Any]:
    return {"evidence": [{"kind": "photo", "photo_sha256": sha, "note": note}]}


async def upload(api: httpx.AsyncClient, headers: dict[str, str], data: bytes = PHOTO) -> httpx.Response:
    return await api.post("/api/hazards/photos", headers=headers, files={"photo": ("fixed.png", data, "image/png")})


def open_deadline_alert(world: World, hazard: Hazard) -> str:
    """What the hazard job hands the alert service when the deadline has passed."""
    notice = HazardNotice(hazard.id, hazard.site_id, hazard.title, hazard.deadline, NoticeKind.OVERDUE, 1, 2,
                          (Audience.OWNER, Audience.DISTRICT_BUREAU))
    return raise_hazard_notice(world.service, notice).id


def snapshots(world: World, alert_id: str) -> list[AlertSnapshot]:
    return [item for item in world.journal.items if isinstance(item, AlertSnapshot) and item.alert.id == alert_id]


async def test_raise_from_an_alert_then_read_it_with_its_deadline_and_timeline(api: httpx.AsyncClient,
                                                                               world: World) -> None:
    alert = world.fire()
    answer = await api.post("/api/hazards", headers=OPS, json={
        "source": "alert", "source_ref": alert.id, "severity": "major", "owner": "王建国",
        "description": "主殿烟感报警，现场发现电线老化"})
    assert answer.status_code == 201, answer.text
    raised = answer.json()
    assert raised["site"] == SITE and raised["site_name"] == "城子崖遗址" and raised["district"] == "章丘区"
    assert raised["title"] == alert.title  # the alert's title when none is given
    # Found Friday 2026-11-27: ten working days for a major hazard end on Friday 2026-12-11.
    assert raised["deadline"] == "2026-12-11" and raised["working_days_left"] == 10 and not raised["overdue"]
    assert raised["labels"] == {"status": "待整改", "severity": "重大隐患", "source": "告警发现"}
    assert answer.headers["location"] == f"/api/hazards/{raised['id']}"

    detail = (await api.get(f"/api/hazards/{raised['id']}", headers=CUSTODIAN)).json()
    [created] = detail["events"]
    assert (created["kind"], created["actor"], created["label"]) == ("hazard.created", "user:ops", "登记隐患")
    assert created["detail"]["source_ref"] == alert.id
    audits = [item for item in world.journal.items if isinstance(item, AuditEntry)]
    assert [(a.kind, a.subject, a.actor) for a in audits] == [("hazard.created", f"hazard:{raised['id']}", "user:ops")]

    again = await api.post("/api/hazards", headers=OPS, json={"source": "alert", "source_ref": alert.id,
                                                               "severity": "general"})
    assert again.status_code == 409 and again.json()["hazard"] == raised["id"], again.text
    unknown = await api.post("/api/hazards", headers=OPS, json={"source": "alert", "source_ref": "nope",
                                                                 "severity": "general"})
    assert unknown.status_code == 422 and "source_ref" in error_of(unknown)
    wrong = await api.post("/api/hazards", headers=OPS, json={"source": "report", "site": SITE, "title": "x",
                                                               "severity": "general"})
    assert wrong.status_code == 422 and "hazard job" in error_of(wrong)


async def test_raise_from_an_inspection_in_chinese_and_the_refusals(api: httpx.AsyncClient, world: World) -> None:
    body = {"source": "inspection", "source_ref": "2026/site_evaluation/lingyan-si", "site": OTHER,
            "title": "千佛殿屋面瓦件松动", "severity": "general"}
    answer = await api.post("/api/hazards", headers=SUPERVISOR, json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["title"] == "千佛殿屋面瓦件松动" and answer.json()["site_name"] == "灵岩寺"
    assert answer.json()["owner"] == "site custodians"  # the registry names no custodian for 灵岩寺
    for headers in (CUSTODIAN, AGENCY):
        refused = await api.post("/api/hazards", headers=headers, json={**body, "site": SITE})
        assert refused.status_code == 403, refused.text
    outside = await api.post("/api/hazards", headers=OPS, json={**body, "site": "no-such-site"})
    assert outside.status_code == 404
    missing = await api.post("/api/hazards", headers=OPS, json={k: v for k, v in body.items() if k != "severity"})
    assert missing.status_code == 422 and "severity" in error_of(missing)


async def test_scope_answers_other_sites_hazards_as_unknown(api: httpx.AsyncClient, world: World, db: str) -> None:
    mine = add_hazard(db, world, site=SITE)
    theirs = add_hazard(db, world, site=OTHER, title="辟支塔周边杂草未清")
    listed = (await api.get("/api/hazards", headers=CUSTODIAN)).json()["hazards"]
    assert [h["id"] for h in listed] == [mine.id]
    everything = (await api.get("/api/hazards", headers=OPS)).json()["hazards"]
    assert {h["id"] for h in everything} == {mine.id, theirs.id}

    unknown = await api.get("/api/hazards/987654", headers=CUSTODIAN)
    hidden = await api.get(f"/api/hazards/{theirs.id}", headers=CUSTODIAN)
    assert unknown.status_code == hidden.status_code == 404
    assert error_of(hidden) == error_of(unknown).replace("987654", str(theirs.id))
    assert "灵岩寺" not in hidden.text and "辟支塔" not in hidden.text
    for verb, body in (("plan", {"plan": "明日清理"}), ("close", photo_evidence("a" * 64))):
        refused = await api.post(f"/api/hazards/{theirs.id}/{verb}", headers=CUSTODIAN, json=body)
        assert refused.status_code == 404, refused.text
    assert (await api.get("/api/hazards", headers=CUSTODIAN, params={"site": OTHER})).status_code == 404
    assert (await api.get("/api/hazards/not-a-number", headers=OPS)).status_code == 404
    assert (await api.get("/api/hazards", headers=AGENCY)).json()["hazards"][0]["id"] == mine.id


async def test_roles_custodian_plans_and_closes_agency_reads_center_cancels_and_reopens(
        api: httpx.AsyncClient, world: World, db: str) -> None:
    hazard = add_hazard(db, world, site=SITE)
    assert (await api.post(f"/api/hazards/{hazard.id}/plan", headers=AGENCY, json={"plan": "x"})).status_code == 403
    for verb in ("cancel", "reopen"):
        refused = await api.post(f"/api/hazards/{hazard.id}/{verb}", headers=CUSTODIAN, json={"reason": "重复"})
        assert refused.status_code == 403 and "custodian" in error_of(refused), refused.text
    planned = await api.post(f"/api/hazards/{hazard.id}/plan", headers=CUSTODIAN, json={"plan": "周六前清运木料"})
    assert planned.status_code == 200 and planned.json()["status"] == "rectifying", planned.text
    again = await api.post(f"/api/hazards/{hazard.id}/plan", headers=CUSTODIAN, json={"plan": "再计划"})
    assert again.status_code == 409 and again.json()["status"] == "rectifying", again.text
    assert "rectifying" in error_of(again)

    sha = (await upload(api, CUSTODIAN)).json()["sha256"]
    closed = await api.post(f"/api/hazards/{hazard.id}/close", headers=CUSTODIAN, json=photo_evidence(sha))
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["closed_by"] == "user:zhang"
    assert closed.json()["closed_on_time"] is True
    assert (await api.post(f"/api/hazards/{hazard.id}/reopen", headers=AGENCY, json={"reason": "x"})).status_code == 403

    world.later(3 * 86400)  # Monday: the new deadline counts from here
    reopened = await api.post(f"/api/hazards/{hazard.id}/reopen", headers=SUPERVISOR,
                              json={"reason": "复查发现通道再次堆放杂物"})
    assert reopened.status_code == 200, reopened.text
    body = reopened.json()
    assert body["status"] == "open" and body["evidence"] == [] and body["deadline"] > hazard.deadline.isoformat()
    events = (await api.get(f"/api/hazards/{hazard.id}", headers=OPS)).json()["events"]
    assert [e["kind"] for e in events] == ["hazard.created", "hazard.planned", "hazard.closed", "hazard.reopened"]
    cancelled = await api.post(f"/api/hazards/{hazard.id}/cancel", headers=OPS, json={"reason": "与 #1 重复"})
    assert cancelled.status_code == 200 and cancelled.json()["labels"]["status"] == "已撤销"
    final = await api.post(f"/api/hazards/{hazard.id}/reopen", headers=OPS, json={"reason": "x"})
    assert final.status_code == 409 and final.json()["status"] == "cancelled"


async def test_close_needs_evidence_and_says_what_to_attach(api: httpx.AsyncClient, world: World, db: str) -> None:
    hazard = add_hazard(db, world, site=SITE)
    bare = await api.post(f"/api/hazards/{hazard.id}/close", headers=CUSTODIAN, json={})
    assert bare.status_code == 422
    assert "without evidence" in error_of(bare) and "POST /api/hazards/photos" in error_of(bare)
    assert '"kind": "document"' in error_of(bare)
    no_note = await api.post(f"/api/hazards/{hazard.id}/close", headers=CUSTODIAN,
                             json={"evidence": [{"kind": "document", "url": "https://oa.example/整改报告.pdf"}]})
    assert no_note.status_code == 422 and "a note saying what the evidence shows" in error_of(no_note)
    not_uploaded = await api.post(f"/api/hazards/{hazard.id}/close", headers=CUSTODIAN,
                                  json=photo_evidence("b" * 64))
    assert not_uploaded.status_code == 422 and "upload it first" in error_of(not_uploaded)
    bad_kind = await api.post(f"/api/hazards/{hazard.id}/close", headers=CUSTODIAN,
                              json={"evidence": [{"kind": "video", "url": "x", "note": "y"}]})
    assert bad_kind.status_code == 422 and "photo" in error_of(bad_kind)
    assert (await api.get(f"/api/hazards/{hazard.id}", headers=OPS)).json()["status"] == "open"

    rejected = await upload(api, CUSTODIAN, b"<html>not a photo</html>")
    assert rejected.status_code == 415, rejected.text
    assert (await upload(api, AGENCY)).status_code == 403
    uploaded = await upload(api, CUSTODIAN)
    assert uploaded.status_code == 201 and uploaded.json()["content_type"] == "image/png", uploaded.text
    sha = uploaded.json()["sha256"]
    closed = await api.post(f"/api/hazards/{hazard.id}/close", headers=CUSTODIAN, json={"evidence": [
        {"kind": "photo", "photo_sha256": sha, "note": "清理后的通道"},
        {"kind": "document", "url": "https://oa.example/整改报告.pdf", "note": "整改报告"}]})
    assert closed.status_code == 200, closed.text
    [photo_item, document_item] = closed.json()["evidence"]
    assert document_item["url"].endswith("整改报告.pdf")
    picture = await api.get(photo_item["photo_url"], headers=AGENCY)
    assert picture.status_code == 200 and picture.content == PHOTO and picture.headers["content-type"] == "image/png"
    assert picture.headers["x-content-type-options"] == "nosniff"
    assert (await api.get(photo_item["photo_url"], headers=OTHER_CUSTODIAN)).status_code == 404
    twice = await api.post(f"/api/hazards/{hazard.id}/close", headers=CUSTODIAN, json=photo_evidence(sha))
    assert twice.status_code == 409 and twice.json()["status"] == "closed"


def notes(world: World, alert_id: str) -> list[tuple[str, object]]:
    return [(item.actor, item.detail.get("text")) for item in world.journal.items
            if isinstance(item, TimelineEntry) and item.alert_id == alert_id and item.kind == "note"]


async def test_closing_or_cancelling_ends_the_deadline_alert_counting_no_incident(
        api: httpx.AsyncClient, world: World, db: str) -> None:
    overdue = add_hazard(db, world, site=SITE, found_at=world.clock() - timedelta(days=40))
    duplicate = add_hazard(db, world, site=SITE, title="重复登记的通道隐患", found_at=world.clock() - timedelta(days=40))
    untouched = add_hazard(db, world, site=SITE, title="另一处隐患", found_at=world.clock() - timedelta(days=40))
    alerts = {hazard.id: open_deadline_alert(world, hazard) for hazard in (overdue, duplicate, untouched)}
    assert {a.id for a in world.service.open_alerts()} >= set(alerts.values())

    sha = (await upload(api, CUSTODIAN)).json()["sha256"]
    closed = await api.post(f"/api/hazards/{overdue.id}/close", headers=CUSTODIAN, json=photo_evidence(sha))
    assert closed.status_code == 200 and closed.json()["deadline_alert_resolved"] == alerts[overdue.id]
    assert closed.json()["closed_on_time"] is False
    assert world.service.get(alerts[overdue.id]) is None
    resolved = snapshots(world, alerts[overdue.id])[-1].alert
    # The reminders' condition ended: resolved without a classification, so no incident is counted.
    assert resolved.status is AlertStatus.RESOLVED and resolved.classification is None
    assert resolved.resolved_by == "user:zhang"
    assert resolved.condition_cleared_at is not None
    assert notes(world, alerts[overdue.id]) == [("user:zhang", f"隐患 {overdue.id} 已整改销号 / closed with evidence")]

    cancelled = await api.post(f"/api/hazards/{duplicate.id}/cancel", headers=OPS, json={"reason": "重复登记"})
    assert cancelled.status_code == 200 and cancelled.json()["deadline_alert_resolved"] == alerts[duplicate.id]
    ended = snapshots(world, alerts[duplicate.id])[-1].alert
    assert ended.status is AlertStatus.RESOLVED and ended.classification is None
    # Only the hazards dealt with lose their reminders.
    assert world.service.get(alerts[untouched.id]) is not None
    planned = await api.post(f"/api/hazards/{untouched.id}/plan", headers=OPS, json={"plan": "下周处理"})
    assert planned.json()["deadline_alert_resolved"] is None and world.service.get(alerts[untouched.id]) is not None


async def test_list_open_first_overdue_in_working_days_and_filters(api: httpx.AsyncClient, world: World,
                                                                   db: str) -> None:
    # Found Sunday 2026-10-18: twenty working days end on Friday 2026-11-13, ten working days before 11-27.
    late = add_hazard(db, world, site=SITE, found_at=world.clock() - timedelta(days=40))
    fresh = add_hazard(db, world, site=OTHER, severity=Severity.MAJOR)
    done = add_hazard(db, world, site=SITE, found_at=world.clock() - timedelta(days=50))
    with psycopg.connect(db, autocommit=True) as conn:
        hazard_store.transition(conn, done.id, lambda h: model.cancel(h, by="user:ops", now=world.clock(),
                                                                      reason="误登记"))
    listed = (await api.get("/api/hazards", headers=OPS)).json()
    assert listed["today"] == "2026-11-27"
    assert [h["id"] for h in listed["hazards"]] == [late.id, fresh.id, done.id]  # open by deadline, then finished
    first = listed["hazards"][0]
    assert (first["deadline"], first["overdue"], first["working_days_overdue"]) == ("2026-11-13", True, 10)
    assert first["working_days_left"] is None

    async def ids(**params: str) -> list[int]:
        answer = await api.get("/api/hazards", headers=OPS, params=params)
        assert answer.status_code == 200, answer.text
        return [h["id"] for h in answer.json()["hazards"]]

    assert await ids(overdue="true") == [late.id]
    assert await ids(overdue="false") == [fresh.id, done.id]
    assert await ids(status="open,rectifying") == [late.id, fresh.id]
    assert await ids(status="cancelled") == [done.id]
    assert await ids(severity="major") == [fresh.id]
    assert await ids(site=OTHER) == [fresh.id]
    bad = await api.get("/api/hazards", headers=OPS, params={"status": "fixed"})
    assert bad.status_code == 422 and bad.json()["choices"] == ["open", "rectifying", "closed", "cancelled"]
    assert (await api.get("/api/hazards", headers=OPS, params={"overdue": "maybe"})).status_code == 422
    assert date.fromisoformat(listed["hazards"][1]["deadline"]) > date(2026, 11, 27)


async def test_database_down_is_503_with_the_reason(down_api: httpx.AsyncClient) -> None:
    for answer in (await down_api.get("/api/hazards", headers=OPS),
                   await down_api.get("/api/hazards/1", headers=OPS),
                   await down_api.post("/api/hazards/1/plan", headers=OPS, json={"plan": "清理"})):
        assert answer.status_code == 503, answer.text
        assert "database" in error_of(answer) and answer.json()["history"].startswith("unavailable: ")
    assert (await down_api.get("/api/hazards")).status_code == 401  # authentication comes first


def test_hazard_status_words_cover_every_status() -> None:
    assert set(STATUS_LABELS) == set(HazardStatus) and set(SEVERITY_LABELS) == set(Severity)
    assert set(SOURCE_LABELS) == set(HazardSource)


async def test_the_photo_of_the_report_a_hazard_was_made_from_is_shown_with_it(api: httpx.AsyncClient, world: World,
                                                                               db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        report = hazards.add_report(conn, site_id=SITE, reported_by="user:zhang", description="东墙新裂缝约 30 厘米",
                                    photo=hazards.photo_of(PHOTO), at=world.clock())
        hazard = hazard_store.from_report(conn, report.id, severity=Severity.MAJOR, owner="王建国", by="relic-guard",
                                          now=world.clock())
    detail = (await api.get(f"/api/hazards/{hazard.id}", headers=CUSTODIAN)).json()
    sha = detail["events"][0]["detail"]["photo_sha256"]
    assert detail["labels"]["source"] == "保护员上报" and detail["title"] == "东墙新裂缝约 30 厘米"
    shown = await api.get(f"/api/hazards/{hazard.id}/photos/{sha}", headers=CUSTODIAN)
    assert shown.status_code == 200 and shown.content == PHOTO
    # Only through a hazard that names it: another hazard's address does not serve it.
    other = add_hazard(db, world, site=SITE)
    assert (await api.get(f"/api/hazards/{other.id}/photos/{sha}", headers=CUSTODIAN)).status_code == 404
    assert (await api.get(f"/api/hazards/{hazard.id}/photos/{sha}", headers=OTHER_CUSTODIAN)).status_code == 404
