"""Patrol rounds in PostgreSQL (sql/010_patrol_rounds.sql): plan, evaluate, alert, list.

Plain functions over a synchronous psycopg connection, called by the patrol job
(`relic_guard.patrols.job`) on the schedule leader and read by the custodian's page.
Everything is derived from the tables, so a run repeated, or the first run after downtime,
does what is due and no more:

- `plan_ahead` inserts the rounds starting in [now - 1 day, now + ahead); existing rows are
  left alone, and rounds whose window passed while the daemon was down are created all the same,
  to be found missed by the next step;
- `evaluate_due` re-evaluates every round not yet final whose window has started, from the
  `patrol`/`checkin` rows of `events` (and, for routes with `drone_counts`, the site's rows of
  `drone_flights` that count as a patrol), and marks it final once window end + grace has passed
  (a check-in or a flight stored later than that no longer changes the round);
- `take_alerts` turns rounds that became final into alerts, each round at most once ever: the
  `alerted` flag is set in the same statement that claims the round.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from alerts.rules.common import SHANGHAI
from relic_guard.patrols.model import PatrolSite, Round, RoundKind, Route
from relic_guard.patrols.plan import rounds_between
from relic_guard.patrols.rounds import (
    DEFAULT_GRACE_S,
    CheckIn,
    PatrolAlert,
    RoundResult,
    RoundStatus,
    checkin_from_event,
    due_alerts,
    evaluate,
)
from relic_guard.store import flight_store
from sensors.model import Event, Source

Conn = psycopg.Connection[Any]

# How far back planning reaches: rounds of a day the daemon was down are still created (and then
# found missed). Longer downtime is not reconstructed: a week of "missed" alerts at once helps nobody.
PLAN_BACK: Final = timedelta(days=1)
DEFAULT_AHEAD_H: Final = 24.0

_COLUMNS: Final = (
    "id, route_id, site_id, kind, window_start, window_end, status, done, missing, late_by_s, "
    "evaluated_at, final, alerted, route_name, checkpoint_names"
)
_INSERT: Final = (
    "INSERT INTO patrol_rounds (id, route_id, site_id, kind, window_start, window_end, missing, route_name, "
    "checkpoint_names) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRound:
    """A row of `patrol_rounds`; times in the site's local time (Asia/Shanghai)."""

    id: str
    route_id: str
    site_id: str
    kind: RoundKind
    window_start: datetime
    window_end: datetime
    status: RoundStatus
    done: tuple[str, ...]
    missing: tuple[str, ...]
    late_by_s: float
    evaluated_at: datetime | None
    final: bool
    alerted: bool
    route_name: str
    # checkpoint id -> name, as of planning
    checkpoint_names: Mapping[str, str]

    def as_round(self) -> Round:
        return Round(id=self.id, route_id=self.route_id, site=self.site_id, kind=self.kind,
                     window_start=self.window_start, window_end=self.window_end)

    def as_result(self) -> RoundResult:
        return RoundResult(round=self.as_round(), status=self.status, done=self.done, missing=self.missing,
                           late_by_s=self.late_by_s)


def _stored(row: Sequence[Any]) -> StoredRound:
    names = row[14] if isinstance(row[14], dict) else {}
    return StoredRound(
        id=row[0], route_id=row[1], site_id=row[2], kind=RoundKind(row[3]),
        window_start=row[4].astimezone(SHANGHAI), window_end=row[5].astimezone(SHANGHAI),
        status=RoundStatus(row[6]), done=tuple(str(item) for item in row[7]),
        missing=tuple(str(item) for item in row[8]), late_by_s=float(row[9]),
        evaluated_at=None if row[10] is None else row[10].astimezone(SHANGHAI),
        final=bool(row[11]), alerted=bool(row[12]), route_name=row[13],
        checkpoint_names={str(key): str(value) for key, value in names.items()},
    )


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")


# Planning ----------------------------------------------------------------------------------------


def plan_ahead(
    conn: Conn, routes: Iterable[Route], sites: Mapping[str, PatrolSite], now: datetime,
    ahead_h: float = DEFAULT_AHEAD_H,
) -> int:
    """Insert the rounds of `routes` starting in [now - 1 day, now + ahead_h); returns how many were new.
    A route whose site is not in `sites` is skipped (the loader refuses such routes already)."""
    _aware(now)
    start, end = now - PLAN_BACK, now + timedelta(hours=ahead_h)
    rows: list[tuple[Any, ...]] = []
    for route in routes:
        site = sites.get(route.site)
        if site is None:
            continue
        names = Jsonb({checkpoint.id: checkpoint.name for checkpoint in route.checkpoints})
        missing = Jsonb([checkpoint.id for checkpoint in route.checkpoints])
        rows.extend(
            (item.id, item.route_id, item.site, item.kind.value, item.window_start, item.window_end, missing,
             route.name, names)
            for item in rounds_between(route, site, start, end)
        )
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(_INSERT, rows, returning=False)
        # executemany's rowcount is the sum over the statements: the rows actually inserted.
        return max(cur.rowcount, 0)


# Check-ins ---------------------------------------------------------------------------------------


def checkins(conn: Conn, site_id: str, frm: datetime, to: datetime) -> list[CheckIn]:
    """The check-ins stored at `site_id` with a time in [frm, to), oldest first. Rows are read
    back into the `Event` they were written from and parsed by `checkin_from_event`, so a check-in
    counts here exactly when it would have counted on its way in."""
    _aware(frm)
    _aware(to)
    rows = conn.execute(
        "SELECT ts, device_id, event_key, zone, attrs FROM events "
        "WHERE site_id = %s AND source = %s AND type = 'checkin' AND ts >= %s AND ts < %s ORDER BY ts",
        (site_id, Source.PATROL.value, frm, to),
    ).fetchall()
    found: list[CheckIn] = []
    for ts, device, key, zone, attrs in rows:
        event = Event(site=site_id, device=device, source=Source.PATROL, type="checkin", ts=ts, event_key=key,
                      zone=zone, attrs=attrs if isinstance(attrs, dict) else {})
        checkin = checkin_from_event(event)
        if checkin is not None:
            found.append(checkin)
    return found


# Evaluating --------------------------------------------------------------------------------------


def evaluate_due(
    conn: Conn, routes: Iterable[Route], now: datetime, grace_s: float = DEFAULT_GRACE_S
) -> list[RoundResult]:
    """Evaluate every round not yet final whose window has started at `now`, store the outcome, and
    mark final those whose window end + grace has passed. Rounds of routes not in `routes` (taken out
    of the routes file) are left to `withdraw_removed`. Returns the results in window order."""
    _aware(now)
    by_id = {route.id: route for route in routes}
    if not by_id:
        return []
    pending = [
        _stored(row) for row in conn.execute(
            f"SELECT {_COLUMNS} FROM patrol_rounds WHERE NOT final AND window_start <= %s AND route_id = ANY(%s) "
            "ORDER BY window_start, id FOR UPDATE",
            (now, list(by_id)),
        ).fetchall()
    ]
    grace = timedelta(seconds=grace_s)
    by_site: dict[str, list[StoredRound]] = {}
    for stored in pending:
        by_site.setdefault(stored.site_id, []).append(stored)
    results: list[RoundResult] = []
    updates: list[tuple[Any, ...]] = []
    for site_id, site_rounds in by_site.items():
        # One read per site covers every round's window and grace; `evaluate` picks what counts.
        frm = min(item.window_start for item in site_rounds)
        to = max(item.window_end for item in site_rounds) + grace
        site_checkins = checkins(conn, site_id, frm, to)
        flights = (flight_store.patrol_flight_ends(conn, site_id, frm, to)
                   if any(by_id[item.route_id].drone_counts for item in site_rounds) else [])
        for stored in site_rounds:
            result = evaluate(stored.as_round(), by_id[stored.route_id], site_checkins, now, grace_s=grace_s,
                              drone_flights=flights)
            final = now >= stored.window_end + grace
            results.append(result)
            updates.append((result.status.value, Jsonb(list(result.done)), Jsonb(list(result.missing)),
                            result.late_by_s, now, final, result.by_drone_at, stored.id))
    if updates:
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE patrol_rounds SET status = %s, done = %s, missing = %s, late_by_s = %s, evaluated_at = %s, "
                "final = %s, drone_flight_at = %s WHERE id = %s AND NOT final",
                updates,
            )
    results.sort(key=lambda item: (item.round.window_start, item.round.id))
    return results


def withdraw_removed(conn: Conn, routes: Iterable[Route], now: datetime) -> int:
    """Rounds of routes no longer in `routes` (taken out of the routes file): those not started
    at `now` are deleted (only a plan; putting the route back plans them again), those started
    and not yet final become final `withdrawn`, without an alert. Returns how many rounds changed."""
    _aware(now)
    current = [route.id for route in routes]
    with conn.cursor() as cur:
        cur.execute("DELETE FROM patrol_rounds WHERE NOT final AND window_start > %s AND route_id <> ALL(%s)",
                    (now, current))
        deleted = max(cur.rowcount, 0)
        cur.execute(
            "UPDATE patrol_rounds SET status = 'withdrawn', final = true, alerted = true, evaluated_at = %s "
            "WHERE NOT final AND window_start <= %s AND route_id <> ALL(%s)",
            (now, now, current),
        )
        return deleted + max(cur.rowcount, 0)


# Alerts ------------------------------------------------------------------------------------------


def take_alerts(conn: Conn, results: Iterable[RoundResult]) -> list[PatrolAlert]:
    """The alerts due for those of `results` whose rounds are final and not yet alerted, each
    round claimed (`alerted`) so that no later call, in this process or another, returns its
    alert again. "Missed twice in a row" looks back at each route's previous final round in the
    table. The caller's transaction decides: rolled back, the rounds are offered again next time."""
    given = {result.round.id: result for result in results}
    if not given:
        return []
    claimable = {
        row[0] for row in conn.execute(
            "SELECT id FROM patrol_rounds WHERE id = ANY(%s) AND final AND NOT alerted", (list(given),)
        ).fetchall()
    }
    fresh = [given[round_id] for round_id in given if round_id in claimable]
    if not fresh:
        return []
    fresh_ids = {result.round.id for result in fresh}
    spans: dict[str, tuple[datetime, datetime]] = {}
    for result in fresh:
        start = result.round.window_start
        low, high = spans.get(result.round.route_id, (start, start))
        spans[result.round.route_id] = (min(low, start), max(high, start))
    # "In a row" needs the route's final rounds around the fresh ones: the one before the first,
    # and those in between that became final earlier (a short round ends before a long one begun
    # before it, so finality does not follow window order).
    previous: list[RoundResult] = []
    for route_id, (low, high) in spans.items():
        before = conn.execute(
            f"SELECT {_COLUMNS} FROM patrol_rounds WHERE route_id = %s AND final AND window_start < %s "
            "ORDER BY window_start DESC, id DESC LIMIT 1",
            (route_id, low),
        ).fetchall()
        between = conn.execute(
            f"SELECT {_COLUMNS} FROM patrol_rounds WHERE route_id = %s AND final AND window_start >= %s "
            "AND window_start <= %s AND NOT (id = ANY(%s))",
            (route_id, low, high, sorted(fresh_ids)),
        ).fetchall()
        previous.extend(_stored(row).as_result() for row in [*before, *between])
    alerts = [alert for alert in due_alerts([*previous, *fresh]) if alert.round_id in fresh_ids]
    # Every fresh round is claimed, with or without an alert: a complete round is done with too.
    claimed = {
        row[0] for row in conn.execute(
            "UPDATE patrol_rounds SET alerted = true WHERE id = ANY(%s) AND final AND NOT alerted RETURNING id",
            (sorted(fresh_ids),),
        ).fetchall()
    }
    return [alert for alert in alerts if alert.round_id in claimed]


# The custodian's page ----------------------------------------------------------------------------


def rounds_for(conn: Conn, site_ids: Collection[str], day_start: datetime, day_end: datetime) -> list[StoredRound]:
    """The rounds at `site_ids` whose window starts in [day_start, day_end), in window order."""
    _aware(day_start)
    _aware(day_end)
    if not site_ids:
        return []
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM patrol_rounds WHERE site_id = ANY(%s) AND window_start >= %s AND window_start < %s "
        "ORDER BY window_start, site_id, id",
        (list(site_ids), day_start, day_end),
    ).fetchall()
    return [_stored(row) for row in rows]
