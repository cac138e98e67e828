"""A site's ground as the drone core works on it: the boundary polygon in the site's own plane.

`SiteArea.from_wkt` reads the registry's `boundary_wkt` (CONTRACT §6: a WKT POLYGON or
MULTIPOLYGON of WGS-84 longitude/latitude pairs, an `SRID=4326;` prefix allowed), centres a
`LocalProjection` on it and keeps the boundary in metres. Geofences and coverage share one
`SiteArea` per site, so both speak of the same ground in the same plane.

A boundary drawn with a self-touching or crossing ring (common when it was traced by hand on a
web map) is repaired with GEOS `make_valid` and its polygonal part kept, rather than refused:
the registry loader has already checked the syntax, and a site with a slightly untidy outline
still needs its geofence. Text that holds no polygon at all raises `InvalidBoundary`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

import shapely

from relic_guard.drones.errors import InvalidBoundary
from relic_guard.drones.projection import LocalProjection

_SRID: Final = re.compile(r"\s*SRID=(\d+);", re.IGNORECASE)


def polygon_from_wkt(text: str, what: str) -> Any:
    """A valid, non-empty Polygon or MultiPolygon in lon/lat degrees from WKT; `what` names the
    thing in the error ("site jn-cz boundary", "no-fly zone 变电站")."""
    body = text
    srid = _SRID.match(body)
    if srid:
        if srid.group(1) != "4326":
            raise InvalidBoundary(f"{what}: SRID {srid.group(1)} is not supported, only WGS-84 (4326)")
        body = body[srid.end() :]
    try:
        geometry = shapely.from_wkt(body)
    except shapely.errors.ShapelyError as error:
        raise InvalidBoundary(f"{what}: not readable as WKT ({error})") from None
    if geometry is None or geometry.is_empty or geometry.geom_type not in {"Polygon", "MultiPolygon"}:
        kind = "nothing" if geometry is None or geometry.is_empty else geometry.geom_type
        raise InvalidBoundary(f"{what}: expected a POLYGON or MULTIPOLYGON, got {kind}")
    west, south, east, north = (float(v) for v in geometry.bounds)
    if not (-180.0 <= west <= east <= 180.0 and -90.0 <= south <= north <= 90.0):
        raise InvalidBoundary(
            f"{what}: coordinates are not longitude/latitude pairs (WKT writes longitude first, in WGS-84 degrees)"
        )
    if not geometry.is_valid:
        repaired = shapely.get_parts(shapely.make_valid(geometry))
        parts = [part for part in repaired if part.geom_type in {"Polygon", "MultiPolygon"}]
        if not parts:
            raise InvalidBoundary(f"{what}: the polygon encloses no area")
        geometry = shapely.union_all(parts)
    if geometry.is_empty or not float(geometry.area) > 0.0:
        raise InvalidBoundary(f"{what}: the polygon encloses no area")
    return geometry


@dataclass(frozen=True, slots=True)
class SiteArea:
    """A site's boundary in its own local plane (metres east/north of the boundary's centre)."""

    site: str
    projection: LocalProjection
    # Polygon or MultiPolygon, metres.
    boundary: Any
    area_m2: float

    @classmethod
    def from_wkt(cls, site: str, boundary_wkt: str, *, projection: LocalProjection | None = None) -> SiteArea:
        """The site's area from its `boundary_wkt`; the projection is centred on the middle of
        the boundary's extent unless one is given (to share a plane with other geometry)."""
        lonlat = polygon_from_wkt(boundary_wkt, f"site {site} boundary")
        if projection is None:
            west, south, east, north = (float(v) for v in lonlat.bounds)
            projection = LocalProjection((south + north) / 2, (west + east) / 2)
        boundary = projection.to_metric(lonlat)
        if not boundary.is_valid:  # a sliver that became self-touching in the plane
            boundary = shapely.make_valid(boundary)
        area = float(boundary.area)
        if not (math.isfinite(area) and area > 0.0):
            raise InvalidBoundary(f"site {site} boundary: the polygon encloses no area")
        shapely.prepare(boundary)
        return cls(site=site, projection=projection, boundary=boundary, area_m2=area)
