"""How a patrol round went, from the custodians' check-ins, and which rounds call for an alert.

`evaluate(patrol_round, route, checkins, now, drone_flights=…)` is pure: the caller passes every
check-in it holds for the route around the window (from MQTT `patrol` events, `checkin_from_event`,
or the mobile page), when the drone flights that count as a patrol of the site ended, and the
current time; nothing here reads the clock.

Drone flights: on a route marked `drone_counts` (a large site, 大型遗址, whose ground no walk
covers), a flight whose camera saw enough of the site (the drone monitor decides, by
`[drones] patrol_coverage_share`) and that ended inside [window_start, window_end), not after
`now`, completes the round whatever the check-ins (`by_drone_at` says when it ended; `done` and
`missing` still say which checkpoints were walked). A flight in the grace period does not count:
it is not a late walk, and the next round's window is there for it.

Which check-ins count for a checkpoint:
- its code (or, typed in by hand, its id) names a checkpoint of this route, and its `route`
  is this route or unset;
- it happened in [window_start, window_end + grace) and not after `now` (so evaluating
  an old round later gives the answer it had then);
- when both the check-in and the checkpoint carry a position and the checkpoint a radius,
  it was within the radius; otherwise it does not count and is listed in `out_of_area`.
  A check-in without a position counts: the scanned code is itself the proof of presence,
  and phones indoors in a timber hall often have no GPS fix.

Order does not matter: the route's order is the suggested walk, but a custodian who finds
a hazard at 碑廊 must be free to go back to 大殿 without spoiling the round. Duplicate
check-ins (an MQTT redelivery, a double scan) change nothing: only the earliest counting
check-in per checkpoint is kept.

The status is a table (`STATUS`) over when `now` is relative to the window (`Phase`) and
how much was covered (`Coverage`):

    phase \\ coverage   by drone   all in window   all, some late   some     none
    open                complete   complete        late (*)         pending  pending
    grace               complete   complete        late             pending  pending
    over                complete   complete        late             partial  missed

(*) cannot happen (a late check-in is after the window end, hence after `now`); listed so
the table is total. During the grace period an unfinished round stays `pending`: it may yet
end `late`, and raising "missed" first would send the custodian two alerts for one round.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from alerts.model import Audience
from relic_guard.patrols.model import Checkpoint, Round, Route
from sensors.model import Event, Source

DEFAULT_GRACE_S: Final = 30 * 60.0
_EARTH_RADIUS_M: Final = 6_371_000.0


class RoundStatus(StrEnum):
    PENDING = "pending"
    COMPLETE = "complete"
    LATE = "late"
    PARTIAL = "partial"
    MISSED = "missed"
    # The route was taken out of the routes file before the round was over (never evaluated
    # here; set by the store): not done, not due.
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        return self is not RoundStatus.PENDING


class Phase(StrEnum):
    OPEN = "open"  # now < window_end
    GRACE = "grace"  # window_end <= now < window_end + grace
    OVER = "over"


class Coverage(StrEnum):
    # A drone flight that counts as a patrol ended in the window (routes with `drone_counts`).
    BY_DRONE = "by_drone"
    ALL_IN_WINDOW = "all_in_window"
    ALL_SOME_LATE = "all_some_late"
    SOME = "some"
    NONE = "none"


STATUS: Final[dict[tuple[Phase, Coverage], RoundStatus]] = {
    (Phase.OPEN, Coverage.BY_DRONE): RoundStatus.COMPLETE,
    (Phase.GRACE, Coverage.BY_DRONE): RoundStatus.COMPLETE,
    (Phase.OVER, Coverage.BY_DRONE): RoundStatus.COMPLETE,
    (Phase.OPEN, Coverage.ALL_IN_WINDOW): RoundStatus.COMPLETE,
    (Phase.OPEN, Coverage.ALL_SOME_LATE): RoundStatus.LATE,
    (Phase.OPEN, Coverage.SOME): RoundStatus.PENDING,
    (Phase.OPEN, Coverage.NONE): RoundStatus.PENDING,
    (Phase.GRACE, Coverage.ALL_IN_WINDOW): RoundStatus.COMPLETE,
    (Phase.GRACE, Coverage.ALL_SOME_LATE): RoundStatus.LATE,
    (Phase.GRACE, Coverage.SOME): RoundStatus.PENDING,
    (Phase.GRACE, Coverage.NONE): RoundStatus.PENDING,
    (Phase.OVER, Coverage.ALL_IN_WINDOW): RoundStatus.COMPLETE,
    (Phase.OVER, Coverage.ALL_SOME_LATE): RoundStatus.LATE,
    (Phase.OVER, Coverage.SOME): RoundStatus.PARTIAL,
    (Phase.OVER, Coverage.NONE): RoundStatus.MISSED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckIn:
    """A custodian scanned a checkpoint's code."""

    checkpoint: str  # the scanned code, or the checkpoint id typed in
    custodian: str
    at: datetime
    route: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Visit:
    checkpoint: str  # checkpoint id
    custodian: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OutOfArea:
    checkpoint: str  # checkpoint id
    custodian: str
    at: datetime
    distance_m: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundResult:
    round: Round
    status: RoundStatus
    # Checkpoint ids in route order.
    done: tuple[str, ...]
    missing: tuple[str, ...]
    # How long after the window end the last counted check-in came (0 when none was late).
    late_by_s: float
    visits: tuple[Visit, ...] = ()
    out_of_area: tuple[OutOfArea, ...] = ()
    # When the drone flight that completed the round ended (None: none did).
    by_drone_at: datetime | None = None


def checkin_from_event(event: Event) -> CheckIn | None:
    """The check-in a `patrol`/`checkin` event carries (CONTRACT §1), or None for other events
    and for a check-in naming no checkpoint or custodian (nothing to count it for)."""
    if event.source is not Source.PATROL or event.type != "checkin":
        return None
    checkpoint = event.attrs.get("checkpoint")
    custodian = event.attrs.get("custodian")
    if not isinstance(checkpoint, str) or not checkpoint or not isinstance(custodian, str) or not custodian:
        return None
    route = event.attrs.get("route")
    return CheckIn(
        checkpoint=checkpoint,
        custodian=custodian,
        at=event.ts,
        route=route if isinstance(route, str) and route else None,
        lat=_coordinate(event.attrs.get("lat")),
        lon=_coordinate(event.attrs.get("lon")),
    )


def _coordinate(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): metres of error over a few hundred metres, ample here."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def _off_by_m(checkpoint: Checkpoint, checkin: CheckIn) -> float | None:
    """How far outside the checkpoint's radius the check-in was reported, or None if it counts."""
    if (
        checkpoint.radius_m is None
        or checkpoint.lat is None
        or checkpoint.lon is None
        or checkin.lat is None
        or checkin.lon is None
    ):
        return None
    distance = distance_m(checkpoint.lat, checkpoint.lon, checkin.lat, checkin.lon)
    return distance if distance > checkpoint.radius_m else None


def evaluate(
    patrol_round: Round,
    route: Route,
    checkins: Iterable[CheckIn],
    now: datetime,
    *,
    grace_s: float = DEFAULT_GRACE_S,
    drone_flights: Iterable[datetime] = (),
) -> RoundResult:
    """How `patrol_round` of `route` stands at `now`, given the check-ins and the ends of the
    site's drone flights that count as a patrol (see module docstring)."""
    if patrol_round.route_id != route.id:
        raise ValueError(f"round {patrol_round.id} is not of route {route.id}")
    grace_end = patrol_round.window_end + timedelta(seconds=grace_s)
    by_key = {checkpoint.code: checkpoint for checkpoint in route.checkpoints}
    by_key.update({checkpoint.id: checkpoint for checkpoint in route.checkpoints if checkpoint.id not in by_key})
    first: dict[str, Visit] = {}
    away: set[OutOfArea] = set()
    for checkin in sorted(set(checkins), key=lambda item: (item.at, item.custodian, item.checkpoint)):
        checkpoint = by_key.get(checkin.checkpoint)
        if checkpoint is None or checkin.route not in (None, route.id):
            continue
        if not patrol_round.window_start <= checkin.at < grace_end or checkin.at > now:
            continue
        off_by = _off_by_m(checkpoint, checkin)
        if off_by is not None:
            away.add(OutOfArea(checkpoint=checkpoint.id, custodian=checkin.custodian, at=checkin.at, distance_m=off_by))
            continue
        first.setdefault(checkpoint.id, Visit(checkpoint=checkpoint.id, custodian=checkin.custodian, at=checkin.at))

    done = tuple(checkpoint.id for checkpoint in route.checkpoints if checkpoint.id in first)
    missing = tuple(checkpoint.id for checkpoint in route.checkpoints if checkpoint.id not in first)
    late_by_s = max(
        (max(0.0, (visit.at - patrol_round.window_end).total_seconds()) for visit in first.values()), default=0.0
    )
    by_drone = (
        min((end for end in drone_flights if patrol_round.window_start <= end < patrol_round.window_end and end <= now),
            default=None)
        if route.drone_counts else None
    )
    coverage = Coverage.BY_DRONE if by_drone is not None else _coverage(done, missing, late_by_s)
    status = STATUS[(_phase(patrol_round, now, grace_end), coverage)]
    return RoundResult(
        round=patrol_round,
        status=status,
        done=done,
        missing=missing,
        late_by_s=late_by_s,
        visits=tuple(first[checkpoint] for checkpoint in done),
        out_of_area=tuple(sorted(away, key=lambda item: (item.at, item.checkpoint, item.custodian))),
        by_drone_at=by_drone,
    )


def _phase(patrol_round: Round, now: datetime, grace_end: datetime) -> Phase:
    if now < patrol_round.window_end:
        return Phase.OPEN
    return Phase.GRACE if now < grace_end else Phase.OVER


def _coverage(done: Sequence[str], missing: Sequence[str], late_by_s: float) -> Coverage:
    if not done:
        return Coverage.NONE
    if missing:
        return Coverage.SOME
    return Coverage.ALL_SOME_LATE if late_by_s > 0 else Coverage.ALL_IN_WINDOW


# Alerts ------------------------------------------------------------------------------------


class PatrolAlertKind(StrEnum):
    ROUND_LATE = "round_late"
    ROUND_PARTIAL = "round_partial"
    ROUND_MISSED = "round_missed"


# Which final status raises which alert to the custodians. Every status is listed (a new
# one fails the completeness test until someone decides here). A partial round alerts like
# a missed one: the checkpoints left out were not looked at.
ALERT_FOR: Final[dict[RoundStatus, PatrolAlertKind | None]] = {
    RoundStatus.PENDING: None,
    RoundStatus.COMPLETE: None,
    RoundStatus.LATE: PatrolAlertKind.ROUND_LATE,
    RoundStatus.PARTIAL: PatrolAlertKind.ROUND_PARTIAL,
    RoundStatus.MISSED: PatrolAlertKind.ROUND_MISSED,
    RoundStatus.WITHDRAWN: None,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolAlert:
    """An alert the alert service should raise about one round. `key` is stable, so raising
    the same alert twice (the planner runs again) can be recognised and dropped."""

    key: str
    kind: PatrolAlertKind
    round_id: str
    route_id: str
    site: str
    audiences: tuple[Audience, ...]
    # A second missed round in a row on the route: the district's culture bureau is told,
    # since the named custodian is evidently not patrolling (专人负责巡查看护).
    escalated: bool
    missing: tuple[str, ...]
    late_by_s: float


def due_alerts(results: Iterable[RoundResult]) -> list[PatrolAlert]:
    """Alerts for the final results among `results`, ordered by window start.

    "In a row" is judged per route over the final results given, in window order, whatever
    rule each round came from; pass the route's previous final result along with the new
    ones, or a second miss cannot be told from a first."""
    by_route: dict[str, list[RoundResult]] = {}
    for result in {result.round.id: result for result in results if result.status.is_final}.values():
        by_route.setdefault(result.round.route_id, []).append(result)
    alerts: list[tuple[datetime, PatrolAlert]] = []
    for route_results in by_route.values():
        route_results.sort(key=lambda item: (item.round.window_start, item.round.id))
        previous: RoundStatus | None = None
        for result in route_results:
            kind = ALERT_FOR[result.status]
            if kind is not None:
                escalated = result.status is RoundStatus.MISSED and previous is RoundStatus.MISSED
                audiences = (Audience.CUSTODIANS, Audience.CULTURE_BUREAU) if escalated else (Audience.CUSTODIANS,)
                alert = PatrolAlert(
                    key=f"patrol:{result.round.id}",
                    kind=kind,
                    round_id=result.round.id,
                    route_id=result.round.route_id,
                    site=result.round.site,
                    audiences=audiences,
                    escalated=escalated,
                    missing=result.missing,
                    late_by_s=result.late_by_s,
                )
                alerts.append((result.round.window_start, alert))
            previous = result.status
    alerts.sort(key=lambda item: (item[0], item[1].round_id))
    return [alert for _, alert in alerts]
