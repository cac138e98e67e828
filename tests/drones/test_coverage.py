"""Camera coverage of synthetic lawn-mower flights, against areas known in closed form."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from relic_guard.drones.area import SiteArea
from relic_guard.drones.coverage import CameraConfig, CoverageConfig, _runs, coverage, swath
from relic_guard.drones.errors import InvalidDroneConfig
from relic_guard.drones.flights import Flight
from relic_guard.drones.projection import LocalProjection

from .support import (
    DXZ,
    DXZ_WKT,
    QCC,
    QCC_ACROSS,
    QCC_ALONG,
    QCC_WKT,
    flight_samples,
    fly,
    lawnmower,
    metric_wkt,
)

PLANE = LocalProjection(36.67, 117.0)
SQUARE = SiteArea.from_wkt(
    "jn-sq", metric_wkt(PLANE, [(-500, -500), (500, -500), (500, 500), (-500, 500)]), projection=PLANE
)
DXZ_AREA = SiteArea.from_wkt(DXZ, DXZ_WKT, projection=PLANE)
# A 90° field of view: the footprint half-width equals the height.
WIDE = CoverageConfig(camera=CameraConfig(horizontal_fov_deg=90.0))
LANES_X = [-450 + 100 * i for i in range(10)]


def survey(lanes_x: Sequence[float], height_m: float, **kwargs: object) -> Flight:
    """A lawn-mower over the square (lanes run from y -600 to 600, past both edges)."""
    return fly(flight_samples(PLANE, lawnmower(lanes_x, -600, 600), height_m=height_m, **kwargs))  # type: ignore[arg-type]


def uncovered_m2(geojson: dict[str, object]) -> float:
    geometry = shapely.geometry.shape(geojson)
    return float(PLANE.to_metric(geometry).area)


def test_a_full_sweep_with_overlapping_lanes_covers_the_whole_square() -> None:
    # Half-width 60 m less 1 m of simplification: 118 m swaths on a 100 m lane spacing.
    result = coverage(SQUARE, [survey(LANES_X, 60.0)], WIDE)
    assert result.share == pytest.approx(1.0, abs=1e-9)
    assert result.site_m2 == pytest.approx(1e6, rel=1e-9)
    assert result.uncovered == {"type": "MultiPolygon", "coordinates": []}
    assert result.fixes_used > 700


def test_swaths_half_the_lane_spacing_cover_half_the_square() -> None:
    # 26 m high: 25 m half-width after the 1 m simplification allowance, 50 m of every 100 m.
    result = coverage(SQUARE, [survey(LANES_X, 26.0)], WIDE)
    assert result.share == pytest.approx(0.5, abs=1e-6)
    assert result.covered_m2 == pytest.approx(5e5, rel=1e-6)
    assert result.uncovered["type"] == "MultiPolygon"
    assert len(result.uncovered["coordinates"]) == 11  # the strips between and beside the ten swaths
    assert uncovered_m2(result.uncovered) == pytest.approx(5e5, rel=1e-4)
    lon, lat = result.uncovered["coordinates"][0][0][0]
    assert 116.99 < lon < 117.01 and 36.66 < lat < 36.68


def test_half_the_lanes_cover_the_western_half_and_their_swath() -> None:
    result = coverage(SQUARE, [survey(LANES_X[:5], 60.0)], WIDE)
    # Covered from the west edge to the fifth lane (x = -50) plus 59 m.
    assert result.share == pytest.approx((9.0 + 500.0) / 1000.0, abs=1e-6)


def test_two_flights_are_counted_together() -> None:
    west, east = survey(LANES_X[:5], 60.0), survey(LANES_X[5:], 60.0)
    assert coverage(SQUARE, [west, east], WIDE).share == pytest.approx(1.0, abs=1e-9)


def test_an_irregular_site_near_jinan_full_and_half_sweeps() -> None:
    west, _, east, _ = DXZ_AREA.boundary.bounds
    lanes = [west - 40 + 100 * i for i in range(math.ceil((east - west + 80) / 100) + 1)]
    full = coverage(DXZ_AREA, [survey(lanes, 60.0)], WIDE)
    assert full.share == pytest.approx(1.0, abs=1e-9)
    half = lanes[: len(lanes) // 2]
    result = coverage(DXZ_AREA, [survey(half, 60.0)], WIDE)
    # What lies west of the last lane plus the 59 m swath, by an independent clip of the boundary.
    expected = (
        shapely.clip_by_rect(DXZ_AREA.boundary, west - 1000, -2000, half[-1] + 59.0, 2000).area / DXZ_AREA.area_m2
    )
    assert 0.35 < expected < 0.65
    assert result.share == pytest.approx(expected, abs=1e-6)


def _along_wall(height_m: float) -> Flight:
    wall = SiteArea.from_wkt(QCC, QCC_WKT)
    ends = [(d * QCC_ALONG[0], d * QCC_ALONG[1]) for d in (-1600.0, 1600.0)]
    return fly(flight_samples(wall.projection, ends, height_m=height_m))


def test_a_long_thin_site_one_pass_along_its_axis() -> None:
    wall = SiteArea.from_wkt(QCC, QCC_WKT)
    assert coverage(wall, [_along_wall(81.0)], WIDE).share == pytest.approx(1.0, abs=1e-9)
    # A 2 x 40 m swath over a 120 m wide site: two thirds.
    assert coverage(wall, [_along_wall(41.0)], WIDE).share == pytest.approx(2 / 3, abs=1e-4)
    # Over the long edge, 60 m off the axis: half the swath lies outside the site. (The boundary's
    # six decimals place that edge to about 0.1 m: 0.1 % of the width.)
    offset = [(d * QCC_ALONG[0] + 60 * QCC_ACROSS[0], d * QCC_ALONG[1] + 60 * QCC_ACROSS[1]) for d in (-1600.0, 1600.0)]
    aside = fly(flight_samples(wall.projection, offset, height_m=41.0))
    assert coverage(wall, [aside], WIDE).share == pytest.approx(1 / 3, abs=2e-3)


def test_a_link_loss_leaves_a_hole_the_swath_does_not_bridge() -> None:
    samples = flight_samples(PLANE, [(0.0, -600.0), (0.0, 600.0)], height_m=26.0)
    gap = [s for s in samples if not -100 < PLANE.forward(s.lon, s.lat)[1] < 100]  # type: ignore[arg-type]
    with_gap = coverage(SQUARE, [fly(gap)], WIDE)
    whole = coverage(SQUARE, [fly(samples)], WIDE)
    assert whole.share == pytest.approx(50 * 1000 / 1e6, abs=1e-6)
    ys = sorted(PLANE.forward(s.lon, s.lat)[1] for s in gap)  # type: ignore[arg-type]
    span = min(y for y in ys if y > 0) - max(y for y in ys if y < 0)
    # The missing strip, less the round ends of the two swaths reaching into it (16-gon halves).
    missing = 50 * span - 25**2 * 8 * math.sin(math.pi / 8)
    assert whole.covered_m2 - with_gap.covered_m2 == pytest.approx(missing, abs=1.0)
    assert shapely.geometry.shape(with_gap.uncovered).contains(shapely.Point(117.0, 36.67))


def test_fixes_that_do_not_count() -> None:
    lanes = LANES_X
    # The camera tilted to the horizon.
    assert coverage(SQUARE, [survey(lanes, 60.0, gimbal_pitch_deg=-30.0)], WIDE).share == 0.0
    # Tilted 15° off straight down still counts.
    assert coverage(SQUARE, [survey(lanes, 60.0, gimbal_pitch_deg=-75.0)], WIDE).share == pytest.approx(1.0)
    # Without a gimbal reading, when told not to assume it looks down.
    strict = replace(WIDE, camera=CameraConfig(horizontal_fov_deg=90.0, assume_nadir_when_unknown=False))
    result = coverage(SQUARE, [survey(lanes, 60.0)], strict)
    assert (result.share, result.fixes_used) == (0.0, 0)
    # Too low to count (takeoff and landing heights), and an implausible height.
    assert coverage(SQUARE, [survey(lanes, 8.0)], WIDE).share == 0.0
    assert coverage(SQUARE, [survey(lanes, 900.0)], WIDE).share == 0.0
    # Not a flying mode: samples of an aircraft reported standing by, whatever their height.
    parked = fly(flight_samples(PLANE, lawnmower(lanes, -600, 600), height_m=60.0))
    grounded = replace(parked, segments=tuple(tuple(p._replace(mode_code=0) for p in s) for s in parked.segments))
    assert coverage(SQUARE, [grounded], WIDE).share == 0.0


def test_footprint_widths_buffered_in_runs_at_the_narrowest() -> None:
    # Climbing from 30 to 60 m along the lanes: runs of widths within 10 % buffered at their narrowest.
    flight = survey(LANES_X, 60.0)
    points = flight.segments[0]
    climbing = tuple(p._replace(height_m=30.0 + 30.0 * i / len(points)) for i, p in enumerate(points))
    result = coverage(SQUARE, [replace(flight, segments=(climbing,))], WIDE)
    steady = coverage(SQUARE, [replace(flight, segments=(tuple(p._replace(height_m=30.0) for p in points),))], WIDE)
    top = coverage(SQUARE, [flight], WIDE)
    assert steady.share < result.share < top.share
    assert (
        swath(replace(flight, segments=(climbing,)), PLANE, WIDE).area
        > swath(replace(flight, segments=(tuple(p._replace(height_m=30.0) for p in points),)), PLANE, WIDE).area
    )


@pytest.mark.parametrize(
    ("widths", "runs"),
    [
        ([10, 10.5, 10.9], [(0, 3)]),
        ([0, 10, 10, 0, 0, 10], [(1, 3), (5, 6)]),
        # A step beyond 10 %: the leg across it is its own run, at the narrower width.
        ([10, 10, 30, 30], [(0, 2), (1, 3), (2, 4)]),
        # A slow climb: each run starts at the last fix of the one before.
        ([10, 10.3, 10.6, 10.9, 11.2, 11.5], [(0, 4), (3, 6)]),
        ([0, 0], []),
    ],
)
def test_runs_of_similar_footprint_width(widths: list[float], runs: list[tuple[int, int]]) -> None:
    assert _runs(np.asarray(widths, dtype=float), 0.1) == runs


def test_no_flights_cover_nothing() -> None:
    result = coverage(SQUARE, [], WIDE)
    assert (result.share, result.covered_m2) == (0.0, 0.0)
    # The GeoJSON's 7 decimals (about 1 cm) along a 4 km outline.
    assert uncovered_m2(result.uncovered) == pytest.approx(1e6, rel=2e-5)


# Properties ------------------------------------------------------------------------------

waypoints = st.lists(st.tuples(st.floats(-800, 800), st.floats(-800, 800)), min_size=2, max_size=8)


def _random_flight(points: list[tuple[float, float]], heights: list[float]) -> Flight:
    if math.dist(points[0], points[-1]) < 1.0 and len(points) == 2:
        points = [points[0], (points[0][0] + 50.0, points[0][1])]
    flight = fly(flight_samples(PLANE, points, height_m=60.0, speed_mps=15.0))
    segment = flight.segments[0]
    varied = tuple(p._replace(height_m=heights[i % len(heights)]) for i, p in enumerate(segment))
    return replace(flight, segments=(varied,))


@settings(max_examples=40, deadline=None)
@given(points=waypoints, heights=st.lists(st.floats(0, 300), min_size=1, max_size=5), fov=st.floats(5, 170))
def test_the_share_is_a_fraction(points: list[tuple[float, float]], heights: list[float], fov: float) -> None:
    config = CoverageConfig(camera=CameraConfig(horizontal_fov_deg=fov))
    result = coverage(DXZ_AREA, [_random_flight(points, heights)], config)
    assert 0.0 <= result.share <= 1.0
    assert result.covered_m2 + uncovered_m2(result.uncovered) == pytest.approx(DXZ_AREA.area_m2, abs=10.0)


@settings(max_examples=25, deadline=None)
@given(
    points=waypoints,
    heights=st.lists(st.floats(10, 200), min_size=1, max_size=5),
    fovs=st.tuples(st.floats(5, 170), st.floats(5, 170)),
)
def test_the_share_grows_with_the_footprint(
    points: list[tuple[float, float]], heights: list[float], fovs: tuple[float, float]
) -> None:
    flight = _random_flight(points, heights)
    narrow, wide = sorted(fovs)
    shares = [
        coverage(DXZ_AREA, [flight], CoverageConfig(camera=CameraConfig(horizontal_fov_deg=fov))).share
        for fov in (narrow, wide)
    ]
    assert shares[0] <= shares[1] + 1e-9


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: CameraConfig(horizontal_fov_deg=180.0), "horizontal_fov_deg"),
        (lambda: CameraConfig(max_off_nadir_deg=-1.0), "max_off_nadir_deg"),
        (lambda: CoverageConfig(min_height_m=600.0), "min_height_m"),
        (lambda: CoverageConfig(simplify_m=-1.0), "simplify_m"),
        (lambda: CoverageConfig(quad_segs=0), "quad_segs"),
    ],
)
def test_config_out_of_range_is_refused(make: object, says: str) -> None:
    with pytest.raises(InvalidDroneConfig, match=says):
        make()  # type: ignore[operator]
