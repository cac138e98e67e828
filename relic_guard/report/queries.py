"""The report's reads: one district, one period, as plain rows (`model.DistrictRows`).

Plain functions over a synchronous psycopg connection. Nothing here computes a figure: queries
narrow and count, `figures.py` does the rest. Every read is bounded by the district's sites and
the period, through the indexes the tables already have (alerts by site and opening time, patrol
rounds by site and window, hazards by site and time found, the audit trail by subject), and device
health comes from the daily rollup (`device_days`, `rollups.py`), never from `readings`: a
district-year of tens of millions of readings is read as a few hundred thousand rollup rows.
`prepare` rolls up the period's days that are not rolled yet, so a report is complete even when
the maintenance job has not caught up.

Which district a row belongs to is decided by the `sites` table (the registry as last synced):
alerts, rounds and hazards name a site, inspections name their district themselves. A record of
a site no longer in the registry is therefore in no district's report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg

from relic_guard.report import rollups
from relic_guard.report.figures import is_major, year_start
from relic_guard.report.model import (
    AlertRow,
    DeviceRow,
    DeviceUptimeRow,
    DistrictRows,
    DrawRow,
    DrawTargetRow,
    FlightRow,
    HazardRow,
    InspectionRow,
    MonthUptimeRow,
    PatrolCountRow,
    Period,
    RecordLine,
    SiteRow,
)

Conn = psycopg.Connection[Any]


def districts(conn: Conn) -> list[str]:
    """Every district of the registry, in name order (sites with no district are left out)."""
    rows = conn.execute("SELECT DISTINCT district FROM sites WHERE district <> '' ORDER BY district").fetchall()
    return [str(row[0]) for row in rows]


def prepare(conn: Conn, period: Period, now: datetime) -> int:
    """Roll up the period's days that the maintenance job has not rolled yet; days rolled."""
    return rollups.ensure_days(conn, period.first_day, period.last_day, now)


def sites_of(conn: Conn, district: str) -> tuple[SiteRow, ...]:
    rows = conn.execute(
        "SELECT id, name, district, level, kind, custodians FROM sites WHERE district = %s ORDER BY id", (district,)
    ).fetchall()
    return tuple(SiteRow(id=r[0], name=r[1], district=r[2], level=r[3], kind=r[4], custodians=tuple(r[5] or ()))
                 for r in rows)


def devices_of(conn: Conn, district: str) -> tuple[DeviceRow, ...]:
    rows = conn.execute(
        "SELECT d.site_id, d.id, d.source, d.kind, d.heartbeat_s FROM devices d JOIN sites s ON s.id = d.site_id "
        "WHERE s.district = %s ORDER BY d.site_id, d.id", (district,)
    ).fetchall()
    return tuple(DeviceRow(site_id=r[0], device_id=r[1], source=r[2], kind=r[3], heartbeat_s=r[4]) for r in rows)


def alerts_of(conn: Conn, district: str, period: Period) -> tuple[AlertRow, ...]:
    """The alerts opened in the period at the district's sites, with their state as of now."""
    rows = conn.execute(
        "SELECT a.id, a.site_id, a.device_id, a.category, a.severity, a.status, a.title, a.opened_at, "
        "a.acknowledged_at, a.resolved_at, a.resolved_by, a.classification, a.note, a.drill "
        "FROM sites s JOIN alerts a ON a.site_id = s.id "
        "WHERE s.district = %s AND a.opened_at >= %s AND a.opened_at < %s ORDER BY a.opened_at, a.id",
        (district, period.start, period.end),
    ).fetchall()
    return tuple(AlertRow(id=r[0], site_id=r[1], device_id=r[2], category=r[3], severity=r[4], status=r[5],
                          title=r[6], opened_at=r[7], acknowledged_at=r[8], resolved_at=r[9], resolved_by=r[10],
                          classification=r[11], note=r[12], drill=r[13]) for r in rows)


def records_of(conn: Conn, alert_ids: Sequence[str]) -> tuple[RecordLine, ...]:
    """The record of each alert: its timeline entries, each with the audit entry that holds it
    (same kind, time and actor), and the deliveries the audit trail holds for it."""
    if not alert_ids:
        return ()
    timeline = conn.execute(
        "SELECT alert_id, at, kind, actor, detail FROM alert_timeline WHERE alert_id = ANY(%s) "
        "ORDER BY alert_id, at, id", (list(alert_ids),),
    ).fetchall()
    audit = conn.execute(
        "SELECT seq, subject, at, kind, actor, detail FROM audit_log WHERE subject = ANY(%s) "
        "AND (kind LIKE 'alert.%%' OR kind LIKE 'delivery.%%') ORDER BY seq", (list(alert_ids),),
    ).fetchall()
    return merge_record(timeline, audit)


def merge_record(timeline: Sequence[Sequence[Any]], audit: Sequence[Sequence[Any]]) -> tuple[RecordLine, ...]:
    """Timeline rows (alert_id, at, kind, actor, detail) and audit rows (seq, subject, at, kind,
    actor, detail) as one record: each timeline entry is paired with the first unpaired audit
    entry `alert.<kind>` of the same alert, time and actor; deliveries, and audit entries of an
    alert whose timeline row is missing, are added as lines of their own."""
    waiting: dict[tuple[str, str, datetime, str], list[int]] = {}
    for seq, subject, at, kind, actor, _ in audit:
        if str(kind).startswith("alert."):
            waiting.setdefault((subject, str(kind)[6:], at, actor), []).append(int(seq))
    lines: list[RecordLine] = []
    for alert_id, at, kind, actor, detail in timeline:
        seqs = waiting.get((alert_id, kind, at, actor))
        lines.append(RecordLine(alert_id=alert_id, at=at, kind=kind, actor=actor, detail=_mapping(detail),
                                audit_seq=seqs.pop(0) if seqs else None))
    left = {seq for seqs in waiting.values() for seq in seqs}
    for seq, subject, at, audit_kind, actor, detail in audit:
        kind = str(audit_kind)
        if kind.startswith("delivery.") or int(seq) in left:
            lines.append(RecordLine(alert_id=subject, at=at, kind=kind.removeprefix("alert."), actor=actor,
                                    detail=_mapping(detail), audit_seq=int(seq)))
    return tuple(lines)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def uptime_of(conn: Conn, district: str, period: Period) -> tuple[tuple[DeviceUptimeRow, ...],
                                                                   tuple[MonthUptimeRow, ...]]:
    """Per registered device and per month, the sums of `device_days` over the period's days."""
    args = (district, period.first_day, period.last_day)
    devices = conn.execute(
        "SELECT dd.site_id, dd.device_id, sum(dd.records), sum(dd.offline_s), sum(dd.observed_s) "
        "FROM sites s JOIN devices d ON d.site_id = s.id "
        "JOIN device_days dd ON dd.site_id = d.site_id AND dd.device_id = d.id "
        "WHERE s.district = %s AND dd.day BETWEEN %s AND %s GROUP BY 1, 2", args,
    ).fetchall()
    months = conn.execute(
        "SELECT extract(month FROM dd.day)::int, sum(dd.offline_s), sum(dd.observed_s), sum(dd.records) "
        "FROM sites s JOIN devices d ON d.site_id = s.id "
        "JOIN device_days dd ON dd.site_id = d.site_id AND dd.device_id = d.id "
        "WHERE s.district = %s AND dd.day BETWEEN %s AND %s GROUP BY 1 ORDER BY 1", args,
    ).fetchall()
    return (
        tuple(DeviceUptimeRow(site_id=r[0], device_id=r[1], records=int(r[2]), offline_s=float(r[3]),
                              observed_s=float(r[4])) for r in devices),
        tuple(MonthUptimeRow(month=int(r[0]), offline_s=float(r[1]), observed_s=float(r[2]), records=int(r[3]))
              for r in months),
    )


def patrols_of(conn: Conn, district: str, period: Period) -> tuple[PatrolCountRow, ...]:
    """Rounds starting in the period whose window had ended by its end, counted by route and
    status; withdrawn rounds count neither as done nor as due, so they are not read."""
    rows = conn.execute(
        "SELECT r.site_id, r.route_id, max(r.route_name), r.status, count(*) "
        "FROM sites s JOIN patrol_rounds r ON r.site_id = s.id "
        "WHERE s.district = %s AND r.window_start >= %s AND r.window_start < %s AND r.window_end <= %s "
        "AND r.status <> 'withdrawn' GROUP BY r.site_id, r.route_id, r.status ORDER BY 1, 2, 4",
        (district, period.start, period.end, period.end),
    ).fetchall()
    return tuple(PatrolCountRow(site_id=r[0], route_id=r[1], route_name=r[2], status=r[3], rounds=int(r[4]))
                 for r in rows)


def inspections_of(conn: Conn, district: str, year: int) -> tuple[InspectionRow, ...]:
    rows = conn.execute(
        "SELECT id, kind, district, site_id, target_name, due_on, status, done_on, rating, "
        "jsonb_array_length(findings), assignees, draw_id, reinspection "
        "FROM inspections WHERE year = %s AND district = %s ORDER BY id", (year, district),
    ).fetchall()
    return tuple(InspectionRow(id=r[0], kind=r[1], district=r[2], site_id=r[3], target_name=r[4], due_on=r[5],
                               status=r[6], done_on=r[7], rating=r[8], findings=int(r[9]),
                               assignees=tuple(str(a) for a in (r[10] or ())), draw_id=r[11], reinspection=r[12])
                 for r in rows)


def draws_of(conn: Conn, year: int) -> tuple[DrawRow, ...]:
    """The draws of periods starting in `year`, with their published assignments (every district:
    the figures keep the report's own)."""
    rows = conn.execute(
        "SELECT id, period, period_start, period_end, seed, fingerprint, count, drawn_at, drawn_by, result "
        "FROM draws WHERE period_start >= %s AND period_start < %s ORDER BY period_start, id",
        (year_start(year).date(), year_start(year + 1).date()),
    ).fetchall()
    found = []
    for r in rows:
        result = r[9] if isinstance(r[9], dict) else {}
        targets = tuple(
            DrawTargetRow(target_id=str(a.get("target", "")), target_name=str(a.get("target_name", "")),
                          district=str(a.get("district", "")), mandatory=bool(a.get("mandatory")),
                          inspectors=tuple(str(i.get("name") or i.get("id") or "") for i in a.get("inspectors", ())
                                           if isinstance(i, dict)))
            for a in result.get("assignments", ()) if isinstance(a, dict))
        found.append(DrawRow(id=int(r[0]), period=r[1], period_start=r[2], period_end=r[3], seed=r[4],
                             fingerprint=r[5], count=int(r[6]), drawn_at=r[7], drawn_by=r[8], targets=targets))
    return tuple(found)


def hazards_of(conn: Conn, district: str, period: Period) -> tuple[tuple[HazardRow, ...], int]:
    """The hazards found in the period at the district's sites, and how many found before it are
    still open."""
    rows = conn.execute(
        "SELECT h.id, h.site_id, h.title, h.severity, h.source, h.found_at, h.deadline, h.status, h.closed_at "
        "FROM sites s JOIN hazards h ON h.site_id = s.id "
        "WHERE s.district = %s AND h.found_at >= %s AND h.found_at < %s ORDER BY h.found_at, h.id",
        (district, period.start, period.end),
    ).fetchall()
    before = conn.execute(
        "SELECT count(*) FROM sites s JOIN hazards h ON h.site_id = s.id "
        "WHERE s.district = %s AND h.found_at < %s AND h.status IN ('open', 'rectifying')",
        (district, period.start),
    ).fetchone()
    return (tuple(HazardRow(id=int(r[0]), site_id=r[1], title=r[2], severity=r[3], source=r[4], found_at=r[5],
                            deadline=r[6], status=r[7], closed_at=r[8]) for r in rows),
            int(before[0]) if before else 0)


def flights_of(conn: Conn, district: str, period: Period) -> tuple[FlightRow, ...] | None:
    """The drone flights started in the period at the district's sites; None when the store has no
    flight table (a version that does not record flights)."""
    exists = conn.execute("SELECT to_regclass('drone_flights') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    # The ground covered (m²) is read when the table holds it; the share alone still makes the figures.
    has_area = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'drone_flights' AND column_name = 'covered_m2')").fetchone()
    area = "f.covered_m2" if has_area and has_area[0] else "NULL::float8"
    rows = conn.execute(
        "SELECT f.id::text, f.aircraft, f.site_id, f.started_at, f.ended_at, f.duration_s, f.distance_m, "
        f"f.max_height_m, f.battery_used_pct, f.end_reason, f.coverage_share, f.counts_as_patrol, {area} "
        "FROM sites s JOIN drone_flights f ON f.site_id = s.id "
        "WHERE s.district = %s AND f.started_at >= %s AND f.started_at < %s ORDER BY f.started_at, f.id",
        (district, period.start, period.end),
    ).fetchall()
    return tuple(FlightRow(id=r[0], aircraft=str(r[1]), site_id=r[2], started_at=r[3], ended_at=r[4],
                           duration_s=float(r[5] or 0.0), distance_m=float(r[6] or 0.0),
                           max_height_m=None if r[7] is None else float(r[7]),
                           battery_used_pct=None if r[8] is None else float(r[8]), end_reason=str(r[9] or ""),
                           coverage_share=None if r[10] is None else float(r[10]), counts_as_patrol=bool(r[11]),
                           covered_m2=None if r[12] is None else float(r[12]))
                 for r in rows)


def read_district(conn: Conn, district: str, period: Period, *,
                  route_custodians: Mapping[str, tuple[str, ...]] | None = None) -> DistrictRows:
    """Every row of one district's report (run `prepare` first for complete device figures)."""
    alerts = alerts_of(conn, district, period)
    uptime, months = uptime_of(conn, district, period)
    hazards, open_before = hazards_of(conn, district, period)
    return DistrictRows(
        district=district,
        period=period,
        sites=sites_of(conn, district),
        devices=devices_of(conn, district),
        alerts=alerts,
        records=records_of(conn, [a.id for a in alerts if is_major(a)]),
        uptime=uptime,
        uptime_months=months,
        patrols=patrols_of(conn, district, period),
        route_custodians=dict(route_custodians or {}),
        inspections=inspections_of(conn, district, period.year),
        draws=draws_of(conn, period.year),
        hazards=hazards,
        hazards_open_before=open_before,
        flights=flights_of(conn, district, period),
    )
