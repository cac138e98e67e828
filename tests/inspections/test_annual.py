"""Annual inspections, pure: the year's plan, the lifecycle table, overdue notices; then properties."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relic_guard.config import InspectionsConfig
from relic_guard.errors import RelicGuardError
from relic_guard.hazards.model import Severity
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME
from relic_guard.inspections import annual
from relic_guard.inspections.annual import (
    NOTHING_SENT,
    TRANSITIONS,
    AnnualPolicy,
    Attachment,
    Finding,
    IllegalInspectionTransition,
    Inspection,
    InspectionCommand,
    InspectionError,
    InspectionKind,
    InspectionStatus,
    InvalidInspection,
    OverdueAudience,
    OverdueState,
    Rating,
    next_overdue_at,
    overdue_notice,
    plan_year,
)


@dataclass(frozen=True)
class S:
    id: str
    name: str
    district: str


SITES = [
    S("lingyan-si", "灵岩寺", "长清区"),
    S("xiaotangshan", "孝堂山郭氏墓石祠", "长清区"),
    S("chengziya", "城子崖遗址", "章丘区"),
    S("fuxue-wenmiao", "济南府学文庙", "历下区"),
]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_STANDARD_TIME)
EVALUATION = Inspection.planned(next(p for p in plan_year(2026, SITES) if p.site_id == "lingyan-si"))


def cst(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CHINA_STANDARD_TIME)


def assigned(inspection: Inspection = EVALUATION, *people: str) -> Inspection:
    return annual.assign(inspection, to=people or ("zhang.wei",), by="user:sup", now=T0).inspection


# The plan -------------------------------------------------------------------------------------------


def test_a_plan_has_one_supervision_per_district_then_one_evaluation_per_site() -> None:
    plan = plan_year(2026, SITES, AnnualPolicy())
    assert [(p.id, p.kind, p.district, p.site_id, p.target_name, p.due_on) for p in plan] == [
        ("2026/district_supervision/历下区", InspectionKind.DISTRICT_SUPERVISION, "历下区", None, "历下区",
         date(2026, 11, 30)),
        ("2026/district_supervision/章丘区", InspectionKind.DISTRICT_SUPERVISION, "章丘区", None, "章丘区",
         date(2026, 11, 30)),
        ("2026/district_supervision/长清区", InspectionKind.DISTRICT_SUPERVISION, "长清区", None, "长清区",
         date(2026, 11, 30)),
        ("2026/site_evaluation/fuxue-wenmiao", InspectionKind.SITE_EVALUATION, "历下区", "fuxue-wenmiao",
         "济南府学文庙", date(2026, 9, 30)),
        ("2026/site_evaluation/chengziya", InspectionKind.SITE_EVALUATION, "章丘区", "chengziya", "城子崖遗址",
         date(2026, 9, 30)),
        ("2026/site_evaluation/lingyan-si", InspectionKind.SITE_EVALUATION, "长清区", "lingyan-si", "灵岩寺",
         date(2026, 9, 30)),
        ("2026/site_evaluation/xiaotangshan", InspectionKind.SITE_EVALUATION, "长清区", "xiaotangshan",
         "孝堂山郭氏墓石祠", date(2026, 9, 30)),
    ]
    assert all(p.year == 2026 for p in plan)


def test_due_days_come_from_the_policy_and_the_config() -> None:
    policy = annual.policy_of(InspectionsConfig(site_evaluation_due="06-15", district_supervision_due="12-20"))
    plan = plan_year(2027, SITES[:1], policy)
    assert [(p.kind, p.due_on) for p in plan] == [
        (InspectionKind.DISTRICT_SUPERVISION, date(2027, 12, 20)), (InspectionKind.SITE_EVALUATION, date(2027, 6, 15))]


def test_no_sites_no_plan() -> None:
    assert plan_year(2026, []) == []


@pytest.mark.parametrize(("sites", "words"), [
    ([SITES[0], SITES[0]], "appears twice"),
    ([S("x", "某寺", " ")], "has no district"),
])
def test_a_registry_the_plan_cannot_use_is_refused(sites: list[S], words: str) -> None:
    with pytest.raises(InvalidInspection, match=words):
        plan_year(2026, sites)


@pytest.mark.parametrize("year", [1999, 2201])
def test_a_year_out_of_range_is_refused(year: int) -> None:
    with pytest.raises(InvalidInspection, match="between 2000 and 2200"):
        plan_year(year, SITES)


@pytest.mark.parametrize(("text", "words"), [
    ("9-30", "MM-DD"), ("09/30", "MM-DD"), ("13-01", "every year has"), ("02-29", "leap years"),
    ("04-31", "every year has"),
])
def test_a_due_day_must_be_a_day_every_year_has(text: str, words: str) -> None:
    with pytest.raises(InvalidInspection, match=words):
        AnnualPolicy(site_evaluation_due=text)


def test_a_policy_refuses_a_step_two_that_is_not_later() -> None:
    with pytest.raises(InvalidInspection, match="at least 1"):
        AnnualPolicy(escalate_after_working_days=0)


def test_fire_inspections_are_due_by_their_draw_not_the_policy() -> None:
    with pytest.raises(InvalidInspection, match="draw"):
        AnnualPolicy().due_on(InspectionKind.FIRE_RANDOM, 2026)


def test_every_refusal_has_one_root() -> None:
    for error in (IllegalInspectionTransition, InvalidInspection, annual.UnknownInspection):
        assert issubclass(error, InspectionError) and issubclass(error, RelicGuardError)


# The lifecycle ------------------------------------------------------------------------------------------


def run(inspection: Inspection, command: InspectionCommand) -> annual.Transition:
    if command is InspectionCommand.ASSIGN:
        return annual.assign(inspection, to=["li.na"], by="user:sup", now=T0)
    if command is InspectionCommand.COMPLETE:
        return annual.complete(inspection, by="user:zhang.wei", now=T0, rating="good", summary="消防设施完好")
    return annual.cancel(inspection, by="user:sup", now=T0, reason="全年闭馆修缮")


@pytest.mark.parametrize("status", list(InspectionStatus))
@pytest.mark.parametrize("command", list(InspectionCommand))
def test_the_table_decides_every_move(status: InspectionStatus, command: InspectionCommand) -> None:
    inspection = replace(EVALUATION, status=status, assignees=("zhang.wei",) if status is not
                         InspectionStatus.PLANNED else ())
    expected = TRANSITIONS.get((status, command))
    if expected is None:
        with pytest.raises(IllegalInspectionTransition) as refused:
            run(inspection, command)
        assert (refused.value.status, refused.value.command) == (status, command)
        assert EVALUATION.id in str(refused.value)
    else:
        assert run(inspection, command).inspection.status is expected


def test_the_table_is_the_documented_one() -> None:
    P, A, D, C = (InspectionStatus.PLANNED, InspectionStatus.ASSIGNED, InspectionStatus.DONE,  # noqa: N806
                  InspectionStatus.CANCELLED)
    assert dict(TRANSITIONS) == {
        (P, InspectionCommand.ASSIGN): A, (A, InspectionCommand.ASSIGN): A, (A, InspectionCommand.COMPLETE): D,
        (P, InspectionCommand.CANCEL): C, (A, InspectionCommand.CANCEL): C,
    }


def test_completing_an_unassigned_inspection_says_to_assign_first() -> None:
    with pytest.raises(IllegalInspectionTransition, match="assign it first"):
        run(EVALUATION, InspectionCommand.COMPLETE)


def test_assign_then_reassign_keeps_who_was_there_before() -> None:
    first = annual.assign(EVALUATION, to=[" zhang.wei ", "JN-XF-0107", "zhang.wei", ""], by="user:sup", now=T0)
    assert first.inspection.assignees == ("zhang.wei", "JN-XF-0107")
    assert (first.event.kind, first.event.detail) == ("inspection.assigned", {"to": ["zhang.wei", "JN-XF-0107"]})
    again = annual.assign(first.inspection, to=["li.na"], by="user:sup", now=T0 + timedelta(days=1))
    assert again.inspection.status is InspectionStatus.ASSIGNED
    assert (again.event.kind, again.event.detail) == (
        "inspection.reassigned", {"to": ["li.na"], "previous": ["zhang.wei", "JN-XF-0107"]})
    assert (again.inspection.updated_by, again.inspection.updated_at) == ("user:sup", T0 + timedelta(days=1))


@pytest.mark.parametrize(("to", "words"), [
    ([], "at least one"), ([" ", ""], "at least one"), (["张 伟"], "without spaces"), (["a" * 65], "1 to 64"),
    ([f"p{i}" for i in range(21)], "at most 20"),
])
def test_assign_refuses_nobody_or_malformed_names(to: list[str], words: str) -> None:
    with pytest.raises(InvalidInspection, match=words):
        annual.assign(EVALUATION, to=to, by="user:sup", now=T0)


def test_complete_records_the_evaluation_on_chinas_day() -> None:
    still_the_29th_in_utc = datetime(2026, 9, 29, 17, 0, tzinfo=UTC)  # 09-30 01:00 in China
    moved = annual.complete(
        assigned(), by="user:zhang.wei", now=still_the_29th_in_utc, rating=" Fair ", summary=" 消防通道畅通，电气线路老化 ",
        findings=[Finding(title=" 配电箱线路老化 ", severity=Severity.MAJOR, description="大殿东侧")],
        attachments=[Attachment(note="配电箱照片", photo_sha256="a" * 64), Attachment(note="整改通知书", url="https://x/1")],
    )
    done = moved.inspection
    assert (done.status, done.rating, done.summary, done.done_on) == (
        InspectionStatus.DONE, Rating.FAIR, "消防通道畅通，电气线路老化", date(2026, 9, 30))
    assert done.findings == (Finding(title="配电箱线路老化", severity=Severity.MAJOR, description="大殿东侧",
                                     site_id="lingyan-si"),)
    assert moved.event.kind == "inspection.completed"
    assert moved.event.detail["findings"] == [{"title": "配电箱线路老化", "description": "大殿东侧", "severity": "major",
                                               "site_id": "lingyan-si", "hazard_id": None}]
    tracked = annual.with_hazards(moved, [41])
    assert tracked.inspection.findings[0].hazard_id == 41
    assert tracked.event.detail["findings"][0]["hazard_id"] == 41  # type: ignore[index]


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"rating": "excellent"}, "good, fair or poor"),
    ({"summary": "  "}, "summary"),
    ({"findings": [Finding(title="", severity=Severity.GENERAL)]}, "finding 1: a title"),
    ({"findings": [Finding(title="裂缝", severity=Severity.GENERAL, site_id="chengziya")]}, "not of 'chengziya'"),
    ({"findings": [Finding(title="裂缝", severity="grave")]}, "major"),  # type: ignore[arg-type]
    ({"attachments": [Attachment(note="")]}, "a note"),
    ({"attachments": [Attachment(note="照片", url="https://x", photo_sha256="a" * 64)]}, "exactly one"),
    ({"attachments": [Attachment(note="照片", photo_sha256="XYZ")]}, "64 lowercase hex"),
])
def test_complete_refuses_what_cannot_be_recorded(kwargs: dict[str, object], words: str) -> None:
    arguments: dict[str, object] = {"rating": "good", "summary": "检查完毕", **kwargs}
    with pytest.raises(InvalidInspection, match=words):
        annual.complete(assigned(), by="user:zhang.wei", now=T0, **arguments)  # type: ignore[arg-type]


def test_a_supervision_finding_must_name_its_site() -> None:
    supervision = assigned(Inspection.planned(plan_year(2026, SITES)[0]))
    with pytest.raises(InvalidInspection, match="name the site of 历下区"):
        annual.complete(supervision, by="user:sup", now=T0, rating="poor", summary="区级检查流于形式",
                        findings=[Finding(title="未建立文物安全档案", severity=Severity.GENERAL)])
    done = annual.complete(supervision, by="user:sup", now=T0, rating="poor", summary="区级检查流于形式",
                           findings=[Finding(title="未建立文物安全档案", severity=Severity.GENERAL,
                                             site_id="fuxue-wenmiao")])
    assert done.inspection.findings[0].site_id == "fuxue-wenmiao"


def test_cancel_needs_a_reason() -> None:
    with pytest.raises(InvalidInspection, match="reason"):
        annual.cancel(EVALUATION, by="user:sup", now=T0, reason=" ")
    moved = annual.cancel(EVALUATION, by="user:sup", now=T0, reason="全年闭馆修缮")
    assert (moved.inspection.cancel_reason, moved.event.kind, moved.event.detail) == (
        "全年闭馆修缮", "inspection.cancelled", {"reason": "全年闭馆修缮"})


# Overdue ------------------------------------------------------------------------------------------------

# Due 2026-09-30 (a Wednesday). Step 1: 10-01 09:00 (the day after, National Day or not); step 2: five
# working days after 10-01, counted past the holiday week (10-01…10-07 off, Saturday 10-10 worked):
# 10-08, 10-09, 10-10, 10-12, 10-13.
STEP1, STEP2 = cst(10, 1), cst(10, 13)


@pytest.mark.parametrize(("state", "now", "step", "added", "steps_after"), [
    (NOTHING_SENT, cst(9, 30, 23, 59), None, (), 0),
    (NOTHING_SENT, cst(10, 1, 8, 59), None, (), 0),
    (NOTHING_SENT, STEP1, 1, (OverdueAudience.ASSIGNEES, OverdueAudience.DISTRICT_BUREAU), 1),
    (OverdueState(date(2026, 9, 30), 1), STEP1, None, (), 1),
    (OverdueState(date(2026, 9, 30), 1), STEP2 - timedelta(minutes=1), None, (), 1),
    (OverdueState(date(2026, 9, 30), 1), STEP2, 2, (OverdueAudience.CITY_BUREAU,), 2),
    # the scheduler was down through both: one notice carrying everyone
    (NOTHING_SENT, cst(11, 2), 2, (OverdueAudience.ASSIGNEES, OverdueAudience.DISTRICT_BUREAU,
                                   OverdueAudience.CITY_BUREAU), 2),
    (OverdueState(date(2026, 9, 30), 2), cst(12, 31), None, (), 2),
    # counted for another due day: a fresh count
    (OverdueState(date(2026, 6, 30), 2), STEP1, 1, (OverdueAudience.ASSIGNEES, OverdueAudience.DISTRICT_BUREAU), 1),
])
def test_overdue_steps(state: OverdueState, now: datetime, step: int | None,
                       added: tuple[OverdueAudience, ...], steps_after: int) -> None:
    inspection = assigned()
    new_state, notice = overdue_notice(inspection, state, now)
    assert new_state.steps_done == steps_after
    if step is None:
        assert notice is None
        return
    assert notice is not None
    assert (notice.step, notice.added, notice.inspection_id, notice.assignees, notice.due_on) == (
        step, added, inspection.id, ("zhang.wei",), date(2026, 9, 30))
    assert notice.audiences == OVERDUE_ALL[: 2 if step == 1 else 3]
    assert notice.days_overdue == (now.date() - date(2026, 9, 30)).days
    assert new_state.due_on == date(2026, 9, 30)


OVERDUE_ALL = (OverdueAudience.ASSIGNEES, OverdueAudience.DISTRICT_BUREAU, OverdueAudience.CITY_BUREAU)


def test_next_overdue_at_walks_the_steps_and_stops() -> None:
    inspection = assigned()
    assert next_overdue_at(inspection) == STEP1
    assert next_overdue_at(inspection, OverdueState(date(2026, 9, 30), 1)) == STEP2
    assert next_overdue_at(inspection, OverdueState(date(2026, 9, 30), 2)) is None
    for status in (InspectionStatus.DONE, InspectionStatus.CANCELLED):
        finished = replace(inspection, status=status)
        assert next_overdue_at(finished) is None
        assert overdue_notice(finished, NOTHING_SENT, cst(12, 1)) == (NOTHING_SENT, None)


def test_a_planned_inspection_nobody_took_is_overdue_too() -> None:
    _, notice = overdue_notice(EVALUATION, NOTHING_SENT, STEP1)
    assert notice is not None and notice.assignees == ()


def test_the_policy_sets_the_escalation_delay_and_hour() -> None:
    policy = AnnualPolicy(escalate_after_working_days=1, notify_at=time(8, 30))
    assert next_overdue_at(assigned(), OverdueState(date(2026, 9, 30), 1), policy) == cst(10, 8, 8, 30)


# Properties ---------------------------------------------------------------------------------------------

_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=12)
_DISTRICTS = st.sampled_from(["历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区", "Lixia"])
_SITE_LISTS = st.lists(st.tuples(_IDS, _DISTRICTS, st.text(min_size=1, max_size=8)), max_size=30,
                       unique_by=lambda t: t[0])


@settings(max_examples=100, deadline=None)
@given(_SITE_LISTS, st.randoms(use_true_random=False), st.integers(2000, 2200))
def test_every_site_and_district_appears_exactly_once_whatever_the_order(
        rows: list[tuple[str, str, str]], rng: object, year: int) -> None:
    sites = [S(ident, name, district) for ident, district, name in rows]
    plan = plan_year(year, sites)
    shuffled = list(sites)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert plan_year(year, shuffled) == plan  # same ids, same order, same everything
    evaluations = [p for p in plan if p.kind is InspectionKind.SITE_EVALUATION]
    supervisions = [p for p in plan if p.kind is InspectionKind.DISTRICT_SUPERVISION]
    assert sorted(p.site_id or "" for p in evaluations) == sorted(s.id for s in sites)
    assert sorted(p.district for p in supervisions) == sorted({s.district for s in sites})
    assert len({p.id for p in plan}) == len(plan)
    assert all(p.id == f"{year}/{p.kind.value}/{p.site_id or p.district}" for p in plan)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40 * 24), max_size=8).map(sorted))
def test_overdue_steps_go_out_once_and_in_order_whenever_the_job_runs(hours: list[int]) -> None:
    """Run the planner at any increasing times from the due day on: each step is announced at most
    once, never before it is due, and by the end everything due has been said."""
    inspection = assigned()
    state, said = NOTHING_SENT, []
    times = [cst(9, 30) + timedelta(hours=h) for h in hours]
    for now in times:
        state, notice = overdue_notice(inspection, state, now)
        if notice is not None:
            assert annual.overdue_step_at(inspection.due_on, notice.step) <= now
            said.append(notice)
    assert [n.step for n in said] == sorted({n.step for n in said})
    told = [a for n in said for a in n.added]
    assert len(told) == len(set(told))
    last = times[-1] if times else cst(9, 30)
    assert state.steps_done == sum(1 for step in (1, 2) if annual.overdue_step_at(inspection.due_on, step) <= last)
    assert set(told) == set(OVERDUE_ALL[: 2 if state.steps_done == 1 else 3]) if state.steps_done else not told
