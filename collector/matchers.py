"""Label matchers, as in Prometheus: ``name = value``, ``!=``, ``=~`` and ``!~``.

One implementation for every layer that selects by labels: history reads turn matchers into SQL
(:func:`collector.storage.history_read.matchers_sql`), the PromQL engine selects series with them, and alert
rules, silences and notification routes select alerts or servers with them (with the size limits of alert
configuration, :data:`collector.alerts.model.AlertMatcher`). ``__name__`` matches the metric name.

A regular expression is anchored at both ends, as Prometheus anchors it, and compiled once when the matcher
is made, so a bad one is an error at validation time, not at match time. A label that is absent matches as
the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MatchOp = Literal["=", "!=", "=~", "!~"]
LABEL_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Matcher(BaseModel):
    """One condition on one label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=LABEL_NAME_PATTERN)
    op: MatchOp = "="
    value: str = ""

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.value!r} is not a valid regular expression: {exc}") from None
            except RecursionError:
                # Python's parser recurses per group: a few hundred nested groups exhaust the stack.
                raise ValueError("the regular expression is nested too deeply") from None
        return self

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        # fullmatch anchors the whole pattern; wrapping it in a group would refuse a leading flag like (?i).
        return re.compile(self.value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = self._pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value!r}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every matcher (true for none)."""
    return all(matcher.matches(labels) for matcher in matchers)
