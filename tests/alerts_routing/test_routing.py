"""Table tests of `alerts.routing.route`: rules → audiences → recipients."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.model import Audience, Category, Severity
from alerts.routing import Directory, RouteMatch, RoutingRule, audiences_for, route, unmapped_custodians
from relic_guard.registry import Site

from .support import alert, recipient, site

A = Audience
DIRECTORY = Directory.of(
    [
        recipient("mc", A.MONITORING_CENTER),
        recipient("110", A.POLICE),
        recipient("zq-police", A.POLICE),
        recipient("119", A.FIRE_BRIGADE),
        recipient("wwj", A.CULTURE_BUREAU),
        recipient("zhifa", A.LAW_ENFORCEMENT),
        recipient("c-wang", A.CUSTODIANS, "王建国"),
        recipient("c-li", A.CUSTODIANS, "李秀兰"),
        recipient("c-liu", A.CUSTODIANS, "刘海燕"),
    ]
)
RULES = (
    RoutingRule(name="mc", recipients=("mc",)),
    RoutingRule(name="city", recipients=("110", "119", "wwj", "zhifa")),
    RoutingRule(
        name="zhangqiu",
        match=RouteMatch(districts=("章丘区",), categories=(Category.SECURITY,), severity_at_least=Severity.MAJOR),
        recipients=("zq-police",),
    ),
    RoutingRule(
        name="national security → law enforcement",
        match=RouteMatch(
            levels=("全国重点文物保护单位",), categories=(Category.SECURITY,), severity_at_least=Severity.MAJOR
        ),
        audiences=(A.LAW_ENFORCEMENT,),
    ),
    RoutingRule(
        name="exact critical device",
        match=RouteMatch(sites=("lingyan-si",), categories=(Category.DEVICE,), severity=Severity.CRITICAL),
        audiences=(A.CULTURE_BUREAU,),
    ),
)
LINGYAN = site()
CHENGZIYA = site("chengziya", district="章丘区", custodians=("刘海燕",))
MUSEUM = site("jinan-museum", district="历下区", level="博物馆", custodians=())
LOCAL = (A.MONITORING_CENTER, A.CUSTODIANS)
FIRE_ALL = (A.MONITORING_CENTER, A.CUSTODIANS, A.FIRE_BRIGADE, A.POLICE, A.CULTURE_BUREAU)


@pytest.mark.parametrize(
    ("case", "category", "severity", "audience", "where", "expected"),
    [
        ("unconfirmed fire: local only", Category.FIRE, Severity.CRITICAL, LOCAL, LINGYAN, ["mc", "c-wang", "c-li"]),
        (
            "confirmed fire: agencies in audience order",
            Category.FIRE,
            Severity.CRITICAL,
            FIRE_ALL,
            LINGYAN,
            ["mc", "c-wang", "c-li", "119", "110", "wwj"],
        ),
        (
            "security major at national site adds law enforcement",
            Category.SECURITY,
            Severity.MAJOR,
            (A.MONITORING_CENTER, A.CUSTODIANS, A.POLICE),
            LINGYAN,
            ["mc", "c-wang", "c-li", "110", "zhifa"],
        ),
        (
            "security minor: below the floor, no law enforcement",
            Category.SECURITY,
            Severity.MINOR,
            (A.MONITORING_CENTER, A.POLICE),
            LINGYAN,
            ["mc", "110"],
        ),
        (
            "district rule adds the district police after the city police",
            Category.SECURITY,
            Severity.CRITICAL,
            (A.MONITORING_CENTER, A.CUSTODIANS, A.POLICE),
            CHENGZIYA,
            ["mc", "c-liu", "110", "zq-police", "zhifa"],
        ),
        (
            "district rule does not match another district",
            Category.SECURITY,
            Severity.CRITICAL,
            (A.MONITORING_CENTER, A.POLICE),
            MUSEUM,
            ["mc", "110"],
        ),
        (
            "severity exact: critical matches",
            Category.DEVICE,
            Severity.CRITICAL,
            (A.MONITORING_CENTER,),
            LINGYAN,
            ["mc", "wwj"],
        ),
        ("severity exact: major does not", Category.DEVICE, Severity.MAJOR, (A.MONITORING_CENTER,), LINGYAN, ["mc"]),
        ("site without custodians", Category.FIRE, Severity.CRITICAL, LOCAL, MUSEUM, ["mc"]),
    ],
)
def test_route_table(
    case: str,
    category: Category,
    severity: Severity,
    audience: tuple[Audience, ...],
    where: Site,
    expected: list[str],
) -> None:
    made = alert(category, severity, audience=audience, site=where.id)
    assert [r.id for r in route(made, where, RULES, DIRECTORY)] == expected, case


def test_drill_reaches_only_the_monitoring_center() -> None:
    made = alert(audience=FIRE_ALL, drill=True)
    assert audiences_for(made, LINGYAN, RULES) == (A.MONITORING_CENTER,)
    assert [r.id for r in route(made, LINGYAN, RULES, DIRECTORY)] == ["mc"]


def test_rules_never_remove_the_engines_audiences() -> None:
    made = alert(audience=FIRE_ALL)
    assert set(audiences_for(made, LINGYAN, ())) == set(FIRE_ALL)


def test_only_restricts_to_escalated_audiences() -> None:
    made = alert(audience=FIRE_ALL)
    assert [r.id for r in route(made, LINGYAN, RULES, DIRECTORY, only=(A.FIRE_BRIGADE, A.POLICE))] == ["119", "110"]


def test_recipient_listed_under_a_rule_only_serves_its_own_audience() -> None:
    made = alert(audience=(A.MONITORING_CENTER,))
    # The city rule lists police and fire brigade, but this alert needs neither.
    assert [r.id for r in route(made, LINGYAN, RULES, DIRECTORY)] == ["mc"]


def test_unmapped_custodian_is_skipped_and_reported() -> None:
    where = site(custodians=("王建国", "无名氏"))
    assert [r.id for r in route(alert(), where, RULES, DIRECTORY)] == ["mc", "c-wang"]
    assert unmapped_custodians(where, DIRECTORY) == ("无名氏",)


@given(
    st.lists(st.sampled_from(list(Audience)), max_size=6),
    st.permutations(RULES),
    st.sampled_from([LINGYAN, CHENGZIYA, MUSEUM]),
    st.sampled_from(list(Category)),
    st.sampled_from(list(Severity)),
)
def test_route_is_deduplicated_and_deterministic(
    audience: list[Audience], rules: list[RoutingRule], where: Site, category: Category, severity: Severity
) -> None:
    made = alert(category, severity, audience=tuple(audience))
    first = route(made, where, rules, DIRECTORY)
    ids = [r.id for r in first]
    assert len(ids) == len(set(ids))
    assert route(made, where, rules, DIRECTORY) == first
    # The set of recipients does not depend on the order of the rules.
    assert {r.id for r in route(made, where, RULES, DIRECTORY)} == set(ids)
    # Every recipient serves an audience the alert needs.
    wanted = set(audiences_for(made, where, rules))
    assert all(r.audience in wanted for r in first)
