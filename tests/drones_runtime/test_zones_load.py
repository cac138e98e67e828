"""The drone zones file: what loads, and every problem named with file, line and place."""

from __future__ import annotations

from pathlib import Path

import pytest

from relic_guard.check_config import EXIT_INVALID, EXIT_OK, check_config
from relic_guard.drones.zones_load import load_zones
from relic_guard.errors import ConfigError
from relic_guard.registry import Site, load_registry
from tests.drones.support import DXZ, DXZ_WKT

CONFIG = Path(__file__).resolve().parents[2] / "config"
SITES = {
    DXZ: Site(id=DXZ, name="大辛庄遗址", district="历城区", level="national", kind="古遗址", boundary_wkt=DXZ_WKT),
    "lingyan-si": Site(id="lingyan-si", name="灵岩寺", district="长清区", level="national", kind="古建筑"),
}
SQUARE = "POLYGON((117.0000 36.6700, 117.0010 36.6700, 117.0010 36.6708, 117.0000 36.6708, 117.0000 36.6700))"
GOOD = f"""\
[[site]]
id = "jn-dxz"
margin_m = 30

  [[site.allowed]]
  name = "机场通道"
  wkt = "POLYGON((117.0068 36.6690, 117.0100 36.6690, 117.0100 36.6700, 117.0068 36.6700, 117.0068 36.6690))"

  [[site.no_fly]]
  name = "龙山小学"
  wkt = "{SQUARE}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drone-zones.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_zones(write(tmp_path, text), SITES)
    return caught.value.problems


def test_a_valid_file_loads(tmp_path: Path) -> None:
    zones = load_zones(write(tmp_path, GOOD), SITES)
    site = zones[DXZ]
    assert site.margin_m == 30.0
    assert [area.name for area in site.allowed] == ["机场通道"]
    assert [(zone.name, zone.wkt) for zone in site.no_fly] == [("龙山小学", SQUARE)]


def test_the_example_file_loads_against_the_shipped_registry() -> None:
    zones = load_zones(CONFIG / "drone-zones.example.toml", load_registry(CONFIG).sites)
    assert list(zones) == ["chengziya"] and zones["chengziya"].no_fly[0].name == "龙山街道小学"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('id = "jn-dxz"', 'id = "jn-dxy"'), ':2: [[site]] #1 id: no site "jn-dxy" in the registry; did you mean "jn-dxz"?'),
        (('id = "jn-dxz"', 'id = "lingyan-si"'), ':2: [[site]] #1 id: site "lingyan-si" has no boundary_wkt'),
        (("margin_m = 30", "margin_m = -5"), ":3: [[site]] #1 margin_m: -5 is out of range"),
        (("margin_m = 30", 'margin_m = "30"'), ":3: [[site]] #1 margin_m: expected metres as a number"),
        (("margin_m = 30", "buffer_m = 30"), ":3: [[site]] #1 buffer_m: unknown key 'buffer_m'; did you mean 'margin_m'?"),
        ((f'wkt = "{SQUARE}"', 'wkt = "POINT(117 36.67)"'),
         ":11: [[site]] #1 no_fly[1] wkt: no-fly area 龙山小学: expected a POLYGON or MULTIPOLYGON, got Point"),
        ((f'wkt = "{SQUARE}"', 'wkt = "POLYGON((36.67 117.0, 36.68 117.0, 36.68 117.01, 36.67 117.0))"'),
         ":11: [[site]] #1 no_fly[1] wkt: no-fly area 龙山小学: coordinates are not longitude/latitude pairs"),
        (('name = "龙山小学"', "name = 5"), ':10: [[site]] #1 no_fly[1] name: must be a non-empty string'),
        (("[[site.no_fly]]", "[[site.nofly]]"), ":9: [[site]] #1 nofly: unknown key 'nofly'; did you mean 'no_fly'?"),
    ],
)
def test_problems_name_file_line_and_place(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    found = problems(tmp_path, GOOD.replace(*change))
    assert any(expected in item for item in found), found
    assert all(item.startswith(str(tmp_path / "drone-zones.toml") + ":") for item in found)


def test_repeated_names_and_sites_are_refused(tmp_path: Path) -> None:
    twice = GOOD + f'\n  [[site.no_fly]]\n  name = "龙山小学"\n  wkt = "{SQUARE}"\n'
    (found,) = problems(tmp_path, twice)
    assert ':14: [[site]] #1 no_fly[2] name: "龙山小学" names no_fly[1] of this site too' in found
    (found,) = problems(tmp_path, GOOD + '\n[[site]]\nid = "jn-dxz"\n')
    assert ':14: [[site]] #2 id: "jn-dxz" has a [[site]] table at line 1 too' in found


def test_syntax_errors_and_unknown_tables(tmp_path: Path) -> None:
    (syntax,) = problems(tmp_path, 'id = "x\n')
    assert "TOML syntax error" in syntax and ":1:" in syntax
    (table,) = problems(tmp_path, "[[sites]]\nid = \"jn-dxz\"\n")
    assert "did you mean [[site]]?" in table


def test_check_config_reports_the_zones_file_with_file_and_line(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "sites.csv").write_text(
        "id,name,district,level,kind,lat,lon,custodians,boundary_wkt,open_hours\n"
        f'jn-dxz,大辛庄遗址,历城区,全国重点文物保护单位,古遗址,36.67,117.0,,"{DXZ_WKT}",\n', encoding="utf-8")
    (registry / "devices.csv").write_text("site,id,source,kind,zone,heartbeat_s,external_id\n"
                                          "jn-dxz,uav-01,drone,dji_m3td,,30,1581F6Q8D23CT00A\n", encoding="utf-8")
    zones = write(tmp_path, GOOD.replace("margin_m = 30", "margin_m = 1e9"))
    env = {"RELIC_GUARD_REGISTRY": str(registry), "RELIC_GUARD_DRONES_ZONES_FILE": str(zones)}
    code, text = check_config(None, env)
    assert code == EXIT_INVALID
    assert f"{zones}:3: [[site]] #1 margin_m: 1000000000.0 is out of range" in text
    assert "in the drone zones file" in text
    code, text = check_config(None, {**env, "RELIC_GUARD_DRONES_ZONES_FILE": str(write(tmp_path, GOOD))})
    assert code == EXIT_OK
    assert "drones" in text and "1 extra allowed area, 1 no-fly zone at 1 site" in text
