"""Label matchers, as in Prometheus: ``name = value``, ``!=``, ``=~`` and ``!~``.

One implementation for every layer that selects by labels: history reads turn matchers into SQL
(:func:`collector.storage.history_read.matchers_sql`), the PromQL engine selects series with them, and alert
rules, silences and notification routes select alerts or servers with them (with the size limits of alert
configuration, :data:`collector.alerts.model.AlertMatcher`). ``__name__`` matches the metric name.

A regular expression is RE2's (Go's, :mod:`collector.regex`: linear time, whoever wrote it), anchored at
both ends with ``.`` matching newlines, as Prometheus compiles it, and compiled once when the matcher is
made, so a bad one is an error at validation time, not at match time. Each matcher remembers its answers for
up to :data:`REMEMBERED_VALUES` label values: a selection over many series meets the same values again and
again. A label that is absent matches as the empty string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.regex import AnchoredRegex, compile_anchored

MatchOp = Literal["=", "!=", "=~", "!~"]
LABEL_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]*$"
REMEMBERED_VALUES: Final = 4096
"""Label values whose regex answer a matcher keeps; past that it forgets them all and starts again."""


class Matcher(BaseModel):
    """One condition on one label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=LABEL_NAME_PATTERN)
    op: MatchOp = "="
    value: str = ""

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            # Compiled here, once: a RegexError is a ValueError, which pydantic reports as this field's error.
            _ = self._pattern
        return self

    @cached_property
    def _pattern(self) -> AnchoredRegex:
        return compile_anchored(self.value)

    @cached_property
    def _answers(self) -> dict[str, bool]:
        return {}

    def _regex_matches(self, value: str) -> bool:
        answers = self._answers
        found = answers.get(value)
        if found is None:
            if len(answers) >= REMEMBERED_VALUES:
                answers.clear()
            found = answers[value] = self._pattern.fullmatch(value) is not None
        return found

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = self._regex_matches(actual)
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value!r}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every matcher (true for none)."""
    return all(matcher.matches(labels) for matcher in matchers)
