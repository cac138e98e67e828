"""load_config: file + environment -> Config, every problem with its file:line or variable."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relic_guard.config import Config, IngestConfig
from relic_guard.config_load import load_config, mask_url, parse_listen
from relic_guard.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "relic-guard.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(path: Path | None, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env or {})
    return caught.value.problems


# Each case: file text, then the expected problem (with `{f}` for the file path).
FILE_CASES = [
    pytest.param(
        """
        [ingest]
        workers = 2
        batchsize = 10
        """,
        "{f}:3: [ingest] batchsize: unknown key 'batchsize' in [ingest]; did you mean 'batch_max_messages'?",
        id="unknown-key-suggestion",
    ),
    pytest.param(
        """
        [mqtt]
        password = "x"
        """,
        "{f}:2: [mqtt] password: unknown key 'password' in [mqtt]; did you mean 'url'? "
        "(host, port, user and password all go into the URL, e.g. mqtts://user:pass@host:8883)",
        id="unknown-key-alias",
    ),
    pytest.param(
        """
        # comment

        [ingset]
        workers = 1
        """,
        "{f}:3: [ingset]: unknown section [ingset]; did you mean [ingest]? (or delete the section)",
        id="unknown-section",
    ),
    pytest.param(
        """
        [spool]
        dir = "spool"
        registry_dir = "sheets"
        """,
        "{f}:3: [spool] registry_dir: unknown key 'registry_dir' in [spool]; 'registry_dir' is a "
        "top-level key: move it above the first [section] header",
        id="top-level-key-in-section",
    ),
    pytest.param(
        """
        registy_dir = "x"
        """,
        "{f}:1: registy_dir: unknown key 'registy_dir' at top level; did you mean 'registry_dir'?",
        id="unknown-top-level-key",
    ),
    pytest.param(
        """
        [ingest]
        workers = "4"
        """,
        '{f}:2: [ingest] workers: "4" is a string; write the number without quotes',
        id="int-quoted",
    ),
    pytest.param(
        """
        [ingest]
        workers = 2.5
        """,
        "{f}:2: [ingest] workers: expected a whole number, got 2.5; write it without a decimal point",
        id="int-float",
    ),
    pytest.param(
        """
        [mqtt]
        dji_enabled = "yes"
        """,
        '{f}:2: [mqtt] dji_enabled: "yes" is a string; write true or false without quotes',
        id="bool-quoted",
    ),
    pytest.param(
        """
        [mqtt]
        frigate_enabled = 1
        """,
        "{f}:2: [mqtt] frigate_enabled: expected true or false, got 1; write true or false (lower case)",
        id="bool-int",
    ),
    pytest.param(
        """
        [mqtt]
        reconnect_min_s = nan
        """,
        "{f}:2: [mqtt] reconnect_min_s: nan is not a finite number; give a real value like 0.5",
        id="float-nan",
    ),
    pytest.param(
        """
        [http]
        listen = 8080
        """,
        "{f}:2: [http] listen: expected a string, got 8080; put the value in double quotes",
        id="str-int",
    ),
    pytest.param(
        """
        [http]
        listen = "127.0.0.1:70000"
        """,
        "{f}:2: [http] listen: port 70000 is outside 1..65535; write host:port, like 127.0.0.1:8080, "
        "0.0.0.0:8080 (all interfaces) or [::1]:8080",
        id="listen-port-range",
    ),
    pytest.param(
        """
        [http]
        listen = "8080"
        """,
        "{f}:2: [http] listen: '8080' is not host:port; write host:port",
        id="listen-no-host",
    ),
    pytest.param(
        """
        [mqtt]
        receive_maximum = 70000
        """,
        "{f}:2: [mqtt] receive_maximum: 70000 is out of range; it must be between 1 and 65535 "
        "(MQTT 5 Receive Maximum)",
        id="receive-maximum-high",
    ),
    pytest.param(
        """
        [mqtt]
        receive_maximum = 0
        """,
        "{f}:2: [mqtt] receive_maximum: 0 is out of range; it must be between 1 and 65535",
        id="receive-maximum-zero",
    ),
    pytest.param(
        """
        [ingest]
        batch_max_messages = 0
        """,
        "{f}:2: [ingest] batch_max_messages: 0 is out of range; it must be at least 1",
        id="positive-int",
    ),
    pytest.param(
        """
        [ingest]
        workers = -1
        """,
        "{f}:2: [ingest] workers: -1 is out of range; it must be between 0 and 1024 "
        "(0 means one per CPU core)",
        id="workers-negative",
    ),
    pytest.param(
        """
        [mqtt]
        receive_maximum = 1000

        [ingest]
        batch_max_messages = 2000
        """,
        "{f}:5: [ingest] batch_max_messages: [ingest] batch_max_messages (2000, from {f}:5) is larger "
        "than [mqtt] receive_maximum (1000, from {f}:2)",
        id="batch-over-window",
    ),
    pytest.param(
        """
        [mqtt]
        receive_maximum = 1000
        """,
        "{f}:2: [mqtt] receive_maximum: [ingest] batch_max_messages (5000, from the built-in default) is "
        "larger than [mqtt] receive_maximum (1000, from {f}:2)",
        id="window-under-default-batch",
    ),
    pytest.param(
        """
        [mqtt]
        reconnect_min_s = 10
        reconnect_max_s = 5
        """,
        "{f}:3: [mqtt] reconnect_max_s: reconnect_max_s (5.0, from {f}:3) is below reconnect_min_s",
        id="reconnect-order",
    ),
    pytest.param(
        """
        [mqtt]
        url = "http://broker:1883"
        """,
        "{f}:2: [mqtt] url: scheme 'http://' is not supported; use mqtt:// or mqtts://",
        id="mqtt-scheme",
    ),
    pytest.param(
        """
        [mqtt]
        url = "broker.example"
        """,
        '{f}:2: [mqtt] url: "broker.example" has no scheme; write it like mqtt://host:1883',
        id="mqtt-no-scheme",
    ),
    pytest.param(
        """
        [mqtt]
        url = "mqtt://guard:topsecret@broker:99999"
        """,
        '{f}:2: [mqtt] url: "mqtt://guard:***@broker:99999" has an invalid host or port',
        id="mqtt-port-masked",
    ),
    pytest.param(
        """
        [database]
        url = "mysql://relic:topsecret@db/relic"
        """,
        "{f}:2: [database] url: scheme 'mysql://' is not supported; use postgres:// or postgresql://",
        id="database-scheme",
    ),
    pytest.param(
        """
        [mqtt]
        topic_prefix = "relic/jinan"
        """,
        '{f}:2: [mqtt] topic_prefix: "relic/jinan" is not a valid topic prefix (a single topic level)',
        id="topic-prefix-slash",
    ),
    pytest.param(
        """
        [mqtt]
        url = "mqtts://broker:8883"
        ca_file = "missing-ca.pem"
        """,
        "{f}:3: [mqtt] ca_file: no such file: {d}/missing-ca.pem; give the CA certificate",
        id="ca-file-missing",
    ),
    pytest.param(
        """
        [spool]
        quota_bytes = 1000
        """,
        "{f}:2: [spool] quota_bytes: 1000 is out of range; it must be at least 1048576 bytes",
        id="spool-quota",
    ),
    pytest.param(
        """
        mqtt = "mqtt://broker"
        """,
        "{f}:1: [mqtt]: must be a section, not a single value",
        id="section-as-value",
    ),
    pytest.param(
        """
        [mqtt]
        url = "mqtt://a"
        url = "mqtt://b"
        """,
        "{f}:3: TOML syntax error: [mqtt] url is set twice (first on line 2); keep one of them",
        id="duplicate-key",
    ),
    pytest.param(
        """
        [ingest]
        workers = four
        """,
        "{f}:2:11: TOML syntax error: Invalid value; put strings in double quotes",
        id="syntax-bare-word",
    ),
    pytest.param(
        """
        [ingest]
        workers 4
        """,
        "{f}:2:9: TOML syntax error: Expected '=' after a key in a key/value pair; write each setting as "
        "key = value",
        id="syntax-missing-equals",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FILE_CASES)
def test_file_problems_name_file_line_section_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    problems = problems_of(path)
    wanted = expected.format(f=path, d=tmp_path)
    assert any(problem.startswith(wanted) for problem in problems), problems
    assert len(problems) == 1, problems


def test_every_problem_is_collected_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        registry_dir = 5

        [mqtt]
        url = "tcp://broker"
        receive_maximum = 0
        keepalive_s = "30"

        [http]
        listen = "nowhere"

        [ingest]
        batchsize = 10
        workers = 2.5

        [stroe]
        retention_days = 10
        """,
    )
    problems = problems_of(path, {"RELIC_GUARD_INGEST_BATCH_MAX_DELAY_MS": "soon"})
    lines = [p.split(": ", 1)[0] for p in problems]
    assert lines == [
        f"{path}:1",
        f"{path}:4",
        f"{path}:5",
        f"{path}:6",
        f"{path}:9",
        f"{path}:12",
        f"{path}:13",
        f"{path}:15",
        "environment variable RELIC_GUARD_INGEST_BATCH_MAX_DELAY_MS",
    ]


def test_line_finder_handles_dotted_quoted_and_multiline(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '''
        mqtt.keepalive_s = "30"
        note = """
        workers = 3
        """

        [ingest]
          "workers" = "x"
        ''',
    )
    problems = problems_of(path)
    assert f'{path}:1: [mqtt] keepalive_s: "30" is a string' in problems[0]
    assert problems[1].startswith(f"{path}:2: note: unknown key 'note' at top level")
    assert problems[2].startswith(f'{path}:7: [ingest] workers: expected a whole number, got "x"')


def test_unclosed_string(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nurl = "mqtt://broker\n')
    (problem,) = problems_of(path)
    assert problem == (
        f"{path}:2:21: TOML syntax error: Illegal character '\\n'; a string must end on the line it "
        "starts on: close the quote (or use triple quotes)"
    )


def test_inline_table_problems_point_at_the_table_line(tmp_path: Path) -> None:
    path = write(tmp_path, '# broker\nmqtt = { url = "mqtt://a", qos = 1 }\n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:2: [mqtt] qos: unknown key 'qos' in [mqtt]")


def test_syntax_error_at_end_of_document_points_at_last_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nurl = """mqtt://broker\n\n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3: TOML syntax error: Unterminated string; close the string")


def test_utf8_bom_in_toml_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[http]\nlisten = '0.0.0.0:9000'\n".encode())
    assert load_config(path, {}).http.listen == "0.0.0.0:9000"


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes('[mqtt]\n# 消防\nurl = "mqtt://a"\n'.encode("gbk"))
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:2: not UTF-8 text")


def test_missing_file_names_its_origin(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    (problem,) = problems_of(missing)
    assert problem.startswith(f"{missing}: no such file (named by --config)")
    (problem,) = problems_of(None, {"RELIC_GUARD_CONFIG": str(missing)})
    assert "named by environment variable RELIC_GUARD_CONFIG" in problem


def test_no_file_no_env_gives_defaults() -> None:
    assert load_config(None, {}) == Config()


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[ingest]\nworkers = 3\n")
    config = load_config(None, {"RELIC_GUARD_CONFIG": str(path)})
    assert config.ingest.workers == 3
    assert config.source_file == path


def test_argument_path_wins_over_environment_path(tmp_path: Path) -> None:
    chosen = write(tmp_path, "[ingest]\nworkers = 3\n", name="a.toml")
    other = write(tmp_path, "[ingest]\nworkers = 9\n", name="b.toml")
    config = load_config(chosen, {"RELIC_GUARD_CONFIG": str(other)})
    assert config.ingest.workers == 3


def test_relative_paths_resolve_against_the_file_folder(tmp_path: Path) -> None:
    (tmp_path / "etc" / "certs").mkdir(parents=True)
    (tmp_path / "etc" / "certs" / "ca.pem").write_text("pem")
    path = write(
        tmp_path / "etc",
        """
        registry_dir = "sheets"

        [mqtt]
        url = "mqtts://broker:8883"
        ca_file = "certs/ca.pem"

        [spool]
        dir = "../var/spool"
        """,
    )
    config = load_config(path, {})
    assert config.registry_dir == tmp_path / "etc" / "sheets"
    assert config.mqtt.ca_file == tmp_path / "etc" / "certs" / "ca.pem"
    assert config.spool.dir == tmp_path / "var" / "spool"
    assert config.source_file == path


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path, f'registry_dir = "{tmp_path / "reg"}"\n')
    assert load_config(path, {}).registry_dir == tmp_path / "reg"


def test_ca_file_needs_tls(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("pem")
    path = write(tmp_path, '[mqtt]\nca_file = "ca.pem"\n')
    (problem,) = problems_of(path)
    assert problem.startswith(
        f"{path}:2: [mqtt] ca_file: a CA file is set but [mqtt] url (from the built-in default) uses mqtt://"
    )


# Environment ---------------------------------------------------------------------------

ENV_CASES = [
    ("RELIC_GUARD_INGEST_WORKERS", "4", lambda c: c.ingest.workers, 4),
    ("RELIC_GUARD_INGEST_WORKERS", " 1_000 ", lambda c: c.ingest.workers, 1000),
    ("RELIC_GUARD_SPOOL_QUOTA_BYTES", "2147483648", lambda c: c.spool.quota_bytes, 2**31),
    ("RELIC_GUARD_MQTT_RECONNECT_MAX_S", "60", lambda c: c.mqtt.reconnect_max_s, 60.0),
    ("RELIC_GUARD_DATABASE_CONNECT_TIMEOUT_S", "2.5", lambda c: c.database.connect_timeout_s, 2.5),
    ("RELIC_GUARD_MQTT_DJI_ENABLED", "false", lambda c: c.mqtt.dji_enabled, False),
    ("RELIC_GUARD_MQTT_DJI_ENABLED", "No", lambda c: c.mqtt.dji_enabled, False),
    ("RELIC_GUARD_MQTT_DJI_ENABLED", "0", lambda c: c.mqtt.dji_enabled, False),
    ("RELIC_GUARD_MQTT_FRIGATE_ENABLED", "TRUE", lambda c: c.mqtt.frigate_enabled, True),
    ("RELIC_GUARD_MQTT_FRIGATE_ENABLED", "yes", lambda c: c.mqtt.frigate_enabled, True),
    ("RELIC_GUARD_MQTT_FRIGATE_ENABLED", "1", lambda c: c.mqtt.frigate_enabled, True),
    ("RELIC_GUARD_MQTT_URL", "mqtts://u:p@broker:8883", lambda c: c.mqtt.url, "mqtts://u:p@broker:8883"),
    ("RELIC_GUARD_DATABASE_URL", "postgres://db/relic", lambda c: c.database.url, "postgres://db/relic"),
    ("RELIC_GUARD_DATABASE_URL", "", lambda c: c.database.url, None),
    ("RELIC_GUARD_HTTP_LISTEN", "[::1]:9090", lambda c: c.http.listen, "[::1]:9090"),
    ("RELIC_GUARD_REGISTRY", "/srv/registry", lambda c: c.registry_dir, Path("/srv/registry")),
    ("RELIC_GUARD_REGISTRY_DIR", "sheets", lambda c: c.registry_dir, Path("sheets")),
    ("RELIC_GUARD_SPOOL_DIR", "/var/lib/rg/spool", lambda c: c.spool.dir, Path("/var/lib/rg/spool")),
    ("RELIC_GUARD_MQTT_TOPIC_PREFIX", "heritage", lambda c: c.mqtt.topic_prefix, "heritage"),
    ("RELIC_GUARD_MQTT_CA_FILE", "", lambda c: c.mqtt.ca_file, None),
]


@pytest.mark.parametrize(("name", "value", "get", "expected"), ENV_CASES)
def test_environment_values_convert_to_the_field_type(
    name: str, value: str, get: object, expected: object
) -> None:
    config = load_config(None, {name: value})
    assert callable(get)
    result = get(config)
    assert result == expected
    assert type(result) is type(expected)


ENV_ERROR_CASES = [
    ("RELIC_GUARD_INGEST_WORKERS", "four", "[ingest] workers: 'four' is not a whole number"),
    ("RELIC_GUARD_INGEST_WORKERS", "2.5", "[ingest] workers: '2.5' is not a whole number"),
    ("RELIC_GUARD_MQTT_DJI_ENABLED", "maybe", "[mqtt] dji_enabled: 'maybe' is not a boolean"),
    ("RELIC_GUARD_MQTT_KEEPALIVE_S", "0", "[mqtt] keepalive_s: 0 is out of range"),
    ("RELIC_GUARD_DATABASE_CONNECT_TIMEOUT_S", "inf", "[database] connect_timeout_s: 'inf' is not a finite"),
    ("RELIC_GUARD_DATABASE_CONNECT_TIMEOUT_S", "-1", "[database] connect_timeout_s: -1.0 is not a positive"),
    ("RELIC_GUARD_HTTP_LISTEN", "", "[http] listen: is empty; set a value or unset the variable"),
    ("RELIC_GUARD_MQTT_URL", "mqtt://guard:hunter2@", '[mqtt] url: "mqtt://guard:***@" names no host'),
    (
        "RELIC_GUARD_INGEST_BATCHSIZE",
        "3",
        "no key 'batchsize' in [ingest]; did you mean RELIC_GUARD_INGEST_BATCH_MAX_MESSAGES?",
    ),
]


@pytest.mark.parametrize(("name", "value", "expected"), ENV_ERROR_CASES)
def test_environment_errors_name_the_variable(name: str, value: str, expected: str) -> None:
    (problem,) = problems_of(None, {name: value})
    assert problem.startswith(f"environment variable {name}: {expected}"), problem
    assert "hunter2" not in problem


def test_environment_overrides_file_and_file_overrides_default(tmp_path: Path) -> None:
    path = write(tmp_path, "[ingest]\nworkers = 2\nbatch_max_delay_ms = 50\n")
    config = load_config(path, {"RELIC_GUARD_INGEST_WORKERS": "8"})
    assert config.ingest == IngestConfig(workers=8, batch_max_messages=5000, batch_max_delay_ms=50)


def test_bad_file_value_is_reported_even_when_environment_overrides_it(tmp_path: Path) -> None:
    path = write(tmp_path, '[ingest]\nworkers = "2"\n')
    (problem,) = problems_of(path, {"RELIC_GUARD_INGEST_WORKERS": "8"})
    assert problem.startswith(f"{path}:2: [ingest] workers:")


def test_environment_paths_are_relative_to_working_directory(tmp_path: Path) -> None:
    path = write(tmp_path, 'registry_dir = "from-file"\n')
    config = load_config(path, {"RELIC_GUARD_REGISTRY": "from-env"})
    assert config.registry_dir == Path("from-env")


def test_cross_check_uses_environment_values(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nreceive_maximum = 1000\n")
    assert (
        load_config(path, {"RELIC_GUARD_INGEST_BATCH_MAX_MESSAGES": "800"}).ingest.batch_max_messages == 800
    )
    (problem,) = problems_of(path, {"RELIC_GUARD_INGEST_BATCH_MAX_MESSAGES": "1001"})
    assert problem.startswith(
        "environment variable RELIC_GUARD_INGEST_BATCH_MAX_MESSAGES: [ingest] batch_max_messages: "
        "[ingest] batch_max_messages (1001, from environment variable "
        "RELIC_GUARD_INGEST_BATCH_MAX_MESSAGES) "
        f"is larger than [mqtt] receive_maximum (1000, from {path}:2)"
    )


def test_conflicting_registry_variables() -> None:
    (problem,) = problems_of(None, {"RELIC_GUARD_REGISTRY": "a", "RELIC_GUARD_REGISTRY_DIR": "b"})
    assert "both RELIC_GUARD_REGISTRY and RELIC_GUARD_REGISTRY_DIR are set" in problem


def test_unrelated_environment_is_ignored() -> None:
    env = {"PATH": "/usr/bin", "RELIC_GUARD_LOG_LEVEL": "debug", "RELIC_GUARD_CONFIG": ""}
    assert load_config(None, env) == Config()


@given(st.integers(min_value=1, max_value=65535))
def test_receive_maximum_from_environment_round_trips(value: int) -> None:
    env = {"RELIC_GUARD_MQTT_RECEIVE_MAXIMUM": str(value), "RELIC_GUARD_INGEST_BATCH_MAX_MESSAGES": "1"}
    assert load_config(None, env).mqtt.receive_maximum == value


@given(st.from_regex(r"[a-z][a-z_]{2,20}", fullmatch=True))
def test_unknown_keys_always_name_their_line(key: str) -> None:
    from relic_guard.config_load import _SPECS

    if key in _SPECS["store"]:
        return
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.toml"
        path.write_text(f"[http]\nlisten = '127.0.0.1:1'\n\n[store]\n{key} = 1\n", encoding="utf-8")
        (problem,) = problems_of(path)
        assert problem.startswith(f"{path}:5: [store] {key}: unknown key '{key}' in [store]")


# Helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("mqtts://guard:s3cr%40t@broker:8883", "mqtts://guard:***@broker:8883"),
        ("mqtt://broker:1883", "mqtt://broker:1883"),
        ("mqtt://guard@broker", "mqtt://guard@broker"),
        ("mqtt://guard:p@ss:w/rd@broker:1883/x", "mqtt://guard:***@broker:1883/x"),
        ("not a url", "not a url"),
        (
            "postgresql://relic:pw@db:5432/relic?sslmode=require",
            "postgresql://relic:***@db:5432/relic?sslmode=require",
        ),
        (
            "postgresql:///relic?host=/run/postgresql&password=pw",
            "postgresql:///relic?host=/run/postgresql&password=***",
        ),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::1]:80", ("::1", 80)), ("localhost:1", ("localhost", 1))],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["8080", ":8080", "host:0", "host:65536", "::1:80", "host: 80"])
def test_parse_listen_rejects(listen: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(listen)
