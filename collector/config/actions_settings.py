"""The ``actions`` section of the settings: remote actions signed here and run by the hosts' exporters.

The service signs each request with an Ed25519 key (``openmanager keys init`` makes it, mode 0600; by
default ``<data_dir>/actions-signing-key.pem``) and sends it to the exporter's actions listener of the
server: the server's registered host at ``port``, over TLS with a client certificate unless ``scheme`` is
``http`` (loopback tests only). See ``collector/actions/`` and the wire protocol there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SIGNING_KEY_NAME = "actions-signing-key.pem"
"""The key file's name under ``data_dir`` when ``actions.signing_key_file`` is not set."""


class ActionsSettings(BaseModel):
    """Where the signing key is, how to reach the exporters' actions listeners, and the limits of a run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signing_key_file: Path | None = None
    """The Ed25519 private key (PEM, PKCS8); unset: ``<data_dir>/actions-signing-key.pem``."""
    port: Annotated[int, Field(ge=1, le=65535)] = 9111
    """The exporters' actions listener port (the host is the server's registered one)."""
    scheme: Literal["https", "http"] = "https"
    """``http`` only where the exporters' listeners are configured without TLS (loopback tests)."""
    client_cert_file: Path | None = None
    """The client certificate presented to the exporters (they require one by default)."""
    client_key_file: Path | None = None
    """Its private key."""
    ca_file: Path | None = None
    """The CA that signed the exporters' listener certificates; unset: the system's trust store."""
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """The longest one request to an exporter may take: above the longest action timeout of the hosts."""
    runs_per_minute: int = Field(default=10, ge=1)
    """Actions one user may request per minute (refused ones included), across servers."""
    output_limit_bytes: int = Field(default=65536, ge=1024, le=1 << 20)
    """Of each of stdout and stderr, what the history keeps (the exporter caps what it sends, too)."""

    @model_validator(mode="after")
    def _pair(self) -> ActionsSettings:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("give both client_cert_file and client_key_file, or neither")
        return self

    def key_path(self, data_dir: Path) -> Path:
        """The signing key file in force."""
        return self.signing_key_file if self.signing_key_file is not None else data_dir / SIGNING_KEY_NAME


ACTIONS_PATH_KEYS = ("signing_key_file", "client_cert_file", "client_key_file", "ca_file")
"""Paths of the section that a settings file may give relative to its own directory."""
