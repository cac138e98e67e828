"""The inspection job against a real PostgreSQL, as the schedule runner calls it (a fresh connection,
committed when the job returns), and its notices raised on a real AlertService with routing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.escalation import PolicyTable
from alerts.model import AlertStatus, Audience, Category, Severity
from alerts.routing import ChannelTarget, Directory, Recipient, RouteMatch, RoutingRule
from relic_guard.alerting.dispatch import Notice
from relic_guard.alerting.records import AlertSnapshot, JournalItem
from relic_guard.alerting.service import AckLinks, AlertService
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME
from relic_guard.inspections.alerting import alert_key, hand_to_service, raise_inspection_notice
from relic_guard.inspections.annual import (
    AnnualPolicy,
    InspectionKind,
    InspectionStatus,
    OverdueAudience,
    OverdueEnded,
    OverdueNotice,
)
from relic_guard.inspections.job import make_inspection_job
from relic_guard.registry import Site
from relic_guard.routing_load import RoutingConfig
from relic_guard.schedule.daemon import build_schedule
from relic_guard.store import inspection_store
from tests.alerts.support import context

Conn = psycopg.Connection[Any]
SITES = {
    "lingyan-si": Site(id="lingyan-si", name="灵岩寺", district="长清区", level="全国重点文物保护单位", kind="古建筑",
                       custodians=("王建国",)),
    "xiaotangshan": Site(id="xiaotangshan", name="孝堂山郭氏墓石祠", district="长清区", level="全国重点文物保护单位",
                         kind="古建筑"),
    "fuxue-wenmiao": Site(id="fuxue-wenmiao", name="济南府学文庙", district="历下区", level="全国重点文物保护单位",
                          kind="古建筑"),
}
EVALUATION = "2026/site_evaluation/lingyan-si"
SUPERVISION = "2026/district_supervision/长清区"
JANUARY = datetime(2026, 1, 1, 0, 30, tzinfo=CHINA_STANDARD_TIME)


def cst(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_STANDARD_TIME)


STEP1, STEP2 = cst(10, 1), cst(10, 13)  # due 09-30; five working days after 10-01, past National Day

@dataclass
class Handed:
    batches: list[list[OverdueNotice | OverdueEnded]] = field(default_factory=list)

    def __call__(self, notices: list[OverdueNotice | OverdueEnded]) -> None:
        self.batches.append(notices)

    @property
    def all(self) -> list[OverdueNotice]:
        return [notice for batch in self.batches for notice in batch if isinstance(notice, OverdueNotice)]

    @property
    def ended(self) -> list[OverdueEnded]:
        return [item for batch in self.batches for item in batch if isinstance(item, OverdueEnded)]


def run(url: str, now: datetime, on_notices: Any, sites: dict[str, Site] = SITES) -> str:
    # As the schedule runner does: a fresh connection, committed when the job returns.
    with psycopg.connect(url) as conn:
        return make_inspection_job(sites, on_notices, policy=AnnualPolicy())(conn, now)


def test_the_years_plan_appears_by_itself_and_only_once(db: Conn, database: str) -> None:
    handed = Handed()
    assert run(database, JANUARY, handed) == "planned 5 for 2026, overdue 0, notices 0"
    assert run(database, JANUARY + timedelta(hours=1), handed) == "planned 0 for 2026, overdue 0, notices 0"
    assert handed.batches == []  # nothing due: on_notices is not called for nothing
    assert [e.actor for e in inspection_store.events(db, EVALUATION)] == ["relic-guard"]
    # The daemon was down from January on. New Year's Eve in UTC is already 2027 in China: the new
    # plan is made, and each of 2026's inspections, left undone, gets one notice with everyone in it.
    eve_utc = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    assert run(database, eve_utc, handed) == "planned 5 for 2027, overdue 5, notices 5"
    assert {(n.step, n.added) for n in handed.all} == {
        (2, (OverdueAudience.ASSIGNEES, OverdueAudience.DISTRICT_BUREAU, OverdueAudience.CITY_BUREAU))}


def test_overdue_inspections_are_told_once_per_step_across_runs(db: Conn, database: str) -> None:
    run(database, JANUARY, Handed())
    inspection_store.assign(db, EVALUATION, to=["zhang.wei"], by="user:sup", now=JANUARY)
    done = "2026/site_evaluation/fuxue-wenmiao"
    inspection_store.assign(db, done, to=["li.na"], by="user:sup", now=JANUARY)
    inspection_store.complete(db, done, rating="good", summary="良好", sites=SITES, by="user:li.na", now=cst(9, 1))
    inspection_store.cancel(db, "2026/site_evaluation/xiaotangshan", reason="全年闭馆修缮", by="user:sup",
                            now=cst(9, 1))

    handed = Handed()
    assert run(database, STEP1 - timedelta(minutes=1), handed) == "planned 0 for 2026, overdue 1, notices 0"
    assert run(database, STEP1, handed) == "planned 0 for 2026, overdue 1, notices 1"
    [first] = handed.all
    assert (first.inspection_id, first.step, first.assignees, first.added, first.days_overdue) == (
        EVALUATION, 1, ("zhang.wei",), (OverdueAudience.ASSIGNEES, OverdueAudience.DISTRICT_BUREAU), 1)
    assert run(database, STEP1 + timedelta(hours=3), handed).endswith("notices 0")
    assert run(database, STEP2, handed).endswith("notices 1")
    assert [(n.inspection_id, n.step, n.added) for n in handed.all[1:]] == [
        (EVALUATION, 2, (OverdueAudience.CITY_BUREAU,))]
    assert run(database, cst(12, 1), handed) == "planned 0 for 2026, overdue 3, notices 2"
    # The districts' supervisions were due 11-30: their first step is due now; the evaluation has had both.
    assert sorted((n.inspection_id, n.step) for n in handed.all[2:]) == [
        ("2026/district_supervision/历下区", 1), (SUPERVISION, 1)]
    assert inspection_store.overdue_states(db, [EVALUATION])[EVALUATION].steps_done == 2


def test_a_failing_hand_over_rolls_back_and_the_notices_come_again(db: Conn, database: str) -> None:
    def refuse(notices: list[OverdueNotice]) -> None:
        raise RuntimeError("the event loop did not take them")

    with pytest.raises(RuntimeError):
        run(database, STEP1, refuse)
    # Nothing kept: not the plan made in that run, not the notices' state.
    assert db.execute("SELECT count(*) FROM inspections").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM inspection_overdue_state").fetchone() == (0,)
    handed = Handed()
    assert run(database, STEP1, handed) == "planned 5 for 2026, overdue 3, notices 3"
    assert {n.inspection_id for n in handed.all} == {f"2026/site_evaluation/{s}" for s in SITES}


def test_the_daemon_schedules_the_job_from_the_configuration(database: str) -> None:
    from relic_guard.config import Config, DatabaseConfig, InspectionsConfig
    from relic_guard.registry import Registry

    config = Config(database=DatabaseConfig(url=database), inspections=InspectionsConfig(job_interval_s=120.0))
    registry = Registry(sites=dict(SITES))
    schedule = build_schedule(config, registry, make_service(cst(3, 1)), None, b"k" * 32)  # type: ignore[arg-type]
    assert schedule is not None
    [job] = [job for job in schedule.jobs if job.name == "inspections.annual"]
    assert job.every_s == 120.0


# Into the alert service -----------------------------------------------------------------------------------


@dataclass
class ListJournal:
    items: list[JournalItem] = field(default_factory=list)

    def put(self, item: JournalItem) -> None:
        self.items.append(item)


@dataclass
class Outbox:
    """Stands in for the dispatcher: what would be delivered, to whom."""

    notices: list[Notice] = field(default_factory=list)

    def send(self, notice: Notice, notice_key: str) -> None:
        self.notices.append(notice)

    def recipients(self) -> list[tuple[str, str]]:
        return [(n.recipient.id, str(n.body["alert"]["title"])) for n in self.notices]  # type: ignore[index]


def recipient(recipient_id: str, audience: Audience) -> Recipient:
    return Recipient(id=recipient_id, name=recipient_id, audience=audience,
                     channels=(ChannelTarget(kind="email", target=f"{recipient_id}@example.cn"),))


# The monitoring center hears of everything; each district's bureau of its district; the city bureau
# of what is major (how routing tells the two bureau tiers apart).
RECIPIENTS = (recipient("center", Audience.MONITORING_CENTER), recipient("changqing-wwj", Audience.CULTURE_BUREAU),
              recipient("lixia-wwj", Audience.CULTURE_BUREAU), recipient("jinan-wwj", Audience.CULTURE_BUREAU))
ROUTING = RoutingConfig(
    recipients=RECIPIENTS,
    directory=Directory.of(RECIPIENTS),
    rules=(RoutingRule(name="center", recipients=("center",)),
           RoutingRule(name="changqing", match=RouteMatch(districts=("长清区",)), recipients=("changqing-wwj",)),
           RoutingRule(name="lixia", match=RouteMatch(districts=("历下区",)), recipients=("lixia-wwj",)),
           RoutingRule(name="city", match=RouteMatch(severity_at_least=Severity.MAJOR),
                       recipients=("jinan-wwj",))),
    policies=PolicyTable(),
    windows=(),
    group_wait_s=0.0,
)


def make_service(now: datetime) -> AlertService:
    service = AlertService(ctx=context(sites=SITES.values()), sites=SITES, routing=ROUTING, journal=ListJournal(),
                           dispatcher=None, ack_links=AckLinks("https://guard.example/", b"k" * 32, 3600),
                           clock=lambda: now)
    service.dispatcher = Outbox()  # type: ignore[assignment]
    return service


def notice(kind: InspectionKind, step: int, *, site: str | None, district: str, name: str,
           assignees: tuple[str, ...] = ("zhang.wei", "li.na")) -> OverdueNotice:
    everyone = (OverdueAudience.ASSIGNEES, OverdueAudience.DISTRICT_BUREAU, OverdueAudience.CITY_BUREAU)
    subject = site or district
    return OverdueNotice(inspection_id=f"2026/{kind.value}/{subject}", kind=kind, district=district, site_id=site,
                         target_name=name, due_on=date(2026, 9, 30), assignees=assignees, step=step,
                         days_overdue=1, added=everyone[:2] if step == 1 else everyone[2:],
                         audiences=everyone[: 2 if step == 1 else 3])


def sent(service: AlertService) -> list[tuple[str, str]]:
    service.tick()  # a group wait of 0 s: what was raised goes out at the next tick
    outbox = service.dispatcher
    assert isinstance(outbox, Outbox)
    found = outbox.recipients()
    outbox.notices.clear()
    return found


def test_a_site_evaluations_notice_is_an_alert_at_its_site_assigned_to_the_inspectors() -> None:
    service = make_service(STEP1)
    reminder = notice(InspectionKind.SITE_EVALUATION, 1, site="lingyan-si", district="长清区", name="灵岩寺")
    alert = raise_inspection_notice(service, reminder)
    assert alert.key == alert_key(reminder, SITES)
    assert (alert.site, alert.device, alert.rule) == ("lingyan-si", f"inspection:{EVALUATION}", "inspection.overdue")
    assert (alert.category, alert.severity, alert.assigned_to) == (Category.INSPECTION, Severity.MINOR,
                                                                   "zhang.wei,li.na")
    assert alert.audiences == (Audience.MONITORING_CENTER, Audience.CULTURE_BUREAU)
    assert alert.title == "年度检查评估逾期：灵岩寺 应于 2026-09-30 前完成"
    assert sorted(r for r, _ in sent(service)) == ["center", "changqing-wwj"]  # the district's bureau, not the city's

    again = raise_inspection_notice(service, reminder)  # offered twice (a lost commit): folded into the alert
    assert again.id == alert.id and again.count == 2

    escalation = raise_inspection_notice(service, notice(InspectionKind.SITE_EVALUATION, 2, site="lingyan-si",
                                                         district="长清区", name="灵岩寺"))
    assert escalation.id != alert.id and escalation.rule == "inspection.escalated"
    assert escalation.severity is Severity.MAJOR and "提请市文物局督办" in escalation.title
    assert sorted(r for r, _ in sent(service)) == ["center", "changqing-wwj", "jinan-wwj"]


def test_a_district_supervision_is_keyed_by_the_districts_first_site_and_says_so() -> None:
    service = make_service(cst(12, 1))
    alert = raise_inspection_notice(service, notice(InspectionKind.DISTRICT_SUPERVISION, 1, site=None,
                                                    district="长清区", name="长清区", assignees=()))
    assert (alert.site, alert.device) == ("lingyan-si", f"inspection:{SUPERVISION}")  # lingyan-si < xiaotangshan
    assert alert.title == "区县年度督察逾期（长清区）：灵岩寺 等 2 处文物点，应于 2026-09-30 前完成"
    assert alert.assigned_to is None  # nobody assigned yet: nobody named
    assert sorted(r for r, _ in sent(service)) == ["center", "changqing-wwj"]
    lixia = raise_inspection_notice(service, notice(InspectionKind.DISTRICT_SUPERVISION, 1, site=None,
                                                    district="历下区", name="历下区"))
    assert lixia.site == "fuxue-wenmiao" and "等" not in lixia.title
    assert sorted(r for r, _ in sent(service)) == ["center", "lixia-wwj"]


def test_a_fire_inspection_of_an_unregistered_place_goes_to_its_district() -> None:
    service = make_service(STEP1)
    alert = raise_inspection_notice(service, notice(InspectionKind.FIRE_RANDOM, 1, site="LX-001", district="历下区",
                                                    name="明湖书院旧址"))
    assert alert.site == "fuxue-wenmiao"
    assert alert.title == "双随机消防检查逾期（历下区）：济南府学文庙 检查对象 明湖书院旧址，应于 2026-09-30 前完成"
    assert sorted(r for r, _ in sent(service)) == ["center", "lixia-wwj"]
    nowhere = raise_inspection_notice(service, notice(InspectionKind.FIRE_RANDOM, 1, site="SZ-001", district="市中区",
                                                      name="西关关帝庙"))
    assert nowhere.site == "市中区"  # no registered site there: recorded and shown, routed to nobody
    assert sent(service) == []


def test_finishing_an_overdue_inspection_ends_its_alerts_once(db: Conn, database: str) -> None:
    run(database, JANUARY, Handed())
    handed = Handed()
    run(database, STEP1, handed)
    run(database, STEP2, handed)  # every evaluation is past both steps
    service = make_service(STEP2)
    hand_to_service(service, list(handed.all))
    opened = {a.rule for a in service.open_alerts() if a.device == f"inspection:{EVALUATION}"}
    assert opened == {"inspection.overdue", "inspection.escalated"}

    inspection_store.assign(db, EVALUATION, to=["zhang.wei"], by="user:sup", now=STEP2)
    inspection_store.complete(db, EVALUATION, rating="fair", summary="消防通道已清理", sites=SITES,
                              by="user:zhang.wei", now=STEP2 + timedelta(days=1))
    cancelled = "2026/site_evaluation/xiaotangshan"
    inspection_store.cancel(db, cancelled, reason="全年闭馆修缮", by="user:sup", now=STEP2 + timedelta(days=1))
    later = Handed()
    assert run(database, STEP2 + timedelta(days=1, hours=1), later).endswith("notices 0, ended 2")
    assert [(e.inspection_id, e.status) for e in later.ended] == [
        (EVALUATION, InspectionStatus.DONE), (cancelled, InspectionStatus.CANCELLED)]
    assert run(database, STEP2 + timedelta(days=1, hours=2), later).endswith("notices 0")  # once only

    hand_to_service(service, later.ended)
    left = {(a.device, a.rule) for a in service.open_alerts()}
    assert not any(device in (f"inspection:{EVALUATION}", f"inspection:{cancelled}") for device, _ in left)
    assert ("inspection:2026/site_evaluation/fuxue-wenmiao", "inspection.overdue") in left  # still undone
    journal = service.journal
    assert isinstance(journal, ListJournal)
    closed = [item.alert for item in journal.items
              if isinstance(item, AlertSnapshot) and item.alert.device == f"inspection:{EVALUATION}"
              and item.alert.status is AlertStatus.RESOLVED]
    # Ended as conditions that are over: no classification, so the annual report counts no incident.
    assert {(a.rule, a.classification) for a in closed} == {("inspection.overdue", None),
                                                           ("inspection.escalated", None)}
