"""The report's figures from its rows: pure functions, no I/O, `now` passed in (`period_of`).

`district_report(rows)` computes every figure of one district from the `DistrictRows` the query
layer read; `city_report` puts the districts side by side. The pieces are public so the tests
can hold each to a table of rows.

Conventions, stated once because a supervisor may recompute any figure from the CSV files:
- percentiles interpolate linearly between the two nearest values (Excel's PERCENTILE.INC,
  numpy's default): the median of 1, 2, 3, 10 is 2.5 and its 90th percentile 7.9;
- a rate is None (shown as "—") when nothing was counted, never 0 % or 100 % by default;
- drills are counted apart and left out of every other alert figure;
- time to acknowledge is from opening to the first acknowledgement; time to close is from opening
  to the close, for alerts a person closed (the engine's own closes of conditions that ended are
  counted apart);
- the false-alarm rate of a device kind is false alarms / alerts closed, among the alerts a
  device's own signal raised (`ALARM_CATEGORIES`), by the kind of the alert's device;
- a patrol round is done when it was walked completely, on time or late; due when its window had
  ended by the period's end; withdrawn rounds count neither way (they are never read);
- a hazard is rectified on time when it was closed on or before its deadline (China day).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta

from relic_guard.hazards.workdays import CHINA_STANDARD_TIME, local_day
from relic_guard.report.model import (
    ALARM_CATEGORIES,
    CITY,
    ENGINE_ACTOR,
    AlertFigures,
    AlertRow,
    Case,
    CaseCategory,
    CaseFigures,
    CityReport,
    DeviceRow,
    DeviceUptime,
    DeviceUptimeRow,
    DistrictReport,
    DistrictRows,
    DrawFigures,
    DrawnTarget,
    DrawRow,
    DroneFigures,
    Durations,
    FalseAlarmLine,
    FlightRow,
    FlightSiteLine,
    HazardFigures,
    HazardItem,
    HazardLine,
    HazardRow,
    Incident,
    InspectionFigures,
    InspectionItem,
    InspectionLine,
    InspectionRow,
    LevelKindCount,
    MonthUptimeRow,
    PatrolCountRow,
    PatrolFigures,
    PatrolLine,
    Period,
    RecordLine,
    ResponseFigures,
    ResponseLine,
    SiteFigures,
    SiteLine,
    SiteRow,
    Summary,
    UptimeFigures,
    UptimeLine,
)

SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "warning", "info")
CATEGORIES: tuple[str, ...] = ("fire", "security", "video", "drone", "environment", "device", "patrol", "hazard",
                               "inspection")
STATUSES: tuple[str, ...] = ("open", "acknowledged", "resolved", "false_alarm")
LEVEL_ORDER: tuple[str, ...] = ("世界文化遗产", "全国重点文物保护单位", "省级文物保护单位", "市县级文物保护单位",
                                "一般不可移动文物", "博物馆", "考古工地")
KIND_ORDER: tuple[str, ...] = ("古建筑", "古遗址", "古墓葬", "石窟寺及石刻", "近现代重要史迹", "博物馆")
INSPECTION_KINDS: tuple[str, ...] = ("district_supervision", "site_evaluation", "fire_random")
HAZARD_SEVERITIES: tuple[str, ...] = ("major", "general")
RATINGS: tuple[str, ...] = ("good", "fair", "poor")
# How many of the worst devices the report lists by name.
LOWEST_DEVICES = 10
UNNAMED_CUSTODIAN = "（未指定）"
SITE_WIDE_KIND = "（全站）"


# --- the period ------------------------------------------------------------------------------


def year_start(year: int) -> datetime:
    return datetime.combine(date(year, 1, 1), time(0), CHINA_STANDARD_TIME)


def period_of(year: int, now: datetime) -> Period:
    """The year as far as it is over at `now`: to the end of the year, or to the start of today
    (China time) while it runs. Raises ValueError for a year that has not begun."""
    start = year_start(year)
    if now < start:
        raise ValueError(f"{year} has not begun yet")
    today = datetime.combine(local_day(now), time(0), CHINA_STANDARD_TIME)
    return Period(year=year, start=start, end=min(year_start(year + 1), today), generated_at=now)


def local_month(moment: datetime) -> int:
    return moment.astimezone(CHINA_STANDARD_TIME).month


# --- numbers ---------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 ≤ q ≤ 1) by linear interpolation between closest ranks; None when empty."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must lie in [0, 1]")
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def durations(values: Sequence[float]) -> Durations:
    return Durations(count=len(values), median_s=quantile(values, 0.5), p90_s=quantile(values, 0.9))


def rate(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


# --- device health: the rule the daily rollup applies ----------------------------------------


def offline_seconds(
    records: Iterable[tuple[datetime, bool]],
    heartbeat_s: float | None,
    start: datetime,
    end: datetime,
    carry: tuple[datetime, bool] | None = None,
) -> tuple[float, float]:
    """(offline seconds, observed seconds) of a device over [start, end), from its records in that
    span as (time, is an `offline` status) and the last record before it (`carry`). The rule of
    `rollups.py`: offline from an `offline` status until the next record, and `heartbeat_s` after
    any other record until the next; observed from the first record ever on."""
    sequence = sorted(records, key=lambda item: (item[0], item[1]))
    if carry is not None:
        sequence.insert(0, carry)
    if not sequence:
        return 0.0, 0.0
    offline = 0.0
    for index, (at, is_offline) in enumerate(sequence):
        following = sequence[index + 1][0] if index + 1 < len(sequence) else end
        if is_offline:
            down_from = at
        elif heartbeat_s is not None:
            down_from = at + timedelta(seconds=heartbeat_s)
        else:
            continue
        offline += max(0.0, (min(following, end) - max(down_from, start)).total_seconds())
    observed = (end - start).total_seconds() if carry is not None else (end - sequence[0][0]).total_seconds()
    return min(offline, observed), observed


# --- sites -----------------------------------------------------------------------------------


def _ordered(values: Iterable[str], known: Sequence[str]) -> tuple[str, ...]:
    present = set(values)
    return tuple([v for v in known if v in present] + sorted(present - set(known)))


def site_figures(sites: Sequence[SiteRow], devices: Sequence[DeviceRow]) -> SiteFigures:
    levels = _ordered((s.level or "未定级" for s in sites), LEVEL_ORDER)
    kinds = _ordered((s.kind or "未分类" for s in sites), KIND_ORDER)
    counts = Counter((s.level or "未定级", s.kind or "未分类") for s in sites)
    matrix = tuple(LevelKindCount(level=lv, kind=kd, sites=counts[(lv, kd)]) for lv in levels for kd in kinds)
    per_site = Counter(d.site_id for d in devices)
    level_rank = {lv: i for i, lv in enumerate(levels)}
    lines = tuple(SiteLine(site=s, devices=per_site[s.id])
                  for s in sorted(sites, key=lambda s: (level_rank[s.level or "未定级"], s.name, s.id)))
    return SiteFigures(levels=levels, kinds=kinds, matrix=matrix, lines=lines)


# --- alerts ----------------------------------------------------------------------------------


def case_category(alert: AlertRow) -> CaseCategory | None:
    try:
        return CaseCategory(alert.classification) if alert.classification else None
    except ValueError:
        return None


def case_figures(alerts: Sequence[AlertRow], site_names: Mapping[str, str]) -> CaseFigures:
    cases = []
    for alert in alerts:
        category = case_category(alert)
        if category is not None and not alert.drill and alert.status in ("resolved", "false_alarm"):
            cases.append(Case(alert=alert, category=category, site_name=site_names.get(alert.site_id, alert.site_id)))
    cases.sort(key=lambda c: (c.alert.opened_at, c.alert.id))
    by_category = {category: sum(1 for c in cases if c.category is category) for category in CaseCategory}
    return CaseFigures(by_category=by_category, cases=tuple(cases))


def alert_figures(alerts: Sequence[AlertRow]) -> AlertFigures:
    real = [a for a in alerts if not a.drill]
    by_category_severity = Counter((a.category, a.severity) for a in real)
    by_month_category = Counter((local_month(a.opened_at), a.category) for a in real)
    return AlertFigures(
        total=len(real),
        drills=len(alerts) - len(real),
        by_category_severity=dict(by_category_severity),
        by_month_category=dict(by_month_category),
        by_status=dict(Counter(a.status for a in real)),
        categories=_ordered((a.category for a in real), CATEGORIES),
        severities=_ordered((a.severity for a in real), SEVERITIES),
    )


def _seconds(frm: datetime, to: datetime | None) -> float | None:
    return None if to is None else max(0.0, (to - frm).total_seconds())


def response_figures(alerts: Sequence[AlertRow]) -> ResponseFigures:
    real = [a for a in alerts if not a.drill]

    def line(severity: str, group: Sequence[AlertRow]) -> ResponseLine:
        acks = [s for a in group if (s := _seconds(a.opened_at, a.acknowledged_at)) is not None]
        closes = [s for a in group if a.resolved_by != ENGINE_ACTOR
                  and (s := _seconds(a.opened_at, a.resolved_at)) is not None]
        return ResponseLine(severity=severity, acknowledge=durations(acks), close=durations(closes))

    severities = _ordered((a.severity for a in real), SEVERITIES)
    lines = [line(sev, [a for a in real if a.severity == sev]) for sev in severities]
    lines.append(line("", real))
    return ResponseFigures(
        lines=tuple(lines),
        closed_by_engine=sum(1 for a in real if a.resolved_at is not None and a.resolved_by == ENGINE_ACTOR),
        still_open=sum(1 for a in real if a.status in ("open", "acknowledged")),
    )


def device_kind(device: DeviceRow | None, device_id: str) -> str:
    if device is None:
        return SITE_WIDE_KIND if device_id == "*" else "（未登记设备）"
    return device.kind or device.source


def false_alarm_lines(alerts: Sequence[AlertRow], devices: Sequence[DeviceRow]) -> tuple[FalseAlarmLine, ...]:
    by_key = {(d.site_id, d.device_id): d for d in devices}
    closed: Counter[str] = Counter()
    false: Counter[str] = Counter()
    for alert in alerts:
        if alert.drill or alert.category not in ALARM_CATEGORIES or alert.status not in ("resolved", "false_alarm"):
            continue
        kind = device_kind(by_key.get((alert.site_id, alert.device_id)), alert.device_id)
        closed[kind] += 1
        if alert.status == "false_alarm" or alert.classification == "false_alarm":
            false[kind] += 1
    lines = [FalseAlarmLine(device_kind=kind, closed=closed[kind], false_alarms=false[kind],
                            rate=rate(false[kind], closed[kind]))
             for kind in sorted(closed, key=lambda k: (-(false[k] / closed[k]), -closed[k], k))]
    total_closed, total_false = sum(closed.values()), sum(false.values())
    lines.append(FalseAlarmLine(device_kind="合计", closed=total_closed, false_alarms=total_false,
                                rate=rate(total_false, total_closed)))
    return tuple(lines)


# --- device health ---------------------------------------------------------------------------


def _uptime_line(label: str, rows: Sequence[DeviceUptimeRow]) -> UptimeLine:
    offline = sum(r.offline_s for r in rows)
    observed = sum(r.observed_s for r in rows)
    return UptimeLine(label=label, devices=len(rows), offline_s=offline, observed_s=observed,
                      rate=None if observed <= 0 else 1.0 - offline / observed)


def uptime_figures(devices: Sequence[DeviceRow], rows: Sequence[DeviceUptimeRow],
                   months: Sequence[MonthUptimeRow], site_names: Mapping[str, str]) -> UptimeFigures:
    found = {(r.site_id, r.device_id): r for r in rows}
    # Every registered device has a line: one the rollup never saw sent nothing.
    per_device = [found.get((d.site_id, d.device_id)) or DeviceUptimeRow(
        site_id=d.site_id, device_id=d.device_id, records=0, offline_s=0.0, observed_s=0.0) for d in devices]
    by_kind: dict[str, list[DeviceUptimeRow]] = defaultdict(list)
    by_site: dict[str, list[DeviceUptimeRow]] = defaultdict(list)
    for device, row in zip(devices, per_device, strict=True):
        by_kind[device.kind or device.source].append(row)
        by_site[device.site_id].append(row)
    detailed = [DeviceUptime(device=d, site_name=site_names.get(d.site_id, d.site_id), records=r.records,
                             offline_s=r.offline_s, observed_s=r.observed_s,
                             rate=None if r.observed_s <= 0 else 1.0 - r.offline_s / r.observed_s)
                for d, r in zip(devices, per_device, strict=True)]
    heard = [d for d in detailed if d.rate is not None]
    lowest = sorted((d for d in heard if d.offline_s > 0),
                    key=lambda d: (d.rate if d.rate is not None else 0.0, d.site_name, d.device.device_id))
    month_lines = tuple(
        UptimeLine(label=f"{m.month}月", devices=0, offline_s=m.offline_s, observed_s=m.observed_s,
                   rate=None if m.observed_s <= 0 else 1.0 - m.offline_s / m.observed_s)
        for m in sorted(months, key=lambda m: m.month))
    return UptimeFigures(
        overall=_uptime_line("合计", per_device),
        by_kind=tuple(_uptime_line(kind, by_kind[kind]) for kind in sorted(by_kind)),
        by_site=tuple(_uptime_line(site_names.get(site, site), by_site[site])
                      for site in sorted(by_site, key=lambda s: (site_names.get(s, s), s))),
        by_month=month_lines,
        lowest=tuple(lowest[:LOWEST_DEVICES]),
        silent=tuple(sorted((d for d in detailed if d.records == 0 and d.device.heartbeat_s is not None),
                            key=lambda d: (d.site_name, d.device.device_id))),
        quiet_without_heartbeat=sum(1 for d in detailed if d.records == 0 and d.device.heartbeat_s is None),
        records=sum(r.records for r in per_device),
    )


# --- patrols ---------------------------------------------------------------------------------


_PATROL_FIELD = {"complete": "on_time", "late": "late", "partial": "partial", "missed": "missed",
                 "pending": "pending"}


def _patrol_line(label: str, site_names: Iterable[str], rows: Iterable[PatrolCountRow]) -> PatrolLine:
    counts: Counter[str] = Counter()
    for row in rows:
        field = _PATROL_FIELD.get(row.status)
        if field is not None:
            counts[field] += row.rounds
    return PatrolLine(label=label, site_names=tuple(sorted(set(site_names))), due=sum(counts.values()),
                      on_time=counts["on_time"], late=counts["late"], partial=counts["partial"],
                      missed=counts["missed"], pending=counts["pending"])


def patrol_figures(rows: Sequence[PatrolCountRow], sites: Mapping[str, SiteRow],
                   route_custodians: Mapping[str, tuple[str, ...]]) -> PatrolFigures:
    def name(site_id: str) -> str:
        site = sites.get(site_id)
        return site.name if site is not None else site_id

    by_site: dict[str, list[PatrolCountRow]] = defaultdict(list)
    by_custodian: dict[str, list[PatrolCountRow]] = defaultdict(list)
    for row in rows:
        by_site[row.site_id].append(row)
        custodians = route_custodians.get(row.route_id)
        if not custodians:
            site = sites.get(row.site_id)
            custodians = site.custodians if site is not None else ()
        # A round walked by a team is every member's round: each is answerable for it.
        for person in custodians or (UNNAMED_CUSTODIAN,):
            by_custodian[person].append(row)
    return PatrolFigures(
        total=_patrol_line("合计", (name(r.site_id) for r in rows), rows),
        by_site=tuple(_patrol_line(name(s), (name(s),), by_site[s])
                      for s in sorted(by_site, key=lambda s: (name(s), s))),
        by_custodian=tuple(_patrol_line(p, (name(r.site_id) for r in by_custodian[p]), by_custodian[p])
                           for p in sorted(by_custodian)),
    )


# --- inspections and draws -------------------------------------------------------------------


def _overdue(item: InspectionRow, today: date) -> bool:
    return item.status in ("planned", "assigned") and item.due_on < today


def inspection_figures(rows: Sequence[InspectionRow], site_names: Mapping[str, str],
                       today: date) -> InspectionFigures:
    lines = []
    for kind in INSPECTION_KINDS:
        group = [r for r in rows if r.kind == kind]
        lines.append(InspectionLine(
            kind=kind,
            planned=sum(1 for r in group if r.status != "cancelled"),
            done=sum(1 for r in group if r.status == "done"),
            overdue=sum(1 for r in group if _overdue(r, today)),
            open_in_time=sum(1 for r in group if r.status in ("planned", "assigned") and not _overdue(r, today)),
            cancelled=sum(1 for r in group if r.status == "cancelled"),
            ratings={rating: sum(1 for r in group if r.rating == rating) for rating in RATINGS},
        ))
    kind_rank = {k: i for i, k in enumerate(INSPECTION_KINDS)}
    items = tuple(InspectionItem(inspection=r, overdue=_overdue(r, today),
                                 subject=site_names.get(r.site_id, r.target_name or r.site_id)
                                 if r.site_id else (r.target_name or r.district))
                  for r in sorted(rows, key=lambda r: (kind_rank.get(r.kind, 9), r.due_on, r.id)))
    return InspectionFigures(lines=tuple(lines), items=items)


def draw_figures(draws: Sequence[DrawRow], fire_inspections: Sequence[InspectionRow],
                 district: str) -> tuple[DrawFigures, ...]:
    made = {(r.draw_id, r.site_id): r for r in fire_inspections if r.kind == "fire_random"}
    found = []
    for draw in sorted(draws, key=lambda d: (d.period_start, d.id)):
        targets = []
        for target in draw.targets:
            if target.district != district:
                continue
            inspection = made.get((draw.id, target.target_id))
            targets.append(DrawnTarget(
                target=target, inspection_status=None if inspection is None else inspection.status,
                rating=None if inspection is None else inspection.rating,
                findings=0 if inspection is None else inspection.findings))
        if targets:
            found.append(DrawFigures(draw=draw, targets=tuple(targets)))
    return tuple(found)


# --- hazards ---------------------------------------------------------------------------------


def hazard_figures(rows: Sequence[HazardRow], site_names: Mapping[str, str], today: date,
                   open_before: int) -> HazardFigures:
    def counts(label: str, group: Sequence[HazardRow]) -> HazardLine:
        closed = [h for h in group if h.status == "closed" and h.closed_at is not None]
        open_ = [h for h in group if h.status in ("open", "rectifying")]
        return HazardLine(
            label=label, found=len(group),
            closed_on_time=sum(1 for h in closed if h.closed_at is not None and local_day(h.closed_at) <= h.deadline),
            closed_late=sum(1 for h in closed if h.closed_at is not None and local_day(h.closed_at) > h.deadline),
            open_overdue=sum(1 for h in open_ if h.deadline < today),
            open_in_time=sum(1 for h in open_ if h.deadline >= today),
            cancelled=sum(1 for h in group if h.status == "cancelled"),
        )

    lines = [counts(severity, [h for h in rows if h.severity == severity]) for severity in HAZARD_SEVERITIES]
    lines.append(counts("合计", rows))
    late: list[HazardItem] = []
    for hazard in rows:
        ended = local_day(hazard.closed_at) if hazard.status == "closed" and hazard.closed_at is not None else None
        if hazard.status in ("open", "rectifying") and hazard.deadline < today:
            late.append(HazardItem(hazard=hazard, site_name=site_names.get(hazard.site_id, hazard.site_id),
                                   days_overdue=(today - hazard.deadline).days))
        elif ended is not None and ended > hazard.deadline:
            late.append(HazardItem(hazard=hazard, site_name=site_names.get(hazard.site_id, hazard.site_id),
                                   days_overdue=(ended - hazard.deadline).days))
    late.sort(key=lambda item: (-item.days_overdue, item.hazard.id))
    return HazardFigures(lines=tuple(lines), by_source=dict(Counter(h.source for h in rows)), overdue=tuple(late),
                         open_before=open_before)


# --- drones ----------------------------------------------------------------------------------


def _flight_line(label: str, flights: Sequence[FlightRow]) -> FlightSiteLine:
    shares = [f.coverage_share for f in flights if f.coverage_share is not None]
    return FlightSiteLine(
        site_name=label, flights=len(flights), patrol_flights=sum(1 for f in flights if f.counts_as_patrol),
        hours=sum(f.duration_s for f in flights) / 3600.0, km=sum(f.distance_m for f in flights) / 1000.0,
        mean_coverage=sum(shares) / len(shares) if shares else None, best_coverage=max(shares) if shares else None,
        covered_ha=sum(f.covered_m2 or 0.0 for f in flights) / 10_000.0,
        end_reasons=dict(Counter(f.end_reason for f in flights)),
    )


def drone_figures(flights: Sequence[FlightRow] | None, site_names: Mapping[str, str]) -> DroneFigures:
    found = flights or ()
    by_site: dict[str, list[FlightRow]] = defaultdict(list)
    for flight in found:
        by_site[flight.site_id].append(flight)
    return DroneFigures(
        recorded=flights is not None,
        total=_flight_line("合计", found),
        by_site=tuple(_flight_line(site_names.get(s, s), by_site[s])
                      for s in sorted(by_site, key=lambda s: (site_names.get(s, s), s))),
        by_month=dict(Counter(local_month(f.started_at) for f in found)),
    )


# --- major incidents -------------------------------------------------------------------------


def incidents(alerts: Sequence[AlertRow], records: Sequence[RecordLine],
              site_names: Mapping[str, str]) -> tuple[Incident, ...]:
    """Every critical alert and every alert classified as a case (drills apart), oldest first,
    each with its record in time order (timeline entries before deliveries at one instant)."""
    by_alert: dict[str, list[RecordLine]] = defaultdict(list)
    for line in records:
        by_alert[line.alert_id].append(line)
    found = []
    for alert in sorted(alerts, key=lambda a: (a.opened_at, a.id)):
        case = case_category(alert)
        if alert.drill or (alert.severity != "critical" and case is None):
            continue
        lines = sorted(by_alert.get(alert.id, ()),
                       key=lambda x: (x.at, x.kind.startswith("delivery."), x.audit_seq or 0))
        found.append(Incident(alert=alert, site_name=site_names.get(alert.site_id, alert.site_id), case=case,
                              lines=tuple(lines)))
    return tuple(found)


def is_major(alert: AlertRow) -> bool:
    return not alert.drill and (alert.severity == "critical" or case_category(alert) is not None)


# --- the whole report ------------------------------------------------------------------------


def district_report(rows: DistrictRows) -> DistrictReport:
    period = rows.period
    today = local_day(period.generated_at)
    site_names = {s.id: s.name for s in rows.sites}
    sites = {s.id: s for s in rows.sites}
    cases = case_figures(rows.alerts, site_names)
    alerts = alert_figures(rows.alerts)
    response = response_figures(rows.alerts)
    false_alarms = false_alarm_lines(rows.alerts, rows.devices)
    uptime = uptime_figures(rows.devices, rows.uptime, rows.uptime_months, site_names)
    patrols = patrol_figures(rows.patrols, sites, rows.route_custodians)
    inspections = inspection_figures(rows.inspections, site_names, today)
    hazards = hazard_figures(rows.hazards, site_names, today, rows.hazards_open_before)
    drones = drone_figures(rows.flights, site_names)
    overall = response.lines[-1]
    summary = Summary(
        sites=len(rows.sites),
        devices=len(rows.devices),
        alerts=alerts.total,
        critical_alerts=sum(n for (_, sev), n in alerts.by_category_severity.items() if sev == "critical"),
        cases=cases.total,
        false_alarm_rate=false_alarms[-1].rate,
        median_ack_s=overall.acknowledge.median_s,
        device_online_rate=uptime.overall.rate,
        patrol_rate=patrols.total.rate,
        inspections_planned=sum(line.planned for line in inspections.lines),
        inspections_done=sum(line.done for line in inspections.lines),
        hazards_found=hazards.total.found,
        hazards_on_time_rate=hazards.total.on_time_rate,
        hazards_open_overdue=hazards.total.open_overdue,
        drone_flights=drones.total.flights,
    )
    return DistrictReport(
        district=rows.district, period=period, summary=summary, sites=site_figures(rows.sites, rows.devices),
        cases=cases, alerts=alerts, response=response, false_alarms=false_alarms, uptime=uptime, patrols=patrols,
        inspections=inspections, draws=draw_figures(rows.draws, rows.inspections, rows.district), hazards=hazards,
        drones=drones, incidents=incidents(rows.alerts, rows.records, site_names),
    )


def city_report(reports: Sequence[DistrictReport], period: Period) -> CityReport:
    """The districts side by side, and the city's totals. Rates are recomputed from the districts'
    counts (a city rate is not the mean of district rates)."""
    def weighted(parts: Iterable[tuple[float | None, float]]) -> float | None:
        pairs = [(r, w) for r, w in parts if r is not None and w > 0]
        whole = sum(w for _, w in pairs)
        return None if whole <= 0 else sum(r * w for r, w in pairs) / whole

    closed = sum(r.false_alarms[-1].closed for r in reports)
    falses = sum(r.false_alarms[-1].false_alarms for r in reports)
    offline = sum(r.uptime.overall.offline_s for r in reports)
    observed = sum(r.uptime.overall.observed_s for r in reports)
    due = sum(r.patrols.total.due for r in reports)
    done = sum(r.patrols.total.done for r in reports)
    hazard_due = sum(line.closed_on_time + line.closed_late + line.open_overdue
                     for line in (r.hazards.total for r in reports))
    total = Summary(
        sites=sum(r.summary.sites for r in reports),
        devices=sum(r.summary.devices for r in reports),
        alerts=sum(r.summary.alerts for r in reports),
        critical_alerts=sum(r.summary.critical_alerts for r in reports),
        cases=sum(r.summary.cases for r in reports),
        false_alarm_rate=rate(falses, closed),
        # medians do not add up: the city's is the districts' weighted by acknowledged alerts, an
        # approximation the table says it is
        median_ack_s=weighted((r.response.lines[-1].acknowledge.median_s, r.response.lines[-1].acknowledge.count)
                              for r in reports),
        device_online_rate=None if observed <= 0 else 1.0 - offline / observed,
        patrol_rate=rate(done, due),
        inspections_planned=sum(r.summary.inspections_planned for r in reports),
        inspections_done=sum(r.summary.inspections_done for r in reports),
        hazards_found=sum(r.summary.hazards_found for r in reports),
        hazards_on_time_rate=rate(sum(r.hazards.total.closed_on_time for r in reports), hazard_due),
        hazards_open_overdue=sum(r.summary.hazards_open_overdue for r in reports),
        drone_flights=sum(r.summary.drone_flights for r in reports),
    )
    return CityReport(period=period, districts=tuple(reports), total=total,
                      cases_by_district={r.district or CITY: dict(r.cases.by_category) for r in reports})
