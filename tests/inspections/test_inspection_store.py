"""The inspection store against a real PostgreSQL: the year's plan, draws' inspections, moves with
their record and audit entries, findings tracked as hazards, and the overdue state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from relic_guard import audit
from relic_guard.audit import AuditEntry
from relic_guard.hazards.model import HazardSource, HazardStatus, Severity
from relic_guard.inspections.annual import (
    AnnualPolicy,
    Attachment,
    Finding,
    IllegalInspectionTransition,
    InspectionKind,
    InspectionStatus,
    InvalidInspection,
    OverdueState,
    Rating,
    UnknownInspection,
)
from relic_guard.inspections.draw import Inspector, PastInspection, Period, Target, draw
from relic_guard.registry import Site
from relic_guard.store import hazard_store, inspection_store
from relic_guard.store.hazards import photo_of
from tests.inspections.conftest import CLEARED

Conn = psycopg.Connection[Any]
KEY = bytes(range(32))
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in China
SITES = {
    "lingyan-si": Site(id="lingyan-si", name="灵岩寺", district="长清区", level="全国重点文物保护单位", kind="古建筑",
                       custodians=("王建国", "李秀兰")),
    "xiaotangshan": Site(id="xiaotangshan", name="孝堂山郭氏墓石祠", district="长清区", level="全国重点文物保护单位",
                         kind="古建筑"),
    "fuxue-wenmiao": Site(id="fuxue-wenmiao", name="济南府学文庙", district="历下区", level="全国重点文物保护单位",
                          kind="古建筑", custodians=("周文华",)),
}
EVALUATION = "2026/site_evaluation/lingyan-si"
SUPERVISION = "2026/district_supervision/长清区"
JPEG = b"\xff\xd8\xff\xe0" + "灵岩寺千佛殿".encode() * 8

@pytest.fixture
def db(database: str) -> Iterator[Conn]:
    """The module's database with no inspections, draws or hazards; the audit trail (which refuses
    deletion) keeps growing, so tests read it from where they started (`trail`)."""
    with psycopg.connect(database, autocommit=True) as conn:
        for table in CLEARED:
            conn.execute(f"DELETE FROM {table}")
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchone()
        _trail_start["seq"] = int(row[0]) if row else 0
        yield conn


_trail_start = {"seq": 0}


def plan(db: Conn, *, sites: dict[str, Site] = SITES, year: int = 2026, key: bytes | None = KEY) -> int:
    return inspection_store.ensure_year_plan(db, year, sites.values(), AnnualPolicy(), now=NOW, by="relic-guard",
                                             audit_key=key)


def trail(db: Conn) -> list[tuple[str, str]]:
    """The audit entries written since the test began."""
    rows = db.execute("SELECT kind, subject FROM audit_log WHERE seq > %s ORDER BY seq", (_trail_start["seq"],))
    return [(str(r[0]), str(r[1])) for r in rows.fetchall()]


def test_the_plan_is_written_once_with_its_record_and_audit_entries(db: Conn) -> None:
    assert plan(db) == 5  # two districts, three sites
    assert plan(db) == 0
    listed = inspection_store.list_inspections(db, year=2026)
    assert [i.id for i in listed] == [
        "2026/district_supervision/历下区", SUPERVISION, "2026/site_evaluation/fuxue-wenmiao", EVALUATION,
        "2026/site_evaluation/xiaotangshan"]
    evaluation = inspection_store.get(db, EVALUATION)
    assert evaluation is not None
    assert (evaluation.kind, evaluation.status, evaluation.target_name, evaluation.due_on, evaluation.updated_by) == (
        InspectionKind.SITE_EVALUATION, InspectionStatus.PLANNED, "灵岩寺", date(2026, 9, 30), "relic-guard")
    [planned] = inspection_store.events(db, SUPERVISION)
    assert (planned.kind, planned.actor, planned.at) == ("inspection.planned", "relic-guard", NOW)
    assert planned.detail == {"kind": "district_supervision", "year": 2026, "district": "长清区", "site_id": None,
                              "target_name": "长清区", "due_on": "2026-11-30"}
    assert len(trail(db)) == 5 and (("inspection.planned", f"inspection:{SUPERVISION}") in trail(db))
    assert audit.verify(db, KEY).intact


def test_a_site_added_later_is_planned_and_nothing_else_changes(db: Conn) -> None:
    plan(db)
    inspection_store.assign(db, EVALUATION, to=["zhang.wei"], by="user:sup", now=NOW, audit_key=KEY)
    more = {**SITES, "chengziya": Site(id="chengziya", name="城子崖遗址", district="章丘区", level="国保", kind="古遗址")}
    assert plan(db, sites=more) == 2  # its evaluation and its district's supervision
    again = inspection_store.get(db, EVALUATION)
    assert again is not None and again.status is InspectionStatus.ASSIGNED
    assert audit.verify(db, KEY).intact


def test_list_filters_by_district_kind_status_and_sites(db: Conn) -> None:
    plan(db)
    inspection_store.cancel(db, "2026/site_evaluation/xiaotangshan", reason="全年闭馆修缮", by="user:sup", now=NOW)

    def ids(**filters: Any) -> list[str]:
        return [i.id for i in inspection_store.list_inspections(db, year=2026, **filters)]

    assert ids(district="长清区") == [SUPERVISION, EVALUATION, "2026/site_evaluation/xiaotangshan"]
    assert ids(kind=InspectionKind.DISTRICT_SUPERVISION) == ["2026/district_supervision/历下区", SUPERVISION]
    assert ids(status=InspectionStatus.CANCELLED) == ["2026/site_evaluation/xiaotangshan"]
    assert ids(sites={"lingyan-si"}) == [EVALUATION]
    assert ids(sites=set()) == []
    assert inspection_store.list_inspections(db, year=2025) == []


def test_assign_complete_with_findings_and_photos_tracks_hazards(db: Conn) -> None:
    plan(db)
    later = NOW + timedelta(days=30)
    inspection_store.assign(db, EVALUATION, to=["zhang.wei", "li.na"], by="user:sup", now=NOW, audit_key=KEY)
    photo = photo_of(JPEG)
    done = inspection_store.complete(
        db, EVALUATION, rating="fair", summary="千佛殿消防设施基本完好，配电箱线路老化",
        findings=[Finding(title="配电箱线路老化", severity=Severity.MAJOR, description="千佛殿东侧"),
                  Finding(title="灭火器过期", severity=Severity.GENERAL)],
        attachments=[Attachment(note="配电箱照片", photo_sha256=photo.sha256),
                     Attachment(note="检查记录表", url="https://wwj.example/records/7")],
        photos=[photo], sites=SITES, by="user:zhang.wei", now=later, audit_key=KEY)
    assert (done.status, done.rating, done.done_on) == (InspectionStatus.DONE, Rating.FAIR, date(2026, 4, 1))
    hazards = hazard_store.list_open(db, {"lingyan-si"})  # nearest deadline first: the major one
    assert [(h.title, h.severity, h.owner, h.site_id, h.source, h.source_ref, h.status, h.found_at)
            for h in hazards] == [
        ("配电箱线路老化", Severity.MAJOR, "王建国", "lingyan-si", HazardSource.INSPECTION, EVALUATION,
         HazardStatus.OPEN, later),
        ("灭火器过期", Severity.GENERAL, "王建国", "lingyan-si", HazardSource.INSPECTION, EVALUATION, HazardStatus.OPEN,
         later)]
    assert [f.hazard_id for f in done.findings] == [h.id for h in hazards]
    assert inspection_store.get(db, EVALUATION) == done
    stored = db.execute("SELECT findings, attachments FROM inspections WHERE id = %s", (EVALUATION,)).fetchone()
    assert stored is not None and [f["hazard_id"] for f in stored[0]] == [h.id for h in hazards]
    assert stored[1][0] == {"note": "配电箱照片", "photo_sha256": photo.sha256}
    kept = db.execute("SELECT bytes FROM hazard_photos WHERE sha256 = %s", (photo.sha256,)).fetchone()
    assert kept is not None and bytes(kept[0]) == JPEG
    record = inspection_store.events(db, EVALUATION)
    assert [e.kind for e in record] == ["inspection.planned", "inspection.assigned", "inspection.completed"]
    assert record[-1].detail["findings"][1]["hazard_id"] == hazards[1].id  # type: ignore[index]
    kinds = [kind for kind, _ in trail(db)]
    assert kinds[-3:] == ["hazard.created", "hazard.created", "inspection.completed"]
    assert audit.verify(db, KEY).intact


def test_a_supervision_finding_becomes_a_hazard_at_the_named_site_of_the_district(db: Conn) -> None:
    plan(db)
    inspection_store.assign(db, SUPERVISION, to=["city.sup"], by="user:admin", now=NOW)
    with pytest.raises(InvalidInspection, match="not a registered site of 长清区; name one of: lingyan-si, xiaotangshan"):
        inspection_store.complete(
            db, SUPERVISION, rating="poor", summary="区级年度检查未覆盖全部文物点",
            findings=[Finding(title="未建立安全档案", severity=Severity.GENERAL, site_id="fuxue-wenmiao")],
            sites=SITES, by="user:city.sup", now=NOW)
    assert hazard_store.list_open(db) == []  # refused: nothing written, no hazard either
    done = inspection_store.complete(
        db, SUPERVISION, rating="poor", summary="区级年度检查未覆盖全部文物点",
        findings=[Finding(title="未建立安全档案", severity=Severity.GENERAL, site_id="xiaotangshan")],
        sites=SITES, by="user:city.sup", now=NOW)
    [hazard] = hazard_store.list_open(db)
    assert (hazard.site_id, hazard.owner, done.findings[0].hazard_id) == ("xiaotangshan", "site custodians", hazard.id)


def test_refusals_write_nothing(db: Conn) -> None:
    plan(db)
    with pytest.raises(IllegalInspectionTransition, match="assign it first"):
        inspection_store.complete(db, EVALUATION, rating="good", summary="好", sites=SITES, by="u", now=NOW)
    with pytest.raises(UnknownInspection, match="inspection list"):
        inspection_store.cancel(db, "2026/site_evaluation/nowhere", reason="x", by="u", now=NOW)
    inspection_store.assign(db, EVALUATION, to=["zhang.wei"], by="user:sup", now=NOW)
    with pytest.raises(InvalidInspection, match="no stored photo"):
        inspection_store.complete(db, EVALUATION, rating="good", summary="好", sites=SITES, by="u", now=NOW,
                                  attachments=[Attachment(note="照片", photo_sha256="d" * 64)])
    after = inspection_store.get(db, EVALUATION)
    assert after is not None and after.status is InspectionStatus.ASSIGNED
    assert [e.kind for e in inspection_store.events(db, EVALUATION)] == ["inspection.planned", "inspection.assigned"]


def test_without_the_key_the_audit_entries_are_handed_back_in_order(db: Conn) -> None:
    plan(db, key=None)
    deferred: list[AuditEntry] = []
    inspection_store.assign(db, EVALUATION, to=["zhang.wei"], by="user:sup", now=NOW, deferred=deferred)
    inspection_store.complete(db, EVALUATION, rating="good", summary="良好", sites=SITES, by="user:zhang.wei", now=NOW,
                              findings=[Finding(title="消防通道堆物", severity=Severity.GENERAL)], deferred=deferred)
    assert [(e.kind, e.subject, e.actor) for e in deferred] == [
        ("inspection.assigned", f"inspection:{EVALUATION}", "user:sup"),
        ("hazard.created", f"hazard:{hazard_store.list_open(db)[0].id}", "user:zhang.wei"),
        ("inspection.completed", f"inspection:{EVALUATION}", "user:zhang.wei"),
    ]
    assert trail(db) == []


def test_two_moves_at_once_get_one_move_and_one_refusal(db: Conn, database: str) -> None:
    plan(db)
    inspection_store.assign(db, EVALUATION, to=["zhang.wei"], by="user:sup", now=NOW)
    with psycopg.connect(database) as first, psycopg.connect(database, autocommit=True) as second:
        first.execute("SELECT 1")  # a transaction in progress: the cancel below stays uncommitted, its row locked
        inspection_store.cancel(first, EVALUATION, reason="闭馆", by="user:sup", now=NOW)
        second.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            inspection_store.complete(second, EVALUATION, rating="good", summary="好", sites=SITES, by="u", now=NOW)
        first.commit()
        with pytest.raises(IllegalInspectionTransition, match="it is cancelled"):
            inspection_store.complete(second, EVALUATION, rating="good", summary="好", sites=SITES, by="u", now=NOW)


# Draws ---------------------------------------------------------------------------------------------------


def drawn() -> tuple[Any, Period]:
    period = Period.parse("2026-Q3")
    result = draw(
        inspectors=[Inspector(id="JN-XF-0107", name="张建华", unit="济南市消防救援支队"),
                    Inspector(id="JN-ZF-0310", name="陈立新", unit="济南市文化市场综合执法支队")],
        targets=[Target(id="LX-001", name="明湖书院旧址", district="历下区", unit="历下区文物保护所"),
                 Target(id="lingyan-si", name="灵岩寺", district="长清区", unit="灵岩寺管理处")],
        history=[], period=period, count=2, seed="2026年7月1日 公证抽签", per_target=2)
    return result, period


def stored_draw(db: Conn, result: Any) -> int:
    row = db.execute(
        "INSERT INTO draws (period, period_start, period_end, seed, count, per_target, algorithm, fingerprint, input, "
        "result, drawn_at, drawn_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (result.period.label, result.period.start, result.period.end, result.seed, result.count, result.per_target,
         "relic-guard draw v1", result.fingerprint, Jsonb({}), Jsonb({}), NOW, "user:sup"),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_draw_makes_assigned_fire_inspections_once(db: Conn) -> None:
    result, period = drawn()
    draw_id = stored_draw(db, result)
    ids = inspection_store.create_from_draw(db, draw_id=draw_id, result=result, now=NOW, by="user:sup", audit_key=KEY)
    assert ids == [f"draw/{draw_id}/{a.target.id}" for a in result.assignments] and len(ids) == 2
    assert inspection_store.create_from_draw(db, draw_id=draw_id, result=result, now=NOW, by="user:sup",
                                             audit_key=KEY) == ids
    made = inspection_store.get(db, f"draw/{draw_id}/LX-001")
    assert made is not None
    team = next(a for a in result.assignments if a.target.id == "LX-001").inspectors
    assert (made.kind, made.status, made.assignees, made.due_on, made.site_id, made.target_name, made.district,
            made.draw_id, made.year) == (
        InspectionKind.FIRE_RANDOM, InspectionStatus.ASSIGNED, tuple(i.id for i in team), period.end, "LX-001",
        "明湖书院旧址", "历下区", draw_id, 2026)
    [event] = inspection_store.events(db, made.id)
    assert (event.kind, event.detail["draw_id"], event.detail["assignees"]) == (
        "inspection.drawn", draw_id, [i.id for i in team])
    assert [k for k, _ in trail(db)] == ["inspection.drawn", "inspection.drawn"]
    assert audit.verify(db, KEY).intact


def test_draw_history_is_the_done_fire_inspections_before_the_day(db: Conn) -> None:
    result, _ = drawn()
    draw_id = stored_draw(db, result)
    inspection_store.create_from_draw(db, draw_id=draw_id, result=result, now=NOW, by="user:sup", audit_key=None)
    first = f"draw/{draw_id}/LX-001"
    on = datetime(2026, 8, 3, 2, 0, tzinfo=UTC)
    inspection_store.complete(db, first, rating="good", summary="消防设施完好", sites=SITES, by="user:sup", now=on)
    db.execute("UPDATE inspections SET reinspection = true WHERE id = %s", (f"draw/{draw_id}/lingyan-si",))
    inspection_store.complete(db, f"draw/{draw_id}/lingyan-si", rating="fair", summary="复查：已整改", sites=SITES,
                              by="user:sup", now=on + timedelta(days=1))
    plan(db)  # evaluations of the same sites do not count for the draw
    history = inspection_store.draw_history(db, ["LX-001", "lingyan-si", "SZ-001"], before=date(2026, 9, 1))
    assert history == [PastInspection(target_id="LX-001", on=date(2026, 8, 3)),
                       PastInspection(target_id="lingyan-si", on=date(2026, 8, 4), reinspection=True)]
    assert inspection_store.draw_history(db, ["LX-001"], before=date(2026, 8, 3)) == []
    assert inspection_store.draw_history(db, [], before=date(2026, 9, 1)) == []


# Overdue state ---------------------------------------------------------------------------------------------


def test_overdue_state_rows_are_made_locked_and_kept(db: Conn) -> None:
    plan(db)
    evaluation = inspection_store.get(db, EVALUATION)
    assert evaluation is not None
    assert [i.id for i in inspection_store.open_past_due(db, date(2026, 10, 1))] == [
        "2026/site_evaluation/fuxue-wenmiao", EVALUATION, "2026/site_evaluation/xiaotangshan"]
    assert inspection_store.open_past_due(db, date(2026, 9, 30)) == []
    assert inspection_store.overdue_states(db, [EVALUATION]) == {}
    with db.transaction():
        state = inspection_store.locked_overdue_state(db, evaluation, NOW)
        assert state == OverdueState(date(2026, 9, 30), 0)
        inspection_store.store_overdue_state(db, EVALUATION, OverdueState(date(2026, 9, 30), 1), NOW)
    assert inspection_store.overdue_states(db, [EVALUATION, SUPERVISION]) == {
        EVALUATION: OverdueState(date(2026, 9, 30), 1)}

