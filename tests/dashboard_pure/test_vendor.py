from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "relic_guard" / "dashboard"
STATIC = DASHBOARD / "static"
UPLOT = STATIC / "vendor" / "uplot"


def test_uplot_files_are_vendored_with_their_licence() -> None:
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):
        assert (UPLOT / name).stat().st_size > 0, name
    licence = (UPLOT / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Leon Sorokin" in licence


def test_readme_names_the_version_the_script_carries() -> None:
    banner = (UPLOT / "uPlot.iife.min.js").read_text(encoding="utf-8")[:200]
    found = re.search(r"\(v(\d+\.\d+\.\d+)\)", banner)
    assert found, banner
    version = found.group(1)
    readme = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    assert f"| {version} |" in readme
    assert f"npm pack uplot@{version}" in readme


def test_our_script_fetches_nothing_from_outside() -> None:
    script = (STATIC / "charts.js").read_text(encoding="utf-8")
    assert not re.search(r"https?://", script)
    assert 'mode: "same-origin"' in script


def test_package_data_ships_every_static_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["*"]
    shipped = {path for pattern in patterns for path in DASHBOARD.glob(pattern) if path.is_file()}
    wanted = {path for path in STATIC.rglob("*") if path.is_file()}
    assert wanted - shipped == set()
