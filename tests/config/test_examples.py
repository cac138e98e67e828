"""The example configuration in config/ is what users copy: it must load and document every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relic_guard.config_load import _SPECS, load_config
from relic_guard.registry import load_registry
from sensors.model import Source

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def test_example_config_loads_cleanly() -> None:
    config = load_config(EXAMPLES / "relic-guard.toml", {})
    assert config.source_file == EXAMPLES / "relic-guard.toml"
    assert config.registry_dir == EXAMPLES
    assert config.ingest.batch_max_messages <= config.mqtt.receive_maximum


def test_example_config_loads_from_the_documented_relative_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES.parent)
    config = load_config(Path("config/relic-guard.toml"), {})
    assert config.registry_dir == EXAMPLES
    assert len(load_registry(config.registry_dir).sites) == 8


def test_example_config_mentions_every_key_with_a_comment() -> None:
    text = (EXAMPLES / "relic-guard.toml").read_text(encoding="utf-8")
    # Split into the top-level part and one part per [section].
    parts = re.split(r"^\[(\w+)\]$", text, flags=re.MULTILINE)
    bodies = {"": parts[0], **dict(zip(parts[1::2], parts[2::2], strict=True))}
    assert set(bodies) == set(_SPECS)
    for section, specs in _SPECS.items():
        paragraphs = re.split(r"\n\s*\n", bodies[section])
        for key in specs:
            found = [p for p in paragraphs if re.search(rf"^(# )?{key} = ", p, re.MULTILINE)]
            assert found, f"[{section}] {key} missing from the example"
            assert any(
                line.startswith("# ") and not re.match(rf"# {key} = ", line) for line in found[0].splitlines()
            ), f"[{section}] {key} has no comment"


def test_example_registry_loads() -> None:
    registry = load_registry(EXAMPLES)
    assert len(registry.sites) == 8
    assert {site.district for site in registry.sites.values()} == {"长清区", "历城区", "章丘区", "历下区"}
    chengziya = registry.sites["chengziya"]
    assert chengziya.name == "城子崖遗址"
    assert chengziya.boundary_wkt is not None and chengziya.boundary_wkt.startswith("POLYGON")
    assert registry.sites["sandefan-minju"].level == "一般不可移动文物"
    assert registry.sites["sandefan-minju"].custodians
    assert {device.source for device in registry.devices.values()} == set(Source)
    assert registry.resolve_external("dji", "7CTDM3D00B0J2R") == ("chengziya", "dock-01")
    assert registry.resolve_external("frigate", "lingyan_qianfodian") == ("lingyan-si", "cam-qianfodian-01")
    for site_id, _ in registry.devices:
        assert site_id in registry.sites
