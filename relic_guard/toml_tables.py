"""The checks every TOML side file shares (patrol routes, thresholds, drone zones, cameras):
problems with file:line labelled by the file's tables, unknown keys with a suggestion, lists of
tables. Built on `relic_guard.routing_load`, whose line scanner, collector and wording they
follow, so that every configuration file speaks the same way:
`file:line: [[camera]] #1 zone[2] polygon: what is wrong; how to fix it`.

Each loader keeps its own rules and words; what differs between files (the table, the names
people reach for, the syntax example) comes in as arguments.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from relic_guard.errors import ConfigError
from relic_guard.routing_load import Path_, _Problems, _scan, _suggest, _syntax_problem, read_config_text

T = TypeVar("T")


def load(
    path: Path,
    what: str,
    build: Callable[[dict[str, Any], _Problems], T],
    *,
    tables: Collection[str],
    syntax_table: str = "recipient",
) -> T:
    """`build` of the document in `path`, or one ConfigError listing every problem it found.

    `what` names the file for a person ("drone zones"), `tables` are the table names labelled
    `[[name]] #n` in problems, `syntax_table` the table a syntax error's example names.
    """
    text = read_config_text(path, what)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([_syntax_problem(path, str(error), syntax_table)]) from None
    problems = _Problems(path, _scan(text), tables)
    built = build(document, problems)
    if problems.items:
        raise ConfigError(problems.items)
    return built


def entries(
    document: Mapping[str, Any], table: str, problems: _Problems, aliases: Mapping[str, str]
) -> list[tuple[int, dict[str, Any]]]:
    """The `[[table]]` entries of a file that holds nothing else; anything else is a problem."""
    for name, value in document.items():
        if name != table:
            suggestion = _suggest(name, (table,), aliases)
            hint = f"did you mean [[{table}]]?" if suggestion else f"the file holds [[{table}]] tables only"
            problems.add((name,), f"unknown {'table' if isinstance(value, dict | list) else 'key'}; {hint}")
    return tables(document.get(table, []), (table,), table, problems)


def tables(value: Any, at: Path_, name: str, problems: _Problems) -> list[tuple[int, dict[str, Any]]]:
    """The tables of a `[[name]]` list with their indexes; a single `[name]` table is one entry."""
    if isinstance(value, dict):
        return [(0, value)]
    if not isinstance(value, list):
        problems.add(at, f"must be a list of tables; write [[{name}]] above each entry")
        return []
    found: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            found.append((index, item))
        else:
            problems.add((*at, index), f"must be a table; write [[{name}]] and key = value lines below it")
    return found


def unknown_keys(
    entry: Mapping[str, Any],
    known: Iterable[str],
    at: Path_,
    problems: _Problems,
    aliases: Mapping[str, str],
    *,
    listing: str = "the keys here are",
) -> None:
    """A problem for each key of `entry` not `known`: the key probably meant, else `listing` and
    the known keys."""
    keys = tuple(known)
    for key in entry:
        if key not in keys:
            suggestion = _suggest(key, keys, aliases)
            hint = f"did you mean '{suggestion}'?" if suggestion else f"{listing}: {', '.join(keys)}"
            problems.add((*at, key), f"unknown key '{key}'; {hint}")


def number(
    entry: Mapping[str, Any],
    key: str,
    at: Path_,
    problems: _Problems,
    *,
    low: float,
    high: float,
    example: str,
    unit: str | None = None,
    low_open: bool = False,
) -> float | None:
    """`entry[key]` as a finite number from `low` (above it when `low_open`) to `high`; None when
    absent or after recording a problem. `unit` names what it counts ("seconds"), `example` is
    the line to copy ("for_s = 30")."""
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = "write the number without quotes" if isinstance(value, str) else "write a number"
        expected = f"{unit} as a number" if unit else "a number"
        problems.add((*at, key), f"expected {expected}, got {value!r}; {hint}, like {example}")
        return None
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        bound = f"above {low:g}" if low_open else f"from {low:g}"
        problems.add(
            (*at, key), f"{value} is out of range; give {unit or 'a number'} {bound} to {high:g}, like {example}"
        )
        return None
    return float(value)
