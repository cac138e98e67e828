"""What the annual supervision report is made of: the plain rows read from the store, and the
figures computed from them (`figures.py`), as frozen dataclasses.

The rows are what `queries.py` reads, already narrowed to one district and one period, with
nothing computed beyond counting; the figures are what a supervisor reads and signs. Keeping
both as plain values lets the figures be tested from tables of rows, without a database, and lets
every renderer (HTML, PDF, CSV, XLSX) work from one `DistrictReport`.

Time: a report covers a China calendar year, [Jan 1 00:00, Jan 1 00:00 of the next year) at
+08:00, cut at `Period.end` when the year is not over yet (a report of the current year is "to
date"). Durations are seconds; rates are fractions in [0, 1], or None when nothing was counted.
Statuses that change after the period (an alert still open, a hazard closed later) are as they
stood when the report was made (`Period.generated_at`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final

from alerts.model import Classification
from relic_guard.hazards.workdays import CHINA_STANDARD_TIME

CITY: Final = "全市"
"""The name of the city summary where a district name would stand."""


class CaseCategory(StrEnum):
    """The cases and accidents the national bureau counts, as alerts are classified when closed."""

    LOOTING = Classification.LOOTING.value
    THEFT = Classification.THEFT.value
    DAMAGE = Classification.DAMAGE.value
    FIRE = Classification.FIRE.value
    OTHER_ACCIDENT = Classification.OTHER_ACCIDENT.value


CASE_LABELS: Final[Mapping[CaseCategory, str]] = {
    CaseCategory.LOOTING: "盗掘古文化遗址古墓葬",
    CaseCategory.THEFT: "盗窃/抢劫文物",
    CaseCategory.DAMAGE: "故意或过失损毁文物",
    CaseCategory.FIRE: "文物火灾事故",
    CaseCategory.OTHER_ACCIDENT: "其他安全事故",
}
CLASSIFICATION_LABELS: Final[Mapping[str, str]] = {
    **{category.value: label for category, label in CASE_LABELS.items()},
    Classification.FALSE_ALARM.value: "误报",
    Classification.DEVICE_FAULT.value: "设备故障",
}

# Alert categories raised by a device's own signal: the ones a false-alarm rate means something
# for (a device going offline, a missed patrol or an overdue hazard cannot be a false alarm).
ALARM_CATEGORIES: Final = ("fire", "security", "video", "drone", "environment")
# `resolved_by` of alerts the engine closed itself (a condition that ended: a threshold that
# recovered, a device heard again): not a person's response, so not in the time to close.
ENGINE_ACTOR: Final = "relic-guard"


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    year: int
    start: datetime
    # exclusive; the year's end, or earlier for a year not over when the report was made
    end: datetime
    generated_at: datetime

    @property
    def complete(self) -> bool:
        """The whole year is in (the report was made after it ended)."""
        return self.end >= datetime.combine(date(self.year + 1, 1, 1), time(0), CHINA_STANDARD_TIME)

    @property
    def first_day(self) -> date:
        return self.start.astimezone(CHINA_STANDARD_TIME).date()

    @property
    def last_day(self) -> date:
        """The period's last China day (the day before `first_day` for an empty period)."""
        return (self.end - timedelta(microseconds=1)).astimezone(CHINA_STANDARD_TIME).date()

    @property
    def months(self) -> tuple[int, ...]:
        """The months of the year the period reaches into."""
        if self.end <= self.start:
            return ()
        return tuple(range(1, self.last_day.month + 1))


# --- rows, as read ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteRow:
    id: str
    name: str
    district: str
    level: str
    kind: str
    custodians: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRow:
    site_id: str
    device_id: str
    source: str
    kind: str
    heartbeat_s: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRow:
    id: str
    site_id: str
    device_id: str
    category: str
    severity: str
    status: str
    title: str
    opened_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    classification: str | None = None
    note: str | None = None
    drill: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordLine:
    """One line of an incident's record: an `alert_timeline` entry, or a delivery from the audit
    trail (`audit_seq` set: the entry that proves it)."""

    alert_id: str
    at: datetime
    kind: str
    actor: str
    detail: Mapping[str, object] = field(default_factory=dict)
    audit_seq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUptimeRow:
    """A device's sums over the period's days in `device_days` (zeros: never heard of)."""

    site_id: str
    device_id: str
    records: int
    offline_s: float
    observed_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthUptimeRow:
    month: int
    offline_s: float
    observed_s: float
    records: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolCountRow:
    """How many rounds of a route ended in a status (withdrawn rounds are never read)."""

    site_id: str
    route_id: str
    route_name: str
    status: str
    rounds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectionRow:
    id: str
    kind: str
    district: str
    site_id: str | None
    target_name: str
    due_on: date
    status: str
    done_on: date | None = None
    rating: str | None = None
    findings: int = 0
    assignees: tuple[str, ...] = ()
    draw_id: int | None = None
    reinspection: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawTargetRow:
    target_id: str
    target_name: str
    district: str
    mandatory: bool
    inspectors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawRow:
    id: int
    period: str
    period_start: date
    period_end: date
    seed: str
    fingerprint: str
    count: int
    drawn_at: datetime
    drawn_by: str
    targets: tuple[DrawTargetRow, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HazardRow:
    id: int
    site_id: str
    title: str
    severity: str
    source: str
    found_at: datetime
    deadline: date
    status: str
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlightRow:
    id: str
    aircraft: str
    site_id: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    distance_m: float
    max_height_m: float | None
    battery_used_pct: float | None
    end_reason: str
    coverage_share: float | None
    counts_as_patrol: bool
    covered_m2: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DistrictRows:
    """Everything the report of one district reads, for one period."""

    district: str
    period: Period
    sites: tuple[SiteRow, ...]
    devices: tuple[DeviceRow, ...]
    alerts: tuple[AlertRow, ...]
    records: tuple[RecordLine, ...]
    uptime: tuple[DeviceUptimeRow, ...]
    uptime_months: tuple[MonthUptimeRow, ...]
    patrols: tuple[PatrolCountRow, ...]
    # route id → its named custodians (the routes file); a route not here falls back to its site's
    route_custodians: Mapping[str, tuple[str, ...]]
    inspections: tuple[InspectionRow, ...]
    draws: tuple[DrawRow, ...]
    hazards: tuple[HazardRow, ...]
    # hazards found before the period and still open when the report was made
    hazards_open_before: int
    # None: the store has no drone_flights table yet (no flight records at all)
    flights: tuple[FlightRow, ...] | None


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Durations:
    """How long something took over a set of alerts: count, median and 90th percentile (s)."""

    count: int
    median_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelKindCount:
    level: str
    kind: str
    sites: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteLine:
    site: SiteRow
    devices: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteFigures:
    levels: tuple[str, ...]
    kinds: tuple[str, ...]
    # (level, kind) → sites, every pair of `levels` × `kinds`
    matrix: tuple[LevelKindCount, ...]
    lines: tuple[SiteLine, ...]

    def count(self, level: str, kind: str) -> int:
        return next((c.sites for c in self.matrix if c.level == level and c.kind == kind), 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    alert: AlertRow
    category: CaseCategory
    site_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseFigures:
    by_category: Mapping[CaseCategory, int]
    cases: tuple[Case, ...]

    @property
    def total(self) -> int:
        return sum(self.by_category.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertFigures:
    total: int
    drills: int
    # counts of the period's alerts (drills apart), by the keys named
    by_category_severity: Mapping[tuple[str, str], int]
    by_month_category: Mapping[tuple[int, str], int]
    by_status: Mapping[str, int]
    categories: tuple[str, ...]
    severities: tuple[str, ...]

    def category_total(self, category: str) -> int:
        return sum(n for (c, _), n in self.by_category_severity.items() if c == category)

    def month_total(self, month: int) -> int:
        return sum(n for (m, _), n in self.by_month_category.items() if m == month)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseLine:
    severity: str  # "" for all severities
    acknowledge: Durations
    close: Durations


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseFigures:
    lines: tuple[ResponseLine, ...]
    # closed by the engine itself (a condition that ended): not in the time to close
    closed_by_engine: int
    # open or acknowledged when the report was made
    still_open: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FalseAlarmLine:
    device_kind: str
    closed: int
    false_alarms: int
    rate: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UptimeLine:
    label: str
    devices: int
    offline_s: float
    observed_s: float
    rate: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUptime:
    device: DeviceRow
    site_name: str
    records: int
    offline_s: float
    observed_s: float
    rate: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UptimeFigures:
    overall: UptimeLine
    by_kind: tuple[UptimeLine, ...]
    by_site: tuple[UptimeLine, ...]
    by_month: tuple[UptimeLine, ...]
    # the devices with the lowest rates (those heard of in the period), lowest first
    lowest: tuple[DeviceUptime, ...]
    # registered devices with a heartbeat (they should report) that sent nothing during the period
    silent: tuple[DeviceUptime, ...]
    # devices without a heartbeat that sent nothing: normal for a detector that speaks only on alarm
    quiet_without_heartbeat: int
    records: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolLine:
    label: str  # a site's name or a custodian's
    site_names: tuple[str, ...]
    due: int
    on_time: int
    late: int
    partial: int
    missed: int
    pending: int

    @property
    def done(self) -> int:
        return self.on_time + self.late

    @property
    def rate(self) -> float | None:
        return None if self.due == 0 else self.done / self.due


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolFigures:
    total: PatrolLine
    by_site: tuple[PatrolLine, ...]
    by_custodian: tuple[PatrolLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectionLine:
    kind: str
    planned: int  # every inspection of the kind not cancelled
    done: int
    overdue: int  # still open after its due day (as of when the report was made)
    open_in_time: int
    cancelled: int
    ratings: Mapping[str, int]

    @property
    def rate(self) -> float | None:
        return None if self.planned == 0 else self.done / self.planned


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectionItem:
    inspection: InspectionRow
    subject: str
    overdue: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectionFigures:
    lines: tuple[InspectionLine, ...]
    items: tuple[InspectionItem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawnTarget:
    target: DrawTargetRow
    inspection_status: str | None  # None: the draw made no inspection of it (yet)
    rating: str | None
    findings: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawFigures:
    draw: DrawRow
    targets: tuple[DrawnTarget, ...]  # the district's targets only

    @property
    def done(self) -> int:
        return sum(1 for t in self.targets if t.inspection_status == "done")


@dataclass(frozen=True, slots=True, kw_only=True)
class HazardLine:
    label: str  # a severity's words, or 合计
    found: int
    closed_on_time: int
    closed_late: int
    open_overdue: int
    open_in_time: int
    cancelled: int

    @property
    def on_time_rate(self) -> float | None:
        """Rectified on time among the hazards that were due by now or closed."""
        due = self.closed_on_time + self.closed_late + self.open_overdue
        return None if due == 0 else self.closed_on_time / due


@dataclass(frozen=True, slots=True, kw_only=True)
class HazardItem:
    hazard: HazardRow
    site_name: str
    # working days are not counted here: calendar days past the deadline, as of report time
    days_overdue: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HazardFigures:
    lines: tuple[HazardLine, ...]  # by severity, then the total
    by_source: Mapping[str, int]
    overdue: tuple[HazardItem, ...]  # open past the deadline, or closed late, most overdue first
    open_before: int

    @property
    def total(self) -> HazardLine:
        return self.lines[-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlightSiteLine:
    site_name: str
    flights: int
    patrol_flights: int
    hours: float
    km: float
    mean_coverage: float | None
    best_coverage: float | None
    # the ground each flight saw, added up over the flights (ground seen twice counts twice)
    covered_ha: float
    end_reasons: Mapping[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class DroneFigures:
    recorded: bool  # False: no flight table in the store
    total: FlightSiteLine
    by_site: tuple[FlightSiteLine, ...]
    by_month: Mapping[int, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """A major incident: a critical alert, or any alert classified as a case."""

    alert: AlertRow
    site_name: str
    case: CaseCategory | None
    lines: tuple[RecordLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    sites: int
    devices: int
    alerts: int
    critical_alerts: int
    cases: int
    false_alarm_rate: float | None
    median_ack_s: float | None
    device_online_rate: float | None
    patrol_rate: float | None
    inspections_planned: int
    inspections_done: int
    hazards_found: int
    hazards_on_time_rate: float | None
    hazards_open_overdue: int
    drone_flights: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DistrictReport:
    district: str
    period: Period
    summary: Summary
    sites: SiteFigures
    cases: CaseFigures
    alerts: AlertFigures
    response: ResponseFigures
    false_alarms: tuple[FalseAlarmLine, ...]
    uptime: UptimeFigures
    patrols: PatrolFigures
    inspections: InspectionFigures
    draws: tuple[DrawFigures, ...]
    hazards: HazardFigures
    drones: DroneFigures
    incidents: tuple[Incident, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CityReport:
    """The city summary: every district's headline figures side by side, and the city's totals."""

    period: Period
    districts: tuple[DistrictReport, ...]
    total: Summary
    cases_by_district: Mapping[str, Mapping[CaseCategory, int]]
