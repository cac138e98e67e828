"""Every figure of the report, from the generated year in a real PostgreSQL (tests/report/world.py):
the query layer reads the rows, the pure core computes, and each figure is held to the number
written down beside the data it comes from."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from relic_guard.report import queries
from relic_guard.report.errors import UnknownDistrict
from relic_guard.report.figures import city_report, district_report, period_of
from relic_guard.report.make import make_reports
from relic_guard.report.model import CaseCategory, DistrictReport
from tests.report import world
from tests.report.world import (
    A1,
    A2,
    A7,
    EXPECTED_OBSERVED_S,
    EXPECTED_OFFLINE_S,
    EXPECTED_ONLINE_RATE,
    EXPECTED_RECORDS,
    LIXIA,
    NOW,
    ROUTE_CUSTODIANS,
    ZHANGQIU,
)

PERIOD = period_of(world.YEAR, NOW)


def read(url: str, district: str) -> DistrictReport:
    with psycopg.connect(url) as conn:
        queries.prepare(conn, PERIOD, NOW)
        return district_report(queries.read_district(conn, district, PERIOD, route_custodians=ROUTE_CUSTODIANS))


@pytest.fixture(scope="module")
def lixia(year_url: str) -> DistrictReport:
    return read(year_url, LIXIA)


@pytest.fixture(scope="module")
def zhangqiu(year_url: str) -> DistrictReport:
    return read(year_url, ZHANGQIU)


def flight_table(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('drone_flights') IS NOT NULL").fetchone()
    return bool(row and row[0])


def test_the_summary(lixia: DistrictReport, year_url: str) -> None:
    s = lixia.summary
    assert (s.sites, s.devices, s.alerts, s.critical_alerts, s.cases) == (3, 5, 6, 2, 2)
    assert s.false_alarm_rate == pytest.approx(0.25)
    assert s.median_ack_s == pytest.approx(210.0)
    assert s.device_online_rate == pytest.approx(EXPECTED_ONLINE_RATE)
    assert s.patrol_rate == pytest.approx(21 / 25)
    assert (s.inspections_planned, s.inspections_done) == (4, 3)
    assert (s.hazards_found, s.hazards_open_overdue) == (5, 1) and s.hazards_on_time_rate == pytest.approx(1 / 3)
    assert s.drone_flights == 0
    assert lixia.district == LIXIA and lixia.period.complete


def test_sites_by_protection_level_and_kind(lixia: DistrictReport) -> None:
    f = lixia.sites
    assert f.levels == ("全国重点文物保护单位", "省级文物保护单位", "博物馆")
    assert f.kinds == ("古建筑", "近现代重要史迹", "博物馆")
    assert {(c.level, c.kind): c.sites for c in f.matrix if c.sites} == {
        ("全国重点文物保护单位", "古建筑"): 1, ("省级文物保护单位", "近现代重要史迹"): 1, ("博物馆", "博物馆"): 1}
    assert [(line.site.name, line.devices, line.site.custodians) for line in f.lines] == [
        ("济南府学文庙", 3, ("王建国", "李秀兰")), ("解放阁", 0, ()), ("历下博物馆", 2, ("赵敏",))]


def test_cases_in_the_national_categories(lixia: DistrictReport) -> None:
    c = lixia.cases
    assert dict(c.by_category) == {CaseCategory.LOOTING: 0, CaseCategory.THEFT: 1, CaseCategory.DAMAGE: 0,
                                   CaseCategory.FIRE: 1, CaseCategory.OTHER_ACCIDENT: 0}
    assert [(case.alert.id, case.category, case.site_name) for case in c.cases] == [
        (A1.id, CaseCategory.FIRE, "济南府学文庙"), (A7.id, CaseCategory.THEFT, "历下博物馆")]


def test_alerts_by_category_severity_month_and_status(lixia: DistrictReport) -> None:
    a = lixia.alerts
    assert (a.total, a.drills) == (6, 1)
    assert a.by_category_severity == {("fire", "critical"): 1, ("fire", "major"): 1, ("security", "critical"): 1,
                                      ("security", "major"): 1, ("device", "major"): 1, ("video", "warning"): 1}
    assert a.by_month_category == {(2, "fire"): 1, (3, "device"): 1, (4, "security"): 1, (4, "fire"): 1,
                                   (8, "video"): 1, (11, "security"): 1}
    assert a.by_status == {"resolved": 4, "false_alarm": 1, "open": 1}
    assert a.categories == ("fire", "security", "video", "device")


def test_time_to_acknowledge_and_to_close(lixia: DistrictReport) -> None:
    r = lixia.response
    overall = r.lines[-1]
    assert overall.severity == ""
    assert (overall.acknowledge.count, overall.acknowledge.median_s, overall.acknowledge.p90_s) == (
        4, pytest.approx(210.0), pytest.approx(720.0))
    assert (overall.close.count, overall.close.median_s, overall.close.p90_s) == (
        4, pytest.approx(2700.0), pytest.approx(6120.0))
    by_severity = {line.severity: line for line in r.lines[:-1]}
    assert list(by_severity) == ["critical", "major", "warning"]
    assert by_severity["critical"].close.median_s == pytest.approx(2700.0)
    assert by_severity["critical"].close.p90_s == pytest.approx(3420.0)
    assert (by_severity["major"].acknowledge.median_s, by_severity["major"].close.median_s) == (
        pytest.approx(480.0), pytest.approx(3900.0))
    assert by_severity["warning"].acknowledge.count == 0 and by_severity["warning"].close.median_s is None
    assert (r.closed_by_engine, r.still_open) == (1, 1)


def test_false_alarms_by_device_kind(lixia: DistrictReport) -> None:
    assert [(line.device_kind, line.closed, line.false_alarms, line.rate) for line in lixia.false_alarms] == [
        ("intrusion_panel", 2, 1, pytest.approx(0.5)), ("smoke_detector", 2, 0, 0.0),
        ("合计", 4, 1, pytest.approx(0.25))]


def test_device_online_rate_from_the_daily_rollup(lixia: DistrictReport) -> None:
    u = lixia.uptime
    assert u.overall.observed_s == pytest.approx(EXPECTED_OBSERVED_S)
    assert u.overall.offline_s == pytest.approx(EXPECTED_OFFLINE_S)
    assert u.overall.rate == pytest.approx(EXPECTED_ONLINE_RATE) and u.records == EXPECTED_RECORDS
    assert [(d.device.device_id, d.offline_s) for d in u.lowest] == [("panel-1", pytest.approx(47 * 3600.0)),
                                                                    ("smoke-1", pytest.approx(7200.0))]
    assert [d.device.device_id for d in u.silent] == ["door-1"] and u.quiet_without_heartbeat == 1
    months = {line.label: line for line in u.by_month}
    assert list(months) == [f"{m}月" for m in range(1, 13)]
    assert months["3月"].offline_s == pytest.approx(47 * 3600.0)
    assert months["3月"].observed_s == pytest.approx(2 * 31 * 86400.0)
    assert months["6月"].offline_s == pytest.approx(7200.0)
    assert months["7月"].observed_s == pytest.approx(3 * 31 * 86400.0)  # the camera is heard from July on
    assert months["1月"].rate == 1.0
    by_site = {line.label: line for line in u.by_site}
    assert by_site["历下博物馆"].rate is None and by_site["历下博物馆"].devices == 2


def test_patrols_done_against_due(lixia: DistrictReport) -> None:
    p = lixia.patrols
    assert (p.total.due, p.total.done, p.total.on_time, p.total.late, p.total.partial, p.total.missed,
            p.total.pending) == (25, 21, 19, 2, 1, 2, 1)
    assert [(line.label, line.due, line.done) for line in p.by_site] == [("历下博物馆", 6, 5), ("济南府学文庙", 19, 16)]
    assert {line.label: (line.due, line.done) for line in p.by_custodian} == {
        "王建国": (19, 16), "李秀兰": (5, 4), "赵敏": (6, 5)}


def test_inspections_done_against_planned(lixia: DistrictReport) -> None:
    lines = {line.kind: line for line in lixia.inspections.lines}
    assert (lines["district_supervision"].planned, lines["district_supervision"].done) == (1, 1)
    evaluation = lines["site_evaluation"]
    assert (evaluation.planned, evaluation.done, evaluation.overdue, evaluation.cancelled) == (2, 1, 1, 1)
    assert dict(evaluation.ratings) == {"good": 0, "fair": 1, "poor": 0}
    assert (lines["fire_random"].planned, lines["fire_random"].done, lines["fire_random"].ratings["poor"]) == (1, 1, 1)
    assert [item.subject for item in lixia.inspections.items if item.overdue] == ["历下博物馆"]
    assert lixia.inspections.items[0].subject == LIXIA  # the district's supervision comes first


def test_draws_and_their_results(lixia: DistrictReport, zhangqiu: DistrictReport) -> None:
    assert len(lixia.draws) == 1
    draw = lixia.draws[0]
    assert (draw.draw.period, draw.draw.seed) == ("2025-H1", "种子-2025")
    assert [(t.target.target_name, t.target.mandatory, t.target.inspectors, t.inspection_status, t.rating,
             t.findings) for t in draw.targets] == [("济南府学文庙", True, ("张三", "李四"), "done", "poor", 2)]
    # the other district's target of the same draw has no inspection stored: shown as such there
    assert [(t.target.target_name, t.inspection_status) for t in zhangqiu.draws[0].targets] == [("城子崖遗址", None)]


def test_hazards_found_rectified_on_time_and_overdue(lixia: DistrictReport) -> None:
    h = lixia.hazards
    assert [(line.label, line.found, line.closed_on_time, line.closed_late, line.open_overdue, line.open_in_time,
             line.cancelled) for line in h.lines] == [
        ("major", 1, 1, 0, 0, 0, 0), ("general", 4, 0, 1, 1, 1, 1), ("合计", 5, 1, 1, 1, 1, 1)]
    assert [(item.hazard.title, item.days_overdue) for item in h.overdue] == [("库房门锁损坏", 77), ("灭火器过期", 12)]
    assert dict(h.by_source) == {"patrol": 2, "inspection": 1, "report": 1, "alert": 1}
    assert h.open_before == 1


def test_major_incidents_with_their_record(lixia: DistrictReport) -> None:
    assert [(i.alert.id, i.case) for i in lixia.incidents] == [
        (A1.id, CaseCategory.FIRE), (A2.id, None), (A7.id, CaseCategory.THEFT)]
    first = lixia.incidents[0]
    assert [(line.kind, line.actor) for line in first.lines] == [
        ("opened", "relic-guard"), ("delivery.delivered", "relic-guard"), ("acknowledged", "user:wang"),
        ("resolved", "user:zhang")]
    # every line is backed by its entry in the hash-chained audit trail
    seqs = [line.audit_seq for line in first.lines]
    assert all(seq is not None for seq in seqs) and len(set(seqs)) == 4
    assert first.lines[1].detail["recipient"] == "center"
    assert first.lines[-1].detail["classification"] == "fire"


def test_drone_flights_without_a_flight_record(lixia: DistrictReport, year_url: str) -> None:
    assert lixia.drones.recorded == flight_table(year_url)
    assert lixia.drones.total.flights == 0 and lixia.drones.by_site == ()


def test_the_city_summary(lixia: DistrictReport, zhangqiu: DistrictReport) -> None:
    city = city_report([lixia, zhangqiu], PERIOD)
    t = city.total
    assert (t.sites, t.devices, t.alerts, t.critical_alerts, t.cases) == (4, 6, 7, 3, 3)
    assert t.false_alarm_rate == pytest.approx(1 / 5)
    assert t.patrol_rate == pytest.approx(21 / 32)
    assert (t.inspections_planned, t.inspections_done) == (5, 3)
    assert (t.hazards_found, t.hazards_open_overdue) == (6, 2)
    assert t.hazards_on_time_rate == pytest.approx(1 / 4)
    # the city's online rate is offline time over observed time, not the mean of the districts' rates
    observed = EXPECTED_OBSERVED_S + 214 * 86400.0
    assert t.device_online_rate == pytest.approx(1 - (EXPECTED_OFFLINE_S + 214 * 86400.0 - 600) / observed)
    assert city.cases_by_district[ZHANGQIU][CaseCategory.FIRE] == 1


def test_an_unknown_district_names_the_known_ones(year_url: str) -> None:
    with psycopg.connect(year_url) as conn, pytest.raises(UnknownDistrict, match="历下区、章丘区"):
        make_reports(conn, year=2025, district="不存在区", out=None, now=NOW)


def test_drone_flights_and_coverage(year_url: str) -> None:
    with psycopg.connect(year_url) as conn, conn.transaction(force_rollback=True):
        empty = district_report(queries.read_district(conn, LIXIA, PERIOD))
        assert empty.drones.recorded and empty.drones.total.flights == 0
        rows = [("fuxue", world.cst(4, 1, 9), 1800.0, 6000.0, 0.9, 45_000.0, True, "landed"),
                ("fuxue", world.cst(4, 20, 9), 1200.0, 4000.0, 0.5, 25_000.0, False, "link_timeout"),
                ("museum", world.cst(9, 1, 9), 600.0, 1000.0, None, None, False, "landed"),
                ("chengziya", world.cst(4, 1, 9), 3600.0, 9000.0, 1.0, 90_000.0, True, "landed"),  # another district
                ("fuxue", world.cst(12, 31, 9, year=2024), 600.0, 1000.0, 0.2, 1.0, False, "landed")]  # 2024
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO drone_flights (aircraft, site_id, started_at, ended_at, duration_s, distance_m, "
                "max_height_m, battery_used_pct, end_reason, coverage_share, covered_m2, track_geojson, "
                "counts_as_patrol) VALUES ('M3TD-1', %s, %s, %s, %s, %s, 80, 30, %s, %s, %s, %s, %s)",
                [(site, started, started + timedelta(seconds=duration), duration, distance, reason, share, area,
                  Jsonb({"type": "MultiLineString", "coordinates": []}), patrol)
                 for site, started, duration, distance, share, area, patrol, reason in rows])
        found = district_report(queries.read_district(conn, LIXIA, PERIOD)).drones
        assert (found.total.flights, found.total.patrol_flights) == (3, 1)
        assert found.total.hours == pytest.approx(1.0) and found.total.km == pytest.approx(11.0)
        assert found.total.covered_ha == pytest.approx(7.0)
        assert [(line.site_name, line.flights, line.mean_coverage, line.best_coverage) for line in found.by_site] == [
            ("历下博物馆", 1, None, None), ("济南府学文庙", 2, pytest.approx(0.7), pytest.approx(0.9))]
        assert found.by_month == {4: 2, 9: 1} and found.total.end_reasons == {"landed": 2, "link_timeout": 1}

        # A store without the flight table (before it was added) reports that nothing was recorded.
        conn.execute("DROP TABLE drone_flights CASCADE")
        gone = district_report(queries.read_district(conn, LIXIA, PERIOD)).drones
        assert not gone.recorded and gone.total.flights == 0


def test_the_current_year_is_reported_to_date(year_url: str) -> None:
    now = world.cst(3, 15, 10)
    period = period_of(2025, now)
    with psycopg.connect(year_url) as conn:
        queries.prepare(conn, period, now)
        rows = queries.read_district(conn, LIXIA, period)
    report = district_report(rows)
    assert not report.period.complete and report.period.last_day == date(2025, 3, 14)
    # A1 (Feb) and A4 (Mar 10) only; the patrol rounds of the generated year start in January
    assert report.alerts.total == 2 and report.alerts.by_month_category == {(2, "fire"): 1, (3, "device"): 1}
    assert [line.label for line in report.uptime.by_month] == ["1月", "2月", "3月"]
    assert report.uptime.by_month[-1].observed_s == pytest.approx(2 * 14 * 86400.0)
