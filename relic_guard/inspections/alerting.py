"""Overdue inspection notices into the alert service.

Step 1 (the day after the due day) opens an alert keyed by the inspection, seen by the monitoring
center and the culture bureau, and assigned to the inspection's assignees: assigning is how the
alert service tells a person (the dashboard lists what is assigned to them; routing knows
audiences, not inspectors). Step 2 opens a second, major alert under the rule
`inspection.escalated`, so that it is *sent* again: the alert model has one culture-bureau
audience, and an alert that only grew more severe would notify nobody. Routing tells the district
bureau from the city bureau (a rule matching the district, a rule with `severity_at_least =
"major"` for the city), as it does for hazards. A run that missed step 1 sends step 2 alone, which
reaches both.

Which site an alert is keyed by: alerts are routed and scoped by their site (`AlertKey.site`: the
routing rules match a site's id, district and level, and the API shows an alert only to callers who
may see its site). A site evaluation, and a 双随机 inspection of a registered site, use that site.
A district supervision is about a whole district, so it is keyed by the district's first
registered site by id: a real site of that district, so rules matching the district route it to
that district's bureau and district-scoped callers see it; chosen by id so every run and every
daemon picks the same one, and the alert's title names the district and how many sites it covers.
A 双随机 target that is not a registered site is keyed the same way. A district with no registered
site at all keeps the district's name as the key's site: the alert is still recorded and shown to
callers who see every site, and the alert service logs that it has nobody to route it to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from alerts.model import Alert, AlertKey, Audience, Category, Severity, audiences
from relic_guard.alerting.records import SYSTEM_ACTOR
from relic_guard.alerting.service import AlertService
from relic_guard.inspections.annual import (
    KIND_ZH,
    InspectionKind,
    InspectionStatus,
    OverdueAudience,
    OverdueEnded,
    OverdueNotice,
)

# The overdue planner names bureaus by tier; the alert model has one culture-bureau audience, and
# the assignees are told by the alert's assignment (see the module docstring).
AUDIENCE_OF: Final[Mapping[OverdueAudience, Audience | None]] = {
    OverdueAudience.ASSIGNEES: None,
    OverdueAudience.DISTRICT_BUREAU: Audience.CULTURE_BUREAU,
    OverdueAudience.CITY_BUREAU: Audience.CULTURE_BUREAU,
}

# step -> (rule, severity, what the label adds): a reminder the district can still act on, then
# the city's attention.
STEPS: Final[Mapping[int, tuple[str, Severity, str]]] = {
    1: ("inspection.overdue", Severity.MINOR, "逾期"),
    2: ("inspection.escalated", Severity.MAJOR, "逾期，提请市文物局督办"),
}


class DistrictSite(Protocol):
    @property
    def district(self) -> str: ...


class Subject(Protocol):
    """What keying an alert needs of an inspection (an `OverdueNotice` or an `OverdueEnded`)."""

    @property
    def inspection_id(self) -> str: ...
    @property
    def district(self) -> str: ...
    @property
    def site_id(self) -> str | None: ...


def district_sites(district: str, sites: Mapping[str, DistrictSite]) -> list[str]:
    """The registered sites of a district, by id."""
    return sorted(site_id for site_id, site in sites.items() if site.district == district)


def alert_site(notice: Subject, sites: Mapping[str, DistrictSite]) -> str:
    """The site the notice's alert is keyed by (see the module docstring)."""
    if notice.site_id is not None and notice.site_id in sites:
        return notice.site_id
    found = district_sites(notice.district, sites)
    return found[0] if found else notice.district


def alert_key(notice: OverdueNotice, sites: Mapping[str, DistrictSite]) -> AlertKey:
    return step_key(notice, notice.step, sites)


def step_key(subject: Subject, step: int, sites: Mapping[str, DistrictSite]) -> AlertKey:
    return AlertKey(alert_site(subject, sites), f"inspection:{subject.inspection_id}", STEPS[step][0])


def alert_audiences(notice: OverdueNotice) -> tuple[Audience, ...]:
    """The monitoring center always, with the notice's bureaus as the alert model names them."""
    return audiences(Audience.MONITORING_CENTER,
                     *(found for a in notice.audiences if (found := AUDIENCE_OF[a]) is not None))


def label_and_where(notice: OverdueNotice, sites: Mapping[str, DistrictSite]) -> tuple[str, str]:
    """The alert title's label and place; the title then reads `label：<keyed site's name> where`."""
    _, _, what = STEPS[notice.step]
    due = f"应于 {notice.due_on.isoformat()} 前完成"
    if notice.kind is not InspectionKind.DISTRICT_SUPERVISION and notice.site_id in sites:
        return f"{KIND_ZH[notice.kind]}{what}", due
    label = f"{KIND_ZH[notice.kind]}{what}（{notice.district}）"
    if notice.kind is InspectionKind.DISTRICT_SUPERVISION:
        count = len(district_sites(notice.district, sites))
        return label, (f"等 {count} 处文物点，" if count > 1 else "") + due
    return label, f"检查对象 {notice.target_name}，{due}"


def raise_inspection_notice(service: AlertService, notice: OverdueNotice) -> Alert:
    _, severity, _ = STEPS[notice.step]
    label, where = label_and_where(notice, service.sites)
    alert = service.raise_condition(
        alert_key(notice, service.sites),
        category=Category.INSPECTION,
        severity=severity,
        label=label,
        where=where,
        audiences=alert_audiences(notice),
        detail={
            "inspection": notice.inspection_id,
            "kind": notice.kind.value,
            "district": notice.district,
            "site_id": notice.site_id,
            "target_name": notice.target_name,
            "due_on": notice.due_on.isoformat(),
            "step": notice.step,
            "days_overdue": notice.days_overdue,
            "assignees": list(notice.assignees),
            "audiences": [a.value for a in notice.audiences],
        },
    )
    owners = ",".join(notice.assignees)
    if owners and alert.assigned_to != owners:
        alert = service.assign(alert.id, owners, SYSTEM_ACTOR)
    return alert


ENDED_NOTE: Final[Mapping[InspectionStatus, str]] = {
    InspectionStatus.DONE: "检查已完成，逾期提醒结束 / inspection done",
    InspectionStatus.CANCELLED: "检查已取消，逾期提醒结束 / inspection cancelled",
}


def end_inspection_alerts(service: AlertService, ended: OverdueEnded) -> list[Alert]:
    """End the open overdue alerts (either step) of an inspection now done or cancelled: the
    condition is over, so they close without a classification (no incident to count)."""
    note = ENDED_NOTE.get(ended.status, f"检查状态 {ended.status.value}")
    closed = (service.end_condition(step_key(ended, step, service.sites), by=SYSTEM_ACTOR, note=note)
              for step in STEPS)
    return [alert for alert in closed if alert is not None]


def hand_to_service(service: AlertService, found: Sequence[OverdueNotice | OverdueEnded]) -> None:
    """Raise the job's notices and end the alerts of inspections finished, in the job's order."""
    for item in found:
        if isinstance(item, OverdueEnded):
            end_inspection_alerts(service, item)
        else:
            raise_inspection_notice(service, item)
