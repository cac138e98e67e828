"""Loading thresholds.toml: the example loads against the registry; mistakes come back with file,
line and key, and say how to fix them."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.model import Audience, Category, Severity
from alerts.rules.thresholds import Op, ThresholdRule
from relic_guard.alerting.thresholds_load import load_thresholds
from relic_guard.errors import ConfigError
from relic_guard.registry import load_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "config"

SITES = {"lingyan-si", "jinan-museum"}
DEVICES = {("lingyan-si", "env-qianfodian-01"), ("jinan-museum", "env-storage-01"), ("jinan-museum", "env-hall1-01")}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, **registry: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_thresholds(path, **registry)  # type: ignore[arg-type]
    return caught.value.problems


def test_the_example_loads_against_the_registry() -> None:
    registry = load_registry(EXAMPLES)
    rules = load_thresholds(EXAMPLES / "thresholds.toml", sites=registry.sites, devices=registry.devices)
    by_name = {rule.name: rule for rule in rules}
    assert len(by_name) == len(rules) >= 4
    fire = by_name["temperature-fire"]
    assert (fire.metric, fire.op, fire.value, fire.for_s) == ("temperature_c", Op.GT, 60.0, 30.0)
    assert fire.severity is Severity.CRITICAL and fire.category is Category.FIRE
    assert Audience.CUSTODIANS in fire.audiences
    humid = by_name["humidity-high"]
    assert (humid.metric, humid.op, humid.value, humid.for_s, humid.severity) == (
        "humidity_pct",
        Op.GT,
        85.0,
        600.0,
        Severity.WARNING,
    )
    storage = by_name["storage-humidity-high"]
    assert storage.sites == {"jinan-museum"} and storage.devices == {"env-storage-01"} and storage.latch
    # Every metric the example names is one the simulator or the devices send.
    assert {rule.metric for rule in rules} <= {"temperature_c", "humidity_pct", "smoke_obscuration_pct", "battery_pct"}


def test_minimal_rule_gets_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, '[[threshold]]\nname = "t"\nmetric = "temperature_c"\nop = ">="\nvalue = 40\n')
    assert load_thresholds(path) == (ThresholdRule(name="t", metric="temperature_c", op=Op.GE, value=40.0),)


def test_every_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[threshold]]
name = "hall.temp-high_1"
metric = "temperature_c"
op = "!="
value = 21.5
for_s = 12.5
severity = "major"
category = "fire"
audiences = ["monitoring_center", "custodians", "custodians"]
sites = ["lingyan-si"]
devices = ["env-qianfodian-01"]
latch = true
label = "千佛殿温度"
""",
    )
    (rule,) = load_thresholds(path, sites=SITES, devices=DEVICES)
    assert rule == ThresholdRule(
        name="hall.temp-high_1",
        metric="temperature_c",
        op=Op.NE,
        value=21.5,
        for_s=12.5,
        severity=Severity.MAJOR,
        category=Category.FIRE,
        audiences=(Audience.MONITORING_CENTER, Audience.CUSTODIANS),
        sites=frozenset({"lingyan-si"}),
        devices=frozenset({"env-qianfodian-01"}),
        latch=True,
        label="千佛殿温度",
    )


def test_empty_file_has_no_rules(tmp_path: Path) -> None:
    assert load_thresholds(write(tmp_path, "# none yet\n")) == ()


HEAD = '[[threshold]]\nname = "t"\nmetric = "humidity_pct"\nop = ">"\nvalue = 85\n'

# Each case: file text, then the one expected problem (prefix), `{f}` for the file.
CASES = [
    pytest.param(
        HEAD.replace('op = ">"', 'op = "=>"'),
        '{f}:4: [[threshold]] #1 op: "=>" is not an operator; did you mean ">="? use one of ">", ">=", "<", "<=", '
        '"==", "!="',
        id="op-spelling",
    ),
    pytest.param(
        HEAD.replace('op = ">"', 'op = "gt"'),
        '{f}:4: [[threshold]] #1 op: "gt" is not an operator; did you mean ">"?',
        id="op-word",
    ),
    pytest.param(
        HEAD.replace('op = ">"', 'op = "~"'),
        '{f}:4: [[threshold]] #1 op: "~" is not an operator; use one of ">"',
        id="op-unknown",
    ),
    pytest.param(HEAD.replace('op = ">"\n', ""), '{f}:1: [[threshold]] #1 op: is missing; add op = one of ">"', id="op-missing"),
    pytest.param(HEAD.replace('op = ">"', "op = 1"), '{f}:4: [[threshold]] #1 op: must be a string in double quotes', id="op-number"),
    pytest.param(
        HEAD.replace("value = 85", 'value = "85"'),
        "{f}:5: [[threshold]] #1 value: expected a number, got '85'; write the number without quotes",
        id="value-quoted",
    ),
    pytest.param(
        HEAD.replace("value = 85", "value = nan"),
        "{f}:5: [[threshold]] #1 value: nan is not a finite number",
        id="value-nan",
    ),
    pytest.param(HEAD.replace("value = 85\n", ""), "{f}:1: [[threshold]] #1 value: is missing; add value =", id="value-missing"),
    pytest.param(HEAD.replace('name = "t"\n', ""), '{f}:1: [[threshold]] #1 name: is missing; add name = "…"', id="name-missing"),
    pytest.param(
        HEAD.replace('name = "t"', 'name = "温度"'),
        '{f}:2: [[threshold]] #1 name: "温度" is not a valid name; use 1–64 of A-Z a-z 0-9 _ . -',
        id="name-invalid",
    ),
    pytest.param(
        HEAD + "\n" + HEAD,
        '{f}:8: [[threshold]] #2 name: "t" is used twice (also on line 1); give each threshold its own name',
        id="name-duplicate",
    ),
    pytest.param(
        HEAD.replace('metric = "humidity_pct"', 'metric = "Humidity %"'),
        '{f}:3: [[threshold]] #1 metric: "Humidity %" is not a metric name; write it as the devices send it',
        id="metric-invalid",
    ),
    pytest.param(
        HEAD + "for_s = -1\n",
        "{f}:6: [[threshold]] #1 for_s: -1 is out of range; give a number of seconds ≥ 0",
        id="for-negative",
    ),
    pytest.param(
        HEAD + 'for_s = "30 s"\n',
        "{f}:6: [[threshold]] #1 for_s: expected seconds as a number, got '30 s'; write the number without quotes",
        id="for-units",
    ),
    pytest.param(
        HEAD + 'severity = "high"\n',
        '{f}:6: [[threshold]] #1 severity: "high" is not allowed; use one of "critical", "major"',
        id="severity",
    ),
    pytest.param(
        HEAD + 'category = "enviroment"\n',
        '{f}:6: [[threshold]] #1 category: "enviroment" is not allowed; did you mean "environment"?',
        id="category-typo",
    ),
    pytest.param(
        HEAD + "audiences = []\n",
        "{f}:6: [[threshold]] #1 audiences: is empty, so the alert would reach nobody",
        id="audiences-empty",
    ),
    pytest.param(
        HEAD + 'audiences = "custodians"\n',
        '{f}:6: [[threshold]] #1 audiences: must be a list; write audiences = ["custodians"]',
        id="audiences-string",
    ),
    pytest.param(
        HEAD + 'sites = "lingyan-si"\n',
        '{f}:6: [[threshold]] #1 sites: must be a list; write sites = ["lingyan-si"]',
        id="sites-string",
    ),
    pytest.param(
        HEAD + 'latch = "yes"\n',
        "{f}:6: [[threshold]] #1 latch: expected true or false, got 'yes'; write true or false without quotes",
        id="latch-string",
    ),
    pytest.param(
        HEAD + "duration_s = 30\n",
        "{f}:6: [[threshold]] #1 duration_s: unknown key 'duration_s'; did you mean 'for_s'?",
        id="unknown-key-alias",
    ),
    pytest.param(
        HEAD + "metrc = 1\n",
        "{f}:6: [[threshold]] #1 metrc: unknown key 'metrc'; did you mean 'metric'?",
        id="unknown-key-typo",
    ),
    pytest.param(
        HEAD + "colour = 1\n",
        "{f}:6: [[threshold]] #1 colour: unknown key 'colour'; the keys are: name, metric, op",
        id="unknown-key",
    ),
    pytest.param(
        HEAD.replace("[[threshold]]", "[[thresholds]]"),
        "{f}:1: thresholds: unknown table; did you mean [[threshold]]?",
        id="unknown-table",
    ),
    pytest.param(
        HEAD.replace("[[threshold]]", "[threshold]"),
        "{f}:1: [[threshold]]: must be a list of tables; write [[threshold]] (two brackets) above each rule",
        id="single-brackets",
    ),
    pytest.param(
        'metric = "x"\n' + HEAD,
        "{f}:1: metric: unknown key; a key outside any table; put it in a [[threshold]] table",
        id="key-outside-table",
    ),
    pytest.param(
        HEAD + 'sites = ["lingyan"]\n',
        '{f}:6: [[threshold]] #1 sites: no site "lingyan" in the registry, so the rule would never fire there; '
        'did you mean "lingyan-si"?',
        id="unknown-site",
    ),
    pytest.param(
        HEAD + 'sites = ["lingyan-si"]\ndevices = ["env-storage-01"]\n',
        '{f}:7: [[threshold]] #1 devices: no device "env-storage-01" at the rule\'s sites in the registry',
        id="device-at-another-site",
    ),
    pytest.param(
        HEAD + 'devices = ["env-nowhere"]\n',
        '{f}:6: [[threshold]] #1 devices: no device "env-nowhere" at any site in the registry',
        id="unknown-device",
    ),
    pytest.param(
        HEAD + "value = 90\n",
        "{f}:6:11: TOML syntax error: Cannot overwrite a value",
        id="syntax",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_problems_name_file_line_table_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    problems = problems_of(path, sites=SITES, devices=DEVICES)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected.format(f=path)), problems


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[threshold]]\nname = "a"\nmetric = "x"\nop = "=="\nvalue = "1"\n\n'
        '[[threshold]]\nname = "b"\nmetric = "y"\nop = "≥"\nvalue = 2\nseverity = "urgent"\n',
    )
    problems = problems_of(path)
    assert [problem.split(": ", 1)[0] for problem in problems] == [f"{path}:5", f"{path}:10", f"{path}:12"]


def test_without_a_registry_sites_and_devices_are_not_checked(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + 'sites = ["anywhere"]\ndevices = ["any-device"]\n')
    (rule,) = load_thresholds(path)
    assert rule.sites == {"anywhere"}


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert problems_of(missing) == [f"{missing}: no such file; give the path of the thresholds TOML file"]
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes("# 阈值\n".encode("gbk"))
    assert problems_of(gbk) == [f"{gbk}:1: not UTF-8 text; save the file as UTF-8"]
    bom = tmp_path / "bom.toml"
    bom.write_bytes(("\ufeff" + HEAD).encode("utf-8"))
    assert len(load_thresholds(bom)) == 1
