from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relic_guard.patrols.model import DailyRule, FrequencyRule, NightRule, RoundKind, WhileOpenRule
from relic_guard.patrols.plan import rounds_between

from .support import SITE, FakeSite, local, route


def spans(rule: FrequencyRule, start: datetime, end: datetime, site: FakeSite = SITE) -> list[tuple[str, str]]:
    return [
        (f"{item.window_start:%d %H:%M}", f"{item.window_end:%d %H:%M}")
        for item in rounds_between(route(rule), site, start, end)
    ]


@pytest.mark.parametrize(
    ("rule", "site", "expected"),
    [
        pytest.param(
            WhileOpenRule(every_min=120),
            SITE,
            [
                ("27 08:30", "27 10:30"),
                ("27 10:30", "27 12:30"),
                ("27 12:30", "27 14:30"),
                ("27 14:30", "27 16:30"),
                ("27 16:30", "27 17:00"),  # cut at closing time
            ],
            id="every-2h-while-open-0830-1700",
        ),
        pytest.param(
            WhileOpenRule(every_min=90),
            FakeSite(open_hours=(time(9, 0), time(12, 0))),
            [("27 09:00", "27 10:30"), ("27 10:30", "27 12:00")],
            id="every-90min-fits-exactly",
        ),
        pytest.param(WhileOpenRule(every_min=120), FakeSite(open_hours=None), [], id="never-open-no-rounds"),
        pytest.param(
            DailyRule(window_start=time(8, 0), window_end=time(20, 0)), SITE, [("27 08:00", "27 20:00")], id="daily"
        ),
        pytest.param(
            NightRule(at=(time(22, 0), time(2, 0)), tolerance_min=60),
            SITE,
            [("27 01:00", "27 03:00"), ("27 21:00", "27 23:00")],
            id="night-22-and-02",
        ),
        pytest.param(
            NightRule(at=(time(0, 30),), tolerance_min=60),
            SITE,
            # The 00:30 round of the 28th starts at 23:30 on the 27th: it belongs to this day.
            [("27 23:30", "28 01:30")],
            id="night-window-across-midnight",
        ),
    ],
)
def test_rounds_of_one_local_day(rule: FrequencyRule, site: FakeSite, expected: list[tuple[str, str]]) -> None:
    assert spans(rule, local(27, 0), local(28, 0), site) == expected


def test_round_ids_are_stable_and_name_route_kind_and_local_start() -> None:
    patrol = route(WhileOpenRule(every_min=120), NightRule(at=(time(22, 0),), tolerance_min=60))
    first = rounds_between(patrol, SITE, local(27, 0), local(28, 0))
    again = rounds_between(patrol, SITE, local(27, 0).astimezone(UTC), local(28, 0).astimezone(UTC))
    assert [item.id for item in first] == [item.id for item in again]
    assert first == again
    assert first[0].id == "xts-fire/every_n_hours_while_open/20261127T0830"
    assert first[-1].id == "xts-fire/night/20261127T2100"
    assert first[-1].kind is RoundKind.NIGHT
    assert len({item.id for item in first}) == len(first)


def test_rounds_of_a_daily_and_a_while_open_rule_starting_together_keep_distinct_ids() -> None:
    patrol = route(DailyRule(window_start=time(8, 30), window_end=time(17, 0)), WhileOpenRule(every_min=120))
    found = rounds_between(patrol, SITE, local(27, 8, 30), local(27, 8, 31))
    assert [item.kind for item in found] == [RoundKind.DAILY, RoundKind.WHILE_OPEN]
    assert len({item.id for item in found}) == 2


def test_naive_times_and_foreign_sites_are_refused() -> None:
    patrol = route(WhileOpenRule(every_min=120))
    with pytest.raises(ValueError, match="timezone-aware"):
        rounds_between(patrol, SITE, datetime(2026, 11, 27), local(28, 0))
    with pytest.raises(ValueError, match="belongs to site"):
        rounds_between(patrol, FakeSite(id="lingyan-si"), local(27, 0), local(28, 0))
    assert rounds_between(patrol, SITE, local(28, 0), local(27, 0)) == []


def test_overlapping_night_times_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        NightRule(at=(time(23, 30), time(0, 30)), tolerance_min=60)
    NightRule(at=(time(23, 0), time(1, 0)), tolerance_min=60)  # touching is fine


# Properties ----------------------------------------------------------------------------

_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@st.composite
def _rules(draw: st.DrawFn) -> FrequencyRule:
    choice = draw(st.sampled_from(list(RoundKind)))
    if choice is RoundKind.DAILY:
        start, end = sorted(draw(st.lists(_times, min_size=2, max_size=2, unique=True)))
        return DailyRule(window_start=start, window_end=end)
    if choice is RoundKind.WHILE_OPEN:
        return WhileOpenRule(every_min=draw(st.integers(15, 300)))
    tolerance = draw(st.integers(5, 120))
    at = draw(st.lists(_times, min_size=1, max_size=4, unique=True))
    try:
        return NightRule(at=tuple(at), tolerance_min=tolerance)
    except ValueError:
        return NightRule(at=(at[0],), tolerance_min=tolerance)


_instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))
_sites = st.sampled_from([SITE, FakeSite(open_hours=(time(9, 0), time(16, 30))), FakeSite(open_hours=None)])


@settings(max_examples=150, deadline=None)
@given(rule=_rules(), site=_sites, start=_instants, length_h=st.integers(0, 80))
def test_rounds_of_one_rule_never_overlap_and_start_within_the_span(
    rule: FrequencyRule, site: FakeSite, start: datetime, length_h: int
) -> None:
    end = start + timedelta(hours=length_h)
    found = rounds_between(route(rule), site, start, end)
    for item in found:
        assert start <= item.window_start < end
        assert item.window_start < item.window_end
    for earlier, later in itertools.pairwise(found):
        assert earlier.window_end <= later.window_start


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(_rules(), min_size=1, max_size=3, unique_by=lambda rule: rule.kind),
    site=_sites,
    a=_instants,
    first_h=st.floats(0, 60),
    second_h=st.floats(0, 60),
)
def test_planning_in_two_steps_gives_the_rounds_of_one_step(
    rules: list[FrequencyRule], site: FakeSite, a: datetime, first_h: float, second_h: float
) -> None:
    b = a + timedelta(hours=first_h)
    c = b + timedelta(hours=second_h)
    patrol = route(*rules)
    assert rounds_between(patrol, site, a, b) + rounds_between(patrol, site, b, c) == rounds_between(patrol, site, a, c)
