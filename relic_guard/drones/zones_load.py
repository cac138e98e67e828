"""Load the drone zones file (`[drones] zones_file`): per site, more ground its drones may fly
over, where they must not, and its own geofence margin. See config/drone-zones.example.toml:

    [[site]]
    id = "chengziya"                 # an id from sites.csv; the site needs a boundary_wkt
    margin_m = 30                    # optional: the allowed area reaches this far past the boundary

      [[site.allowed]]               # more allowed ground, e.g. the corridor from a dock outside
      name = "东侧机场通道"
      wkt = "POLYGON((117.4757 36.7990, 117.4790 36.7990, 117.4790 36.8000, 117.4757 36.8000, 117.4757 36.7990))"

      [[site.no_fly]]                # a substation, a school, a military area
      name = "变电站"
      wkt = "POLYGON((…))"

WKT is WGS-84 longitude first, as in sites.csv. Either the whole file is valid or one
`ConfigError` lists every problem, each as `file:line: [[site]] #n no_fly[2] wkt: what is wrong;
how to fix it`, the form of the other configuration files (`relic_guard.routing_load`, whose
line scanner it shares). Each site's fence is built here once as the monitor will build it, so a
zone that cannot be used (a repeated name, a polygon that is not one) is refused at
`check-config` and at start, not found later in the air.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from relic_guard import routing_load, toml_tables
from relic_guard.drones.area import SiteArea, polygon_from_wkt
from relic_guard.drones.errors import DroneError
from relic_guard.drones.geofence import GeofenceConfig, NoFlyZone, SiteFence
from relic_guard.routing_load import Path_, _Problems

TABLE: Final = "site"
_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "site": ("id", "margin_m", "allowed", "no_fly"),
    "area": ("name", "wkt"),
}
_ALIASES: Final[dict[str, str]] = {
    "sites": "site",
    "site_id": "id",
    "margin": "margin_m",
    "buffer_m": "margin_m",
    "nofly": "no_fly",
    "no_fly_zone": "no_fly",
    "no_fly_zones": "no_fly",
    "forbidden": "no_fly",
    "corridor": "allowed",
    "corridors": "allowed",
    "extra_allowed": "allowed",
    "polygon": "wkt",
    "boundary": "wkt",
    "boundary_wkt": "wkt",
}
MAX_MARGIN_M: Final = 10_000.0


class ZoneSite(Protocol):
    """What the loader needs of a site; the registry's `Site` satisfies it."""

    @property
    def id(self) -> str: ...
    @property
    def boundary_wkt(self) -> str | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedArea:
    name: str
    wkt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteZones:
    site: str
    # None: `[drones] geofence_margin_m`.
    margin_m: float | None = None
    allowed: tuple[NamedArea, ...] = ()
    no_fly: tuple[NoFlyZone, ...] = ()


def load_zones(
    path: Path, sites: Mapping[str, ZoneSite], *, default_margin_m: float = GeofenceConfig().margin_m
) -> dict[str, SiteZones]:
    """Read and validate `path` against the registry's `sites`; the zones by site id, or
    ConfigError listing every problem."""
    return toml_tables.load(
        path,
        "drone zones",
        lambda document, problems: _build(document, sites, default_margin_m, problems),
        tables=(TABLE,),
    )


def _build(
    document: dict[str, Any], sites: Mapping[str, ZoneSite], default_margin_m: float, problems: _Problems
) -> dict[str, SiteZones]:
    zones: dict[str, SiteZones] = {}
    lines: dict[str, int] = {}
    for index, entry in toml_tables.entries(document, TABLE, problems, _ALIASES):
        at: Path_ = (TABLE, index)
        found = _site(entry, at, sites, default_margin_m, problems)
        if found is None:
            continue
        if found.site in zones:
            problems.add((*at, "id"), f'"{found.site}" has a [[site]] table at line {lines[found.site]} too; '
                         "merge the two (a site's zones go in one table)")
            continue
        zones[found.site] = found
        lines[found.site] = problems.line_of(at) or 0
    return zones


def _site(
    entry: Mapping[str, Any], at: Path_, sites: Mapping[str, ZoneSite], default_margin_m: float, problems: _Problems
) -> SiteZones | None:
    toml_tables.unknown_keys(entry, _KEYS["site"], at, problems, _ALIASES)
    before = len(problems.items)
    site_id = routing_load._string(entry, "id", at, problems, required=True)
    site = None
    if site_id is not None:
        site = sites.get(site_id)
        if site is None:
            near = difflib.get_close_matches(site_id, list(sites), n=1, cutoff=0.5)
            hint = f'did you mean "{near[0]}"?' if near else "use an id from sites.csv"
            problems.add((*at, "id"), f'no site "{site_id}" in the registry; {hint}')
        elif site.boundary_wkt is None:
            problems.add((*at, "id"), f'site "{site_id}" has no boundary_wkt in sites.csv, so it has no geofence to '
                         "widen or cut; fill its boundary_wkt column (a WKT polygon, longitude first) first")
    margin = toml_tables.number(
        entry, "margin_m", at, problems, low=0.0, high=MAX_MARGIN_M, unit="metres", example="margin_m = 30"
    )
    allowed = [NamedArea(name=name, wkt=wkt) for name, wkt in _areas(entry, "allowed", at, problems)]
    no_fly = [NoFlyZone(name=name, wkt=wkt) for name, wkt in _areas(entry, "no_fly", at, problems)]
    if len(problems.items) > before or site_id is None or site is None or site.boundary_wkt is None:
        return None
    try:
        # As the monitor will build it: a site outline the registry took but that encloses no
        # area, or zones that clash, are found now.
        area = SiteArea.from_wkt(site_id, site.boundary_wkt)
        SiteFence.build(area, GeofenceConfig(margin_m=default_margin_m if margin is None else margin),
                        no_fly=no_fly, extra_allowed_wkt=[item.wkt for item in allowed])
    except DroneError as error:
        problems.add(at, f"{error}; correct it in sites.csv or here")
        return None
    return SiteZones(site=site_id, margin_m=margin, allowed=tuple(allowed), no_fly=tuple(no_fly))


def _areas(entry: Mapping[str, Any], key: str, at: Path_, problems: _Problems) -> list[tuple[str, str]]:
    if key not in entry:
        return []
    found: list[tuple[str, str]] = []
    names: dict[str, int] = {}
    for index, item in toml_tables.tables(entry[key], (*at, key), f"site.{key}", problems):
        place: Path_ = (*at, key, index)
        toml_tables.unknown_keys(item, _KEYS["area"], place, problems, _ALIASES)
        name = routing_load._string(item, "name", place, problems, required=True)
        wkt = routing_load._string(item, "wkt", place, problems, required=True)
        if name is None or wkt is None:
            continue
        if name in names:
            problems.add((*place, "name"), f'"{name}" names {key}[{names[name] + 1}] of this site too; '
                         "give each area its own name (alerts name it)")
            continue
        names[name] = index
        try:
            polygon_from_wkt(wkt, f"{key.replace('_', '-')} area {name}")
        except DroneError as error:
            problems.add((*place, "wkt"), f"{error}; write a POLYGON((lon lat, …)) in WGS-84, longitude first")
            continue
        found.append((name, wkt))
    return found
