"""The HTTP API of drone flights (无人机巡查), an extension of CONTRACT §3:

    GET /api/drones/flights?site=&since=&until=&limit=    stored flights, newest first (summaries)
    GET /api/drones/flights/{id}                          one flight: its figures and its coverage
    GET /api/drones/flights/{id}/track.geojson            the track flown (a Feature, MultiLineString)
    GET /api/drones/flights/{id}/uncovered.geojson        the site's ground its camera did not see
    GET /api/drones/live?site=                            aircraft in the air now, with the last position

Scope as everywhere (`caller_of`): a flight, a site or an aircraft outside the caller's sites is
answered 404 in the same words as one that does not exist; every role may read. `since` and
`until` bound when a flight ended (RFC 3339; without an offset, Beijing time).

Where the answers come from: flights from `drone_flights` (relic_guard.store.flight_store), read
in a worker thread like the alerts' history, and 503 with the reason while the database cannot
be read; the aircraft in the air from the drone monitor's memory (relic_guard.drones.monitor),
which answers with the database down. GeoJSON is WGS-84 longitude/latitude (RFC 7946), served as
`application/geo+json`; a track's third coordinate, when present, is the height above the
takeoff point in metres.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, TypeVar

import psycopg
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from alerts.notification import rfc3339
from relic_guard.alerting.api import ApiContext, ApiError, HistoryUnavailable, parse_moment
from relic_guard.alerting.tokens import Principal
from relic_guard.drones.monitor import MONITOR_NAME, DroneMonitor, LiveAircraft
from relic_guard.registry import Site
from relic_guard.store import flight_store
from relic_guard.store.flight_store import StoredFlight

T = TypeVar("T")
Conn = psycopg.Connection[Any]

GEOJSON: Final = "application/geo+json"
MAX_LIMIT: Final = flight_store.MAX_LIMIT


def _site_json(site_id: str, sites: Mapping[str, Site]) -> dict[str, object]:
    site = sites.get(site_id)
    return {"id": site_id, "name": site.name if site is not None else None,
            "district": site.district if site is not None else None}


def flight_json(flight: StoredFlight, sites: Mapping[str, Site]) -> dict[str, object]:
    base = f"/api/drones/flights/{flight.id}"
    return {
        "id": flight.id,
        "site": _site_json(flight.site_id, sites),
        "aircraft": flight.aircraft,
        "started_at": rfc3339(flight.started_at),
        "ended_at": rfc3339(flight.ended_at),
        "duration_s": flight.duration_s,
        "distance_m": flight.distance_m,
        "max_height_m": flight.max_height_m,
        "battery_used_pct": flight.battery_used_pct,
        "end_reason": flight.end_reason,
        "link_losses": flight.link_losses,
        "takeoff_seen": flight.takeoff_seen,
        "coverage_share": flight.coverage_share,
        "counts_as_patrol": flight.counts_as_patrol,
        "links": {
            "self": base,
            "track": f"{base}/track.geojson",
            "uncovered": f"{base}/uncovered.geojson" if flight.coverage_share is not None else None,
        },
    }


def live_json(item: LiveAircraft, sites: Mapping[str, Site]) -> dict[str, object]:
    return {
        "site": _site_json(item.site, sites),
        "aircraft": item.device,
        "state": item.state.value,
        "flight_started_at": rfc3339(item.flight_started_at),
        "takeoff_seen": item.takeoff_seen,
        "last_heard": rfc3339(item.last_heard),
        "position": None if item.lat is None or item.lon is None or item.position_at is None else {
            "lat": item.lat, "lon": item.lon, "at": rfc3339(item.position_at),
        },
        "height_m": item.height_m,
        "battery_pct": item.battery_pct,
        "speed_mps": item.speed_mps,
        "mode_code": item.mode_code,
        "distance_m": item.distance_m,
    }


def make(ctx: ApiContext, caller: Any) -> APIRouter:
    router = APIRouter(prefix="/api/drones")
    service = ctx.service
    history = ctx.history

    async def db(work: Callable[[Conn], T], what: str) -> T:
        try:
            return await history.read(work)
        except HistoryUnavailable as exc:
            raise ApiError(503, f"{what}: the database cannot be reached ({exc.reason}); flights are kept there, "
                           "try again shortly (aircraft in the air: /api/drones/live)",
                           history=f"unavailable: {exc.reason}") from None

    def visible_site(who: Principal, site_id: str | None) -> None:
        if site_id is not None and (site_id not in service.sites or not who.can_see(site_id)):
            raise ApiError(404, f"no site '{site_id}' (or not one you cover)")

    async def one_flight(flight_id: str, who: Principal, *, geometry: bool) -> StoredFlight:
        number = int(flight_id) if flight_id.isdigit() and len(flight_id) < 19 else None
        found = None
        if number is not None:
            found = await db(lambda conn: flight_store.get(conn, number, geometry=geometry), f"flight {number}")
        if found is None or not who.can_see(found.site_id):
            raise ApiError(404, f"no drone flight '{flight_id}' (or not at a site you cover)")
        return found

    def feature(geometry: Mapping[str, Any], flight: StoredFlight, **properties: object) -> JSONResponse:
        body = {
            "type": "Feature",
            "geometry": dict(geometry),
            "properties": {"flight": flight.id, "site": flight.site_id, "aircraft": flight.aircraft,
                           "started_at": rfc3339(flight.started_at), "ended_at": rfc3339(flight.ended_at),
                           **properties},
        }
        return JSONResponse(body, media_type=GEOJSON)

    @router.get("/flights")
    async def list_flights(
        site: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        who: Principal = caller,
    ) -> dict[str, object]:
        visible_site(who, site)
        start, end = parse_moment(since, "since"), parse_moment(until, "until")
        if start is not None and end is not None and end <= start:
            raise ApiError(422, "until must be after since")
        found = await db(lambda conn: flight_store.list_flights(
            conn, sites=who.sites, site=site, since=start, until=end, limit=limit), "drone flights")
        return {"flights": [flight_json(flight, service.sites) for flight in found]}

    @router.get("/flights/{flight_id}")
    async def get_flight(flight_id: str, who: Principal = caller) -> dict[str, object]:
        flight = await one_flight(flight_id, who, geometry=False)
        body = flight_json(flight, service.sites)
        body["coverage"] = None if flight.coverage_share is None else {
            "share": flight.coverage_share,
            "covered_m2": flight.covered_m2,
            "counts_as_patrol": flight.counts_as_patrol,
        }
        return body

    @router.get("/flights/{flight_id}/track.geojson")
    async def track(flight_id: str, who: Principal = caller) -> JSONResponse:
        flight = await one_flight(flight_id, who, geometry=True)
        assert flight.track_geojson is not None  # a NOT NULL column, read with geometry
        return feature(flight.track_geojson, flight, distance_m=flight.distance_m, max_height_m=flight.max_height_m)

    @router.get("/flights/{flight_id}/uncovered.geojson")
    async def uncovered(flight_id: str, who: Principal = caller) -> JSONResponse:
        flight = await one_flight(flight_id, who, geometry=True)
        if flight.uncovered_geojson is None:
            raise ApiError(404, f"drone flight {flight.id} has no coverage: site '{flight.site_id}' has no "
                           "boundary_wkt in sites.csv")
        return feature(flight.uncovered_geojson, flight, coverage_share=flight.coverage_share)

    @router.get("/live")
    async def live(site: str | None = None, who: Principal = caller) -> dict[str, object]:
        visible_site(who, site)
        monitor = service.monitors.get(MONITOR_NAME)
        if not isinstance(monitor, DroneMonitor):
            raise ApiError(503, "the drone monitor is not running in this process")
        scope = [site] if site is not None else who.sites
        return {"at": rfc3339(service.clock()),
                "aircraft": [live_json(item, service.sites) for item in monitor.live(scope)]}

    return router
