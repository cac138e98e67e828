"""The site and device registry: who is where, as bureaus keep it (spreadsheets).

`sites.csv` and `devices.csv` (or `.xlsx` with the same columns) are loaded
into a `Registry`, which also serves the adapters as their `DeviceDirectory`:
plain dict look-ups, so the ingest hot path pays one hash per message.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Final

from relic_guard.errors import ConfigError
from sensors.model import Source


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    id: str
    name: str
    district: str
    level: str
    kind: str
    lat: float | None = None
    lon: float | None = None
    custodians: tuple[str, ...] = ()
    boundary_wkt: str | None = None
    open_hours: tuple[time, time] | None = None
    # Extension to the contract's columns: accept messages from devices not in devices.csv.
    auto_register: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    site: str
    id: str
    source: Source
    kind: str = ""
    zone: str | None = None
    heartbeat_s: int | None = None
    # A DJI serial number or a Frigate camera name.
    external_id: str | None = None


@dataclass(slots=True)
class Registry:
    sites: dict[str, Site] = field(default_factory=dict)
    devices: dict[tuple[str, str], Device] = field(default_factory=dict)
    # (namespace, external id) -> (site, device); namespace is "dji" or "frigate".
    external: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def add_site(self, site: Site) -> None:
        self.sites[site.id] = site

    def add_device(self, device: Device) -> None:
        self.devices[(device.site, device.id)] = device
        if device.external_id:
            namespace = "dji" if device.source is Source.DRONE else "frigate"
            self.external[(namespace, device.external_id)] = (device.site, device.id)

    # DeviceDirectory ---------------------------------------------------------
    def knows(self, site: str, device: str) -> bool:
        if (site, device) in self.devices:
            return True
        known_site = self.sites.get(site)
        return known_site is not None and known_site.auto_register

    def resolve_external(self, namespace: str, external_id: str) -> tuple[str, str] | None:
        return self.external.get((namespace, external_id))


# Loading the sheets --------------------------------------------------------------------
#
# `load_registry` reads `sites` and `devices` from one folder, each as `.csv` (UTF-8,
# a BOM accepted: Excel's "CSV UTF-8" writes one) or `.xlsx` (first worksheet), with a
# header row naming the columns. It checks every row and collects every problem, each
# phrased `file:row: column: what is wrong; how to fix it` (row = the CSV line, or the
# worksheet row number with the cell reference), then raises one ConfigError. A folder
# holding both `sites.csv` and `sites.xlsx` is an error: nobody could tell which is current.
#
# Coordinates are WGS-84 decimal degrees (GPS, DJI). Chinese web maps show GCJ-02 or
# BD-09, about 300–700 m off; convert before pasting them in.

SITE_COLUMNS: Final = (
    "id",
    "name",
    "district",
    "level",
    "kind",
    "lat",
    "lon",
    "custodians",
    "boundary_wkt",
    "open_hours",
)
# Extension to CONTRACT §6: optional column.
SITE_EXTRA_COLUMNS: Final = ("auto_register",)
SITE_REQUIRED_COLUMNS: Final = frozenset({"id", "name", "district", "level", "kind"})
DEVICE_COLUMNS: Final = ("site", "id", "source", "kind", "zone", "heartbeat_s", "external_id")
DEVICE_REQUIRED_COLUMNS: Final = frozenset({"site", "id", "source"})

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ID_RULE: Final = "use 1–64 characters of A-Z a-z 0-9 _ . - (ids appear in MQTT topics)"
_TRUE_WORDS: Final = frozenset({"true", "yes", "1", "y", "是"})
_FALSE_WORDS: Final = frozenset({"false", "no", "0", "n", "否", ""})
_SOURCE_ALIASES: Final[dict[str, Source]] = {
    "camera": Source.VIDEO,
    "cctv": Source.VIDEO,
    "nvr": Source.VIDEO,
    "ipc": Source.VIDEO,
    "frigate": Source.VIDEO,
    "uav": Source.DRONE,
    "dji": Source.DRONE,
    "dock": Source.DRONE,
    "smoke": Source.FIRE,
    "fire_alarm": Source.FIRE,
    "alarm": Source.SECURITY,
    "intrusion": Source.SECURITY,
    "sensor": Source.ENV,
    "environment": Source.ENV,
    "custodian": Source.PATROL,
}
# A site's lat/lon may lie this far (degrees, ~5 km) outside its boundary's bounding box.
_BOUNDARY_SLACK_DEG: Final = 0.05


def load_registry(folder: Path) -> Registry:
    """Read `sites` and `devices` sheets from `folder`; raise ConfigError listing every problem."""
    if not folder.is_dir():
        raise ConfigError(
            [
                f"{folder}: registry folder not found; set registry_dir (or RELIC_GUARD_REGISTRY) to the "
                "folder holding sites.csv and devices.csv"
            ]
        )
    problems: list[str] = []
    registry = Registry()
    sites = _read_sheet(folder, "sites", SITE_COLUMNS + SITE_EXTRA_COLUMNS, SITE_REQUIRED_COLUMNS, problems)
    devices = _read_sheet(folder, "devices", DEVICE_COLUMNS, DEVICE_REQUIRED_COLUMNS, problems)
    known_sites: dict[str, int] = {}
    if sites is not None:
        known_sites = _load_sites(sites, registry, problems)
    if devices is not None:
        _load_devices(devices, registry, known_sites, sites is not None, problems)
    if problems:
        raise ConfigError(problems)
    return registry


def registry_sheet_paths(folder: Path) -> list[Path]:
    """The sheet files `load_registry` reads from `folder` (for messages and summaries)."""
    return [
        folder / f"{stem}{suffix}"
        for stem in ("sites", "devices")
        for suffix in (".csv", ".xlsx")
        if (folder / f"{stem}{suffix}").is_file()
    ]


# Sheets: CSV and XLSX read into one shape ---------------------------------------------


@dataclass(slots=True)
class _Row:
    number: int  # CSV: the line the record starts on; XLSX: the worksheet row
    cells: dict[str, object]


@dataclass(slots=True)
class _Sheet:
    path: Path
    is_xlsx: bool
    column_letters: dict[str, str]  # column name -> spreadsheet letter (A, B, …)
    rows: list[_Row]

    def where(self, row: _Row, column: str) -> str:
        if self.is_xlsx:
            return f"{self.path}:{row.number}: {column} (cell {self.column_letters[column]}{row.number})"
        return f"{self.path}:{row.number}: {column}"

    def row_word(self) -> str:
        return "row" if self.is_xlsx else "line"


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _read_sheet(
    folder: Path,
    stem: str,
    columns: tuple[str, ...],
    required: frozenset[str],
    problems: list[str],
) -> _Sheet | None:
    csv_path, xlsx_path = folder / f"{stem}.csv", folder / f"{stem}.xlsx"
    if csv_path.exists() and xlsx_path.exists():
        problems.append(
            f"{csv_path}: both {csv_path.name} and {xlsx_path.name} exist in {folder}; it is not clear "
            "which one is current: delete or rename one of them"
        )
        return None
    if xlsx_path.exists():
        table = _read_xlsx(xlsx_path, problems)
        path, is_xlsx = xlsx_path, True
    elif csv_path.exists():
        table = _read_csv(csv_path, problems)
        path, is_xlsx = csv_path, False
    else:
        legacy = [p.name for p in (folder / f"{stem}.xls", folder / f"{stem}.ods") if p.exists()]
        hint = f" ({legacy[0]} found: save it as .xlsx or CSV UTF-8)" if legacy else ""
        problems.append(
            f"{folder}: no {stem}.csv or {stem}.xlsx{hint}; create it with the header row "
            f"{','.join(columns)} (see config/{stem}.csv)"
        )
        return None
    if table is None:
        return None
    records = [(number, values) for number, values in table if any(_text(v) for v in values)]
    if not records:
        problems.append(
            f"{path}:1: the sheet is empty; the first row must name the columns: {','.join(columns)}"
        )
        return None
    header_number, header_values = records[0]
    header = [_text(v).lower() for v in header_values]
    word = "row" if is_xlsx else "line"
    where = f"{path}:{header_number}: header"
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        problems.append(
            f"{where}: the columns are separated by ';' or tabs; save the sheet with commas as separators "
            "(Excel: Save As → CSV UTF-8)"
        )
        return None
    index_of: dict[str, int] = {}
    header_ok = True
    for index, name in enumerate(header):
        if not name:
            continue
        if name in index_of:
            problems.append(
                f"{where}: column '{name}' appears twice (columns {_column_letter(index_of[name])} and "
                f"{_column_letter(index)}); delete one of them"
            )
            header_ok = False
        elif name in columns:
            index_of[name] = index
        else:
            # Extra columns (notes, 备注) are allowed; a near-miss of a real column is a typo.
            close = difflib.get_close_matches(name, columns, n=1, cutoff=0.75)
            if close and close[0] not in header:
                problems.append(
                    f"{where}: unknown column '{name}' (column {_column_letter(index)}); did you mean "
                    f"'{close[0]}'? Rename it"
                )
                header_ok = False
    missing = [name for name in columns if name in required and name not in index_of]
    for name in missing:
        problems.append(
            f"{where}: missing required column '{name}'; add it to the header row ({word} {header_number}), "
            f"which should read {','.join(columns)}"
        )
    if missing or not header_ok:
        return None
    sheet = _Sheet(
        path=path,
        is_xlsx=is_xlsx,
        column_letters={name: _column_letter(index) for name, index in index_of.items()},
        rows=[],
    )
    for number, values in records[1:]:
        extra = [v for i, v in enumerate(values) if i >= len(header) and _text(v)]
        if extra:
            problems.append(
                f"{path}:{number}: the {word} has {len(values)} cells but the header has {len(header)}; "
                "a value probably contains an unquoted comma: put that value in double quotes"
            )
            continue
        cells = {name: values[index] if index < len(values) else None for name, index in index_of.items()}
        sheet.rows.append(_Row(number, cells))
    return sheet


def _read_csv(path: Path, problems: list[str]) -> list[tuple[int, list[object]]] | None:
    try:
        data = path.read_bytes()
    except OSError as error:
        problems.append(f"{path}: cannot read ({error.strerror}); check that this user may read the file")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problems.append(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}; GBK from Excel's plain "
            "'CSV' format?); in Excel use Save As → 'CSV UTF-8 (逗号分隔)', or save it as .xlsx"
        )
        return None
    records: list[tuple[int, list[object]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous_end = 0
    try:
        for record in reader:
            records.append((previous_end + 1, list(record)))
            previous_end = reader.line_num
    except csv.Error as error:
        problems.append(
            f"{path}:{previous_end + 1}: not valid CSV ({error}); check the quotes on this line: a value "
            'with a comma or quote must be wrapped in double quotes, and quotes inside doubled ("")'
        )
        return None
    return records


def _read_xlsx(path: Path, problems: list[str]) -> list[tuple[int, list[object]]] | None:
    # openpyxl is imported only when a registry is kept as .xlsx.
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            # Workbooks saved by other programs trigger harmless style warnings.
            warnings.simplefilter("ignore")
            workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types for a damaged or foreign file
        problems.append(
            f"{path}: cannot open as an Excel workbook ({type(error).__name__}: {error}); save it again "
            "from Excel as .xlsx (not .xls or .et), or as CSV UTF-8"
        )
        return None
    try:
        worksheet = workbook.worksheets[0]
        return [
            (number, list(values))
            for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()


def _text(value: object) -> str:
    """A cell as text: None -> '', 12.0 -> '12', True -> 'true', strings stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# Sites ---------------------------------------------------------------------------------


def _load_sites(sheet: _Sheet, registry: Registry, problems: list[str]) -> dict[str, int]:
    """Add every valid site to `registry`; return each readable site id with its row number
    (also for rows with other problems, so devices are not reported a second time)."""
    seen: dict[str, int] = {}
    for row in sheet.rows:
        found: list[str] = []

        def problem(column: str, message: str, row: _Row = row, found: list[str] = found) -> None:
            found.append(f"{sheet.where(row, column)}: {message}")

        site_id = _text(row.cells["id"])
        if _check_id(site_id, "site", problem):
            if site_id in seen:
                problem(
                    "id",
                    f"site id '{site_id}' is already used on {sheet.row_word()} {seen[site_id]}; give "
                    "each site its own id",
                )
            else:
                seen[site_id] = row.number
        texts: dict[str, str] = {}
        for column, example in (
            ("name", "灵岩寺"),
            ("district", "长清区"),
            ("level", "全国重点文物保护单位"),
        ):
            texts[column] = _text(row.cells[column])
            if not texts[column]:
                problem(column, f"is empty; every site needs a {column} (e.g. {example})")
        texts["kind"] = _text(row.cells["kind"])
        if not texts["kind"]:
            problem(
                "kind", "is empty; give the kind of site (e.g. 古建筑, 古遗址, 古墓葬, 石窟寺及石刻, 博物馆)"
            )
        lat, lon = _lat_lon(row, problem)
        custodians = _custodians(row, problem)
        boundary = _text(row.cells.get("boundary_wkt")) or None
        if boundary is not None:
            error = check_wkt(boundary, lat, lon)
            if error:
                problem("boundary_wkt", error)
        open_hours = _open_hours(row, problem)
        auto_register = _yes_no(row, "auto_register", problem)
        if found:
            problems.extend(found)
            continue
        registry.add_site(
            Site(
                id=site_id,
                name=texts["name"],
                district=texts["district"],
                level=texts["level"],
                kind=texts["kind"],
                lat=lat,
                lon=lon,
                custodians=custodians,
                boundary_wkt=boundary,
                open_hours=open_hours,
                auto_register=auto_register,
            )
        )
    return seen


_Report = Callable[[str, str], None]


def _check_id(value: str, what: str, problem: _Report, column: str = "id") -> bool:
    if not value:
        problem(column, f"is empty; every {what} needs an id ({_ID_RULE}), e.g. lingyan-si")
        return False
    if ID_PATTERN.fullmatch(value):
        return True
    if len(value) > 64:
        problem(column, f"'{value}' is {len(value)} characters long; {_ID_RULE}, at most 64")
    elif any(ord(c) > 127 for c in value):
        problem(
            column,
            f"'{value}' is not a valid {what} id; {_ID_RULE}: write Chinese names in pinyin "
            "(e.g. lingyan-si) and keep the Chinese in the name column",
        )
    else:
        bad = sorted({c for c in value if not ID_PATTERN.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad)
        problem(column, f"'{value}' contains {shown}; {_ID_RULE}")
    return False


def _number(raw: object) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    try:
        return float(_text(raw))
    except ValueError:
        return None


def _lat_lon(row: _Row, problem: _Report) -> tuple[float | None, float | None]:
    lat_raw, lon_raw = row.cells.get("lat"), row.cells.get("lon")
    lat_number, lon_number = _number(lat_raw), _number(lon_raw)
    if lat_number is not None and lon_number is not None and abs(lat_number) > 90 >= abs(lon_number):
        problem(
            "lat",
            f"lat {_text(lat_raw)} and lon {_text(lon_raw)} look swapped; lat is north–south "
            "(about 36.7 in Jinan), lon east–west (about 117)",
        )
        return None, None
    lat = _coordinate(row, "lat", -90.0, 90.0, problem)
    lon = _coordinate(row, "lon", -180.0, 180.0, problem)
    if bool(_text(lat_raw)) != bool(_text(lon_raw)):
        missing, present = ("lon", "lat") if _text(lat_raw) else ("lat", "lon")
        problem(missing, f"is empty but {present} is set; give both or neither")
        return None, None
    return lat, lon


def _coordinate(row: _Row, column: str, low: float, high: float, problem: _Report) -> float | None:
    raw = row.cells.get(column)
    text = _text(raw)
    if not text:
        return None
    value = _number(raw)
    if value is None:
        problem(column, f"'{text}' is not a number; write decimal degrees like 36.6512 (not 36°39′)")
        return None
    if not math.isfinite(value) or not low <= value <= high:
        problem(column, f"{text} is out of range {low:g}..{high:g}; write WGS-84 decimal degrees")
        return None
    return value


def _custodians(row: _Row, problem: _Report) -> tuple[str, ...]:
    text = _text(row.cells.get("custodians"))
    names: list[str] = []
    for part in re.split(r"[;；]", text):
        name = part.strip()
        if not name:
            continue
        if re.search(r"[、,，/]", name):
            problem("custodians", f"'{name}' looks like several names; separate custodians with ';'")
        elif name not in names:
            names.append(name)
    return tuple(names)


_HOURS: Final = re.compile(r"(\d{1,2})[:：](\d{2})\s*[-–—~～]\s*(\d{1,2})[:：](\d{2})")


def _open_hours(row: _Row, problem: _Report) -> tuple[time, time] | None:
    text = _text(row.cells.get("open_hours"))
    if not text:
        return None
    fix = "write opening hours as HH:MM-HH:MM, like 08:30-17:00 (leave empty if never open to the public)"
    match = _HOURS.fullmatch(text)
    if match is None:
        problem("open_hours", f"'{text}' is not HH:MM-HH:MM; {fix}")
        return None
    hour1, minute1, hour2, minute2 = (int(g) for g in match.groups())
    if hour1 > 23 or hour2 > 23 or minute1 > 59 or minute2 > 59:
        problem("open_hours", f"'{text}' is not a valid time of day; {fix} (use 23:59, not 24:00)")
        return None
    start, end = time(hour1, minute1), time(hour2, minute2)
    if start >= end:
        problem("open_hours", f"'{text}' closes before it opens; {fix}")
        return None
    return start, end


def _yes_no(row: _Row, column: str, problem: _Report) -> bool:
    raw = row.cells.get(column)
    if isinstance(raw, bool):
        return raw
    text = _text(raw).lower()
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    problem(column, f"'{text}' is not true or false; write true or false (or leave it empty for false)")
    return False


# WKT: a light syntactic check (shapely is not a dependency of the loader) ---------------

_WKT_TOKEN: Final = re.compile(
    r"\s*(?:(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<punct>[(),])|(?P<word>[A-Za-z]+)|(?P<other>\S))"
)
_WKT_FIX: Final = (
    "write it like POLYGON((117.464 36.796, 117.476 36.796, 117.476 36.804, 117.464 36.804, "
    "117.464 36.796)), longitude first, the first point repeated at the end"
)


class _WktError(Exception):
    """The boundary text is not a usable polygon; the message says what and where."""


def check_wkt(text: str, lat: float | None = None, lon: float | None = None) -> str | None:
    """Check that `text` is a 2-D WKT POLYGON or MULTIPOLYGON with closed rings of lon/lat
    pairs (and, when the site's lat/lon are given, that the boundary is near them).

    Returns None when it is, else 'what is wrong; how to fix it'.
    """
    try:
        polygons = _parse_wkt(text)
    except _WktError as error:
        return f"{error}; {_WKT_FIX}"
    points = [point for polygon in polygons for ring in polygon for point in ring]
    for x, y in points:
        if not (-180.0 <= x <= 180.0 and -90.0 <= y <= 90.0):
            return (
                f"point ({x:g} {y:g}) is not a longitude/latitude pair; WKT writes longitude first "
                "(about 117 in Jinan), then latitude (about 36.7), in WGS-84 degrees"
            )
    if lat is not None and lon is not None:
        xs, ys = [x for x, _ in points], [y for _, y in points]
        slack = _BOUNDARY_SLACK_DEG
        if not (min(xs) - slack <= lon <= max(xs) + slack and min(ys) - slack <= lat <= max(ys) + slack):
            return (
                f"the boundary (lon {min(xs):g}..{max(xs):g}, lat {min(ys):g}..{max(ys):g}) is far from "
                f"the site's lat/lon ({lat:g}, {lon:g}); check both: WKT writes longitude first, and both "
                "must be WGS-84"
            )
    return None


def _parse_wkt(text: str) -> list[list[list[tuple[float, float]]]]:
    tokens: list[tuple[str, str, int]] = []  # (kind, text, character position, 1-based)
    position = 0
    body = text.strip()
    srid = re.match(r"SRID=(\d+);", body, re.IGNORECASE)
    if srid:
        if srid.group(1) != "4326":
            raise _WktError(f"SRID {srid.group(1)} is not supported, only WGS-84 (4326) longitude/latitude")
        body = body[srid.end() :]
    while position < len(body):
        match = _WKT_TOKEN.match(body, position)
        if match is None:  # only trailing whitespace remains
            break
        kind = match.lastgroup or "other"
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        position = match.end()
    if not tokens or tokens[0][0] != "word" or tokens[0][1].upper() not in {"POLYGON", "MULTIPOLYGON"}:
        first = tokens[0][1] if tokens else ""
        raise _WktError(f"must start with POLYGON or MULTIPOLYGON, not '{first[:20]}'")
    shape = tokens[0][1].upper()
    cursor = 1

    def peek() -> tuple[str, str, int]:
        return tokens[cursor] if cursor < len(tokens) else ("end", "end of text", len(body) + 1)

    def expect(symbol: str) -> None:
        nonlocal cursor
        _, value, at = peek()
        if value != symbol:
            raise _WktError(f"expected '{symbol}' at character {at}, found '{value}'")
        cursor += 1

    def sequence(item: Callable[[], Any]) -> list[Any]:
        nonlocal cursor
        expect("(")
        items = [item()]
        while peek()[1] == ",":
            cursor += 1
            items.append(item())
        expect(")")
        return items

    def point() -> tuple[float, float]:
        nonlocal cursor
        numbers: list[float] = []
        start = peek()[2]
        while peek()[0] == "number":
            numbers.append(float(peek()[1]))
            cursor += 1
        if len(numbers) != 2:
            if not numbers:
                raise _WktError(f"expected a point (two numbers) at character {start}, found '{peek()[1]}'")
            raise _WktError(
                f"the point at character {start} has {len(numbers)} numbers; give exactly two "
                "(longitude latitude), separated by a space, points separated by commas"
            )
        return numbers[0], numbers[1]

    def ring() -> list[tuple[float, float]]:
        start = peek()[2]
        points: list[tuple[float, float]] = sequence(point)
        if len(points) < 4:
            raise _WktError(
                f"the ring at character {start} has {len(points)} points; a ring needs at least 4 "
                "(a triangle plus its first point again)"
            )
        if points[0] != points[-1]:
            raise _WktError(
                f"the ring at character {start} is not closed: it starts at {points[0][0]:g} "
                f"{points[0][1]:g} and ends at {points[-1][0]:g} {points[-1][1]:g}; repeat the first "
                "point at the end"
            )
        return points

    def polygon() -> list[list[tuple[float, float]]]:
        return sequence(ring)

    if peek()[0] == "word":
        word = peek()[1].upper()
        if word == "EMPTY":
            raise _WktError(f"{shape} EMPTY has no area")
        raise _WktError(f"{shape} {word} (3-D or measured coordinates) is not supported; give 2-D points")
    polygons = [polygon()] if shape == "POLYGON" else sequence(polygon)
    if cursor < len(tokens):
        raise _WktError(
            f"unexpected '{tokens[cursor][1]}' at character {tokens[cursor][2]} after the {shape}"
        )
    return polygons


# Devices -------------------------------------------------------------------------------


def _load_devices(
    sheet: _Sheet,
    registry: Registry,
    known_sites: dict[str, int],
    sites_readable: bool,
    problems: list[str],
) -> None:
    seen: dict[tuple[str, str], int] = {}
    external_seen: dict[tuple[str, str], tuple[str, str, int]] = {}
    for row in sheet.rows:
        found: list[str] = []

        def problem(column: str, message: str, row: _Row = row, found: list[str] = found) -> None:
            found.append(f"{sheet.where(row, column)}: {message}")

        site_id = _text(row.cells["site"])
        if (
            _check_id(site_id, "site", problem, column="site")
            and sites_readable
            and site_id not in known_sites
        ):
            close = difflib.get_close_matches(site_id, list(known_sites), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problem(
                "site",
                f"no site '{site_id}' in the sites sheet{hint}; add the site there or correct the id",
            )
        device_id = _text(row.cells["id"])
        if _check_id(device_id, "device", problem):
            key = (site_id, device_id)
            if key in seen:
                problem(
                    "id",
                    f"device '{device_id}' of site '{site_id}' is already listed on {sheet.row_word()} "
                    f"{seen[key]}; device ids must be unique within a site",
                )
            else:
                seen[key] = row.number
        source = _source(row, problem)
        heartbeat_s = _heartbeat(row, problem)
        external_id = _text(row.cells.get("external_id")) or None
        if external_id is not None and source is not None:
            _check_external(
                sheet,
                row,
                site_id=site_id,
                device_id=device_id,
                source=source,
                external_id=external_id,
                external_seen=external_seen,
                problem=problem,
            )
        if found:
            problems.extend(found)
            continue
        assert source is not None
        registry.add_device(
            Device(
                site=site_id,
                id=device_id,
                source=source,
                kind=_text(row.cells.get("kind")),
                zone=_text(row.cells.get("zone")) or None,
                heartbeat_s=heartbeat_s,
                external_id=external_id,
            )
        )


def _source(row: _Row, problem: _Report) -> Source | None:
    text = _text(row.cells["source"]).lower()
    valid = ", ".join(s.value for s in Source)
    try:
        return Source(text)
    except ValueError:
        pass
    if not text:
        problem("source", f"is empty; give one of {valid}")
        return None
    guess = _SOURCE_ALIASES.get(text)
    if guess is None:
        close = difflib.get_close_matches(text, [s.value for s in Source], n=1, cutoff=0.6)
        guess = Source(close[0]) if close else None
    hint = f"; did you mean '{guess.value}'?" if guess else ""
    problem("source", f"'{text}' is not a source{hint} Use one of {valid}")
    return None


def _heartbeat(row: _Row, problem: _Report) -> int | None:
    raw = row.cells.get("heartbeat_s")
    text = _text(raw)
    if not text:
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and float(raw).is_integer():
        value = int(raw)
    elif re.fullmatch(r"\+?\d+", text):
        value = int(text)
    else:
        problem("heartbeat_s", f"'{text}' is not a whole number of seconds; write it like 30 (no unit)")
        return None
    if value <= 0:
        problem(
            "heartbeat_s",
            f"{value} is not positive; give the seconds between the device's heartbeats, like 30, or "
            "leave it empty if it sends none",
        )
        return None
    return value


def _check_external(
    sheet: _Sheet,
    row: _Row,
    *,
    site_id: str,
    device_id: str,
    source: Source,
    external_id: str,
    external_seen: dict[tuple[str, str], tuple[str, str, int]],
    problem: _Report,
) -> None:
    if source not in (Source.DRONE, Source.VIDEO):
        problem(
            "external_id",
            f"is set for a {source.value} device; external ids map DJI serial numbers (source drone) "
            "and Frigate camera names (source video): clear it, or correct the source",
        )
        return
    if re.search(r"[\s/+#]", external_id):
        problem(
            "external_id",
            f"'{external_id}' contains a space, '/', '+' or '#', which cannot appear in an MQTT topic "
            "level; copy the serial number or camera name exactly",
        )
        return
    namespace = "dji" if source is Source.DRONE else "frigate"
    key = (namespace, external_id)
    if key in external_seen:
        other_site, other_device, number = external_seen[key]
        what = "DJI serial number" if namespace == "dji" else "Frigate camera name"
        problem(
            "external_id",
            f"{what} '{external_id}' is already used by {other_site}/{other_device} on "
            f"{sheet.row_word()} {number}; each one maps to a single device"
            + ("" if namespace == "dji" else " (give the cameras distinct names in Frigate)"),
        )
        return
    external_seen[key] = (site_id, device_id, row.number)
