"""Load `routing.toml`: recipients, routing rules, escalation policies, maintenance windows.

The file holds arrays of tables (`[[recipient]]`, `[[route]]`, `[[escalation]]`,
`[[maintenance]]`) and one top-level key (`group_wait_s`); see `config/routing.toml` for a
worked example. `load_routing(path)` either returns a fully valid `RoutingConfig` or raises
one `ConfigError` listing every problem, each phrased like those of `relic_guard.config_load`:
`file:line: [[table]] #n key: what is wrong; how to fix it`.

`check_against_registry(config, sites)` is the second half of validation, run once the
registry is loaded too (`check-config`, start-up): every custodian named in `sites.csv`
must map to a `[[recipient]]` with `audience = "custodians"` and that `name` (an unmapped
custodian is an error, not a warning: they would silently never get their site's fire
alarm); every site, district and protection level a route or window names must exist; and
every site must have a recipient for each agency audience, or a confirmed fire there would
reach nobody at the fire brigade.

Secrets never live in this file: a channel names its secret with `secret_ref`
(`env:VARIABLE` or `file:/path`), and the dispatcher resolves it when it sends.

tomllib gives no positions, so `_scan` reads the text once to find the line of every table
header, key and inline-table element; good enough for configuration files.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

from alerts.escalation import EscalationPolicy, EscalationStep, PolicyTable
from alerts.grouping import DEFAULT_WAIT_S
from alerts.maintenance import MaintenanceWindow, WindowKind
from alerts.model import Audience, Category, Severity
from alerts.routing import CHANNEL_KINDS, ChannelTarget, Directory, Recipient, RouteMatch, RoutingRule
from alerts.routing import Site as SiteFacts
from relic_guard.config_load import mask_url
from relic_guard.errors import ConfigError

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SECRET_REF: Final = re.compile(r"env:[A-Za-z_][A-Za-z0-9_]*|file:.+")
AGENCY_AUDIENCES: Final = (
    Audience.FIRE_BRIGADE,
    Audience.POLICE,
    Audience.CULTURE_BUREAU,
    Audience.LAW_ENFORCEMENT,
)

_TABLES: Final = ("recipient", "route", "escalation", "maintenance")
_TOP_KEYS: Final = ("group_wait_s",)
_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "recipient": ("id", "name", "audience", "channels", "fallback"),
    "channel": ("kind", "target", "secret_ref"),
    "route": (
        "name",
        "sites",
        "districts",
        "levels",
        "categories",
        "severity",
        "severity_at_least",
        "audiences",
        "recipients",
    ),
    "escalation": ("category", "severity", "steps", "reminder_every_s", "max_reminders"),
    "step": ("after_s", "add_audiences"),
    "maintenance": ("site", "kind", "start", "end", "reason", "set_by"),
}
# Names people reach for, mapped to the key that does the job.
_ALIASES: Final[dict[str, str]] = {
    "recipients": "recipient",
    "routes": "route",
    "routing": "route",
    "rule": "route",
    "rules": "route",
    "escalations": "escalation",
    "policy": "escalation",
    "windows": "maintenance",
    "window": "maintenance",
    "maintenance_window": "maintenance",
    "secret": "secret_ref",
    "url": "target",
    "address": "target",
    "type": "kind",
    "site": "sites",
    "district": "districts",
    "level": "levels",
    "category": "categories",
    "min_severity": "severity_at_least",
    "audience": "audiences",
    "to": "recipients",
    "delay_s": "after_s",
    "after": "after_s",
    "audiences": "add_audiences",
    "remind_every_s": "reminder_every_s",
    "reminder_s": "reminder_every_s",
    "from": "start",
    "until": "end",
    "by": "set_by",
}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingConfig:
    recipients: tuple[Recipient, ...]
    directory: Directory
    rules: tuple[RoutingRule, ...]
    policies: PolicyTable
    windows: tuple[MaintenanceWindow, ...]
    group_wait_s: float = DEFAULT_WAIT_S
    source_file: Path | None = None
    # Where things were written, for the registry cross-check: ("route", 0) -> "file:12".
    locations: Mapping[Path_, str] = field(default_factory=lambda: MappingProxyType({}))


# Problems ------------------------------------------------------------------------------


class _Problems:
    # `tables`: the file's lists of tables, labelled `[[name]] #n` (the side files name theirs).
    def __init__(self, path: Path, lines: Mapping[Path_, int], tables: Collection[str] = _TABLES) -> None:
        self.path = path
        self.lines = lines
        self.tables = tables
        self._found: list[tuple[int, int, str]] = []

    def line_of(self, at: Path_) -> int | None:
        for depth in range(len(at), 0, -1):
            line = self.lines.get(at[:depth])
            if line is not None:
                return line
        return None

    def where(self, at: Path_) -> str:
        line = self.line_of(at)
        return f"{self.path}:{line}" if line else str(self.path)

    def add(self, at: Path_, message: str) -> None:
        line = self.line_of(at) or 0
        self._found.append((line, len(self._found), f"{self.where(at)}: {_label(at, self.tables)}: {message}"))

    @property
    def items(self) -> list[str]:
        return [text for _, _, text in sorted(self._found)]


def _label(at: Path_, tables: Collection[str] = _TABLES) -> str:
    """("recipient", 2, "channels", 0, "target") -> '[[recipient]] #3 channels[1] target'."""
    if not at:
        return "file"
    head, *rest = at
    if head in tables:
        text = f"[[{head}]]"
        if rest and isinstance(rest[0], int):
            text += f" #{rest[0] + 1}"
            rest = rest[1:]
    else:
        text = str(head)
    for part in rest:
        text += f"[{part + 1}]" if isinstance(part, int) else f" {part}"
    return text


def _suggest(word: str, candidates: Iterable[str], aliases: Mapping[str, str] | None = None) -> str | None:
    """The candidate `word` was probably meant to be: a known alias, else the closest spelling."""
    options = list(candidates)
    alias = (_ALIASES if aliases is None else aliases).get(word.lower())
    if alias in options:
        return alias
    found = difflib.get_close_matches(word.lower(), options, n=1, cutoff=0.6)
    return found[0] if found else None


def _choices(values: Iterable[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


E = TypeVar("E", bound=StrEnum)


# Loading ---------------------------------------------------------------------------------


def read_config_text(path: Path, what: str) -> str:
    """The text of a configuration file (UTF-8, a BOM dropped), or ConfigError saying why not.
    `what` names the file for a person: "routing", "thresholds"."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file; give the path of the {what} TOML file"]) from None
    except OSError as error:
        raise ConfigError(
            [f"{path}: cannot read the file ({error.strerror}); check that this user may read it"]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError([f"{path}:{line}: not UTF-8 text; save the file as UTF-8"]) from None
    return text.removeprefix("\ufeff")


def load_routing(path: Path) -> RoutingConfig:
    """Read and validate `path`; raise ConfigError listing every problem found."""
    text = read_config_text(path, "routing")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([_syntax_problem(path, str(error))]) from None
    problems = _Problems(path, _scan(text))
    config = _build(document, problems)
    if problems.items:
        raise ConfigError(problems.items)
    locations: dict[Path_, str] = {at: problems.where(at) for at in problems.lines if len(at) == 2}
    return RoutingConfig(
        recipients=config.recipients,
        directory=config.directory,
        rules=config.rules,
        policies=config.policies,
        windows=config.windows,
        group_wait_s=config.group_wait_s,
        source_file=path,
        locations=MappingProxyType(locations),
    )


def _syntax_problem(path: Path, message: str, table: str = "recipient") -> str:
    """A person's wording of tomllib's `message`; `table` is the list of tables its example names."""
    where = str(path)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        where = f"{path}:{match.group(1)}:{match.group(2)}"
        message = message[: match.start()]
    if message.startswith("Invalid value"):
        fix = "put strings in double quotes, write true/false in lower case, numbers without units"
    elif message.startswith(("Cannot declare", "Cannot overwrite", "Cannot mutate")):
        fix = (
            f"a key or table appears twice; keep one (write [[{table}]] with two brackets for each "
            "further entry of a list of tables)"
        )
    elif message.startswith("Expected '=' after a key"):
        fix = "write each setting as key = value"
    else:
        fix = "fix the TOML syntax at that place"
    return f"{where}: TOML syntax error: {message}; {fix}"


def _build(document: dict[str, Any], problems: _Problems) -> RoutingConfig:
    group_wait_s = DEFAULT_WAIT_S
    for name, value in document.items():
        if name in _TABLES:
            if not isinstance(value, list):
                problems.add(
                    (name,),
                    f"must be a list of tables; write [[{name}]] (two brackets) above each entry",
                )
        elif name == "group_wait_s":
            wait = _number(value, (name,), problems, minimum=0.0, example="5")
            if wait is not None:
                group_wait_s = wait
        else:
            suggestion = _suggest(name, (*_TABLES, *_TOP_KEYS))
            hint = (
                f"did you mean {'[[' + suggestion + ']]' if suggestion in _TABLES else suggestion}?"
                if suggestion
                else "the file holds [[recipient]], [[route]], [[escalation]], [[maintenance]] and group_wait_s"
            )
            problems.add((name,), f"unknown {'table' if isinstance(value, dict | list) else 'key'}; {hint}")

    def entries(name: str) -> list[tuple[int, dict[str, Any]]]:
        value = document.get(name, [])
        if not isinstance(value, list):
            return []
        found: list[tuple[int, dict[str, Any]]] = []
        for index, entry in enumerate(value):
            if isinstance(entry, dict):
                _unknown_keys(entry, name, (name, index), problems)
                found.append((index, entry))
            else:
                problems.add((name, index), f"must be a table; write [[{name}]] and key = value lines below it")
        return found

    recipients = _recipients(entries("recipient"), problems)
    directory = Directory.of(recipients)
    rules = _routes(entries("route"), directory, problems)
    policies = _policies(entries("escalation"), problems)
    windows = _windows(entries("maintenance"), problems)
    return RoutingConfig(
        recipients=tuple(recipients),
        directory=directory,
        rules=tuple(rules),
        policies=PolicyTable(tuple(policies)),
        windows=tuple(windows),
        group_wait_s=group_wait_s,
    )


def _unknown_keys(entry: Mapping[str, Any], kind: str, at: Path_, problems: _Problems) -> None:
    known = _KEYS[kind]
    for key in entry:
        if key in known:
            continue
        suggestion = _suggest(key, known)
        if key.lower() in {"secret", "password", "token", "key"}:
            hint = (
                "keep secrets out of this file: put the secret in an environment variable and write "
                'secret_ref = "env:VARIABLE" (or "file:/path/to/secret")'
            )
        elif suggestion:
            hint = f"did you mean '{suggestion}'?"
        else:
            hint = f"the keys are: {', '.join(known)}"
        problems.add((*at, key), f"unknown key '{key}'; {hint}")


# Value readers: each returns None after recording a problem ------------------------------


def _string(entry: Mapping[str, Any], key: str, at: Path_, problems: _Problems, *, required: bool) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            problems.add((*at, key), f'is missing; add {key} = "…"')
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add((*at, key), f'must be a non-empty string in double quotes, like {key} = "…"')
        return None
    return value.strip()


def _enum(value: Any, enum: type[E], at: Path_, problems: _Problems) -> E | None:
    names = [member.value for member in enum]
    if isinstance(value, str) and value in names:
        return enum(value)
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    suggestion = _suggest(str(value), names) if isinstance(value, str) else None
    hint = f'did you mean "{suggestion}"?' if suggestion else f"use one of {_choices(names)}"
    problems.add(at, f"{shown} is not allowed; {hint}")
    return None


def _enum_list(entry: Mapping[str, Any], key: str, enum: type[E], at: Path_, problems: _Problems) -> tuple[E, ...]:
    value = entry.get(key, [])
    if isinstance(value, str):
        problems.add((*at, key), f'must be a list; write {key} = ["{value}"]')
        return ()
    if not isinstance(value, list):
        problems.add((*at, key), f'must be a list of strings, like {key} = ["…"]')
        return ()
    found: list[E] = []
    for item in value:
        member = _enum(item, enum, (*at, key), problems)
        if member is not None and member not in found:
            found.append(member)
    return tuple(found)


def _string_list(entry: Mapping[str, Any], key: str, at: Path_, problems: _Problems) -> tuple[str, ...]:
    value = entry.get(key, [])
    if isinstance(value, str):
        problems.add((*at, key), f'must be a list; write {key} = ["{value}"]')
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        problems.add((*at, key), f'must be a list of non-empty strings, like {key} = ["…"]')
        return ()
    return tuple(dict.fromkeys(item.strip() for item in value))


def _number(value: Any, at: Path_, problems: _Problems, *, minimum: float, example: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = "write the number without quotes" if isinstance(value, str) else "write a number"
        problems.add(at, f"expected seconds as a number, got {value!r}; {hint}, like {example}")
        return None
    if not math.isfinite(value) or value < minimum:
        problems.add(at, f"{value} is out of range; give a number of seconds ≥ {minimum:g}, like {example}")
        return None
    return float(value)


# Recipients --------------------------------------------------------------------------------


def _recipients(entries: list[tuple[int, dict[str, Any]]], problems: _Problems) -> list[Recipient]:
    recipients: list[Recipient] = []
    first_id: dict[str, int] = {}
    first_custodian: dict[str, int] = {}
    for index, entry in entries:
        at: Path_ = ("recipient", index)
        recipient_id = _string(entry, "id", at, problems, required=True)
        name = _string(entry, "name", at, problems, required=True)
        audience = None
        if "audience" not in entry:
            problems.add((*at, "audience"), f"is missing; add audience = one of {_choices(a.value for a in Audience)}")
        else:
            audience = _enum(entry["audience"], Audience, (*at, "audience"), problems)
        if recipient_id is not None:
            if not ID_PATTERN.fullmatch(recipient_id):
                problems.add((*at, "id"), f'"{recipient_id}" is not a valid id; use 1–64 of A-Z a-z 0-9 _ . -')
                recipient_id = None
            elif recipient_id in first_id:
                other = problems.line_of(("recipient", first_id[recipient_id]))
                problems.add(
                    (*at, "id"),
                    f'"{recipient_id}" is used twice (also on line {other}); give each recipient its own id',
                )
                recipient_id = None
            else:
                first_id[recipient_id] = index
        if audience is Audience.CUSTODIANS and name is not None:
            if name in first_custodian:
                other = problems.line_of(("recipient", first_custodian[name]))
                problems.add(
                    (*at, "name"),
                    f'custodian "{name}" is listed twice (also on line {other}); sites.csv names custodians by '
                    "name, so each custodian needs one entry with all their channels (tell namesakes apart in "
                    "sites.csv, e.g. 王建国（灵岩寺）)",
                )
            else:
                first_custodian[name] = index
        channels = _channels(entry, "channels", at, problems, required=True)
        fallback = _channels(entry, "fallback", at, problems, required=False)
        if recipient_id is not None and name is not None and audience is not None and channels is not None:
            recipients.append(
                Recipient(
                    id=recipient_id,
                    name=name,
                    audience=audience,
                    channels=channels,
                    fallback=fallback or (),
                )
            )
    return recipients


def _channels(
    entry: Mapping[str, Any], key: str, at: Path_, problems: _Problems, *, required: bool
) -> tuple[ChannelTarget, ...] | None:
    value = entry.get(key)
    example = f'{key} = [{{ kind = "webhook", target = "https://…", secret_ref = "env:…" }}]'
    if value is None:
        if required:
            problems.add((*at, key), f"is missing; list how to reach this recipient, like {example}")
        return None
    if not isinstance(value, list) or (required and not value):
        problems.add((*at, key), f"must be a non-empty list of tables, like {example}")
        return None
    targets: list[ChannelTarget] = []
    ok = True
    for position, item in enumerate(value):
        item_at: Path_ = (*at, key, position)
        if not isinstance(item, dict):
            problems.add(item_at, 'must be a table like { kind = "email", target = "duty@example.cn" }')
            ok = False
            continue
        _unknown_keys(item, "channel", item_at, problems)
        target = _channel(item, item_at, problems)
        if target is None:
            ok = False
        else:
            targets.append(target)
    return tuple(targets) if ok else None


def _channel(item: Mapping[str, Any], at: Path_, problems: _Problems) -> ChannelTarget | None:
    if "kind" not in item:
        problems.add((*at, "kind"), f"is missing; add kind = one of {_choices(CHANNEL_KINDS)}")
        return None
    kind = item["kind"]
    if kind not in CHANNEL_KINDS:
        suggestion = _suggest(str(kind), CHANNEL_KINDS)
        hint = f'did you mean "{suggestion}"?' if suggestion else f"use one of {_choices(CHANNEL_KINDS)}"
        if kind in {"sms", "wechat", "wecom", "dingtalk", "feishu", "im"}:
            hint = 'IM bots and SMS gateways go through apprise: kind = "apprise", target = "<apprise URL>"'
        problems.add((*at, "kind"), f"{kind!r} is not a channel; {hint}")
        return None
    target = _string(item, "target", at, problems, required=True)
    secret_ref = _string(item, "secret_ref", at, problems, required=False)
    if target is None:
        return None
    ok = True
    if kind == "webhook":
        if not re.match(r"https?://[^/\s]+", target):
            problems.add((*at, "target"), f'"{mask_url(target)}" is not a URL; write the receiver\'s https://… address')
            ok = False
        if secret_ref is None and "secret_ref" not in item:
            problems.add(
                (*at, "secret_ref"),
                "a webhook needs a signing secret (CONTRACT §2: X-Relic-Guard-Signature); agree one with the "
                'receiver, put it in an environment variable and add secret_ref = "env:VARIABLE"',
            )
            ok = False
    elif kind == "email":
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", target):
            problems.add((*at, "target"), f'"{target}" is not an e-mail address; write it like duty@wwj.jinan.gov.cn')
            ok = False
    elif kind == "apprise":
        if "://" not in target:
            problems.add(
                (*at, "target"),
                f'"{target}" is not an apprise URL; write it like "wecombot://{{secret}}" or '
                '"json://sms-gateway.local/send" (see the apprise wiki for each service)',
            )
            ok = False
        elif "{secret}" in target and "secret_ref" not in item:
            problems.add((*at, "secret_ref"), 'the target uses {secret}; add secret_ref = "env:VARIABLE" naming it')
            ok = False
        elif "{secret}" not in target and re.search(r"://[^/@\s]*:[^/@\s]+@", target):
            problems.add(
                (*at, "target"),
                "the URL carries a password; write {secret} in its place and name the secret with "
                'secret_ref = "env:VARIABLE"',
            )
            ok = False
    if secret_ref is not None and not SECRET_REF.fullmatch(secret_ref):
        problems.add(
            (*at, "secret_ref"),
            f'"{secret_ref}" is not a secret reference; write "env:VARIABLE" or "file:/path/to/secret" '
            "(never the secret itself)",
        )
        ok = False
    return ChannelTarget(kind=kind, target=target, secret_ref=secret_ref) if ok else None


# Routes ---------------------------------------------------------------------------------


def _routes(entries: list[tuple[int, dict[str, Any]]], directory: Directory, problems: _Problems) -> list[RoutingRule]:
    rules: list[RoutingRule] = []
    mc_everywhere = False
    for index, entry in entries:
        at: Path_ = ("route", index)
        name = _string(entry, "name", at, problems, required=False) or f"route #{index + 1}"
        severity = severity_at_least = None
        if "severity" in entry:
            severity = _enum(entry["severity"], Severity, (*at, "severity"), problems)
        if "severity_at_least" in entry:
            severity_at_least = _enum(entry["severity_at_least"], Severity, (*at, "severity_at_least"), problems)
        if "severity" in entry and "severity_at_least" in entry:
            problems.add(
                (*at, "severity_at_least"),
                "give either severity (exactly) or severity_at_least (this or higher), not both",
            )
        match = RouteMatch(
            sites=_string_list(entry, "sites", at, problems),
            districts=_string_list(entry, "districts", at, problems),
            levels=_string_list(entry, "levels", at, problems),
            categories=_enum_list(entry, "categories", Category, at, problems),
            severity=severity,
            severity_at_least=severity_at_least,
        )
        route_audiences = _enum_list(entry, "audiences", Audience, at, problems)
        recipient_ids = _string_list(entry, "recipients", at, problems)
        for recipient_id in recipient_ids:
            if recipient_id not in directory.by_id:
                suggestion = _suggest(recipient_id, directory.by_id)
                hint = f'did you mean "{suggestion}"?' if suggestion else "add a [[recipient]] with that id"
                problems.add((*at, "recipients"), f'no recipient has id "{recipient_id}"; {hint}')
        if not entry.get("audiences") and not entry.get("recipients"):
            problems.add(at, "does nothing; give audiences to add, recipients to name, or both")
        if match == RouteMatch() and any(
            directory.by_id[rid].audience is Audience.MONITORING_CENTER
            for rid in recipient_ids
            if rid in directory.by_id
        ):
            mc_everywhere = True
        rules.append(RoutingRule(name=name, match=match, audiences=route_audiences, recipients=recipient_ids))
    if not mc_everywhere:
        problems.add(
            ("route",),
            "no route without conditions names a monitoring_center recipient; every alert must reach the "
            '24-hour monitoring center: add a [[route]] with only recipients = ["<monitoring center id>"]',
        )
    return rules


# Escalation ----------------------------------------------------------------------------------


def _policies(entries: list[tuple[int, dict[str, Any]]], problems: _Problems) -> list[EscalationPolicy]:
    policies: list[EscalationPolicy] = []
    first: dict[tuple[Category | None, Severity | None], int] = {}
    for index, entry in entries:
        at: Path_ = ("escalation", index)
        ok = True
        category: Category | None = None
        severity: Severity | None = None
        if entry.get("category", "*") != "*":
            category = _enum(entry["category"], Category, (*at, "category"), problems)
            ok = ok and category is not None
        if entry.get("severity", "*") != "*":
            severity = _enum(entry["severity"], Severity, (*at, "severity"), problems)
            ok = ok and severity is not None
        every = None
        if "reminder_every_s" in entry:
            every = _number(entry["reminder_every_s"], (*at, "reminder_every_s"), problems, minimum=1.0, example="300")
            ok = ok and every is not None
        max_reminders = entry.get("max_reminders", 0)
        if isinstance(max_reminders, bool) or not isinstance(max_reminders, int) or max_reminders < 0:
            problems.add((*at, "max_reminders"), f"expected a whole number ≥ 0, got {max_reminders!r}; like 12")
            ok = False
            max_reminders = 0
        elif max_reminders > 0 and "reminder_every_s" not in entry:
            problems.add((*at, "max_reminders"), "reminders need an interval: add reminder_every_s = <seconds>")
            ok = False
        elif "reminder_every_s" in entry and max_reminders == 0:
            problems.add(
                (*at, "reminder_every_s"),
                "reminders are set but max_reminders is 0, so none would be sent: add max_reminders = <count>",
            )
            ok = False
        steps = _steps(entry, at, problems)
        ok = ok and steps is not None
        if ok:
            key = (category, severity)
            if key in first:
                other = problems.line_of(("escalation", first[key]))
                problems.add(at, f"a policy for this category and severity exists already (line {other}); merge them")
                continue
            first[key] = index
            assert steps is not None
            policies.append(
                EscalationPolicy(
                    category=category,
                    severity=severity,
                    steps=steps,
                    reminder_every_s=every,
                    max_reminders=max_reminders,
                )
            )
    return policies


def _steps(entry: Mapping[str, Any], at: Path_, problems: _Problems) -> tuple[EscalationStep, ...] | None:
    value = entry.get("steps", [])
    if not isinstance(value, list):
        problems.add((*at, "steps"), 'must be a list, like steps = [{ after_s = 300, add_audiences = ["police"] }]')
        return None
    steps: list[EscalationStep] = []
    ok = True
    previous = -1.0
    for position, item in enumerate(value):
        step_at: Path_ = (*at, "steps", position)
        if not isinstance(item, dict):
            problems.add(step_at, 'must be a table like { after_s = 300, add_audiences = ["police"] }')
            ok = False
            continue
        _unknown_keys(item, "step", step_at, problems)
        if "after_s" not in item:
            problems.add((*step_at, "after_s"), "is missing; add after_s = <seconds after the alert opened>")
            ok = False
            continue
        after = _number(item["after_s"], (*step_at, "after_s"), problems, minimum=1.0, example="300")
        added = _enum_list(item, "add_audiences", Audience, step_at, problems)
        if not added:
            problems.add((*step_at, "add_audiences"), 'is missing or empty; add add_audiences = ["…"]')
            ok = False
        if after is None:
            ok = False
            continue
        if after <= previous:
            problems.add(
                (*step_at, "after_s"),
                f"{after:g} is not after the previous step ({previous:g}); list steps in increasing after_s",
            )
            ok = False
        previous = after
        steps.append(EscalationStep(after_s=after, add_audiences=added))
    return tuple(steps) if ok else None


# Maintenance windows --------------------------------------------------------------------------


def _windows(entries: list[tuple[int, dict[str, Any]]], problems: _Problems) -> list[MaintenanceWindow]:
    windows: list[MaintenanceWindow] = []
    for index, entry in entries:
        at: Path_ = ("maintenance", index)
        site = _string(entry, "site", at, problems, required=True)
        kind = None
        if "kind" not in entry:
            problems.add((*at, "kind"), f"is missing; add kind = {_choices(k.value for k in WindowKind)}")
        else:
            kind = _enum(entry["kind"], WindowKind, (*at, "kind"), problems)
        reason = _string(entry, "reason", at, problems, required=True)
        set_by = _string(entry, "set_by", at, problems, required=True)
        start = _instant(entry, "start", at, problems)
        end = _instant(entry, "end", at, problems)
        if start is not None and end is not None and end <= start:
            problems.add((*at, "end"), "the window ends before it starts; end must be later than start")
            continue
        if None in (site, kind, reason, set_by, start, end):
            continue
        assert site and kind and reason and set_by and start and end
        windows.append(MaintenanceWindow(site=site, start=start, end=end, kind=kind, reason=reason, set_by=set_by))
    return windows


def _instant(entry: Mapping[str, Any], key: str, at: Path_, problems: _Problems) -> datetime | None:
    value = entry.get(key)
    example = f"{key} = 2026-12-01T08:00:00+08:00"
    if value is None:
        problems.add((*at, key), f"is missing; add {example}")
        return None
    if isinstance(value, str):
        problems.add((*at, key), f"is a string; write the date and time without quotes, like {example}")
        return None
    if not isinstance(value, datetime):
        problems.add((*at, key), f"must be a date and time, like {example}")
        return None
    if value.tzinfo is None:
        problems.add((*at, key), f"has no UTC offset; add +08:00 for Beijing time, like {example}")
        return None
    return value


# Cross-check with the registry -----------------------------------------------------------------


def check_against_registry(config: RoutingConfig, sites: Mapping[str, SiteFacts]) -> None:
    """Raise ConfigError if the routing config and the site registry disagree (see the module
    docstring). Problems point into the routing file."""
    where = dict(config.locations)
    source = str(config.source_file) if config.source_file else "routing"
    found: list[str] = []
    districts = sorted({site.district for site in sites.values()})
    levels = sorted({site.level for site in sites.values()})

    for index, rule in enumerate(config.rules):
        place = where.get(("route", index), source)
        for values, known, what in (
            (rule.match.sites, list(sites), "site"),
            (rule.match.districts, districts, "district"),
            (rule.match.levels, levels, "protection level"),
        ):
            for value in values:
                if value not in known:
                    suggestion = difflib.get_close_matches(value, known, n=1, cutoff=0.5)
                    hint = f'did you mean "{suggestion[0]}"?' if suggestion else f"known: {_choices(known)}"
                    found.append(
                        f'{place}: [[route]] #{index + 1}: no {what} "{value}" in the registry, so the rule '
                        f"would never match; {hint}"
                    )
    for index, window in enumerate(config.windows):
        if window.site not in sites:
            place = where.get(("maintenance", index), source)
            suggestion = difflib.get_close_matches(window.site, list(sites), n=1, cutoff=0.5)
            hint = f'did you mean "{suggestion[0]}"?' if suggestion else "use an id from sites.csv"
            found.append(f'{place}: [[maintenance]] #{index + 1} site: no site "{window.site}" in the registry; {hint}')

    for site in sorted(sites.values(), key=lambda item: item.id):
        for name in site.custodians:
            if name not in config.directory.custodians_by_name:
                found.append(
                    f'{source}: site "{site.id}" names custodian "{name}" (sites.csv), but no [[recipient]] with '
                    f'audience = "custodians" has name = "{name}"; add one with their phone channels, or they '
                    "will never be told of an alarm at their site"
                )
        for audience in AGENCY_AUDIENCES:
            if not _covered(config, site, audience):
                found.append(
                    f'{source}: site "{site.id}" has no recipient for {audience.value}: an alert that needs the '
                    f"{audience.value} there would reach nobody; list a recipient with audience = "
                    f'"{audience.value}" in a [[route]] that matches this site (or one without conditions)'
                )
    if found:
        raise ConfigError(found)


def _covered(config: RoutingConfig, site: SiteFacts, audience: Audience) -> bool:
    for rule in config.rules:
        if not rule.match.matches_site(site):
            continue
        for recipient_id in rule.recipients:
            recipient = config.directory.by_id.get(recipient_id)
            if recipient is not None and recipient.audience is audience:
                return True
    return False


# Where things are in the text ------------------------------------------------------------------

_BARE_OR_QUOTED: Final = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_DOTTED: Final = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"
_ARRAY_HEADER: Final = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]")
_TABLE_HEADER: Final = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_KEY_LINE: Final = re.compile(rf"^\s*({_DOTTED})\s*=\s*")
_PART: Final = re.compile(_BARE_OR_QUOTED)
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _parts(text: str) -> list[str]:
    return [part.strip("\"'") for part in _PART.findall(text)]


def _scan(text: str) -> dict[Path_, int]:
    """Line of every table, key and list element, by path: ("recipient", 2, "channels", 0)."""
    lines: dict[Path_, int] = {}
    counts: dict[Path_, int] = {}  # array-of-tables path -> entries so far
    table: Path_ = ()
    # Inside a multi-line list value: its path, bracket depth, brace depth, next element index.
    open_list: list[Any] | None = None
    in_multiline_string = False

    def resolve(names: list[str]) -> Path_:
        path: Path_ = ()
        for name in names:
            path = (*path, name)
            if path in counts:
                path = (*path, counts[path] - 1)
        return path

    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline_string:
            if raw.count('"""') % 2 == 1 or raw.count("'''") % 2 == 1:
                in_multiline_string = False
            continue
        line = _STRING.sub('""', raw).split("#", 1)[0]
        if open_list is not None:
            _scan_list(line, open_list, number, lines)
            if open_list[1] == 0:
                open_list = None
            continue
        header = _ARRAY_HEADER.match(line)
        if header:
            names = _parts(header.group(1))
            parent = resolve(names[:-1])
            key = (*parent, names[-1])
            counts[key] = counts.get(key, 0) + 1
            table = (*key, counts[key] - 1)
            lines.setdefault(key, number)
            lines.setdefault(table, number)
            continue
        header = _TABLE_HEADER.match(line)
        if header:
            table = resolve(_parts(header.group(1)))
            lines.setdefault(table, number)
            continue
        key_line = _KEY_LINE.match(line)
        if key_line is None:
            continue
        path = (*table, *_parts(key_line.group(1)))
        lines.setdefault(path, number)
        rest = line[key_line.end() :]
        if raw.count('"""') % 2 == 1 or raw.count("'''") % 2 == 1:
            in_multiline_string = True
        if rest.startswith("["):
            state: list[Any] = [path, 0, 0, 0]
            _scan_list(rest, state, number, lines)
            if state[1] != 0:
                open_list = state
    return lines


def _scan_list(text: str, state: list[Any], number: int, lines: dict[Path_, int]) -> None:
    """Follow brackets of a list value; note the line where each element starts."""
    path, depth, braces, index = state
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                break
        elif char == "{":
            if depth == 1 and braces == 0:
                lines.setdefault((*path, index), number)
                index += 1
            braces += 1
        elif char == "}":
            braces -= 1
    state[1:] = [depth, braces, index]
