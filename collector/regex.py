"""Regular expressions that a user sends, matched in linear time with RE2, as Go and so Prometheus match them.

A label matcher's or ``label_replace``'s pattern comes from whoever asks (a viewer's PromQL query, an
operator's silence). Python's ``re`` backtracks: ``{__name__=~"([a-z_]+)+Z"}`` against a 32-character metric
name takes minutes of CPU, and a few such queries stop the service. RE2 (``google-re2``) matches in time
linear in the text, and its syntax is Go's ``regexp``: what Prometheus accepts is accepted (``\\pL``,
``[[:alpha:]]``, ``(?i)`` anywhere), what it refuses is refused (look-around, back-references, repeats over
1,000), and ``\\d``, ``\\w``, ``\\s`` are ASCII as in Go.

:func:`compile_anchored` compiles the way Prometheus compiles a label matcher and ``label_replace``'s regex,
``^(?s:<pattern>)$``: the whole text must match, and ``.`` matches a newline too.
"""

from __future__ import annotations

from typing import Protocol, cast

import re2  # type: ignore[import-untyped]


class RegexError(ValueError):
    """The pattern is not a valid RE2 (Go) regular expression; the message says why."""


class RegexMatch(Protocol):
    """What a match offers: its groups by number or name (``None`` for a group that took no part)."""

    def group(self, ref: int | str, /) -> str | None: ...


class AnchoredRegex:
    """A compiled pattern that matches whole texts only."""

    __slots__ = ("_compiled", "groupindex", "groups", "pattern")

    def __init__(self, pattern: str, compiled: object) -> None:
        self.pattern = pattern
        self._compiled = compiled
        self.groups: int = cast(int, compiled.groups)  # type: ignore[attr-defined]
        """How many capturing groups the pattern has."""
        self.groupindex: dict[str, int] = dict(compiled.groupindex)  # type: ignore[attr-defined]
        """The named groups' numbers."""

    def fullmatch(self, text: str) -> RegexMatch | None:
        """The match of the whole of ``text``, or ``None``."""
        return cast("RegexMatch | None", self._compiled.fullmatch(text))  # type: ignore[attr-defined]


def _options() -> object:
    options = re2.Options()
    # A bad pattern is the caller's error, answered to them: RE2 would also print it to standard error.
    options.log_errors = False
    return cast(object, options)


_OPTIONS = _options()


def compile_anchored(pattern: str) -> AnchoredRegex:
    """``pattern`` compiled to match whole texts, ``.`` included newlines; :class:`RegexError` if RE2 (Go's
    syntax) refuses it."""
    try:
        compiled = re2.compile(f"(?s:{pattern})", _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise RegexError(f"{pattern!r} is not a valid regular expression: {text}") from None
    return AnchoredRegex(pattern, compiled)
