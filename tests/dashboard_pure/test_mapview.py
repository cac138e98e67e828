from __future__ import annotations

import math
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

from relic_guard.dashboard.mapview import (
    FOOTER_PX,
    KM_PER_DEG,
    MARGIN_PX,
    STATES,
    WORDS,
    MapSite,
    State,
    fit_projection,
    render_map,
    unplaced_sites,
)

SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Marker:
    href: str
    title: str
    classes: tuple[str, ...]
    cx: float
    cy: float
    r: float


def parse(svg: str) -> ET.Element:
    """The SVG must be well-formed XML in the SVG namespace."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def markers(svg: str) -> list[Marker]:
    found = []
    for a in parse(svg).iter(f"{SVG}a"):
        title = a.find(f"{SVG}title")
        circle = a.find(f"{SVG}circle")
        assert title is not None and circle is not None
        found.append(Marker(href=a.attrib["href"], title=title.text or "", classes=tuple(circle.attrib["class"].split()),
                            cx=float(circle.attrib["cx"]), cy=float(circle.attrib["cy"]), r=float(circle.attrib["r"])))
    return found


def site(i: int | str, lat: float | None, lon: float | None, state: State = "ok", name: str = "趵突泉",
         district: str = "历下区") -> MapSite:
    return MapSite(id=str(i), name=name, district=district, lat=lat, lon=lon, state=state)


def plot_centre(w: int, h: int) -> tuple[float, float]:
    return MARGIN_PX + (w - 2 * MARGIN_PX) / 2, MARGIN_PX + (h - 2 * MARGIN_PX - FOOTER_PX) / 2


# Projection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("coords", "w", "h", "expected"),
    [
        # Two sites on one parallel, 1° apart: width-limited; they land on the left and right margins,
        # vertically centred in the plot area (300 − 2·18 − 24 = 240 px high, centre y 138).
        ([(36.0, 117.0), (36.0, 118.0)], 400, 300, [(18.0, 138.0), (382.0, 138.0)]),
        # Two sites on one meridian: height-limited; top and bottom of the plot area, centred in x.
        ([(36.0, 117.0), (37.0, 117.0)], 400, 300, [(200.0, 258.0), (200.0, 18.0)]),
        # A single site: the centre of the plot area.
        ([(36.65, 117.0)], 640, 480, [plot_centre(640, 480)]),
        # Every site at one point: all at the centre.
        ([(36.65, 117.12)] * 5, 500, 400, [plot_centre(500, 400)] * 5),
    ],
)
def test_known_coordinates_land_where_expected(coords: list[tuple[float, float]], w: int, h: int,
                                               expected: list[tuple[float, float]]) -> None:
    svg = render_map([site(i, lat, lon) for i, (lat, lon) in enumerate(coords)], width_px=w, height_px=h, lang="zh-CN")
    got = {m.href: (m.cx, m.cy) for m in markers(svg)}
    for i, (ex, ey) in enumerate(expected):
        cx, cy = got[f"/sites/{i}"]
        assert cx == pytest.approx(ex, abs=0.06) and cy == pytest.approx(ey, abs=0.06), (i, cx, cy)


def test_longitude_is_scaled_by_cos_of_mean_latitude() -> None:
    # A right angle of 0.1° legs at 36.5°N: the east leg is cos(36.5°) times the north leg on screen.
    sites = [site("o", 36.5, 117.0), site("n", 36.6, 117.0), site("e", 36.5, 117.1)]
    got = {m.href: m for m in markers(render_map(sites, width_px=800, height_px=800, lang="en"))}
    o, n, e = got["/sites/o"], got["/sites/n"], got["/sites/e"]
    assert n.cx == pytest.approx(o.cx, abs=0.06) and n.cy < o.cy  # north is up
    assert e.cy == pytest.approx(o.cy, abs=0.06) and e.cx > o.cx  # east is right
    mean_lat = (36.5 + 36.6 + 36.5) / 3
    assert (e.cx - o.cx) / (o.cy - n.cy) == pytest.approx(math.cos(math.radians(mean_lat)), rel=2e-3)


def test_fit_projection_round_trips_and_keeps_the_scale() -> None:
    proj = fit_projection([(36.4, 116.8), (36.9, 117.4)], width_px=900, height_px=600)
    for lat, lon in [(36.4, 116.8), (36.9, 117.4), (36.65, 117.1)]:
        assert proj.lat_at(proj.y(lat)) == pytest.approx(lat)
        assert proj.lon_at(proj.x(lon)) == pytest.approx(lon)
    assert proj.km_per_px == pytest.approx(KM_PER_DEG / proj.scale)
    with pytest.raises(ValueError, match="at least one point"):
        fit_projection([], width_px=900, height_px=600)


@pytest.mark.parametrize(("w", "h"), [(120, 100), (320, 240), (800, 500), (1600, 400), (300, 900)])
def test_all_markers_inside_the_box(w: int, h: int) -> None:
    rnd = random.Random(w * h)
    sites = [site(i, 36.2 + rnd.random() * 0.9, 116.5 + rnd.random() * 1.2, rnd.choice(STATES)) for i in range(400)]
    found = markers(render_map(sites, width_px=w, height_px=h, lang="zh-CN"))
    assert len(found) == 400
    for m in found:
        reach = m.r + 3  # the thickest rim (alarm's, 3 px) with room for its pulse
        assert reach <= m.cx <= w - reach, m
        assert reach <= m.cy <= h - FOOTER_PX - reach, m  # never under the legend and scale bar


def test_no_coordinates() -> None:
    sites = [site("a", None, None), site("b", 36.6, None), site("c", float("nan"), 117.0), site("d", 95.0, 117.0),
             site("e", 36.6, 200.0)]
    svg = render_map(sites, width_px=400, height_px=300, lang="en")
    root = parse(svg)
    assert markers(svg) == []
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert WORDS["en"]["empty"] in texts
    assert WORDS["en"]["unplaced"].format(n=5) in texts
    assert [s.id for s in unplaced_sites(sites)] == ["a", "b", "c", "d", "e"]
    assert markers(render_map([], width_px=400, height_px=300, lang="zh-CN")) == []


def test_unplaced_sites_are_listed_and_the_rest_drawn() -> None:
    sites = [site("a", 36.6, 117.0), site("b", None, None, "alarm"), site("c", 36.7, 117.1)]
    svg = render_map(sites, width_px=400, height_px=300, lang="zh-CN")
    assert [m.href for m in markers(svg)] == ["/sites/a", "/sites/c"]
    assert unplaced_sites(sites) == [sites[1]]
    assert WORDS["zh-CN"]["unplaced"].format(n=1) in [t.text for t in parse(svg).iter(f"{SVG}text")]


# Escaping --------------------------------------------------------------------------------------


def test_text_is_escaped() -> None:
    name = '<script>alert("x")</script>故宫 & \'午门\''
    district = "东城区</title><a href='javascript:alert(1)'>"
    evil = site("s<1> &\"x\"/..", 39.9163, 116.3972, "alarm", name=name, district=district)
    svg = render_map([evil, site("ok", 39.92, 116.40)], width_px=400, height_px=300, lang="zh-CN")
    assert "<script" not in svg and "javascript:alert(1)'>" not in svg
    found = {m.title: m for m in markers(svg)}
    title = f"{name} · {district} · {WORDS['zh-CN']['alarm']}"
    assert title in found  # the parser gives back exactly the original text
    assert found[title].href == "/sites/s%3C1%3E%20%26%22x%22%2F.."  # stays one path segment
    # Only the two site links: no element smuggled in through the text.
    assert len(list(parse(svg).iter(f"{SVG}a"))) == 2
    assert not list(parse(svg).iter(f"{SVG}script"))


@pytest.mark.parametrize(
    ("ident", "href"),
    [("jn-0001", "/sites/jn-0001"), ("a.b_c", "/sites/a.b_c"), ("..", "/sites/%2E%2E"), (".", "/sites/%2E"),
     ("a/b?c#d", "/sites/a%2Fb%3Fc%23d"), ("济南01", "/sites/%E6%B5%8E%E5%8D%9701"), ("x\x00y", "/sites/x%00y")],
)
def test_site_ids_stay_one_path_segment(ident: str, href: str) -> None:
    (m,) = markers(render_map([site(ident, 36.6, 117.0)], width_px=300, height_px=200, lang="zh-CN"))
    assert m.href == href


def test_control_characters_do_not_break_the_xml() -> None:
    svg = render_map([site("x", 36.6, 117.0, name="文物\x00\x07\x1b名", district="区\x0b")], width_px=300, height_px=200,
                     lang="zh-CN")
    (m,) = markers(svg)
    assert m.title.startswith("文物名 · 区 · ")


# States ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "classes", "radius", "zh", "en"),
    [
        ("alarm", ("rg-m", "rg-alarm", "rg-pulse"), 8.0, "重大告警", "alarm"),
        ("warning", ("rg-m", "rg-warning"), 6.0, "一般告警", "warning"),
        ("offline", ("rg-m", "rg-offline"), 4.5, "设备离线", "offline"),
        ("ok", ("rg-m", "rg-ok"), 4.0, "正常", "ok"),
    ],
)
def test_state_classes_sizes_and_words(state: State, classes: tuple[str, ...], radius: float, zh: str, en: str) -> None:
    sites = [site("x", 36.6, 117.0, state, name="灵岩寺", district="长清区")]
    (m_zh,) = markers(render_map(sites, width_px=300, height_px=200, lang="zh-CN"))
    (m_en,) = markers(render_map(sites, width_px=300, height_px=200, lang="en-GB"))
    assert m_zh.classes == classes and m_zh.r == radius
    assert m_zh.title == f"灵岩寺 · 长清区 · {zh}"
    assert m_en.title == f"灵岩寺 · 长清区 · {en}"  # the name stays Chinese


def test_each_state_has_its_own_style_beyond_colour() -> None:
    # Colour-blind safe: no two states share radius and rim (stroke) rules.
    svg = render_map([site(s, 36.6, 117.0, s) for s in STATES], width_px=300, height_px=200, lang="zh-CN")
    style = parse(svg).find(f"{SVG}style")
    assert style is not None and style.text
    rules = {}
    for s in STATES:
        rule = re.search(rf"\.rg-{s}\{{([^}}]*)\}}", style.text)
        assert rule, s
        rim = tuple(sorted(p for p in rule.group(1).split(";") if not p.startswith("fill:")))
        rules[s] = rim
    radii = {m.classes[1]: m.r for m in markers(svg)}
    assert len(set(rules.values())) == 4
    assert len(set(radii.values())) == 4
    assert "@keyframes" in style.text and "prefers-reduced-motion" in style.text


def test_css_can_be_left_to_the_page() -> None:
    svg = render_map([site("x", 36.6, 117.0)], width_px=300, height_px=200, lang="zh-CN", embed_css=False)
    assert parse(svg).find(f"{SVG}style") is None


def test_alarm_markers_are_drawn_last_in_a_stable_order() -> None:
    states: list[State] = ["alarm", "ok", "warning", "alarm", "offline", "ok", "warning", "alarm"]
    sites = [site(i, 36.6 + i * 0.01, 117.0, s) for i, s in enumerate(states)]
    order = [m.href.removeprefix("/sites/") for m in markers(render_map(sites, width_px=400, height_px=300, lang="en"))]
    assert order == ["1", "5", "4", "2", "6", "0", "3", "7"]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="state must be one of"):
        render_map([site("x", 36.6, 117.0, "fire")], width_px=300, height_px=200, lang="zh-CN")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least"):
        render_map([], width_px=80, height_px=200, lang="zh-CN")


# Graticule and scale bar ----------------------------------------------------------------------


@pytest.mark.parametrize(("w", "h", "lat_span"), [(800, 500, 0.6), (400, 300, 0.0), (1200, 800, 8.0)])
def test_scale_bar_is_true_to_the_projection(w: int, h: int, lat_span: float) -> None:
    coords = [(36.3, 116.8), (36.3 + lat_span, 117.0 + lat_span)]
    svg = render_map([site(i, lat, lon) for i, (lat, lon) in enumerate(coords)], width_px=w, height_px=h, lang="zh-CN")
    root = parse(svg)
    bar = next(p for p in root.iter(f"{SVG}path") if p.attrib.get("class") == "rg-scale")
    ends = re.fullmatch(r"M([\d.]+) [\d.]+V[\d.]+H([\d.]+)V[\d.]+", bar.attrib["d"])
    assert ends, bar.attrib["d"]
    xs = [float(ends.group(1)), float(ends.group(2))]
    label = next(t.text for t in root.iter(f"{SVG}text") if (t.text or "").endswith(" km"))
    assert label is not None
    km = float(label.removesuffix(" km"))
    assert re.fullmatch(r"[125]0*(\.0*)?|0\.0*[125]", f"{km:g}"), km
    proj = fit_projection(coords, width_px=w, height_px=h)
    assert (xs[1] - xs[0]) * proj.km_per_px == pytest.approx(km, rel=1e-2)
    assert xs[1] <= w - MARGIN_PX + 0.05


def test_graticule_is_drawn_with_degree_labels() -> None:
    svg = render_map([site(0, 36.4, 116.8), site(1, 36.9, 117.4)], width_px=800, height_px=500, lang="zh-CN")
    root = parse(svg)
    grat = [p for p in root.iter(f"{SVG}path") if p.attrib.get("class") == "rg-grat"]
    assert len(grat) == 1 and grat[0].attrib["d"].count("M") >= 4
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any(re.fullmatch(r"11[67]\.\d+°E", t) for t in texts)
    assert any(re.fullmatch(r"36\.\d+°N", t) for t in texts)


def test_legend_names_every_state_in_the_language() -> None:
    svg = render_map([site(0, 36.6, 117.0)], width_px=800, height_px=500, lang="zh-CN")
    texts = [t.text for t in parse(svg).iter(f"{SVG}text")]
    assert all(WORDS["zh-CN"][s] in texts for s in STATES)
