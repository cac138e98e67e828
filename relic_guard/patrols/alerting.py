"""Patrol alerts into the alert service: a round missed, late or left partial becomes an alert on
the route (one open alert per route and kind; a repeat counts, an escalation widens it), seen by
the monitoring center and the route's custodians, and by the district's culture bureau once the
rounds keep being missed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from alerts.model import Alert, AlertKey, Audience, Category, Severity, audiences
from alerts.rules.common import SHANGHAI
from relic_guard.alerting.service import AlertService
from relic_guard.patrols.model import Route
from relic_guard.patrols.rounds import PatrolAlert, PatrolAlertKind

# kind -> (severity, label): a missed round leaves a site unwatched; a late one was only late.
ALERT_WORDS: Final[dict[PatrolAlertKind, tuple[Severity, str]]] = {
    PatrolAlertKind.ROUND_MISSED: (Severity.MAJOR, "巡查漏巡"),
    PatrolAlertKind.ROUND_PARTIAL: (Severity.MINOR, "巡查不完整"),
    PatrolAlertKind.ROUND_LATE: (Severity.WARNING, "巡查迟到"),
}


def raise_patrol_alert(
    service: AlertService, found: PatrolAlert, routes: Mapping[str, Route], window_start: datetime | None = None
) -> Alert:
    severity, label = ALERT_WORDS[found.kind]
    route = routes.get(found.route_id)
    where = route.name if route is not None else found.route_id
    if window_start is not None:
        where += " " + window_start.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
    key = AlertKey(found.site, f"route:{found.route_id}", f"patrol.{found.kind.value}")
    return service.raise_condition(
        key,
        category=Category.PATROL,
        severity=severity,
        label=label,
        where=where,
        audiences=audiences(Audience.MONITORING_CENTER, *found.audiences),
        detail={
            "round": found.round_id,
            "missing": list(found.missing),
            "late_by_s": found.late_by_s,
            "escalated": found.escalated,
        },
    )
