"""The API tokens file: loading, scope, roles, and `relic-guard token new`."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relic_guard.alerting.tokens import Principal, Role, TokenStore, append_token, digest, load_tokens
from relic_guard.cli import app
from relic_guard.errors import ConfigError
from tests.alerts.support import SITE

from .conftest import OTHER, registry

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SITES = registry().sites


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_resolves_sites_and_districts(tmp_path: Path) -> None:
    path = write(tmp_path, f"""
[[token]]
name = "zhang.wei"
role = "custodian"
sites = ["{SITE}"]
sha256 = "{digest("t-zhang")}"

[[token]]
name = "changqing-bureau"
role = "agency"
districts = ["长清区"]
sha256 = "{digest("t-bureau")}"

[[token]]
name = "ops"
role = "operator"
sha256 = "{digest("t-ops").upper()}"
created = 2026-11-27T10:00:00+08:00
""")
    store = load_tokens(path, SITES)
    assert len(store) == 3
    assert store.lookup("t-zhang") == Principal("zhang.wei", Role.CUSTODIAN, frozenset({SITE}))
    assert store.lookup("t-bureau") == Principal("changqing-bureau", Role.AGENCY, frozenset({OTHER}))
    ops = store.lookup("t-ops")
    assert ops is not None and ops.sites is None and ops.can_see("anything")
    assert store.lookup("t-nobody") is None
    assert store.lookup("") is None


def test_roles() -> None:
    def who(role: Role) -> Principal:
        return Principal("x", role, None)

    for role in (Role.OPERATOR, Role.CUSTODIAN, Role.ADMIN):
        assert all(who(role).can_act(c) for c in ("acknowledge", "assign", "resolve"))
    assert who(Role.AGENCY).can_act("acknowledge")
    assert not who(Role.AGENCY).can_act("resolve")
    assert not who(Role.AGENCY).can_act("assign")
    assert not any(who(Role.SUPERVISOR).can_act(c) for c in ("acknowledge", "assign", "resolve"))
    scoped = Principal("x", Role.CUSTODIAN, frozenset({SITE}))
    assert scoped.can_see(SITE) and not scoped.can_see(OTHER)


def test_problems_are_listed_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, f"""[[token]]
name = "zhang"
role = "custodian"
sha256 = "{digest("a")}"

[[token]]
name = "li"
role = "custodain"
sites = ["chengzya"]
sha256 = "{digest("b")}"

[[token]]
name = "wang"
role = "operator"
token = "plain-text"
sha256 = "abc"

[[token]]
name = "zhang"
role = "operator"
sha256 = "{digest("c")}"
""")
    with pytest.raises(ConfigError) as caught:
        load_tokens(path, SITES)
    problems = caught.value.problems
    text = "\n".join(problems)
    assert f"{path}:1: [[token]] #1: a custodian token must name its sites or districts" in text
    assert f"{path}:8: [[token]] #2 role: 'custodain' is not a role (did you mean 'custodian'?)" in text
    assert f"{path}:15: [[token]] #3 token: unknown key 'token'; never write the token itself here" in text
    assert f"{path}:16: [[token]] #3 sha256: must be the 64 hex digits" in text
    assert f"{path}:19: [[token]] #4 name: 'zhang' is already used by the token on line 1" in text


def test_unknown_sites_and_districts(tmp_path: Path) -> None:
    path = write(tmp_path, f"""[[token]]
name = "li"
role = "agency"
sites = ["chengzya"]
districts = ["历城区"]
sha256 = "{digest("b")}"
""")
    with pytest.raises(ConfigError) as caught:
        load_tokens(path, SITES)
    text = "\n".join(caught.value.problems)
    assert f"{path}:1: [[token]] #1 sites: no site 'chengzya' in the registry (did you mean 'chengziya'?)" in text
    assert "districts: no site of sites.csv is in district '历城区'" in text


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_tokens(write(tmp_path, "[[token]]\nname = zhang\n"), SITES)
    assert caught.value.problems[0].startswith(f"{tmp_path / 'tokens.toml'}:2:")
    with pytest.raises(ConfigError) as missing:
        load_tokens(tmp_path / "nope.toml", SITES)
    assert "relic-guard token new" in missing.value.problems[0]


def test_append_token_makes_a_private_file_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "tokens.toml"
    first = append_token(path, name="zhang.wei", role=Role.CUSTODIAN, sites=[SITE], now=NOW)
    second = append_token(path, name="ops", role=Role.OPERATOR, now=NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first not in path.read_text() and second not in path.read_text()
    store = load_tokens(path, SITES)
    assert store.lookup(first) == Principal("zhang.wei", Role.CUSTODIAN, frozenset({SITE}))
    assert store.lookup(second) == Principal("ops", Role.OPERATOR, None)
    with pytest.raises(ConfigError, match="exists already"):
        append_token(path, name="ops", role=Role.ADMIN, now=NOW)
    with pytest.raises(ConfigError, match="an agency token needs --site"):
        append_token(path, name="119", role=Role.AGENCY, now=NOW)


def test_store_of_plain_tokens() -> None:
    store = TokenStore.of({"secret": Principal("a", Role.ADMIN, None)})
    assert store.lookup("secret") == Principal("a", Role.ADMIN, None)
    assert store.lookup("secreT") is None


def test_cli_token_new(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    runner = CliRunner()
    result = runner.invoke(app, ["token", "new", "--name", "li.na", "--role", "agency", "--district", "长清区",
                                 "--file", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    token = lines[1]
    assert token.startswith("rgt_")
    assert "will not be shown again" in lines[2]
    assert result.output.count(token) == 1
    assert load_tokens(path, SITES).lookup(token) == Principal("li.na", Role.AGENCY, frozenset({OTHER}))
    refused = runner.invoke(app, ["token", "new", "--name", "x", "--role", "custodian", "--file", str(path)])
    assert refused.exit_code == 2
    bad_role = runner.invoke(app, ["token", "new", "--name", "x", "--role", "boss", "--file", str(path)])
    assert bad_role.exit_code == 2
    assert "operator, custodian, agency, supervisor, admin" in bad_role.output
