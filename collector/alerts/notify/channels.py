"""Notification channels: where alerts are sent (e-mail, a generic webhook, Slack) and how often.

A channel is a validated pydantic model, discriminated by ``kind``. Every kind shares the routing (which
alerts: ``severities`` and ``matchers``) and the timing of Alertmanager's routes: alerts are grouped by the
values of ``group_by``; a new group waits ``group_wait_s`` to collect its companions, is looked at again at
most every ``group_interval_s``, and a notification of an unchanged set of firing alerts is repeated every
``repeat_interval_s``.

Secrets (the SMTP password, webhook URLs and header values, the Slack URL) are ``SecretStr``.
:func:`redact_channel` shows a channel with every secret as ``***``; :func:`keep_secrets` turns an update that
leaves a secret as ``***`` into one that keeps the stored value, so a form can round-trip a redacted channel.
A kept secret is only ever sent where it went before: an update that changes a channel's destination (each
kind's ``destination()``: the SMTP host, port and TLS mode, the webhook URL) must give every secret again,
or whoever may edit channels could redirect a stored secret to a server of their choosing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from collector.alerts.model import ALERTNAME, SEVERITIES, Alert, AlertMatcher, Severity

REDACTED: Final = "***"
"""How a secret is shown, and the value an update gives to keep the stored secret."""

ALL_LABELS: Final = "..."
"""In ``group_by``: group by every label, so each alert is a group of its own (as in Alertmanager)."""

Kind = Literal["email", "webhook", "slack"]
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http:// or https:// URL with a host")
    return value


Secret = Annotated[SecretStr, WithJsonSchema({"type": "string", "format": "password"})]
"""A secret: never logged; answered by the API as ``***`` and accepted back as ``***`` (so not write-only)."""


class ChannelBase(BaseModel):
    """Routing and timing, common to every kind of channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    enabled: bool = True
    severities: tuple[Severity, ...] = SEVERITIES
    """Only alerts of these severities go to the channel."""
    matchers: tuple[AlertMatcher, ...] = ()
    """Only alerts whose labels satisfy every matcher go to the channel."""
    group_by: tuple[str, ...] = (ALERTNAME,)
    """Label names whose values make a group; ``["..."]`` groups by every label."""
    group_wait_s: float = Field(default=30.0, ge=0, le=86_400)
    group_interval_s: float = Field(default=300.0, gt=0, le=86_400)
    repeat_interval_s: float = Field(default=4 * 3600.0, gt=0, le=30 * 86_400)
    send_resolved: bool = True
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    """One delivery attempt's limit."""

    @field_validator("group_by")
    @classmethod
    def _label_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if ALL_LABELS in value and len(value) > 1:
            raise ValueError(f"{ALL_LABELS!r} groups by every label and cannot be combined with other names")
        for name in value:
            if name != ALL_LABELS and not _LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a label name (letters, digits and _, not first a digit)")
        if len(set(value)) != len(value):
            raise ValueError("a label name is listed twice")
        return value

    @field_validator("severities")
    @classmethod
    def _some_severity(cls, value: tuple[Severity, ...]) -> tuple[Severity, ...]:
        if not value:
            raise ValueError("at least one severity is needed, or the channel receives nothing")
        return value

    def routes(self, alert: Alert) -> bool:
        """Whether ``alert`` goes to this channel (regardless of ``enabled``)."""
        return alert.severity in self.severities and all(m.matches(alert.labels) for m in self.matchers)

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that name the group an alert with ``labels`` belongs to."""
        if self.group_by == (ALL_LABELS,):
            return dict(labels)
        return {name: labels.get(name, "") for name in self.group_by}


class EmailChannel(ChannelBase):
    """Plain-text e-mail through an SMTP server."""

    kind: Literal["email"] = "email"
    to: tuple[str, ...] = Field(min_length=1, max_length=100)
    from_address: str
    smtp_host: str = Field(min_length=1, max_length=255)
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    starttls: bool = True
    """Upgrade the connection with STARTTLS (required: the server must offer it)."""
    tls: bool = False
    """Implicit TLS from the first byte (usually port 465); excludes ``starttls``."""
    username: str | None = None
    password: Secret | None = None

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value

    @field_validator("from_address")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    def destination(self) -> dict[str, object]:
        """The SMTP server the password is sent to, and how it is protected on the way."""
        return {
            "smtp_host": self.smtp_host.lower().rstrip("."),
            "smtp_port": self.smtp_port,
            "tls": self.tls,
            "starttls": self.starttls,
        }

    @model_validator(mode="after")
    def _one_tls_mode(self) -> EmailChannel:
        if self.tls and self.starttls:
            raise ValueError("tls (implicit TLS) and starttls exclude each other: set starttls to false")
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        return self


class WebhookChannel(ChannelBase):
    """A JSON document POSTed to a URL (see :mod:`collector.alerts.notify.payloads`)."""

    kind: Literal["webhook"] = "webhook"
    url: Secret
    """Secret too: receivers often take their token in the URL's path or query."""
    headers: dict[str, Secret] = Field(default_factory=dict)
    """Extra request headers, for example ``Authorization``; their values are secret."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() != REDACTED:
            _http_url(value.get_secret_value(), "url")
        return value

    def destination(self) -> dict[str, object]:
        """The URL the header values are sent to (itself a secret)."""
        return {"url": self.url.get_secret_value()}

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name in value:
            if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
        return value


class SlackChannel(ChannelBase):
    """A Slack-compatible incoming webhook; the URL carries the token, so it is secret."""

    kind: Literal["slack"] = "slack"
    url: Secret

    def destination(self) -> dict[str, object]:
        """The URL, the channel's one secret: kept, it is the stored destination."""
        return {"url": self.url.get_secret_value()}

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() != REDACTED:
            _http_url(value.get_secret_value(), "url")
        return value


ChannelConfig = EmailChannel | WebhookChannel | SlackChannel
"""Any channel."""

_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(Annotated[ChannelConfig, Field(discriminator="kind")])


def parse_channel(data: object) -> ChannelConfig:
    """Validate a channel from JSON-like data; :class:`pydantic.ValidationError` names each bad field."""
    return _ADAPTER.validate_python(data)


def _secret_paths(data: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], SecretStr]]:
    if isinstance(data, SecretStr):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _secret_paths(value, (*path, str(key)))


def _plain(data: object, reveal: bool) -> object:
    if isinstance(data, SecretStr):
        return data.get_secret_value() if reveal else REDACTED
    if isinstance(data, dict):
        return {str(key): _plain(value, reveal) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(value, reveal) for value in data]
    return data


def redact_channel(channel: ChannelConfig) -> dict[str, object]:
    """The channel as JSON-ready data with every secret shown as ``***``: what the API returns."""
    plain = _plain(channel.model_dump(mode="python"), reveal=False)
    assert isinstance(plain, dict)
    return plain


def reveal_channel(channel: ChannelConfig) -> dict[str, object]:
    """The channel as JSON-ready data with its secrets in clear: what the store keeps. Never log it."""
    plain = _plain(channel.model_dump(mode="python"), reveal=True)
    assert isinstance(plain, dict)
    return plain


def has_redacted_secret(channel: ChannelConfig) -> bool:
    """Whether some secret of ``channel`` is the placeholder ``***`` rather than a value."""
    return any(s.get_secret_value() == REDACTED for _, s in _secret_paths(channel.model_dump(mode="python")))


def without_secrets(text: str, channel: ChannelConfig) -> str:
    """``text`` with every secret value of ``channel`` replaced by ``***`` (a receiver may echo one back)."""
    secrets = {s.get_secret_value() for _, s in _secret_paths(channel.model_dump(mode="python"))}
    for secret in sorted(secrets - {"", REDACTED}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def keep_secrets(new: ChannelConfig, old: ChannelConfig) -> ChannelConfig:
    """``new`` with every secret given as ``***`` replaced by ``old``'s value at the same place.

    Raises ValueError when a secret is ``***`` but ``old`` has none there (a new header, another kind), and
    when a secret is kept while the channel's ``destination()`` changes: the message names
    the changed fields and the secrets to give again, never a value.
    """
    data = reveal_channel(new)
    stored = dict(_secret_paths(old.model_dump(mode="python"))) if old.kind == new.kind else {}
    kept: list[str] = []
    for path, secret in _secret_paths(new.model_dump(mode="python")):
        if secret.get_secret_value() != REDACTED:
            continue
        kept.append(".".join(path))
        if path not in stored:
            raise ValueError(
                f"{'.'.join(path)} is {REDACTED!r} but there is no stored secret to keep: give it"
            )
        target: dict[str, object] = data
        for key in path[:-1]:
            inner = target[key]
            assert isinstance(inner, dict)
            target = inner
        target[path[-1]] = stored[path].get_secret_value()
    merged = parse_channel(data)
    if kept:
        before, after = old.destination(), merged.destination()
        changed = [name for name in after if after[name] != before.get(name)]
        if changed:
            raise ValueError(
                f"{', '.join(changed)} changed, so the stored {', '.join(kept)} would be sent to a new "
                f"destination: give {', '.join(kept)} again instead of {REDACTED!r}"
            )
    return merged


@dataclass(frozen=True)
class StoredChannel:
    """A channel as the store keeps it: its id and times beside its configuration."""

    id: UUID
    config: ChannelConfig
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        """The channel's unique name."""
        return self.config.name

    @property
    def kind(self) -> Kind:
        """``email``, ``webhook`` or ``slack``."""
        return self.config.kind
