"""Working-day arithmetic against real holiday arrangements, checked against chinesecalendar itself."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from relic_guard.hazards import workdays
from relic_guard.hazards.workdays import (
    CalendarNotCovered,
    add_working_days,
    covered_years,
    is_working_day,
    local_day,
    working_days_between,
)

# (start, n, expected): National Day 2024 (holiday 10-01..10-07; Sunday 09-29 and Saturday 10-12 are
# worked) and Spring Festival 2025 (holiday 01-28..02-04; Sunday 01-26 and Saturday 02-08 are worked).
ADD_CASES = [
    (date(2024, 9, 27), 1, date(2024, 9, 29)),  # Friday → the adjusted Sunday
    (date(2024, 9, 29), 1, date(2024, 9, 30)),
    (date(2024, 9, 30), 1, date(2024, 10, 8)),  # over the whole holiday week
    (date(2024, 10, 3), 1, date(2024, 10, 8)),  # from inside the holiday
    (date(2024, 10, 11), 1, date(2024, 10, 12)),  # the adjusted Saturday
    (date(2024, 9, 25), 10, date(2024, 10, 14)),  # a major hazard found the week before
    (date(2024, 10, 14), -2, date(2024, 10, 11)),  # two working days before: Saturday 10-12 counts
    (date(2024, 10, 8), -1, date(2024, 9, 30)),
    (date(2025, 1, 24), 1, date(2025, 1, 26)),
    (date(2025, 1, 27), 1, date(2025, 2, 5)),
    (date(2025, 2, 7), 1, date(2025, 2, 8)),
    (date(2025, 1, 20), 20, date(2025, 2, 21)),  # a general hazard found a week before Spring Festival
    (date(2025, 3, 3), 0, date(2025, 3, 3)),
]


@pytest.mark.parametrize(("start", "n", "expected"), ADD_CASES)
def test_add_working_days_over_real_holidays(start: date, n: int, expected: date) -> None:
    assert add_working_days(start, n) == expected
    if n:
        # cross-check with the package: the result is worked, and exactly |n| worked days lie on the way
        assert chinese_calendar.is_workday(expected)
        lo, hi = (start, expected) if n > 0 else (expected, start)
        days = [lo + timedelta(days=i) for i in range(1, (hi - lo).days + 1)] if n > 0 else [
            lo + timedelta(days=i) for i in range((hi - lo).days)]
        assert sum(chinese_calendar.is_workday(d) for d in days) == abs(n)


BETWEEN_CASES = [
    (date(2024, 9, 30), date(2024, 10, 8), 1),
    (date(2024, 9, 28), date(2024, 10, 12), 7),  # 09-29, 09-30, 10-08..10-12
    (date(2024, 10, 1), date(2024, 10, 7), 0),  # inside the holiday
    (date(2025, 1, 25), date(2025, 2, 8), 6),  # 01-26, 01-27, 02-05..02-08
    (date(2024, 10, 8), date(2024, 9, 30), -1),
    (date(2025, 3, 3), date(2025, 3, 3), 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), BETWEEN_CASES)
def test_working_days_between_over_real_holidays(a: date, b: date, expected: int) -> None:
    assert working_days_between(a, b) == expected


def test_adjusted_days_agree_with_the_package() -> None:
    for day in (date(2024, 9, 29), date(2024, 10, 12), date(2025, 1, 26), date(2025, 2, 8)):
        assert day.weekday() >= 5 and is_working_day(day) and chinese_calendar.is_workday(day)
    for day in (date(2024, 10, 1), date(2024, 10, 7), date(2025, 1, 28), date(2025, 2, 4)):
        assert day.weekday() < 5 and not is_working_day(day) and not chinese_calendar.is_workday(day)


def test_a_year_the_package_does_not_know_counts_weekdays_and_asks_for_an_update(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, last = covered_years()
    beyond = date(last + 1, 1, 5)
    workdays._WARNED_YEARS.discard(last + 1)  # another test may have asked about that year first
    with caplog.at_level(logging.WARNING, logger="relic_guard.hazards.workdays"):
        assert is_working_day(beyond) is (beyond.weekday() < 5)
        assert is_working_day(beyond + timedelta(days=1)) is ((beyond + timedelta(days=1)).weekday() < 5)
        # counting off the end of the known years goes on (Mon–Fri) instead of stopping the tracker
        assert add_working_days(date(last, 12, 20), 30).year == last + 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per year, not once per day asked about
    assert "update the chinesecalendar package" in warnings[0] and str(last + 1) in warnings[0]
    assert isinstance(CalendarNotCovered(beyond, "x"), ValueError)


def test_the_day_is_chinas_day() -> None:
    assert local_day(datetime(2024, 9, 30, 16, 30, tzinfo=UTC)) == date(2024, 10, 1)
    with pytest.raises(ValueError, match="time zone"):
        local_day(datetime(2024, 9, 30, 16, 30))
    with pytest.raises(TypeError):
        is_working_day(datetime(2024, 9, 30, tzinfo=UTC))


_known = st.dates(min_value=date(2005, 1, 1), max_value=date(2025, 10, 31))


@settings(max_examples=150, deadline=None)
@given(start=_known, n=st.integers(min_value=0, max_value=60))
def test_adding_lands_on_a_working_day_and_counting_inverts_it(start: date, n: int) -> None:
    end = add_working_days(start, n)
    if n:
        assert is_working_day(end) and end > start
    assert working_days_between(start, end) == n


@settings(max_examples=100, deadline=None)
@given(start=_known, n=st.integers(min_value=1, max_value=60))
def test_going_back_from_a_working_day_inverts_too(start: date, n: int) -> None:
    assume(is_working_day(start))
    back = add_working_days(start, -n)
    assert is_working_day(back) and back < start
    assert working_days_between(start, back) == -n
    assert working_days_between(back, start) == n
