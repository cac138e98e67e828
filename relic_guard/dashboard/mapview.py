"""The sites map: every site as a marker on an inline SVG; nothing is fetched, no tiles.

`render_map(sites, width_px=, height_px=, lang=)` plots each site from its lat/lon with an
equirectangular projection (longitudes scaled by the cosine of the sites' mean latitude, which
keeps shapes true within a province), fitted to the box with a margin. Each marker links to
`/sites/{id}` and carries a `<title>` tooltip: the site's name (in Chinese, as registered), its
district and its state in the page's language. Sites without usable coordinates cannot be
placed; `unplaced_sites(sites)` returns them so the page can list them beside the map.

No district or county outlines are bundled: there is no boundary data in the package whose
licence and accuracy we could vouch for, and a wrong border on a heritage map is worse than
none. The map draws a light graticule (degrees) and a scale bar in km instead.

Markers differ by more than colour, so the map reads for colour-blind people and on a
monochrome print: ok is a small solid dot, offline a hollow grey ring, warning a larger amber
dot with a dashed rim, alarm the largest red dot with a thick contrasting rim that pulses
(class `rg-pulse`; still under `prefers-reduced-motion`). Alarm markers are drawn last, so
they are never hidden under a cluster of quieter sites.

Styling is by class under `.rg-map` (`MAP_CSS`), using the page's CSS variables `--fg`,
`--bg` and `--muted` where defined. The CSS is embedded in the SVG by default; a page whose
Content-Security-Policy forbids inline styles ships `MAP_CSS` in its stylesheet and passes
`embed_css=False`.

The work per site is string formatting only, so 10,000 sites render in a few tens of
milliseconds. Longitudes are not wrapped at ±180° (every site is in China).

`render_flight(boundary=, uncovered=, track=, …)` draws one drone flight over its site the same
way (GeoJSON geometries in WGS-84 in, an inline SVG out, `FLIGHT_CSS` for the page's stylesheet):
the site's boundary as a dashed outline, the ground the camera did not see as a tinted area, the
track as a line from a round start marker to a square end marker, and a scale bar. Shape, not
colour alone, tells them apart.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote

State = Literal["alarm", "warning", "offline", "ok"]
STATES: Final[tuple[State, ...]] = ("ok", "offline", "warning", "alarm")  # also the drawing order

# Kilometres per degree of latitude (mean Earth radius 6371.0088 km).
KM_PER_DEG: Final = 6371.0088 * math.pi / 180.0
# Outer margin: the largest marker (alarm, r 8) with its pulsing rim must stay inside the box.
MARGIN_PX: Final = 18
# A strip along the bottom for the legend and the scale bar, so they never cover a marker.
FOOTER_PX: Final = 24
MIN_WIDTH_PX: Final = 120
MIN_HEIGHT_PX: Final = 100
# When every site is at (nearly) one point the box still shows a sensible neighbourhood
# (~2 km) instead of dividing by zero or zooming into centimetres.
MIN_SPAN_DEG: Final = 0.02
GRATICULE_STEPS: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)

_RADIUS: Final[dict[str, str]] = {"ok": "4", "offline": "4.5", "warning": "6", "alarm": "8"}
_CLASS: Final[dict[str, str]] = {
    "ok": "rg-m rg-ok",
    "offline": "rg-m rg-offline",
    "warning": "rg-m rg-warning",
    "alarm": "rg-m rg-alarm rg-pulse",
}
_RANK: Final[dict[str, int]] = {state: i for i, state in enumerate(STATES)}

WORDS: Final[dict[str, dict[str, str]]] = {
    "zh-CN": {
        "alarm": "重大告警",
        "warning": "一般告警",
        "offline": "设备离线",
        "ok": "正常",
        "map": "文物分布图",
        "empty": "没有可在地图上显示的文物（无坐标）",
        "unplaced": "{n} 处文物无坐标，未在图上",
    },
    "en": {
        "alarm": "alarm",
        "warning": "warning",
        "offline": "offline",
        "ok": "ok",
        "map": "Map of sites",
        "empty": "No site has coordinates to show on the map",
        "unplaced": "{n} site(s) without coordinates, not on the map",
    },
}

MAP_CSS: Final = (
    ".rg-map{font:11px system-ui,sans-serif}"
    ".rg-map text{fill:var(--muted,#888)}"
    ".rg-map .rg-grat{fill:none;stroke:var(--muted,#888);stroke-opacity:.3;stroke-width:.6}"
    ".rg-map .rg-scale{fill:none;stroke:var(--fg,#333);stroke-width:1.5}"
    ".rg-map .rg-ok{fill:#1a9850;stroke:var(--bg,#fff);stroke-width:1}"
    ".rg-map .rg-offline{fill:none;stroke:#9a9a9a;stroke-width:2;pointer-events:visible}"
    ".rg-map .rg-warning{fill:#f0a202;stroke:var(--fg,#333);stroke-width:1.5;stroke-dasharray:2.5 1.5}"
    ".rg-map .rg-alarm{fill:#e0301e;stroke:var(--fg,#111);stroke-width:3}"
    ".rg-map .rg-pulse{animation:rg-map-pulse 1.4s ease-in-out infinite}"
    "@keyframes rg-map-pulse{50%{stroke-width:6;stroke-opacity:.35}}"
    "@media (prefers-reduced-motion:reduce){.rg-map .rg-pulse{animation:none}}"
)

# C0 control characters other than tab, newline and carriage return are not allowed in XML;
# a stray one in a name from a spreadsheet would make the whole SVG unparseable.
# (Searched first: translating every CJK name would cost more than the rest of the marker.)
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_PLAIN_ID: Final = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class MapSite:
    id: str
    name: str
    district: str
    lat: float | None
    lon: float | None
    state: State


@dataclass(frozen=True, slots=True)
class Projection:
    """Degrees to pixels: x = ox + lon·k·scale, y = oy − lat·scale (k = cos of mean latitude)."""

    k: float
    scale: float  # pixels per degree of latitude
    ox: float
    oy: float

    def x(self, lon: float) -> float:
        return self.ox + lon * self.k * self.scale

    def y(self, lat: float) -> float:
        return self.oy - lat * self.scale

    def lon_at(self, x: float) -> float:
        return (x - self.ox) / (self.k * self.scale)

    def lat_at(self, y: float) -> float:
        return (self.oy - y) / self.scale

    @property
    def km_per_px(self) -> float:
        return KM_PER_DEG / self.scale


def has_coordinates(site: MapSite) -> bool:
    lat, lon = site.lat, site.lon
    return (lat is not None and lon is not None and math.isfinite(lat) and math.isfinite(lon)
            and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0)


def unplaced_sites(sites: Sequence[MapSite]) -> list[MapSite]:
    """The sites `render_map` cannot place (no, non-finite or out-of-range lat/lon), in input order."""
    return [site for site in sites if not has_coordinates(site)]


def fit_projection(points: Sequence[tuple[float, float]], *, width_px: int, height_px: int,
                   min_span_deg: float = MIN_SPAN_DEG) -> Projection:
    """The projection that fits (lat, lon) points into the plot area: the box less the margins and
    the footer strip, centred, the same scale on both axes, showing at least `min_span_deg` either
    way. At least one point is required."""
    if not points:
        raise ValueError("fit_projection needs at least one point")
    mean_lat = math.fsum(lat for lat, _ in points) / len(points)
    k = max(math.cos(math.radians(mean_lat)), 0.01)  # no division by zero for a site at a pole
    lats = [lat for lat, _ in points]
    xs = [lon * k for _, lon in points]
    min_x, max_x, min_y, max_y = min(xs), max(xs), min(lats), max(lats)
    span_x = max(max_x - min_x, min_span_deg)
    span_y = max(max_y - min_y, min_span_deg)
    plot_w = width_px - 2 * MARGIN_PX
    plot_h = height_px - 2 * MARGIN_PX - FOOTER_PX
    scale = min(plot_w / span_x, plot_h / span_y)
    ox = MARGIN_PX + plot_w / 2 - (min_x + max_x) / 2 * scale
    oy = MARGIN_PX + plot_h / 2 + (min_y + max_y) / 2 * scale
    return Projection(k=k, scale=scale, ox=ox, oy=oy)


def render_map(sites: Sequence[MapSite], *, width_px: int, height_px: int, lang: str,
               embed_css: bool = True) -> str:
    """An inline SVG of the sites that have coordinates, alarm markers last (on top).

    `lang` is "zh-CN" or "en" (any "en-…" tag reads as English, anything else as Chinese).
    Every text is escaped; the result is well-formed XML.
    """
    if width_px < MIN_WIDTH_PX or height_px < MIN_HEIGHT_PX:
        raise ValueError(f"the map needs at least {MIN_WIDTH_PX}×{MIN_HEIGHT_PX} px, not {width_px}×{height_px}")
    words = WORDS["en"] if lang.lower().startswith("en") else WORDS["zh-CN"]
    placed: list[tuple[MapSite, float, float]] = []
    n_unplaced = 0
    for site in sites:
        if site.state not in _RANK:
            raise ValueError(f"site {site.id!r}: state must be one of {', '.join(STATES)}, not {site.state!r}")
        lat, lon = site.lat, site.lon
        if has_coordinates(site) and lat is not None and lon is not None:
            placed.append((site, lat, lon))
        else:
            n_unplaced += 1
    w, h = width_px, height_px
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="rg-map" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" aria-label="{html.escape(words["map"])}">',
        f"<title>{html.escape(words['map'])}</title>",
    ]
    if embed_css:
        out.append(f"<style>{MAP_CSS}</style>")
    if not placed:
        out.append(f'<text x="{w / 2:.1f}" y="{(h - FOOTER_PX) / 2:.1f}" text-anchor="middle">'
                   f"{html.escape(words['empty'])}</text>")
        if n_unplaced:
            out.append(_unplaced_note(words, n_unplaced))
        out.append("</svg>")
        return "".join(out)

    proj = fit_projection([(lat, lon) for _, lat, lon in placed], width_px=w, height_px=h)
    out.extend(_graticule(proj, w, h))
    # A stable sort: within a state the input order is kept, so the picture is deterministic.
    placed.sort(key=lambda entry: _RANK[entry[0].state])
    # Per state, the tail of the tooltip and the start of the marker: formatted once, not per site.
    tails = {state: f' · {html.escape(words[state])}</title><circle class="{_CLASS[state]}" r="{_RADIUS[state]}" cx="'
             for state in STATES}
    # Districts repeat across thousands of sites: escaped once each.
    districts: dict[str, str] = {}
    k_scale = proj.k * proj.scale
    ox, oy, scale = proj.ox, proj.oy, proj.scale
    for site, lat, lon in placed:
        district = districts.get(site.district)
        if district is None:
            district = districts[site.district] = _text(site.district)
        ident = site.id
        href = ident if _PLAIN_ID.fullmatch(ident) and ident not in {".", ".."} else _path_segment(ident)
        out.append(
            f'<a href="/sites/{href}"><title>{_text(site.name)} · {district}{tails[site.state]}'
            f'{ox + lon * k_scale:.1f}" cy="{oy - lat * scale:.1f}"/></a>'
        )
    out.extend(_footer(proj, w, h, words))
    if n_unplaced:
        out.append(_unplaced_note(words, n_unplaced))
    out.append("</svg>")
    return "".join(out)


def _text(value: str) -> str:
    """Text for XML: characters XML cannot hold dropped, markup escaped."""
    if _XML_INVALID.search(value):
        value = _XML_INVALID.sub("", value)
    return html.escape(value)


def _path_segment(ident: str) -> str:
    """The id as one URL path segment. Percent-encoding leaves only [A-Za-z0-9_.~%-], so nothing is left
    to escape for XML; "." and ".." would be resolved away by the browser (/sites/.. is /), so their
    dots are encoded too."""
    if ident in {".", ".."}:
        return ident.replace(".", "%2E")
    return quote(ident, safe="")


def _unplaced_note(words: dict[str, str], n: int) -> str:
    return f'<text x="{MARGIN_PX}" y="12">{html.escape(words["unplaced"].format(n=n))}</text>'


def _graticule(proj: Projection, w: int, h: int) -> list[str]:
    """Meridians and parallels at a round step, labelled along the bottom and left edges of the plot."""
    bottom = h - FOOTER_PX
    lon_lo, lon_hi = proj.lon_at(0), proj.lon_at(w)
    lat_lo, lat_hi = proj.lat_at(bottom), proj.lat_at(0)
    # About five lines across the longer side; each axis at its own round step.
    lon_step = _round_step((lon_hi - lon_lo) / 5)
    lat_step = _round_step((lat_hi - lat_lo) / 5)
    d: list[str] = []
    labels: list[str] = []
    # Integer multiples of the step, so labels read 117.2 and not 117.20000000000002.
    for i in range(math.ceil(lon_lo / lon_step), math.floor(lon_hi / lon_step) + 1):
        lon = i * lon_step
        x = proj.x(lon)
        d.append(f"M{x:.1f} 0V{bottom}")
        text = _degrees(lon, lon_step, "E", "W")
        # Labels that would be cut by the right edge or run into the latitude labels are left out.
        if x >= 48 and x + 2 + 6.5 * len(text) <= w:
            labels.append(f'<text x="{x + 2:.1f}" y="{bottom - 3}">{text}</text>')
    for i in range(math.ceil(lat_lo / lat_step), math.floor(lat_hi / lat_step) + 1):
        lat = i * lat_step
        y = proj.y(lat)
        d.append(f"M0 {y:.1f}H{w}")
        # Not in the row of longitude labels, nor in the top row (the note of unplaced sites).
        if 24 <= y <= bottom - 14:
            labels.append(f'<text x="2" y="{y - 2:.1f}">{_degrees(lat, lat_step, "N", "S")}</text>')
    if not d:
        return []
    return [f'<path class="rg-grat" d="{"".join(d)}"/>', *labels]


def _round_step(wanted: float) -> float:
    for step in GRATICULE_STEPS:
        if step >= wanted:
            return step
    return GRATICULE_STEPS[-1]


def _degrees(value: float, step: float, positive: str, negative: str) -> str:
    decimals = 0 if step >= 1 else len(f"{step:g}".split(".")[1])
    return f"{abs(value):.{decimals}f}°{positive if value >= 0 else negative}"


def _nice_km(wanted: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ km not above `wanted`."""
    exponent = math.floor(math.log10(wanted))
    base = 10.0**exponent
    for factor in (5.0, 2.0, 1.0):
        if factor * base <= wanted:
            return factor * base
    return base


def _footer(proj: Projection, w: int, h: int, words: dict[str, str]) -> list[str]:
    """The scale bar at the bottom right and, where it fits beside it, the legend at the bottom left."""
    out: list[str] = []
    km = _nice_km((w - 2 * MARGIN_PX) * 0.25 * proj.km_per_px)
    bar_px = km / proj.km_per_px
    x2 = w - MARGIN_PX
    x1 = x2 - bar_px
    y = h - 7
    km_text = f"{km:g} km"
    out.append(f'<path class="rg-scale" d="M{x1:.1f} {y - 5}V{y}H{x2:.1f}V{y - 5}"/>')
    out.append(f'<text x="{x1 - 5:.1f}" y="{y}" text-anchor="end">{km_text}</text>')
    label_left = x1 - 5 - 7 * len(km_text)

    # Legend: text widths estimated (CJK ~11 px, Latin ~6.5 px at 11 px), then dropped when it would
    # run into the scale bar: on a narrow map the tooltips still name each state.
    entries: list[str] = []
    x = float(MARGIN_PX)
    cy = h - FOOTER_PX / 2
    for state in reversed(STATES):
        word = words[state]
        width = sum(11.0 if ord(c) > 0x2E80 else 6.5 for c in word)
        cls = _CLASS[state].replace(" rg-pulse", "")
        entries.append(f'<circle class="{cls}" cx="{x + 8:.1f}" cy="{cy:.1f}" r="{_RADIUS[state]}"/>'
                       f'<text x="{x + 21:.1f}" y="{cy + 4:.1f}">{html.escape(word)}</text>')
        x += 21 + width + 12
    if x <= label_left:
        out.append(f'<g class="rg-legend">{"".join(entries)}</g>')
    return out


# One drone flight over its site ------------------------------------------------------------------

FLIGHT_WORDS: Final[dict[str, dict[str, str]]] = {
    "zh-CN": {
        "map": "最近一次无人机巡查航迹",
        "site": "文物范围",
        "gap": "未覆盖区域",
        "track": "航迹",
        "empty": "没有可绘制的航迹",
    },
    "en": {
        "map": "Latest drone patrol track",
        "site": "Site boundary",
        "gap": "Not covered",
        "track": "Track",
        "empty": "No track to draw",
    },
}

FLIGHT_CSS: Final = (
    ".rg-flight{font:11px system-ui,sans-serif}"
    ".rg-flight text{fill:var(--muted,#888)}"
    ".rg-flight .rg-site{fill:none;stroke:var(--fg,#333);stroke-width:1.5;stroke-dasharray:5 3}"
    ".rg-flight .rg-gap{fill:#e0301e;fill-opacity:.2;fill-rule:evenodd;stroke:#e0301e;stroke-opacity:.5;"
    "stroke-width:.6}"
    ".rg-flight .rg-track{fill:none;stroke:#1f6fd1;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}"
    ".rg-flight .rg-start{fill:#1a9850;stroke:var(--bg,#fff);stroke-width:1.5}"
    ".rg-flight .rg-end{fill:#1f6fd1;stroke:var(--bg,#fff);stroke-width:1.5}"
    ".rg-flight .rg-scale{fill:none;stroke:var(--fg,#333);stroke-width:1.5}"
)

FLIGHT_MIN_SPAN_DEG: Final = 0.003
Ring = list[tuple[float, float]]  # (lon, lat)


def _positions(coordinates: Any) -> Ring:
    """(lon, lat) pairs of a GeoJSON position list; heights and anything unusable dropped."""
    found: Ring = []
    for position in coordinates if isinstance(coordinates, list | tuple) else ():
        if isinstance(position, list | tuple) and len(position) >= 2:
            lon, lat = position[0], position[1]
            if (isinstance(lon, int | float) and isinstance(lat, int | float) and math.isfinite(lon)
                    and math.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                found.append((float(lon), float(lat)))
    return found


def geojson_rings(geometry: Mapping[str, Any] | None) -> list[Ring]:
    """The rings of a GeoJSON Polygon or MultiPolygon, or the lines of a (Multi)LineString."""
    if not geometry:
        return []
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if not isinstance(coordinates, list | tuple):
        return []
    if kind == "LineString":
        parts: list[Any] = [coordinates]
    elif kind in ("MultiLineString", "Polygon"):
        parts = list(coordinates)
    elif kind == "MultiPolygon":
        parts = [ring for polygon in coordinates if isinstance(polygon, list | tuple) for ring in polygon]
    else:
        return []
    return [ring for ring in (_positions(part) for part in parts) if ring]


def render_flight(
    *,
    boundary: Mapping[str, Any] | None,
    uncovered: Mapping[str, Any] | None,
    track: Mapping[str, Any] | None,
    width_px: int,
    height_px: int,
    lang: str,
    embed_css: bool = True,
) -> str:
    """An inline SVG of a flight's track over its site (see the module docstring). The box is
    fitted to the boundary and the track together, so a flight out past the fence shows where."""
    if width_px < MIN_WIDTH_PX or height_px < MIN_HEIGHT_PX:
        raise ValueError(f"the map needs at least {MIN_WIDTH_PX}×{MIN_HEIGHT_PX} px, not {width_px}×{height_px}")
    words = FLIGHT_WORDS["en"] if lang.lower().startswith("en") else FLIGHT_WORDS["zh-CN"]
    site_rings, gap_rings, lines = geojson_rings(boundary), geojson_rings(uncovered), geojson_rings(track)
    w, h = width_px, height_px
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="rg-flight" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" aria-label="{html.escape(words["map"])}">',
        f"<title>{html.escape(words['map'])}</title>",
    ]
    if embed_css:
        out.append(f"<style>{FLIGHT_CSS}</style>")
    points = [(lat, lon) for ring in (*site_rings, *lines) for lon, lat in ring]
    if not lines or not points:
        out.append(f'<text x="{w / 2:.1f}" y="{(h - FOOTER_PX) / 2:.1f}" text-anchor="middle">'
                   f"{html.escape(words['empty'])}</text></svg>")
        return "".join(out)
    # One site fills the box: a few hundred metres at least, not the sites map's 2 km.
    proj = fit_projection(points, width_px=w, height_px=h, min_span_deg=FLIGHT_MIN_SPAN_DEG)

    def path(rings: Sequence[Ring], close: bool) -> str:
        return "".join(
            "M" + "L".join(f"{proj.x(lon):.1f} {proj.y(lat):.1f}" for lon, lat in ring) + ("Z" if close else "")
            for ring in rings
        )

    if gap_rings:
        out.append(f'<path class="rg-gap" d="{path(gap_rings, True)}"><title>{html.escape(words["gap"])}</title>'
                   "</path>")
    if site_rings:
        out.append(f'<path class="rg-site" d="{path(site_rings, True)}"><title>{html.escape(words["site"])}</title>'
                   "</path>")
    out.append(f'<path class="rg-track" d="{path(lines, False)}"><title>{html.escape(words["track"])}</title></path>')
    (x0, y0), (x1, y1) = _xy(proj, lines[0][0]), _xy(proj, lines[-1][-1])
    out.append(f'<circle class="rg-start" cx="{x0:.1f}" cy="{y0:.1f}" r="5"/>')
    out.append(f'<rect class="rg-end" x="{x1 - 4.5:.1f}" y="{y1 - 4.5:.1f}" width="9" height="9"/>')
    out.extend(_flight_footer(proj, w, h, words))
    out.append("</svg>")
    return "".join(out)


def _xy(proj: Projection, lonlat: tuple[float, float]) -> tuple[float, float]:
    return proj.x(lonlat[0]), proj.y(lonlat[1])


def _flight_footer(proj: Projection, w: int, h: int, words: dict[str, str]) -> Iterator[str]:
    """The scale bar at the bottom right and the legend at the bottom left."""
    km = _nice_km((w - 2 * MARGIN_PX) * 0.25 * proj.km_per_px)
    x2 = w - MARGIN_PX
    x1 = x2 - km / proj.km_per_px
    y = h - 7
    scale = f"{km * 1000:g} m" if km < 1 else f"{km:g} km"
    yield f'<path class="rg-scale" d="M{x1:.1f} {y - 5}V{y}H{x2:.1f}V{y - 5}"/>'
    yield f'<text x="{x1 - 5:.1f}" y="{y}" text-anchor="end">{scale}</text>'
    cy = h - FOOTER_PX / 2
    x = float(MARGIN_PX)
    for cls, word in (("rg-site", "site"), ("rg-gap", "gap"), ("rg-track", "track")):
        shape = (f'<rect class="{cls}" x="{x:.1f}" y="{cy - 5:.1f}" width="16" height="10"/>' if cls != "rg-track"
                 else f'<path class="{cls}" d="M{x:.1f} {cy:.1f}H{x + 16:.1f}"/>')
        text = html.escape(words[word])
        yield f'{shape}<text x="{x + 21:.1f}" y="{cy + 4:.1f}">{text}</text>'
        x += 21 + sum(11.0 if ord(c) > 0x2E80 else 6.5 for c in words[word]) + 12
