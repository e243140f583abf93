"""Label matchers, as in Prometheus and Alertmanager: ``name = value``, ``!=``, ``=~`` and ``!~``.

Silences, notification routes and rule scopes all select alerts or servers by matchers. A regular expression
is anchored at both ends, as Prometheus anchors it, and compiled once when the matcher is made, so a bad one
is an error at validation time, not at match time. A label that is absent matches as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MatchOp = Literal["=", "!=", "=~", "!~"]
MAX_PATTERN_CHARS = 1024


class Matcher(BaseModel):
    """One condition on one label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    op: MatchOp = "="
    value: str = Field(default="", max_length=MAX_PATTERN_CHARS)

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.value!r} is not a valid regular expression: {exc}") from None
        return self

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(f"(?:{self.value})")

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
