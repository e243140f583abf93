"""A scrape job: one ``scrape_configs`` entry of the target file, as frozen typed objects.

:class:`ScrapeJob` and its parts (authentication, TLS, static and file_sd target groups, relabel rules) are
what :mod:`collector.config.targets` reads from the file, what :mod:`collector.registered` builds for servers
registered through the API, and what discovery and the scrapers use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from collector.config.fields import LabelPairs
from collector.config.relabel import RelabelRule

DEFAULT_SCRAPE_INTERVAL_S = 15.0
DEFAULT_SCRAPE_TIMEOUT_S = 10.0
DEFAULT_FILE_SD_REFRESH_S = 300.0

Params = tuple[tuple[str, tuple[str, ...]], ...]
"""URL query parameters as (name, values) pairs sorted by name."""


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic authentication; ``password`` never shows in a repr or a log line."""

    username: str
    password: SecretStr


@dataclass(frozen=True)
class Authorization:
    """An ``Authorization: <type> <credentials>`` header (``bearer_token`` is read into this, type Bearer)."""

    type: str
    credentials: SecretStr


@dataclass(frozen=True)
class TLSConfig:
    """TLS settings for an https job; file paths are resolved against the target file's directory."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    min_version: str | None = None


@dataclass(frozen=True)
class StaticConfig:
    """A group of targets written in the file, and labels for all of them."""

    targets: tuple[str, ...]
    labels: LabelPairs = ()


@dataclass(frozen=True)
class FileSDConfig:
    """Files (glob patterns, relative to the target file) listing target groups, re-read periodically."""

    files: tuple[str, ...]
    refresh_interval_s: float = DEFAULT_FILE_SD_REFRESH_S


@dataclass(frozen=True)
class ScrapeJob:
    """One ``scrape_configs`` entry with its defaults filled in from ``global``.

    Limits of 0 mean "no limit", as in Prometheus.
    """

    job_name: str
    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    scrape_timeout_s: float = DEFAULT_SCRAPE_TIMEOUT_S
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: Params = ()
    honor_labels: bool = False
    honor_timestamps: bool = True
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    tls_config: TLSConfig | None = None
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    body_size_limit_bytes: int = 0
    follow_redirects: bool = True
    """Not read from the target file (always followed there, as Prometheus's default); servers
    registered through the API are scraped without following redirects."""
    line_limit: int = 0
    """The most lines a page may have (0: any). Not read from the target file; servers registered through
    the API get the ``registration.line_limit`` setting."""
    quote_page_errors: bool = True
    """Whether a scrape error may quote a line of an invalid metrics page. Not read from the target file;
    off for servers registered through the API."""
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    relabel_configs: tuple[RelabelRule, ...] = ()
    metric_relabel_configs: tuple[RelabelRule, ...] = ()
