"""The central service's settings: one YAML file plus ``OM_*`` environment overrides.

Read and validated once at start-up into frozen objects. The file is optional; with none, every key takes its
default and the service runs on the embedded PostgreSQL and Redis under ``data_dir``. Environment variables
win over the file. A secret may be given inline or, better, as a path in the matching ``*_file`` key.

========================  ==========================  =====================================================
environment variable      settings key                meaning
========================  ==========================  =====================================================
``OM_CONFIG``             (none)                      path of the settings file
``OM_LISTEN``             ``listen``                  host:port of the API and dashboard
``OM_COLLECTOR_LISTEN``   ``collector_listen``        host:port of ``openmanager collector`` (health, metrics)
``OM_DATA_DIR``           ``data_dir``                state: embedded stores, spool, generated secrets
``OM_TARGETS``            ``targets``                 path of the target file (Prometheus scrape_configs)
``OM_POSTGRES_DSN``       ``postgres.dsn``            PostgreSQL DSN; unset = embedded server
``OM_POSTGRES_DSN_FILE``  ``postgres.dsn_file``       file holding the DSN
``OM_REDIS_URL``          ``redis.url``               Redis URL; unset = embedded server
``OM_REDIS_URL_FILE``     ``redis.url_file``          file holding the URL
``OM_CLUSTER_MEMBER_ID``  ``cluster.member_id``       this collector's name among those sharing the fleet
``OM_LOG_LEVEL``          ``log.level``               debug, info, warning, error
``OM_LOG_FORMAT``         ``log.format``              auto (console on a terminal, else JSON), json, console
``OM_SMTP_HOST``          ``smtp.host``               SMTP server for alert mail; unset = no mail
``OM_SMTP_PORT``          ``smtp.port``               SMTP port (587)
``OM_SMTP_USERNAME``      ``smtp.username``           SMTP login
``OM_SMTP_PASSWORD``      ``smtp.password``           SMTP password
``OM_SMTP_PASSWORD_FILE`` ``smtp.password_file``      file holding the SMTP password
``OM_SMTP_FROM``          ``smtp.sender``             From address of alert mail
``OM_SMTP_STARTTLS``      ``smtp.starttls``           true/false (true)
``OM_JWT_SECRET``         ``auth.jwt_secret``         signing key of access tokens; unset = generated
``OM_JWT_SECRET_FILE``    ``auth.jwt_secret_file``    file holding that key
``OM_RATE_LIMIT_RPS``     ``rate_limit.requests_per_s`` API requests per second per caller (average); 0 = off
``OM_RATE_LIMIT_BURST``   ``rate_limit.burst``          API requests a caller may send at once
``OM_ALERTS_RULES_FILE``  ``alerts.rules_file``       alert rules file upserted at start; unset = none
``OM_TRUSTED_PROXIES``    ``http.trusted_proxies``    networks of proxies whose X-Forwarded-For is believed
``OM_TLS_CERT_FILE``      ``tls.cert_file``           certificate chain (PEM) for HTTPS; unset = plain HTTP
``OM_TLS_KEY_FILE``       ``tls.key_file``            its private key (PEM)
``OM_SECRETS_KEY``        ``secrets.key``             keys sealing stored secrets (base64, comma-separated)
``OM_SECRETS_KEY_FILE``   ``secrets.key_file``        file of those keys; unset = ``<data_dir>/secrets.key``
========================  ==========================  =====================================================

``OM_ACTIONS_SIGNING_KEY_FILE`` sets ``actions.signing_key_file``, the Ed25519 key that signs remote actions
(see :mod:`collector.config.actions_settings`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from collector.config.actions_settings import ACTIONS_PATH_KEYS, ActionsSettings
from collector.config.configfile import (
    ConfigError,
    ConfigProblem,
    KeyPath,
    YamlDocument,
    problems_from_validation,
    read_yaml,
)
from collector.config.relabel import INVALID_LABEL_NAME, is_valid_label_name
from collector.config.units import parse_size
from collector.hostport import split_host_port

ENV_KEYS: Mapping[str, KeyPath] = {
    "OM_LISTEN": ("listen",),
    "OM_COLLECTOR_LISTEN": ("collector_listen",),
    "OM_DATA_DIR": ("data_dir",),
    "OM_TARGETS": ("targets",),
    "OM_POSTGRES_DSN": ("postgres", "dsn"),
    "OM_POSTGRES_DSN_FILE": ("postgres", "dsn_file"),
    "OM_REDIS_URL": ("redis", "url"),
    "OM_REDIS_URL_FILE": ("redis", "url_file"),
    "OM_CLUSTER_MEMBER_ID": ("cluster", "member_id"),
    "OM_LOG_LEVEL": ("log", "level"),
    "OM_LOG_FORMAT": ("log", "format"),
    "OM_SMTP_HOST": ("smtp", "host"),
    "OM_SMTP_PORT": ("smtp", "port"),
    "OM_SMTP_USERNAME": ("smtp", "username"),
    "OM_SMTP_PASSWORD": ("smtp", "password"),
    "OM_SMTP_PASSWORD_FILE": ("smtp", "password_file"),
    "OM_SMTP_FROM": ("smtp", "sender"),
    "OM_SMTP_STARTTLS": ("smtp", "starttls"),
    "OM_JWT_SECRET": ("auth", "jwt_secret"),
    "OM_JWT_SECRET_FILE": ("auth", "jwt_secret_file"),
    "OM_RATE_LIMIT_RPS": ("rate_limit", "requests_per_s"),
    "OM_RATE_LIMIT_BURST": ("rate_limit", "burst"),
    "OM_ALERTS_RULES_FILE": ("alerts", "rules_file"),
    "OM_SECRETS_KEY": ("secrets", "key"),
    "OM_SECRETS_KEY_FILE": ("secrets", "key_file"),
    "OM_TRUSTED_PROXIES": ("http", "trusted_proxies"),
    "OM_TLS_CERT_FILE": ("tls", "cert_file"),
    "OM_TLS_KEY_FILE": ("tls", "key_file"),
    "OM_ACTIONS_SIGNING_KEY_FILE": ("actions", "signing_key_file"),
}
"""Every environment override and the settings key it sets."""

DEFAULT_SETTINGS_FILES = (Path("openmanager.yml"), Path("/etc/openmanager/openmanager.yml"))

_Port = Annotated[int, Field(ge=1, le=65535)]
MAX_API_TOKEN_TTL_DAYS = 5 * 366
"""No API token lives longer than this, whatever the settings say."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_secret_file(path: Path, key: str) -> SecretStr:
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ValueError(f"{key} {str(path)!r} cannot be read: {exc.strerror}") from None


def _one_of_secret(inline: SecretStr | None, path: Path | None, key: str) -> SecretStr | None:
    if inline is not None and path is not None:
        raise ValueError(f"give either {key} or {key}_file, not both")
    if path is not None:
        return _read_secret_file(path, f"{key}_file")
    return inline


class PostgresSettings(_Section):
    """Where history lives. No DSN means the embedded server under ``data_dir``."""

    dsn: SecretStr | None = None
    dsn_file: Path | None = None
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _resolve(self) -> PostgresSettings:
        dsn = _one_of_secret(self.dsn, self.dsn_file, "dsn")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        object.__setattr__(self, "dsn", dsn)
        return self


class RedisSettings(_Section):
    """Where live state lives. No URL means the embedded server under ``data_dir``."""

    url: SecretStr | None = None
    url_file: Path | None = None
    cluster: bool = False
    """The URL names one node of a Redis Cluster (``redis+cluster://h:p,h:p`` says so by itself)."""

    @field_validator("url")
    @classmethod
    def _check_scheme(cls, url: SecretStr | None) -> SecretStr | None:
        schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        if url is not None and not url.get_secret_value().startswith(schemes):
            raise ValueError(
                "expected a URL starting with redis://, rediss://, unix:// or (a Redis Cluster) redis+cluster://"
            )
        return url

    @model_validator(mode="after")
    def _resolve(self) -> RedisSettings:
        object.__setattr__(self, "url", _one_of_secret(self.url, self.url_file, "url"))
        return self


class ClusterSettings(_Section):
    """Collectors sharing the fleet (:mod:`collector.cluster`): each heartbeats into Redis and scrapes the
    targets rendezvous hashing gives it among the live members."""

    member_id: str | None = Field(default=None, min_length=1, max_length=200)
    """This collector's name in the cluster; unset = ``<hostname>:<port>``, the port of ``listen`` (of
    ``collector_listen`` for ``openmanager collector``), stable across restarts."""
    heartbeat_interval_s: float = Field(default=1.0, gt=0, le=60)
    member_ttl_s: float | None = Field(default=None, gt=0, le=600)
    """A member silent this long is gone; unset = two heartbeat intervals."""
    replication_factor: int = Field(default=1, ge=1, le=2)
    """Collectors scraping each target: 2 keeps every target scraped through a member's death, stored once."""

    @model_validator(mode="after")
    def _ttl_over_heartbeat(self) -> ClusterSettings:
        if self.member_ttl_s is not None and self.member_ttl_s <= self.heartbeat_interval_s:
            raise ValueError("member_ttl_s must be longer than heartbeat_interval_s")
        return self

    @property
    def ttl_s(self) -> float:
        """How long a member is live after its last heartbeat."""
        return self.member_ttl_s if self.member_ttl_s is not None else 2 * self.heartbeat_interval_s


class LogSettings(_Section):
    """Log level and format."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class SmtpSettings(_Section):
    """Outgoing mail for alert notifications. No host means mail is off."""

    host: str | None = None
    port: _Port = 587
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    sender: str = "openmanager@localhost"
    starttls: bool = True
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _resolve(self) -> SmtpSettings:
        object.__setattr__(self, "password", _one_of_secret(self.password, self.password_file, "password"))
        return self


class AuthSettings(_Section):
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
        secret = _one_of_secret(self.jwt_secret, self.jwt_secret_file, "jwt_secret")
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("jwt_secret must be at least 32 characters")
        if self.api_token_default_ttl_days > self.api_token_max_ttl_days:
            raise ValueError("api_token_default_ttl_days must not exceed api_token_max_ttl_days")
        object.__setattr__(self, "jwt_secret", secret)
        return self


class AlertsSettings(_Section):
    """The alert engine. Its rules live in PostgreSQL; a rules file's rules are upserted there at start."""

    rules_file: Path | None = None
    max_silence_s: float = Field(default=7 * 86400.0, gt=0)
    """The longest a silence may last (``ends_at - starts_at``), for every role: a week covers a long
    maintenance or a holiday, and a forgotten silence ends by itself within one."""


class RateLimitSettings(_Section):
    """The API's request rate limit per caller (see ``api/ratelimit.py``); ``requests_per_s: 0`` turns it off.

    The defaults are far above what the dashboard or a script polling every second needs.
    """

    requests_per_s: float = Field(default=50.0, ge=0)
    burst: int = Field(default=1000, ge=1)
    auth_failures_per_s: float = Field(default=20.0, ge=0)
    """Refused bearer tokens per second per client address (average) before its tokens get a 429; 0 = off."""
    auth_failure_burst: int = Field(default=100, ge=1)
    """Refused bearer tokens a client address may send at once."""


class HttpSettings(_Section):
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


class TlsSettings(_Section):
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


class RegistrationSettings(_Section):
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


class RemoteWriteSettings(_Section):
    """The remote-write receiver ``POST /api/v1/write`` (see ``collector/ingest/``): body limits, and how long
    pushed samples of one server and timestamp are gathered before they are stored as one scrape."""

    max_body_bytes: int = Field(default=8 << 20, ge=1024)
    max_decoded_bytes: int = Field(default=64 << 20, ge=1024)
    settle_s: float = Field(default=1.0, ge=0)
    wait_s: float = Field(default=10.0, gt=0)


class QuerySettings(_Section):
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


class McpSettings(_Section):
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


class SecretsSettings(_Section):
    """The keys sealing secrets stored in PostgreSQL (see :mod:`collector.secrets.keyring`)."""

    key: SecretStr | None = None
    """Base64 keys, comma-separated, current first; unset: the key file."""
    key_file: Path | None = None
    """A file of base64 keys, one a line, current first; unset: ``<data_dir>/secrets.key``, made at start."""

    @model_validator(mode="after")
    def _one(self) -> SecretsSettings:
        if self.key is not None and self.key_file is not None:
            raise ValueError("give either key or key_file, not both")
        return self

    def key_path(self, data_dir: Path) -> Path | None:
        """The key file in use; None when the keys are given inline."""
        if self.key is not None:
            return None
        return self.key_file or data_dir / "secrets.key"


class Settings(_Section):
    """Everything the central service is configured with."""

    listen: str = "127.0.0.1:8080"
    collector_listen: str = "127.0.0.1:8081"
    """Where ``openmanager collector`` answers ``/api/health`` and ``/metrics`` (it serves no API)."""
    data_dir: Path = Path("var")
    targets: Path = Path("targets.yaml")
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    log: LogSettings = LogSettings()
    smtp: SmtpSettings = SmtpSettings()
    auth: AuthSettings = AuthSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    http: HttpSettings = HttpSettings()
    tls: TlsSettings = TlsSettings()
    alerts: AlertsSettings = AlertsSettings()
    registration: RegistrationSettings = RegistrationSettings()
    remote_write: RemoteWriteSettings = RemoteWriteSettings()
    query: QuerySettings = QuerySettings()
    actions: ActionsSettings = ActionsSettings()
    mcp: McpSettings = McpSettings()
    cluster: ClusterSettings = ClusterSettings()
    secrets: SecretsSettings = SecretsSettings()
    source: str = Field(default="(defaults)", exclude=True)

    @field_validator("listen", "collector_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, port = split_host_port(value)
        if not host or port is None or not 0 <= port <= 65535:
            raise ValueError("expected host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
        return value

    @property
    def listen_host(self) -> str:
        """The host part of ``listen`` (brackets of an IPv6 address removed)."""
        return self.address(self.listen)[0]

    @property
    def listen_port(self) -> int:
        """The port part of ``listen``."""
        return self.address(self.listen)[1]

    @staticmethod
    def address(listen: str) -> tuple[str, int]:
        """Host (brackets of an IPv6 address removed) and port of a checked ``listen`` or
        ``collector_listen``."""
        host, port = split_host_port(listen)
        assert port is not None, "checked by _check_listen"
        return host, port


def _set_path(data: dict[str, object], path: KeyPath, value: str) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(str(part), {})
        if not isinstance(child, dict):
            child = {}
            node[str(part)] = child
        node = child
    node[str(path[-1])] = value


def settings_path(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """The settings file to read: ``--config``, else ``OM_CONFIG``, else the first default that exists."""
    if explicit is not None:
        return explicit
    if env.get("OM_CONFIG"):
        return Path(env["OM_CONFIG"])
    return next((p for p in DEFAULT_SETTINGS_FILES if p.is_file()), None)


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings file (if any), apply environment overrides and validate.

    Relative paths in the file are taken relative to the file's directory; relative paths from the
    environment or defaults, relative to the working directory. Raises :class:`ConfigError` with every
    problem found.
    """
    env = os.environ if env is None else env
    file = settings_path(path, env)
    doc = read_yaml(file) if file is not None else YamlDocument(file="(defaults)", data={})
    if doc.data is None:
        doc = YamlDocument(file=doc.file, data={}, lines=doc.lines)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), "expected a mapping of settings keys", doc.data)])
    data: dict[str, object] = dict(doc.data)
    if file is not None:
        base = file.parent
        for key in ("data_dir", "targets"):
            if isinstance(data.get(key), str) and not Path(str(data[key])).is_absolute():
                data[key] = str(base / str(data[key]))
        alerts = data.get("alerts")
        rules_file = alerts.get("rules_file") if isinstance(alerts, dict) else None
        if isinstance(alerts, dict) and isinstance(rules_file, str) and not Path(rules_file).is_absolute():
            data["alerts"] = {**alerts, "rules_file": str(base / rules_file)}
        actions = data.get("actions")
        if isinstance(actions, dict):
            data["actions"] = {
                key: str(base / value)
                if key in ACTIONS_PATH_KEYS and isinstance(value, str) and not Path(value).is_absolute()
                else value
                for key, value in actions.items()
            }
        secrets = data.get("secrets")
        key_file = secrets.get("key_file") if isinstance(secrets, dict) else None
        if isinstance(secrets, dict) and isinstance(key_file, str) and not Path(key_file).is_absolute():
            data["secrets"] = {**secrets, "key_file": str(base / key_file)}
    overridden: list[str] = []
    for name, key_path in ENV_KEYS.items():
        if env.get(name):
            _set_path(data, key_path, env[name])
            overridden.append(name)
    try:
        settings = Settings.model_validate({**data, "source": doc.file})
    except ValidationError as exc:
        problems = problems_from_validation(exc, doc)
        env_by_key = {".".join(map(str, k)): n for n, k in ENV_KEYS.items() if n in overridden}
        raise ConfigError(_blame_environment(problems, env_by_key)) from None
    return settings


def _blame_environment(problems: list[ConfigProblem], env_by_key: Mapping[str, str]) -> list[ConfigProblem]:
    """Point problems in keys that came from the environment at the variable instead of the file."""
    out = []
    for problem in problems:
        # A list's problem names its item (``http.trusted_proxies[0]``); the variable set the whole list.
        name = env_by_key.get(problem.key.split("[", 1)[0])
        if name is not None:
            out.append(ConfigProblem(f"environment {name}", problem.key, problem.expected, problem.value))
        else:
            out.append(problem)
    return out


def settings_summary(settings: Settings) -> str:
    """One line describing where the service will listen and which stores it will use."""
    pg = "external PostgreSQL" if settings.postgres.dsn else "embedded PostgreSQL"
    redis = "external Redis" if settings.redis.url else "embedded Redis"
    return f"{settings.source}: listen {settings.listen}, {pg}, {redis}, data in {settings.data_dir}"
