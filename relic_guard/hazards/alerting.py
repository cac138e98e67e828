"""Hazard deadline notices into the alert service: one alert per hazard (keyed by it), opened by the
first reminder, updated by the next one and widened by each overdue escalation, seen by the
monitoring center, the site's custodians and, once overdue, the culture bureau."""

from __future__ import annotations

from typing import Final

from alerts.model import Alert, AlertKey, Category, Severity, audiences
from alerts.model import Audience as AlertAudience
from relic_guard.alerting.service import AlertService
from relic_guard.hazards.deadlines import Audience as DeadlineAudience
from relic_guard.hazards.job import HazardNotice, NoticeKind

# The deadline planner names bureaus by tier; the alert model has one culture-bureau audience.
# The routing file decides which culture-bureau recipients a site's alerts reach (its district's
# bureau, the city's, or both), so telling the district from the city bureau is a routing matter.
AUDIENCE_OF: Final[dict[DeadlineAudience, AlertAudience]] = {
    DeadlineAudience.OWNER: AlertAudience.CUSTODIANS,
    DeadlineAudience.DISTRICT_BUREAU: AlertAudience.CULTURE_BUREAU,
    DeadlineAudience.CITY_BUREAU: AlertAudience.CULTURE_BUREAU,
}

# kind -> (severity, label): a deadline near is a warning to the owner; a missed one is a failure
# to rectify that supervisors must act on.
ALERT_WORDS: Final[dict[NoticeKind, tuple[Severity, str]]] = {
    NoticeKind.REMINDER: (Severity.WARNING, "隐患整改即将到期"),
    NoticeKind.OVERDUE: (Severity.MAJOR, "隐患整改逾期"),
}

RULE: Final = "hazard.deadline"


def deadline_key(site_id: str, hazard_id: int) -> AlertKey:
    """The key a hazard's reminders and escalations are raised under (and ended by, on close)."""
    return AlertKey(site_id, f"hazard:{hazard_id}", RULE)


def alert_key(notice: HazardNotice) -> AlertKey:
    return deadline_key(notice.site, notice.hazard_id)


def alert_audiences(notice: HazardNotice) -> tuple[AlertAudience, ...]:
    """The monitoring center always, with the notice's audiences as the alert model names them."""
    return audiences(AlertAudience.MONITORING_CENTER, *(AUDIENCE_OF[a] for a in notice.audiences))


def raise_hazard_notice(service: AlertService, notice: HazardNotice) -> Alert:
    severity, label = ALERT_WORDS[notice.kind]
    return service.raise_condition(
        alert_key(notice),
        category=Category.HAZARD,
        severity=severity,
        label=label,
        where=notice.title,
        audiences=alert_audiences(notice),
        detail={
            "hazard": notice.hazard_id,
            "kind": notice.kind.value,
            "deadline": notice.deadline.isoformat(),
            "level": notice.level,
            "working_days": notice.working_days,
            "audiences": [a.value for a in notice.audiences],
        },
    )
