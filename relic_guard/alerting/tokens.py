"""Bearer tokens of the HTTP API: who is calling, and which sites they may see (CONTRACT §3).

The tokens file (`[alerts] api_tokens_file`) holds one `[[token]]` table per user or system:

    [[token]]
    name = "zhang.wei"              # acts as `user:zhang.wei` in timelines and the audit trail
    role = "custodian"              # operator | custodian | agency | supervisor | admin
    sites = ["chengziya"]           # and/or
    districts = ["章丘区"]          # every site of these districts (from sites.csv)
    sha256 = "9f86d0…"              # hex SHA-256 of the token; the token itself is never stored
    created = 2026-11-27T10:00:00+08:00   # optional, written by `relic-guard token new`

`relic-guard token new` makes a token, appends its table and prints the token once. Losing a
token means making a new one and deleting the old table; nothing can recover it from the file.

Scope: `sites` and `districts` together name the sites a token sees; neither means every site.
Custodians and agencies must have a scope: a custodian's token that silently saw every site
in the city would be the worst kind of mistake, so the loader refuses it.

Roles and what they may do with alerts:

    role        sees            acknowledge   assign   resolve
    operator    scope           yes           yes      yes      monitoring center staff
    custodian   scope (needed)  yes           yes      yes      文物保护员 of their sites
    agency      scope (needed)  yes           no       no       police, fire brigade, bureau duty
    supervisor  scope           no            no       no       oversight reads, never handles
    admin       scope           yes           yes      yes

A supervisor is read-only on purpose: the supervision report counts how sites and the center
responded, and a supervisor who acknowledged alerts would appear in the figures they audit.
An agency may confirm that it received an alert (acknowledge) but not close or reassign the
site's alert: the site and the center own the follow-up.

Look-up hashes the presented token and compares the digest with every stored digest in constant
time, without stopping at a match, so the time taken tells nothing about which entry matched.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from relic_guard.errors import ConfigError


class Role(StrEnum):
    OPERATOR = "operator"
    CUSTODIAN = "custodian"
    AGENCY = "agency"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


Command = Literal["acknowledge", "assign", "resolve"]

_ALLOWED: Final[Mapping[Role, frozenset[str]]] = {
    Role.OPERATOR: frozenset({"acknowledge", "assign", "resolve"}),
    Role.CUSTODIAN: frozenset({"acknowledge", "assign", "resolve"}),
    Role.AGENCY: frozenset({"acknowledge"}),
    Role.SUPERVISOR: frozenset(),
    Role.ADMIN: frozenset({"acknowledge", "assign", "resolve"}),
}
SCOPED_ROLES: Final = frozenset({Role.CUSTODIAN, Role.AGENCY})

TOKEN_PREFIX: Final = "rgt_"
_KEYS: Final = ("name", "role", "sites", "districts", "sha256", "created")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_NAME: Final = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `sites` None: every site."""

    name: str
    role: Role
    sites: frozenset[str] | None

    def can_see(self, site_id: str) -> bool:
        return self.sites is None or site_id in self.sites

    def can_act(self, command: Command) -> bool:
        return command in _ALLOWED[self.role]

    @property
    def actor(self) -> str:
        """How the audit trail and the alert's `acknowledged_by` name this caller."""
        return f"user:{self.name}"


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """One `[[token]]` table as written (districts not yet turned into sites)."""

    name: str
    role: Role
    sha256: str
    sites: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    line: int = 0


_Report = Callable[[str | None, str], None]


class SiteDistrict(Protocol):
    @property
    def district(self) -> str: ...


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """The principals of the tokens file, found by the SHA-256 of a presented token."""

    def __init__(self, entries: Iterable[tuple[str, Principal]]) -> None:
        self._entries = [(bytes.fromhex(sha), principal) for sha, principal in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, presented: str) -> Principal | None:
        wanted = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        found: Principal | None = None
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, wanted) and found is None:
                found = principal
        return found

    @classmethod
    def of(cls, tokens: Mapping[str, Principal]) -> TokenStore:
        """From plain tokens (tests, the demo): token -> principal."""
        return cls((digest(token), principal) for token, principal in tokens.items())


# Loading ---------------------------------------------------------------------------------


def load_tokens(path: Path, sites: Mapping[str, SiteDistrict]) -> TokenStore:
    """Read `path` and resolve every scope against the registry's `sites`; raise ConfigError
    listing every problem, each as `file:line: [[token]] #n key: what is wrong; how to fix it`."""
    entries, problems = _parse(path)
    districts = {site.district for site in sites.values()}
    store: list[tuple[str, Principal]] = []
    for index, entry in enumerate(entries):
        where = f"{path}:{entry.line}: [[token]] #{index + 1}"
        bad = False
        for site_id in entry.sites:
            if site_id not in sites:
                problems.append(f"{where} sites: no site '{site_id}' in the registry{_hint(site_id, sites)}; "
                                "use the id column of sites.csv")
                bad = True
        for district in entry.districts:
            if district not in districts:
                problems.append(f"{where} districts: no site of sites.csv is in district '{district}'"
                                f"{_hint(district, districts)}; write the district as sites.csv does")
                bad = True
        if bad:
            continue
        scope: frozenset[str] | None = None
        if entry.sites or entry.districts:
            wanted = set(entry.districts)
            scope = frozenset(entry.sites) | {sid for sid, site in sites.items() if site.district in wanted}
        store.append((entry.sha256, Principal(entry.name, entry.role, scope)))
    if problems:
        raise ConfigError(problems)
    return TokenStore(store)


def parse_tokens(path: Path) -> list[TokenEntry]:
    """The `[[token]]` tables of `path`, checked on their own (no registry); ConfigError otherwise."""
    entries, problems = _parse(path)
    if problems:
        raise ConfigError(problems)
    return entries


def _a(role: Role) -> str:
    return f"{'an' if role.value[0] in 'aeiou' else 'a'} {role.value}"


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _parse(path: Path) -> tuple[list[TokenEntry], list[str]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file; create it with `relic-guard token new --file {path} …` "
                           "or correct [alerts] api_tokens_file"]) from None
    except OSError as error:
        raise ConfigError([f"{path}: cannot read the file ({error.strerror}); check that this user may read it"]) \
            from None
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ConfigError([f"{path}:{line}: not UTF-8 text; save the file as UTF-8"]) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        where = f"{path}:{match.group(1)}:{match.group(2)}" if match else str(path)
        if match:
            message = message[: match.start()]
        raise ConfigError([f"{where}: TOML syntax error: {message}; fix the TOML "
                           "syntax there (each token is a [[token]] table with key = value lines)"]) from None
    tables, keys = _scan(text)
    problems: list[str] = []
    for name, value in document.items():
        if name != "token":
            hint = "write [[token]] (two brackets) above each entry" if name in {"tokens", "user", "users"} \
                else "the file holds only [[token]] tables"
            what = "table" if isinstance(value, dict | list) else "key"
            problems.append(f"{path}:{keys.get((-1, name), 0)}: {name}: unknown {what}; {hint}")
    value = document.get("token", [])
    if not isinstance(value, list):
        problems.append(f"{path}:{tables[0] if tables else 0}: token: must be a list of tables; write [[token]] "
                        "(two brackets) above each entry")
        value = []
    entries: list[TokenEntry] = []
    seen_names: dict[str, int] = {}
    seen_digests: dict[str, int] = {}
    for index, table in enumerate(value):
        line = tables[index] if index < len(tables) else 0

        def problem(key: str | None, message: str, index: int = index, line: int = line) -> None:
            at = keys.get((index, key), line) if key is not None else line
            label = f"[[token]] #{index + 1}" + (f" {key}" if key else "")
            problems.append(f"{path}:{at}: {label}: {message}")

        entry = _entry(table, line, problem)
        # Names and digests of entries with other problems count too: both copies need fixing.
        raw_name = table.get("name") if isinstance(table, dict) else None
        sha = table.get("sha256") if isinstance(table, dict) else None
        clash = False
        if isinstance(raw_name, str) and raw_name in seen_names:
            problem("name", f"'{raw_name}' is already used by the token on line {seen_names[raw_name]}; "
                    "names must be unique (the audit trail tells users apart by name)")
            clash = True
        if isinstance(sha, str) and sha.strip().lower() in seen_digests:
            problem("sha256", f"the same digest as the token on line {seen_digests[sha.strip().lower()]}; "
                    "two users must never share a token: make a new one with `relic-guard token new`")
            clash = True
        if isinstance(raw_name, str):
            seen_names.setdefault(raw_name, line)
        if isinstance(sha, str):
            seen_digests.setdefault(sha.strip().lower(), line)
        if entry is not None and not clash:
            entries.append(entry)
    return entries, problems


def _entry(table: object, line: int, problem: _Report) -> TokenEntry | None:
    if not isinstance(table, dict):
        problem(None, "must be a table; write [[token]] and key = value lines below it")
        return None
    ok = True

    def fail(key: str | None, message: str) -> None:
        nonlocal ok
        ok = False
        problem(key, message)

    for key in table:
        if key not in _KEYS:
            if key in {"token", "secret", "password", "key"}:
                hint = "never write the token itself here; keep only its sha256 (relic-guard token new does)"
            else:
                close = difflib.get_close_matches(key, _KEYS, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else f"the keys are: {', '.join(_KEYS)}"
            fail(key, f"unknown key '{key}'; {hint}")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        fail("name", "needs a name of 1–64 characters without spaces, like \"zhang.wei\" or \"119-center\"")
    role_text = table.get("role")
    role: Role | None = None
    choices = ", ".join(f'"{r.value}"' for r in Role)
    if not isinstance(role_text, str):
        fail("role", f"is missing; give one of {choices}")
    else:
        try:
            role = Role(role_text.strip().lower())
        except ValueError:
            close = difflib.get_close_matches(role_text.lower(), [r.value for r in Role], n=1, cutoff=0.6)
            fail("role", f"'{role_text}' is not a role{f' (did you mean {close[0]!r}?)' if close else ''}; "
                 f"give one of {choices}")
    sha = table.get("sha256")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha.strip().lower()):
        fail("sha256", "must be the 64 hex digits of the token's SHA-256 (`relic-guard token new` writes it); "
             "the token itself is never written here")
    sites = _strings(table, "sites", fail)
    districts = _strings(table, "districts", fail)
    if "created" in table and not isinstance(table["created"], datetime):
        fail("created", "must be a date and time like 2026-11-27T10:00:00+08:00 (or leave it out)")
    if role in SCOPED_ROLES and not sites and not districts and ok:
        fail(None, f"{_a(role)} token must name its sites or districts (sites = [\"…\"] or "
             "districts = [\"…\"]); without them it would see every site")
    if not ok:
        return None
    assert isinstance(name, str) and role is not None and isinstance(sha, str)
    return TokenEntry(name=name, role=role, sha256=sha.strip().lower(), sites=sites, districts=districts, line=line)


def _strings(table: Mapping[str, Any], key: str, fail: _Report) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        fail(key, f'must be a list of names, like {key} = ["…", "…"]')
        return ()
    return tuple(dict.fromkeys(item.strip() for item in value))


_TABLE_LINE: Final = re.compile(r"^\s*\[\[\s*token\s*\]\]")
_OTHER_TABLE: Final = re.compile(r"^\s*\[+\s*([A-Za-z0-9_-]*)")
_KEY_LINE: Final = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _scan(text: str) -> tuple[list[int], dict[tuple[int, str | None], int]]:
    """Lines of the `[[token]]` headers, and of each key by (table index, key); -1 is top level.
    tomllib gives no positions, and the file is flat enough for a line scan."""
    tables: list[int] = []
    keys: dict[tuple[int, str | None], int] = {}
    current = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if _TABLE_LINE.match(line):
            tables.append(number)
            current = len(tables) - 1
            continue
        other = _OTHER_TABLE.match(line)
        if other:
            keys.setdefault((-1, other.group(1)), number)
            current = -2  # a table that is not [[token]]: its keys are not ours to place
            continue
        match = _KEY_LINE.match(line)
        if match and current >= -1:
            keys.setdefault((current, match.group(1)), number)
    return tables, keys


# Making tokens -------------------------------------------------------------------------------


def new_token() -> str:
    """A fresh token: 256 random bits, URL-safe; the prefix lets secret scanners recognise a leak."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def append_token(
    path: Path, *, name: str, role: Role, sites: Sequence[str] = (), districts: Sequence[str] = (),
    now: datetime,
) -> str:
    """Make a token for `name`, append its `[[token]]` table to `path` (created mode 0600), return it.

    Raises ConfigError when the entry would not load (a bad name, a custodian or agency without a
    scope, a name already in the file, a file that does not parse)."""
    problems: list[str] = []
    if not _NAME.fullmatch(name):
        problems.append(f"--name '{name}': give 1–64 characters without spaces, like zhang.wei")
    if role in SCOPED_ROLES and not sites and not districts:
        problems.append(f"{_a(role)} token needs --site ID or --district NAME (repeat them for several); "
                        "without a scope it would see every site")
    if path.exists():
        existing = parse_tokens(path)
        for entry in existing:
            if entry.name == name:
                problems.append(f"{path}:{entry.line}: a token named '{name}' exists already; pick another name, "
                                "or delete that [[token]] table first to replace it")
    if problems:
        raise ConfigError(problems)
    token = new_token()
    lines = ["", "[[token]]", f"name = {_toml_string(name)}", f"role = {_toml_string(role.value)}"]
    if sites:
        lines.append(f"sites = [{', '.join(_toml_string(s) for s in dict.fromkeys(sites))}]")
    if districts:
        lines.append(f"districts = [{', '.join(_toml_string(d) for d in dict.fromkeys(districts))}]")
    lines += [f'sha256 = "{digest(token)}"', f"created = {now.isoformat(timespec='seconds')}", ""]
    block = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        if handle.tell() == 0:
            block = "# relic-guard API tokens: only SHA-256 digests; see `relic-guard token new --help`.\n" + block
        handle.write(block)
    return token


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (the same escapes, \\uXXXX included).
    return json.dumps(value, ensure_ascii=False)
