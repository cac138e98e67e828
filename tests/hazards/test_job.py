"""The hazard job against a real PostgreSQL, as the schedule runner calls it (a fresh connection,
committed when the job returns), and its notices raised on a real AlertService."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
import pytest

from alerts.model import Audience as AlertAudience
from alerts.model import Category, Severity
from relic_guard.alerting.records import JournalItem
from relic_guard.alerting.service import AckLinks, AlertService
from relic_guard.batch import Batch
from relic_guard.hazards import model
from relic_guard.hazards.alerting import alert_key, raise_hazard_notice
from relic_guard.hazards.deadlines import Audience
from relic_guard.hazards.job import FALLBACK_OWNER, HazardNotice, NoticeKind, make_hazard_job
from relic_guard.hazards.model import Evidence, EvidenceKind, HazardSource, HazardStatus
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME, add_working_days
from relic_guard.registry import Site
from relic_guard.store import hazard_store
from relic_guard.store.writer import write_batch
from sensors.model import Event, Source
from tests.alerts.support import context

Conn = psycopg.Connection[Any]
SITE = "chengziya"
BARE = "lingyan-si"  # a site whose registry entry names no custodian
SITES = {
    SITE: Site(id=SITE, name="城子崖遗址", district="章丘区", level="national", kind="古遗址",
               custodians=("王建国", "李明")),
    BARE: Site(id=BARE, name="灵岩寺", district="长清区", level="national", kind="古建筑"),
}
REPORTED = datetime(2024, 9, 25, 1, 0, tzinfo=UTC)  # 09:00 in China, a Wednesday


def report(db: Conn, site: str = SITE, description: str = "大殿东侧消防通道堆放木料\n需清运") -> int:
    row = db.execute(
        "INSERT INTO hazard_reports (site_id, reported_by, description, reported_at) VALUES (%s, %s, %s, %s) "
        "RETURNING id", (site, "user:wang", description, REPORTED),
    ).fetchone()
    assert row is not None
    return int(row[0])


def at_nine(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=CHINA_STANDARD_TIME)


@dataclass
class Handed:
    batches: list[list[HazardNotice]] = field(default_factory=list)

    def __call__(self, notices: list[HazardNotice]) -> None:
        self.batches.append(notices)

    @property
    def all(self) -> list[HazardNotice]:
        return [notice for batch in self.batches for notice in batch]


def run(url: str, now: datetime, on_notices: Any) -> str:
    # As the schedule runner does: a fresh connection, committed when the job returns.
    with psycopg.connect(url) as conn:
        return make_hazard_job(SITES, on_notices)(conn, now)


def test_a_report_becomes_one_hazard_owned_by_the_first_custodian(db: Conn, pg_url: str) -> None:
    first, bare = report(db), report(db, BARE, "后院配电箱门未锁")
    handed = Handed()
    now = REPORTED + timedelta(hours=1)
    assert run(pg_url, now, handed) == "converted 2, checked 2, reminders 0, escalations 0"
    assert run(pg_url, now, handed) == "converted 0, checked 2, reminders 0, escalations 0"
    assert handed.batches == []  # nothing due: on_notices is not called for nothing
    hazards = {h.source_ref: h for h in hazard_store.list_open(db)}
    assert len(hazards) == 2
    made = hazards[str(first)]
    assert (made.source, made.severity, made.owner, made.title, made.site_id) == (
        HazardSource.REPORT, model.Severity.GENERAL, "王建国", "大殿东侧消防通道堆放木料", SITE)
    assert made.deadline == model.deadline_for(model.Severity.GENERAL, date(2024, 9, 25))
    assert hazards[str(bare)].owner == FALLBACK_OWNER
    [created] = hazard_store.events(db, made.id)
    assert (created.kind, created.actor) == ("hazard.created", "relic-guard")


def patrol_hazard(db: Conn, key: str, attrs: dict[str, object]) -> None:
    """A `patrol`/`hazard` event stored the way ingest stores it (a redelivery is the same row)."""
    event = Event(site=SITE, device="phone-wjg", source=Source.PATROL, type="hazard", ts=REPORTED,
                  event_key=key, attrs=attrs, received_at=REPORTED)
    write_batch(db, Batch(events=[event], messages=1))


def test_a_hazard_reported_on_patrol_is_tracked_once(db: Conn, pg_url: str) -> None:
    patrol_hazard(db, "hz-1", {"custodian": "王建国", "checkpoint": "south-gate", "note": "南门围栏破损\n约两米",
                               "photo": "https://files.example/hz-1.jpg", "lat": 36.71, "lon": 117.36})
    patrol_hazard(db, "hz-2", {"custodian": "王建国"})  # no note: still a hazard to follow
    handed = Handed()
    now = REPORTED + timedelta(hours=1)
    assert run(pg_url, now, handed) == "converted 2, checked 2, reminders 0, escalations 0"
    patrol_hazard(db, "hz-1", {"note": "redelivered"})  # the broker's redelivery: the same event
    assert run(pg_url, now, handed) == "converted 0, checked 2, reminders 0, escalations 0"
    made = {h.source_ref: h for h in hazard_store.list_open(db)}
    first = made["event:chengziya/phone-wjg/hz-1"]
    assert (first.source, first.severity, first.owner, first.title, first.description, first.found_at) == (
        HazardSource.PATROL, model.Severity.GENERAL, "王建国", "南门围栏破损", "南门围栏破损\n约两米", REPORTED)
    assert first.deadline == model.deadline_for(model.Severity.GENERAL, date(2024, 9, 25))
    assert made["event:chengziya/phone-wjg/hz-2"].title == "巡查发现隐患"
    created = hazard_store.events(db, first.id)[0]
    assert (created.kind, created.actor) == ("hazard.created", "relic-guard")
    assert created.detail["photo"] == "https://files.example/hz-1.jpg"
    assert created.detail["checkpoint"] == "south-gate"


def test_reminders_at_nine_two_working_days_before_then_escalation_once_each(db: Conn, pg_url: str) -> None:
    report(db)
    handed = Handed()
    run(pg_url, REPORTED, handed)
    [hazard] = hazard_store.list_open(db)
    remind_at = at_nine(add_working_days(hazard.deadline, -2))

    assert run(pg_url, remind_at - timedelta(minutes=1), handed).endswith("reminders 0, escalations 0")
    assert run(pg_url, remind_at, handed) == "converted 0, checked 1, reminders 1, escalations 0"
    assert run(pg_url, remind_at + timedelta(minutes=5), handed).endswith("reminders 0, escalations 0")
    [notice] = handed.all
    assert notice == HazardNotice(hazard.id, SITE, hazard.title, hazard.deadline, NoticeKind.REMINDER, 0, 2,
                                  (Audience.OWNER,))

    # Missed the deadline day's reminder (the daemon was down): the escalation speaks instead.
    overdue_at = at_nine(add_working_days(hazard.deadline, 1))
    assert run(pg_url, overdue_at - timedelta(minutes=1), handed).endswith("reminders 0, escalations 0")
    assert run(pg_url, overdue_at, handed) == "converted 0, checked 1, reminders 0, escalations 1"
    assert run(pg_url, overdue_at, handed).endswith("reminders 0, escalations 0")
    escalation = handed.all[-1]
    assert (escalation.kind, escalation.level, escalation.working_days, escalation.audiences) == (
        NoticeKind.OVERDUE, 1, 1, (Audience.OWNER, Audience.DISTRICT_BUREAU))

    city_at = at_nine(add_working_days(hazard.deadline, 5))
    assert run(pg_url, city_at, handed).endswith("reminders 0, escalations 1")
    assert handed.all[-1].audiences == (Audience.OWNER, Audience.DISTRICT_BUREAU, Audience.CITY_BUREAU)
    assert len(handed.all) == 3
    stored = db.execute("SELECT reminders_sent, steps_done, escalated_to FROM hazard_deadline_state").fetchall()
    assert stored == [(2, 2, ["owner", "district_bureau", "city_bureau"])]


def test_a_closed_hazard_is_no_longer_reminded(db: Conn, pg_url: str) -> None:
    report(db)
    run(pg_url, REPORTED, Handed())
    [hazard] = hazard_store.list_open(db)
    hazard_store.transition(db, hazard.id, lambda h: model.close(
        h, by="user:wang", now=REPORTED, evidence=[Evidence(EvidenceKind.DOCUMENT, "清运单", url="https://x.example/1")]))
    handed = Handed()
    assert run(pg_url, at_nine(add_working_days(hazard.deadline, 5)), handed) == (
        "converted 0, checked 0, reminders 0, escalations 0")
    assert handed.batches == []
    closed = hazard_store.get(db, hazard.id)
    assert closed is not None and closed.status is HazardStatus.CLOSED


def test_a_failing_hand_over_rolls_back_and_the_notices_come_again(db: Conn, pg_url: str) -> None:
    report(db)
    deadline = model.deadline_for(model.Severity.GENERAL, date(2024, 9, 25))
    overdue_at = at_nine(add_working_days(deadline, 1))

    def refuse(notices: list[HazardNotice]) -> None:
        raise RuntimeError("the event loop did not take them")

    with pytest.raises(RuntimeError):
        run(pg_url, overdue_at, refuse)
    # Nothing kept: not the hazard made of the report, not the escalation's state.
    assert db.execute("SELECT count(*) FROM hazards").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM hazard_deadline_state").fetchone() == (0,)
    handed = Handed()
    assert run(pg_url, overdue_at, handed) == "converted 1, checked 1, reminders 0, escalations 1"
    assert [n.kind for n in handed.all] == [NoticeKind.OVERDUE]


@dataclass
class ListJournal:
    items: list[JournalItem] = field(default_factory=list)

    def put(self, item: JournalItem) -> None:
        self.items.append(item)


def test_notices_open_one_hazard_alert_widened_when_overdue() -> None:
    now = datetime(2024, 10, 22, 1, 0, tzinfo=UTC)
    service = AlertService(ctx=context(sites=SITES.values()), sites=SITES, routing=None, journal=ListJournal(),
                           dispatcher=None, ack_links=AckLinks("https://guard.example/", b"k" * 32, 3600),
                           clock=lambda: now)
    deadline = date(2024, 10, 24)
    remind = HazardNotice(7, SITE, "消防通道堵塞", deadline, NoticeKind.REMINDER, 0, 2, (Audience.OWNER,))
    alert = raise_hazard_notice(service, remind)
    assert alert.key == alert_key(remind) and alert.device == "hazard:7" and alert.rule == "hazard.deadline"
    assert (alert.category, alert.severity) == (Category.HAZARD, Severity.WARNING)
    assert alert.audiences == (AlertAudience.MONITORING_CENTER, AlertAudience.CUSTODIANS)
    assert "隐患整改即将到期" in alert.title and "消防通道堵塞" in alert.title

    overdue = HazardNotice(7, SITE, "消防通道堵塞", deadline, NoticeKind.OVERDUE, 2, 5,
                           (Audience.OWNER, Audience.DISTRICT_BUREAU, Audience.CITY_BUREAU))
    widened = raise_hazard_notice(service, overdue)
    assert widened.id == alert.id  # the same hazard's alert, not a second one
    assert widened.severity is Severity.MAJOR
    assert widened.audiences == (AlertAudience.MONITORING_CENTER, AlertAudience.CUSTODIANS,
                                 AlertAudience.CULTURE_BUREAU)
    assert [a.id for a in service.open_alerts()] == [alert.id]
