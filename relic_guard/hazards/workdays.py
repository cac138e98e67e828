"""Working days in China: weekends, public holidays and the adjusted Saturdays/Sundays (调休) on which
people work, as published each year by the State Council and kept in the `chinesecalendar` package.

Rectification deadlines (整改期限) are counted in working days, so a hazard found before National
Day does not fall due in the middle of the holiday week. The package only knows the years whose
arrangement has been published. For a year it does not know yet (the State Council publishes the
next year's arrangement in November or December, and the package follows), Monday to Friday count
as working days and a WARNING says so once per year: a deadline that may be off by the holidays
is better than a hazard tracker that stops (every reminder and escalation would fail with it).
Update the package to put the real holidays back: `pip install -U chinesecalendar`.

Counting convention (the one people use when they say "10 working days from the day found"):
- `add_working_days(start, n)` for n > 0 is the n-th working day strictly after `start`, for n < 0
  the |n|-th working day strictly before it, and `start` itself for n = 0;
- `working_days_between(a, b)` is the number of working days in (a, b] when a <= b, and
  minus `working_days_between(b, a)` otherwise.
So `working_days_between(d, add_working_days(d, n)) == n` for every n >= 0, and for negative n
when `d` itself is a working day.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Final

import chinese_calendar

from relic_guard.errors import RelicGuardError

log = logging.getLogger(__name__)

CHINA_STANDARD_TIME: Final[tzinfo] = timezone(timedelta(hours=8), "CST")
"""The calendar is China's, so "which day is it" is asked in +08:00 (no daylight saving since 1991)."""

_ONE_DAY: Final = timedelta(days=1)


class CalendarNotCovered(RelicGuardError, ValueError):  # noqa: N818 (reads as what the calendar is)
    """The date lies in a year whose holidays the installed `chinesecalendar` does not know (what
    the warning says; working days are then counted Monday to Friday)."""

    def __init__(self, day: date, detail: str) -> None:
        first, last = covered_years()
        super().__init__(
            f"{day.isoformat()}: the working-day calendar covers {first}–{last} only ({detail}); "
            "update the chinesecalendar package (pip install -U chinesecalendar) once the State Council "
            "has published the holiday arrangement for that year"
        )
        self.day = day


def covered_years() -> tuple[int, int]:
    """The first and last year the installed package has holiday data for."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


def is_working_day(day: date) -> bool:
    if isinstance(day, datetime):  # a datetime is a date too; its day would be taken in its own zone
        raise TypeError("is_working_day takes a date; use local_day() for a point in time")
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        if day.year not in _WARNED_YEARS:
            _WARNED_YEARS.add(day.year)
            log.warning("%s; counting Monday to Friday as working days for %d meanwhile",
                        CalendarNotCovered(day, str(exc)), day.year)
        return day.weekday() < 5


_WARNED_YEARS: set[int] = set()


def local_day(at: datetime) -> date:
    """The calendar day in China at the instant `at` (which must carry a time zone)."""
    if at.tzinfo is None:
        raise ValueError("a point in time needs a time zone")
    return at.astimezone(CHINA_STANDARD_TIME).date()


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (before it for negative n; `start` for 0)."""
    step = _ONE_DAY if n >= 0 else -_ONE_DAY
    day = start
    left = abs(n)
    while left:
        day += step
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(a: date, b: date) -> int:
    """Working days in (a, b]; negative when b is before a (see the module docstring)."""
    if b < a:
        return -working_days_between(b, a)
    count = 0
    day = a
    while day < b:
        day += _ONE_DAY
        if is_working_day(day):
            count += 1
    return count
