"""Whether a site is open to the public at an instant, in the site's local time.

`open_hours` is the registry's value as it is (`Site.open_hours`: opening and closing
time of day, or None for a site never open to the public, which is then always closed).
Hours that cross midnight (18:00–02:00) are honoured as the alert rules honour them.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _site_zone() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # no tz database on the host: China has kept UTC+8 without DST since 1991
        return timezone(timedelta(hours=8), "CST")


SITE_TZ: Final = _site_zone()


def is_open(open_hours: tuple[time, time] | None, at: datetime, tz: tzinfo = SITE_TZ) -> bool:
    """True while `at` (timezone-aware) falls inside `open_hours` in local time `tz`."""
    if open_hours is None:
        return False
    start, end = open_hours
    local = at.astimezone(tz).time().replace(tzinfo=None)
    if start <= end:
        return start <= local < end
    return local >= start or local < end
