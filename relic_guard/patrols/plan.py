"""Which patrol rounds fall due between two instants: `rounds_between(route, site, start, end)`.

Pure and idempotent: a round's id is made of the route id, the rule kind and the local
window start (`lingyan-si-fire/night/20261127T2100`), so a scheduler may plan "ahead" as
often as it likes, and after downtime plan the span it missed, and get the same rounds.

A round belongs to the span holding its `window_start`: every round returned starts in
[start, end), and planning [a, b) then [b, c) gives exactly the rounds of [a, c), whatever
b is. (Selecting by whole window instead would lose a round that straddles b.)

Local days are those of the site (Asia/Shanghai: UTC+8 all year, so a local day is always
24 hours and no wall-clock time is skipped or repeated).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final

from alerts.rules.common import SHANGHAI
from relic_guard.patrols.model import (
    DailyRule,
    FrequencyRule,
    NightRule,
    PatrolSite,
    Round,
    RoundKind,
    Route,
    WhileOpenRule,
    minute_of_day,
)

# A window starts at most half a day before the local date it belongs to (a night round's
# tolerance is below 12 h), so looking one day either side of the span finds every round.
_DAYS_AROUND: Final = 1
# Rounds starting at the same minute (a daily and a while-open round at opening time) are
# listed in a fixed order, so the output is the same on every call.
_KIND_ORDER: Final = {kind: index for index, kind in enumerate(RoundKind)}


def rounds_between(
    route: Route, site: PatrolSite, start: datetime, end: datetime, tz: tzinfo = SHANGHAI
) -> list[Round]:
    """Rounds of `route` whose window starts in [start, end), ordered by window start (then kind).
    `start` and `end` must be timezone-aware; the rounds' times are in `tz`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if site.id != route.site:
        raise ValueError(f"route {route.id} belongs to site {route.site}, not {site.id}")
    if end <= start:
        return []
    first = start.astimezone(tz).date() - timedelta(days=_DAYS_AROUND)
    last = end.astimezone(tz).date() + timedelta(days=_DAYS_AROUND)
    found: list[Round] = []
    day = first
    while day <= last:
        for rule in route.frequency:
            for window_start, window_end in _windows(rule, site, day, tz):
                if start <= window_start < end:
                    found.append(_round(route, rule, window_start, window_end, tz))
        day += timedelta(days=1)
    found.sort(key=lambda item: (item.window_start, _KIND_ORDER[item.kind]))
    return found


def round_id(route_id: str, rule: FrequencyRule, window_start: datetime, tz: tzinfo = SHANGHAI) -> str:
    """The stable id of the round of `rule` starting at `window_start` (minute resolution)."""
    return f"{route_id}/{rule.kind.value}/{window_start.astimezone(tz):%Y%m%dT%H%M}"


def _round(route: Route, rule: FrequencyRule, window_start: datetime, window_end: datetime, tz: tzinfo) -> Round:
    return Round(
        id=round_id(route.id, rule, window_start, tz),
        route_id=route.id,
        site=route.site,
        kind=rule.kind,
        window_start=window_start,
        window_end=window_end,
    )


def _at(day: date, minutes: int, tz: tzinfo) -> datetime:
    # Aware arithmetic keeps the wall clock; right because the zone has no DST.
    return datetime.combine(day, time(0, 0), tzinfo=tz) + timedelta(minutes=minutes)


def _windows(rule: FrequencyRule, site: PatrolSite, day: date, tz: tzinfo) -> Iterator[tuple[datetime, datetime]]:
    """The windows `rule` sets for local date `day`."""
    if isinstance(rule, DailyRule):
        yield _at(day, minute_of_day(rule.window_start), tz), _at(day, minute_of_day(rule.window_end), tz)
    elif isinstance(rule, WhileOpenRule):
        if site.open_hours is None:
            return  # never open to the public: the daily and night rules cover it
        opens, closes = (minute_of_day(moment) for moment in site.open_hours)
        # The last window is cut at closing time rather than dropped: the last visitors
        # leaving is when a dropped cigarette goes unnoticed (闭馆清场).
        for begin in range(opens, closes, rule.every_min):
            yield _at(day, begin, tz), _at(day, min(begin + rule.every_min, closes), tz)
    elif isinstance(rule, NightRule):
        for moment in rule.at:
            centre = minute_of_day(moment)
            yield _at(day, centre - rule.tolerance_min, tz), _at(day, centre + rule.tolerance_min, tz)
