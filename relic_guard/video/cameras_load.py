"""Load the cameras file (`[video] cameras_file`): the cameras the video process analyses, their
zones and settings. See config/cameras.example.toml:

    [[camera]]
    id = "cam-qianfodian-01"          # the video device id in devices.csv
    site = "lingyan-si"               # an id from sites.csv
    url = "rtsp://…/Streaming/Channels/102"   # optional: else frames come over MQTT (`frame` channel)
    max_fps = 2                       # frames analysed per second at most (more are passed over)
    analysis_width_px = 320           # optional: frames are scaled down to this width for analysis

      [[camera.zone]]
      name = "千佛殿门"
      polygon = [[0.05, 0.55], [0.45, 0.55], [0.45, 1.0], [0.05, 1.0]]   # shares of width and height
      arming = "outside_open_hours"   # or "always"
      min_area_share = 0.02           # motion must cover this share of the zone…
      min_duration_s = 1.0            # …for this long
      event = "intrusion"             # or "motion": recorded, never an alert

      [camera.tamper]                 # optional overrides of the analyzer's settings
      occlusion_raise_after_s = 10    # (also [camera.motion] and [camera.fire])

Motion in a zone is published as `intrusion` by default: an armed zone is drawn where nobody
should be, and the alert rules raise `intrusion` while the site is closed or armed, whereas
`motion` (the noisiest signal a camera has) is stored and never alerts.

A zone armed `outside_open_hours` takes the site's `open_hours` from the registry; a site with
none is never open, so such a zone is always armed. Either the whole file is valid or one
`ConfigError` lists every problem as `file:line: [[camera]] #n zone[2] polygon: what is wrong;
how to fix it`, the form of the other configuration files (`relic_guard.routing_load`, whose
line scanner it shares). Each camera's `CameraConfig` is built here, as the analyzer will use
it, so a setting it would refuse is found by `check-config`, not at the first frame.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlsplit

from relic_guard import routing_load, toml_tables
from relic_guard.routing_load import Path_, _Problems
from sensors.model import Source
from sensors.video import Arming, CameraConfig, FireCueConfig, MotionConfig, TamperConfig, VideoConfigError, Zone

TABLE: Final = "camera"
_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "camera": ("id", "site", "url", "max_fps", "analysis_width_px", "zone", "motion", "tamper", "fire"),
    "zone": ("name", "polygon", "arming", "min_area_share", "min_duration_s", "event"),
}
_OVERRIDES: Final[dict[str, type[Any]]] = {"motion": MotionConfig, "tamper": TamperConfig, "fire": FireCueConfig}
_ALIASES: Final[dict[str, str]] = {
    "cameras": "camera",
    "device": "id",
    "camera_id": "id",
    "site_id": "site",
    "stream": "url",
    "rtsp": "url",
    "source": "url",
    "fps": "max_fps",
    "zones": "zone",
    "area": "zone",
    "points": "polygon",
    "armed": "arming",
    "min_area": "min_area_share",
    "min_duration": "min_duration_s",
    "duration_s": "min_duration_s",
    "type": "event",
    "event_type": "event",
    "width": "analysis_width_px",
}
URL_SCHEMES: Final = ("rtsp", "rtsps", "http", "https", "file")
DEFAULT_MAX_FPS: Final = 2.0
MAX_FPS: Final = 30.0


E = TypeVar("E", bound=StrEnum)


class ZoneEvent(StrEnum):
    """The contract's video event type that motion in a zone is published as."""

    INTRUSION = "intrusion"
    MOTION = "motion"


class CameraSite(Protocol):
    """What the loader needs of a site; the registry's `Site` satisfies it."""

    @property
    def open_hours(self) -> tuple[time, time] | None: ...


class CameraDevice(Protocol):
    """What the loader needs of a device; the registry's `Device` satisfies it."""

    @property
    def source(self) -> Source: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Camera:
    site: str
    device: str
    analysis: CameraConfig
    # rtsp/http(s) stream or a file, read with OpenCV; None: frames arrive over MQTT only.
    url: str | None = None
    max_fps: float = DEFAULT_MAX_FPS
    # zone name -> the event type its motion is published as
    zone_events: Mapping[str, ZoneEvent] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.site, self.device)

    @property
    def label(self) -> str:
        """`site/device`: how logs and metrics name the camera."""
        return f"{self.site}/{self.device}"

    @property
    def is_file(self) -> bool:
        return self.url is not None and self.url.startswith("file:")


def load_cameras(
    path: Path, sites: Mapping[str, CameraSite], devices: Mapping[tuple[str, str], CameraDevice]
) -> dict[tuple[str, str], Camera]:
    """Read and validate `path` against the registry; the cameras by (site, device), or
    ConfigError listing every problem."""
    return toml_tables.load(
        path,
        "cameras",
        lambda document, problems: _build(document, path.parent, sites, devices, problems),
        tables=(TABLE,),
    )


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    return routing_load._suggest(word, candidates, _ALIASES)


def _build(
    document: dict[str, Any],
    folder: Path,
    sites: Mapping[str, CameraSite],
    devices: Mapping[tuple[str, str], CameraDevice],
    problems: _Problems,
) -> dict[tuple[str, str], Camera]:
    cameras: dict[tuple[str, str], Camera] = {}
    lines: dict[tuple[str, str], int] = {}
    for index, entry in toml_tables.entries(document, TABLE, problems, _ALIASES):
        at: Path_ = (TABLE, index)
        camera = _camera(entry, at, folder, sites, devices, problems)
        if camera is None:
            continue
        if camera.key in cameras:
            problems.add((*at, "id"), f'camera "{camera.device}" of site "{camera.site}" has a [[camera]] table at '
                         f"line {lines[camera.key]} too; keep one (a camera's zones go in one table)")
            continue
        cameras[camera.key] = camera
        lines[camera.key] = problems.line_of(at) or 0
    return cameras


def _camera(
    entry: Mapping[str, Any],
    at: Path_,
    folder: Path,
    sites: Mapping[str, CameraSite],
    devices: Mapping[tuple[str, str], CameraDevice],
    problems: _Problems,
) -> Camera | None:
    toml_tables.unknown_keys(entry, _KEYS["camera"], at, problems, _ALIASES)
    before = len(problems.items)
    device_id = routing_load._string(entry, "id", at, problems, required=True)
    site_id = routing_load._string(entry, "site", at, problems, required=True)
    site = sites.get(site_id) if site_id is not None else None
    if site_id is not None and site is None:
        near = difflib.get_close_matches(site_id, list(sites), n=1, cutoff=0.5)
        hint = f'did you mean "{near[0]}"?' if near else "use an id from sites.csv"
        problems.add((*at, "site"), f'no site "{site_id}" in the registry; {hint}')
    if site is not None and site_id is not None and device_id is not None:
        device = devices.get((site_id, device_id))
        if device is None:
            ids = [d for s, d in devices if s == site_id and devices[(s, d)].source is Source.VIDEO]
            near = difflib.get_close_matches(device_id, ids, n=1, cutoff=0.5)
            hint = (f'did you mean "{near[0]}"?' if near
                    else f"add it to devices.csv (source video), or use one of: {', '.join(ids) or 'none'}")
            problems.add((*at, "id"), f'no device "{device_id}" at site "{site_id}" in devices.csv; {hint}')
        elif device.source is not Source.VIDEO:
            problems.add((*at, "id"), f'device "{device_id}" of site "{site_id}" is a {device.source.value} device in '
                         "devices.csv; a camera needs source video")
    url = _url(entry, at, folder, problems)
    max_fps = toml_tables.number(entry, "max_fps", at, problems, low=0.0, high=MAX_FPS, example="max_fps = 2",
                                 unit="frames per second", low_open=True)
    width = entry.get("analysis_width_px")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int)):
        problems.add((*at, "analysis_width_px"), f"expected a whole number of pixels, got {width!r}; "
                     "write it without quotes, like analysis_width_px = 320")
        width = None
    zones, events = _zones(entry, at, problems)
    overrides: dict[str, Any] = {}
    for key, cls in _OVERRIDES.items():
        built = _override(entry, key, cls, at, problems)
        if built is not None:
            overrides[key] = built
    if len(problems.items) > before or site is None or site_id is None or device_id is None:
        return None
    settings: dict[str, Any] = dict(overrides)
    if width is not None:
        settings["analysis_width_px"] = width
    try:
        analysis = CameraConfig(zones=tuple(zones), open_hours=site.open_hours, **settings)
    except VideoConfigError as error:
        problems.add(at, f"{error}; correct it in this [[camera]] table")
        return None
    return Camera(
        site=site_id,
        device=device_id,
        analysis=analysis,
        url=url,
        max_fps=DEFAULT_MAX_FPS if max_fps is None else max_fps,
        zone_events=events,
    )


def _url(entry: Mapping[str, Any], at: Path_, folder: Path, problems: _Problems) -> str | None:
    value = routing_load._string(entry, "url", at, problems, required=False)
    if value is None:
        return None
    place = (*at, "url")
    try:
        parts = urlsplit(value)
    except ValueError:
        problems.add(place, "is not a URL; write it like rtsp://user:password@192.168.1.64:554/Streaming/Channels/102")
        return None
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        problems.add(place, f"scheme '{parts.scheme or '(none)'}' is not supported; use one of "
                     f"{', '.join(s + '://' for s in URL_SCHEMES[:-1])} or file: for a recording")
        return None
    if scheme != "file":
        if not parts.hostname:
            problems.add(place, "names no host; write it like rtsp://user:password@192.168.1.64:554/…")
            return None
        return value
    # file:/abs/clip.avi, file:///abs/clip.avi, or file:clips/x.avi relative to this file's folder
    file_path = Path(parts.path)
    if not file_path.is_absolute():
        file_path = folder / file_path
    if not file_path.is_file():
        problems.add(place, f"no such file: {file_path}; give a recording this user may read (relative paths "
                     "start at the cameras file's folder)")
        return None
    return f"file:{file_path}"


def _zones(entry: Mapping[str, Any], at: Path_, problems: _Problems) -> tuple[list[Zone], dict[str, ZoneEvent]]:
    zones: list[Zone] = []
    events: dict[str, ZoneEvent] = {}
    if "zone" not in entry:
        return zones, events
    names: dict[str, int] = {}
    for index, item in toml_tables.tables(entry["zone"], (*at, "zone"), "camera.zone", problems):
        place: Path_ = (*at, "zone", index)
        toml_tables.unknown_keys(item, _KEYS["zone"], place, problems, _ALIASES)
        before = len(problems.items)
        name = routing_load._string(item, "name", place, problems, required=True)
        polygon = _polygon(item, place, problems)
        arming = _choice(item, "arming", Arming, place, problems)
        event = _choice(item, "event", ZoneEvent, place, problems)
        share = toml_tables.number(item, "min_area_share", place, problems, low=0.0, high=1.0, low_open=True,
                                   unit="a share of the zone", example="min_area_share = 0.02")
        duration = toml_tables.number(item, "min_duration_s", place, problems, low=0.0, high=3600.0,
                                      unit="seconds", example="min_duration_s = 1.0")
        if len(problems.items) > before or name is None or polygon is None:
            continue
        if name in names:
            problems.add((*place, "name"), f'"{name}" names zone[{names[name] + 1}] of this camera too; give each '
                         "zone its own name (events and alerts name it)")
            continue
        settings: dict[str, Any] = {}
        if arming is not None:
            settings["arming"] = arming
        if share is not None:
            settings["min_area_share"] = share
        if duration is not None:
            settings["min_duration_s"] = duration
        try:
            zone = Zone(name=name, polygon=polygon, **settings)
        except VideoConfigError as error:
            problems.add(place, f"{error}; points are [x, y] shares of the picture's width and height, "
                         "0 to 1 from the top left corner")
            continue
        names[name] = index
        zones.append(zone)
        events[name] = ZoneEvent.INTRUSION if event is None else event
    return zones, events


def _polygon(item: Mapping[str, Any], at: Path_, problems: _Problems) -> tuple[tuple[float, float], ...] | None:
    value = item.get("polygon")
    example = "polygon = [[0.1, 0.6], [0.4, 0.6], [0.4, 1.0], [0.1, 1.0]]"
    if value is None:
        problems.add((*at, "polygon"), f"is missing; add the zone's corners as shares of the picture, like {example}")
        return None
    if not isinstance(value, list) or len(value) < 3:
        problems.add((*at, "polygon"), f"needs at least 3 points [x, y], like {example}")
        return None
    points: list[tuple[float, float]] = []
    for point in value:
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in point)
        ):
            problems.add((*at, "polygon"), f"{point!r} is not a point; write each corner as [x, y], like {example}")
            return None
        x, y = float(point[0]), float(point[1])
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            problems.add((*at, "polygon"), f"[{point[0]}, {point[1]}] lies outside the picture; x and y are shares "
                         "of its width and height, from 0 to 1 (0, 0 is the top left corner)")
            return None
        points.append((x, y))
    return tuple(points)


def _choice(
    item: Mapping[str, Any], key: str, enum: type[E], at: Path_, problems: _Problems
) -> E | None:
    value = item.get(key)
    if value is None:
        return None
    names = [member.value for member in enum]
    if isinstance(value, str) and value in names:
        return enum(value)
    suggestion = _suggest(value, names) if isinstance(value, str) else None
    hint = f'did you mean "{suggestion}"?' if suggestion else "use one of " + ", ".join(f'"{n}"' for n in names)
    problems.add((*at, key), f"{value!r} is not allowed; {hint}")
    return None


def _override(entry: Mapping[str, Any], key: str, cls: type[Any], at: Path_, problems: _Problems) -> Any | None:
    """The analyzer settings `cls` with the values of the camera's [camera.<key>] table."""
    table = entry.get(key)
    if table is None:
        return None
    place: Path_ = (*at, key)
    if not isinstance(table, dict):
        problems.add(place, f"must be a table; write [camera.{key}] and key = value lines below it")
        return None
    defaults = cls()
    known = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    for name, value in table.items():
        if name not in known:
            suggestion = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean '{suggestion[0]}'?" if suggestion else f"the keys here are: {', '.join(known)}"
            problems.add((*place, name), f"unknown key '{name}'; {hint}")
            continue
        default = getattr(defaults, name)
        if isinstance(default, StrEnum):
            choice = _choice(table, name, type(default), place, problems)
            if choice is not None:
                values[name] = choice
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                problems.add((*place, name), f"expected a whole number, got {value!r}; like {name} = {default}")
            else:
                values[name] = value
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.add((*place, name), f"expected a number, got {value!r}; write it without quotes, like "
                         f"{name} = {default}")
        else:
            values[name] = float(value)
    if len(values) < len(table):
        return None
    try:
        return cls(**values)
    except VideoConfigError as error:
        problems.add(place, f"{error}; correct the values in [camera.{key}]")
        return None
