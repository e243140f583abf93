"""Configuration loading: defaults, every option, and precise errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import (
    COLLECTOR_NAMES,
    DEFAULT_PORT,
    ExporterConfig,
    ListenAddress,
    load_config,
    parse_listen_address,
)
from exporter.validation import ConfigError
from tests.exporter.conftest import bcrypt_hash, write_file

TOKEN = "s3cr3t-token-0123456789"


def test_defaults_listen_on_port_9110_with_every_collector_but_no_auth() -> None:
    config = ExporterConfig()
    assert config.listen == ListenAddress("0.0.0.0", 9110)
    assert DEFAULT_PORT != 9100
    assert config.collectors.enabled == frozenset(COLLECTOR_NAMES)
    assert not config.web.auth_required
    assert config.web.tls is None


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    config = load_config(write_file(tmp_path, ""))
    assert config.listen == ExporterConfig().listen
    assert config.collectors == ExporterConfig().collectors
    assert config.source == str(tmp_path / "exporter.yml")


def test_actions_are_off_unless_an_actions_file_is_named(tmp_path: Path) -> None:
    assert ExporterConfig().actions_file is None
    config = load_config(write_file(tmp_path, "actions_file: actions.yaml\n"))
    assert config.actions_file == tmp_path / "actions.yaml"


def test_full_file_is_read_into_typed_values(tmp_path: Path) -> None:
    hashed = bcrypt_hash("pw")
    path = write_file(
        tmp_path,
        f"""
listen_address: "127.0.0.1:9999"
log_level: debug
web:
  basic_auth_users:
    prometheus: "{hashed}"
  bearer_token: {TOKEN}
collectors:
  disabled: [sensors]
  cache_ttl_seconds: 2.5
  filesystem:
    mount_points_exclude: "^/boot"
    fs_types_exclude: "^tmpfs$"
    mount_timeout_seconds: 1
  disk:
    device_exclude: "^loop"
  network:
    device_exclude: "^(lo|docker0)$"
  processes:
    top_n: 3
  systemd:
    units: [nginx.service, "getty@tty1.service"]
""",
    )
    config = load_config(path)
    assert config.listen == ListenAddress("127.0.0.1", 9999)
    assert config.log_level == "debug"
    assert dict(config.web.basic_auth_users) == {"prometheus": hashed.encode()}
    assert config.web.bearer_token == TOKEN
    options = config.collectors
    assert options.enabled == frozenset(COLLECTOR_NAMES) - {"sensors"}
    assert options.cache_ttl_s == 2.5
    assert options.mount_points_exclude.pattern == "^/boot"
    assert options.fs_types_exclude.pattern == "^tmpfs$"
    assert options.mount_timeout_s == 1.0
    assert options.disk_device_exclude.pattern == "^loop"
    assert options.network_device_exclude.pattern == "^(lo|docker0)$"
    assert options.processes_top_n == 3
    assert options.systemd_units == ("nginx.service", "getty@tty1.service")


def test_enabled_list_selects_exactly_those_collectors(tmp_path: Path) -> None:
    config = load_config(write_file(tmp_path, "collectors:\n  enabled: [cpu, memory]\n"))
    assert config.collectors.enabled == frozenset({"cpu", "memory"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "listen_adress: x\n", "listen_adress: unknown key; expected one of: listen_address", id="typo"
        ),
        pytest.param("- a\n- b\n", "got ['a', 'b']; expected a mapping", id="top-level-list"),
        pytest.param("a: [\n", "not valid YAML at line 2, column 1", id="bad-yaml"),
        pytest.param(
            "listen_address: 9110\n", "listen_address: got 9110; expected a non-empty string", id="listen-int"
        ),
        pytest.param(
            "listen_address: localhost\n",
            "listen_address: got 'localhost'; expected HOST:PORT",
            id="listen-no-port",
        ),
        pytest.param(
            "listen_address: '0.0.0.0:70000'\n",
            "listen_address: got port 70000; expected a port from 0",
            id="port",
        ),
        pytest.param(
            "log_level: loud\n", "log_level: got 'loud'; expected one of: debug, info", id="log-level"
        ),
        pytest.param(
            "collectors:\n  cache_ttl_seconds: -1\n",
            "collectors.cache_ttl_seconds: got -1; expected a number of seconds from 0 to 300",
            id="ttl",
        ),
        pytest.param(
            "collectors:\n  cache_ttl_seconds: yes\n",
            "collectors.cache_ttl_seconds: got True; expected a number of seconds",
            id="ttl-bool",
        ),
        pytest.param(
            "collectors:\n  processes:\n    top_n: 0\n",
            "collectors.processes.top_n: got 0; expected an integer from 1 to 50",
            id="top-n",
        ),
        pytest.param(
            "collectors:\n  processes:\n    top_n: '5'\n",
            "collectors.processes.top_n: got '5'; expected an integer from 1 to 50",
            id="top-n-string",
        ),
        pytest.param(
            "collectors:\n  disabled: [cpu, gpu]\n",
            "collectors.disabled[1]: got 'gpu'; expected one of: cpu, memory",
            id="unknown-collector",
        ),
        pytest.param(
            "collectors:\n  enabled: [cpu]\n  disabled: [memory]\n",
            "collectors.disabled: cannot be combined with collectors.enabled",
            id="enabled-and-disabled",
        ),
        pytest.param(
            "collectors:\n  filesystem:\n    mount_points_exclude: '^(/dev'\n",
            "collectors.filesystem.mount_points_exclude: got '^(/dev'; expected a valid regular expression",
            id="regex",
        ),
        pytest.param(
            "collectors:\n  network:\n    device_regex: x\n",
            "collectors.network.device_regex: unknown key; expected one of: device_exclude",
            id="unknown-nested-key",
        ),
        pytest.param(
            "collectors:\n  systemd:\n    units: [nginx]\n",
            "collectors.systemd.units[0]: got 'nginx'; expected a systemd unit name with its type",
            id="unit-without-type",
        ),
        pytest.param(
            "collectors:\n  systemd:\n    units: ['x.service; rm -rf /']\n",
            "collectors.systemd.units[0]: got 'x.service; rm -rf /'; expected a systemd unit name",
            id="unit-injection",
        ),
        pytest.param(
            "collectors:\n  systemd:\n    units: ['--help.service']\n",
            "collectors.systemd.units[0]: got '--help.service'",
            id="unit-option-like",
        ),
        pytest.param(
            "collectors:\n  systemd:\n    units: [a.service, a.service]\n",
            "collectors.systemd.units: lists a unit twice",
            id="unit-twice",
        ),
    ],
)
def test_bad_file_is_refused_naming_file_key_value_and_expectation(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write_file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.yml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:9110", ListenAddress("0.0.0.0", 9110)),
        ("127.0.0.1:0", ListenAddress("127.0.0.1", 0)),
        ("[::1]:9110", ListenAddress("::1", 9110)),
        ("localhost:80", ListenAddress("localhost", 80)),
    ],
)
def test_listen_address_parses_host_and_port(text: str, expected: ListenAddress) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["9110", ":9110", "host:", "host:http", "::1:9110", "[::1:9110", "h:99999"])
def test_bad_listen_address_names_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^command line: --listen: got"):
        parse_listen_address(text)


def test_ipv6_listen_address_prints_with_brackets() -> None:
    assert str(ListenAddress("::", 9110)) == "[::]:9110"


EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "exporter.example.yml"
DOCUMENTED_KEYS = (
    "listen_address",
    "log_level",
    "web:",
    "web_config_file",
    "tls_server_config",
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "basic_auth_users",
    "bearer_token:",
    "bearer_token_file",
    "collectors:",
    "enabled:",
    "disabled:",
    "cache_ttl_seconds",
    "filesystem:",
    "mount_points_exclude",
    "fs_types_exclude",
    "mount_timeout_seconds",
    "disk:",
    "device_exclude",
    "network:",
    "processes:",
    "top_n",
    "systemd:",
    "units:",
    "actions_file",
)


def test_example_config_loads_and_shows_the_real_defaults() -> None:
    config = load_config(EXAMPLE)
    assert config.listen == ExporterConfig().listen
    assert config.collectors == ExporterConfig().collectors
    assert not config.web.auth_required


@pytest.mark.parametrize("key", DOCUMENTED_KEYS)
def test_example_config_documents_every_key(key: str) -> None:
    assert key in EXAMPLE.read_text()
