from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from alerts.model import Audience
from relic_guard.patrols.model import Round, RoundKind, WhileOpenRule
from relic_guard.patrols.plan import rounds_between
from relic_guard.patrols.rounds import (
    ALERT_FOR,
    STATUS,
    CheckIn,
    Coverage,
    PatrolAlertKind,
    Phase,
    RoundResult,
    RoundStatus,
    checkin_from_event,
    due_alerts,
    evaluate,
)
from sensors.model import Event, Source

from .support import SITE, local, route

ROUTE = route(WhileOpenRule(every_min=120))
# 08:30–10:30 on 27 Nov; grace (30 min) until 11:00.
ROUND = rounds_between(ROUTE, SITE, local(27, 8, 30), local(27, 8, 31))[0]
# Positions at the checkpoints (shanmen, dadian); kufang has none.
AT_GATE = (36.4231, 116.7647)
AT_HALL = (36.4237, 116.7650)


def scan(
    code: str, hour: int, minute: int = 0, *, where: tuple[float, float] | None = None, who: str = "赵玉梅"
) -> CheckIn:
    lat, lon = where if where else (None, None)
    return CheckIn(checkpoint=code, custodian=who, at=local(27, hour, minute), lat=lat, lon=lon)


ALL_IN_TIME = [scan("XTS-01", 8, 40, where=AT_GATE), scan("XTS-02", 8, 55, where=AT_HALL), scan("XTS-03", 9, 10)]


@pytest.mark.parametrize(
    ("checkins", "now", "status", "done", "late_by_s"),
    [
        pytest.param([], local(27, 9), RoundStatus.PENDING, (), 0, id="nothing-yet"),
        pytest.param(ALL_IN_TIME[:1], local(27, 9), RoundStatus.PENDING, ("shanmen",), 0, id="under-way"),
        pytest.param(
            ALL_IN_TIME, local(27, 9, 30), RoundStatus.COMPLETE, ("shanmen", "dadian", "kufang"), 0, id="complete-early"
        ),
        pytest.param(
            list(reversed(ALL_IN_TIME)),
            local(27, 12),
            RoundStatus.COMPLETE,
            ("shanmen", "dadian", "kufang"),
            0,
            id="any-order",
        ),
        pytest.param(
            [*ALL_IN_TIME[:2], scan("XTS-03", 10, 50)],
            local(27, 12),
            RoundStatus.LATE,
            ("shanmen", "dadian", "kufang"),
            1200,
            id="late-within-grace",
        ),
        pytest.param(
            ALL_IN_TIME[:2], local(27, 10, 45), RoundStatus.PENDING, ("shanmen", "dadian"), 0, id="grace-still-pending"
        ),
        pytest.param(
            [*ALL_IN_TIME[:2], scan("XTS-03", 11, 5)],
            local(27, 12),
            RoundStatus.PARTIAL,
            ("shanmen", "dadian"),
            0,
            id="after-grace-does-not-count",
        ),
        pytest.param(ALL_IN_TIME[:2], local(27, 11), RoundStatus.PARTIAL, ("shanmen", "dadian"), 0, id="partial"),
        pytest.param([], local(27, 11), RoundStatus.MISSED, (), 0, id="missed"),
        pytest.param(
            [scan("XTS-01", 8, 29)], local(27, 11), RoundStatus.MISSED, (), 0, id="before-window-is-previous-round"
        ),
        pytest.param(ALL_IN_TIME, local(27, 8, 50), RoundStatus.PENDING, ("shanmen",), 0, id="future-checkins-ignored"),
        pytest.param(
            [scan("XTS-99", 9), scan("kufang", 9, 5)],
            local(27, 11),
            RoundStatus.PARTIAL,
            ("kufang",),
            0,
            id="unknown-code-ignored-id-accepted",
        ),
    ],
)
def test_round_status(
    checkins: list[CheckIn], now: datetime, status: RoundStatus, done: tuple[str, ...], late_by_s: float
) -> None:
    result = evaluate(ROUND, ROUTE, checkins, now)
    assert result.status is status
    assert result.done == done
    assert result.missing == tuple(c.id for c in ROUTE.checkpoints if c.id not in done)
    assert result.late_by_s == late_by_s


def test_check_in_outside_the_radius_does_not_count_and_is_reported() -> None:
    far = (36.4300, 116.7650)  # about 700 m north of the hall
    checkins = [scan("XTS-01", 8, 40, where=AT_GATE), scan("XTS-02", 8, 50, where=far), scan("XTS-03", 9)]
    result = evaluate(ROUND, ROUTE, checkins, local(27, 11))
    assert result.status is RoundStatus.PARTIAL
    assert result.missing == ("dadian",)
    [away] = result.out_of_area
    assert away.checkpoint == "dadian" and away.custodian == "赵玉梅"
    assert 650 < away.distance_m < 800
    # Without a position the scan counts: the code is the proof of presence.
    assert evaluate(ROUND, ROUTE, [*checkins, scan("XTS-02", 9, 5)], local(27, 11)).status is RoundStatus.COMPLETE


def test_duplicates_and_other_routes_change_nothing() -> None:
    once = evaluate(ROUND, ROUTE, ALL_IN_TIME, local(27, 11))
    assert evaluate(ROUND, ROUTE, ALL_IN_TIME * 3, local(27, 11)) == once
    redone = [*ALL_IN_TIME, scan("XTS-01", 9, 20, who="巡查员乙")]
    assert evaluate(ROUND, ROUTE, redone, local(27, 11)).visits == once.visits  # the first visit stands
    elsewhere = CheckIn(checkpoint="XTS-01", custodian="赵玉梅", at=local(27, 9), route="other-route")
    assert evaluate(ROUND, ROUTE, [elsewhere], local(27, 11)).status is RoundStatus.MISSED


def test_status_table_is_total() -> None:
    assert set(STATUS) == {(phase, coverage) for phase in Phase for coverage in Coverage}
    assert set(ALERT_FOR) == set(RoundStatus)


def test_checkin_from_patrol_event() -> None:
    event = Event(
        site="xiaotangshan",
        device="phone-1",
        source=Source.PATROL,
        type="checkin",
        ts=local(27, 9).astimezone(UTC),
        event_key="k",
        attrs={"checkpoint": "XTS-01", "custodian": "赵玉梅", "route": "xts-fire", "lat": 36.4231, "lon": 116.7647},
    )
    checkin = checkin_from_event(event)
    assert checkin == CheckIn(
        checkpoint="XTS-01", custodian="赵玉梅", at=local(27, 9), route="xts-fire", lat=36.4231, lon=116.7647
    )
    assert checkin_from_event(msgspec.structs.replace(event, type="hazard")) is None
    assert checkin_from_event(msgspec.structs.replace(event, attrs={"checkpoint": "XTS-01"})) is None


# Alerts ----------------------------------------------------------------------------------


def result(hour: int, status: RoundStatus, route_id: str = "xts-fire") -> RoundResult:
    start = local(27, hour)
    patrol_round = Round(
        id=f"{route_id}/night/{start:%Y%m%dT%H%M}",
        route_id=route_id,
        site="xiaotangshan",
        kind=RoundKind.NIGHT,
        window_start=start,
        window_end=start + timedelta(hours=1),
    )
    return RoundResult(round=patrol_round, status=status, done=(), missing=("shanmen",), late_by_s=0.0)


def test_due_alerts_for_late_partial_and_missed_rounds() -> None:
    results = [
        result(1, RoundStatus.COMPLETE),
        result(3, RoundStatus.LATE),
        result(5, RoundStatus.PARTIAL),
        result(7, RoundStatus.PENDING),
    ]
    alerts = due_alerts(results)
    assert [(a.kind, a.audiences, a.escalated) for a in alerts] == [
        (PatrolAlertKind.ROUND_LATE, (Audience.CUSTODIANS,), False),
        (PatrolAlertKind.ROUND_PARTIAL, (Audience.CUSTODIANS,), False),
    ]
    assert alerts[0].key == "patrol:xts-fire/night/20261127T0300"


def test_second_missed_round_in_a_row_escalates_to_the_culture_bureau() -> None:
    results = [
        result(9, RoundStatus.MISSED),
        result(1, RoundStatus.MISSED),  # out of order on purpose
        result(3, RoundStatus.COMPLETE),
        result(5, RoundStatus.MISSED),
        result(7, RoundStatus.MISSED, route_id="other"),  # another route does not make a row
    ]
    alerts = due_alerts(results)
    assert [(a.round_id[-4:], a.route_id, a.escalated) for a in alerts] == [
        ("0100", "xts-fire", False),
        ("0500", "xts-fire", False),
        ("0700", "other", False),
        ("0900", "xts-fire", True),
    ]
    assert alerts[-1].audiences == (Audience.CUSTODIANS, Audience.CULTURE_BUREAU)
    # Same input, same answer; the same result passed twice is one alert.
    assert due_alerts(results + results[:1]) == alerts


def test_a_pending_round_between_two_misses_does_not_break_the_row() -> None:
    alerts = due_alerts([result(1, RoundStatus.MISSED), result(3, RoundStatus.PENDING), result(5, RoundStatus.MISSED)])
    assert [a.escalated for a in alerts] == [False, True]


def test_evaluating_a_round_of_another_route_is_refused() -> None:
    with pytest.raises(ValueError, match="not of route"):
        evaluate(ROUND, route(WhileOpenRule(every_min=120), route_id="else"), [], local(27, 11))
