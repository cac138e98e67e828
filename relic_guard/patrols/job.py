"""The patrol job for the schedule (`relic_guard.schedule.runner`): plan, evaluate, alert.

    schedule.add(Job("patrol.rounds", make_patrol_job(routes, registry.sites, hand_over), every_s=60))

Each run works in the connection's one transaction: rounds are planned ahead, rounds of routes taken
out of the routes file are withdrawn, the rounds due are evaluated, the alerts of rounds that became
final are claimed and passed to `on_alerts`, and only then does the runner commit. If `on_alerts`
raises, nothing is kept and the next run offers the same alerts again; if the commit is lost after
`on_alerts` returned, the next run offers them again too. So an alert may at worst be offered twice,
never lost; its `key` is stable, for the alert service to drop the second copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from relic_guard.patrols import store
from relic_guard.patrols.model import PatrolSite, Route
from relic_guard.patrols.rounds import DEFAULT_GRACE_S, PatrolAlert
from relic_guard.schedule.runner import JobFunction

JOB_NAME = "patrol.rounds"


def make_patrol_job(
    routes: Sequence[Route],
    sites: Mapping[str, PatrolSite],
    on_alerts: Callable[[list[PatrolAlert]], None],
    *,
    ahead_h: float = store.DEFAULT_AHEAD_H,
    grace_s: float = DEFAULT_GRACE_S,
) -> JobFunction:
    """The schedule job over `routes`. `on_alerts` is called (from the job's worker thread) with
    the new alerts of a run, only when there are some; it should hand them over and return quickly,
    since the round rows stay locked until it does."""
    routes = tuple(routes)

    def run(conn: psycopg.Connection[Any], now: datetime) -> str:
        planned = store.plan_ahead(conn, routes, sites, now, ahead_h=ahead_h)
        withdrawn = store.withdraw_removed(conn, routes, now)
        results = store.evaluate_due(conn, routes, now, grace_s=grace_s)
        alerts = store.take_alerts(conn, results)
        if alerts:
            on_alerts(alerts)
        grace = timedelta(seconds=grace_s)
        final = sum(1 for result in results if now >= result.round.window_end + grace)
        return (f"planned {planned}, evaluated {len(results)}, final {final}, alerts {len(alerts)}"
                + (f", withdrawn {withdrawn}" if withdrawn else ""))

    return run
