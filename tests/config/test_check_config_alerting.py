"""check-config and the alerting files: routing and thresholds loaded and checked against the
registry, secret references resolved (unset variables warn), key files read but never made."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from relic_guard.alerting.channels import NO_ROUTING_WARNING
from relic_guard.check_config import check_config
from relic_guard.routing_load import load_routing

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def copy_examples(tmp_path: Path) -> Path:
    for name in ("relic-guard.toml", "sites.csv", "devices.csv", "routing.toml", "thresholds.toml",
                 "patrols.example.toml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path / "relic-guard.toml"


def secret_variables() -> list[str]:
    routing = load_routing(EXAMPLES / "routing.toml")
    refs = {
        target.secret_ref
        for recipient in routing.recipients
        for target in (*recipient.channels, *recipient.fallback)
        if target.secret_ref is not None
    }
    return sorted(ref.removeprefix("env:") for ref in refs)


@pytest.fixture
def keys_env(tmp_path: Path) -> dict[str, str]:
    """Key files in this test's folder: the example's ../var is shared by every test."""
    return {
        "RELIC_GUARD_ALERTS_ACK_KEY_FILE": str(tmp_path / "keys" / "ack.key"),
        "RELIC_GUARD_ALERTS_VAPID_KEY_FILE": str(tmp_path / "keys" / "vapid.pem"),
    }


def test_example_with_every_secret_set_loads_without_warnings(tmp_path: Path, keys_env: dict[str, str]) -> None:
    path = copy_examples(tmp_path)
    env = {name: f"value-of-{name.lower()}-TOPSECRET" for name in secret_variables()}
    env |= keys_env | {"RELIC_GUARD_ALERTS_SMTP_URL": "smtp+starttls://alerts:mailpa55@mail.example.cn:587"}
    code, text = check_config(path, env)
    assert code == 0, text
    lines = text.splitlines()
    assert (
        "  alerting     17 recipients, 5 routes, 6 escalation policies, 2 maintenance windows, 6 thresholds "
        "(routing.toml, thresholds.toml)"
    ) in lines
    assert "  ack links    http://127.0.0.1:8080/… (valid 1 d)" in lines
    assert "  e-mail       smtp+starttls://alerts:***@mail.example.cn:587 as relic-guard@localhost" in lines
    assert not any("warning:" in line for line in lines), text
    assert "TOPSECRET" not in text and "mailpa55" not in text
    assert not (tmp_path / "keys").exists(), "check-config must not create key files"


def test_unset_secret_variables_and_no_smtp_are_warnings(tmp_path: Path, keys_env: dict[str, str]) -> None:
    path = copy_examples(tmp_path)
    code, text = check_config(path, keys_env)
    assert code == 0, text
    warnings = [line for line in text.splitlines() if line.startswith("  warning: ")]
    names = secret_variables()
    assert len(warnings) == len(names) + 1
    for name in names:
        assert any(f'secret_ref "env:{name}": environment variable {name} is not set' in line for line in warnings)
    routing = tmp_path / "routing.toml"
    assert warnings[0].startswith(
        f"  warning: {routing}:35: [[recipient]] #1 (jinan-jkzx) channels[1]: secret_ref "
        '"env:RELIC_GUARD_SECRET_JKZX": environment variable RELIC_GUARD_SECRET_JKZX is not set'
    )
    assert warnings[-1].startswith(f"  warning: {routing}:38: 4 email channels but no [alerts] smtp_url")


def test_missing_secret_file_is_an_error(tmp_path: Path, keys_env: dict[str, str]) -> None:
    path = copy_examples(tmp_path)
    routing = tmp_path / "routing.toml"
    missing = tmp_path / "secrets" / "119"
    routing.write_text(
        routing.read_text(encoding="utf-8").replace('"env:RELIC_GUARD_SECRET_119"', f'"file:{missing}"'),
        encoding="utf-8",
    )
    empty = tmp_path / "empty-secret"
    empty.write_bytes(b"\n")
    routing.write_text(
        routing.read_text(encoding="utf-8").replace('"env:RELIC_GUARD_SECRET_110"', f'"file:{empty}"'),
        encoding="utf-8",
    )
    env = {name: "x" for name in secret_variables()} | keys_env
    code, text = check_config(path, env)
    assert code == 2, text
    assert text.splitlines() == [
        f'{routing}:46: [[recipient]] #2 (jinan-110) channels[1]: secret_ref "file:{empty}": the file is empty; '
        "put the secret in it",
        f'{routing}:66: [[recipient]] #4 (jinan-119) channels[1]: secret_ref "file:{missing}": no such file; '
        "create it (readable only by the service's user) or fix the path",
        "check-config: 2 problems in the routing file; nothing was changed",
    ]


def test_no_routing_file_is_a_loud_warning(tmp_path: Path, keys_env: dict[str, str]) -> None:
    path = copy_examples(tmp_path)
    code, text = check_config(path, keys_env | {"RELIC_GUARD_ALERTS_ROUTING_FILE": ""})
    assert code == 0, text
    assert "  alerting     no routing file (nothing is sent), 6 thresholds (thresholds.toml)" in text.splitlines()
    assert f"  warning: {NO_ROUTING_WARNING}" in text.splitlines()
    assert "NO notification" in NO_ROUTING_WARNING


def test_defaults_have_no_alerting_files(tmp_path: Path) -> None:
    copy_examples(tmp_path)
    code, text = check_config(None, {"RELIC_GUARD_REGISTRY": str(tmp_path)})
    assert code == 0, text
    assert "  alerting     no routing file (nothing is sent), 0 thresholds" in text.splitlines()
    assert "  e-mail       not configured" in text.splitlines()


def test_routing_that_disagrees_with_the_registry_exits_2(tmp_path: Path, keys_env: dict[str, str]) -> None:
    path = copy_examples(tmp_path)
    routing = tmp_path / "routing.toml"
    routing.write_text(
        routing.read_text(encoding="utf-8").replace('name = "刘长顺"', 'name = "刘常顺"'), encoding="utf-8"
    )
    code, text = check_config(path, keys_env)
    assert code == 2, text
    lines = text.splitlines()
    assert any('names custodian "刘长顺" (sites.csv), but no [[recipient]]' in line for line in lines), text
    assert lines[-1] == "check-config: 1 problem in the routing file; nothing was changed"


def test_routing_syntax_error_exits_2(tmp_path: Path, keys_env: dict[str, str]) -> None:
    path = copy_examples(tmp_path)
    (tmp_path / "routing.toml").write_text("[[recipient]\n", encoding="utf-8")
    code, text = check_config(path, keys_env)
    assert code == 2
    assert text.splitlines()[0].startswith(f"{tmp_path / 'routing.toml'}:1:")
    assert text.splitlines()[-1] == "check-config: 1 problem in the routing file; nothing was changed"


def test_thresholds_checked_against_the_registry(tmp_path: Path, keys_env: dict[str, str]) -> None:
    path = copy_examples(tmp_path)
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text(
        thresholds.read_text(encoding="utf-8").replace('sites = ["jinan-museum"]', 'sites = ["jinan-musuem"]', 1),
        encoding="utf-8",
    )
    code, text = check_config(path, keys_env)
    assert code == 2, text
    lines = text.splitlines()
    assert lines[0].startswith(f'{thresholds}:64: [[threshold]] #4 sites: no site "jinan-musuem" in the registry')
    assert 'did you mean "jinan-museum"?' in lines[0]
    assert lines[-1].startswith("check-config: ") and lines[-1].endswith("in the thresholds file; nothing was changed")


def test_unusable_key_files_exit_2(tmp_path: Path, keys_env: dict[str, str]) -> None:
    path = copy_examples(tmp_path)
    vapid = Path(keys_env["RELIC_GUARD_ALERTS_VAPID_KEY_FILE"])
    vapid.parent.mkdir()
    vapid.write_text("not a key\n", encoding="ascii")
    code, text = check_config(path, keys_env)
    assert code == 2
    assert text.splitlines()[0].startswith(f"{vapid}: not a Web Push (VAPID) private key")
    assert text.splitlines()[-1] == "check-config: 1 problem in the alert settings; nothing was changed"

    vapid.unlink()
    ack = Path(keys_env["RELIC_GUARD_ALERTS_ACK_KEY_FILE"])
    ack.write_text("abcd\n", encoding="ascii")
    code, text = check_config(path, keys_env)
    assert code == 2
    assert text.splitlines()[0].startswith(f"{ack}: not an acknowledge-link key (expected at least 64 hex digits)")
    assert not vapid.exists()
