"""Load patrol routes from TOML: `load_routes(path, sites)`.

The file holds one `[[route]]` table per route, its checkpoints as `[[route.checkpoint]]`
(in walking order) and its frequency rules as `[[route.frequency]]` (a single
`[route.frequency]` table is accepted too); see `config/patrols.example.toml`:

    [[route]]
    id = "lingyan-si-fire"            # unique; 1–64 of A-Z a-z 0-9 _ . -
    site = "lingyan-si"               # an id from sites.csv
    name = "灵岩寺防火巡查"
    custodians = ["王建国"]            # default: the site's custodians (sites.csv)
    drone_counts = false              # true: a drone flight covering the site completes a round

    [[route.frequency]]
    kind = "every_n_hours_while_open" # or "daily" (start, end) or "night" (at, tolerance_min)
    every_h = 2

    [[route.checkpoint]]
    id = "shanmen"
    name = "山门"
    code = "LYS-SHANMEN-01"           # what the QR label / NFC tag holds; unique in the file
    lat = 36.3612                     # WGS-84, optional; radius_m needs them
    lon = 116.9951
    radius_m = 60

Times of day are local (Beijing time), written "08:00" or as TOML times (08:00:00).
Either every route is valid or one `ConfigError` lists every problem, phrased like those
of `relic_guard.routing_load` (whose line scanner and collector it shares):
`file:line: [[route]] #n checkpoint[2] code: what is wrong; how to fix it`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from datetime import time
from pathlib import Path
from typing import Any, Final

from relic_guard import routing_load, toml_tables
from relic_guard.patrols.model import (
    MINUTES_PER_DAY,
    Checkpoint,
    DailyRule,
    FrequencyRule,
    NightRule,
    PatrolSite,
    RoundKind,
    Route,
    WhileOpenRule,
    minute_of_day,
    overlapping_night_times,
)
from relic_guard.routing_load import (
    ID_PATTERN,
    Path_,
    _Problems,
    _string,
    _string_list,
)

TABLE: Final = "route"
_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "route": ("id", "site", "name", "custodians", "drone_counts", "checkpoint", "frequency"),
    "checkpoint": ("id", "name", "code", "lat", "lon", "radius_m"),
    "frequency": ("kind", "start", "end", "every_h", "at", "tolerance_min"),
}
_KIND_KEYS: Final[dict[RoundKind, frozenset[str]]] = {
    RoundKind.DAILY: frozenset({"kind", "start", "end"}),
    RoundKind.WHILE_OPEN: frozenset({"kind", "every_h"}),
    RoundKind.NIGHT: frozenset({"kind", "at", "tolerance_min"}),
}
_ALIASES: Final[dict[str, str]] = {
    "routes": "route",
    "checkpoints": "checkpoint",
    "point": "checkpoint",
    "points": "checkpoint",
    "qr": "code",
    "nfc": "code",
    "tag": "code",
    "radius": "radius_m",
    "custodian": "custodians",
    "every": "every_h",
    "every_hours": "every_h",
    "interval_h": "every_h",
    "times": "at",
    "tolerance": "tolerance_min",
    "from": "start",
    "until": "end",
    "type": "kind",
    "drone": "drone_counts",
    "drones": "drone_counts",
    "drone_patrol": "drone_counts",
}
_CLOCK: Final = re.compile(r"(\d{1,2}):(\d{2})")


def load_routes(path: Path, sites: Mapping[str, PatrolSite]) -> tuple[Route, ...]:
    """Read and validate `path` against the registry's `sites`; raise ConfigError listing every problem."""
    # Labelled as routing labels its tables (this file's [[route]] is one of them).
    return toml_tables.load(
        path,
        "patrol routes",
        lambda document, problems: _build(document, sites, problems),
        tables=routing_load._TABLES,
    )


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    return routing_load._suggest(word, candidates, _ALIASES)


def _build(document: dict[str, Any], sites: Mapping[str, PatrolSite], problems: _Problems) -> tuple[Route, ...]:
    routes: list[Route] = []
    route_lines: dict[str, int] = {}
    code_places: dict[str, str] = {}
    for index, entry in toml_tables.entries(document, TABLE, problems, _ALIASES):
        at: Path_ = (TABLE, index)
        route = _route(entry, at, sites, code_places, problems)
        if route is None:
            continue
        if route.id in route_lines:
            problems.add(
                (*at, "id"),
                f'"{route.id}" is used by the route at line {route_lines[route.id]} too; ids must be unique',
            )
            continue
        route_lines[route.id] = problems.line_of(at) or 0
        routes.append(route)
    if not routes and not problems.items:
        problems.add((), "no routes; add a [[route]] table for each patrol route")
    return tuple(routes)


def _route(
    entry: Mapping[str, Any],
    at: Path_,
    sites: Mapping[str, PatrolSite],
    code_places: dict[str, str],
    problems: _Problems,
) -> Route | None:
    toml_tables.unknown_keys(entry, _KEYS["route"], at, problems, _ALIASES)
    before = len(problems.items)
    route_id = _id(entry, at, problems)
    name = _string(entry, "name", at, problems, required=True)
    site_id = _string(entry, "site", at, problems, required=True)
    site = None
    if site_id is not None:
        site = sites.get(site_id)
        if site is None:
            found = difflib.get_close_matches(site_id, list(sites), n=1, cutoff=0.5)
            hint = f'did you mean "{found[0]}"?' if found else "use an id from sites.csv"
            problems.add((*at, "site"), f'no site "{site_id}" in the registry; {hint}')
    custodians = _custodians(entry, at, site, problems)
    drone_counts = _drone_counts(entry, at, site, problems)
    checkpoints: list[Checkpoint] = []
    seen_ids: set[str] = set()
    if "checkpoint" not in entry:
        problems.add(at, "has no checkpoints; add a [[route.checkpoint]] table for each spot on the walk")
    for index, item in toml_tables.tables(
        entry.get("checkpoint", []), (*at, "checkpoint"), "route.checkpoint", problems
    ):
        checkpoint = _checkpoint(item, (*at, "checkpoint", index), problems)
        if checkpoint is None:
            continue
        place: Path_ = (*at, "checkpoint", index)
        if checkpoint.id in seen_ids:
            problems.add((*place, "id"), f'"{checkpoint.id}" appears twice in this route; checkpoint ids must differ')
            continue
        if checkpoint.code in code_places:
            problems.add(
                (*place, "code"),
                f'"{checkpoint.code}" is the code of the checkpoint at {code_places[checkpoint.code]} too; '
                "a scanned code must name one checkpoint",
            )
            continue
        seen_ids.add(checkpoint.id)
        code_places[checkpoint.code] = problems.where(place)
        checkpoints.append(checkpoint)
    rules: list[FrequencyRule] = []
    if "frequency" not in entry:
        problems.add(
            at, 'has no frequency; add [[route.frequency]] with kind = "daily", "every_n_hours_while_open" or "night"'
        )
    for index, item in toml_tables.tables(entry.get("frequency", []), (*at, "frequency"), "route.frequency", problems):
        rule = _rule(item, (*at, "frequency", index), site, problems)
        if rule is None:
            continue
        if any(other.kind is rule.kind for other in rules):
            problems.add(
                (*at, "frequency", index, "kind"),
                f'a second "{rule.kind.value}" rule on this route; merge them (a night rule takes several times)',
            )
            continue
        rules.append(rule)
    if len(problems.items) > before or route_id is None or name is None or site_id is None:
        return None
    return Route(
        id=route_id,
        site=site_id,
        name=name,
        checkpoints=tuple(checkpoints),
        custodians=custodians,
        frequency=tuple(rules),
        drone_counts=drone_counts,
    )


def _drone_counts(entry: Mapping[str, Any], at: Path_, site: PatrolSite | None, problems: _Problems) -> bool:
    value = entry.get("drone_counts", False)
    if not isinstance(value, bool):
        problems.add((*at, "drone_counts"), f"expected true or false, got {value!r}; write drone_counts = true "
                     "(without quotes) to let a drone flight that covers the site count as a round")
        return False
    # Coverage is measured against the site's boundary: without one no flight can ever count.
    if value and site is not None and getattr(site, "boundary_wkt", "") is None:
        problems.add((*at, "drone_counts"), f'site "{site.id}" has no boundary_wkt in sites.csv, so no drone '
                     "flight's coverage can be measured and none would count; fill boundary_wkt, or remove "
                     "drone_counts")
        return False
    return value


def _id(entry: Mapping[str, Any], at: Path_, problems: _Problems) -> str | None:
    value = _string(entry, "id", at, problems, required=True)
    if value is not None and not ID_PATTERN.fullmatch(value):
        problems.add((*at, "id"), f'"{value}" is not a valid id; use 1–64 characters of A-Z a-z 0-9 _ . -')
        return None
    return value


def _custodians(entry: Mapping[str, Any], at: Path_, site: PatrolSite | None, problems: _Problems) -> tuple[str, ...]:
    if "custodians" not in entry:
        if site is not None and not site.custodians:
            problems.add(
                at,
                f'site "{site.id}" names no custodians in sites.csv; add custodians = ["…"] here or fill the '
                "custodians column: a route nobody is responsible for is never walked",
            )
        return site.custodians if site is not None else ()
    names = _string_list(entry, "custodians", at, problems)
    if not names and isinstance(entry["custodians"], list):
        problems.add((*at, "custodians"), 'is empty; name who walks this route, like custodians = ["王建国"]')
    if site is not None:
        for name in names:
            if name not in site.custodians:
                known = ", ".join(site.custodians) or "none"
                problems.add(
                    (*at, "custodians"),
                    f'"{name}" is not a custodian of site "{site.id}" (sites.csv lists: {known}); add them to '
                    "sites.csv first, so their alerts reach them",
                )
    return names


def _checkpoint(entry: Mapping[str, Any], at: Path_, problems: _Problems) -> Checkpoint | None:
    toml_tables.unknown_keys(entry, _KEYS["checkpoint"], at, problems, _ALIASES)
    checkpoint_id = _id(entry, at, problems)
    name = _string(entry, "name", at, problems, required=True)
    code = _string(entry, "code", at, problems, required=True)
    lat = toml_tables.number(entry, "lat", at, problems, low=-90.0, high=90.0, example="lat = 36.3612")
    lon = toml_tables.number(entry, "lon", at, problems, low=-180.0, high=180.0, example="lon = 116.9951")
    radius_m = toml_tables.number(
        entry, "radius_m", at, problems, low=1.0, high=100_000.0, example="radius_m = 50"
    )
    ok = None not in (checkpoint_id, name, code)
    if ("lat" in entry) != ("lon" in entry):
        missing = "lon" if "lat" in entry else "lat"
        problems.add((*at, missing), "is missing; give both lat and lon (WGS-84 degrees), or neither")
        ok = False
    if "radius_m" in entry and "lat" not in entry:
        problems.add((*at, "radius_m"), "needs the checkpoint's position; add lat and lon, or remove radius_m")
        ok = False
    if not ok or any(
        key in entry and value is None for key, value in (("lat", lat), ("lon", lon), ("radius_m", radius_m))
    ):
        return None
    assert checkpoint_id is not None and name is not None and code is not None
    return Checkpoint(id=checkpoint_id, name=name, code=code, lat=lat, lon=lon, radius_m=radius_m)


def _rule(entry: Mapping[str, Any], at: Path_, site: PatrolSite | None, problems: _Problems) -> FrequencyRule | None:
    toml_tables.unknown_keys(entry, _KEYS["frequency"], at, problems, _ALIASES)
    choices = ", ".join(f'"{kind.value}"' for kind in RoundKind)
    value = entry.get("kind")
    if value is None:
        problems.add((*at, "kind"), f"is missing; add kind = {choices}")
        return None
    if value not in {kind.value for kind in RoundKind}:
        suggestion = _suggest(str(value), [kind.value for kind in RoundKind])
        hint = f'did you mean "{suggestion}"?' if suggestion else f"use one of {choices}"
        problems.add((*at, "kind"), f"{value!r} is not a frequency kind; {hint}")
        return None
    kind = RoundKind(value)
    for key in entry:
        if key in _KEYS["frequency"] and key not in _KIND_KEYS[kind]:
            problems.add(
                (*at, key),
                f'does not apply to kind = "{kind.value}"; it takes {", ".join(sorted(_KIND_KEYS[kind] - {"kind"}))}',
            )
    if kind is RoundKind.DAILY:
        start = _clock(entry, "start", at, problems, example="08:00")
        end = _clock(entry, "end", at, problems, example="20:00")
        if start is None or end is None:
            return None
        if minute_of_day(end) <= minute_of_day(start):
            problems.add((*at, "end"), "the window ends before it starts; a daily window lies within one day")
            return None
        return DailyRule(window_start=start, window_end=end)
    if kind is RoundKind.WHILE_OPEN:
        hours = toml_tables.number(entry, "every_h", at, problems, low=1 / 60, high=24.0, example="every_h = 2")
        if "every_h" not in entry:
            problems.add((*at, "every_h"), "is missing; add every_h = 2 (hours between rounds while open)")
        if site is not None and site.open_hours is None:
            problems.add(
                (*at, "kind"),
                f'site "{site.id}" has no open_hours in sites.csv, so this rule would plan no rounds; '
                'fill open_hours, or use kind = "daily"',
            )
            return None
        if hours is None:
            return None
        minutes = hours * 60
        if abs(minutes - round(minutes)) > 1e-6:
            problems.add((*at, "every_h"), f"{hours:g} h is not a whole number of minutes; use e.g. 1.5 or 2")
            return None
        return WhileOpenRule(every_min=round(minutes))
    times = _clock_list(entry, at, problems)
    tolerance = toml_tables.number(
        entry, "tolerance_min", at, problems, low=1.0, high=MINUTES_PER_DAY / 2, example="tolerance_min = 60"
    )
    if "tolerance_min" not in entry:
        problems.add((*at, "tolerance_min"), "is missing; add tolerance_min = 60 (minutes either side of each time)")
    if times is None or tolerance is None:
        return None
    if tolerance != int(tolerance):
        problems.add((*at, "tolerance_min"), "must be whole minutes, like tolerance_min = 60")
        return None
    clash = overlapping_night_times(times, int(tolerance))
    if clash is not None:
        problems.add(
            (*at, "at"),
            f"the rounds at {clash[0]:%H:%M} and {clash[1]:%H:%M} overlap (±{int(tolerance)} min); space the times "
            "at least twice tolerance_min apart, or lower tolerance_min",
        )
        return None
    return NightRule(at=times, tolerance_min=int(tolerance))


def _clock(entry: Mapping[str, Any], key: str, at: Path_, problems: _Problems, *, example: str) -> time | None:
    if key not in entry:
        problems.add((*at, key), f'is missing; add {key} = "{example}" (local time)')
        return None
    return _clock_value(entry[key], (*at, key), problems, example=f'{key} = "{example}"')


def _clock_value(value: Any, at: Path_, problems: _Problems, *, example: str) -> time | None:
    """A local time of day, written "08:30" or as a TOML time 08:30:00 (seconds must be zero)."""
    if isinstance(value, time):
        if value.tzinfo is not None:
            problems.add(at, f"give local (Beijing) time without an offset, like {example}")
            return None
        if value.second or value.microsecond:
            problems.add(at, f"rounds are planned to the minute; drop the seconds, like {example}")
            return None
        return value
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        problems.add(at, f"{value!r} is not a time of day HH:MM; write it like {example}")
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        problems.add(at, f'"{value}" is not a valid time of day; use 00:00 to 23:59, like {example}')
        return None
    return time(hour, minute)


def _clock_list(entry: Mapping[str, Any], at: Path_, problems: _Problems) -> tuple[time, ...] | None:
    example = 'at = ["22:00", "02:00"]'
    value = entry.get("at")
    if value is None:
        problems.add((*at, "at"), f"is missing; add {example} (local times of the night rounds)")
        return None
    if isinstance(value, str | time):
        value = [value]
    if not isinstance(value, list) or not value:
        problems.add((*at, "at"), f"must be a non-empty list of times, like {example}")
        return None
    times = [_clock_value(item, (*at, "at", index), problems, example=example) for index, item in enumerate(value)]
    if any(item is None for item in times):
        return None
    return tuple(item for item in times if item is not None)
