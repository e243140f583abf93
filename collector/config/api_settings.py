"""The settings sections of the API and what it serves.

Authentication, rate limits, the HTTP server and TLS, servers registered through it, remote write, PromQL
queries and MCP. :mod:`collector.config.settings` puts them together with the stores' sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator

from collector.config.relabel import INVALID_LABEL_NAME, is_valid_label_name
from collector.config.section import Section, one_of_secret
from collector.config.units import parse_size

MAX_API_TOKEN_TTL_DAYS = 5 * 366
"""No API token lives longer than this, whatever the settings say."""


class AuthSettings(Section):
    """Token signing and lifetimes. An unset secret is generated once and kept in ``data_dir``."""

    jwt_secret: SecretStr | None = None
    jwt_secret_file: Path | None = None
    access_token_ttl_s: int = Field(default=900, ge=60, le=86400)
    refresh_token_ttl_s: int = Field(default=14 * 86400, ge=3600)
    principal_cache_s: float = Field(default=1.0, ge=0, le=60)
    """How long a checked token's caller is reused without reading PostgreSQL and Redis again; a change
    made through this process (logout, password, role) clears it at once. 0 checks every request."""
    api_token_default_ttl_days: int = Field(default=90, ge=1, le=MAX_API_TOKEN_TTL_DAYS)
    """The lifetime of an API token created without ``expires_in_s``."""
    api_token_max_ttl_days: int = Field(default=365, ge=1, le=MAX_API_TOKEN_TTL_DAYS)
    """The longest lifetime a new API token may ask for; every token expires."""

    @model_validator(mode="after")
    def _resolve(self) -> AuthSettings:
        secret = one_of_secret(self.jwt_secret, self.jwt_secret_file, "jwt_secret")
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("jwt_secret must be at least 32 characters")
        if self.api_token_default_ttl_days > self.api_token_max_ttl_days:
            raise ValueError("api_token_default_ttl_days must not exceed api_token_max_ttl_days")
        object.__setattr__(self, "jwt_secret", secret)
        return self


class RateLimitSettings(Section):
    """The API's request rate limit per caller (see ``api/ratelimit.py``); ``requests_per_s: 0`` turns it off.

    The defaults are far above what the dashboard or a script polling every second needs.
    """

    requests_per_s: float = Field(default=50.0, ge=0)
    burst: int = Field(default=1000, ge=1)
    auth_failures_per_s: float = Field(default=20.0, ge=0)
    """Refused bearer tokens per second per client address (average) before its tokens get a 429; 0 = off."""
    auth_failure_burst: int = Field(default=100, ge=1)
    """Refused bearer tokens a client address may send at once."""


class HttpSettings(Section):
    """The API's HTTP server: how it sees its clients, and how long it waits for slow or idle ones.

    ``trusted_proxies``: the networks of reverse proxies whose ``X-Forwarded-For`` names the client (see
    ``api/client_address.py``); empty believes no header. The timeouts and the stream cap are applied by
    ``api/httpserver.py`` and ``api/events.py``.
    """

    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
    header_timeout_s: float = Field(default=10.0, gt=0)
    """A request's line and headers must arrive in full within this of their first byte."""
    idle_timeout_s: float = Field(default=60.0, gt=0)
    """A connection waiting for its next request (or its first) is closed after this."""
    max_streams_per_user: int = Field(default=5, ge=1)
    """Open ``/api/events`` streams per user (all their sessions and API tokens); the next is a 429."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # From the environment the list is one string: "10.0.0.0/8, 192.0.2.7".
        return value.replace(",", " ").split() if isinstance(value, str) else value


class TlsSettings(Section):
    """HTTPS served by the service itself: a certificate chain and its key, both PEM. Without them the API
    speaks plain HTTP (behind a reverse proxy that terminates TLS, see ``deploy/INSTALL.md``)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    min_version: Literal["1.2", "1.3"] = "1.2"
    """The oldest TLS version accepted; older ones are refused in the handshake."""
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)
    """``Strict-Transport-Security`` on every answer while TLS is on (a year); 0 sends none."""

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both for HTTPS, or neither")
        return self

    @property
    def enabled(self) -> bool:
        """True when the API serves HTTPS."""
        return self.cert_file is not None


class RegistrationSettings(Section):
    """Servers registered through the API: the networks they may be in, and the limits of their scrapes.

    They are scraped in pools of their own, without credentials, TLS client certificates, relabeling or
    redirects whatever job they name. ``allow_networks`` empty allows every network but ``deny_networks``;
    link-local and cloud metadata addresses are refused whatever these say (:mod:`collector.netpolicy`).
    The limits bound what one registered server can cost the service; an administrator may raise them,
    not turn them off. The body limit counts inflated bytes.
    """

    allow_networks: tuple[IPvAnyNetwork, ...] = ()
    deny_networks: tuple[IPvAnyNetwork, ...] = ()
    body_size_limit_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    sample_limit: int = Field(default=50_000, ge=1)
    line_limit: int = Field(default=100_000, ge=1)
    label_limit: int = Field(default=64, ge=1)
    label_name_length_limit: int = Field(default=256, ge=1)
    label_value_length_limit: int = Field(default=4096, ge=1)

    @field_validator("body_size_limit_bytes", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        # "10MB" as in the target file's body_size_limit, or a number of bytes.
        return parse_size(value) if isinstance(value, str) and not value.strip().isdigit() else value


class RemoteWriteSettings(Section):
    """The remote-write receiver ``POST /api/v1/write`` (see ``collector/ingest/``): body limits, and how long
    pushed samples of one server and timestamp are gathered before they are stored as one scrape."""

    max_body_bytes: int = Field(default=8 << 20, ge=1024)
    max_decoded_bytes: int = Field(default=64 << 20, ge=1024)
    settle_s: float = Field(default=1.0, ge=0)
    wait_s: float = Field(default=10.0, gt=0)


class QuerySettings(Section):
    """The PromQL engine behind the Prometheus-compatible API; Prometheus's own defaults."""

    max_samples: int = Field(default=50_000_000, ge=1)
    """Samples one query may hold in memory at once (read plus intermediate results)."""
    timeout_s: float = Field(default=120.0, gt=0, le=86400)
    """The longest a query may take, its wait for a slot included; a request's ``timeout`` may shorten it."""
    max_concurrency: int = Field(default=20, ge=1, le=1000)
    """Queries evaluated at once; later ones wait their turn."""
    lookback_delta_s: float = Field(default=300.0, gt=0, le=86400)
    """How far back an instant selector looks for a series' latest sample."""
    external_labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to every series ``/federate`` answers, as Prometheus's ``global.external_labels``; a
    series' own label of the same name wins. An empty value is no label (as in Prometheus's data model)."""

    @field_validator("external_labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in value if not is_valid_label_name(name))
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: {INVALID_LABEL_NAME}")
        return {name: text for name, text in value.items() if text}


class McpSettings(Section):
    """The MCP server (``/mcp`` on the API, ``openmanager mcp``; see :mod:`api.mcp`).

    ``allowed_hosts``: ``Host`` header values ``/mcp`` accepts besides loopback names and the ``listen``
    address (the names the API is reached by; a DNS-rebinding page's host is refused). ``allowed_origins``:
    browser origins (``https://app.example``) it accepts; a request with any other ``Origin`` is refused,
    one without (a non-browser client) is not.
    """

    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=1 << 20)
    """A request body at ``/mcp`` larger than this is a 413."""
    max_result_bytes: int = Field(default=256 * 1024, ge=4096)
    """A tool's result is cut (and says so) to stay under this many bytes of JSON."""

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.replace(",", " ").split() if isinstance(value, str) else value
