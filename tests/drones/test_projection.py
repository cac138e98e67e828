"""The site plane: round trips, distances against independent geodesy, and site boundaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from relic_guard.drones.area import SiteArea
from relic_guard.drones.errors import DroneError, InvalidBoundary, InvalidDroneConfig
from relic_guard.drones.projection import WGS84_A_M, WGS84_F, LocalProjection
from relic_guard.errors import RelicGuardError

from .support import DXZ, DXZ_WKT, QCC, QCC_WKT

_E2 = WGS84_F * (2 - WGS84_F)
_B_M = WGS84_A_M * (1 - WGS84_F)


def vincenty_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Vincenty's inverse formula on WGS-84 (sub-millimetre for these distances)."""
    if (lat1, lon1) == (lat2, lon2):
        return 0.0
    u1 = math.atan((1 - WGS84_F) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - WGS84_F) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = WGS84_F / 16 * cos2_alpha * (4 + WGS84_F * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * WGS84_F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - previous) < 1e-13:
            break
    u_sq = cos2_alpha * (WGS84_A_M**2 - _B_M**2) / _B_M**2
    a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta = (
        b
        * sin_sigma
        * (
            cos_2sm
            + b
            / 4
            * (cos_sigma * (-1 + 2 * cos_2sm**2) - b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2))
        )
    )
    return _B_M * a * (sigma - delta)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def meridian_arc_m(lat_deg: float) -> float:
    """Equator to `lat_deg` along a meridian, by Simpson's rule over the radius of curvature."""
    n = 2000
    phi = np.linspace(0.0, math.radians(lat_deg), n + 1)
    radius = WGS84_A_M * (1 - _E2) / (1 - _E2 * np.sin(phi) ** 2) ** 1.5
    weights = np.ones(n + 1)
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    return float(np.sum(weights * radius) * (phi[1] - phi[0]) / 3)


centres = st.tuples(st.floats(-80, 80), st.floats(-180, 180))
# Points within about 20 km of the centre (0.18° of latitude; longitude scaled by latitude).
offsets = st.tuples(st.floats(-0.18, 0.18), st.floats(-0.18, 0.18))


def _point(centre: tuple[float, float], offset: tuple[float, float]) -> tuple[float, float]:
    lat = centre[0] + offset[0]
    lon = centre[1] + offset[1] / max(0.2, math.cos(math.radians(centre[0])))
    return lat, (lon + 180) % 360 - 180


def test_the_centre_is_the_origin_and_the_axes_point_east_and_north() -> None:
    plane = LocalProjection(36.67, 117.0)
    assert plane.forward(117.0, 36.67) == pytest.approx((0.0, 0.0), abs=1e-6)
    x_east, y_east = plane.forward(117.01, 36.67)
    x_north, y_north = plane.forward(117.0, 36.68)
    assert x_east > 890 and abs(y_east) < 5  # 0.01° of longitude at 36.67N is about 893 m
    assert y_north > 1100 and x_north == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("lat", [10.0, 36.67, 45.0, 60.0])
def test_northing_along_the_central_meridian_is_the_meridian_arc(lat: float) -> None:
    plane = LocalProjection(0.0, 117.0)
    x, y = plane.forward(117.0, lat)
    assert x == pytest.approx(0.0, abs=1e-6)
    assert y == pytest.approx(meridian_arc_m(lat), abs=1e-3)


def test_the_45th_parallel_is_4984944_m_from_the_equator() -> None:
    # The published WGS-84 meridian arc to 45°: 4 984 944.378 m.
    assert LocalProjection(0.0, 0.0).forward(0.0, 45.0)[1] == pytest.approx(4_984_944.378, abs=0.01)


@settings(max_examples=200, deadline=None)
@given(centre=centres, offset=offsets)
def test_forward_then_inverse_returns_the_point(centre: tuple[float, float], offset: tuple[float, float]) -> None:
    plane = LocalProjection(*centre)
    lat, lon = _point(centre, offset)
    back_lon, back_lat = plane.inverse(*plane.forward(lon, lat))
    assert back_lat == pytest.approx(lat, abs=1e-9)
    assert (back_lon - lon + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(centre=centres, points=st.lists(offsets, min_size=1, max_size=20))
def test_array_path_agrees_with_the_point_path(centre: tuple[float, float], points: list[tuple[float, float]]) -> None:
    plane = LocalProjection(*centre)
    latlon = [_point(centre, offset) for offset in points]
    lat = np.array([p[0] for p in latlon])
    lon = np.array([p[1] for p in latlon])
    x, y = plane.forward_xy(lon, lat)
    for i, (la, lo) in enumerate(latlon):
        assert (x[i], y[i]) == pytest.approx(plane.forward(lo, la), abs=1e-6)
    back_lon, back_lat = plane.inverse_xy(x, y)
    assert np.allclose(back_lat, lat, atol=1e-9)
    assert np.allclose((back_lon - lon + 180) % 360 - 180, 0.0, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(centre=centres, a=offsets, b=offsets)
def test_plane_distance_is_the_geodesic_within_10_ppm_over_20_km(
    centre: tuple[float, float], a: tuple[float, float], b: tuple[float, float]
) -> None:
    plane = LocalProjection(*centre)
    (lat1, lon1), (lat2, lon2) = _point(centre, a), _point(centre, b)
    planar = math.dist(plane.forward(lon1, lat1), plane.forward(lon2, lat2))
    geodesic = vincenty_m(lat1, lon1, lat2, lon2)
    assert planar == pytest.approx(geodesic, rel=1e-5, abs=1e-3)


@settings(max_examples=150, deadline=None)
@given(centre=st.tuples(st.floats(20, 50), st.floats(73, 135)), a=offsets, b=offsets)
def test_plane_distance_is_within_half_a_percent_of_haversine_across_china(
    centre: tuple[float, float], a: tuple[float, float], b: tuple[float, float]
) -> None:
    # The haversine's sphere is itself off the ellipsoid by up to 0.3 % at these latitudes (0.56 %
    # along meridians at the equator), so it is the coarse check; Vincenty is the exact one.
    plane = LocalProjection(*centre)
    (lat1, lon1), (lat2, lon2) = _point(centre, a), _point(centre, b)
    planar = math.dist(plane.forward(lon1, lat1), plane.forward(lon2, lat2))
    assert planar == pytest.approx(haversine_m(lat1, lon1, lat2, lon2), rel=5e-3, abs=1e-3)


def test_distances_from_jinan_out_to_20_km_keep_to_five_parts_per_million() -> None:
    # Transverse Mercator's scale grows as 1 + x²/2R² off the central meridian: 20 km due east the
    # mean excess along the line is x²/6R² = 1.6 ppm.
    plane = LocalProjection(36.67, 117.0)
    for lon, lat in [(117.224, 36.67), (117.0, 36.85), (117.16, 36.80), (116.84, 36.54)]:
        assert math.hypot(*plane.forward(lon, lat)) == pytest.approx(vincenty_m(36.67, 117.0, lat, lon), rel=5e-6)


def test_geometries_move_into_the_plane_and_back() -> None:
    lonlat = shapely.from_wkt(DXZ_WKT)
    plane = LocalProjection(36.67, 117.0)
    metric = plane.to_metric(lonlat)
    # The boundary was drawn as 1 020 750 m² in this plane and written to 6 decimals (≈ 0.1 m).
    assert metric.area == pytest.approx(1_020_750, rel=1e-3)
    back = plane.to_wgs84(metric)
    assert np.allclose(shapely.get_coordinates(back), shapely.get_coordinates(lonlat), atol=1e-10)
    rounded = plane.to_wgs84(metric, decimals=6)
    assert np.array_equal(shapely.get_coordinates(rounded), shapely.get_coordinates(lonlat))


@pytest.mark.parametrize(("lat", "lon"), [(86.0, 0.0), (math.nan, 117.0), (36.0, 181.0), (36.0, math.inf)])
def test_a_centre_outside_the_valid_range_is_refused(lat: float, lon: float) -> None:
    with pytest.raises(InvalidDroneConfig) as caught:
        LocalProjection(lat, lon)
    assert isinstance(caught.value, DroneError) and isinstance(caught.value, RelicGuardError)


# Site areas ------------------------------------------------------------------------------


def test_site_area_is_centred_on_its_boundary() -> None:
    area = SiteArea.from_wkt(DXZ, DXZ_WKT)
    assert area.area_m2 == pytest.approx(1_020_750, rel=2e-3)
    west, south, east, north = area.boundary.bounds
    assert west == pytest.approx(-east, abs=1) and south == pytest.approx(-north, abs=1)
    wall = SiteArea.from_wkt(QCC, "SRID=4326;" + QCC_WKT)
    assert wall.area_m2 == pytest.approx(3000 * 120, rel=2e-3)


def test_a_crossed_boundary_is_repaired_not_refused() -> None:
    # A bow tie, as a boundary traced by hand sometimes is: two triangles of 0.001° x 0.0005° each.
    area = SiteArea.from_wkt(
        "古墓群", "POLYGON((117.0 36.67, 117.002 36.671, 117.002 36.67, 117.0 36.671, 117.0 36.67))"
    )
    assert area.boundary.is_valid
    assert area.area_m2 == pytest.approx(2 * 0.5 * 0.001 * 0.001 * 111_000 * 89_300, rel=0.02)


@pytest.mark.parametrize(
    ("wkt", "says"),
    [
        ("POLYGON((117.0 36.67, 117.01 36.67", "not readable as WKT"),
        ("POINT(117.0 36.67)", "expected a POLYGON or MULTIPOLYGON, got Point"),
        ("POLYGON EMPTY", "got nothing"),
        ("POLYGON((36.67 117.0, 36.68 117.0, 36.68 117.01, 36.67 117.0))", "longitude first"),
        ("SRID=3857;POLYGON((0 0, 1 0, 1 1, 0 0))", "SRID 3857 is not supported"),
        ("POLYGON((117.0 36.67, 117.01 36.67, 117.02 36.67, 117.0 36.67))", "encloses no area"),
    ],
)
def test_a_boundary_that_is_no_polygon_is_refused_with_the_reason(wkt: str, says: str) -> None:
    with pytest.raises(InvalidBoundary, match=says) as caught:
        SiteArea.from_wkt("大辛庄", wkt)
    assert "site 大辛庄 boundary" in str(caught.value)
    assert isinstance(caught.value, ValueError)
