"""check_config: exit code and text for `relic-guard check-config`."""

from __future__ import annotations

import shutil
from pathlib import Path

from relic_guard.check_config import check_config

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def copy_examples(tmp_path: Path) -> Path:
    for name in ("relic-guard.toml", "sites.csv", "devices.csv", "routing.toml", "thresholds.toml",
                 "patrols.example.toml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path / "relic-guard.toml"


def test_valid_configuration_prints_a_summary(tmp_path: Path) -> None:
    path = copy_examples(tmp_path)
    env = {
        "RELIC_GUARD_MQTT_URL": "mqtts://guard:s3cret@broker.jinan.example:8883",
        "RELIC_GUARD_DATABASE_URL": "postgresql://relic:pa55@db.jinan.example/relic",
    }
    code, text = check_config(path, env)
    assert code == 0, text
    assert "s3cret" not in text
    assert "pa55" not in text
    lines = text.splitlines()
    assert lines[0] == "configuration is valid"
    assert f"  config file  {path}" in lines
    assert "  mqtt broker  mqtts://guard:***@broker.jinan.example:8883 (TLS, system CAs)" in lines
    assert "  database     postgresql://relic:***@db.jinan.example/relic" in lines
    assert "  http listen  127.0.0.1:8080" in lines
    assert f"  registry     {tmp_path} (sites.csv, devices.csv)" in lines
    assert "  sites        8 sites in 4 districts: 长清区 3, 章丘区 2, 历下区 2, 历城区 1" in lines
    assert any(line.startswith("  devices      41 devices: fire ") for line in lines)
    assert not any("note:" in line for line in lines)


def test_defaults_without_database_url_mention_it(tmp_path: Path) -> None:
    copy_examples(tmp_path)
    code, text = check_config(None, {"RELIC_GUARD_REGISTRY": str(tmp_path)})
    assert code == 0, text
    assert "  config file  none (built-in defaults)" in text
    assert "database     not set (`run` needs RELIC_GUARD_DATABASE_URL; `demo` starts its own)" in text


def test_configuration_problems_exit_2_with_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "relic-guard.toml"
    path.write_text('[ingest]\nbatchsize = 10\n\n[http]\nlisten = "nowhere"\n', encoding="utf-8")
    code, text = check_config(path, {"RELIC_GUARD_MQTT_URL": "http://u:hunter2@broker"})
    assert code == 2
    lines = text.splitlines()
    assert lines[0].startswith(f"{path}:2: [ingest] batchsize: unknown key 'batchsize'")
    assert lines[1].startswith(f"{path}:5: [http] listen: 'nowhere' is not host:port")
    assert lines[2].startswith("environment variable RELIC_GUARD_MQTT_URL: [mqtt] url: scheme 'http://'")
    assert lines[3] == "check-config: 3 problems in the configuration; nothing was changed"
    assert "hunter2" not in text


def test_registry_problems_exit_2(tmp_path: Path) -> None:
    path = copy_examples(tmp_path)
    devices = tmp_path / "devices.csv"
    devices.write_text(
        devices.read_text(encoding="utf-8") + "lingyan-si,cam-x,camera,ipc,大殿,,\n", encoding="utf-8"
    )
    code, text = check_config(path, {})
    assert code == 2
    assert text.splitlines() == [
        f"{devices}:43: source: 'camera' is not a source; did you mean 'video'? Use one of fire, video, "
        "drone, patrol, security, env",
        "check-config: 1 problem in the registry; nothing was changed",
    ]


def test_notes_for_drone_without_boundary_and_site_without_devices(tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text(
        "id,name,district,level,kind\n"
        "chengziya,城子崖遗址,章丘区,全国重点文物保护单位,古遗址\n"
        "empty-site,空站点,历下区,市级,古建筑\n",
        encoding="utf-8",
    )
    (tmp_path / "devices.csv").write_text(
        "site,id,source,external_id\nchengziya,dock-01,drone,7CTDM3D00B0J2R\n", encoding="utf-8"
    )
    code, text = check_config(None, {"RELIC_GUARD_REGISTRY": str(tmp_path)})
    assert code == 0, text
    assert "note: site chengziya (城子崖遗址) has drones but no boundary_wkt" in text
    assert "note: site empty-site (空站点) has no devices and does not auto-register" in text
    assert "  devices      1 device: drone 1" in text
