"""load_registry: sites and devices sheets (CSV or XLSX) -> Registry, errors by file, row, column."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from relic_guard.errors import ConfigError
from relic_guard.registry import (
    DEVICE_COLUMNS,
    SITE_COLUMNS,
    Registry,
    Site,
    check_wkt,
    load_registry,
)
from sensors.model import Source

SITE_HEADER = ",".join(SITE_COLUMNS)
DEVICE_HEADER = ",".join(DEVICE_COLUMNS)
CHENGZIYA_WKT = (
    "POLYGON((117.4648 36.7955, 117.4757 36.7968, 117.4760 36.8036, 117.4645 36.8030, 117.4648 36.7955))"
)
GOOD_SITES = [
    "lingyan-si,灵岩寺,长清区,全国重点文物保护单位,古建筑,36.3619,116.9958,王建国;李秀兰,,08:00-17:30",
    f'chengziya,城子崖遗址,章丘区,全国重点文物保护单位,古遗址,36.7998,117.4702,刘海燕,"{CHENGZIYA_WKT}",',
]
GOOD_DEVICES = [
    "lingyan-si,fire-panel-01,fire,fire_alarm_panel,千佛殿,30,",
    "lingyan-si,cam-01,video,ipc,千佛殿,60,lingyan_qianfodian",
    "chengziya,dock-01,drone,dji_dock_2,,30,7CTDM3D00B0J2R",
]


def write_registry(
    folder: Path,
    sites: list[str] | None = None,
    devices: list[str] | None = None,
    *,
    site_header: str = SITE_HEADER,
    device_header: str = DEVICE_HEADER,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = GOOD_SITES if sites is None else sites
    (folder / "sites.csv").write_text("\n".join([site_header, *rows]) + "\n", encoding="utf-8")
    rows = GOOD_DEVICES if devices is None else devices
    (folder / "devices.csv").write_text("\n".join([device_header, *rows]) + "\n", encoding="utf-8")
    return folder


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_registry(folder)
    return caught.value.problems


def test_good_registry_loads(tmp_path: Path) -> None:
    registry = load_registry(write_registry(tmp_path))
    assert isinstance(registry, Registry)
    assert registry.sites["lingyan-si"] == Site(
        id="lingyan-si",
        name="灵岩寺",
        district="长清区",
        level="全国重点文物保护单位",
        kind="古建筑",
        lat=36.3619,
        lon=116.9958,
        custodians=("王建国", "李秀兰"),
        boundary_wkt=None,
        open_hours=(time(8, 0), time(17, 30)),
        auto_register=False,
    )
    assert registry.sites["chengziya"].boundary_wkt == CHENGZIYA_WKT
    assert registry.sites["chengziya"].open_hours is None
    device = registry.devices[("lingyan-si", "fire-panel-01")]
    assert (device.source, device.kind, device.zone, device.heartbeat_s, device.external_id) == (
        Source.FIRE,
        "fire_alarm_panel",
        "千佛殿",
        30,
        None,
    )
    assert registry.resolve_external("dji", "7CTDM3D00B0J2R") == ("chengziya", "dock-01")
    assert registry.resolve_external("frigate", "lingyan_qianfodian") == ("lingyan-si", "cam-01")
    assert registry.knows("lingyan-si", "cam-01")
    assert not registry.knows("lingyan-si", "cam-99")


S = "lingyan-si,灵岩寺,长清区,全国重点文物保护单位,古建筑"
# Each case: one site row (line 2 of sites.csv), the expected problem after "sites.csv:2: ".
SITE_CASES = [
    pytest.param(
        "灵岩寺,灵岩寺,长清区,全国重点,古建筑,,,,,",
        "id: '灵岩寺' is not a valid site id; use 1–64 characters of A-Z a-z 0-9 _ . - (ids appear in MQTT "
        "topics): write Chinese names in pinyin",
        id="id-chinese",
    ),
    pytest.param(
        "lingyan si/1,灵岩寺,长清区,全国重点,古建筑,,,,,",
        "id: 'lingyan si/1' contains ' ' '/'; use 1–64 characters of A-Z a-z 0-9 _ . -",
        id="id-bad-characters",
    ),
    pytest.param(
        f"{'x' * 65},灵岩寺,长清区,全国重点,古建筑,,,,,",
        f"id: '{'x' * 65}' is 65 characters long;",
        id="id-too-long",
    ),
    pytest.param(
        ",灵岩寺,长清区,全国重点,古建筑,,,,,", "id: is empty; every site needs an id", id="id-empty"
    ),
    pytest.param(
        "lingyan-si,,长清区,全国重点,古建筑,,,,,", "name: is empty; every site needs a name", id="name-empty"
    ),
    pytest.param(
        f"{S},95.2,116.99,,,",
        "lat: 95.2 is out of range -90..90; write WGS-84 decimal degrees",
        id="lat-range",
    ),
    pytest.param(f"{S},36.3,190,,,", "lon: 190 is out of range -180..180", id="lon-range"),
    pytest.param(
        f"{S},36°21′,116.99,,,", "lat: '36°21′' is not a number; write decimal degrees", id="lat-dms"
    ),
    pytest.param(f"{S},116.99,36.36,,,", "lat: lat 116.99 and lon 36.36 look swapped", id="lat-lon-swapped"),
    pytest.param(f"{S},36.36,,,,", "lon: is empty but lat is set; give both or neither", id="lon-missing"),
    pytest.param(
        f"{S},,,,,8:30-17",
        "open_hours: '8:30-17' is not HH:MM-HH:MM; write opening hours as HH:MM-HH:MM, like 08:30-17:00",
        id="hours-format",
    ),
    pytest.param(
        f"{S},,,,,17:00-08:30", "open_hours: '17:00-08:30' closes before it opens", id="hours-order"
    ),
    pytest.param(
        f"{S},,,,,08:00-24:00", "open_hours: '08:00-24:00' is not a valid time of day", id="hours-24"
    ),
    pytest.param(
        f"{S},,,王建国、李秀兰,,",
        "custodians: '王建国、李秀兰' looks like several names; separate custodians with ';'",
        id="custodians-separator",
    ),
    pytest.param(
        f'{S},,,,"LINESTRING(117.0 36.3, 117.1 36.4)",',
        "boundary_wkt: must start with POLYGON or MULTIPOLYGON, not 'LINESTRING'",
        id="wkt-not-polygon",
    ),
    pytest.param(
        f'{S},,,,"POLYGON((117.0 36.3, 117.1 36.3, 117.1 36.4, 117.0 36.4))",',
        "boundary_wkt: the ring at character 9 is not closed: it starts at 117 36.3 and ends at 117 36.4; "
        "repeat the first point at the end",
        id="wkt-ring-open",
    ),
    pytest.param(
        f'{S},,,,"POLYGON((117.0 36.3 5, 117.1 36.3, 117.1 36.4, 117.0 36.3))",',
        "boundary_wkt: the point at character 10 has 3 numbers; give exactly two (longitude latitude)",
        id="wkt-odd-numbers",
    ),
    pytest.param(
        f'{S},,,,"POLYGON((117.0 36.3, 117.1 36.3, 117.0 36.3))",',
        "boundary_wkt: the ring at character 9 has 3 points; a ring needs at least 4",
        id="wkt-too-few-points",
    ),
    pytest.param(
        f'{S},,,,"POLYGON((36.3 117.0, 36.3 117.1, 36.4 117.1, 36.3 117.0))",',
        "boundary_wkt: point (36.3 117) is not a longitude/latitude pair; WKT writes longitude first",
        id="wkt-lat-first",
    ),
    pytest.param(
        f'{S},36.3619,116.9958,,"{CHENGZIYA_WKT}",',
        "boundary_wkt: the boundary (lon 117.465..117.476, lat 36.7955..36.8036) is far from the site's "
        "lat/lon (36.3619, 116.996)",
        id="wkt-far-from-site",
    ),
    pytest.param(
        f'{S},,,,"POLYGON((117.0 36.3, 117.1 36.3, 117.1 36.4, 117.0 36.3)",',
        "boundary_wkt: expected ')' at character 57, found 'end of text'",
        id="wkt-unbalanced",
    ),
    pytest.param(f"{S},,,,,,maybe", "auto_register: 'maybe' is not true or false", id="auto-register"),
]


@pytest.mark.parametrize(("row", "expected"), SITE_CASES)
def test_site_problems_name_file_line_and_column(tmp_path: Path, row: str, expected: str) -> None:
    header = SITE_HEADER + ",auto_register"
    folder = write_registry(tmp_path, [row], [], site_header=header)
    problems = problems_of(folder)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{folder / 'sites.csv'}:2: {expected}"), problems[0]


def test_duplicate_site_id_names_first_line(tmp_path: Path) -> None:
    folder = write_registry(tmp_path, [*GOOD_SITES, f"{S},,,,,"], [])
    (problem,) = problems_of(folder)
    assert problem == (
        f"{folder / 'sites.csv'}:4: id: site id 'lingyan-si' is already used on line 2; "
        "give each site its own id"
    )


D = "lingyan-si,cam-02"
DEVICE_CASES = [
    pytest.param(
        "lingyan-sii,cam-02,video,ipc,,,",
        "site: no site 'lingyan-sii' in the sites sheet (did you mean 'lingyan-si'?); add the site there or "
        "correct the id",
        id="unknown-site",
    ),
    pytest.param("lingyan-si,cam 02,video,ipc,,,", "id: 'cam 02' contains ' '", id="device-id-chars"),
    pytest.param(
        "lingyan-si,fire-panel-01,fire,,,,",
        "id: device 'fire-panel-01' of site 'lingyan-si' is already listed on line 2; "
        "device ids must be unique within a site",
        id="duplicate-device",
    ),
    pytest.param(
        f"{D},camera,ipc,,,",
        "source: 'camera' is not a source; did you mean 'video'? Use one of fire, video, drone, patrol, "
        "security, env",
        id="source-alias",
    ),
    pytest.param(
        f"{D},vidoe,ipc,,,", "source: 'vidoe' is not a source; did you mean 'video'?", id="source-typo"
    ),
    pytest.param(f"{D},,ipc,,,", "source: is empty; give one of fire, video", id="source-empty"),
    pytest.param(
        f"{D},video,ipc,,30s,",
        "heartbeat_s: '30s' is not a whole number of seconds; write it like 30 (no unit)",
        id="heartbeat-unit",
    ),
    pytest.param(f"{D},video,ipc,,0,", "heartbeat_s: 0 is not positive", id="heartbeat-zero"),
    pytest.param(
        f"{D},video,ipc,,-5,", "heartbeat_s: '-5' is not a whole number of seconds", id="heartbeat-neg"
    ),
    pytest.param(f"{D},video,ipc,,2.5,", "heartbeat_s: '2.5' is not a whole number", id="heartbeat-fraction"),
    pytest.param(
        f"{D},video,ipc,,,lingyan_qianfodian",
        "external_id: Frigate camera name 'lingyan_qianfodian' is already used by lingyan-si/cam-01 "
        "on line 3; each one maps to a single device (give the cameras distinct names in Frigate)",
        id="duplicate-external-id",
    ),
    pytest.param(
        "lingyan-si,smoke-01,fire,smoke_detector,,,ABC123",
        "external_id: is set for a fire device; external ids map DJI serial numbers (source drone) and "
        "Frigate camera names (source video)",
        id="external-id-wrong-source",
    ),
    pytest.param(
        f"{D},video,ipc,,,front gate",
        "external_id: 'front gate' contains a space, '/', '+' or '#'",
        id="external-id-space",
    ),
]


@pytest.mark.parametrize(("row", "expected"), DEVICE_CASES)
def test_device_problems_name_file_line_and_column(tmp_path: Path, row: str, expected: str) -> None:
    folder = write_registry(tmp_path, None, [*GOOD_DEVICES, row])
    problems = problems_of(folder)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{folder / 'devices.csv'}:5: {expected}"), problems[0]


def test_same_external_id_in_different_namespaces_is_fine(tmp_path: Path) -> None:
    folder = write_registry(tmp_path, None, [*GOOD_DEVICES, "chengziya,cam-01,video,ipc,,,7CTDM3D00B0J2R"])
    registry = load_registry(folder)
    assert registry.resolve_external("frigate", "7CTDM3D00B0J2R") == ("chengziya", "cam-01")


def test_every_problem_is_collected(tmp_path: Path) -> None:
    folder = write_registry(
        tmp_path,
        [*GOOD_SITES, "bad id,x,长清区,全国重点,古建筑,99,0,,,25:00-26:00"],
        [*GOOD_DEVICES, "nowhere,cam-9,video,,,,", "lingyan-si,cam-9,tv,,,x,"],
    )
    problems = problems_of(folder)
    sites, devices = folder / "sites.csv", folder / "devices.csv"
    assert [p.split(": ", 2)[:2] for p in problems] == [
        [f"{sites}:4", "id"],
        [f"{sites}:4", "lat"],
        [f"{sites}:4", "open_hours"],
        [f"{devices}:5", "site"],
        [f"{devices}:6", "source"],
        [f"{devices}:6", "heartbeat_s"],
    ]


def test_device_at_a_site_whose_row_has_other_problems_is_not_reported_as_unknown(tmp_path: Path) -> None:
    folder = write_registry(
        tmp_path, ["lingyan-si,灵岩寺,长清区,全国重点,古建筑,999,0,,,"], [GOOD_DEVICES[0]]
    )
    (problem,) = problems_of(folder)
    assert ":2: lat:" in problem


# Header --------------------------------------------------------------------------------


def test_missing_required_column(tmp_path: Path) -> None:
    folder = write_registry(tmp_path, [], [], device_header="site,id,kind,zone,heartbeat_s,external_id")
    (problem,) = problems_of(folder)
    assert problem.startswith(
        f"{folder / 'devices.csv'}:1: header: missing required column 'source'; add it to the header row "
        "(line 1), which should read site,id,source,kind,zone,heartbeat_s,external_id"
    )


def test_near_miss_column_is_an_error_but_other_extra_columns_are_allowed(tmp_path: Path) -> None:
    folder = write_registry(
        tmp_path,
        [GOOD_SITES[0] + ",true,灵岩寺管理处"],
        [],
        site_header=SITE_HEADER + ",auto_registr,备注",
    )
    (problem,) = problems_of(folder)
    assert problem == (
        f"{folder / 'sites.csv'}:1: header: unknown column 'auto_registr' (column K); did you mean "
        "'auto_register'? Rename it"
    )
    folder = write_registry(
        tmp_path / "ok",
        [GOOD_SITES[0] + ",true,灵岩寺管理处"],
        [],
        site_header=SITE_HEADER + ",auto_register,备注",
    )
    assert load_registry(folder).sites["lingyan-si"].auto_register is True


def test_optional_columns_may_be_left_out(tmp_path: Path) -> None:
    folder = write_registry(
        tmp_path,
        ["sandefan-minju,三德范村古民居,章丘区,一般不可移动文物,古建筑"],
        ["sandefan-minju,cam-01,video"],
        site_header="id,name,district,level,kind",
        device_header="site,id,source",
    )
    registry = load_registry(folder)
    assert registry.sites["sandefan-minju"].lat is None
    assert registry.devices[("sandefan-minju", "cam-01")].heartbeat_s is None


def test_duplicate_column(tmp_path: Path) -> None:
    folder = write_registry(tmp_path, [], [], device_header=DEVICE_HEADER + ",zone")
    (problem,) = problems_of(folder)
    assert problem == (
        f"{folder / 'devices.csv'}:1: header: column 'zone' appears twice (columns E and H); "
        "delete one of them"
    )


def test_header_is_case_and_space_insensitive(tmp_path: Path) -> None:
    folder = write_registry(
        tmp_path, None, None, device_header="Site, ID ,Source,Kind,Zone,Heartbeat_s,External_ID"
    )
    assert len(load_registry(folder).devices) == 3


def test_semicolon_separated_sheet(tmp_path: Path) -> None:
    folder = write_registry(tmp_path, None, [], device_header=DEVICE_HEADER.replace(",", ";"))
    (problem,) = problems_of(folder)
    assert "separated by ';'" in problem


def test_too_many_cells(tmp_path: Path) -> None:
    folder = write_registry(tmp_path, None, [*GOOD_DEVICES, "lingyan-si,cam-2,video,ipc,千佛殿,东侧,60,x"])
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{folder / 'devices.csv'}:5: the line has 8 cells but the header has 7;")


def test_empty_sheet(tmp_path: Path) -> None:
    folder = write_registry(tmp_path)
    (folder / "devices.csv").write_text("\n\n", encoding="utf-8")
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{folder / 'devices.csv'}:1: the sheet is empty")


# Files ---------------------------------------------------------------------------------


def test_missing_folder(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "nope")
    assert problem.startswith(f"{tmp_path / 'nope'}: registry folder not found")


def test_missing_sheets(tmp_path: Path) -> None:
    (tmp_path / "sites.xls").write_bytes(b"old")
    problems = problems_of(tmp_path)
    assert problems == [
        f"{tmp_path}: no sites.csv or sites.xlsx (sites.xls found: save it as .xlsx or CSV UTF-8); create it "
        f"with the header row {SITE_HEADER},auto_register (see config/sites.csv)",
        f"{tmp_path}: no devices.csv or devices.xlsx; create it with the header row {DEVICE_HEADER} "
        "(see config/devices.csv)",
    ]


def test_csv_and_xlsx_side_by_side_is_ambiguous(tmp_path: Path) -> None:
    folder = write_registry(tmp_path)
    Workbook().save(folder / "sites.xlsx")
    (problem,) = problems_of(folder)
    assert problem == (
        f"{folder / 'sites.csv'}: both sites.csv and sites.xlsx exist in {folder}; it is not clear which one "
        "is current: delete or rename one of them"
    )


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    folder = write_registry(tmp_path)
    for name in ("sites.csv", "devices.csv"):
        path = folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    registry = load_registry(folder)
    assert registry.sites["lingyan-si"].name == "灵岩寺"
    assert ("lingyan-si", "fire-panel-01") in registry.devices


def test_gbk_file_is_rejected_with_a_hint(tmp_path: Path) -> None:
    folder = write_registry(tmp_path)
    path = folder / "sites.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{path}:2: not UTF-8 text")
    assert "CSV UTF-8" in problem


def test_line_numbers_follow_multiline_cells_and_blank_lines(tmp_path: Path) -> None:
    folder = write_registry(
        tmp_path,
        None,
        [GOOD_DEVICES[0], "", 'lingyan-si,cam-05,video,"ipc\n(东侧)",,,', "lingyan-si,cam-06,tv,ipc,,,"],
    )
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{folder / 'devices.csv'}:6: source: 'tv' is not a source")


def test_unterminated_quote(tmp_path: Path) -> None:
    folder = write_registry(tmp_path, None, [GOOD_DEVICES[0], 'lingyan-si,cam-05,video,"ipc,,,'])
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{folder / 'devices.csv'}:3: not valid CSV")


def test_chinese_text_round_trips(tmp_path: Path) -> None:
    folder = write_registry(
        tmp_path,
        [
            "qi-changcheng,齐长城遗址（长清广里段）,长清区,全国重点文物保护单位,古遗址,36.40,116.73,孙德福；赵玉梅,,"
        ],
        ["qi-changcheng,patrol-01,patrol,巡查终端,广里村东,,"],
    )
    registry = load_registry(folder)
    site = registry.sites["qi-changcheng"]
    assert (site.name, site.district, site.custodians) == (
        "齐长城遗址（长清广里段）",
        "长清区",
        ("孙德福", "赵玉梅"),
    )
    assert registry.devices[("qi-changcheng", "patrol-01")].zone == "广里村东"


names = (
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), min_codepoint=32),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(name=names, district=names)
def test_any_name_round_trips_through_csv(tmp_path: Path, name: str, district: str) -> None:
    import csv

    folder = tmp_path / "hyp"
    folder.mkdir(exist_ok=True)
    with open(folder / "sites.csv", "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(SITE_COLUMNS)
        writer.writerow(["s1", name, district, "省级文物保护单位", "古建筑", "", "", "", "", ""])
    (folder / "devices.csv").write_text(DEVICE_HEADER + "\n", encoding="utf-8")
    site = load_registry(folder).sites["s1"]
    assert (site.name, site.district) == (name, district)


# XLSX ----------------------------------------------------------------------------------


def write_xlsx(path: Path, rows: list[list[object]]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = path.stem
    for row in rows:
        sheet.append(row)
    workbook.save(path)


XLSX_SITES: list[list[object]] = [
    [*SITE_COLUMNS, "auto_register"],
    [
        "lingyan-si",
        "灵岩寺",
        "长清区",
        "全国重点文物保护单位",
        "古建筑",
        36.3619,
        116.9958,
        "王建国;李秀兰",
        None,
        "08:00-17:30",
        False,
    ],
    [
        "chengziya",
        "城子崖遗址",
        "章丘区",
        "全国重点文物保护单位",
        "古遗址",
        36.7998,
        117.4702,
        "刘海燕",
        CHENGZIYA_WKT,
        None,
        True,
    ],
]
XLSX_DEVICES: list[list[object]] = [
    list(DEVICE_COLUMNS),
    ["lingyan-si", "fire-panel-01", "fire", "fire_alarm_panel", "千佛殿", 30, None],
    ["chengziya", "dock-01", "drone", "dji_dock_2", None, 30.0, "7CTDM3D00B0J2R"],
]


def test_xlsx_round_trip(tmp_path: Path) -> None:
    write_xlsx(tmp_path / "sites.xlsx", XLSX_SITES)
    write_xlsx(tmp_path / "devices.xlsx", XLSX_DEVICES)
    registry = load_registry(tmp_path)
    csv_registry = load_registry(write_registry(tmp_path / "csv"))
    assert registry.sites["lingyan-si"] == csv_registry.sites["lingyan-si"]
    chengziya = registry.sites["chengziya"]
    assert chengziya.auto_register is True
    assert chengziya.boundary_wkt == CHENGZIYA_WKT
    assert registry.devices[("chengziya", "dock-01")].heartbeat_s == 30
    assert registry.resolve_external("dji", "7CTDM3D00B0J2R") == ("chengziya", "dock-01")


WGS84 = "write WGS-84 decimal degrees"


def test_xlsx_errors_name_row_and_cell(tmp_path: Path) -> None:
    sites = [*XLSX_SITES, ["bad", "x", "长清区", "省级", "古建筑", 123.5, 500, None, None, None, None]]
    devices = [*XLSX_DEVICES, ["chengziya", "cam-01", "video", "ipc", None, 0, None]]
    write_xlsx(tmp_path / "sites.xlsx", sites)
    write_xlsx(tmp_path / "devices.xlsx", devices)
    problems = problems_of(tmp_path)
    assert problems == [
        f"{tmp_path / 'sites.xlsx'}:4: lat (cell F4): 123.5 is out of range -90..90; {WGS84}",
        f"{tmp_path / 'sites.xlsx'}:4: lon (cell G4): 500 is out of range -180..180; {WGS84}",
        f"{tmp_path / 'devices.xlsx'}:4: heartbeat_s (cell F4): 0 is not positive; give the seconds between "
        "the device's heartbeats, like 30, or leave it empty if it sends none",
    ]


def test_xlsx_that_is_not_a_workbook(tmp_path: Path) -> None:
    write_registry(tmp_path)
    (tmp_path / "devices.csv").unlink()
    (tmp_path / "devices.xlsx").write_bytes(b"not a zip")
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path / 'devices.xlsx'}: cannot open as an Excel workbook")


# WKT -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wkt",
    [
        CHENGZIYA_WKT,
        "polygon ((117 36, 117.1 36, 117.1 36.1, 117 36))",
        "SRID=4326;POLYGON((117 36, 117.1 36, 117.1 36.1, 117 36))",
        "MULTIPOLYGON(((117 36, 117.1 36, 117.1 36.1, 117 36)), ((118 36, 118.1 36, 118.1 36.1, 118 36)))",
        "POLYGON((117 36, 118 36, 118 37, 117 37, 117 36), (117.2 36.2, 117.3 36.2, 117.3 36.3, 117.2 36.2))",
        "POLYGON((1.17e2 36, 117.1 36, 117.1 36.1, 117 36))",
    ],
)
def test_valid_wkt(wkt: str) -> None:
    assert check_wkt(wkt) is None


@pytest.mark.parametrize(
    ("wkt", "expected"),
    [
        ("POLYGON EMPTY", "POLYGON EMPTY has no area"),
        ("POLYGON Z ((117 36 1, 117.1 36 1, 117.1 36.1 1, 117 36 1))", "POLYGON Z (3-D or measured"),
        ("SRID=3857;POLYGON((1 1, 2 1, 2 2, 1 1))", "SRID 3857 is not supported"),
        (
            "POLYGON((117 36, 117.1 36, 117.1 36.1, 117 36)) extra",
            "unexpected 'extra' at character 49 after the POLYGON",
        ),
        ("POLYGON((117 36, 117.1 36, ,117 36))", "expected a point (two numbers) at character 28, found ','"),
        ("MULTIPOLYGON((117 36, 117.1 36, 117.1 36.1, 117 36))", "expected '(' at character 15, found '117'"),
        ("POLYGON((117 36; 117.1 36))", "expected ')' at character 16, found ';'"),
        ("", "must start with POLYGON or MULTIPOLYGON, not ''"),
    ],
)
def test_invalid_wkt(wkt: str, expected: str) -> None:
    message = check_wkt(wkt)
    assert message is not None
    assert message.startswith(expected), message


@given(
    st.floats(min_value=73, max_value=135),
    st.floats(min_value=18, max_value=53),
    st.floats(min_value=0.0001, max_value=1),
)
def test_any_closed_square_is_valid(lon: float, lat: float, size: float) -> None:
    corners = [(lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size), (lon, lat)]
    wkt = "POLYGON((" + ", ".join(f"{x!r} {y!r}" for x, y in corners) + "))"
    assert check_wkt(wkt, lat + size / 2, lon + size / 2) is None
