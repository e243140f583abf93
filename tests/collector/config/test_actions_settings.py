"""The ``actions`` settings: the key's default path under data_dir, paths relative to the settings file,
the client certificate given as a pair, the environment's key file."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config.actions_settings import ActionsSettings
from collector.config.configfile import ConfigError
from collector.config.settings import load_settings


def test_the_key_defaults_to_the_data_directory() -> None:
    assert ActionsSettings().key_path(Path("/var/lib/om")) == Path("/var/lib/om/actions-signing-key.pem")
    chosen = ActionsSettings(signing_key_file=Path("/etc/om/key.pem"))
    assert chosen.key_path(Path("/var/lib/om")) == Path("/etc/om/key.pem")


def test_paths_in_a_settings_file_are_relative_to_it(tmp_path: Path) -> None:
    file = tmp_path / "om.yml"
    file.write_text(
        "actions:\n  signing_key_file: keys/signing.pem\n  client_cert_file: c.pem\n"
        "  client_key_file: /abs/c.key\n  port: 9200\n"
    )
    actions = load_settings(file, env={}).actions
    assert actions.signing_key_file == tmp_path / "keys" / "signing.pem"
    assert actions.client_cert_file == tmp_path / "c.pem"
    assert actions.client_key_file == Path("/abs/c.key")
    assert (actions.port, actions.scheme) == (9200, "https")


def test_the_environment_names_the_key_file(tmp_path: Path) -> None:
    settings = load_settings(None, env={"OM_ACTIONS_SIGNING_KEY_FILE": "/run/secrets/om-key"})
    assert settings.actions.key_path(settings.data_dir) == Path("/run/secrets/om-key")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("actions:\n  client_cert_file: c.pem\n", "actions"),
        ("actions:\n  scheme: ftp\n", "actions.scheme"),
        ("actions:\n  port: 0\n", "actions.port"),
        ("actions:\n  command: rm\n", "actions.command"),
    ],
)
def test_invalid_actions_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    file = tmp_path / "om.yml"
    file.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(file, env={})
    assert any(problem.key == key for problem in error.value.problems), error.value
