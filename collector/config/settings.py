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
(see :mod:`collector.config.actions_settings`). ``OM_BACKUP_SCHEDULE``, ``OM_BACKUP_DIR`` and
``OM_BACKUP_KEEP`` set ``backup.schedule``, ``backup.dir`` and ``backup.keep`` (see
:mod:`collector.config.backup_settings`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from collector.config.actions_settings import ACTIONS_PATH_KEYS, ActionsSettings
from collector.config.api_settings import (
    AuthSettings,
    HttpSettings,
    McpSettings,
    QuerySettings,
    RateLimitSettings,
    RegistrationSettings,
    RemoteWriteSettings,
    TlsSettings,
)
from collector.config.backup_settings import BACKUP_PATH_KEYS, BackupSettings
from collector.config.configfile import (
    ConfigError,
    ConfigProblem,
    KeyPath,
    YamlDocument,
    problems_from_validation,
    read_yaml,
)
from collector.config.section import Port, Section, one_of_secret
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
    "OM_BACKUP_SCHEDULE": ("backup", "schedule"),
    "OM_BACKUP_DIR": ("backup", "dir"),
    "OM_BACKUP_KEEP": ("backup", "keep"),
}
"""Every environment override and the settings key it sets."""

DEFAULT_SETTINGS_FILES = (Path("openmanager.yml"), Path("/etc/openmanager/openmanager.yml"))


class PostgresSettings(Section):
    """Where history lives. No DSN means the embedded server under ``data_dir``."""

    dsn: SecretStr | None = None
    dsn_file: Path | None = None
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _resolve(self) -> PostgresSettings:
        dsn = one_of_secret(self.dsn, self.dsn_file, "dsn")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        object.__setattr__(self, "dsn", dsn)
        return self


class RedisSettings(Section):
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
        object.__setattr__(self, "url", one_of_secret(self.url, self.url_file, "url"))
        return self


class ClusterSettings(Section):
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


class LogSettings(Section):
    """Log level and format."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class SmtpSettings(Section):
    """Outgoing mail for alert notifications. No host means mail is off."""

    host: str | None = None
    port: Port = 587
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    sender: str = "openmanager@localhost"
    starttls: bool = True
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _resolve(self) -> SmtpSettings:
        object.__setattr__(self, "password", one_of_secret(self.password, self.password_file, "password"))
        return self


class AlertsSettings(Section):
    """The alert engine. Its rules live in PostgreSQL; a rules file's rules are upserted there at start."""

    rules_file: Path | None = None
    max_silence_s: float = Field(default=7 * 86400.0, gt=0)
    """The longest a silence may last (``ends_at - starts_at``), for every role: a week covers a long
    maintenance or a holiday, and a forgotten silence ends by itself within one."""


class SecretsSettings(Section):
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


class Settings(Section):
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
    backup: BackupSettings = BackupSettings()
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
        for section, path_keys in (("actions", ACTIONS_PATH_KEYS), ("backup", BACKUP_PATH_KEYS)):
            values = data.get(section)
            if isinstance(values, dict):
                data[section] = {
                    key: str(base / value)
                    if key in path_keys and isinstance(value, str) and not Path(value).is_absolute()
                    else value
                    for key, value in values.items()
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
