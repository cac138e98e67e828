"""The daily device rollup (`device_days`, sql/016_report_rollups.sql): device health per China day.

The annual report asks how long each device was online over a year. Answering from `readings`
would read tens of millions of rows per district; so each day is rolled up once, in one pass
over that day's readings and events, into one row per registered device, and the report sums
about 365 rows per device.

A device is offline, as the alert engine judges it (`alerts/rules/devices.py`):
- from an `offline` status (a status event, `event_key` `status:offline:…`) until its next record;
- when it has a heartbeat, from `heartbeat_s` after a record until its next record.
Any record brings it back: a reading, an event, an `online` status. So the offline part of each
gap between two consecutive records is known from the first of them alone, and the day's offline
seconds are those parts clipped to the day. The last record of a day is carried into the next
(`last_at`, `last_offline`), which lets a silence of several days count on each day it covers.
`observed_s` is the part of the day after the device was first heard of: a device installed in
June is not offline from January to June. `figures.offline_seconds` is the same rule in Python
(the tests hold the two to each other).

Days must be rolled in order, since each day starts from the one before: `roll_days` rolls a
range in order, and `ensure_days` rolls every day of a range that is missing, together with all
the days after it (their carry may have changed). `maintain_days` is the maintenance job's step:
it rolls the days after the last rolled one up to yesterday, and rolls a recent day once more when
`SETTLE` has passed after its end (records that arrived late: a spool replay after a short
outage), at most `MAX_DAYS_PER_RUN` a run.
Records arriving later than that are not in the rollup until `roll_days` is run over their days
(`relic-guard report --rebuild-rollups`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Final

import psycopg

from relic_guard.hazards.workdays import CHINA_STANDARD_TIME, local_day

Conn = psycopg.Connection[Any]

DAY_S: Final = 86400.0
# A day is rolled again once when this much time has passed after its end, for records that
# arrived late (a spool replay after a short outage); the maintenance job looks this many days back.
SETTLE: Final = timedelta(hours=6)
REROLL_DAYS: Final = 2
# A maintenance run rolls at most this many days (catching up after an upgrade or long downtime
# takes several runs rather than one long transaction).
MAX_DAYS_PER_RUN: Final = 31

_ONE_DAY: Final = timedelta(days=1)

# One day of every registered device. `dev` carries the previous day's last record; `recs` are
# the day's readings and events plus that carried record; `seq` pairs each record with the next
# (the day's end for the last). Ties at one instant are ordered offline-last, so an `offline`
# status sent together with a reading leaves the device offline, as its last word.
_ROLL_DAY: Final = """
WITH dev AS (
    SELECT d.site_id, d.id AS device_id, d.heartbeat_s, p.last_at AS carry_at,
           coalesce(p.last_offline, false) AS carry_offline
    FROM devices d
    LEFT JOIN device_days p ON p.site_id = d.site_id AND p.device_id = d.id AND p.day = %(prev)s
),
recs AS (
    SELECT r.site_id, r.device_id, r.ts, false AS offline, true AS counted
    FROM readings r WHERE r.ts >= %(ds)s AND r.ts < %(de)s
    UNION ALL
    SELECT e.site_id, e.device_id, e.ts, (e.type = 'offline' AND e.event_key LIKE 'status:%%'), true
    FROM events e WHERE e.ts >= %(ds)s AND e.ts < %(de)s
    UNION ALL
    SELECT dev.site_id, dev.device_id, dev.carry_at, dev.carry_offline, false FROM dev WHERE dev.carry_at IS NOT NULL
),
seq AS (
    SELECT site_id, device_id, ts, offline, counted,
           lead(ts) OVER w AS next_ts
    FROM recs
    WINDOW w AS (PARTITION BY site_id, device_id ORDER BY ts, offline)
),
rolled AS (
    SELECT dev.site_id, dev.device_id,
           count(*) FILTER (WHERE s.counted) AS records,
           coalesce(sum(greatest(0.0, extract(epoch FROM
               least(coalesce(s.next_ts, %(de)s), %(de)s)
               - greatest(CASE WHEN s.offline THEN s.ts
                               ELSE s.ts + dev.heartbeat_s * interval '1 second' END, %(ds)s)))::float8)
               FILTER (WHERE s.offline OR dev.heartbeat_s IS NOT NULL), 0.0) AS offline_s,
           CASE WHEN dev.carry_at IS NOT NULL THEN %(day_s)s
                ELSE coalesce(extract(epoch FROM %(de)s - min(s.ts))::float8, 0.0) END AS observed_s,
           max(s.ts) AS last_at,
           coalesce(bool_or(s.offline AND s.next_ts IS NULL), false) AS last_offline
    FROM dev LEFT JOIN seq s ON s.site_id = dev.site_id AND s.device_id = dev.device_id
    GROUP BY dev.site_id, dev.device_id, dev.heartbeat_s, dev.carry_at
)
INSERT INTO device_days AS t (day, site_id, device_id, records, offline_s, observed_s, last_at, last_offline)
SELECT %(day)s, site_id, device_id, records, least(offline_s, observed_s), observed_s, last_at, last_offline
FROM rolled WHERE last_at IS NOT NULL
ON CONFLICT (site_id, device_id, day) DO UPDATE
SET records = excluded.records, offline_s = excluded.offline_s, observed_s = excluded.observed_s,
    last_at = excluded.last_at, last_offline = excluded.last_offline
"""


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a China calendar day as aware instants."""
    start = datetime.combine(day, time(0), CHINA_STANDARD_TIME)
    return start, start + _ONE_DAY


def roll_day(conn: Conn, day: date, now: datetime) -> None:
    """Roll up one day (replacing what was there); the day before must be rolled already for
    silences that began before `day` to count."""
    start, end = day_bounds(day)
    # A device registered under another heartbeat or removed since keeps no stale row for the day.
    conn.execute("DELETE FROM device_days WHERE day = %s", (day,))
    conn.execute(_ROLL_DAY, {"day": day, "prev": day - _ONE_DAY, "ds": start, "de": end, "day_s": DAY_S})
    conn.execute(
        "INSERT INTO device_days_done (day, rolled_at) VALUES (%s, %s) "
        "ON CONFLICT (day) DO UPDATE SET rolled_at = excluded.rolled_at",
        (day, now),
    )


def roll_days(conn: Conn, first: date, last: date, now: datetime) -> int:
    """Roll up every day of [first, last] in order; the number of days rolled."""
    day, rolled = first, 0
    while day <= last:
        roll_day(conn, day, now)
        day += _ONE_DAY
        rolled += 1
    return rolled


def rolled_days(conn: Conn, first: date, last: date) -> set[date]:
    rows = conn.execute("SELECT day FROM device_days_done WHERE day BETWEEN %s AND %s", (first, last)).fetchall()
    return {row[0] for row in rows}


def ensure_days(conn: Conn, first: date, last: date, now: datetime) -> int:
    """Make sure every day of [first, last] is rolled up: from the first missing day on, every day
    is rolled (again), since each starts from the one before. The number of days rolled."""
    if last < first:
        return 0
    done = rolled_days(conn, first, last)
    day = first
    while day <= last and day in done:
        day += _ONE_DAY
    if day > last:
        return 0
    return roll_days(conn, day, last, now)


def maintain_days(conn: Conn, now: datetime, *, retention_days: int) -> int:
    """The maintenance step: roll the days after the last rolled one up to yesterday (China time),
    and once more a recent day not yet rolled `SETTLE` after its end, at most `MAX_DAYS_PER_RUN`
    days a run; never a day the retention window has begun to drop. The number of days rolled."""
    floor = local_day(now - timedelta(days=retention_days)) + _ONE_DAY
    yesterday = local_day(now) - _ONE_DAY
    row = conn.execute("SELECT max(day) FROM device_days_done WHERE day <= %s", (yesterday,)).fetchone()
    last_done: date | None = row[0] if row else None
    low = floor if last_done is None else max(floor, last_done - timedelta(days=REROLL_DAYS - 1))
    if yesterday < low:
        return 0
    rolled_at = dict(conn.execute(
        "SELECT day, rolled_at FROM device_days_done WHERE day BETWEEN %s AND %s", (low, yesterday)).fetchall())
    day = low
    while day <= yesterday:
        settled_at = day_bounds(day)[1] + SETTLE
        when = rolled_at.get(day)
        if when is None or (when < settled_at <= now):
            break
        day += _ONE_DAY
    if day > yesterday:
        return 0
    return roll_days(conn, day, min(yesterday, day + timedelta(days=MAX_DAYS_PER_RUN - 1)), now)
