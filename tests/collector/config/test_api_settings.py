"""The API's settings sections, read through the settings file and environment: trusted proxies, query
limits and the limits of registered servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config.configfile import ConfigError
from collector.config.settings import load_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "openmanager.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("http:\n  trusted_proxies: [10.0.0.0/8, '192.0.2.7', '2001:db8::/32']\n", {}),
        ("", {"OM_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7 2001:db8::/32"}),
    ],
)
def test_trusted_proxies_are_networks_from_a_list_or_one_variable(
    tmp_path: Path, text: str, env: dict[str, str]
) -> None:
    settings = load_settings(_write(tmp_path, text), env)
    assert [str(network) for network in settings.http.trusted_proxies] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "2001:db8::/32",
    ]


def test_query_settings_default_to_prometheus_s_and_are_read_from_the_file(tmp_path: Path) -> None:
    assert load_settings(None, {}).query.model_dump() == {
        "max_samples": 50_000_000,
        "timeout_s": 120.0,
        "max_concurrency": 20,
        "lookback_delta_s": 300.0,
        "external_labels": {},
    }
    path = _write(
        tmp_path,
        "query:\n  max_samples: 1000\n  timeout_s: 5\n  max_concurrency: 2\n"
        "  external_labels:\n    site: lab\n    _zone: '3'\n    empty: ''\n",
    )
    query = load_settings(path, {}).query
    assert (query.max_samples, query.timeout_s, query.max_concurrency) == (1000, 5.0, 2)
    assert query.external_labels == {"site": "lab", "_zone": "3"}, "an empty value is no label"


def test_registration_defaults_and_what_an_administrator_sets(tmp_path: Path) -> None:
    defaults = load_settings(None, {}).registration
    assert (defaults.allow_networks, defaults.deny_networks) == ((), ())
    assert (defaults.body_size_limit_bytes, defaults.sample_limit, defaults.line_limit) == (
        10 * 2**20,
        50_000,
        100_000,
    )
    assert (defaults.label_limit, defaults.label_name_length_limit, defaults.label_value_length_limit) == (
        64,
        256,
        4096,
    )
    path = _write(
        tmp_path,
        "registration:\n  allow_networks: [10.0.0.0/8, 'fd00::/8']\n  deny_networks: [10.9.0.0/16]\n"
        "  body_size_limit_bytes: 64MB\n  sample_limit: 200000\n",
    )
    registration = load_settings(path, {}).registration
    assert [str(n) for n in registration.allow_networks] == ["10.0.0.0/8", "fd00::/8"]
    assert [str(n) for n in registration.deny_networks] == ["10.9.0.0/16"]
    assert (registration.body_size_limit_bytes, registration.sample_limit) == (64 * 2**20, 200_000)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("registration:\n  allow_networks: [10.0.0.1/8]\n", "registration.allow_networks[0]"),
        ("registration:\n  deny_networks: [nowhere]\n", "registration.deny_networks[0]"),
        ("registration:\n  sample_limit: 0\n", "registration.sample_limit"),
        ("registration:\n  body_size_limit_bytes: lots\n", "registration.body_size_limit_bytes"),
        ("registration:\n  follow_redirects: true\n", "registration.follow_redirects"),
    ],
)
def test_bad_registration_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, text), {})
    assert [p.key for p in caught.value.problems] == [key]
    assert caught.value.problems[0].line == 2
