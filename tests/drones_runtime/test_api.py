"""`/api/drones/…` over a real AlertService and a real PostgreSQL: flights stored by the monitor's
writer, read back in the caller's scope, as GeoJSON; aircraft in the air from the monitor's memory;
and `drone_flights` itself (idempotent writes, the ends the patrol job reads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from relic_guard.drones.monitor import MONITOR_NAME, DatabaseFlightWriter, DroneMonitor
from relic_guard.embedded import EmbeddedPostgres
from relic_guard.store import flight_store
from relic_guard.store.flight_store import FlightRecord
from tests.alerting_api.conftest import CUSTODIAN, DOWN_URL, OPS, OTHER, World, auth, client_for, error_of, make_world
from tests.alerts.support import DAY, SITE
from tests.drones.support import flight_samples
from tests.hazards_api.conftest import module_database

from .support import PLANE, row_of

OTHER_CUSTODIAN = auth("other-custodian-token")
TRACK = {"type": "MultiLineString", "coordinates": [[[117.47, 36.80, 0.0], [117.471, 36.801, 80.0]]]}
GAPS = {"type": "MultiPolygon", "coordinates": [[[[117.467, 36.794], [117.468, 36.794], [117.468, 36.795],
                                                  [117.467, 36.794]]]]}


def record(site: str = SITE, *, start: datetime = DAY, minutes: float = 25, share: float | None = 0.83,
           aircraft: str = "uav-01") -> FlightRecord:
    return FlightRecord(
        aircraft=aircraft, site_id=site, started_at=start, ended_at=start + timedelta(minutes=minutes),
        duration_s=minutes * 60, distance_m=6012.5, max_height_m=80.0, battery_used_pct=41.0, end_reason="landed",
        link_losses=0, takeoff_seen=True, coverage_share=share, covered_m2=None if share is None else 850_000.0,
        uncovered_geojson=None if share is None else GAPS, track_geojson=TRACK,
        counts_as_patrol=share is not None and share >= 0.8,
    )


@pytest.fixture(scope="module")
def database(pg_server: EmbeddedPostgres) -> Iterator[str]:
    with module_database(pg_server, "drones_api") as url:
        yield url


@pytest.fixture
def db(database: str) -> str:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("TRUNCATE drone_flights RESTART IDENTITY")
    return database


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
async def api(world: World, db: str) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(world.app(db)) as client:
        yield client


def stored(url: str, *records: FlightRecord) -> list[int]:
    write = DatabaseFlightWriter(url)
    ids = [write(item) for item in records]
    assert all(isinstance(flight_id, int) for flight_id in ids)
    return [flight_id for flight_id in ids if flight_id is not None]


def test_a_flight_is_stored_once_however_often_it_is_written(db: str) -> None:
    first = record()
    write = DatabaseFlightWriter(db)
    assert write(first) == 1
    assert write(first) is None  # a retried write after a lost answer
    with psycopg.connect(db) as conn:
        found = flight_store.get(conn, 1)
    assert found is not None and found.track_geojson == TRACK and found.started_at == DAY
    assert (found.coverage_share, found.counts_as_patrol, found.end_reason) == (0.83, True, "landed")


def test_the_patrol_job_reads_the_ends_of_flights_that_count(db: str) -> None:
    stored(db, record(start=DAY), record(start=DAY + timedelta(hours=1), share=0.5),
           record(start=DAY + timedelta(hours=2)), record(OTHER, start=DAY))
    with psycopg.connect(db) as conn:
        ends = flight_store.patrol_flight_ends(conn, SITE, DAY, DAY + timedelta(hours=3))
        assert ends == [DAY + timedelta(minutes=25), DAY + timedelta(hours=2, minutes=25)]
        assert flight_store.patrol_flight_ends(conn, SITE, DAY, DAY + timedelta(minutes=25)) == []


async def test_flights_are_listed_newest_first_within_the_callers_sites(api: httpx.AsyncClient, db: str) -> None:
    stored(db, record(start=DAY), record(start=DAY + timedelta(hours=2), share=None), record(OTHER))
    r = await api.get("/api/drones/flights", headers=OPS)
    assert r.status_code == 200
    flights = r.json()["flights"]
    assert [(f["id"], f["site"]["id"]) for f in flights] == [(2, SITE), (3, OTHER), (1, SITE)]
    newest = flights[0]
    assert newest["site"]["name"] == "城子崖遗址" and newest["coverage_share"] is None
    assert newest["links"] == {"self": "/api/drones/flights/2", "track": "/api/drones/flights/2/track.geojson",
                               "uncovered": None}
    assert newest["ended_at"] == "2026-11-27T12:25:00.000+08:00"
    mine = (await api.get("/api/drones/flights", headers=CUSTODIAN)).json()["flights"]
    assert [f["id"] for f in mine] == [2, 1]
    r = await api.get(f"/api/drones/flights?site={OTHER}", headers=CUSTODIAN)
    assert r.status_code == 404 and error_of(r) == f"no site '{OTHER}' (or not one you cover)"
    r = await api.get("/api/drones/flights", params={"since": "2026-11-27T11:00:00", "until": "2026-11-27T13:00"},
                      headers=OPS)
    assert [f["id"] for f in r.json()["flights"]] == [2]
    r = await api.get("/api/drones/flights?since=yesterday", headers=OPS)
    assert r.status_code == 422 and "since" in error_of(r)
    assert (await api.get("/api/drones/flights")).status_code == 401


async def test_one_flight_with_its_coverage_and_geojson(api: httpx.AsyncClient, db: str) -> None:
    (with_boundary, without) = stored(db, record(), record(OTHER, share=None))
    r = await api.get(f"/api/drones/flights/{with_boundary}", headers=CUSTODIAN)
    assert r.status_code == 200
    body = r.json()
    assert body["coverage"] == {"share": 0.83, "covered_m2": 850000.0, "counts_as_patrol": True}
    assert (body["duration_s"], body["distance_m"], body["aircraft"]) == (1500.0, 6012.5, "uav-01")
    r = await api.get(body["links"]["track"], headers=CUSTODIAN)
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    track = r.json()
    assert track["type"] == "Feature" and track["geometry"] == TRACK
    assert track["properties"]["flight"] == with_boundary and track["properties"]["site"] == SITE
    gaps = (await api.get(body["links"]["uncovered"], headers=CUSTODIAN)).json()
    assert gaps["geometry"] == GAPS and gaps["properties"]["coverage_share"] == 0.83

    # Outside the caller's sites: as if it did not exist.
    for path in ("", "/track.geojson", "/uncovered.geojson"):
        r = await api.get(f"/api/drones/flights/{without}{path}", headers=CUSTODIAN)
        assert r.status_code == 404, path
        assert error_of(r) == f"no drone flight '{without}' (or not at a site you cover)"
    r = await api.get(f"/api/drones/flights/{without}/uncovered.geojson", headers=OTHER_CUSTODIAN)
    assert r.status_code == 404 and "has no boundary_wkt" in error_of(r)
    assert (await api.get(f"/api/drones/flights/{without}", headers=OTHER_CUSTODIAN)).json()["coverage"] is None
    for missing in ("999", "abc", "9" * 30):
        assert (await api.get(f"/api/drones/flights/{missing}", headers=OPS)).status_code == 404


async def test_aircraft_in_the_air_now_come_from_the_monitor(world: World, db: str) -> None:
    monitor = DroneMonitor(service=world.service, areas={})
    async with await client_for(world.app(db)) as api:
        r = await api.get("/api/drones/live", headers=OPS)
        assert r.status_code == 503 and "not running" in error_of(r)
        world.service.monitors[MONITOR_NAME] = monitor
        samples = flight_samples(PLANE, [(0.0, 0.0), (0.0, 200.0)], height_m=60.0, start_s=0.0)
        # The registry's site `chengziya` takes the rows (the adapter resolved jn-dxz's serial).
        rows = [(SITE, "uav-01", *row_of(sample)[2:]) for sample in samples[:8]]
        world.clock.now = samples[7].ts
        monitor.on_samples(rows)  # type: ignore[arg-type]
        r = await api.get("/api/drones/live", headers=CUSTODIAN)
        assert r.status_code == 200
        (aircraft,) = r.json()["aircraft"]
        assert aircraft["site"] == {"id": SITE, "name": "城子崖遗址", "district": "章丘区"}
        assert (aircraft["aircraft"], aircraft["state"], aircraft["takeoff_seen"], aircraft["height_m"]) == (
            "uav-01", "airborne", True, 60.0)
        assert aircraft["position"]["lat"] == pytest.approx(samples[7].lat)
        assert (await api.get("/api/drones/live", headers=OTHER_CUSTODIAN)).json()["aircraft"] == []
        r = await api.get(f"/api/drones/live?site={OTHER}", headers=CUSTODIAN)
        assert r.status_code == 404


async def test_flights_while_the_database_is_down_answer_503_and_live_still_answers(world: World) -> None:
    world.service.monitors[MONITOR_NAME] = DroneMonitor(service=world.service, areas={})
    async with await client_for(world.app(DOWN_URL)) as api:
        r = await api.get("/api/drones/flights", headers=OPS)
        assert r.status_code == 503 and "the database cannot be reached" in error_of(r)
        assert r.json()["history"].startswith("unavailable: ")
        assert (await api.get("/api/drones/live", headers=OPS)).json()["aircraft"] == []


def test_the_monitor_writes_into_the_real_table(db: str) -> None:
    from .support import make_world as drone_world

    drones = drone_world(writer=DatabaseFlightWriter(db))
    drones.fly(flight_samples(PLANE, [(0.0, 0.0), (0.0, 300.0), (0.0, 0.0)], height_m=80.0))
    assert asyncio.run(drones.monitor.drain())
    with psycopg.connect(db) as conn:
        (only,) = flight_store.list_flights(conn, sites=None)
        full = flight_store.get(conn, only.id)
    assert (only.site_id, only.aircraft, only.end_reason, only.takeoff_seen) == ("jn-dxz", "uav-01", "landed", True)
    assert only.coverage_share is not None and 0 < only.coverage_share < 0.5 and not only.counts_as_patrol
    assert full is not None and full.uncovered_geojson is not None
    assert full.track_geojson is not None and full.track_geojson["type"] == "MultiLineString"
