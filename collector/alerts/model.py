"""The data the alert engine and the notifier share: an alert instance and the clock they both read.

An :class:`Alert` is one rule's finding about one server, identified by its :attr:`Alert.fingerprint` (a
stable hash of its labels, so the same rule on the same server is the same alert across restarts). The
engine (:mod:`collector.alerts.engine`) produces them; the notifier (:mod:`collector.alerts.notify`) groups
and sends them. Times are Unix seconds as floats, read from a :class:`Clock` so tests can drive time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol
from uuid import UUID

Severity = Literal["info", "warning", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = ("info", "warning", "critical")
AlertState = Literal["pending", "firing", "resolved"]

ALERTNAME: Final = "alertname"
"""The label that carries the rule's name, as in Prometheus."""
SEVERITY: Final = "severity"
"""The label that carries the alert's severity."""
SERVER_ID: Final = "server_id"
"""The label that carries the server's id: what inhibition and per-server grants match on."""


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
