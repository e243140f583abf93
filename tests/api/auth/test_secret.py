"""The JWT signing key: configured, or generated once into the data directory with mode 0600."""

from __future__ import annotations

import stat

import pytest

from api.auth.secret import SECRET_FILE_NAME, SecretFileError, resolve_jwt_secret
from tests.conftest import SettingsFactory


def test_configured_secret_wins(make_settings: SettingsFactory) -> None:
    settings = make_settings(jwt_secret="k" * 40)
    assert resolve_jwt_secret(settings) == b"k" * 40
    assert not (settings.data_dir / SECRET_FILE_NAME).exists()


def test_secret_is_generated_once_with_owner_only_permissions(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    first = resolve_jwt_secret(settings)
    path = settings.data_dir / SECRET_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert resolve_jwt_secret(settings) == first


def test_secret_file_readable_by_others_is_refused(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    resolve_jwt_secret(settings)
    (settings.data_dir / SECRET_FILE_NAME).chmod(0o644)
    with pytest.raises(SecretFileError, match="chmod 600"):
        resolve_jwt_secret(settings)
