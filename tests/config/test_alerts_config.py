"""[alerts]: every key from the file and from RELIC_GUARD_ALERTS_*, and mistakes with file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from alerts.channels.base import RetryPolicy
from alerts.rules.common import EngineSettings
from relic_guard.alerting.thresholds_load import engine_settings, retry_policy
from relic_guard.config import AlertsConfig
from relic_guard.config_load import SmtpServer, load_config, parse_smtp_url
from relic_guard.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "relic-guard.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(path: Path | None, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env or {})
    return caught.value.problems


def test_defaults() -> None:
    alerts = load_config(None, {}).alerts
    assert alerts == AlertsConfig()
    assert alerts.routing_file is None and alerts.thresholds_file is None
    assert alerts.public_url == "http://127.0.0.1:8080"
    assert alerts.ack_key_file == Path("var/ack.key") and alerts.ack_ttl_s == 86400
    assert alerts.tick_interval_ms == 200
    assert (alerts.delivery_timeout_s, alerts.delivery_max_attempts) == (5.0, 5)
    assert alerts.smtp_url is None and alerts.email_from == "relic-guard@localhost"
    assert alerts.vapid_key_file == Path("var/vapid.pem") and alerts.vapid_subject == "mailto:ops@localhost"
    assert alerts.api_tokens_file is None


def test_every_key_from_the_file_with_paths_relative_to_it(tmp_path: Path) -> None:
    conf = tmp_path / "etc"
    conf.mkdir()
    for name in ("routing.toml", "thresholds.toml", "tokens.toml"):
        (conf / name).write_text("", encoding="utf-8")
    path = write(
        conf,
        """
        [alerts]
        routing_file = "routing.toml"
        thresholds_file = "thresholds.toml"
        public_url = "https://relic.wwj.jinan.example.cn/guard/"
        ack_key_file = "keys/ack.key"
        ack_ttl_s = 3600
        tick_interval_ms = 50
        fire_confirm_window_s = 90
        site_unreachable_min_devices = 3
        delivery_timeout_s = 2.5
        delivery_max_attempts = 8
        delivery_base_delay_s = 1
        delivery_max_delay_s = 60
        smtp_url = "smtp+starttls://alerts:pa55@mail.example.cn:587"
        email_from = "文物安全告警 <relic-guard@wwj.jinan.example.cn>"
        vapid_key_file = "/srv/relic/vapid.pem"
        vapid_subject = "https://wwj.jinan.example.cn/contact"
        api_tokens_file = "tokens.toml"
        """,
    )
    alerts = load_config(path, {}).alerts
    assert alerts == AlertsConfig(
        routing_file=conf / "routing.toml",
        thresholds_file=conf / "thresholds.toml",
        public_url="https://relic.wwj.jinan.example.cn/guard",  # one form, no trailing '/'
        ack_key_file=conf / "keys" / "ack.key",
        ack_ttl_s=3600,
        tick_interval_ms=50,
        fire_confirm_window_s=90.0,
        site_unreachable_min_devices=3,
        delivery_timeout_s=2.5,
        delivery_max_attempts=8,
        delivery_base_delay_s=1.0,
        delivery_max_delay_s=60.0,
        smtp_url="smtp+starttls://alerts:pa55@mail.example.cn:587",
        email_from="文物安全告警 <relic-guard@wwj.jinan.example.cn>",
        vapid_key_file=Path("/srv/relic/vapid.pem"),
        vapid_subject="https://wwj.jinan.example.cn/contact",
        api_tokens_file=conf / "tokens.toml",
    )
    assert "pa55" not in repr(alerts)
    assert engine_settings(alerts) == EngineSettings(fire_confirm_window_s=90.0, site_unreachable_min_devices=3)
    assert retry_policy(alerts) == RetryPolicy(max_attempts=8, base_delay_s=1.0, max_delay_s=60.0)


def test_every_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "routing.toml").write_text("", encoding="utf-8")
    (tmp_path / "limits.toml").write_text("", encoding="utf-8")
    (tmp_path / "tokens").write_text("", encoding="utf-8")
    env = {
        "RELIC_GUARD_ALERTS_ROUTING_FILE": "routing.toml",
        "RELIC_GUARD_ALERTS_THRESHOLDS_FILE": "limits.toml",
        "RELIC_GUARD_ALERTS_PUBLIC_URL": "http://192.168.10.5:8080",
        "RELIC_GUARD_ALERTS_ACK_KEY_FILE": "/run/relic/ack.key",
        "RELIC_GUARD_ALERTS_ACK_TTL_S": "7200",
        "RELIC_GUARD_ALERTS_TICK_INTERVAL_MS": "1000",
        "RELIC_GUARD_ALERTS_FIRE_CONFIRM_WINDOW_S": "60.5",
        "RELIC_GUARD_ALERTS_SITE_UNREACHABLE_MIN_DEVICES": "1",
        "RELIC_GUARD_ALERTS_DELIVERY_TIMEOUT_S": "10",
        "RELIC_GUARD_ALERTS_DELIVERY_MAX_ATTEMPTS": "3",
        "RELIC_GUARD_ALERTS_DELIVERY_BASE_DELAY_S": "0",
        "RELIC_GUARD_ALERTS_DELIVERY_MAX_DELAY_S": "5",
        "RELIC_GUARD_ALERTS_SMTP_URL": "smtp://127.0.0.1:2525",
        "RELIC_GUARD_ALERTS_EMAIL_FROM": "guard@example.cn",
        "RELIC_GUARD_ALERTS_VAPID_KEY_FILE": "keys/vapid.pem",
        "RELIC_GUARD_ALERTS_VAPID_SUBJECT": "mailto:duty@example.cn",
        "RELIC_GUARD_ALERTS_API_TOKENS_FILE": "tokens",
    }
    alerts = load_config(None, env).alerts
    # Relative paths from the environment are relative to the working directory.
    assert alerts.routing_file == Path("routing.toml")
    assert alerts.thresholds_file == Path("limits.toml")
    assert alerts.public_url == "http://192.168.10.5:8080"
    assert alerts.ack_key_file == Path("/run/relic/ack.key")
    assert (alerts.ack_ttl_s, alerts.tick_interval_ms) == (7200, 1000)
    assert (alerts.fire_confirm_window_s, alerts.site_unreachable_min_devices) == (60.5, 1)
    assert (alerts.delivery_timeout_s, alerts.delivery_max_attempts) == (10.0, 3)
    assert (alerts.delivery_base_delay_s, alerts.delivery_max_delay_s) == (0.0, 5.0)
    assert alerts.smtp_url == "smtp://127.0.0.1:2525"
    assert alerts.email_from == "guard@example.cn"
    assert alerts.vapid_key_file == Path("keys/vapid.pem")
    assert alerts.vapid_subject == "mailto:duty@example.cn"
    assert alerts.api_tokens_file == Path("tokens")


def test_environment_overrides_the_file_and_an_empty_variable_clears_optional_keys(tmp_path: Path) -> None:
    (tmp_path / "routing.toml").write_text("", encoding="utf-8")
    path = write(
        tmp_path,
        """
        [alerts]
        routing_file = "routing.toml"
        smtp_url = "smtp://127.0.0.1:25"
        delivery_max_attempts = 4
        """,
    )
    env = {
        "RELIC_GUARD_ALERTS_ROUTING_FILE": "",
        "RELIC_GUARD_ALERTS_SMTP_URL": "",
        "RELIC_GUARD_ALERTS_DELIVERY_MAX_ATTEMPTS": "2",
    }
    alerts = load_config(path, env).alerts
    assert alerts.routing_file is None
    assert alerts.smtp_url is None
    assert alerts.delivery_max_attempts == 2


BAD_FILE_VALUES = [
    pytest.param(
        'routing_file = "missing.toml"',
        "{f}:2: [alerts] routing_file: no such file: {d}/missing.toml; give the path of the routing file",
        id="routing-missing",
    ),
    pytest.param(
        'thresholds_file = "."',
        "{f}:2: [alerts] thresholds_file: {d} is a folder; give the path of the thresholds file",
        id="thresholds-folder",
    ),
    pytest.param(
        'api_tokens_file = "tokens"',
        "{f}:2: [alerts] api_tokens_file: no such file: {d}/tokens; give the path of the API tokens file",
        id="api-tokens-missing",
    ),
    pytest.param(
        'public_url = "relic.example.cn"',
        '{f}:2: [alerts] public_url: "relic.example.cn" is not an http(s) URL; write the address phones open',
        id="public-url-no-scheme",
    ),
    pytest.param(
        'public_url = "ftp://relic.example.cn"',
        '{f}:2: [alerts] public_url: "ftp://relic.example.cn" is not an http(s) URL',
        id="public-url-scheme",
    ),
    pytest.param(
        'public_url = "https://relic.example.cn/?x=1"',
        '{f}:2: [alerts] public_url: "https://relic.example.cn/?x=1" has a query or fragment',
        id="public-url-query",
    ),
    pytest.param(
        'public_url = "https://admin:pw@relic.example.cn"',
        '{f}:2: [alerts] public_url: "https://admin:***@relic.example.cn" carries a user name',
        id="public-url-credentials-masked",
    ),
    pytest.param(
        'public_url = "https://relic.example.cn:99999"',
        '{f}:2: [alerts] public_url: "https://relic.example.cn:99999" has an invalid host or port',
        id="public-url-port",
    ),
    pytest.param(
        "ack_ttl_s = 10",
        "{f}:2: [alerts] ack_ttl_s: 10 is out of range; it must be between 60 and 2678400",
        id="ack-ttl-low",
    ),
    pytest.param(
        'ack_ttl_s = "86400"',
        '{f}:2: [alerts] ack_ttl_s: "86400" is a string; write the number without quotes',
        id="ack-ttl-quoted",
    ),
    pytest.param(
        "tick_interval_ms = 5",
        "{f}:2: [alerts] tick_interval_ms: 5 is out of range; it must be between 10 and 5000 (milliseconds)",
        id="tick-low",
    ),
    pytest.param(
        "tick_interval_ms = 10000",
        "{f}:2: [alerts] tick_interval_ms: 10000 is out of range; it must be between 10 and 5000",
        id="tick-high",
    ),
    pytest.param(
        "tick_interval_ms = 0.5",
        "{f}:2: [alerts] tick_interval_ms: expected a whole number, got 0.5",
        id="tick-float",
    ),
    pytest.param(
        "fire_confirm_window_s = 0",
        "{f}:2: [alerts] fire_confirm_window_s: 0.0 is not a positive duration",
        id="fire-window-zero",
    ),
    pytest.param(
        "site_unreachable_min_devices = 0",
        "{f}:2: [alerts] site_unreachable_min_devices: 0 is out of range; it must be at least 1",
        id="unreachable-zero",
    ),
    pytest.param(
        "delivery_timeout_s = -1",
        "{f}:2: [alerts] delivery_timeout_s: -1.0 is not a positive duration",
        id="timeout-negative",
    ),
    pytest.param(
        "delivery_max_attempts = 0",
        "{f}:2: [alerts] delivery_max_attempts: 0 is out of range; it must be between 1 and 100",
        id="attempts-zero",
    ),
    pytest.param(
        "delivery_base_delay_s = -0.5",
        "{f}:2: [alerts] delivery_base_delay_s: -0.5 is negative; give seconds ≥ 0",
        id="base-delay-negative",
    ),
    pytest.param(
        "delivery_base_delay_s = 10\ndelivery_max_delay_s = 5",
        "{f}:3: [alerts] delivery_max_delay_s: delivery_max_delay_s (5.0, from {f}:3) is below "
        "delivery_base_delay_s (10.0, from {f}:2)",
        id="max-below-base",
    ),
    pytest.param(
        "delivery_base_delay_s = 60",
        "{f}:2: [alerts] delivery_base_delay_s: delivery_max_delay_s (30.0, from the built-in default) is below "
        "delivery_base_delay_s (60.0, from {f}:2)",
        id="base-above-default-max",
    ),
    pytest.param(
        'smtp_url = "smtps://alerts:s3cret@mail.example.cn:465"',
        "{f}:2: [alerts] smtp_url: smtps:// (TLS from the first byte, port 465) is not supported; use the same "
        "server's STARTTLS port instead: smtp+starttls://user:password@mail.example.cn:587",
        id="smtps",
    ),
    pytest.param(
        'smtp_url = "mailto://alerts:s3cret@mail.example.cn"',
        "{f}:2: [alerts] smtp_url: scheme 'mailto://' is not supported; use smtp:// or smtp+starttls://",
        id="smtp-scheme",
    ),
    pytest.param(
        'smtp_url = "smtp://alerts:s3cret@mail.example.cn:25"',
        '{f}:2: [alerts] smtp_url: "smtp://alerts:***@mail.example.cn:25" would send the password in clear text',
        id="smtp-password-in-clear",
    ),
    pytest.param(
        'smtp_url = "smtp://alerts@mail.example.cn"',
        '{f}:2: [alerts] smtp_url: "smtp://alerts@mail.example.cn" has a user name without a password',
        id="smtp-user-only",
    ),
    pytest.param(
        'smtp_url = "smtp+starttls://mail.example.cn:587?starttls=true"',
        '{f}:2: [alerts] smtp_url: "smtp+starttls://mail.example.cn:587?starttls=true" has a path or query',
        id="smtp-query",
    ),
    pytest.param(
        'smtp_url = "smtp+starttls://:587"',
        '{f}:2: [alerts] smtp_url: "smtp+starttls://:587" names no host',
        id="smtp-no-host",
    ),
    pytest.param(
        'email_from = "relic-guard"',
        '{f}:2: [alerts] email_from: "relic-guard" is not an e-mail address',
        id="email-from",
    ),
    pytest.param(
        'vapid_subject = "ops@example.cn"',
        '{f}:2: [alerts] vapid_subject: "ops@example.cn" is not a VAPID contact; write mailto:ops@your-domain',
        id="vapid-subject",
    ),
    pytest.param(
        'vapid_key_file = "."',
        "{f}:2: [alerts] vapid_key_file: {d} is a folder; give the path of the VAPID key file",
        id="vapid-folder",
    ),
    pytest.param(
        "smtp_port = 587",
        "{f}:2: [alerts] smtp_port: unknown key 'smtp_port' in [alerts]; did you mean 'smtp_url'? (host, port, "
        "user, password and STARTTLS all go into the URL, e.g. smtp+starttls://user:password@mail.example.cn:587)",
        id="smtp-part-key",
    ),
    pytest.param(
        'routing = "routing.toml"',
        "{f}:2: [alerts] routing: unknown key 'routing' in [alerts]; did you mean 'routing_file'?",
        id="alias",
    ),
    pytest.param(
        "tick_interval_s = 1",
        "{f}:2: [alerts] tick_interval_s: unknown key 'tick_interval_s' in [alerts]; did you mean 'tick_interval_ms'?",
        id="typo",
    ),
]


@pytest.mark.parametrize(("body", "expected"), BAD_FILE_VALUES)
def test_bad_values_name_file_line_and_key(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, "[alerts]\n" + body + "\n")
    problems = problems_of(path)
    wanted = expected.format(f=path, d=tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(wanted), problems
    assert "s3cret" not in problems[0]


BAD_ENV_VALUES = [
    pytest.param(
        "RELIC_GUARD_ALERTS_TICK_INTERVAL_MS",
        "fast",
        "environment variable RELIC_GUARD_ALERTS_TICK_INTERVAL_MS: [alerts] tick_interval_ms: 'fast' is not a "
        "whole number",
        id="tick-text",
    ),
    pytest.param(
        "RELIC_GUARD_ALERTS_PUBLIC_URL",
        "",
        "environment variable RELIC_GUARD_ALERTS_PUBLIC_URL: [alerts] public_url: is empty; set a value",
        id="public-url-empty",
    ),
    pytest.param(
        "RELIC_GUARD_ALERTS_SMTP_URL",
        "smtp://duty:hunter2@mail.example.cn",
        "environment variable RELIC_GUARD_ALERTS_SMTP_URL: [alerts] smtp_url: \"smtp://duty:***@mail.example.cn\" "
        "would send the password in clear text",
        id="smtp-masked",
    ),
    pytest.param(
        "RELIC_GUARD_ALERTS_ROUTING_FILE",
        "/nonexistent/routing.toml",
        "environment variable RELIC_GUARD_ALERTS_ROUTING_FILE: [alerts] routing_file: no such file: "
        "/nonexistent/routing.toml",
        id="routing-missing",
    ),
    pytest.param(
        "RELIC_GUARD_ALERTS_DELIVERY_MAX_ATTEMPS",
        "3",
        "environment variable RELIC_GUARD_ALERTS_DELIVERY_MAX_ATTEMPS: no key 'delivery_max_attemps' in [alerts]; "
        "did you mean RELIC_GUARD_ALERTS_DELIVERY_MAX_ATTEMPTS?",
        id="unknown-variable",
    ),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD_ENV_VALUES)
def test_bad_environment_values_name_the_variable(name: str, value: str, expected: str) -> None:
    problems = problems_of(None, {name: value})
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems
    assert "hunter2" not in problems[0]


def test_a_bad_file_value_is_reported_even_while_the_environment_hides_it(tmp_path: Path) -> None:
    path = write(tmp_path, "[alerts]\n\ntick_interval_ms = 1\n")
    (problem,) = problems_of(path, {"RELIC_GUARD_ALERTS_TICK_INTERVAL_MS": "100"})
    assert problem.startswith(f"{path}:3: [alerts] tick_interval_ms: 1 is out of range")


SMTP_URLS = [
    ("smtp://127.0.0.1", SmtpServer(host="127.0.0.1", port=25, starttls=False)),
    ("smtp://localhost:2525", SmtpServer(host="localhost", port=2525, starttls=False)),
    ("smtp://relay:pw@127.0.0.1:25", SmtpServer(host="127.0.0.1", port=25, starttls=False, username="relay", password="pw")),
    (
        "smtp+starttls://alerts%40wwj:p%3Ass%2Fw@mail.example.cn",
        SmtpServer(host="mail.example.cn", port=587, starttls=True, username="alerts@wwj", password="p:ss/w"),
    ),
    ("SMTP+STARTTLS://mail.example.cn:2587/", SmtpServer(host="mail.example.cn", port=2587, starttls=True)),
]


@pytest.mark.parametrize(("url", "expected"), SMTP_URLS)
def test_parse_smtp_url(url: str, expected: SmtpServer) -> None:
    assert parse_smtp_url(url) == expected


def test_smtp_server_repr_hides_the_password() -> None:
    server = parse_smtp_url("smtp+starttls://alerts:hunter2@mail.example.cn")
    assert "hunter2" not in repr(server)
