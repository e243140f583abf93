"""The central service's settings: one YAML file plus ``OM_*`` environment overrides.

Read and validated once at start-up into frozen objects. The file is optional; with none, every key takes its
default and the service runs on the embedded PostgreSQL and Redis under ``data_dir``. Environment variables
win over the file. A secret may be given inline or, better, as a path in the matching ``*_file`` key.

========================  ==========================  =====================================================
environment variable      settings key                meaning
========================  ==========================  =====================================================
``OM_CONFIG``             (none)                      path of the settings file
``OM_LISTEN``             ``listen``                  host:port of the API and dashboard
``OM_DATA_DIR``           ``data_dir``                state: embedded stores, spool, generated secrets
``OM_TARGETS``            ``targets``                 path of the target file (Prometheus scrape_configs)
``OM_POSTGRES_DSN``       ``postgres.dsn``            PostgreSQL DSN; unset = embedded server
``OM_POSTGRES_DSN_FILE``  ``postgres.dsn_file``       file holding the DSN
``OM_REDIS_URL``          ``redis.url``               Redis URL; unset = embedded server
``OM_REDIS_URL_FILE``     ``redis.url_file``          file holding the URL
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
========================  ==========================  =====================================================
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
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from collector.configfile import (
    ConfigError,
    ConfigProblem,
    KeyPath,
    YamlDocument,
    problems_from_validation,
    read_yaml,
)

ENV_KEYS: Mapping[str, KeyPath] = {
    "OM_LISTEN": ("listen",),
    "OM_DATA_DIR": ("data_dir",),
    "OM_TARGETS": ("targets",),
    "OM_POSTGRES_DSN": ("postgres", "dsn"),
    "OM_POSTGRES_DSN_FILE": ("postgres", "dsn_file"),
    "OM_REDIS_URL": ("redis", "url"),
    "OM_REDIS_URL_FILE": ("redis", "url_file"),
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
}
"""Every environment override and the settings key it sets."""

DEFAULT_SETTINGS_FILES = (Path("openmanager.yml"), Path("/etc/openmanager/openmanager.yml"))

_Port = Annotated[int, Field(ge=1, le=65535)]


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

    @field_validator("url")
    @classmethod
    def _check_scheme(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a URL starting with redis://, rediss:// or unix://")
        return url

    @model_validator(mode="after")
    def _resolve(self) -> RedisSettings:
        object.__setattr__(self, "url", _one_of_secret(self.url, self.url_file, "url"))
        return self


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

    @model_validator(mode="after")
    def _resolve(self) -> AuthSettings:
        secret = _one_of_secret(self.jwt_secret, self.jwt_secret_file, "jwt_secret")
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("jwt_secret must be at least 32 characters")
        object.__setattr__(self, "jwt_secret", secret)
        return self


class AlertsSettings(_Section):
    """The alert engine. Its rules live in PostgreSQL; a rules file's rules are upserted there at start."""

    rules_file: Path | None = None


class RateLimitSettings(_Section):
    """The API's request rate limit per caller (see ``api/ratelimit.py``); ``requests_per_s: 0`` turns it off.

    The defaults are far above what the dashboard or a script polling every second needs.
    """

    requests_per_s: float = Field(default=50.0, ge=0)
    burst: int = Field(default=1000, ge=1)


class Settings(_Section):
    """Everything the central service is configured with."""

    listen: str = "127.0.0.1:8080"
    data_dir: Path = Path("var")
    targets: Path = Path("targets.yaml")
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    log: LogSettings = LogSettings()
    smtp: SmtpSettings = SmtpSettings()
    auth: AuthSettings = AuthSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    alerts: AlertsSettings = AlertsSettings()
    source: str = Field(default="(defaults)", exclude=True)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
        return value

    @property
    def listen_host(self) -> str:
        """The host part of ``listen`` (brackets of an IPv6 address removed)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        """The port part of ``listen``."""
        return int(self.listen.rpartition(":")[2])


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
        name = env_by_key.get(problem.key)
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
