from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from relic_guard.errors import ConfigError
from relic_guard.patrols.model import DailyRule, NightRule, WhileOpenRule
from relic_guard.patrols.routes_load import load_routes
from relic_guard.registry import load_registry

from .support import SITE, FakeSite

CONFIG = Path(__file__).resolve().parents[2] / "config"
SITES = {SITE.id: SITE, "no-hours": FakeSite(id="no-hours", open_hours=None, custodians=())}

GOOD = """\
[[route]]
id = "xts-fire"
site = "xiaotangshan"
name = "防火巡查"

  [[route.frequency]]
  kind = "every_n_hours_while_open"
  every_h = 1.5

  [[route.frequency]]
  kind = "night"
  at = ["22:00", 02:00:00]
  tolerance_min = 60

  [[route.frequency]]
  kind = "daily"
  start = "08:00"
  end = "20:00"

  [[route.checkpoint]]
  id = "shanmen"
  name = "山门"
  code = "XTS-01"
  lat = 36.4231
  lon = 116.7647
  radius_m = 50

  [[route.checkpoint]]
  id = "kufang"
  name = "库房"
  code = "XTS-02"
"""


def load(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "patrols.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = load(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_routes(path, SITES)
    return [line.replace(f"{path}:", "L") for line in caught.value.problems]


def test_a_valid_file_loads(tmp_path: Path) -> None:
    [route] = load_routes(load(tmp_path, GOOD), SITES)
    assert route.custodians == ("赵玉梅",)  # from the site
    assert route.frequency == (
        WhileOpenRule(every_min=90),
        NightRule(at=(time(22), time(2)), tolerance_min=60),
        DailyRule(window_start=time(8), window_end=time(20)),
    )
    assert [c.code for c in route.checkpoints] == ["XTS-01", "XTS-02"]
    assert route.checkpoints[1].radius_m is None


def test_the_example_file_loads_against_the_shipped_registry() -> None:
    registry = load_registry(CONFIG)
    routes = load_routes(CONFIG / "patrols.example.toml", registry.sites)
    assert {route.site for route in routes} == {"lingyan-si", "xiaotangshan"}
    assert all(route.custodians for route in routes)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            ('site = "xiaotangshan"', 'site = "xiaotangshang"'),
            'L3: [[route]] #1 site: no site "xiaotangshang" in the registry; did you mean "xiaotangshan"?',
            id="unknown-site",
        ),
        pytest.param(
            ('code = "XTS-02"', 'code = "XTS-01"'),
            'L31: [[route]] #1 checkpoint[2] code: "XTS-01" is the code of the checkpoint at L20 too',
            id="duplicate-code",
        ),
        pytest.param(
            ("  radius_m = 50", "  radius = 50"),
            "L26: [[route]] #1 checkpoint[1] radius: unknown key 'radius'; did you mean 'radius_m'?",
            id="unknown-key",
        ),
        pytest.param(
            ("lat = 36.4231", 'lat = "36.4231"'),
            "L24: [[route]] #1 checkpoint[1] lat: expected a number",
            id="quoted-number",
        ),
        pytest.param(
            ('end = "20:00"', 'end = "07:00"'),
            "L18: [[route]] #1 frequency[3] end: the window ends before it starts",
            id="daily-backwards",
        ),
        pytest.param(
            ('at = ["22:00", 02:00:00]', 'at = ["22:00", "23:00"]'),
            "L12: [[route]] #1 frequency[2] at: the rounds at 22:00 and 23:00 overlap",
            id="night-overlap",
        ),
        pytest.param(
            ('at = ["22:00", 02:00:00]', 'at = ["22:00", "25:00"]'),
            'L12: [[route]] #1 frequency[2] at[2]: "25:00" is not a valid time of day',
            id="bad-time",
        ),
        pytest.param(
            ('kind = "daily"', 'kind = "dayly"'),
            "L16: [[route]] #1 frequency[3] kind: 'dayly' is not a frequency kind; did you mean \"daily\"?",
            id="bad-kind",
        ),
        pytest.param(
            ("every_h = 1.5", "every_h = 0.501"),
            "L8: [[route]] #1 frequency[1] every_h: 0.501 h is not a whole number of minutes",
            id="odd-interval",
        ),
        pytest.param(
            ('name = "防火巡查"', 'name = "防火巡查"\ncustodians = ["赵玉妹"]'),
            'L5: [[route]] #1 custodians: "赵玉妹" is not a custodian of site "xiaotangshan"',
            id="unknown-custodian",
        ),
    ],
)
def test_problems_name_file_line_and_place(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    found = problems(tmp_path, GOOD.replace(old, new, 1))
    assert any(line.startswith(expected) for line in found), found


def test_while_open_needs_opening_hours_and_every_problem_is_listed(tmp_path: Path) -> None:
    text = GOOD.replace('site = "xiaotangshan"', 'site = "no-hours"').replace('id = "kufang"', 'id = "bad id"')
    found = problems(tmp_path, text)
    assert found[0].startswith('L1: [[route]] #1: site "no-hours" names no custodians')
    assert found[1].startswith('L7: [[route]] #1 frequency[1] kind: site "no-hours" has no open_hours')
    assert any(line.startswith("L29: [[route]] #1 checkpoint[2] id:") for line in found)


def test_duplicate_route_ids_and_rule_kinds(tmp_path: Path) -> None:
    second = GOOD.replace("XTS-01", "XTS-11").replace("XTS-02", "XTS-12")
    found = problems(tmp_path, GOOD + "\n" + second)
    assert found == ['L34: [[route]] #2 id: "xts-fire" is used by the route at line 1 too; ids must be unique']
    again = '\n  [[route.frequency]]\n  kind = "daily"\n  start = "09:00"\n  end = "10:00"\n'
    found = problems(tmp_path, GOOD + again)
    assert found == [
        'L34: [[route]] #1 frequency[4] kind: a second "daily" rule on this route; merge them (a night rule takes several times)'
    ]


def test_syntax_errors_and_missing_files(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, GOOD.replace('name = "山门"', "name = 山门"))
    assert problem.startswith("L22:10:") and "TOML syntax error" in problem
    with pytest.raises(ConfigError, match="no such file"):
        load_routes(tmp_path / "missing.toml", SITES)
