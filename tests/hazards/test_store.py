"""The hazard store against a real PostgreSQL: create, transitions with evidence, reports, overdue."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from relic_guard import audit
from relic_guard.hazards import model
from relic_guard.hazards.model import (
    Evidence,
    EvidenceKind,
    HazardSource,
    HazardStatus,
    IllegalHazardTransition,
    MissingEvidence,
    Severity,
    UnknownHazard,
)
from relic_guard.store import hazard_store, hazards

Conn = psycopg.Connection[Any]
KEY = bytes(range(32))
FOUND = datetime(2024, 9, 25, 1, 0, tzinfo=UTC)  # 09:00 in China, Wednesday
NOW = datetime(2024, 9, 26, 2, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PHOTO = Evidence(EvidenceKind.PHOTO, "清理后的消防通道", photo_sha256="c" * 64)


def new(db: Conn, *, site: str = "jn-lingyansi", severity: Severity = Severity.MAJOR,
        found: datetime = FOUND, key: bytes | None = None) -> model.Hazard:
    return hazard_store.create(db, site_id=site, source=HazardSource.PATROL, source_ref="patrol-9",
                               title="消防通道堵塞", description="大殿东侧通道堆放木料", severity=severity,
                               owner="user:wang", found_at=found, by="user:li", now=NOW, audit_key=key)


def test_create_counts_the_deadline_in_working_days_and_records_it(db: Conn) -> None:
    hazard = new(db, key=KEY)
    assert hazard.deadline == date(2024, 10, 14) and hazard.status is HazardStatus.OPEN
    assert hazard_store.get(db, hazard.id) == hazard
    [created] = hazard_store.events(db, hazard.id)
    assert (created.kind, created.actor, created.at) == ("hazard.created", "user:li", NOW)
    assert created.detail["deadline"] == "2024-10-14"
    assert audit.verify(db, KEY).intact
    assert db.execute("SELECT kind, subject FROM audit_log").fetchall() == [("hazard.created", f"hazard:{hazard.id}")]


def test_transitions_with_evidence_and_the_refusals(db: Conn) -> None:
    hazard = new(db)
    later = NOW + timedelta(days=1)
    planned = hazard_store.transition(db, hazard.id, lambda h: model.plan(h, by="user:wang", now=later,
                                                                           plan_text="今日清运"))
    assert planned.status is HazardStatus.RECTIFYING and planned.plan == "今日清运"
    with pytest.raises(MissingEvidence):
        hazard_store.transition(db, hazard.id, lambda h: model.close(h, by="user:wang", now=later, evidence=[]))
    assert hazard_store.get(db, hazard.id) == planned  # refused: nothing written
    closed = hazard_store.transition(db, hazard.id, lambda h: model.close(h, by="user:wang", now=later,
                                                                           evidence=[PHOTO]), audit_key=KEY)
    assert hazard_store.get(db, hazard.id) == closed
    assert closed.evidence == (PHOTO,) and closed.closed_at == later
    with pytest.raises(IllegalHazardTransition):
        hazard_store.transition(db, hazard.id, lambda h: model.cancel(h, by="user:li", now=later, reason="重复"))
    reopened = hazard_store.transition(db, hazard.id, lambda h: model.reopen(h, by="user:li", now=later,
                                                                             reason="复查又发现堆物"))
    assert hazard_store.get(db, hazard.id) == reopened
    assert reopened.evidence == () and reopened.closed_at is None
    kinds = [e.kind for e in hazard_store.events(db, hazard.id)]
    assert kinds == ["hazard.created", "hazard.planned", "hazard.closed", "hazard.reopened"]
    assert hazard_store.events(db, hazard.id)[2].detail == {"evidence": [PHOTO.as_json()]}
    assert audit.verify(db, KEY).intact
    with pytest.raises(UnknownHazard, match="no hazard has id 999"):
        hazard_store.transition(db, 999, lambda h: model.cancel(h, by="u", now=later, reason="x"))


def test_the_table_refuses_a_close_without_evidence_from_any_writer(db: Conn) -> None:
    hazard = new(db)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("UPDATE hazards SET status = 'closed', closed_at = now() WHERE id = %s", (hazard.id,))


def test_two_people_moving_the_same_hazard_at_once_get_one_move(db: Conn, pg_url: str) -> None:
    hazard = new(db)
    outcomes: list[str] = []
    barrier = threading.Barrier(2, timeout=10)

    def move(step: Any) -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            barrier.wait()
            try:
                hazard_store.transition(conn, hazard.id, step)
                outcomes.append("moved")
            except IllegalHazardTransition:
                outcomes.append("refused")

    threads = [threading.Thread(target=move, args=(step,), daemon=True) for step in (
        lambda h: model.close(h, by="user:wang", now=NOW, evidence=[PHOTO]),
        lambda h: model.cancel(h, by="user:li", now=NOW, reason="重复"),
    )]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(outcomes) == ["moved", "refused"]
    assert len(hazard_store.events(db, hazard.id)) == 2


def test_a_custodians_report_becomes_a_tracked_hazard_once(db: Conn) -> None:
    reported_at = datetime(2025, 1, 20, 2, 0, tzinfo=UTC)  # Monday, a week before Spring Festival
    report = hazards.add_report(db, site_id="jn-xiaotangshan", reported_by="user:zhao",
                                description="祠堂西山墙出现新裂缝，约三十厘米，雨水渗入。\n照片见附件。",
                                photo=hazards.photo_of(JPEG), at=reported_at)
    hazard = hazard_store.from_report(db, report.id, severity=Severity.GENERAL, owner="user:sun", by="user:li",
                                      now=NOW, audit_key=KEY)
    assert (hazard.site_id, hazard.source, hazard.source_ref) == ("jn-xiaotangshan", HazardSource.REPORT,
                                                                  str(report.id))
    assert hazard.title == "祠堂西山墙出现新裂缝，约三十厘米，雨水渗入。"
    assert hazard.description == report.description and hazard.found_at == reported_at
    assert hazard.deadline == date(2025, 2, 21)  # 20 working days over the Spring Festival holiday
    [created] = hazard_store.events(db, hazard.id)
    assert created.detail["reported_by"] == "user:zhao"
    assert created.detail["photo_sha256"] == report.photo_sha256
    # asked again (a double click, a second triager): the same hazard, nothing new recorded
    again = hazard_store.from_report(db, report.id, severity=Severity.MAJOR, owner="user:x", by="user:y", now=NOW)
    assert again == hazard
    assert len(hazard_store.events(db, hazard.id)) == 1
    assert audit.verify(db, KEY).intact
    with pytest.raises(UnknownHazard, match="no hazard report has id 4242"):
        hazard_store.from_report(db, 4242, severity=Severity.MAJOR, owner="user:sun", by="user:li", now=NOW)


def test_open_and_overdue_lists(db: Conn) -> None:
    major = new(db)  # deadline 2024-10-14
    general = new(db, site="jn-xiaotangshan", severity=Severity.GENERAL)  # deadline 2024-10-28
    done = new(db)
    hazard_store.transition(db, done.id, lambda h: model.close(h, by="u", now=NOW, evidence=[PHOTO]))
    assert [h.id for h in hazard_store.list_open(db)] == [major.id, general.id]
    assert [h.id for h in hazard_store.list_open(db, sites={"jn-xiaotangshan"})] == [general.id]
    # the deadline day is still in time, in China's day: 10-14 23:30 in China is 15:30 UTC
    assert hazard_store.overdue(db, datetime(2024, 10, 14, 15, 30, tzinfo=UTC)) == []
    assert [h.id for h in hazard_store.overdue(db, datetime(2024, 10, 14, 16, 30, tzinfo=UTC))] == [major.id]
    assert [h.id for h in hazard_store.overdue(db, datetime(2024, 11, 1, tzinfo=UTC))] == [major.id, general.id]
