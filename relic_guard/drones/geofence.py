"""Geofences: where a site's drones may fly, and the crossings that call for attention.

A site's allowed area is its boundary (`SiteArea`) buffered by `margin_m`, plus any extra
allowed areas the site names (the corridor from a dock that stands outside the boundary).
No-fly zones (a substation, a neighbouring military area, a village school) are polygons of
their own, each with a name (Chinese names are fine). Both are kept in the site's plane.

`GeofenceMonitor.observe(aircraft, sample, in_flight=…)` returns `GeofenceEvent`s:
`OUTSIDE_ALLOWED_AREA` when an aircraft in flight leaves the allowed area,
`INSIDE_NO_FLY_ZONE` when it enters a zone, and the same kinds with `clear=True` when it is
back. Each crossing is raised once: an event fires at the line itself (no delay, no slack on
the boundary the site drew), and the fence re-arms only once the aircraft is `hysteresis_m`
back on the right side. GPS jitter of a few metres on the line, or an aircraft flying along
it, therefore cannot make the alert flap. The events carry the position and how far past the
line it was (`distance_m`), computed only when an event is raised.

Only aircraft in flight are watched (the caller passes the tracker's `in_flight`): a drone
resting in a dock outside the boundary is not an intrusion, and an aircraft that lands is
forgotten, so its next flight starts afresh. Samples without a position are passed over
(a drone without a GPS fix must never trip, nor clear, a geofence), and so are samples not
later than the last one judged (an MQTT redelivery of an old position must not flap a fence).

Cost per sample: one projection of the position (about 3 µs) and one point-in-polygon test
per fence line on prepared geometries.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import shapely

from relic_guard.drones.area import SiteArea, polygon_from_wkt
from relic_guard.drones.errors import InvalidBoundary, InvalidDroneConfig
from relic_guard.drones.flights import AircraftKey
from relic_guard.drones.osd import OsdSample


@dataclass(frozen=True, slots=True, kw_only=True)
class GeofenceConfig:
    # The allowed area reaches this far beyond the site boundary.
    margin_m: float = 50.0
    # A fence re-arms once the aircraft is this far back on the right side of the line.
    hysteresis_m: float = 5.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.margin_m) and self.margin_m >= 0):
            raise InvalidDroneConfig(f"geofence.margin_m = {self.margin_m!r}: must be zero or more")
        if not (math.isfinite(self.hysteresis_m) and self.hysteresis_m > 0):
            raise InvalidDroneConfig(f"geofence.hysteresis_m = {self.hysteresis_m!r}: must be positive")


@dataclass(frozen=True, slots=True)
class NoFlyZone:
    name: str
    # WKT polygon of WGS-84 lon/lat pairs.
    wkt: str


class FenceKind(StrEnum):
    OUTSIDE_ALLOWED_AREA = "outside_allowed_area"
    INSIDE_NO_FLY_ZONE = "inside_no_fly_zone"


@dataclass(frozen=True, slots=True)
class GeofenceEvent:
    kind: FenceKind
    aircraft: AircraftKey
    ts: datetime
    lat: float
    lon: float
    # How far past the line the aircraft was: outside the allowed area, or inside the zone
    # (for `clear` events: how far back on the right side).
    distance_m: float
    # The no-fly zone's name (INSIDE_NO_FLY_ZONE only).
    zone: str | None = None
    # The aircraft is back: inside the allowed area, or out of the zone.
    clear: bool = False


@dataclass(frozen=True, slots=True)
class _Zone:
    name: str
    polygon: Any
    # The zone grown by the hysteresis: leaving it re-arms the fence.
    rearm: Any


@dataclass(frozen=True, slots=True)
class SiteFence:
    """A site's allowed area and no-fly zones in the site's plane, prepared for point tests."""

    area: SiteArea
    config: GeofenceConfig
    allowed: Any
    # The allowed area shrunk by the hysteresis: entering it re-arms the fence.
    rearm: Any
    zones: tuple[_Zone, ...] = field(default=())

    @classmethod
    def build(
        cls,
        area: SiteArea,
        config: GeofenceConfig | None = None,
        *,
        no_fly: Iterable[NoFlyZone] = (),
        extra_allowed_wkt: Iterable[str] = (),
    ) -> SiteFence:
        config = config or GeofenceConfig()
        projection = area.projection
        allowed = shapely.buffer(area.boundary, config.margin_m) if config.margin_m > 0 else area.boundary
        extras = [
            projection.to_metric(polygon_from_wkt(text, f"site {area.site} extra allowed area {i + 1}"))
            for i, text in enumerate(extra_allowed_wkt)
        ]
        if extras:
            allowed = shapely.union_all([allowed, *extras])
        rearm = shapely.buffer(allowed, -config.hysteresis_m)
        if rearm.is_empty:  # an area narrower than twice the hysteresis: re-arm at the line itself
            rearm = allowed
        zones: list[_Zone] = []
        seen: set[str] = set()
        for zone in no_fly:
            if zone.name in seen:
                raise InvalidBoundary(f"site {area.site}: two no-fly zones are named {zone.name!r}")
            seen.add(zone.name)
            polygon = projection.to_metric(polygon_from_wkt(zone.wkt, f"site {area.site} no-fly zone {zone.name}"))
            zones.append(_Zone(zone.name, polygon, shapely.buffer(polygon, config.hysteresis_m)))
        for geometry in (allowed, rearm, *(g for z in zones for g in (z.polygon, z.rearm))):
            shapely.prepare(geometry)
        return cls(area=area, config=config, allowed=allowed, rearm=rearm, zones=tuple(zones))


class _Watch:
    __slots__ = ("in_zones", "last_ts", "outside")

    def __init__(self, ts: datetime) -> None:
        self.outside = False
        self.in_zones: set[str] = set()
        self.last_ts = ts


class GeofenceMonitor:
    """Crossings of the site fences by aircraft in flight (see the module docstring)."""

    def __init__(self, fences: Mapping[str, SiteFence]) -> None:
        # Site id -> fence; aircraft of sites without a boundary are not watched.
        self._fences = dict(fences)
        self._watches: dict[AircraftKey, _Watch] = {}

    def set_fence(self, site: str, fence: SiteFence | None) -> None:
        """Replace a site's fence (the registry changed); its aircraft start afresh."""
        if fence is None:
            self._fences.pop(site, None)
        else:
            self._fences[site] = fence
        for aircraft in [key for key in self._watches if key[0] == site]:
            del self._watches[aircraft]

    def observe(self, aircraft: AircraftKey, sample: OsdSample, *, in_flight: bool) -> list[GeofenceEvent]:
        if not in_flight:
            self._watches.pop(aircraft, None)
            return []
        fence = self._fences.get(aircraft[0])
        lat, lon = sample.lat, sample.lon
        if fence is None or lat is None or lon is None:
            return []
        watch = self._watches.get(aircraft)
        if watch is None:
            watch = self._watches[aircraft] = _Watch(sample.ts)
        elif sample.ts <= watch.last_ts:  # redelivered or overtaken: a stale position must not flap
            return []
        watch.last_ts = sample.ts
        x, y = fence.area.projection.forward(lon, lat)
        events: list[GeofenceEvent] = []
        if not watch.outside:
            if not shapely.contains_xy(fence.allowed, x, y):
                watch.outside = True
                events.append(self._event(FenceKind.OUTSIDE_ALLOWED_AREA, aircraft, sample, fence.allowed, x, y))
        elif shapely.contains_xy(fence.rearm, x, y):
            watch.outside = False
            events.append(self._event(FenceKind.OUTSIDE_ALLOWED_AREA, aircraft, sample, fence.allowed, x, y, True))
        for zone in fence.zones:
            if zone.name not in watch.in_zones:
                if shapely.contains_xy(zone.polygon, x, y):
                    watch.in_zones.add(zone.name)
                    kind = FenceKind.INSIDE_NO_FLY_ZONE
                    events.append(self._event(kind, aircraft, sample, zone.polygon, x, y, zone=zone.name))
            elif not shapely.contains_xy(zone.rearm, x, y):
                watch.in_zones.discard(zone.name)
                kind = FenceKind.INSIDE_NO_FLY_ZONE
                events.append(self._event(kind, aircraft, sample, zone.polygon, x, y, True, zone=zone.name))
        return events

    @staticmethod
    def _event(
        kind: FenceKind,
        aircraft: AircraftKey,
        sample: OsdSample,
        polygon: Any,
        x: float,
        y: float,
        clear: bool = False,
        *,
        zone: str | None = None,
    ) -> GeofenceEvent:
        assert sample.lat is not None and sample.lon is not None
        distance = float(shapely.distance(polygon.boundary, shapely.Point(x, y)))
        return GeofenceEvent(kind, aircraft, sample.ts, sample.lat, sample.lon, distance, zone, clear)
