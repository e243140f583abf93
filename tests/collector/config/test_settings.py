"""Settings: file, environment overrides, secrets from files, and precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config.configfile import ConfigError
from collector.config.settings import ENV_KEYS, Settings, load_settings, settings_summary


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "openmanager.yml"
    path.write_text(text)
    return path


def test_no_file_gives_defaults_on_embedded_stores() -> None:
    settings = load_settings(None, {})
    assert settings.listen == "127.0.0.1:8080"
    assert settings.postgres.dsn is None and settings.redis.url is None
    assert "embedded PostgreSQL" in settings_summary(settings)


def test_file_values_are_read_and_relative_paths_follow_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "listen: 0.0.0.0:9000\ndata_dir: state\ntargets: t.yaml\nlog: {level: DEBUG}\n")
    settings = load_settings(path, {})
    assert settings.listen_host == "0.0.0.0" and settings.listen_port == 9000
    assert settings.data_dir == tmp_path / "state"
    assert settings.targets == tmp_path / "t.yaml"
    assert settings.log.level == "debug"


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "listen: 0.0.0.0:9000\n")
    env = {"OM_LISTEN": "127.0.0.1:7000", "OM_REDIS_URL": "redis://127.0.0.1:6379/3", "OM_SMTP_PORT": "2525"}
    settings = load_settings(path, env)
    assert settings.listen_port == 7000
    assert settings.redis.url is not None
    assert settings.redis.url.get_secret_value().endswith("/3")
    assert settings.smtp.port == 2525


def test_the_collector_listener_has_its_own_address_from_file_or_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "listen: 0.0.0.0:9000\ncollector_listen: '[::1]:9300'\n")
    assert Settings.address(load_settings(path, {}).collector_listen) == ("::1", 9300)
    settings = load_settings(path, {"OM_COLLECTOR_LISTEN": "0.0.0.0:9400"})
    assert Settings.address(settings.collector_listen) == ("0.0.0.0", 9400)
    assert settings.listen_port == 9000


def test_om_config_names_the_settings_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "listen: 127.0.0.1:9999\n")
    assert load_settings(None, {"OM_CONFIG": str(path)}).listen_port == 9999


def test_secret_is_read_from_its_file_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "dsn"
    secret.write_text("postgresql://u:hunter2hunter2@db/om\n")
    path = _write(tmp_path, f"postgres:\n  dsn_file: {secret}\n")
    settings = load_settings(path, {})
    assert settings.postgres.dsn is not None
    assert settings.postgres.dsn.get_secret_value() == "postgresql://u:hunter2hunter2@db/om"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("listen: nowhere\n", {}, "openmanager.yml:1: listen: 'nowhere': expected host:port"),
        ("collector_listen: ':80'\n", {}, "openmanager.yml:1: collector_listen: ':80': expected host:port"),
        ("lisen: 1.2.3.4:80\n", {}, "openmanager.yml:1: lisen: '1.2.3.4:80': unknown key"),
        ("log:\n  level: loud\n", {}, "openmanager.yml:2: log.level: 'loud': Input should be"),
        ("smtp:\n  port: 99999\n", {}, "openmanager.yml:2: smtp.port: 99999: Input should be less than"),
        (
            "smtp:\n  password: a\n  password_file: /x\n",
            {},
            "openmanager.yml:1: smtp: give either password or password_file, not both",
        ),
        (
            "redis:\n  url: http://x\n",
            {},
            "openmanager.yml:2: redis.url: '[redacted]': expected a URL starting",
        ),
        ("postgres:\n  dsn_file: /nonexistent/dsn\n", {}, "dsn_file '/nonexistent/dsn' cannot be read"),
        ("auth:\n  jwt_secret: short\n", {}, "jwt_secret must be at least 32 characters"),
        ("- a\n- b\n", {}, "expected a mapping of settings keys"),
        ("listen: [\n", {}, "openmanager.yml:2: (syntax): not valid YAML"),
        ("listen: a:1\nlisten: b:2\n", {}, "openmanager.yml:2: listen: this key is given twice"),
        ("", {"OM_LOG_FORMAT": "xml"}, "environment OM_LOG_FORMAT: log.format: 'xml'"),
        (
            "http:\n  trusted_proxies: [10.0.0.1/8]\n",
            {},
            "http.trusted_proxies[0]: '10.0.0.1/8': value is not a valid IPv4 or IPv6 network",
        ),
        (
            "",
            {"OM_TRUSTED_PROXIES": "10.0.0.0/8, proxy"},
            "environment OM_TRUSTED_PROXIES: http.trusted_proxies[1]",
        ),
        (
            "auth:\n  api_token_default_ttl_days: 400\n",
            {},
            "api_token_default_ttl_days must not exceed api_token_max_ttl_days",
        ),
        ("auth:\n  api_token_max_ttl_days: 3000\n", {}, "auth.api_token_max_ttl_days: 3000"),
        ("query:\n  max_samples: 0\n", {}, "openmanager.yml:2: query.max_samples: 0: Input should be"),
        ("query:\n  timeout_s: -1\n", {}, "openmanager.yml:2: query.timeout_s: -1: Input should be greater"),
        ("query:\n  max_concurrency: x\n", {}, "openmanager.yml:2: query.max_concurrency: 'x'"),
        (
            "query:\n  external_labels:\n    site-a: lab\n",
            {},
            "query.external_labels: 'site-a': not a valid label name",
        ),
        (
            "query:\n  external_labels: [site]\n",
            {},
            "openmanager.yml:2: query.external_labels: Input should be a valid dictionary",
        ),
    ],
)
def test_bad_settings_name_file_line_key_and_value(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env)
    assert expected in str(caught.value).replace(str(tmp_path) + "/", "")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "listen: nowhere\nlog:\n  level: loud\nbogus: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert [p.key for p in caught.value.problems] == ["listen", "log.level", "bogus"]


def test_every_environment_variable_maps_to_a_settings_key() -> None:
    for name, path in ENV_KEYS.items():
        node: object = Settings.model_fields
        for part in path:
            assert isinstance(node, dict) and part in node, (name, path)
            annotation = node[part].annotation
            fields = getattr(annotation, "model_fields", None)
            node = fields if fields is not None else {}
