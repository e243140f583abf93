"""The data the alert engine and the notifier share: an alert instance, the clock they both read, matchers.

An :class:`Alert` is one rule's finding about one server, identified by its :attr:`Alert.fingerprint` (a
stable hash of its labels, so the same rule on the same server is the same alert across restarts). The
engine (:mod:`collector.alerts.engine`) produces them; the notifier (:mod:`collector.alerts.notify`) groups
and sends them. Times are Unix seconds as floats, read from a :class:`Clock` so tests can drive time;
:func:`to_datetime` and :func:`to_seconds` convert them to and from the stores' aware datetimes. Rules,
silences and channels select alerts with :data:`AlertMatcher`, a label matcher of bounded size.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Final, Literal, Protocol
from uuid import UUID

from pydantic import BeforeValidator

from collector.matchers import Matcher

Severity = Literal["info", "warning", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "warning", "critical")
AlertState = Literal["pending", "firing", "resolved"]

ALERTNAME: Final = "alertname"
"""The label that carries the rule's name, as in Prometheus."""
SEVERITY: Final = "severity"
"""The label that carries the alert's severity."""
SERVER_ID: Final = "server_id"
"""The label that carries the server's id: what inhibition and per-server grants match on."""


MAX_MATCHER_NAME_CHARS: Final = 128
MAX_MATCHER_VALUE_CHARS: Final = 1024
"""The longest label name and value (or pattern) a matcher of alert configuration may have."""


def _within_alert_limits(data: object) -> object:
    # Checked before the matcher is made, so that an oversized pattern is refused before it is compiled.
    name: object
    value: object
    if isinstance(data, Matcher):
        name, value = data.name, data.value
    elif isinstance(data, Mapping):
        name, value = data.get("name"), data.get("value")
    else:
        return data  # not a matcher at all: the matcher's own validation says so
    if isinstance(name, str) and len(name) > MAX_MATCHER_NAME_CHARS:
        raise ValueError(f"a matcher's label name may have at most {MAX_MATCHER_NAME_CHARS} characters")
    if isinstance(value, str) and len(value) > MAX_MATCHER_VALUE_CHARS:
        raise ValueError(
            f"the value of matcher {name!r} may have at most {MAX_MATCHER_VALUE_CHARS} characters"
        )
    return data


AlertMatcher = Annotated[Matcher, BeforeValidator(_within_alert_limits)]
"""A matcher in alert configuration (rules, silences, notification channels): sizes bounded, since what is
configured is stored, listed and evaluated against every alert; queries take :class:`Matcher` unbounded."""


class Clock(Protocol):
    """Where the engine and the notifier read the time."""

    def now(self) -> float:
        """Unix time in seconds."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """Unix time in seconds."""
        return time.time()


def to_datetime(t: float | None) -> datetime | None:
    """Unix seconds as an aware datetime (how the stores keep times)."""
    return None if t is None else datetime.fromtimestamp(t, UTC)


def to_seconds(at: datetime | None) -> float | None:
    """An aware datetime as Unix seconds."""
    return None if at is None else at.timestamp()


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id of a label set: the same labels give the same id in every process and run."""
    digest = hashlib.blake2b(digest_size=8)
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(labels[name].encode())
        digest.update(b"\xfe")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance as it stands now."""

    fingerprint: str
    rule_id: str
    server_id: UUID | None
    severity: Severity
    state: AlertState
    labels: Mapping[str, str]
    """Includes ``alertname``, ``severity``, ``server_id``, ``job``, ``instance`` and the rule's labels."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Templated text; ``title`` and ``message`` are always present for alerts the engine makes."""
    value: float | None = None
    """The value that last decided the condition, when there is one."""
    active_since: float = 0.0
    """When the condition started to hold (the start of ``pending``)."""
    fired_at: float | None = None
    resolved_at: float | None = None

    @property
    def name(self) -> str:
        """The rule's name."""
        return self.labels.get(ALERTNAME, self.rule_id)

    @property
    def title(self) -> str:
        """A one-line summary."""
        return self.annotations.get("title", self.name)

    @property
    def message(self) -> str:
        """The longer text."""
        return self.annotations.get("message", "")
