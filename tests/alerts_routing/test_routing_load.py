"""Loading routing.toml: the example loads and agrees with the registry; typical mistakes are
reported with file, line and key, and say how to fix them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.maintenance import WindowKind
from alerts.model import Audience, Category, Severity
from alerts.routing import route
from relic_guard.errors import ConfigError
from relic_guard.registry import load_registry
from relic_guard.routing_load import check_against_registry, load_routing

from .support import alert

CONFIG = Path(__file__).resolve().parents[2] / "config"

MINIMAL_HEAD = """\
[[recipient]]
id = "mc"
name = "监控中心"
audience = "monitoring_center"
channels = [{ kind = "email", target = "mc@example.cn" }]

[[route]]
recipients = ["mc"]
"""


def load_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = load_text(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_routing(path)
    return caught.value.problems


def test_the_example_loads_and_matches_the_registry() -> None:
    config = load_routing(CONFIG / "routing.toml")
    registry = load_registry(CONFIG)
    check_against_registry(config, registry.sites)
    assert config.group_wait_s == 5.0
    assert {r.audience for r in config.recipients} == set(Audience)
    fire = config.policies.for_alert(alert())
    assert fire is not None and fire.steps[0].after_s == 180
    assert {w.kind for w in config.windows} == {WindowKind.REPAIR, WindowKind.DRILL}
    # A confirmed fire at 城子崖 reaches the center, both custodians, and the agencies.
    made = alert(
        site="chengziya",
        audience=(
            Audience.MONITORING_CENTER,
            Audience.CUSTODIANS,
            Audience.FIRE_BRIGADE,
            Audience.POLICE,
            Audience.CULTURE_BUREAU,
        ),
    )
    ids = [r.id for r in route(made, registry.sites["chengziya"], config.rules, config.directory)]
    assert ids == ["jinan-jkzx", "custodian-liuhaiyan", "custodian-chenzhiqiang", "jinan-119", "jinan-110", "jinan-wwj"]
    # Looting at 城子崖 (章丘区, national): district police and law enforcement join.
    looting = alert(
        Category.DRONE, Severity.MAJOR, site="chengziya", audience=(Audience.MONITORING_CENTER, Audience.POLICE)
    )
    ids = [r.id for r in route(looting, registry.sites["chengziya"], config.rules, config.directory)]
    assert ids == ["jinan-jkzx", "jinan-110", "zhangqiu-police", "jinan-zhifa"]


def test_minimal_file_loads(tmp_path: Path) -> None:
    config = load_routing(load_text(tmp_path, MINIMAL_HEAD))
    assert [r.id for r in config.recipients] == ["mc"] and config.policies.policies == ()


@pytest.mark.parametrize(
    ("case", "body", "expected"),
    [
        (
            "audience typo",
            '[[recipient]]\nid = "110"\nname = "110"\naudience = "polise"\nchannels = [{ kind = "email", target = "a@b.cn" }]\n',
            [':13: [[recipient]] #2 audience: "polise" is not allowed; did you mean "police"?'],
        ),
        (
            "webhook without secret, channel on its own line",
            '[[recipient]]\nid = "119"\nname = "119"\naudience = "fire_brigade"\nchannels = [\n'
            '    { kind = "email", target = "a@b.cn" },\n    { kind = "webhook", target = "https://119.example.cn/hook" },\n]\n',
            [":16: [[recipient]] #2 channels[2] secret_ref: a webhook needs a signing secret"],
        ),
        (
            "secret written inline",
            '[[recipient]]\nid = "x"\nname = "x"\naudience = "police"\n'
            'channels = [{ kind = "webhook", target = "https://x.cn", secret = "hunter2" }]\n',
            [
                ":14: [[recipient]] #2 channels[1] secret: unknown key 'secret'; keep secrets out of this file",
                ":14: [[recipient]] #2 channels[1] secret_ref: a webhook needs a signing secret",
            ],
        ),
        (
            "sms as a channel kind",
            '[[recipient]]\nid = "x"\nname = "x"\naudience = "custodians"\nchannels = [{ kind = "sms", target = "138" }]\n',
            [
                ":14: [[recipient]] #2 channels[1] kind: 'sms' is not a channel; IM bots and SMS gateways go through apprise"
            ],
        ),
        (
            "duplicate id",
            '[[recipient]]\nid = "mc"\nname = "again"\naudience = "police"\nchannels = [{ kind = "email", target = "a@b.cn" }]\n',
            [':11: [[recipient]] #2 id: "mc" is used twice (also on line 1)'],
        ),
        (
            "route names an unknown recipient",
            '[[route]]\nname = "x"\nrecipients = ["mcc"]\n',
            [':12: [[route]] #2 recipients: no recipient has id "mcc"; did you mean "mc"?'],
        ),
        (
            "both severity keys",
            '[[route]]\nseverity = "critical"\nseverity_at_least = "major"\naudiences = ["police"]\n',
            [":12: [[route]] #2 severity_at_least: give either severity (exactly) or severity_at_least"],
        ),
        (
            "list written as a string",
            '[[route]]\ncategories = "fire"\naudiences = ["police"]\n',
            [':11: [[route]] #2 categories: must be a list; write categories = ["fire"]'],
        ),
        (
            "steps out of order",
            '[[escalation]]\ncategory = "fire"\nsteps = [\n  { after_s = 600, add_audiences = ["police"] },\n'
            '  { after_s = 300, add_audiences = ["fire_brigade"] },\n]\n',
            [":14: [[escalation]] #1 steps[2] after_s: 300 is not after the previous step (600)"],
        ),
        (
            "reminders without count",
            '[[escalation]]\nseverity = "critical"\nreminder_every_s = 60\n',
            [":12: [[escalation]] #1 reminder_every_s: reminders are set but max_reminders is 0"],
        ),
        (
            "seconds in quotes",
            '[[escalation]]\nreminder_every_s = "60"\nmax_reminders = 3\n',
            [
                ":11: [[escalation]] #1 reminder_every_s: expected seconds as a number, got '60'; write the number without quotes"
            ],
        ),
        (
            "maintenance without offset, ending before start",
            '[[maintenance]]\nsite = "lingyan-si"\nkind = "repair"\nstart = 2026-12-01T08:00:00\n'
            'end = 2026-11-01T08:00:00+08:00\nreason = "r"\nset_by = "p"\n',
            [":13: [[maintenance]] #1 start: has no UTC offset; add +08:00 for Beijing time"],
        ),
        (
            "maintenance ends before it starts",
            '[[maintenance]]\nsite = "lingyan-si"\nkind = "drill"\nstart = 2026-12-01T08:00:00+08:00\n'
            'end = 2026-11-01T08:00:00+08:00\nreason = "r"\nset_by = "p"\n',
            [":14: [[maintenance]] #1 end: the window ends before it starts"],
        ),
        (
            "unknown table with suggestion",
            '[[routes]]\nrecipients = ["mc"]\n',
            [":10: routes: unknown table; did you mean [[route]]?"],
        ),
        (
            "single brackets",
            '[maintenance]\nsite = "x"\n',
            [":10: [[maintenance]]: must be a list of tables; write [[maintenance]] (two brackets)"],
        ),
    ],
)
def test_typical_mistakes(tmp_path: Path, case: str, body: str, expected: list[str]) -> None:
    found = problems(tmp_path, MINIMAL_HEAD + "\n" + body)
    for want in expected:
        line, _, text = want.partition(": ")
        assert any(p.startswith(f"{tmp_path / 'routing.toml'}{line}: {text}") for p in found), (case, found)


def test_no_catch_all_monitoring_center_route(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL_HEAD.replace(
            '[[route]]\nrecipients = ["mc"]\n', '[[route]]\ncategories = ["fire"]\nrecipients = ["mc"]\n'
        ),
    )
    assert any("every alert must reach the 24-hour monitoring center" in p for p in found)


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    [found] = problems(tmp_path, MINIMAL_HEAD + '\n[[route]]\nname = "unclosed\n')
    assert found.startswith(f"{tmp_path / 'routing.toml'}:11:") and "TOML syntax error" in found


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL_HEAD + '\n[[route]]\nsites = "x"\naudiences = ["polise"]\n',
    )
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines) and len(found) == 2


def test_registry_cross_check(tmp_path: Path) -> None:
    text = (CONFIG / "routing.toml").read_text(encoding="utf-8")
    text = text.replace('name = "孙德福"', 'name = "孙德富"').replace(
        'districts = ["章丘区"]', 'districts = ["章邱区"]'
    )
    text = text.replace('site = "lingyan-si"', 'site = "lingyansi"')
    path = load_text(tmp_path, text)
    config = load_routing(path)
    with pytest.raises(ConfigError) as caught:
        check_against_registry(config, load_registry(CONFIG).sites)
    found = caught.value.problems
    assert any('no district "章邱区"' in p and 'did you mean "章丘区"?' in p and f"{path}:" in p for p in found), found
    assert any('no site "lingyansi"' in p and 'did you mean "lingyan-si"?' in p for p in found), found
    assert any('custodian "孙德福"' in p and 'name = "孙德福"' in p for p in found), found


def test_cross_check_finds_sites_without_an_agency(tmp_path: Path) -> None:
    config = load_routing(load_text(tmp_path, MINIMAL_HEAD))
    with pytest.raises(ConfigError) as caught:
        check_against_registry(config, load_registry(CONFIG).sites)
    assert any('site "lingyan-si" has no recipient for fire_brigade' in p for p in caught.value.problems)


def test_windows_parse_as_aware_datetimes() -> None:
    config = load_routing(CONFIG / "routing.toml")
    repair = config.windows[0]
    assert repair.start == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
