"""The alert engine's configuration: threshold rules from their TOML file, and the engine
settings and delivery retry policy from `[alerts]` (`engine_settings`, `retry_policy`).

The thresholds file holds one `[[threshold]]` table per rule (see `config/thresholds.toml`):

    [[threshold]]
    name = "hall-temperature-high"     # unique; the alert's rule is threshold.<name>
    metric = "temperature_c"           # as the devices send it (CONTRACT §1 metric names)
    op = ">"                           # > >= < <= == !=
    value = 60
    for_s = 30                         # how long the breach must last (0: at once)
    severity = "critical"              # default "warning"
    category = "fire"                  # default "environment"
    audiences = ["monitoring_center", "custodians"]
    sites = ["lingyan-si"]             # default: every site
    devices = ["env-qianfodian-01"]    # default: every device of those sites
    latch = true                       # stay open after recovery until someone resolves it
    label = "殿内温度过高"              # shown before the site name in the title

`load_thresholds(path)` either returns every rule or raises one `ConfigError` listing every
problem, phrased like those of `relic_guard.routing_load` (whose line scanner and value readers
it shares): `file:line: [[threshold]] #n key: what is wrong; how to fix it`. Given the registry's
sites and devices, it also reports rules naming a site or device that does not exist: such a
rule would silently never fire.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from alerts.channels.base import RetryPolicy
from alerts.model import Audience, Category, Severity
from alerts.rules.common import EngineSettings
from alerts.rules.thresholds import Op, ThresholdRule
from relic_guard import routing_load, toml_tables
from relic_guard.config import AlertsConfig
from relic_guard.routing_load import ID_PATTERN, Path_, _enum, _enum_list, _number, _Problems, _string, _string_list
from sensors.payload import METRIC_NAME

TABLE: Final = "threshold"
KEYS: Final = (
    "name",
    "metric",
    "op",
    "value",
    "for_s",
    "severity",
    "category",
    "audiences",
    "sites",
    "devices",
    "latch",
    "label",
)
# Names people reach for, mapped to the key (or table) that does the job.
_ALIASES: Final[dict[str, str]] = {
    "thresholds": TABLE,
    "rule": TABLE,
    "rules": TABLE,
    "id": "name",
    "channel": "metric",
    "field": "metric",
    "operator": "op",
    "comparison": "op",
    "limit": "value",
    "threshold": "value",
    "duration": "for_s",
    "duration_s": "for_s",
    "for": "for_s",
    "hold_s": "for_s",
    "level": "severity",
    "priority": "severity",
    "audience": "audiences",
    "site": "sites",
    "device": "devices",
    "sticky": "latch",
    "title": "label",
}
# Operators as people write them elsewhere (spreadsheets, SQL, maths, Fortran).
_OP_SPELLINGS: Final[dict[str, Op]] = {
    "=": Op.EQ,
    "<>": Op.NE,
    "≠": Op.NE,
    "≥": Op.GE,
    "=>": Op.GE,
    "≤": Op.LE,
    "=<": Op.LE,
    "gt": Op.GT,
    "ge": Op.GE,
    "gte": Op.GE,
    "lt": Op.LT,
    "le": Op.LE,
    "lte": Op.LE,
    "eq": Op.EQ,
    "ne": Op.NE,
}


def engine_settings(alerts: AlertsConfig) -> EngineSettings:
    """The rule engine's settings from `[alerts]` (the rest keep the engine's defaults)."""
    return EngineSettings(
        fire_confirm_window_s=alerts.fire_confirm_window_s,
        site_unreachable_min_devices=alerts.site_unreachable_min_devices,
    )


def retry_policy(alerts: AlertsConfig) -> RetryPolicy:
    """How each delivery is retried, from `[alerts] delivery_*` (the timeout goes to the channels)."""
    return RetryPolicy(
        max_attempts=alerts.delivery_max_attempts,
        base_delay_s=alerts.delivery_base_delay_s,
        max_delay_s=alerts.delivery_max_delay_s,
    )


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    return routing_load._suggest(word, candidates, _ALIASES)


def load_thresholds(
    path: Path,
    sites: Collection[str] | None = None,
    devices: Collection[tuple[str, str]] | None = None,
) -> tuple[ThresholdRule, ...]:
    """Read and validate `path`; raise ConfigError listing every problem found.

    `sites` (ids) and `devices` ((site, device) pairs), when given, are the registry's: a rule
    naming one that is not there is a problem too.
    """
    return toml_tables.load(
        path,
        "thresholds",
        lambda document, problems: tuple(_build(document, problems, sites, devices)),
        tables=(TABLE,),
        syntax_table=TABLE,
    )


def _build(
    document: Mapping[str, Any],
    problems: _Problems,
    sites: Collection[str] | None,
    devices: Collection[tuple[str, str]] | None,
) -> list[ThresholdRule]:
    for name, value in document.items():
        if name == TABLE:
            if not isinstance(value, list):
                problems.add((name,), f"must be a list of tables; write [[{TABLE}]] (two brackets) above each rule")
            continue
        suggestion = _suggest(name, (TABLE,))
        hint = f"did you mean [[{TABLE}]]?" if suggestion else f"the file holds only [[{TABLE}]] tables"
        if not isinstance(value, dict | list):
            hint = f"a key outside any table; put it in a [[{TABLE}]] table (below its header)"
        problems.add((name,), f"unknown {'table' if isinstance(value, dict | list) else 'key'}; {hint}")

    entries = document.get(TABLE, [])
    if not isinstance(entries, list):
        return []
    rules: list[ThresholdRule] = []
    first: dict[str, int] = {}
    for index, entry in enumerate(entries):
        at: Path_ = (TABLE, index)
        if not isinstance(entry, dict):
            problems.add(at, f"must be a table; write [[{TABLE}]] and key = value lines below it")
            continue
        toml_tables.unknown_keys(entry, KEYS, at, problems, _ALIASES, listing="the keys are")
        rule = _rule(entry, at, problems)
        if rule is None:
            continue
        if rule.name in first:
            other = problems.line_of((TABLE, first[rule.name]))
            problems.add(
                (*at, "name"),
                f'"{rule.name}" is used twice (also on line {other}); give each threshold its own name '
                f"(alerts are keyed by it: threshold.{rule.name})",
            )
            continue
        first[rule.name] = index
        _check_registry(rule, at, problems, sites, devices)
        rules.append(rule)
    return rules


def _rule(entry: Mapping[str, Any], at: Path_, problems: _Problems) -> ThresholdRule | None:
    ok = True
    name = _string(entry, "name", at, problems, required=True)
    if name is not None and not ID_PATTERN.fullmatch(name):
        problems.add((*at, "name"), f'"{name}" is not a valid name; use 1–64 of A-Z a-z 0-9 _ . -')
        name = None
    metric = _string(entry, "metric", at, problems, required=True)
    if metric is not None and not METRIC_NAME.fullmatch(metric):
        problems.add(
            (*at, "metric"),
            f'"{metric}" is not a metric name; write it as the devices send it: 1–64 of a-z 0-9 _, '
            'like "temperature_c" or "humidity_pct"',
        )
        metric = None
    op = _op(entry, at, problems)
    value = _value(entry, at, problems)

    for_s = 0.0
    if "for_s" in entry:
        seconds = _number(entry["for_s"], (*at, "for_s"), problems, minimum=0.0, example="30")
        ok = ok and seconds is not None
        for_s = seconds if seconds is not None else 0.0

    severity = Severity.WARNING
    if "severity" in entry:
        found_severity = _enum(entry["severity"], Severity, (*at, "severity"), problems)
        ok = ok and found_severity is not None
        severity = found_severity or severity
    category = Category.ENVIRONMENT
    if "category" in entry:
        found_category = _enum(entry["category"], Category, (*at, "category"), problems)
        ok = ok and found_category is not None
        category = found_category or category

    audiences: tuple[Audience, ...] = (Audience.MONITORING_CENTER,)
    if "audiences" in entry:
        before = len(problems.items)
        audiences = _enum_list(entry, "audiences", Audience, at, problems)
        if len(problems.items) > before:
            ok = False
        elif not audiences:
            problems.add(
                (*at, "audiences"),
                'is empty, so the alert would reach nobody; list who must hear of it, like ["monitoring_center"] '
                "(or leave the key out for the monitoring center only)",
            )
            ok = False

    before = len(problems.items)
    site_ids = _string_list(entry, "sites", at, problems)
    device_ids = _string_list(entry, "devices", at, problems)
    ok = ok and len(problems.items) == before

    latch = entry.get("latch", False)
    if not isinstance(latch, bool):
        hint = "write true or false without quotes" if isinstance(latch, str) else "write true or false"
        problems.add((*at, "latch"), f"expected true or false, got {latch!r}; {hint}")
        ok = False
    label = None
    if "label" in entry:
        label = _string(entry, "label", at, problems, required=False)
        ok = ok and label is not None

    if not ok or name is None or metric is None or op is None or value is None:
        return None
    return ThresholdRule(
        name=name,
        metric=metric,
        op=op,
        value=value,
        for_s=for_s,
        severity=severity,
        category=category,
        audiences=audiences,
        sites=frozenset(site_ids),
        devices=frozenset(device_ids),
        latch=bool(latch),
        label=label,
    )


def _op(entry: Mapping[str, Any], at: Path_, problems: _Problems) -> Op | None:
    choices = ", ".join(f'"{op.value}"' for op in Op)
    if "op" not in entry:
        problems.add((*at, "op"), f"is missing; add op = one of {choices}")
        return None
    raw = entry["op"]
    if isinstance(raw, str):
        text = raw.strip()
        if text in {op.value for op in Op}:
            return Op(text)
        meant = _OP_SPELLINGS.get(text.lower())
        hint = f'did you mean "{meant.value}"? ' if meant is not None else ""
        problems.add((*at, "op"), f'"{raw}" is not an operator; {hint}use one of {choices}')
        return None
    problems.add((*at, "op"), f'must be a string in double quotes, like op = ">"; use one of {choices}')
    return None


def _value(entry: Mapping[str, Any], at: Path_, problems: _Problems) -> float | None:
    if "value" not in entry:
        problems.add((*at, "value"), "is missing; add value = <the limit, in the metric's unit>, like value = 60")
        return None
    raw = entry["value"]
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        hint = "write the number without quotes" if isinstance(raw, str) else "write a number"
        problems.add((*at, "value"), f"expected a number, got {raw!r}; {hint}, like value = 60")
        return None
    if not math.isfinite(raw):
        problems.add((*at, "value"), f"{raw} is not a finite number; give the limit, like value = 60")
        return None
    return float(raw)


def _check_registry(
    rule: ThresholdRule,
    at: Path_,
    problems: _Problems,
    sites: Collection[str] | None,
    devices: Collection[tuple[str, str]] | None,
) -> None:
    if sites is not None:
        known = sorted(sites)
        for site in sorted(rule.sites):
            if site not in sites:
                close = difflib.get_close_matches(site, known, n=1, cutoff=0.5)
                hint = f'did you mean "{close[0]}"?' if close else "use an id from sites.csv"
                problems.add(
                    (*at, "sites"), f'no site "{site}" in the registry, so the rule would never fire there; {hint}'
                )
    if devices is not None:
        scope = [(site, device) for site, device in devices if not rule.sites or site in rule.sites]
        in_scope = {device for _, device in scope}
        for device in sorted(rule.devices):
            if device not in in_scope:
                where = "the rule's sites" if rule.sites else "any site"
                close = difflib.get_close_matches(device, sorted(in_scope), n=1, cutoff=0.5)
                hint = f'did you mean "{close[0]}"?' if close else "use a device id from devices.csv"
                problems.add(
                    (*at, "devices"),
                    f'no device "{device}" at {where} in the registry, so the rule would never fire for it; {hint}',
                )
