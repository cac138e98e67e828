"""Camera coverage: which share of a site's ground a flight's camera has seen, and where the holes are.

Looting (盗掘) leaves fresh spoil heaps and pits; a patrol flight finds them only where its
camera looked. For a flight (or several: a day's patrols) `coverage` returns the covered share
of the site polygon and the parts not seen, as GeoJSON in WGS-84 for the map.

The swath: a camera looking straight down from height h above ground with horizontal field of
view θ sees a strip of half-width h·tan(θ/2) under the track. Height above ground is taken as
the height above the takeoff point (`elevation`, see `osd`): large sites are nearly flat and
their dock stands on them; over a hill the true footprint is narrower, so a site with relief
should set a smaller field of view or a higher `min_height_m`.

Which fixes count: the aircraft is flying (not a ground or not-connected mode_code), its height
is between `min_height_m` (takeoff and landing see too little to count) and `max_height_m`
(above it the reading is implausible: DJI firmware caps flight at 500 m), and the gimbal looks
down (pitch within `max_off_nadir_deg` of -90°; a fix without gimbal pitch counts as looking down
when `assume_nadir_when_unknown`, since the DJI adapter does not carry the gimbal yet).

How it is computed (the budget is 100 ms for a 30-minute flight at 0.5 Hz, 900 fixes): not as
900 circles unioned, but as a few LineStrings buffered. Each track segment (already split at
link losses and gaps, so no swath bridges a stretch nobody saw) is cut into runs of counting
fixes whose footprint widths stay within `width_step_ratio` of each other; each run is
simplified (Douglas–Peucker, `simplify_m`: GPS jitter and the many vertices of a straight lane
go) and buffered at its narrowest half-width less the simplification tolerance, so the swath
never claims ground the camera did not see. The runs are unioned once, then intersected with
and subtracted from the site. `bench/drones.py` measures it; a lawn-mower over 1 km² takes a
few milliseconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import shapely

from relic_guard.drones.area import SiteArea
from relic_guard.drones.errors import InvalidDroneConfig
from relic_guard.drones.flights import Flight, TrackPoint
from relic_guard.drones.osd import MODE_PHASES, ModePhase
from relic_guard.drones.projection import LocalProjection

EMPTY_MULTIPOLYGON: Final[dict[str, Any]] = {"type": "MultiPolygon", "coordinates": []}


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraConfig:
    # Horizontal field of view of the camera the coverage is counted for (a DJI Mavic 3E or
    # Matrice 4E wide camera: about 72°).
    horizontal_fov_deg: float = 72.0
    # Fixes with the gimbal more than this off straight down do not count.
    max_off_nadir_deg: float = 20.0
    # A fix without gimbal pitch counts as looking down.
    assume_nadir_when_unknown: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.horizontal_fov_deg) and 0 < self.horizontal_fov_deg < 180):
            raise InvalidDroneConfig(
                f"camera.horizontal_fov_deg = {self.horizontal_fov_deg!r}: must be between 0 and 180"
            )
        if not (math.isfinite(self.max_off_nadir_deg) and 0 <= self.max_off_nadir_deg <= 90):
            raise InvalidDroneConfig(f"camera.max_off_nadir_deg = {self.max_off_nadir_deg!r}: must be 0 to 90")

    @property
    def half_width_per_m(self) -> float:
        """Footprint half-width per metre of height."""
        return math.tan(math.radians(self.horizontal_fov_deg) / 2)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageConfig:
    camera: CameraConfig = field(default_factory=CameraConfig)
    min_height_m: float = 10.0
    max_height_m: float = 500.0
    # Footprint widths within this ratio of each other are buffered together, at the narrowest.
    width_step_ratio: float = 0.1
    # Douglas–Peucker tolerance applied to the track before buffering (also taken off the width).
    simplify_m: float = 1.0
    # Segments per quarter circle of the swath's round ends and turns.
    quad_segs: int = 4
    # Uncovered pieces smaller than this are left out of the GeoJSON (slivers along the edge of a
    # swath); the share is computed before.
    min_gap_m2: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_height_m) and 0 <= self.min_height_m < self.max_height_m):
            raise InvalidDroneConfig("coverage.min_height_m must be zero or more and below coverage.max_height_m")
        if not math.isfinite(self.max_height_m):
            raise InvalidDroneConfig("coverage.max_height_m must be finite")
        for name in ("width_step_ratio", "simplify_m", "min_gap_m2"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidDroneConfig(f"coverage.{name} = {value!r}: must be zero or more")
        if not 1 <= self.quad_segs <= 32:
            raise InvalidDroneConfig(f"coverage.quad_segs = {self.quad_segs}: must be 1 to 32")


@dataclass(frozen=True, slots=True)
class Coverage:
    site: str
    # Covered area / site area, 0 to 1.
    share: float
    covered_m2: float
    site_m2: float
    # The parts of the site not seen: a GeoJSON MultiPolygon in WGS-84 lon/lat.
    uncovered: dict[str, Any]
    # Fixes that counted towards the swath.
    fixes_used: int


def coverage(area: SiteArea, flights: Iterable[Flight], config: CoverageConfig | None = None) -> Coverage:
    """The share of `area` seen by the camera on `flights`, and the holes (module docstring)."""
    config = config or CoverageConfig()
    swaths: list[Any] = []
    used = 0
    for flight in flights:
        geometries, count = flight_swaths(flight, area.projection, config)
        swaths += geometries
        used += count
    seen = shapely.union_all(swaths) if swaths else shapely.Polygon()
    covered = shapely.intersection(area.boundary, seen)
    covered_m2 = min(float(covered.area), area.area_m2)
    holes = shapely.difference(area.boundary, seen)
    return Coverage(
        site=area.site,
        share=covered_m2 / area.area_m2,
        covered_m2=covered_m2,
        site_m2=area.area_m2,
        uncovered=_geojson(holes, area.projection, config.min_gap_m2),
        fixes_used=used,
    )


def swath(flight: Flight, projection: LocalProjection, config: CoverageConfig | None = None) -> Any:
    """The ground seen on `flight`, in the plane of `projection` (metres)."""
    geometries, _ = flight_swaths(flight, projection, config or CoverageConfig())
    return shapely.union_all(geometries) if geometries else shapely.Polygon()


def flight_swaths(flight: Flight, projection: LocalProjection, config: CoverageConfig) -> tuple[list[Any], int]:
    """The buffered runs of one flight (not yet unioned) and how many fixes counted."""
    runs: list[Any] = []
    widths: list[float] = []
    used = 0
    for segment in flight.segments:
        half = _half_widths(segment, config)
        if not np.any(half > 0):
            continue
        lon = np.fromiter((p.lon for p in segment), dtype=np.float64, count=len(segment))
        lat = np.fromiter((p.lat for p in segment), dtype=np.float64, count=len(segment))
        x, y = projection.forward_xy(lon, lat)
        used += int(np.count_nonzero(half > 0))
        for start, stop in _runs(half, config.width_step_ratio):
            width = float(half[start:stop].min()) - config.simplify_m
            if width <= 0:
                continue
            if stop - start == 1:
                runs.append(shapely.Point(x[start], y[start]))
            else:
                line = shapely.linestrings(x[start:stop], y[start:stop])
                runs.append(shapely.simplify(line, config.simplify_m) if config.simplify_m > 0 else line)
            widths.append(width)
    if not runs:
        return [], used
    buffered = shapely.buffer(np.asarray(runs, dtype=object), np.asarray(widths), quad_segs=config.quad_segs)
    return list(buffered), used


def _half_widths(segment: tuple[TrackPoint, ...], config: CoverageConfig) -> Any:
    """Footprint half-width per fix (metres), 0 for fixes that do not count."""
    camera = config.camera
    per_m = camera.half_width_per_m
    nadir_limit = -90.0 + camera.max_off_nadir_deg
    out = np.zeros(len(segment), dtype=np.float64)
    for i, point in enumerate(segment):
        height = point.height_m
        if height is None or not config.min_height_m <= height <= config.max_height_m:
            continue
        if point.mode_code is not None and MODE_PHASES.get(point.mode_code, ModePhase.AIR) is not ModePhase.AIR:
            continue
        pitch = point.gimbal_pitch_deg
        if (pitch is None and not camera.assume_nadir_when_unknown) or (pitch is not None and pitch > nadir_limit):
            continue
        out[i] = height * per_m
    return out


def _runs(half: Any, ratio: float) -> list[tuple[int, int]]:
    """[start, stop) index ranges of consecutive counting fixes whose widths stay within `ratio`;
    a run begins at the last fix of the run before it when that one counted, so that the leg
    between two runs is covered too."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    low = high = 0.0
    for i, width in enumerate(half.tolist()):
        if width <= 0:
            if start is not None:
                runs.append((start, i))
                start = None
            continue
        if start is None:
            start, low, high = i, width, width
            continue
        low, high = min(low, width), max(high, width)
        if high > low * (1 + ratio):
            runs.append((start, i))
            # The leg from the last fix to this one opens the next run. Across a step too steep
            # for one run, that run closes at the next fix: the leg alone, at the narrower width.
            previous = float(half[i - 1])
            start, low, high = i - 1, min(width, previous), max(width, previous)
    if start is not None:
        runs.append((start, len(half)))
    return runs


def _geojson(holes: Any, projection: LocalProjection, min_gap_m2: float) -> dict[str, Any]:
    parts = [part for part in shapely.get_parts(holes) if part.geom_type == "Polygon" and part.area >= min_gap_m2]
    if not parts:
        return dict(EMPTY_MULTIPOLYGON)
    multi = projection.to_wgs84(shapely.MultiPolygon(parts), decimals=7)
    result: dict[str, Any] = json.loads(shapely.to_geojson(multi))
    return result
