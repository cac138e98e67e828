"""The cameras file: what loads, and every problem named with file, line and place."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from relic_guard.check_config import EXIT_INVALID, EXIT_OK, check_config
from relic_guard.errors import ConfigError
from relic_guard.registry import Device, Site, load_registry
from relic_guard.video.cameras_load import Camera, ZoneEvent, load_cameras
from sensors.model import Source
from sensors.video import Arming, BackgroundModel

CONFIG = Path(__file__).resolve().parents[2] / "config"
SITES = {
    "lingyan-si": Site(id="lingyan-si", name="灵岩寺", district="长清区", level="national", kind="古建筑",
                       open_hours=(time(8, 0), time(17, 30))),
    "chengziya": Site(id="chengziya", name="城子崖遗址", district="章丘区", level="national", kind="古遗址"),
}
DEVICES = {
    ("lingyan-si", "cam-qianfodian-01"): Device(site="lingyan-si", id="cam-qianfodian-01", source=Source.VIDEO),
    ("lingyan-si", "cam-pizhita-01"): Device(site="lingyan-si", id="cam-pizhita-01", source=Source.VIDEO),
    ("lingyan-si", "fire-panel-01"): Device(site="lingyan-si", id="fire-panel-01", source=Source.FIRE),
    ("chengziya", "cam-south-gate-01"): Device(site="chengziya", id="cam-south-gate-01", source=Source.VIDEO),
}
GOOD = """\
[[camera]]
id = "cam-qianfodian-01"
site = "lingyan-si"
max_fps = 4

  [[camera.zone]]
  name = "千佛殿门"
  polygon = [[0.05, 0.55], [0.45, 0.55], [0.45, 1.0], [0.05, 1.0]]
  arming = "outside_open_hours"
  min_area_share = 0.03
  min_duration_s = 1.5

  [[camera.zone]]
  name = "游客步道"
  polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]
  event = "motion"

  [camera.tamper]
  occlusion_raise_after_s = 10

  [camera.motion]
  background = "mog2"

[[camera]]
id = "cam-south-gate-01"
site = "chengziya"
url = "rtsp://viewer:secret@192.168.20.31:554/Streaming/Channels/102"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_cameras(write(tmp_path, text), SITES, DEVICES)
    return caught.value.problems


def test_a_valid_file_loads_into_the_analyzer_settings(tmp_path: Path) -> None:
    cameras = load_cameras(write(tmp_path, GOOD), SITES, DEVICES)
    assert list(cameras) == [("lingyan-si", "cam-qianfodian-01"), ("chengziya", "cam-south-gate-01")]
    hall = cameras[("lingyan-si", "cam-qianfodian-01")]
    assert (hall.label, hall.url, hall.max_fps) == ("lingyan-si/cam-qianfodian-01", None, 4.0)
    door, walk = hall.analysis.zones
    assert (door.name, door.arming, door.min_area_share, door.min_duration_s) == (
        "千佛殿门", Arming.OUTSIDE_OPEN_HOURS, 0.03, 1.5)
    assert door.polygon == ((0.05, 0.55), (0.45, 0.55), (0.45, 1.0), (0.05, 1.0))
    assert walk.arming is Arming.ALWAYS and len(walk.polygon) == 3
    assert hall.zone_events == {"千佛殿门": ZoneEvent.INTRUSION, "游客步道": ZoneEvent.MOTION}
    assert hall.analysis.open_hours == (time(8, 0), time(17, 30))  # from the registry
    assert hall.analysis.tamper.occlusion_raise_after_s == 10.0
    assert hall.analysis.motion.background is BackgroundModel.MOG2
    gate = cameras[("chengziya", "cam-south-gate-01")]
    assert gate.url is not None and gate.url.startswith("rtsp://") and not gate.is_file
    assert gate.analysis.zones == () and gate.analysis.open_hours is None


def test_a_recording_is_found_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "夜间.avi").write_bytes(b"")
    text = GOOD.replace('url = "rtsp://viewer:secret@192.168.20.31:554/Streaming/Channels/102"',
                        'url = "file:clips/夜间.avi"')
    camera: Camera = load_cameras(write(tmp_path, text), SITES, DEVICES)[("chengziya", "cam-south-gate-01")]
    assert camera.is_file and camera.url == f"file:{tmp_path / 'clips' / '夜间.avi'}"


def test_the_example_file_loads_against_the_shipped_registry() -> None:
    registry = load_registry(CONFIG)
    cameras = load_cameras(CONFIG / "cameras.example.toml", registry.sites, registry.devices)
    assert len(cameras) == 3
    assert sum(len(c.analysis.zones) for c in cameras.values()) == 5
    assert all(c.analysis.open_hours == registry.sites[c.site].open_hours for c in cameras.values())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('site = "lingyan-si"', 'site = "lingyan-so"'),
         ':3: [[camera]] #1 site: no site "lingyan-so" in the registry; did you mean "lingyan-si"?'),
        (('id = "cam-qianfodian-01"', 'id = "cam-qianfodian-02"'),
         ':2: [[camera]] #1 id: no device "cam-qianfodian-02" at site "lingyan-si" in devices.csv; '
         'did you mean "cam-qianfodian-01"?'),
        (('id = "cam-qianfodian-01"', 'id = "fire-panel-01"'),
         ':2: [[camera]] #1 id: device "fire-panel-01" of site "lingyan-si" is a fire device'),
        (('id = "cam-south-gate-01"\nsite = "chengziya"', 'id = "cam-qianfodian-01"\nsite = "lingyan-si"'),
         ':25: [[camera]] #2 id: camera "cam-qianfodian-01" of site "lingyan-si" has a [[camera]] table at line 1'),
        (("max_fps = 4", "max_fps = 0"), ":4: [[camera]] #1 max_fps: 0 is out of range; give frames per second above 0"),
        (("max_fps = 4", 'max_fps = "4"'), ":4: [[camera]] #1 max_fps: expected frames per second as a number"),
        (("max_fps = 4", "fps = 4"), ":4: [[camera]] #1 fps: unknown key 'fps'; did you mean 'max_fps'?"),
        (("rtsp://viewer", "ftp://viewer"), ":27: [[camera]] #2 url: scheme 'ftp' is not supported"),
        (('url = "rtsp://viewer:secret@192.168.20.31:554/Streaming/Channels/102"', 'url = "file:missing.avi"'),
         ":27: [[camera]] #2 url: no such file:"),
        (('name = "千佛殿门"', 'name = "游客步道"'),
         ':14: [[camera]] #1 zone[2] name: "游客步道" names zone[1] of this camera too'),
        (('name = "千佛殿门"', f'name = "{"殿" * 65}"'),
         ":6: [[camera]] #1 zone[1]: zone '" + "殿" * 65 + "': the name must be 1–64 characters"),
        (("[0.45, 1.0], [0.05, 1.0]]", "[0.45, 1.2], [0.05, 1.0]]"),
         ":8: [[camera]] #1 zone[1] polygon: [0.45, 1.2] lies outside the picture"),
        (("polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]", "polygon = [[0.5, 0.5], [1.0, 0.5]]"),
         ":15: [[camera]] #1 zone[2] polygon: needs at least 3 points"),
        (("polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]", "polygon = [[0.5, 0.5], [1.0, 0.5], [0.75, 0.5]]"),
         ":13: [[camera]] #1 zone[2]: zone '游客步道': the polygon encloses no area"),
        (("polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]", 'polygon = [[0.5, 0.5], [1.0, "a"], [1.0, 1.0]]'),
         ":15: [[camera]] #1 zone[2] polygon: [1.0, 'a'] is not a point"),
        (('arming = "outside_open_hours"', 'arming = "outside_opening_hours"'),
         ':9: [[camera]] #1 zone[1] arming: \'outside_opening_hours\' is not allowed; did you mean "outside_open_hours"?'),
        (('event = "motion"', 'event = "loitering"'),
         ":16: [[camera]] #1 zone[2] event: 'loitering' is not allowed; use one of \"intrusion\", \"motion\""),
        (("min_area_share = 0.03", "min_area_share = 3"), ":10: [[camera]] #1 zone[1] min_area_share: 3 is out of range"),
        (("  [[camera.zone]]\n  name = \"游客步道\"", "  [[camera.zones]]\n  name = \"游客步道\""),
         ":13: [[camera]] #1 zones: unknown key 'zones'; did you mean 'zone'?"),
        (("occlusion_raise_after_s = 10", "occlusion_raise_after = 10"),
         ":19: [[camera]] #1 tamper occlusion_raise_after: unknown key 'occlusion_raise_after'; "
         "did you mean 'occlusion_raise_after_s'?"),
        (("occlusion_raise_after_s = 10", "occlusion_raise_after_s = -1"),
         ":18: [[camera]] #1 tamper: TamperConfig.occlusion_raise_after_s must be a finite number of seconds ≥ 0; "
         "correct the values in [camera.tamper]"),
        (('background = "mog2"', 'background = "mog"'),
         ':22: [[camera]] #1 motion background: \'mog\' is not allowed; did you mean "mog2"?'),
        (("[[camera]]\nid = \"cam-south", "[[cameras]]\nid = \"cam-south"),
         ":24: cameras: unknown table; did you mean [[camera]]?"),
    ],
)
def test_problems_name_file_line_and_place(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    found = problems(tmp_path, text)
    assert any(expected in item for item in found), found
    assert all(item.startswith(str(tmp_path / "cameras.toml") + ":") for item in found)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("max_fps = 4", "max_fps = -1").replace('site = "chengziya"', 'site = "nowhere"')
    found = problems(tmp_path, text)
    assert len(found) == 2 and ":4:" in found[0] and ":26:" in found[1]


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, GOOD.replace("max_fps = 4", "max_fps = = 4"))
    assert found.startswith(f"{tmp_path / 'cameras.toml'}:4:") and "TOML syntax error" in found


def test_check_config_reads_the_cameras_file(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "sites.csv").write_text(
        "id,name,district,level,kind,lat,lon,custodians,boundary_wkt,open_hours\n"
        "lingyan-si,灵岩寺,长清区,全国重点文物保护单位,古建筑,36.36,116.99,王建国,,08:00-17:30\n"
        "chengziya,城子崖遗址,章丘区,全国重点文物保护单位,古遗址,36.79,117.47,刘海燕,,\n",
        encoding="utf-8")
    (registry / "devices.csv").write_text(
        "site,id,source,kind,zone,heartbeat_s,external_id\n"
        "lingyan-si,cam-qianfodian-01,video,ipc,千佛殿,60,\n"
        "chengziya,cam-south-gate-01,video,ptz,南门,60,\n",
        encoding="utf-8")
    cameras = write(tmp_path, GOOD)
    env = {"RELIC_GUARD_REGISTRY": str(registry), "RELIC_GUARD_VIDEO_CAMERAS_FILE": str(cameras)}
    code, text = check_config(None, env)
    assert code == EXIT_OK, text
    assert "video        2 cameras (1 read from a url), 2 zones (cameras.toml)" in text
    cameras.write_text(GOOD.replace("max_fps = 4", "max_fps = 400"), encoding="utf-8")
    code, text = check_config(None, env)
    assert code == EXIT_INVALID
    assert f"{cameras}:4: [[camera]] #1 max_fps: 400 is out of range" in text
    assert "1 problem in the cameras file" in text
