"""Load the TOML configuration, apply environment overrides, validate, build a `Config`.

Precedence, highest first: environment variables, the TOML file, the defaults in
`relic_guard.config`. The file comes from the `path` argument, else from
`RELIC_GUARD_CONFIG`, else there is none and only defaults and environment apply.

Environment variables: `RELIC_GUARD_<SECTION>_<KEY>` for every key (e.g.
`RELIC_GUARD_INGEST_WORKERS=4`), `RELIC_GUARD_<KEY>` for top-level keys, and the
contract's short names, which are the same scheme (`RELIC_GUARD_MQTT_URL`,
`RELIC_GUARD_DATABASE_URL`, `RELIC_GUARD_HTTP_LISTEN`) except `RELIC_GUARD_REGISTRY`,
an alias of `RELIC_GUARD_REGISTRY_DIR`. An empty variable clears an optional key
(`RELIC_GUARD_DATABASE_URL=` means "no database URL") and is an error for the others.
An unknown `RELIC_GUARD_<SECTION>_…` variable is an error (a typo would otherwise be
ignored in silence); variables naming no section are left to other components.

Relative paths written in the file are taken relative to the file's folder (so a
copied configuration keeps working wherever it is run from); relative paths from
environment variables and the built-in defaults are relative to the working directory.

Invariant: `load_config` either returns a fully valid `Config` or raises one
`ConfigError` listing every problem it found, each phrased
`where: [section] key: what is wrong; how to fix it`, where `where` is `file:line`
or `environment variable NAME`. URLs are shown with their password masked.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from relic_guard.config import (
    AlertsConfig,
    AuditConfig,
    Config,
    DatabaseConfig,
    DronesConfig,
    HttpConfig,
    IngestConfig,
    InspectionsConfig,
    MqttConfig,
    PatrolsConfig,
    ReportsConfig,
    SpoolConfig,
    StoreConfig,
    VideoConfig,
)
from relic_guard.errors import ConfigError

ENV_PREFIX: Final = "RELIC_GUARD_"
CONFIG_ENV: Final = "RELIC_GUARD_CONFIG"
# CONTRACT §6 names the registry folder variable without the `_DIR` of its key.
REGISTRY_ENV: Final = "RELIC_GUARD_REGISTRY"

_TOP: Final = ""  # the "section" of top-level keys
_SECTIONS: Final[dict[str, type[Any]]] = {
    "mqtt": MqttConfig,
    "database": DatabaseConfig,
    "http": HttpConfig,
    "ingest": IngestConfig,
    "store": StoreConfig,
    "spool": SpoolConfig,
    "audit": AuditConfig,
    "alerts": AlertsConfig,
    "patrols": PatrolsConfig,
    "inspections": InspectionsConfig,
    "drones": DronesConfig,
    "reports": ReportsConfig,
    "video": VideoConfig,
}
# Keys of `Config` that are not settable: filled in by the loader.
_NOT_SETTABLE: Final = frozenset({"source_file"})

# Names people reach for, mapped to the key that does the job (checked before difflib).
_ALIASES: Final[dict[str, str]] = {
    "batchsize": "batch_max_messages",
    "batch_size": "batch_max_messages",
    "max_batch": "batch_max_messages",
    "batch_delay_ms": "batch_max_delay_ms",
    "flush_ms": "batch_max_delay_ms",
    "host": "url",
    "port": "url",
    "user": "url",
    "username": "url",
    "password": "url",
    "dsn": "url",
    "broker": "url",
    "tls": "url",
    "ca": "ca_file",
    "cafile": "ca_file",
    "ca_cert": "ca_file",
    "ca_certs": "ca_file",
    "bind": "listen",
    "address": "listen",
    "keepalive": "keepalive_s",
    "registry": "registry_dir",
    "registry_path": "registry_dir",
    "path": "dir",
    "spool_dir": "dir",
    "quota": "quota_bytes",
    "retention": "retention_days",
    "prefix": "topic_prefix",
    "client_id": "client_id_prefix",
    "pool_size": "pool_max_size",
    "routing": "routing_file",
    "routing_path": "routing_file",
    "routes": "routing_file",
    "thresholds": "thresholds_file",
    "thresholds_path": "thresholds_file",
    "base_url": "public_url",
    "external_url": "public_url",
    "site_url": "public_url",
    "ack_key": "ack_key_file",
    "ack_ttl": "ack_ttl_s",
    "ack_expiry_s": "ack_ttl_s",
    "tick_ms": "tick_interval_ms",
    "tick_interval": "tick_interval_ms",
    "timeout": "delivery_timeout_s",
    "timeout_s": "delivery_timeout_s",
    "retries": "delivery_max_attempts",
    "max_attempts": "delivery_max_attempts",
    "max_retries": "delivery_max_attempts",
    "smtp": "smtp_url",
    "smtp_server": "smtp_url",
    "smtp_host": "smtp_url",
    "smtp_port": "smtp_url",
    "smtp_user": "smtp_url",
    "smtp_username": "smtp_url",
    "smtp_password": "smtp_url",
    "starttls": "smtp_url",
    "smtp_starttls": "smtp_url",
    "mail_from": "email_from",
    "sender": "email_from",
    "from": "email_from",
    "vapid_key": "vapid_key_file",
    "vapid_private_key": "vapid_key_file",
    "vapid_sub": "vapid_subject",
    "vapid_contact": "vapid_subject",
    "api_tokens": "api_tokens_file",
    "tokens_file": "api_tokens_file",
}
_SMTP_PARTS: Final = frozenset(
    {"smtp_host", "smtp_port", "smtp_user", "smtp_username", "smtp_password", "starttls", "smtp_starttls"}
)


# Schema -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    section: str
    key: str
    kind: type[Any]  # int | float | bool | str | Path
    optional: bool
    default: object

    @property
    def label(self) -> str:
        return f"[{self.section}] {self.key}" if self.section else self.key

    @property
    def env_var(self) -> str:
        if self.section:
            return f"{ENV_PREFIX}{self.section.upper()}_{self.key.upper()}"
        return f"{ENV_PREFIX}{self.key.upper()}"


def _specs_of(cls: type[Any], section: str) -> dict[str, _Spec]:
    hints = typing.get_type_hints(cls)
    specs: dict[str, _Spec] = {}
    for f in dataclasses.fields(cls):
        if f.name in _NOT_SETTABLE or f.name in _SECTIONS:
            continue
        hint = hints[f.name]
        optional = False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            args = typing.get_args(hint)
            non_none = [a for a in args if a is not type(None)]
            optional = len(non_none) < len(args)
            hint = non_none[0]
        if f.default is not dataclasses.MISSING:
            default: object = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:  # pragma: no cover - every config field has a default
            raise TypeError(f"{cls.__name__}.{f.name} has no default")
        specs[f.name] = _Spec(section, f.name, hint, optional, default)
    return specs


_SPECS: Final[dict[str, dict[str, _Spec]]] = {
    _TOP: _specs_of(Config, _TOP),
    **{name: _specs_of(cls, name) for name, cls in _SECTIONS.items()},
}
_ENV_SPECS: Final[dict[str, _Spec]] = {
    spec.env_var: spec for specs in _SPECS.values() for spec in specs.values()
}


# Where a value came from ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Setting:
    raw: object
    where: str  # "path:12", "environment variable NAME"
    from_env: bool


# Every source of a key, in precedence order (file, then environment): the last valid one wins.
_Settings = dict[tuple[str, str], list["_Setting"]]


class _Problems:
    """Collects problems; every message is 'where: label: what; fix'."""

    def __init__(self) -> None:
        self._found: list[tuple[tuple[int, int], str]] = []

    def add(self, where: str, label: str | None, message: str) -> None:
        # File problems in line order, then environment problems in the order found.
        match = re.search(r":(\d+)(?::\d+)?$", where)
        order = (0, int(match.group(1))) if match else (1, len(self._found))
        self._found.append((order, f"{where}: {label}: {message}" if label else f"{where}: {message}"))

    @property
    def items(self) -> list[str]:
        return [text for _, text in sorted(self._found, key=lambda found: found[0])]


# Public helpers ------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """The URL with its password (userinfo or `password=` query parameter) replaced by ***;
    everything else is left exactly as written."""
    scheme_end = url.find("://")
    if scheme_end >= 0:
        start = scheme_end + 3
        # Up to the last '@' before any query: an unencoded '/' or '@' in a password must
        # not leak its tail (over-masking a rare '@' in a path is the safe side).
        match = re.search(r"[?#]", url[start:])
        end = start + match.start() if match else len(url)
        userinfo, at, hostport = url[start:end].rpartition("@")
        if at and ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            url = f"{url[:start]}{user}:***@{hostport}{url[end:]}"
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def parse_listen(listen: str) -> tuple[str, int]:
    """Split `host:port` (IPv6 as `[::1]:8080`) into host and port; ValueError says what is wrong."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.%\w]+)\]:(\d+)|([^:\[\]\s]+):(\d+)", listen)
    if match is None:
        raise ValueError(f"{listen!r} is not host:port")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1..65535")
    return host, port


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpServer:
    """Where the e-mail channel hands its mail over, from `[alerts] smtp_url`."""

    host: str
    port: int
    starttls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


SMTP_EXAMPLE: Final = "smtp+starttls://user:password@mail.example.cn:587 (or smtp://127.0.0.1:25 for a local relay)"
_SMTP_DEFAULT_PORTS: Final = {"smtp": 25, "smtp+starttls": 587}
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


def parse_smtp_url(url: str) -> SmtpServer:
    """`smtp://[user:pass@]host[:25]` or `smtp+starttls://[user:pass@]host[:587]` as an `SmtpServer`;
    ValueError says what is wrong (with the password masked) and how to write it."""
    shown = f'"{mask_url(url)}"'
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(
            f"{shown} has an invalid host or port; write it like {SMTP_EXAMPLE} "
            "(percent-encode '/', '?', '#', '@' and ':' inside the user name or password)"
        ) from None
    scheme = parts.scheme.lower()
    if "://" not in url or not scheme:
        raise ValueError(f"{shown} has no scheme; write it like {SMTP_EXAMPLE}")
    if scheme == "smtps":
        # The e-mail channel speaks STARTTLS only (aiosmtplib's use_tls is never set), and every
        # mail provider that offers implicit TLS on 465 offers STARTTLS on 587 as well.
        raise ValueError(
            "smtps:// (TLS from the first byte, port 465) is not supported; use the same server's "
            f"STARTTLS port instead: smtp+starttls://user:password@{parts.hostname or 'host'}:587"
        )
    if scheme not in _SMTP_DEFAULT_PORTS:
        raise ValueError(f"scheme '{parts.scheme}://' is not supported; use smtp:// or smtp+starttls://, like "
                         f"{SMTP_EXAMPLE}")
    if not parts.hostname:
        raise ValueError(f"{shown} names no host; write it like {SMTP_EXAMPLE}")
    if port == 0:
        raise ValueError(f"{shown} has port 0; give the port the mail server listens on, like {SMTP_EXAMPLE}")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError(
            f"{shown} has a path or query; the URL holds only user, password, host and port "
            f"(STARTTLS is chosen by the scheme), like {SMTP_EXAMPLE}"
        )
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username is None) != (password is None) or username == "":
        raise ValueError(f"{shown} has a user name without a password; give both (user:password@) or neither")
    starttls = scheme == "smtp+starttls"
    if password is not None and not starttls and parts.hostname.lower() not in _LOOPBACK_HOSTS:
        raise ValueError(
            f"{shown} would send the password in clear text to another machine; use "
            f"smtp+starttls://…:587, or a relay on this machine (smtp://127.0.0.1:25)"
        )
    return SmtpServer(
        host=parts.hostname,
        port=port or _SMTP_DEFAULT_PORTS[scheme],
        starttls=starttls,
        username=username,
        password=password,
    )


# Loading -------------------------------------------------------------------------------


def load_config(path: Path | None, env: Mapping[str, str]) -> Config:
    """Read the configuration file (if any), apply `env` overrides, validate everything.

    Raises ConfigError listing every problem found.
    """
    problems = _Problems()
    settings: _Settings = {}
    source_file: Path | None = None
    base_dir: Path | None = None
    file_ok = True

    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV]).expanduser()
        origin = f"environment variable {CONFIG_ENV}"
    else:
        origin = "--config"
    if path is not None:
        source_file = Path(os.path.abspath(path))
        base_dir = source_file.parent
        file_ok = _read_file(path, origin, settings, problems)

    _read_env(env, settings, problems)

    values = _convert_all(settings, base_dir, problems)
    if file_ok:
        _check_cross(values, settings, problems)
    if problems.items:
        raise ConfigError(problems.items)

    # Consumers append paths (`/ack/<token>`) to the public URL: one form, without the trailing '/'.
    values[("alerts", "public_url")] = typing.cast(str, values[("alerts", "public_url")]).rstrip("/")
    sections = {
        name: cls(**{key: values[(name, key)] for key in _SPECS[name]}) for name, cls in _SECTIONS.items()
    }
    return Config(
        **sections,
        registry_dir=typing.cast(Path, values[(_TOP, "registry_dir")]),
        source_file=source_file,
    )


def _read_file(path: Path, origin: str, settings: _Settings, problems: _Problems) -> bool:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.add(
            str(path), None, f"no such file (named by {origin}); give the path of an existing TOML file"
        )
        return False
    except OSError as error:
        problems.add(
            str(path),
            None,
            f"cannot read the file ({error.strerror}); check that the path is a file this user may read",
        )
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problems.add(
            f"{path}:{line}",
            None,
            f"not UTF-8 text (byte 0x{data[error.start]:02x}); save the file as UTF-8",
        )
        return False
    text = text.removeprefix("\ufeff")  # Notepad writes a BOM; TOML does not allow one
    layout = _scan(text)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.add(*_syntax_problem(path, str(error), layout))
        return False
    _collect_file_settings(path, document, layout, settings, problems)
    return True


def _syntax_problem(path: Path, message: str, layout: _Layout) -> tuple[str, None, str]:
    where = str(path)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        where = f"{path}:{match.group(1)}:{match.group(2)}"
        message = message[: match.start()]
    elif message.endswith("(at end of document)"):
        message = message.removesuffix("(at end of document)").rstrip()
        where = f"{path}:{layout.line_count}"
    if message.startswith("Cannot overwrite a value") and layout.duplicates:
        (section, key), line = layout.duplicates[0]
        label = f"[{section}] {key}" if section else key
        return (
            f"{path}:{line}",
            None,
            f"TOML syntax error: {label} is set twice (first on line {layout.lines[(section, key)]}); "
            "keep one of them",
        )
    if message.startswith("Invalid value"):
        fix = "put strings in double quotes, write true/false in lower case, numbers without units"
    elif message.startswith(("Cannot declare", "Cannot overwrite")):
        fix = "a [section] or key appears twice; merge them into one"
    elif message.startswith("Expected '=' after a key"):
        fix = "write each setting as key = value"
    elif message == "Illegal character '\\n'":
        fix = "a string must end on the line it starts on: close the quote (or use triple quotes)"
    elif message.startswith("Unterminated string"):
        fix = "close the string with the same quote it opened with"
    else:
        fix = "fix the TOML syntax at that place"
    return where, None, f"TOML syntax error: {message}; {fix}"


def _collect_file_settings(
    path: Path,
    document: dict[str, Any],
    layout: _Layout,
    settings: _Settings,
    problems: _Problems,
) -> None:
    def where(section: str, key: str) -> str:
        # The key's own line, else its section header, else `section = {…}` (an inline table).
        line = (
            layout.lines.get((section, key))
            or layout.lines.get((section, ""))
            or layout.lines.get((_TOP, section))
        )
        return f"{path}:{line}" if line else str(path)

    for name, value in document.items():
        if name in _SECTIONS:
            if not isinstance(value, dict):
                problems.add(
                    where(_TOP, name),
                    f"[{name}]",
                    f"must be a section, not a single value; write [{name}] on its own line "
                    "and its keys below it",
                )
                continue
            for key, item in value.items():
                spec = _SPECS[name].get(key)
                if spec is None:
                    problems.add(where(name, key), f"[{name}] {key}", _unknown_key(name, key))
                else:
                    settings.setdefault((name, key), []).append(_Setting(item, where(name, key), False))
        elif name in _SPECS[_TOP]:
            settings.setdefault((_TOP, name), []).append(_Setting(value, where(_TOP, name), False))
        elif isinstance(value, dict):
            suggestion = _suggest(name, list(_SECTIONS))
            hint = f"did you mean [{suggestion}]?" if suggestion else f"the sections are {_sections_list()}"
            problems.add(
                where(name, ""), f"[{name}]", f"unknown section [{name}]; {hint} (or delete the section)"
            )
        else:
            problems.add(where(_TOP, name), name, _unknown_key(_TOP, name))


def _sections_list() -> str:
    return ", ".join(f"[{name}]" for name in _SECTIONS)


def _suggest(word: str, candidates: list[str]) -> str | None:
    alias = _ALIASES.get(word.lower())
    if alias in candidates:
        return alias
    matches = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.5)
    return matches[0] if matches else None


def _unknown_key(section: str, key: str) -> str:
    known = list(_SPECS[section])
    where = f"in [{section}]" if section else "at top level"
    suggestion = _suggest(key, known)
    if suggestion:
        message = f"unknown key '{key}' {where}; did you mean '{suggestion}'?"
        if suggestion == "url" and key.lower() in {"host", "port", "user", "username", "password", "tls"}:
            message += f" (host, port, user and password all go into the URL, e.g. {_url_example(section)})"
        if suggestion == "smtp_url" and key.lower() in _SMTP_PARTS:
            message += (
                " (host, port, user, password and STARTTLS all go into the URL, e.g. "
                "smtp+starttls://user:password@mail.example.cn:587)"
            )
        return message
    if section and key in _SPECS[_TOP]:
        return (
            f"unknown key '{key}' {where}; '{key}' is a top-level key: move it above the first "
            "[section] header"
        )
    if key in _SECTIONS and not section:
        return f"'{key}' must be a section; write [{key}] on its own line"
    return f"unknown key '{key}' {where}; the keys are: {', '.join(known)}"


def _url_example(section: str) -> str:
    return (
        "postgresql://relic:secret@db:5432/relic" if section == "database" else "mqtts://user:pass@host:8883"
    )


def _read_env(env: Mapping[str, str], settings: _Settings, problems: _Problems) -> None:
    section_prefixes = {f"{ENV_PREFIX}{name.upper()}_": name for name in _SECTIONS}
    registry_vars = [name for name in (REGISTRY_ENV, f"{ENV_PREFIX}REGISTRY_DIR") if name in env]
    if len(registry_vars) == 2 and env[registry_vars[0]] != env[registry_vars[1]]:
        problems.add(
            f"environment variable {REGISTRY_ENV}",
            "registry_dir",
            f"both {registry_vars[0]} and {registry_vars[1]} are set, to different folders; unset one",
        )
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        spec = _SPECS[_TOP]["registry_dir"] if name == REGISTRY_ENV else _ENV_SPECS.get(name)
        if spec is not None:
            setting = _Setting(env[name], f"environment variable {name}", from_env=True)
            settings.setdefault((spec.section, spec.key), []).append(setting)
            continue
        for prefix, section in section_prefixes.items():
            if name.startswith(prefix):
                key = name[len(prefix) :].lower()
                suggestion = _suggest(key, list(_SPECS[section]))
                hint = (
                    f"did you mean {_SPECS[section][suggestion].env_var}?"
                    if suggestion
                    else "the variables for this section are "
                    + ", ".join(s.env_var for s in _SPECS[section].values())
                )
                problems.add(
                    f"environment variable {name}",
                    None,
                    f"no key '{key}' in [{section}]; {hint} (or unset the variable)",
                )
                break


# Conversion ----------------------------------------------------------------------------

_TYPE_NAMES: Final[dict[type[Any], str]] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "a string",
    Path: "a path (a string)",
}
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})
_INT_TEXT: Final = re.compile(r"[+-]?\d(?:_?\d)*")


class _InvalidValueError(Exception):
    """One value failed conversion or validation; the message is 'what; fix'."""


def _show(setting: _Setting, key: str, value: object) -> str:
    """How a value is quoted back in a message (URLs with the password masked)."""
    if isinstance(value, str):
        text = mask_url(value) if key.endswith("url") else value
        return repr(text) if setting.from_env else f'"{text}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _convert_all(
    settings: _Settings, base_dir: Path | None, problems: _Problems
) -> dict[tuple[str, str], object]:
    """Convert and check every setting, also those a later source overrides: a bad
    value in the file is reported even while an environment variable hides it."""
    values: dict[tuple[str, str], object] = {}
    for section, specs in _SPECS.items():
        for key, spec in specs.items():
            values[(section, key)] = spec.default
            for setting in settings.get((section, key), []):
                try:
                    value = _convert(spec, setting)
                    if (
                        isinstance(value, Path)
                        and not setting.from_env
                        and base_dir is not None
                        and not value.is_absolute()
                    ):
                        value = Path(os.path.normpath(base_dir / value))
                    rule = _RULES.get((section, key))
                    if rule is not None and value is not None:
                        rule(value)
                except _InvalidValueError as error:
                    problems.add(setting.where, spec.label, str(error))
                else:
                    values[(section, key)] = value
    return values


def _convert(spec: _Spec, setting: _Setting) -> object:
    raw = setting.raw
    shown = _show(setting, spec.key, raw)
    expected = _TYPE_NAMES[spec.kind]
    if setting.from_env:
        assert isinstance(raw, str)
        return _convert_text(spec, raw, shown)
    if spec.optional and raw == "":
        return None
    if spec.kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
            return _invalid(f"{shown} is a string; write true or false without quotes")
        return _invalid(f"expected true or false, got {shown}; write true or false (lower case)")
    if spec.kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and _INT_TEXT.fullmatch(raw.strip()):
            return _invalid(f"{shown} is a string; write the number without quotes")
        if isinstance(raw, float):
            return _invalid(f"expected a whole number, got {shown}; write it without a decimal point")
        return _invalid(f"expected {expected}, got {shown}; write digits only, like {spec.default}")
    if spec.kind is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            if not math.isfinite(raw):
                return _invalid(f"{shown} is not a finite number; give a real value like {spec.default}")
            return float(raw)
        if isinstance(raw, str):
            try:
                float(raw)
            except ValueError:
                pass
            else:
                return _invalid(f"{shown} is a string; write the number without quotes")
        return _invalid(f"expected {expected}, got {shown}; write a number like {spec.default}")
    if isinstance(raw, str):
        return Path(raw).expanduser() if spec.kind is Path else raw
    return _invalid(f"expected {expected}, got {shown}; put the value in double quotes")


def _convert_text(spec: _Spec, raw: str, shown: str) -> object:
    text = raw.strip()
    if text == "":
        if spec.optional:
            return None
        return _invalid("is empty; set a value or unset the variable to keep the file's or default value")
    if spec.kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        return _invalid(f"{shown} is not a boolean; use true/false, yes/no or 1/0")
    if spec.kind is int:
        if _INT_TEXT.fullmatch(text):
            return int(text.replace("_", ""))
        return _invalid(f"{shown} is not a whole number; write digits only, like {spec.default}")
    if spec.kind is float:
        try:
            number = float(text)
        except ValueError:
            return _invalid(f"{shown} is not a number; write a number like {spec.default}")
        if not math.isfinite(number):
            return _invalid(f"{shown} is not a finite number; give a real value like {spec.default}")
        return number
    if spec.kind is Path:
        return Path(text).expanduser()
    return text


def _invalid(message: str) -> typing.NoReturn:
    raise _InvalidValueError(message)


# Validation rules: each raises _InvalidValueError("what; fix") -------------------------------------


def _int_range(low: int, high: int | None = None, why: str = "") -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value < low or (high is not None and value > high):
            allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
            _invalid(f"{value} is out of range; it must be {allowed}{why}")

    return check


def _positive_seconds(value: Any) -> None:
    if value <= 0:
        _invalid(f"{value} is not a positive duration; give seconds greater than 0, like 5.0")


def _one_topic_level(kind: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
            _invalid(
                f'"{value}" is not a valid {kind}; use 1–64 of A-Z a-z 0-9 _ . - '
                "(no '/', '+', '#' or spaces: it becomes part of an MQTT topic or client id)"
            )

    return check


def _check_mqtt_url(value: Any) -> None:
    _check_url(value, {"mqtt", "mqtts"}, "mqtt://host:1883 (plain) or mqtts://host:8883 (TLS)", True)


def _check_database_url(value: Any) -> None:
    _check_url(value, {"postgresql", "postgres"}, "postgresql://user:password@host:5432/dbname", False)


def _check_url(value: str, schemes: set[str], example: str, host_required: bool) -> None:
    shown = f'"{mask_url(value)}"'
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        _invalid(
            f"{shown} has an invalid host or port; write it like {example} "
            "(percent-encode '/', '?', '#', '@' and ':' inside the user name or password)"
        )
    if "://" not in value or not parts.scheme:
        _invalid(f"{shown} has no scheme; write it like {example}")
    if parts.scheme.lower() not in schemes:
        wanted = " or ".join(f"{scheme}://" for scheme in sorted(schemes))
        _invalid(f"scheme '{parts.scheme}://' is not supported; use {wanted}, like {example}")
    if host_required and not parts.hostname:
        _invalid(f"{shown} names no host; write it like {example}")
    if port == 0:
        _invalid(f"{shown} has port 0; give the port the server listens on, like {example}")


def _check_listen(value: Any) -> None:
    try:
        parse_listen(value)
    except ValueError as error:
        _invalid(
            f"{error}; write host:port, like 127.0.0.1:8080, 0.0.0.0:8080 (all interfaces) or [::1]:8080"
        )


def _check_ca_file(value: Any) -> None:
    if not Path(value).is_file():
        _invalid(
            f"no such file: {value}; give the CA certificate (PEM) of the broker, relative to the "
            "config file's folder or absolute"
        )


def _non_negative_seconds(value: Any) -> None:
    if value < 0:
        _invalid(f"{value} is negative; give seconds ≥ 0, like 0.5")


def _existing_file(what: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        path = Path(value)
        if path.is_dir():
            _invalid(f"{value} is a folder; give the path of the {what} itself")
        if not path.is_file():
            _invalid(
                f"no such file: {value}; give the path of the {what}, relative to the config file's folder "
                "or absolute (or remove the key)"
            )

    return check


def _month_day(value: Any) -> None:
    match = re.fullmatch(r"\s*(\d{2})-(\d{2})\s*", value)
    if match is not None:
        try:
            # 2001 is not a leap year: a day valid there is a day every plan year has.
            date(2001, int(match.group(1)), int(match.group(2)))
        except ValueError:
            pass
        else:
            return
    _invalid(f'"{value}" is not a day every year has; write MM-DD in the plan\'s year, like "09-30" '
             "(02-29 exists only in leap years: use 02-28 or 03-01)")


def _share(value: Any) -> None:
    if not 0 < value <= 1:
        _invalid(f"{value} is not a share; give a number above 0 and at most 1, like 0.8 (80 % of the site)")


def _metres(low: float, high: float) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not low <= value <= high:
            _invalid(f"{value} is out of range; give metres from {low:g} to {high:g}, like 50")

    return check


def _fov(value: Any) -> None:
    if not 0 < value < 180:
        _invalid(f"{value} is not a field of view; give degrees between 0 and 180, like 72")


def _folder(what: str) -> Callable[[Any], None]:
    """A folder made when first written to: only a file in its place is wrong now."""

    def check(value: Any) -> None:
        if Path(value).exists() and not Path(value).is_dir():
            _invalid(f"{value} is a file; give the {what} folder (made when missing)")

    return check


def _created_file(what: str) -> Callable[[Any], None]:
    """A key file the daemon creates at first start: only a folder in its place is wrong now."""

    def check(value: Any) -> None:
        if Path(value).is_dir():
            _invalid(f"{value} is a folder; give the path of the {what} file (created at first start when missing)")

    return check


PUBLIC_URL_EXAMPLE: Final = "https://relic.wwj.jinan.example.cn or http://192.168.10.5:8080/relic-guard"


def _check_public_url(value: Any) -> None:
    shown = f'"{mask_url(value)}"'
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        _invalid(f"{shown} has an invalid host or port; write it like {PUBLIC_URL_EXAMPLE}")
    if parts.scheme.lower() not in {"http", "https"} or "://" not in value:
        _invalid(f"{shown} is not an http(s) URL; write the address phones open, like {PUBLIC_URL_EXAMPLE}")
    if not parts.hostname:
        _invalid(f"{shown} names no host; write it like {PUBLIC_URL_EXAMPLE}")
    if port == 0:
        _invalid(f"{shown} has port 0; give the port phones reach, like {PUBLIC_URL_EXAMPLE}")
    if "@" in parts.netloc:
        _invalid(f"{shown} carries a user name; ack links must not hold credentials: write scheme://host[:port][/path]")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        _invalid(f"{shown} has a query or fragment; ack links are appended to it: write scheme://host[:port][/path]")
    if any(ch.isspace() for ch in value):
        _invalid(f"{shown} contains a space; percent-encode it (%20) or leave it out")


def _check_smtp_url(value: Any) -> None:
    try:
        parse_smtp_url(value)
    except ValueError as error:
        _invalid(str(error))


def _check_email_from(value: Any) -> None:
    if any(ch in value for ch in "\r\n\0"):
        _invalid("contains a line break; write one address, like 文物安全告警 <relic-guard@wwj.jinan.example.cn>")
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in address):
        _invalid(
            f'"{value}" is not an e-mail address; write it like relic-guard@wwj.jinan.example.cn or '
            "文物安全告警 <relic-guard@wwj.jinan.example.cn>"
        )


def _check_vapid_subject(value: Any) -> None:
    # RFC 8292 §2.1: the contact push services use when our pushes cause trouble.
    if re.fullmatch(r"mailto:[^@\s]+@[^@\s]+", value) or re.fullmatch(r"https://[^/\s]+\S*", value):
        return
    _invalid(
        f'"{value}" is not a VAPID contact; write mailto:ops@your-domain or an https:// URL where the push '
        "service can reach the operator"
    )


def _check_frigate_url(value: Any) -> None:
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        _invalid(f'"{mask_url(value)}" is not Frigate\'s address; write it like http://192.168.10.20:5000 '
                 "(the address its web page opens at)")


_RULES: Final[dict[tuple[str, str], Callable[[Any], None]]] = {
    ("mqtt", "url"): _check_mqtt_url,
    ("mqtt", "client_id_prefix"): _one_topic_level("client id prefix"),
    ("mqtt", "topic_prefix"): _one_topic_level("topic prefix (a single topic level)"),
    ("mqtt", "shared_group"): _one_topic_level("shared subscription group name"),
    ("mqtt", "session_expiry_s"): _int_range(
        0, 4294967295, " (MQTT 5 Session Expiry Interval, seconds; 0 drops queued messages on disconnect)"
    ),
    ("mqtt", "keepalive_s"): _int_range(1, 65535, " (seconds; MQTT keep-alive)"),
    ("mqtt", "reconnect_min_s"): _positive_seconds,
    ("mqtt", "reconnect_max_s"): _positive_seconds,
    ("mqtt", "receive_maximum"): _int_range(1, 65535, " (MQTT 5 Receive Maximum)"),
    ("mqtt", "ca_file"): _check_ca_file,
    ("database", "url"): _check_database_url,
    ("database", "pool_max_size"): _int_range(1, 1000),
    ("database", "connect_timeout_s"): _positive_seconds,
    ("database", "statement_timeout_s"): _positive_seconds,
    ("http", "listen"): _check_listen,
    ("ingest", "workers"): _int_range(0, 1024, " (0 means one per CPU core)"),
    ("ingest", "batch_max_messages"): _int_range(1, None),
    ("ingest", "batch_max_delay_ms"): _int_range(1, 60000, " (milliseconds)"),
    ("store", "retention_days"): _int_range(1, None),
    ("store", "partition_ahead_days"): _int_range(1, 366),
    ("store", "compress_after_days"): _int_range(1, None),
    ("store", "maintenance_interval_s"): _int_range(1, None),
    ("spool", "quota_bytes"): _int_range(
        1024 * 1024, None, " bytes (a smaller spool cannot hold even one batch)"
    ),
    ("alerts", "routing_file"): _existing_file("routing file (see config/routing.toml)"),
    ("alerts", "thresholds_file"): _existing_file("thresholds file (see config/thresholds.toml)"),
    ("alerts", "api_tokens_file"): _existing_file("API tokens file"),
    ("patrols", "routes_file"): _existing_file("patrol routes file (see config/patrols.example.toml)"),
    ("patrols", "job_interval_s"): _positive_seconds,
    ("patrols", "plan_ahead_h"): _int_range(1, 24 * 14, " (hours)"),
    ("patrols", "grace_s"): _non_negative_seconds,
    ("inspections", "pool_file"): _existing_file("双随机 pool file (see config/inspections.example.toml)"),
    ("inspections", "site_evaluation_due"): _month_day,
    ("inspections", "district_supervision_due"): _month_day,
    ("inspections", "job_interval_s"): _positive_seconds,
    ("drones", "zones_file"): _existing_file("drone zones file (see config/drone-zones.example.toml)"),
    ("drones", "patrol_coverage_share"): _share,
    ("drones", "geofence_margin_m"): _metres(0.0, 10_000.0),
    ("drones", "camera_fov_deg"): _fov,
    ("reports", "out_dir"): _folder("annual report"),
    ("reports", "annual_on"): _month_day,
    ("reports", "job_interval_s"): _positive_seconds,
    ("video", "cameras_file"): _existing_file("cameras file (see config/cameras.example.toml)"),
    ("video", "evidence_dir"): _folder("evidence"),
    ("video", "evidence_retention_days"): _int_range(1, None, " (days)"),
    ("video", "video_loss_s"): _positive_seconds,
    ("video", "queue_frames"): _int_range(1, 1000, " (frames per camera)"),
    ("video", "threads"): _int_range(0, 256, " (0 means one per CPU core)"),
    ("video", "frigate_url"): _check_frigate_url,
    ("video", "metrics_listen"): _check_listen,
    ("alerts", "public_url"): _check_public_url,
    ("alerts", "ack_key_file"): _created_file("ack key"),
    ("alerts", "ack_ttl_s"): _int_range(60, 31 * 86400, " (seconds an ack link stays valid: 1 minute to 31 days)"),
    ("alerts", "tick_interval_ms"): _int_range(10, 5000, " (milliseconds)"),
    ("alerts", "fire_confirm_window_s"): _positive_seconds,
    ("alerts", "site_unreachable_min_devices"): _int_range(1, None),
    ("alerts", "delivery_timeout_s"): _positive_seconds,
    ("alerts", "delivery_max_attempts"): _int_range(1, 100),
    ("alerts", "delivery_base_delay_s"): _non_negative_seconds,
    ("alerts", "delivery_max_delay_s"): _positive_seconds,
    ("alerts", "smtp_url"): _check_smtp_url,
    ("alerts", "email_from"): _check_email_from,
    ("alerts", "vapid_key_file"): _created_file("VAPID key"),
    ("alerts", "vapid_subject"): _check_vapid_subject,
}


def _check_cross(values: dict[tuple[str, str], object], settings: _Settings, problems: _Problems) -> None:
    def origin(section: str, key: str) -> str:
        found = settings.get((section, key))
        return found[-1].where if found else "the built-in default"

    def blame(first: tuple[str, str], second: tuple[str, str]) -> tuple[str, str]:
        """The setting to point at: the one the user set (the first, if both or neither)."""
        return second if first not in settings and second in settings else first

    batch = typing.cast(int, values[("ingest", "batch_max_messages")])
    window = typing.cast(int, values[("mqtt", "receive_maximum")])
    if batch > window:
        section, key = blame(("ingest", "batch_max_messages"), ("mqtt", "receive_maximum"))
        problems.add(
            origin(section, key),
            f"[{section}] {key}",
            f"[ingest] batch_max_messages ({batch}, from {origin('ingest', 'batch_max_messages')}) is "
            f"larger than [mqtt] receive_maximum ({window}, from {origin('mqtt', 'receive_maximum')}); "
            "the broker stops sending once receive_maximum messages await acknowledgement, so a batch "
            "could never fill: raise receive_maximum (up to 65535) or lower batch_max_messages",
        )

    low = typing.cast(float, values[("mqtt", "reconnect_min_s")])
    high = typing.cast(float, values[("mqtt", "reconnect_max_s")])
    if high < low:
        section, key = blame(("mqtt", "reconnect_max_s"), ("mqtt", "reconnect_min_s"))
        problems.add(
            origin(section, key),
            f"[{section}] {key}",
            f"reconnect_max_s ({high}, from {origin('mqtt', 'reconnect_max_s')}) is below "
            f"reconnect_min_s ({low}, from {origin('mqtt', 'reconnect_min_s')}); the back-off grows "
            "from the minimum to the maximum: make reconnect_max_s at least reconnect_min_s",
        )

    base = typing.cast(float, values[("alerts", "delivery_base_delay_s")])
    most = typing.cast(float, values[("alerts", "delivery_max_delay_s")])
    if most < base:
        section, key = blame(("alerts", "delivery_max_delay_s"), ("alerts", "delivery_base_delay_s"))
        problems.add(
            origin(section, key),
            f"[{section}] {key}",
            f"delivery_max_delay_s ({most}, from {origin('alerts', 'delivery_max_delay_s')}) is below "
            f"delivery_base_delay_s ({base}, from {origin('alerts', 'delivery_base_delay_s')}); the wait between "
            "attempts grows from the base to the maximum: make delivery_max_delay_s at least delivery_base_delay_s",
        )

    ca_file = values[("mqtt", "ca_file")]
    url = typing.cast(str, values[("mqtt", "url")])
    if ca_file is not None and urlsplit(url).scheme.lower() == "mqtt":
        problems.add(
            origin("mqtt", "ca_file"),
            "[mqtt] ca_file",
            f"a CA file is set but [mqtt] url (from {origin('mqtt', 'url')}) uses mqtt://, which is not "
            "TLS; use mqtts:// in the URL, or remove ca_file",
        )


# Where keys are in the file (tomllib gives no positions) ------------------------------


@dataclass(slots=True)
class _Layout:
    # (section, key) -> first line; (section, "") -> the section header's line.
    lines: dict[tuple[str, str], int]
    # Keys set more than once, with the line of the repeat.
    duplicates: list[tuple[tuple[str, str], int]]
    line_count: int


_BARE_OR_QUOTED: Final = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_HEADER_LINE: Final = re.compile(rf"^\s*\[\[?\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*\]\]?")
_KEY_LINE: Final = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_DOTTED_PART: Final = re.compile(_BARE_OR_QUOTED)


def _dotted(text: str) -> list[str]:
    return [part.strip("\"'") for part in _DOTTED_PART.findall(text)]


def _scan(text: str) -> _Layout:
    """Find the line of every section header and `key =` by reading the text line by line.

    Good enough for configuration files: it follows [section] headers, dotted keys
    (`mqtt.url = …` at top level), and skips the inside of multi-line strings.
    """
    lines: dict[tuple[str, str], int] = {}
    duplicates: list[tuple[tuple[str, str], int]] = []
    table: list[str] = []
    open_quote: str | None = None
    all_lines = text.splitlines()
    for number, line in enumerate(all_lines, start=1):
        if open_quote is not None:
            if line.count(open_quote) % 2 == 1:
                open_quote = None
            continue
        header = _HEADER_LINE.match(line)
        if header:
            table = _dotted(header.group(1))
            place = (table[0], table[1] if len(table) > 1 else "")
            lines.setdefault(place, number)
            continue
        key_line = _KEY_LINE.match(line)
        if key_line is None:
            continue
        path = table + _dotted(key_line.group(1))
        place = (path[0], path[1]) if len(path) > 1 else (_TOP, path[0])
        if len(path) <= 2:  # deeper keys belong to sub-tables the schema does not have
            if place in lines and (len(table) <= 1):
                duplicates.append((place, number))
            lines.setdefault(place, number)
        if len(path) > 1:
            lines.setdefault((path[0], ""), number)
        rest = line[key_line.end() :]
        for quote in ('"""', "'''"):
            if rest.count(quote) % 2 == 1:
                open_quote = quote
                break
    return _Layout(lines, duplicates, len(all_lines))
