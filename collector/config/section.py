"""What every section of the settings shares: frozen models refusing unknown keys, and secrets given inline
or as a ``*_file`` path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port number."""


class Section(BaseModel):
    """A settings section: frozen, and an unknown key is an error naming it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_secret_file(path: Path, key: str) -> SecretStr:
    """The secret in ``path``, stripped; an unreadable file is a ``ValueError`` naming ``key``."""
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ValueError(f"{key} {str(path)!r} cannot be read: {exc.strerror}") from None


def one_of_secret(inline: SecretStr | None, path: Path | None, key: str) -> SecretStr | None:
    """The secret given inline or in a file (never both), or None."""
    if inline is not None and path is not None:
        raise ValueError(f"give either {key} or {key}_file, not both")
    if path is not None:
        return read_secret_file(path, f"{key}_file")
    return inline
