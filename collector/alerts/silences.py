"""Silences: "do not notify alerts whose labels match these matchers between these two times".

A silence mutes; it changes nothing about an alert's state, which goes on pending, firing and resolving as
its rule says. It is active from ``starts_at`` (inclusive) to ``ends_at`` (exclusive), Unix seconds, so
expiring a silence is setting ``ends_at`` to now. A silence needs at least one matcher, and at least one
that cannot match everything, so that no silence mutes every alert by accident.

Per-server grants apply to silences through :func:`confined_servers`: the servers a silence can mute at most,
read from its ``server_id`` matchers (an equality, or a regular expression that is a plain union of server
ids). A silence without such a matcher may mute any server's alerts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.alerts.model import SERVER_ID, Alert, AlertMatcher
from collector.matchers import Matcher, matches_all


class Silence(BaseModel):
    """One silence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    matchers: tuple[AlertMatcher, ...] = Field(min_length=1, max_length=64)
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


def _server_ids(matcher: Matcher) -> frozenset[str] | None:
    """The server ids ``matcher`` admits, when it is a ``server_id`` equality or union of ids; else None."""
    if matcher.name != SERVER_ID:
        return None
    if matcher.op == "=":
        return frozenset({matcher.value})
    if matcher.op != "=~":
        return None
    ids = matcher.value.split("|")
    for text in ids:
        try:
            canonical = str(uuid.UUID(text))
        except ValueError:
            return None
        # A canonical id is hex digits and hyphens, so as a pattern it matches exactly itself.
        if canonical != text:
            return None
    return frozenset(ids)


def confined_servers(matchers: Iterable[Matcher]) -> frozenset[str] | None:
    """The ids of the servers whose alerts a silence with ``matchers`` can mute at most; None for any server.

    Every alert carries its server's id in the ``server_id`` label, so a ``server_id="…"`` matcher, or a
    ``server_id=~"…|…"`` made only of canonical server ids, confines a silence to those servers (several
    such matchers to the ids they all admit). Other matchers only narrow a silence further, so they do not
    widen the answer; a silence with no confining matcher can mute the alerts of any server.
    """
    confined: frozenset[str] | None = None
    for matcher in matchers:
        ids = _server_ids(matcher)
        if ids is not None:
            confined = ids if confined is None else confined & ids
    return confined
