"""The report's pure core: percentiles, rates, the offline rule, and each figure from tables of rows."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relic_guard.hazards.workdays import CHINA_STANDARD_TIME
from relic_guard.report import figures
from relic_guard.report.figures import (
    UNNAMED_CUSTODIAN,
    durations,
    offline_seconds,
    period_of,
    quantile,
    rate,
)
from relic_guard.report.model import (
    AlertRow,
    CaseCategory,
    DeviceRow,
    DeviceUptimeRow,
    DrawRow,
    DrawTargetRow,
    Durations,
    FlightRow,
    HazardRow,
    InspectionRow,
    MonthUptimeRow,
    PatrolCountRow,
    RecordLine,
    SiteRow,
)
from relic_guard.report.queries import merge_record


def cst(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA_STANDARD_TIME)


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 0.5, None),
    ([7.0], 0.5, 7.0),
    ([7.0], 0.9, 7.0),
    ([1.0, 2.0, 3.0, 10.0], 0.5, 2.5),
    ([1.0, 2.0, 3.0, 10.0], 0.9, 7.9),  # Excel PERCENTILE.INC({1,2,3,10}, 0.9)
    ([10.0, 3.0, 1.0, 2.0], 0.9, 7.9),  # order does not matter
    ([60.0, 120.0, 300.0, 900.0], 0.5, 210.0),
    ([60.0, 120.0, 300.0, 900.0], 0.9, 720.0),
    ([5.0, 5.0, 5.0], 0.9, 5.0),
    ([1.0, 2.0], 0.0, 1.0),
    ([1.0, 2.0], 1.0, 2.0),
])
def test_quantiles_interpolate_between_closest_ranks(values: list[float], q: float, expected: float | None) -> None:
    found = quantile(values, q)
    assert found == (None if expected is None else pytest.approx(expected))


def test_a_quantile_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        quantile([1.0], 1.5)


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=2, max_size=60))
def test_median_and_p90_agree_with_the_standard_library(values: list[float]) -> None:
    assert quantile(values, 0.5) == pytest.approx(statistics.median(values), rel=1e-9, abs=1e-6)
    # statistics' "inclusive" method is the same linear interpolation (type 7)
    assert quantile(values, 0.9) == pytest.approx(statistics.quantiles(values, n=10, method="inclusive")[8],
                                                  rel=1e-9, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=1, max_size=60), st.floats(0, 1), st.floats(0, 1))
def test_quantiles_lie_within_the_values_and_grow_with_q(values: list[float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    q_low, q_high = quantile(values, low), quantile(values, high)
    assert q_low is not None and q_high is not None
    assert min(values) - 1e-6 <= q_low <= q_high + 1e-6 and q_high <= max(values) + 1e-6


def test_durations_and_rates() -> None:
    found = durations([600.0, 1800.0, 3600.0, 7200.0])
    assert (found.count, found.median_s, found.p90_s) == (4, 2700.0, pytest.approx(6120.0))
    assert durations([]) == Durations(count=0, median_s=None, p90_s=None)
    assert rate(1, 4) == 0.25 and rate(0, 0) is None and rate(3, 0) is None


# --- the period ------------------------------------------------------------------------------


def test_a_past_year_is_whole_and_the_current_one_runs_to_yesterday() -> None:
    past = period_of(2025, cst(1, 5, 10, year=2026))
    assert past.complete and past.first_day == date(2025, 1, 1) and past.last_day == date(2025, 12, 31)
    assert past.start == cst(1, 1) and past.end == cst(1, 1, year=2026) and past.months == tuple(range(1, 13))
    running = period_of(2026, cst(3, 15, 10, year=2026))
    assert not running.complete and running.last_day == date(2026, 3, 14) and running.months == (1, 2, 3)
    # New Year's Day itself: nothing of the year is over yet.
    empty = period_of(2026, cst(1, 1, 9, year=2026))
    assert empty.end == empty.start and empty.months == () and empty.last_day < empty.first_day
    # China's day, not UTC's: 2025-12-31 17:00 UTC is already 2026 in Jinan, 15:00 UTC is not.
    assert period_of(2025, datetime(2025, 12, 31, 17, tzinfo=UTC)).complete
    late_evening = period_of(2025, datetime(2025, 12, 31, 15, tzinfo=UTC))
    assert not late_evening.complete and late_evening.last_day == date(2025, 12, 30)
    with pytest.raises(ValueError, match="not begun"):
        period_of(2027, cst(6, 1, year=2026))


# --- the offline rule --------------------------------------------------------------------------

DAY0 = cst(3, 1)
DAY1 = cst(3, 2)


@pytest.mark.parametrize(("records", "heartbeat_s", "carry", "expected"), [
    # nothing ever heard: nothing observed
    ([], 600, None, (0.0, 0.0)),
    # first heard at 06:00, heard every 5 min without a heartbeat: never offline, observed 18 h
    ([(cst(3, 1, 6) + timedelta(minutes=5 * i), False) for i in range(12 * 18)], None, None, (0.0, 18 * 3600.0)),
    # a heartbeat of 10 min and one record at 12:00: offline from 12:10 to the day's end
    ([(cst(3, 1, 12), False)], 600, None, (12 * 3600.0 - 600, 12 * 3600.0)),
    # an offline status at 08:00, heard again at 10:00: two hours, whatever the heartbeat
    ([(cst(3, 1, 8), True), (cst(3, 1, 10), False)], None, (cst(2, 28, 23), False), (7200.0, 86400.0)),
    # the last word of the day before was `offline`: offline until the first record
    ([(cst(3, 1, 3), False)], None, (cst(2, 28, 22), True), (3 * 3600.0, 86400.0)),
    # a silence carried from two days before: only its part inside the day counts
    ([], 3600, (cst(2, 27, 12), False), (86400.0, 86400.0)),
    # a heartbeat that ends inside the day: offline from 00:30 on
    ([], 3600, (cst(2, 28, 23, 30), False), (86400.0 - 1800.0, 86400.0)),
    # an offline status and a reading at one instant: offline last (its last word)
    ([(cst(3, 1, 20), False), (cst(3, 1, 20), True)], None, (cst(2, 28, 20), False), (4 * 3600.0, 86400.0)),
])
def test_offline_seconds_follow_the_engine_rule(
    records: list[tuple[datetime, bool]], heartbeat_s: float | None, carry: tuple[datetime, bool] | None,
    expected: tuple[float, float],
) -> None:
    offline, observed = offline_seconds(records, heartbeat_s, DAY0, DAY1, carry)
    assert (offline, observed) == pytest.approx(expected)


instants = st.integers(min_value=0, max_value=3 * 86400 - 1).map(lambda s: DAY0 + timedelta(seconds=s))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(instants, st.booleans()), max_size=30),
       st.one_of(st.none(), st.integers(min_value=1, max_value=20000)),
       st.integers(min_value=1, max_value=3 * 86400 - 1))
def test_a_span_split_in_two_counts_what_it_counts_whole(
    records: list[tuple[datetime, bool]], heartbeat_s: int | None, cut_s: int,
) -> None:
    """The daily rollup splits the year into days, each starting from the last record before it:
    the parts must add up to the whole."""
    start, end = DAY0, DAY0 + timedelta(days=3)
    cut = start + timedelta(seconds=cut_s)
    whole = offline_seconds(records, heartbeat_s, start, end)
    before = [r for r in records if r[0] < cut]
    after = [r for r in records if r[0] >= cut]
    carry = max(before, key=lambda r: (r[0], r[1])) if before else None
    first = offline_seconds(before, heartbeat_s, start, cut)
    second = offline_seconds(after, heartbeat_s, cut, end, carry)
    assert first[0] + second[0] == pytest.approx(whole[0], abs=1e-6)
    assert first[1] + second[1] == pytest.approx(whole[1], abs=1e-6)
    assert 0 <= whole[0] <= whole[1] <= (end - start).total_seconds()


# --- figures from rows -------------------------------------------------------------------------


MAY_DAY = cst(5, 1)


def alert(id_: str, *, severity: str = "major", category: str = "fire", status: str = "resolved",
          opened: datetime = MAY_DAY, ack_s: float | None = None, close_s: float | None = None,
          by: str = "user:a", classification: str | None = None, device: str = "d1", drill: bool = False,
          site: str = "s1") -> AlertRow:
    return AlertRow(id=id_, site_id=site, device_id=device, category=category, severity=severity, status=status,
                    title=f"告警{id_}", opened_at=opened,
                    acknowledged_at=None if ack_s is None else opened + timedelta(seconds=ack_s),
                    resolved_at=None if close_s is None else opened + timedelta(seconds=close_s),
                    resolved_by=by if close_s is not None else None, classification=classification, drill=drill)


def test_cases_count_the_national_categories_only() -> None:
    alerts = [
        alert("a", classification="looting"), alert("b", classification="looting"),
        alert("c", classification="fire"), alert("d", classification="false_alarm", status="false_alarm"),
        alert("e", classification="device_fault"), alert("f", classification="theft", drill=True),
        alert("g", classification="other_accident"),
    ]
    found = figures.case_figures(alerts, {"s1": "灵岩寺"})
    assert dict(found.by_category) == {CaseCategory.LOOTING: 2, CaseCategory.THEFT: 0, CaseCategory.DAMAGE: 0,
                                       CaseCategory.FIRE: 1, CaseCategory.OTHER_ACCIDENT: 1}
    assert found.total == 4 and [c.alert.id for c in found.cases] == ["a", "b", "c", "g"]
    assert found.cases[0].site_name == "灵岩寺"


def test_alerts_by_category_severity_and_month_leave_drills_out() -> None:
    alerts = [alert("a", category="fire", severity="critical", opened=cst(1, 31, 23)),
              alert("b", category="fire", severity="major", opened=cst(2, 1, 0, 30)),
              alert("c", category="security", severity="major", opened=cst(2, 10), status="open"),
              alert("d", category="fire", severity="critical", opened=cst(3, 1), drill=True)]
    found = figures.alert_figures(alerts)
    assert (found.total, found.drills) == (3, 1)
    assert found.by_category_severity == {("fire", "critical"): 1, ("fire", "major"): 1, ("security", "major"): 1}
    # months in China time: 00:30 on Feb 1 is February even though it is still Jan 31 in UTC
    assert found.by_month_category == {(1, "fire"): 1, (2, "fire"): 1, (2, "security"): 1}
    assert found.categories == ("fire", "security") and found.severities == ("critical", "major")
    assert found.by_status == {"resolved": 2, "open": 1}
    assert found.category_total("fire") == 2 and found.month_total(2) == 2


def test_response_times_per_severity_and_the_engine_closes_apart() -> None:
    alerts = [alert("a", severity="critical", ack_s=120, close_s=3600),
              alert("b", severity="critical", ack_s=300, close_s=1800),
              alert("c", severity="major", close_s=500, by="relic-guard"),
              alert("d", severity="major", ack_s=60, status="acknowledged"),
              alert("e", severity="critical", ack_s=1, close_s=2, drill=True)]
    found = figures.response_figures(alerts)
    lines = {line.severity: line for line in found.lines}
    assert list(lines) == ["critical", "major", ""]
    assert lines["critical"].acknowledge == Durations(count=2, median_s=210.0, p90_s=pytest.approx(282.0))
    assert lines["critical"].close == Durations(count=2, median_s=2700.0, p90_s=pytest.approx(3420.0))
    assert lines["major"].close.count == 0 and lines["major"].acknowledge.count == 1
    assert lines[""].acknowledge.count == 3 and lines[""].close.count == 2
    assert (found.closed_by_engine, found.still_open) == (1, 1)


def test_false_alarm_rate_by_device_kind() -> None:
    devices = [DeviceRow(site_id="s1", device_id="smoke", source="fire", kind="smoke_detector"),
               DeviceRow(site_id="s1", device_id="door", source="security", kind=""),
               DeviceRow(site_id="s1", device_id="panel", source="fire", kind="fire_alarm_panel")]
    alerts = [alert("a", device="smoke"), alert("b", device="smoke", status="false_alarm",
                                                  classification="false_alarm"),
              alert("c", device="smoke", status="false_alarm", classification="false_alarm"),
              alert("d", device="door", category="security"), alert("e", device="*", category="security",
                                                                   status="false_alarm"),
              alert("f", device="panel", category="device", status="false_alarm"),  # not a device's alarm
              alert("g", device="smoke", status="open"),  # not closed
              alert("h", device="ghost")]
    found = {line.device_kind: (line.closed, line.false_alarms, line.rate)
             for line in figures.false_alarm_lines(alerts, devices)}
    assert found == {"smoke_detector": (3, 2, pytest.approx(2 / 3)), "security": (1, 0, 0.0),
                     "（全站）": (1, 1, 1.0), "（未登记设备）": (1, 0, 0.0), "合计": (6, 3, 0.5)}
    assert figures.false_alarm_lines([], devices)[-1].rate is None


def test_uptime_sums_devices_and_lists_the_silent() -> None:
    devices = [DeviceRow(site_id="s1", device_id="a", source="fire", kind="smoke_detector"),
               DeviceRow(site_id="s1", device_id="b", source="fire", kind="smoke_detector"),
               DeviceRow(site_id="s2", device_id="c", source="env", kind="", heartbeat_s=900),
               DeviceRow(site_id="s2", device_id="d", source="fire", kind="smoke_detector")]
    rows = [DeviceUptimeRow(site_id="s1", device_id="a", records=10, offline_s=3600, observed_s=86400),
            DeviceUptimeRow(site_id="s1", device_id="b", records=5, offline_s=0, observed_s=43200)]
    found = figures.uptime_figures(devices, rows, (), {"s1": "一号", "s2": "二号"})
    assert found.overall.rate == pytest.approx(1 - 3600 / 129600) and found.overall.devices == 4
    assert [(line.label, line.devices) for line in found.by_kind] == [("env", 1), ("smoke_detector", 3)]
    assert [(line.label, line.rate) for line in found.by_site] == [("一号", pytest.approx(1 - 3600 / 129600)),
                                                                  ("二号", None)]
    assert [d.device.device_id for d in found.lowest] == ["a"] and [d.device.device_id for d in found.silent] == ["c"]
    assert found.quiet_without_heartbeat == 1  # the smoke detector that had nothing to say
    assert found.records == 15


def test_patrols_per_site_and_per_custodian() -> None:
    sites = {"s1": SiteRow(id="s1", name="一号", district="d", level="", kind="", custodians=("甲", "乙")),
             "s2": SiteRow(id="s2", name="二号", district="d", level="", kind="")}
    rows = [PatrolCountRow(site_id="s1", route_id="r1", route_name="", status="complete", rounds=8),
            PatrolCountRow(site_id="s1", route_id="r1", route_name="", status="late", rounds=1),
            PatrolCountRow(site_id="s1", route_id="r2", route_name="", status="missed", rounds=2),
            PatrolCountRow(site_id="s2", route_id="r3", route_name="", status="partial", rounds=1),
            PatrolCountRow(site_id="s2", route_id="r3", route_name="", status="pending", rounds=1),
            # a status the report does not know (a future one) is not counted as due
            PatrolCountRow(site_id="s2", route_id="r3", route_name="", status="withdrawn", rounds=5)]
    found = figures.patrol_figures(rows, sites, {"r1": ("丙",)})
    assert (found.total.due, found.total.done, found.total.rate) == (13, 9, pytest.approx(9 / 13))
    by_site = {line.label: (line.due, line.on_time, line.late, line.missed, line.partial, line.pending)
               for line in found.by_site}
    assert by_site == {"一号": (11, 8, 1, 2, 0, 0), "二号": (2, 0, 0, 0, 1, 1)}
    by_person = {line.label: (line.due, line.done, line.site_names) for line in found.by_custodian}
    assert by_person == {"丙": (9, 9, ("一号",)), "乙": (2, 0, ("一号",)), "甲": (2, 0, ("一号",)),
                         UNNAMED_CUSTODIAN: (2, 0, ("二号",))}


def test_inspections_and_the_draws_of_one_district() -> None:
    rows = [InspectionRow(id="1", kind="site_evaluation", district="d", site_id="s1", target_name="", due_on=date(2025, 9, 30),
                          status="done", done_on=date(2025, 9, 1), rating="good"),
            InspectionRow(id="2", kind="site_evaluation", district="d", site_id="s2", target_name="",
                          due_on=date(2025, 9, 30), status="assigned"),
            InspectionRow(id="3", kind="site_evaluation", district="d", site_id="s3", target_name="",
                          due_on=date(2026, 9, 30), status="planned"),
            InspectionRow(id="4", kind="site_evaluation", district="d", site_id="s4", target_name="",
                          due_on=date(2025, 9, 30), status="cancelled"),
            InspectionRow(id="5", kind="fire_random", district="d", site_id="s1", target_name="", draw_id=7,
                          due_on=date(2025, 6, 30), status="done", done_on=date(2025, 6, 1), rating="poor", findings=2)]
    found = figures.inspection_figures(rows, {"s1": "一号"}, date(2025, 12, 1))
    lines = {line.kind: line for line in found.lines}
    evaluation = lines["site_evaluation"]
    assert (evaluation.planned, evaluation.done, evaluation.overdue, evaluation.open_in_time, evaluation.cancelled) \
        == (3, 1, 1, 1, 1)
    assert evaluation.rate == pytest.approx(1 / 3) and dict(evaluation.ratings) == {"good": 1, "fair": 0, "poor": 0}
    assert lines["district_supervision"].rate is None
    assert [item.inspection.id for item in found.items if item.overdue] == ["2"]
    assert found.items[0].subject == "一号"
    draw = DrawRow(id=7, period="2025-H1", period_start=date(2025, 1, 1), period_end=date(2025, 6, 30), seed="s",
                   fingerprint="f" * 64, count=2, drawn_at=cst(1, 2), drawn_by="x", targets=(
                       DrawTargetRow(target_id="s1", target_name="一号", district="d", mandatory=True),
                       DrawTargetRow(target_id="s9", target_name="九号", district="other", mandatory=False)))
    other = DrawRow(id=8, period="2025-H2", period_start=date(2025, 7, 1), period_end=date(2025, 12, 31), seed="t",
                    fingerprint="e" * 64, count=1, drawn_at=cst(7, 2), drawn_by="x",
                    targets=(DrawTargetRow(target_id="s9", target_name="九号", district="other", mandatory=False),))
    draws = figures.draw_figures([draw, other], rows, "d")
    assert len(draws) == 1 and draws[0].done == 1
    assert [(t.target.target_id, t.inspection_status, t.rating, t.findings) for t in draws[0].targets] == \
        [("s1", "done", "poor", 2)]


def test_hazards_on_time_late_and_overdue() -> None:
    def hazard(id_: int, severity: str, status: str, deadline: date, closed: datetime | None = None) -> HazardRow:
        return HazardRow(id=id_, site_id="s1", title=f"隐患{id_}", severity=severity, source="patrol",
                         found_at=cst(3, 1), deadline=deadline, status=status, closed_at=closed)

    rows = [hazard(1, "major", "closed", date(2025, 3, 15), cst(3, 15, 23, 59)),  # the deadline's last minute
            hazard(2, "general", "closed", date(2025, 3, 15), cst(3, 16, 0, 1)),
            hazard(3, "general", "rectifying", date(2025, 11, 30)),
            hazard(4, "general", "open", date(2025, 12, 1)),  # due today: still in time
            hazard(5, "major", "cancelled", date(2025, 3, 15), cst(3, 2))]
    found = figures.hazard_figures(rows, {"s1": "一号"}, date(2025, 12, 1), open_before=4)
    total = found.total
    assert (total.found, total.closed_on_time, total.closed_late, total.open_overdue, total.open_in_time,
            total.cancelled) == (5, 1, 1, 1, 1, 1)
    assert total.on_time_rate == pytest.approx(1 / 3) and found.open_before == 4
    assert [(item.hazard.id, item.days_overdue) for item in found.overdue] == [(2, 1), (3, 1)]
    assert [line.label for line in found.lines] == ["major", "general", "合计"]


def test_drone_figures_and_no_flights() -> None:
    def flight(id_: str, site: str, share: float | None, patrol: bool, month: int = 4) -> FlightRow:
        return FlightRow(id=id_, aircraft="M3TD", site_id=site, started_at=cst(month, 1), ended_at=cst(month, 1, 1),
                         duration_s=1800, distance_m=6000, max_height_m=80, battery_used_pct=40, end_reason="landed",
                         coverage_share=share, counts_as_patrol=patrol)

    found = figures.drone_figures([flight("1", "s1", 0.9, True), flight("2", "s1", 0.5, False, 5),
                                   flight("3", "s2", None, False)], {"s1": "一号", "s2": "二号"})
    assert found.recorded and found.total.flights == 3 and found.total.patrol_flights == 1
    assert found.total.hours == pytest.approx(1.5) and found.total.km == pytest.approx(18.0)
    one = found.by_site[0]
    assert (one.site_name, one.mean_coverage, one.best_coverage) == ("一号", pytest.approx(0.7), 0.9)
    assert found.by_site[1].mean_coverage is None and found.by_month == {4: 2, 5: 1}
    assert not figures.drone_figures(None, {}).recorded and figures.drone_figures((), {}).total.flights == 0


def test_incidents_are_critical_alerts_and_cases_with_their_record_in_order() -> None:
    alerts = [alert("a", severity="critical"), alert("b", classification="theft"), alert("c"),
              alert("d", severity="critical", drill=True)]
    records = [RecordLine(alert_id="a", at=cst(5, 1, 0, 5), kind="delivery.delivered", actor="relic-guard",
                          audit_seq=9),
               RecordLine(alert_id="a", at=cst(5, 1, 0, 5), kind="acknowledged", actor="user:w", audit_seq=10),
               RecordLine(alert_id="a", at=cst(5, 1), kind="opened", actor="relic-guard", audit_seq=3)]
    found = figures.incidents(alerts, records, {})
    assert [(i.alert.id, i.case) for i in found] == [("a", None), ("b", CaseCategory.THEFT)]
    assert [line.kind for line in found[0].lines] == ["opened", "acknowledged", "delivery.delivered"]


def test_the_record_pairs_timeline_entries_with_their_audit_entries() -> None:
    at = cst(5, 1)
    timeline = [("a", at, "opened", "relic-guard", {"title": "火警"}),
                ("a", at + timedelta(minutes=2), "acknowledged", "user:w", {}),
                ("a", at + timedelta(minutes=3), "note", "user:w", {"text": "已到场"})]
    audit = [(11, "a", at, "alert.opened", "relic-guard", {"title": "火警"}),
             (12, "a", at + timedelta(seconds=1), "delivery.delivered", "relic-guard", {"recipient": "center"}),
             (13, "a", at + timedelta(minutes=2), "alert.acknowledged", "user:w", {}),
             # an audit entry whose timeline row is missing still shows
             (14, "a", at + timedelta(minutes=9), "alert.resolved", "user:w", {"classification": "fire"})]
    found = merge_record(timeline, audit)
    assert [(line.kind, line.audit_seq) for line in found] == [
        ("opened", 11), ("acknowledged", 13), ("note", None), ("delivery.delivered", 12), ("resolved", 14)]
    assert found[3].detail == {"recipient": "center"}


def test_site_figures_order_known_levels_first() -> None:
    sites = [SiteRow(id="b", name="乙", district="d", level="省级文物保护单位", kind="古建筑"),
             SiteRow(id="a", name="甲", district="d", level="全国重点文物保护单位", kind="古遗址"),
             SiteRow(id="c", name="丙", district="d", level="", kind="古建筑")]
    found = figures.site_figures(sites, [DeviceRow(site_id="a", device_id="x", source="fire", kind="")])
    assert found.levels == ("全国重点文物保护单位", "省级文物保护单位", "未定级")
    assert found.kinds == ("古建筑", "古遗址")
    assert found.count("全国重点文物保护单位", "古遗址") == 1 and found.count("未定级", "古建筑") == 1
    assert sum(c.sites for c in found.matrix) == 3 and len(found.matrix) == 6
    assert [(line.site.id, line.devices) for line in found.lines] == [("a", 1), ("b", 0), ("c", 0)]


def test_nan_is_not_a_rate() -> None:
    # the chart of monthly rates draws a month without devices as a gap, never as 0 %
    months = figures.uptime_figures([], [], [MonthUptimeRow(month=1, offline_s=0, observed_s=0, records=0)], {})
    assert months.by_month[0].rate is None and not math.isnan(months.overall.observed_s)
