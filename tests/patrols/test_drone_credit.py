"""Drone flights as patrol rounds: a route marked `drone_counts` is complete when a flight that counts
as a patrol ended inside a round's window; the pure evaluation (a table and a property), the routes
file, and the patrol job over `drone_flights` in a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relic_guard.embedded import EmbeddedPostgres
from relic_guard.errors import ConfigError
from relic_guard.patrols import store
from relic_guard.patrols.model import DailyRule
from relic_guard.patrols.plan import rounds_between
from relic_guard.patrols.rounds import CheckIn, RoundStatus, evaluate
from relic_guard.patrols.routes_load import load_routes
from relic_guard.registry import Site
from relic_guard.store import flight_store
from relic_guard.store.flight_store import FlightRecord
from tests.hazards_api.conftest import module_database

from .support import SITE, local, route

# 08:00–20:00 on 27 Nov; grace (30 min) until 20:30.
DAILY = replace(route(DailyRule(window_start=local(1, 8).time(), window_end=local(1, 20).time())), drone_counts=True)
WALKED_ONLY = replace(DAILY, drone_counts=False)
ROUND = rounds_between(DAILY, SITE, local(27, 8), local(27, 9))[0]
GATE = CheckIn(checkpoint="XTS-01", custodian="赵玉梅", at=local(27, 9))


@pytest.mark.parametrize(
    ("flights", "checkins", "now", "status", "by_drone"),
    [
        pytest.param([local(27, 10)], [], local(27, 12), RoundStatus.COMPLETE, local(27, 10), id="flown-in-window"),
        pytest.param([local(27, 10)], [], local(27, 21), RoundStatus.COMPLETE, local(27, 10), id="final-complete"),
        pytest.param([local(27, 13)], [], local(27, 12), RoundStatus.PENDING, None, id="not-yet-ended-at-now"),
        pytest.param([local(27, 7, 59)], [], local(27, 21), RoundStatus.MISSED, None, id="before-the-window"),
        pytest.param([local(27, 20)], [], local(27, 21), RoundStatus.MISSED, None, id="at-the-window-end"),
        pytest.param([local(27, 20, 10)], [], local(27, 21), RoundStatus.MISSED, None, id="in-grace-is-not-late"),
        pytest.param([local(27, 15), local(27, 11)], [], local(27, 21), RoundStatus.COMPLETE, local(27, 11),
                     id="earliest-of-two"),
        pytest.param([local(27, 11)], [GATE], local(27, 21), RoundStatus.COMPLETE, local(27, 11),
                     id="flown-and-partly-walked"),
        pytest.param([], [GATE], local(27, 21), RoundStatus.PARTIAL, None, id="walked-part-no-flight"),
    ],
)
def test_a_qualifying_flight_in_the_window_completes_the_round(
    flights: list[datetime], checkins: list[CheckIn], now: datetime, status: RoundStatus, by_drone: datetime | None
) -> None:
    result = evaluate(ROUND, DAILY, checkins, now, drone_flights=flights)
    assert (result.status, result.by_drone_at) == (status, by_drone)
    # What was walked is still said as it was.
    assert result.done == (("shanmen",) if checkins else ())


def test_flights_do_not_count_on_a_route_not_marked() -> None:
    result = evaluate(ROUND, WALKED_ONLY, [], local(27, 21), drone_flights=[local(27, 10)])
    assert (result.status, result.by_drone_at) == (RoundStatus.MISSED, None)


window_minutes = st.integers(min_value=-24 * 60, max_value=48 * 60)


@given(ends=st.lists(window_minutes, max_size=6), now=window_minutes)
def test_complete_by_drone_exactly_when_some_flight_ended_in_the_window_by_now(ends: list[int], now: int) -> None:
    day = local(27, 0)
    moments = [day + timedelta(minutes=m) for m in ends]
    at = day + timedelta(minutes=now)
    result = evaluate(ROUND, DAILY, [], at, drone_flights=moments)
    counting = [m for m in moments if ROUND.window_start <= m < ROUND.window_end and m <= at]
    assert result.by_drone_at == (min(counting) if counting else None)
    if counting:
        assert result.status is RoundStatus.COMPLETE
    else:
        assert result.status is (RoundStatus.MISSED if at >= ROUND.window_end + timedelta(minutes=30)
                                 else RoundStatus.PENDING)


# The routes file ---------------------------------------------------------------------------------

ROUTE_TOML = """\
[[route]]
id = "czy-drone"
site = "chengziya"
name = "城子崖遗址无人机巡查"
custodians = ["王建国"]
drone_counts = true

  [[route.frequency]]
  kind = "daily"
  start = "08:00"
  end = "18:00"

  [[route.checkpoint]]
  id = "beimen"
  name = "北门"
  code = "CZY-BEIMEN-01"
"""
BOUNDARY = "POLYGON((117.467 36.794,117.478 36.794,117.478 36.803,117.467 36.803,117.467 36.794))"


def sites(boundary: str | None) -> dict[str, Site]:
    return {"chengziya": Site(id="chengziya", name="城子崖遗址", district="章丘区", level="national", kind="古遗址",
                              custodians=("王建国",), boundary_wkt=boundary)}


def test_the_routes_file_marks_routes_a_drone_flight_may_complete(tmp_path: Path) -> None:
    path = tmp_path / "patrols.toml"
    path.write_text(ROUTE_TOML, encoding="utf-8")
    (loaded,) = load_routes(path, sites(BOUNDARY))
    assert loaded.drone_counts
    path.write_text(ROUTE_TOML.replace("drone_counts = true\n", ""), encoding="utf-8")
    assert not load_routes(path, sites(BOUNDARY))[0].drone_counts

    path.write_text(ROUTE_TOML.replace("drone_counts = true", 'drone_counts = "yes"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_routes(path, sites(BOUNDARY))
    assert caught.value.problems == [
        f"{path}:6: [[route]] #1 drone_counts: expected true or false, got 'yes'; write drone_counts = true "
        "(without quotes) to let a drone flight that covers the site count as a round"]
    path.write_text(ROUTE_TOML, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_routes(path, sites(None))
    (problem,) = caught.value.problems
    assert problem.startswith(f'{path}:6: [[route]] #1 drone_counts: site "chengziya" has no boundary_wkt')


# The patrol job over drone_flights ----------------------------------------------------------------

Conn = psycopg.Connection[Any]


@pytest.fixture(scope="module")
def database(pg_server: EmbeddedPostgres) -> Iterator[str]:
    with module_database(pg_server, "patrol_drones") as url:
        yield url


@pytest.fixture
def conn(database: str) -> Iterator[Conn]:
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("TRUNCATE patrol_rounds, events, drone_flights")
        yield connection


def flight(ended_at: datetime, *, counts: bool) -> FlightRecord:
    return FlightRecord(
        aircraft="uav-01", site_id=SITE.id, started_at=ended_at - timedelta(minutes=30), ended_at=ended_at,
        duration_s=1800.0, distance_m=9000.0, max_height_m=80.0, battery_used_pct=55.0, end_reason="landed",
        link_losses=0, takeoff_seen=True, coverage_share=0.9 if counts else 0.3, covered_m2=1.0,
        uncovered_geojson={"type": "MultiPolygon", "coordinates": []},
        track_geojson={"type": "MultiLineString", "coordinates": []}, counts_as_patrol=counts,
    )


def test_the_job_credits_a_round_to_a_stored_flight_that_counts(conn: Conn) -> None:
    flight_store.write(conn, flight(local(27, 10), counts=False))  # saw too little
    store.plan_ahead(conn, [DAILY], {SITE.id: SITE}, local(27, 9))
    assert [r.status for r in store.evaluate_due(conn, [DAILY], local(27, 11))] == [RoundStatus.PENDING]
    flight_store.write(conn, flight(local(27, 12), counts=True))
    (result,) = store.evaluate_due(conn, [DAILY], local(27, 13))
    assert (result.status, result.by_drone_at) == (RoundStatus.COMPLETE, local(27, 12))
    row = conn.execute("SELECT status, drone_flight_at, done FROM patrol_rounds WHERE id = %s",
                       (result.round.id,)).fetchone()
    assert row == ("complete", local(27, 12), [])
    # Final at 20:30 without an alert: nobody is told a round was missed that a drone flew.
    final = store.evaluate_due(conn, [DAILY], local(27, 21))
    assert [r.status for r in final] == [RoundStatus.COMPLETE]
    assert store.take_alerts(conn, final) == []
