"""The sites pages: every site at a glance, the map, and one site in detail.

    GET /sites?q=             the sites the user may see, most troubled first; `q` filters them
    GET /map                  the same sites on an inline SVG map (`mapview.render_map`)
    GET /sites/{id}?range=    one site: facts, open alerts, conditions, devices, readings charts

A site's state, most severe first:

    alarm    an open critical or major alert
    warning  any other open alert
    offline  a device of the site is offline
    ok       none of these

Device-health alerts (`device.offline`, `site.unreachable`) count toward `offline`, not toward
alarm or warning: they are the engine's record of the same fact, and an alarm state for every
flat battery would bury the fires. They still count among the site's open alerts.

Scale: the list and the map are computed in one pass over the open alerts plus O(1) per site
from the engine's device state (`DeviceState.members` and `.offline`), so 10,000 sites cost a
few tens of milliseconds (bench/dashboard_pages.py). The per-site device totals of the registry
are counted once and kept until the registry changes size.

Search (`q`): every whitespace-separated term must occur in the site's name, id or district,
compared after NFKC folding and case folding (full-width letters match half-width ones, `ABC`
matches `abc`); plain substrings, no pinyin, so 灵岩 finds 灵岩寺.

A site outside the user's scope is answered 404 in the same words as an unknown one, as the API
does, so a custodian cannot learn which other sites exist.

Drone patrols: a site with drones shows its last flights (coverage share, whether each counts as
a patrol) and the latest track over its boundary (`mapview.render_flight`: inline SVG, no tiles),
read from `drone_flights` with the charts' series in the same worker-thread read.

Charts (`static/charts.js` draws every `div.chart[data-src]` from the readings API): one per
metric of each env or fire device that reported in the period. Which metrics exist is asked of
the database in a worker thread with short timeouts (a skip scan over the readings key, so its
cost grows with the number of series, not of rows); when the database cannot answer, the page
still renders, with a note where the charts would be.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from alerts.model import Alert, Severity
from alerts.notification import rfc3339
from alerts.rules.devices import OFFLINE_RULE, UNREACHABLE_RULE
from relic_guard.alerting.api import History, HistoryUnavailable
from relic_guard.alerting.device_view import DeviceRow, site_devices
from relic_guard.alerting.service import AlertService
from relic_guard.dashboard import i18n, mapview
from relic_guard.dashboard.app import DashboardDeps, Templates, lang_of, make_current_user
from relic_guard.drones.area import polygon_from_wkt
from relic_guard.drones.errors import DroneError
from relic_guard.registry import Device, Site
from relic_guard.store import flight_store
from relic_guard.store.flight_store import StoredFlight
from sensors.model import Source

State = Literal["alarm", "warning", "offline", "ok"]
STATES: Final[tuple[State, ...]] = ("alarm", "warning", "offline", "ok")  # most severe first
ALARM_SEVERITIES: Final = frozenset({Severity.CRITICAL, Severity.MAJOR})
HEALTH_RULES: Final = frozenset({OFFLINE_RULE, UNREACHABLE_RULE})
CHART_SOURCES: Final = frozenset({Source.ENV, Source.FIRE})

# range -> (span, bucket the readings API is asked for)
RANGES: Final[dict[str, tuple[timedelta, Literal["raw", "hour"]]]] = {
    "24h": (timedelta(hours=24), "raw"),
    "7d": (timedelta(days=7), "hour"),
    "30d": (timedelta(days=30), "hour"),
}
DEFAULT_RANGE: Final = "24h"
# Metrics are looked for in the raw readings of this window (and, for 30 days, the hourly rollup).
METRIC_WINDOW: Final = timedelta(days=7)
# A site with more series than this gets the first ones and a note: each chart is a request.
MAX_CHARTS: Final = 60
MAP_WIDTH_PX: Final = 1100
MAP_HEIGHT_PX: Final = 720
# The site page's drone block: this many recent flights, the latest drawn at this size.
FLIGHTS_SHOWN: Final = 5
FLIGHT_MAP_WIDTH_PX: Final = 720
FLIGHT_MAP_HEIGHT_PX: Final = 440

Conn = psycopg.Connection[Any]


# Words ------------------------------------------------------------------------------------------

i18n.register({
    "sites.list.title": ("文物点", "Sites"),
    "sites.list.search": ("搜索", "Search"),
    "sites.list.search_label": ("按名称、编号或区县筛选", "Filter by name, id or district"),
    "sites.list.search_hint": ("名称、编号或区县的一部分", "part of a name, id or district"),
    "sites.list.clear": ("显示全部", "Show all"),
    "sites.list.showing": ("显示", "Showing"),
    "sites.list.of_total": ("/ 共 {total} 处", "of {total}"),
    "sites.list.none": ("没有符合条件的文物点。", "No site matches."),
    "sites.list.none_visible": ("您的账号没有可查看的文物点。", "Your account covers no site."),
    "sites.col.state": ("状态", "State"),
    "sites.col.name": ("名称", "Name"),
    "sites.col.district": ("区县", "District"),
    "sites.col.level": ("保护级别", "Protection level"),
    "sites.col.kind": ("类别", "Kind"),
    "sites.col.alerts": ("未结告警", "Open alerts"),
    "sites.col.devices": ("设备在线", "Devices online"),
    "sites.state.alarm": ("重大告警", "Alarm"),
    "sites.state.warning": ("一般告警", "Warning"),
    "sites.state.offline": ("设备离线", "Offline"),
    "sites.state.ok": ("正常", "OK"),
    "sites.map.title": ("文物分布图", "Map of sites"),
    "sites.map.legend": ("图例", "Legend"),
    "sites.map.unplaced": ("无坐标的文物点（未在图上）", "Sites without coordinates (not on the map)"),
    "sites.map.none_unplaced": ("所有文物点都有坐标。", "Every site has coordinates."),
    "sites.site.facts": ("基本信息", "Facts"),
    "sites.site.id": ("编号", "Id"),
    "sites.site.coordinates": ("坐标（WGS-84）", "Coordinates (WGS-84)"),
    "sites.site.no_coordinates": ("未登记", "not registered"),
    "sites.site.custodians": ("文物保护员", "Custodians"),
    "sites.site.no_custodians": ("未登记", "none registered"),
    "sites.site.open_hours": ("开放时间", "Open hours"),
    "sites.site.no_open_hours": ("不对外开放（全天按闭馆处理）", "not open to the public (treated as closed)"),
    "sites.site.open_now": ("现在开放中", "open now"),
    "sites.site.closed_now": ("现在闭馆", "closed now"),
    "sites.site.on_map": ("在地图上查看", "Show on the map"),
    "sites.alerts.title": ("未结告警", "Open alerts"),
    "sites.alerts.none": ("没有未结告警。", "No open alerts."),
    "sites.alerts.severity": ("级别", "Severity"),
    "sites.alerts.category": ("类别", "Category"),
    "sites.alerts.alert": ("告警", "Alert"),
    "sites.alerts.where": ("设备 / 区域", "Device / zone"),
    "sites.alerts.status": ("状态", "Status"),
    "sites.alerts.opened": ("发生时间", "Opened"),
    "sites.alerts.condition": ("现场状况", "Condition"),
    "sites.alerts.ongoing": ("持续中", "ongoing"),
    "sites.alerts.cleared": ("已恢复 {at}", "ended {at}"),
    "sites.alerts.confirmed": ("已确认火警", "confirmed"),
    "sites.alerts.drill": ("演练/测试", "drill/test"),
    "sites.conditions.title": ("当前状况", "Current conditions"),
    "sites.conditions.none": ("没有需要注意的状况。", "Nothing to note."),
    "sites.conditions.unreachable": ("站点失联：全部受监测设备离线",
                                     "Site unreachable: every watched device is offline"),
    "sites.conditions.offline": ("{n} 台设备离线", "{n} device(s) offline"),
    "sites.conditions.armed_site": ("全站已布防", "Whole site armed"),
    "sites.conditions.disarmed_site": ("全站已撤防", "Whole site disarmed"),
    "sites.conditions.armed_zone": ("{zone} 已布防", "{zone} armed"),
    "sites.conditions.disarmed_zone": ("{zone} 已撤防", "{zone} disarmed"),
    "sites.conditions.testing": ("{device} 正在测试（报警按演练处理）",
                                 "{device} under test (alarms count as a drill)"),
    "sites.conditions.breach": ("{device}：{rule} 超限中（自 {at}，尚未达到告警时长）",
                                "{device}: {rule} in breach since {at} (not yet long enough to alert)"),
    "sites.devices.title": ("设备", "Devices"),
    "sites.devices.none": ("没有登记的设备。", "No registered devices."),
    "sites.devices.id": ("设备编号", "Device"),
    "sites.devices.source": ("系统", "System"),
    "sites.devices.kind": ("类型", "Kind"),
    "sites.devices.zone": ("区域", "Zone"),
    "sites.devices.heartbeat": ("心跳周期", "Heartbeat"),
    "sites.devices.state": ("状态", "State"),
    "sites.devices.last_seen": ("最后通信（北京时间）", "Last heard (Beijing time)"),
    "sites.devices.seconds": ("{n} 秒", "{n} s"),
    "sites.devices.online": ("在线", "online"),
    "sites.devices.offline": ("离线", "offline"),
    "sites.devices.unknown": ("未知", "unknown"),
    "sites.charts.title": ("监测曲线", "Readings"),
    "sites.charts.range": ("时间范围", "Period"),
    "sites.charts.24h": ("24 小时", "24 hours"),
    "sites.charts.7d": ("7 天（小时均值）", "7 days (hourly)"),
    "sites.charts.30d": ("30 天（小时均值）", "30 days (hourly)"),
    "sites.charts.none": ("该时段没有环境或消防设备的读数。",
                          "No env or fire device reported readings in this period."),
    "sites.charts.unavailable": ("数据库暂时无法访问，暂不能显示监测曲线（{reason}）。告警与设备状态不受影响。",
                                 "The database cannot be read, so the readings charts are not shown ({reason}). "
                                 "Alerts and device states above are unaffected."),
    "sites.charts.capped": ("仅显示前 {n} 条曲线。", "Only the first {n} charts are shown."),
    "sites.level.national": ("全国重点文物保护单位", "National key protected site"),
    "sites.level.provincial": ("省级文物保护单位", "Provincial protected site"),
    "sites.level.city": ("市级文物保护单位", "Municipal protected site"),
    "sites.level.county": ("县级文物保护单位", "County protected site"),
    "sites.source.fire": ("消防", "fire"),
    "sites.source.security": ("安防", "security"),
    "sites.source.video": ("视频", "video"),
    "sites.source.drone": ("无人机", "drone"),
    "sites.source.patrol": ("巡查", "patrol"),
    "sites.source.env": ("环境", "environment"),
    "sites.drones.title": ("无人机巡查", "Drone patrols"),
    "sites.drones.none": ("尚无飞行记录。", "No flights recorded yet."),
    "sites.drones.unavailable": ("数据库暂时无法访问，暂不能显示飞行记录（{reason}）。",
                                 "The database cannot be read, so the flights are not shown ({reason})."),
    "sites.drones.latest": ("最近一次飞行 {at}，覆盖率 {share}", "Latest flight {at}, coverage {share}"),
    "sites.drones.ended": ("结束时间（北京时间）", "Ended (Beijing time)"),
    "sites.drones.aircraft": ("无人机", "Aircraft"),
    "sites.drones.duration": ("时长", "Duration"),
    "sites.drones.distance": ("航程", "Distance"),
    "sites.drones.coverage": ("覆盖率", "Coverage"),
    "sites.drones.patrol": ("计为巡查", "Counts as patrol"),
    "sites.drones.end": ("结束方式", "How it ended"),
    "sites.drones.minutes": ("{n} 分钟", "{n} min"),
    "sites.drones.km": ("{n} 公里", "{n} km"),
    "sites.drones.no_boundary": ("无范围边界", "no boundary"),
    "sites.drones.yes": ("是", "yes"),
    "sites.drones.no": ("否", "no"),
    "sites.drones.end.landed": ("正常降落", "landed"),
    "sites.drones.end.landed_unseen": ("失联后降落", "landed after a lost link"),
    "sites.drones.end.link_timeout": ("失联超时", "link lost, timed out"),
    "sites.drones.end.interrupted": ("服务重启中断", "cut by a restart"),
})


def word(prefix: str, value: str, lang: str) -> str:
    """The registered word for a coded value (`sites.level.national`), else the value as given:
    levels and kinds are free text in the registry, usually Chinese already."""
    key = f"{prefix}.{value}"
    found = i18n.t(key, lang)
    return value if found == key else found


# The list: one pass ---------------------------------------------------------------------------


def fold(text: str) -> str:
    """What search compares: NFKC (full-width → half-width) and case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(slots=True, eq=False)
class SiteInfo:
    """What the list needs of a site that changes only with the registry."""

    site: Site
    search: str  # folded "name id district": what `q` matches (sites.js folds the same text from the row)
    devices: int  # devices the registry or the rule context knows at the site
    # lang -> (escaped id, the escaped cells of the list that do not change with the state)
    cells: dict[str, tuple[str, str]] = field(default_factory=dict)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which at 10,000
# rows per request is measurable.
@dataclass(slots=True, eq=False)
class SiteRow:
    info: SiteInfo
    state: State
    open_alerts: int
    online: int
    total: int

    @property
    def site(self) -> Site:
        return self.info.site

    @property
    def id(self) -> str:
        return self.info.site.id

    @property
    def name(self) -> str:
        return self.info.site.name

    @property
    def district(self) -> str:
        return self.info.site.district

    @property
    def search(self) -> str:
        return self.info.search


@dataclass(frozen=True, slots=True)
class _Index:
    """Every site's `SiteInfo`, sorted by name then id, for the registry as it was when built."""

    ordered: tuple[SiteInfo, ...]
    by_id: Mapping[str, SiteInfo]
    known: frozenset[tuple[str, str]]  # every (site, device) of the registry and the rule context
    size: tuple[int, int, int]


def _info(site: Site, devices: int) -> SiteInfo:
    return SiteInfo(site, fold(f"{site.name} {site.id} {site.district}"), devices)


class SiteStates:
    """The state of every site from the alert service: one pass over the open alerts, then O(1)
    per site (the engine keeps watched and offline devices per site)."""

    def __init__(self, service: AlertService, devices: Mapping[tuple[str, str], Device]) -> None:
        self.service = service
        self.devices = devices
        self._index: _Index | None = None
        # Watched devices unknown to the registry, per site, and how many watches that was
        # counted from: the engine only ever adds watches, so an unchanged count is an unchanged set.
        self._extra: tuple[int, dict[str, int]] = (-1, {})

    def _build(self) -> _Index:
        sites = self.service.sites
        facts = self.service.ctx.devices
        known = frozenset(self.devices) | frozenset(facts)
        totals: dict[str, int] = {}
        for site_id, _ in known:
            totals[site_id] = totals.get(site_id, 0) + 1
        ordered = tuple(sorted((_info(site, totals.get(site_id, 0)) for site_id, site in sites.items()),
                               key=lambda info: (info.site.name, info.site.id)))
        index = _Index(ordered, {info.site.id: info for info in ordered}, known,
                       (len(sites), len(self.devices), len(facts)))
        self._index = index
        return index

    def _current(self) -> _Index:
        index = self._index
        service = self.service
        size = (len(service.sites), len(self.devices), len(service.ctx.devices))
        return index if index is not None and index.size == size else self._build()

    def _unregistered(self, index: _Index) -> dict[str, int]:
        watches = self.service.engine.devices.watches
        counted, extra = self._extra
        if counted != len(watches) or self._index is not index:
            extra = {}
            for site_id, _ in watches.keys() - index.known:
                extra[site_id] = extra.get(site_id, 0) + 1
            self._extra = (len(watches), extra)
        return extra

    def rows(self, scope: Collection[str] | None) -> list[SiteRow]:
        """The sites of `scope` (None: every site), most severe state first, then by name."""
        rows = self._rows(self._current(), scope)
        if rows is None:  # a site was replaced in place (same count): names may sort anew
            rows = self._rows(self._build(), scope)
            assert rows is not None
        return rows

    def _rows(self, index: _Index, scope: Collection[str] | None) -> list[SiteRow] | None:
        infos: Iterable[SiteInfo] = index.ordered
        if scope is not None:
            # A scoped user (a custodian, a district liaison): only their few sites are visited.
            infos = sorted((index.by_id[site_id] for site_id in scope if site_id in index.by_id),
                           key=lambda info: (info.site.name, info.site.id))
        open_count: dict[str, int] = {}
        alarm: set[str] = set()
        warning: set[str] = set()
        for alert in self.service.engine.book.open.values():
            site_id = alert.key.site
            open_count[site_id] = open_count.get(site_id, 0) + 1
            if alert.key.rule in HEALTH_RULES:
                continue
            (alarm if alert.severity in ALARM_SEVERITIES else warning).add(site_id)
        engine_devices = self.service.engine.devices
        offline, members = engine_devices.offline, engine_devices.members
        extra = self._unregistered(index)
        current = self.service.sites.get
        # Already in name order: a bucket per state keeps it, so no sort per request.
        buckets: dict[State, list[SiteRow]] = {state: [] for state in STATES}
        for info in infos:
            site = info.site
            site_id = site.id
            if current(site_id) is not site:
                return None
            down = len(offline[site_id]) if site_id in offline else 0
            state: State = ("alarm" if site_id in alarm else "warning" if site_id in warning
                            else "offline" if down else "ok")
            buckets[state].append(SiteRow(info, state, open_count.get(site_id, 0), members.get(site_id, 0) - down,
                                          info.devices + extra.get(site_id, 0) if extra else info.devices))
        return [row for state in STATES for row in buckets[state]]

    @staticmethod
    def table_rows(rows: Iterable[SiteRow], lang: str) -> Markup:
        """The list's `<tr>` elements. Built here rather than in the template: at 10,000 sites a
        Jinja loop costs several times a string join (bench/dashboard_pages.py), and the cells that
        change only with the registry are escaped once per language and kept. Every text is escaped."""
        words = {state: html.escape(i18n.t(f"sites.state.{state}", lang)) for state in STATES}
        levels: dict[str, str] = {}
        out: list[str] = []
        for row in rows:
            info = row.info
            cached = info.cells.get(lang)
            if cached is None:
                site = info.site
                level = levels.get(site.level)
                if level is None:
                    level = levels[site.level] = html.escape(word("sites.level", site.level, lang))
                sid = html.escape(site.id)
                cached = info.cells[lang] = (sid, (
                    f'<td><a href="/sites/{sid}">{html.escape(site.name)}</a> <span class="muted">{sid}</span></td>'
                    f"<td>{html.escape(site.district)}</td><td>{level}</td><td>{html.escape(site.kind)}</td>"))
            sid, fixed = cached
            state = row.state
            out.append(f'<tr class="site-row" data-site="{sid}" data-state="{state}">'
                       f'<td><span class="site-state site-state-{state}">{words[state]}</span></td>{fixed}'
                       f'<td class="num site-alerts">{row.open_alerts}</td>'
                       f'<td class="num site-devices">{row.online}/{row.total}</td></tr>\n')
        return Markup("".join(out))


def matching(rows: Sequence[SiteRow], query: str) -> list[SiteRow]:
    """The rows whose name, id or district contains every term of `query` (see the module docstring)."""
    terms = fold(query).split()
    if not terms:
        return list(rows)
    return [row for row in rows if all(term in row.search for term in terms)]


def state_of(open_alerts: Iterable[Alert], offline_devices: int) -> State:
    """One site's state from its open alerts and offline devices (the rule `SiteStates.rows` applies)."""
    worst: State = "offline" if offline_devices else "ok"
    for alert in open_alerts:
        if alert.key.rule in HEALTH_RULES:
            continue
        if alert.severity in ALARM_SEVERITIES:
            return "alarm"
        worst = "warning"
    return worst


def state_counts(rows: Iterable[SiteRow]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row.state] += 1
    return counts


# One site ---------------------------------------------------------------------------------------
#
# Devices: `relic_guard.alerting.device_view`, shared with `GET /api/sites/{id}`; offline first here.


def offline_first(rows: Sequence[DeviceRow]) -> list[DeviceRow]:
    return sorted(rows, key=lambda row: (row.state != "offline", row.id))


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str  # unreachable | offline | armed | disarmed | testing | breach
    text: str


def site_conditions(service: AlertService, site_id: str, offline_devices: int, lang: str) -> list[Condition]:
    """What the engine holds about the site beyond its alerts: unreachable, offline devices,
    arming, devices under test, threshold breaches not yet long enough to alert."""
    engine = service.engine
    found: list[Condition] = []
    if site_id in engine.devices.unreachable:
        found.append(Condition("unreachable", i18n.t("sites.conditions.unreachable", lang)))
    if offline_devices:
        found.append(Condition("offline", i18n.t("sites.conditions.offline", lang).format(n=offline_devices)))
    armed = sorted(((zone, on) for (sid, zone), on in engine.security.armed.items() if sid == site_id),
                   key=lambda item: (item[0] is not None, item[0] or ""))
    for zone, on in armed:
        kind = "armed" if on else "disarmed"
        if zone is None:
            found.append(Condition(kind, i18n.t(f"sites.conditions.{kind}_site", lang)))
        else:
            found.append(Condition(kind, i18n.t(f"sites.conditions.{kind}_zone", lang).format(zone=zone)))
    for sid, device in sorted(engine.fire.testing):
        if sid == site_id:
            found.append(Condition("testing", i18n.t("sites.conditions.testing", lang).format(device=device)))
    for (sid, device, rule), began in sorted(engine.thresholds.pending.items()):
        if sid == site_id:
            at = i18n.local_time(datetime.fromtimestamp(began, UTC), lang)
            found.append(Condition("breach", i18n.t("sites.conditions.breach", lang)
                                   .format(device=device, rule=rule, at=at)))
    return found


# Drone patrols ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DroneBlock:
    flights: tuple[StoredFlight, ...]
    # The latest flight over the site's boundary (None: no flight, or nothing to draw).
    svg: Markup | None
    # Why the flights could not be read (None: they were).
    unavailable: str | None = None


def site_flights(conn: Conn, site_id: str) -> tuple[list[StoredFlight], StoredFlight | None]:
    """The site's last flights (summaries) and the latest with its track. Blocking."""
    return (flight_store.list_flights(conn, sites=None, site=site_id, limit=FLIGHTS_SHOWN),
            flight_store.latest_with_track(conn, site_id))


def boundary_geojson(site: Site) -> dict[str, Any] | None:
    """The site's boundary as a GeoJSON geometry, or None when it has none (or none usable)."""
    if site.boundary_wkt is None:
        return None
    try:
        polygon = polygon_from_wkt(site.boundary_wkt, f"site {site.id} boundary")
    except DroneError:
        return None
    polygons = list(polygon.geoms) if polygon.geom_type == "MultiPolygon" else [polygon]
    return {"type": "MultiPolygon",
            "coordinates": [[list(part.exterior.coords), *(list(ring.coords) for ring in part.interiors)]
                            for part in polygons]}


def drone_block(site: Site, flights: Sequence[StoredFlight], latest: StoredFlight | None, lang: str) -> DroneBlock:
    svg = None
    if latest is not None and latest.track_geojson is not None:
        svg = Markup(mapview.render_flight(
            boundary=boundary_geojson(site), uncovered=latest.uncovered_geojson, track=latest.track_geojson,
            width_px=FLIGHT_MAP_WIDTH_PX, height_px=FLIGHT_MAP_HEIGHT_PX, lang=lang, embed_css=False))
    return DroneBlock(tuple(flights), svg)


def share_text(share: float | None, lang: str) -> str:
    return i18n.t("sites.drones.no_boundary", lang) if share is None else f"{share:.0%}"


# Charts -----------------------------------------------------------------------------------------

# The distinct (device, metric) pairs of a site since a moment: a skip scan over the unique key
# (site_id, device_id, metric, ts), one index probe per series instead of a read of every row.
_PAIRS_SQL: Final = """
WITH RECURSIVE pairs AS (
    (SELECT device_id, metric FROM {table}
     WHERE site_id = %(site)s AND {ts} > %(since)s ORDER BY device_id, metric LIMIT 1)
    UNION ALL
    SELECT following.device_id, following.metric FROM pairs, LATERAL (
        SELECT device_id, metric FROM {table}
        WHERE site_id = %(site)s AND {ts} > %(since)s AND (device_id, metric) > (pairs.device_id, pairs.metric)
        ORDER BY device_id, metric LIMIT 1
    ) AS following
)
SELECT device_id, metric FROM pairs LIMIT %(limit)s
"""
RAW_PAIRS: Final = _PAIRS_SQL.format(table="readings", ts="ts")
HOURLY_PAIRS: Final = _PAIRS_SQL.format(table="readings_hourly", ts="bucket")
# Far below the page's patience: a slow plan must not hold the page.
STATEMENT_TIMEOUT_MS: Final = 2000
PAIRS_LIMIT: Final = 1000


def series_of(conn: Conn, site_id: str, now: datetime, hourly_since: datetime | None) -> set[tuple[str, str]]:
    """(device, metric) pairs with raw readings in the last `METRIC_WINDOW` before `now`, and
    with hourly rows since `hourly_since` when given. Blocking: run it in a worker thread."""
    conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    found = {(str(d), str(m)) for d, m in conn.execute(
        RAW_PAIRS, {"site": site_id, "since": now - METRIC_WINDOW, "limit": PAIRS_LIMIT}).fetchall()}
    if hourly_since is not None:
        found |= {(str(d), str(m)) for d, m in conn.execute(
            HOURLY_PAIRS, {"site": site_id, "since": hourly_since, "limit": PAIRS_LIMIT}).fetchall()}
    return found


@dataclass(frozen=True, slots=True)
class Chart:
    device: str
    metric: str
    src: str


@dataclass(frozen=True, slots=True)
class ChartGroup:
    device: DeviceRow
    charts: tuple[Chart, ...]


def chart_groups(site_id: str, devices: Sequence[DeviceRow], series: Collection[tuple[str, str]],
                 span: timedelta, bucket: Literal["raw", "hour"], now: datetime) -> tuple[list[ChartGroup], bool]:
    """The chart divs of the env and fire devices that have series, in device order; and whether
    `MAX_CHARTS` cut some off. A listed device whose system is unknown (not in the registry) is
    charted too: an auto-registered sensor says what it is only through its readings."""
    by_device: dict[str, list[str]] = {}
    for device, metric in series:
        by_device.setdefault(device, []).append(metric)
    base = f"/api/sites/{quote(site_id, safe='')}/readings?"
    begin = rfc3339(now - span)
    groups: list[ChartGroup] = []
    left = MAX_CHARTS
    capped = False
    for row in sorted(devices, key=lambda row: row.id):
        metrics = by_device.get(row.id)
        if not metrics or (row.source is not None and Source(row.source) not in CHART_SOURCES):
            continue
        charts: list[Chart] = []
        for metric in sorted(metrics):
            if left == 0:
                capped = True
                break
            params = {"device": row.id, "metric": metric, "bucket": bucket, "from": begin}
            charts.append(Chart(row.id, metric, base + urlencode(params)))
            left -= 1
        if charts:
            groups.append(ChartGroup(row, tuple(charts)))
    return groups, capped


# The routes -------------------------------------------------------------------------------------


def sites_pages(deps: DashboardDeps, templates: Templates) -> APIRouter:
    router = APIRouter()
    current_user = make_current_user(deps.sessions)
    service = deps.service
    states = SiteStates(service, deps.registry.devices)
    history = History(deps.database_url, connect_timeout_s=2, timeout_s=4.0)

    def state_words(lang: str) -> dict[str, str]:
        return {state: i18n.t(f"sites.state.{state}", lang) for state in STATES}

    @router.get("/sites", response_class=HTMLResponse)
    async def site_list(request: Request, q: str = "") -> HTMLResponse:
        user = await current_user(request)
        lang = lang_of(request)
        query = q.strip()[:200]
        every = states.rows(user.sites)
        rows = matching(every, query)
        return templates.render(
            request, "sites.html", rows=states.table_rows(rows, lang), shown=len(rows), q=query, total=len(every),
            counts=state_counts(rows), states=STATES, state_words=state_words(lang),
        )

    @router.get("/map", response_class=HTMLResponse)
    async def site_map(request: Request) -> HTMLResponse:
        user = await current_user(request)
        lang = lang_of(request)
        rows = states.rows(user.sites)
        points = [mapview.MapSite(row.id, row.name, row.district, row.site.lat, row.site.lon, row.state)
                  for row in rows]
        svg = mapview.render_map(points, width_px=MAP_WIDTH_PX, height_px=MAP_HEIGHT_PX, lang=lang, embed_css=False)
        unplaced = {site.id for site in mapview.unplaced_sites(points)}
        return templates.render(
            request, "map.html", svg=Markup(svg), map_css=Markup(mapview.MAP_CSS),
            counts=state_counts(rows), states=STATES, state_words=state_words(lang),
            unplaced=[row for row in rows if row.id in unplaced], total=len(rows),
        )

    @router.get("/sites/{site_id}", response_class=HTMLResponse)
    async def site_page(request: Request, site_id: str, range: str = DEFAULT_RANGE) -> HTMLResponse:
        user = await current_user(request)
        lang = lang_of(request)
        site = service.sites.get(site_id)
        if site is None or not user.can_see(site_id):
            return templates.render(request, "site.html", status_code=404, site=None,
                                    message=i18n.t("error.not_found", lang))
        return await render_site(request, site, range if range in RANGES else DEFAULT_RANGE, lang)

    async def render_site(request: Request, site: Site, chosen: str, lang: str) -> HTMLResponse:
        now = service.clock()
        # Most urgent first, then newest.
        alerts = sorted((alert for alert in service.open_alerts() if alert.site == site.id),
                        key=lambda a: (-a.severity.rank, -a.opened_at.timestamp(), a.id))
        devices = offline_first(site_devices(service, deps.registry.devices, site.id, alerts))
        offline = sum(1 for device in devices if device.state == "offline")
        span, bucket = RANGES[chosen]
        charts: list[ChartGroup] = []
        capped = False
        unavailable: str | None = None
        hourly_since = now - span if span > METRIC_WINDOW else None
        has_drones = any(device.source == Source.DRONE.value for device in devices)
        drones: DroneBlock | None = None

        def read(conn: Conn) -> tuple[set[tuple[str, str]], tuple[list[StoredFlight], StoredFlight | None]]:
            flights = site_flights(conn, site.id) if has_drones else ([], None)
            return series_of(conn, site.id, now, hourly_since), flights

        try:
            series, (flights, latest) = await history.read(read)
        except HistoryUnavailable as exc:
            unavailable = exc.reason
            drones = DroneBlock((), None, exc.reason) if has_drones else None
        else:
            charts, capped = chart_groups(site.id, devices, series, span, bucket, now)
            drones = drone_block(site, flights, latest, lang) if has_drones else None
        hours = site.open_hours
        return templates.render(
            request, "site.html", site=site, state=state_of(alerts, offline), alerts=alerts, devices=devices,
            conditions=site_conditions(service, site.id, offline, lang),
            open_hours=f"{hours[0]:%H:%M}–{hours[1]:%H:%M}" if hours else None,
            open_now=service.ctx.is_open(site.id, now), level=word("sites.level", site.level, lang),
            state_words=state_words(lang), ranges=list(RANGES), chosen=chosen, charts=charts, capped=capped,
            max_charts=MAX_CHARTS, unavailable=unavailable, word=word,
            drones=drones, flight_css=Markup(mapview.FLIGHT_CSS), share_text=share_text,
        )

    return router
