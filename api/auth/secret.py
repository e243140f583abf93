"""The JWT signing key: from the settings, else generated once and kept in ``data_dir/jwt.secret``."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from collector.config.settings import Settings

SECRET_FILE_NAME = "jwt.secret"  # noqa: S105 - a file name, not a secret
MIN_SECRET_LENGTH = 32


class SecretFileError(RuntimeError):
    """The generated secret file exists but cannot be used."""


def resolve_jwt_secret(settings: Settings) -> bytes:
    """The configured signing key, or the one generated for this data directory (created on first use)."""
    configured = settings.auth.jwt_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    return _generated_secret(settings.data_dir / SECRET_FILE_NAME)


def _generated_secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: when two processes start together, one creates the file and the other reads it.
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
    if path.stat().st_mode & 0o077:
        raise SecretFileError(f"{path} is readable by other users; run: chmod 600 {path}")
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise SecretFileError(
            f"{path} holds fewer than {MIN_SECRET_LENGTH} characters; delete it to generate a new key"
        )
    return secret.encode()
