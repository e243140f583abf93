"""Silences: "do not notify alerts whose labels match these matchers between these two times".

A silence mutes; it changes nothing about an alert's state, which goes on pending, firing and resolving as
its rule says. It is active from ``starts_at`` (inclusive) to ``ends_at`` (exclusive), Unix seconds, so
expiring a silence is setting ``ends_at`` to now. A silence needs at least one matcher, and at least one
that cannot match everything, so that no silence mutes every alert by accident.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.alerts.matchers import Matcher, matches_all
from collector.alerts.model import Alert


class Silence(BaseModel):
    """One silence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    matchers: tuple[Matcher, ...] = Field(min_length=1, max_length=64)
    starts_at: float
    ends_at: float
    created_by: str = Field(min_length=1, max_length=128)
    comment: str = Field(default="", max_length=2048)

    @model_validator(mode="after")
    def _check(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if all(m.matches({}) for m in self.matchers):
            raise ValueError(
                "the matchers match every alert; add one that selects something (e.g. alertname)"
            )
        return self

    def active_at(self, t: float) -> bool:
        """Whether the silence is in force at ``t``."""
        return self.starts_at <= t < self.ends_at

    def mutes(self, alert: Alert, t: float) -> bool:
        """Whether this silence mutes ``alert`` at ``t``."""
        return self.active_at(t) and matches_all(self.matchers, alert.labels)


def is_silenced(alert: Alert, silences: Iterable[Silence], t: float) -> bool:
    """Whether any of ``silences`` mutes ``alert`` at ``t``."""
    return any(silence.mutes(alert, t) for silence in silences)
