"""Drone patrols on the dashboard: the flight drawn as inline SVG (pure), and the site page's block
with its last flights over a real PostgreSQL, in Chinese and English."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta

import httpx
import psycopg
import pytest
from msgspec.structs import replace as changed

from relic_guard.dashboard.mapview import (
    FLIGHT_MIN_SPAN_DEG,
    FLIGHT_WORDS,
    fit_projection,
    geojson_rings,
    render_flight,
)
from relic_guard.dashboard.users import hash_password
from relic_guard.registry import Device
from relic_guard.store import flight_store
from relic_guard.store.schema import migrate
from sensors.model import Source
from tests.alerting_api.conftest import OTHER, World, make_world
from tests.alerts.support import SITE
from tests.dashboard.conftest import PASSWORD, build, log_in

from .test_api import record

SVG = "{http://www.w3.org/2000/svg}"
BOUNDARY = "POLYGON((117.467 36.794,117.478 36.794,117.478 36.803,117.467 36.803,117.467 36.794))"
SITE_GEOJSON = {"type": "Polygon", "coordinates": [[[117.467, 36.794], [117.478, 36.794], [117.478, 36.803],
                                                    [117.467, 36.803], [117.467, 36.794]]]}
TRACK = {"type": "MultiLineString", "coordinates": [
    [[117.4725, 36.7985, 0.0], [117.470, 36.800, 80.0], [117.475, 36.800, 80.0]],
    [[117.476, 36.801, 80.0], [117.4725, 36.7985, 0.0]],
]}
GAPS = {"type": "MultiPolygon", "coordinates": [[[[117.467, 36.794], [117.469, 36.794], [117.469, 36.796],
                                                  [117.467, 36.794]]]]}


def test_a_flight_is_drawn_over_its_site_as_well_formed_svg() -> None:
    svg = render_flight(boundary=SITE_GEOJSON, uncovered=GAPS, track=TRACK, width_px=720, height_px=440, lang="zh-CN")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.attrib["class"] == "rg-flight"
    classes = [element.attrib.get("class") for element in root.iter()]
    for needed in ("rg-site", "rg-gap", "rg-track", "rg-start", "rg-end", "rg-scale"):
        assert needed in classes, needed
    track = next(e for e in root.iter(f"{SVG}path") if e.attrib.get("class") == "rg-track")
    # Two segments: two moves, drawn as one path; the points lie inside the plot area.
    assert track.attrib["d"].count("M") == 2
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", track.attrib["d"])]
    assert all(0 <= n <= 720 for n in numbers)
    proj = fit_projection([(36.7985, 117.4725), (36.794, 117.467), (36.803, 117.478)], width_px=720, height_px=440,
                          min_span_deg=FLIGHT_MIN_SPAN_DEG)
    start = next(root.iter(f"{SVG}circle"))
    assert float(start.attrib["cx"]) == pytest.approx(proj.x(117.4725), abs=0.06)
    assert FLIGHT_WORDS["zh-CN"]["gap"] in svg
    assert FLIGHT_WORDS["en"]["track"] in render_flight(boundary=None, uncovered=None, track=TRACK, width_px=300,
                                                        height_px=200, lang="en")


def test_nothing_to_draw_and_odd_geometry_are_handled() -> None:
    empty = render_flight(boundary=SITE_GEOJSON, uncovered=None, track={"type": "MultiLineString", "coordinates": []},
                          width_px=300, height_px=200, lang="en")
    assert FLIGHT_WORDS["en"]["empty"] in ET.tostring(ET.fromstring(empty), encoding="unicode")
    assert geojson_rings({"type": "Point", "coordinates": [117.0, 36.0]}) == []
    assert geojson_rings({"type": "LineString", "coordinates": [[117.0, 36.0], ["x", 1], [999, 36.0], [117.1, 36.1]]}
                         ) == [[(117.0, 36.0), (117.1, 36.1)]]
    with pytest.raises(ValueError, match="at least"):
        render_flight(boundary=None, uncovered=None, track=TRACK, width_px=50, height_px=50, lang="zh-CN")


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def database(pg_url: str, password_hash: str) -> Iterator[str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        for login, role, sites in (("ops", "operator", []), ("li", "custodian", [OTHER])):
            conn.execute("INSERT INTO users (login, name, role, sites, password_hash) VALUES (%s, %s, %s, %s, %s)",
                         (login, login, role, sites, password_hash))
    yield pg_url


@pytest.fixture
def world() -> World:
    world = make_world()
    # 城子崖遗址 gets its boundary and a drone; 灵岩寺 has none.
    world.registry.sites[SITE] = replace(world.registry.sites[SITE], boundary_wkt=BOUNDARY)
    world.registry.add_device(Device(site=SITE, id="uav-01", source=Source.DRONE, kind="dji_m3td"))
    return world


@pytest.fixture
async def browser(world: World, database: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build(world, database)),
                                 base_url="http://guard.test", headers={"accept": "text/html"}) as client:
        yield client


async def test_the_site_page_shows_the_last_flights_and_the_latest_track(
    world: World, database: str, browser: httpx.AsyncClient
) -> None:
    await log_in(browser, "ops")
    page = await browser.get(f"/sites/{SITE}")
    assert 'id="site-drones"' in page.text and 'id="drones-none"' in page.text

    older = changed(record(start=world.clock() - timedelta(hours=3)), track_geojson=TRACK, uncovered_geojson=GAPS)
    newer = changed(record(start=world.clock() - timedelta(hours=1), share=0.42), track_geojson=TRACK,
                    counts_as_patrol=False)
    with psycopg.connect(database, autocommit=True) as conn:
        first, second = flight_store.write(conn, older), flight_store.write(conn, newer)
    page = await browser.get(f"/sites/{SITE}")
    html = page.text
    rows = re.findall(r'<tr class="flight-row" data-flight="(\d+)" data-coverage="([^"]*)">', html)
    assert rows == [(str(second), "0.42"), (str(first), "0.83")]
    assert f'<div id="flight-map" data-flight="{second}">' in html and 'class="rg-flight"' in html
    assert "覆盖率 42%" in html and "正常降落" in html and "25 分钟" in html and "6.0 公里" in html
    assert "<script>" not in html  # the map is markup only: no inline script
    await browser.get("/lang/en?next=/sites")
    english = (await browser.get(f"/sites/{SITE}")).text
    assert "Drone patrols" in english and "coverage 42%" in english and "landed" in english


async def test_a_site_without_drones_has_no_drone_block(browser: httpx.AsyncClient) -> None:
    await log_in(browser, "li")
    page = await browser.get(f"/sites/{OTHER}")
    assert page.status_code == 200 and 'id="site-drones"' not in page.text
