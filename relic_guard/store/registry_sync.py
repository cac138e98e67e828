"""Mirror the site and device registry (the bureaus' spreadsheets) into `sites` and `devices`.

Upsert only: a row that left the sheet stays in the database (history and
alerts still refer to it). `updated_at` moves only when something changed.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from relic_guard.registry import Registry, Site

Conn = psycopg.Connection[Any]

_UPSERT_SITE: Final = """
INSERT INTO sites AS s (id, name, district, level, kind, lat, lon, custodians, boundary_wkt, open_hours,
                        auto_register)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE
SET name = excluded.name, district = excluded.district, level = excluded.level, kind = excluded.kind,
    lat = excluded.lat, lon = excluded.lon, custodians = excluded.custodians,
    boundary_wkt = excluded.boundary_wkt, open_hours = excluded.open_hours,
    auto_register = excluded.auto_register, updated_at = now()
WHERE (s.name, s.district, s.level, s.kind, s.lat, s.lon, s.custodians, s.boundary_wkt, s.open_hours,
       s.auto_register)
      IS DISTINCT FROM
      (excluded.name, excluded.district, excluded.level, excluded.kind, excluded.lat, excluded.lon,
       excluded.custodians, excluded.boundary_wkt, excluded.open_hours, excluded.auto_register)
"""

_UPSERT_DEVICE: Final = """
INSERT INTO devices AS d (site_id, id, source, kind, zone, heartbeat_s, external_id)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (site_id, id) DO UPDATE
SET source = excluded.source, kind = excluded.kind, zone = excluded.zone,
    heartbeat_s = excluded.heartbeat_s, external_id = excluded.external_id, updated_at = now()
WHERE (d.source, d.kind, d.zone, d.heartbeat_s, d.external_id)
      IS DISTINCT FROM
      (excluded.source, excluded.kind, excluded.zone, excluded.heartbeat_s, excluded.external_id)
"""


def open_hours_text(site: Site) -> str | None:
    if site.open_hours is None:
        return None
    start, end = site.open_hours
    return f"{start:%H:%M}-{end:%H:%M}"


def sync_registry(conn: Conn, registry: Registry) -> None:
    """Upsert every site, then every device, in one transaction (`conn` must be idle)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            _UPSERT_SITE,
            [
                (s.id, s.name, s.district, s.level, s.kind, s.lat, s.lon, list(s.custodians),
                 s.boundary_wkt, open_hours_text(s), s.auto_register)
                for s in registry.sites.values()
            ],
        )
        cur.executemany(
            _UPSERT_DEVICE,
            [
                (d.site, d.id, str(d.source), d.kind, d.zone, d.heartbeat_s, d.external_id)
                for d in registry.devices.values()
            ],
        )
