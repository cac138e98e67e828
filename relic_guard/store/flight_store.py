"""Drone flights in PostgreSQL (sql/015_drone_flights.sql): written by the drone monitor, read by
the API, the site page, the patrol job and the annual report.

Plain functions over a synchronous psycopg connection, as the other stores:
- `write` inserts one closed flight; a retried write (the answer to its commit was lost, or the
  daemon saved it at exit and wrote it again at start) finds the row by (site, aircraft, start)
  and changes nothing, so a flight is stored once however often it is offered;
- `list_flights` reads summaries (no GeoJSON) newest first, within a caller's scope;
- `get` reads one flight with its GeoJSON, or only its summary;
- `patrol_flight_ends` gives the ends of the flights that count as a patrol at a site in a span,
  what the patrol job passes to `relic_guard.patrols.rounds.evaluate`.

`FlightRecord` is a msgspec Struct so that flights the database could not take are kept across a
restart as JSON (`encode_pending` / `decode_pending`, used by the monitor) without a second schema.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final

import msgspec
import psycopg
from psycopg.types.json import Jsonb

Conn = psycopg.Connection[Any]

END_REASONS: Final = ("landed", "landed_unseen", "link_timeout", "interrupted")
MAX_LIMIT: Final = 1000


class FlightRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One closed flight as it is stored (`drone_flights` less id and created_at)."""

    aircraft: str
    site_id: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    distance_m: float
    max_height_m: float | None
    battery_used_pct: float | None
    end_reason: str
    link_losses: int
    takeoff_seen: bool
    coverage_share: float | None
    covered_m2: float | None
    uncovered_geojson: dict[str, Any] | None
    track_geojson: dict[str, Any]
    counts_as_patrol: bool


class StoredFlight(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `drone_flights`; the GeoJSON only when asked for (`get(..., geometry=True)`)."""

    id: int
    aircraft: str
    site_id: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    distance_m: float
    max_height_m: float | None
    battery_used_pct: float | None
    end_reason: str
    link_losses: int
    takeoff_seen: bool
    coverage_share: float | None
    covered_m2: float | None
    counts_as_patrol: bool
    created_at: datetime
    uncovered_geojson: dict[str, Any] | None = None
    track_geojson: dict[str, Any] | None = None


_SUMMARY: Final = (
    "id, aircraft, site_id, started_at, ended_at, duration_s, distance_m, max_height_m, battery_used_pct, "
    "end_reason, link_losses, takeoff_seen, coverage_share, covered_m2, counts_as_patrol, created_at"
)


def _stored(row: Sequence[Any], geometry: bool = False) -> StoredFlight:
    return StoredFlight(
        id=int(row[0]), aircraft=row[1], site_id=row[2], started_at=row[3], ended_at=row[4],
        duration_s=float(row[5]), distance_m=float(row[6]), max_height_m=row[7], battery_used_pct=row[8],
        end_reason=row[9], link_losses=int(row[10]), takeoff_seen=bool(row[11]), coverage_share=row[12],
        covered_m2=row[13], counts_as_patrol=bool(row[14]), created_at=row[15],
        uncovered_geojson=row[16] if geometry else None, track_geojson=row[17] if geometry else None,
    )


def write(conn: Conn, flight: FlightRecord) -> int | None:
    """Store `flight`; its id, or None when it was stored before (a retried write)."""
    if flight.end_reason not in END_REASONS:
        raise ValueError(f"end_reason {flight.end_reason!r} is not one of {', '.join(END_REASONS)}")
    row = conn.execute(
        "INSERT INTO drone_flights (aircraft, site_id, started_at, ended_at, duration_s, distance_m, max_height_m, "
        "battery_used_pct, end_reason, link_losses, takeoff_seen, coverage_share, covered_m2, uncovered_geojson, "
        "track_geojson, counts_as_patrol) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (site_id, aircraft, started_at) DO NOTHING RETURNING id",
        (flight.aircraft, flight.site_id, flight.started_at, flight.ended_at, flight.duration_s, flight.distance_m,
         flight.max_height_m, flight.battery_used_pct, flight.end_reason, flight.link_losses, flight.takeoff_seen,
         flight.coverage_share, flight.covered_m2,
         None if flight.uncovered_geojson is None else Jsonb(flight.uncovered_geojson),
         Jsonb(flight.track_geojson), flight.counts_as_patrol),
    ).fetchone()
    return None if row is None else int(row[0])


def list_flights(
    conn: Conn,
    *,
    sites: Collection[str] | None,
    site: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[StoredFlight]:
    """Flights at `sites` (None: every site), narrowed to `site`, that ended in [since, until),
    newest first, at most `limit`."""
    clauses: list[str] = []
    params: list[Any] = []
    if sites is not None:
        clauses.append("site_id = ANY(%s)")
        params.append(sorted(sites))
    if site is not None:
        clauses.append("site_id = %s")
        params.append(site)
    if since is not None:
        clauses.append("ended_at >= %s")
        params.append(since)
    if until is not None:
        clauses.append("ended_at < %s")
        params.append(until)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    params.append(max(1, min(limit, MAX_LIMIT)))
    rows = conn.execute(
        f"SELECT {_SUMMARY} FROM drone_flights {where}ORDER BY ended_at DESC, id DESC LIMIT %s", params
    ).fetchall()
    return [_stored(row) for row in rows]


def get(conn: Conn, flight_id: int, *, geometry: bool = True) -> StoredFlight | None:
    columns = f"{_SUMMARY}, uncovered_geojson, track_geojson" if geometry else _SUMMARY
    row = conn.execute(f"SELECT {columns} FROM drone_flights WHERE id = %s", (flight_id,)).fetchone()
    return None if row is None else _stored(row, geometry)


def latest_with_track(conn: Conn, site_id: str) -> StoredFlight | None:
    """The site's most recent flight, with its GeoJSON (for the site page's map)."""
    row = conn.execute(
        f"SELECT {_SUMMARY}, uncovered_geojson, track_geojson FROM drone_flights WHERE site_id = %s "
        "ORDER BY ended_at DESC, id DESC LIMIT 1",
        (site_id,),
    ).fetchone()
    return None if row is None else _stored(row, True)


def patrol_flight_ends(conn: Conn, site_id: str, frm: datetime, to: datetime) -> list[datetime]:
    """When the flights at `site_id` that count as a patrol ended, for ends in [frm, to), oldest first."""
    rows = conn.execute(
        "SELECT ended_at FROM drone_flights WHERE site_id = %s AND counts_as_patrol AND ended_at >= %s "
        "AND ended_at < %s ORDER BY ended_at",
        (site_id, frm, to),
    ).fetchall()
    return [row[0] for row in rows]


# Flights kept across a restart while the database could not take them ---------------------------

_PENDING: Final = msgspec.json.Decoder(list[FlightRecord])


def encode_pending(flights: Sequence[FlightRecord]) -> bytes:
    return msgspec.json.encode(list(flights))


def decode_pending(data: bytes) -> list[FlightRecord]:
    return _PENDING.decode(data)
