"""A request's parameters as Prometheus reads them: times, durations, series selectors, limits.

Parameters come from the query string or, for POST, from an ``application/x-www-form-urlencoded`` body
(body values first, as Go's ``Request.FormValue`` orders them); unknown ones are ignored, as Prometheus
ignores them. Times are Unix seconds (with a fraction) or RFC 3339; durations are seconds or Prometheus
durations (``1m30s``). Bad values are :class:`~collector.promql.errors.BadDataError` with Prometheus's words
(``invalid parameter "start": cannot parse "x" to a valid timestamp``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from collector.config.units import parse_duration
from collector.matchers import Matcher
from collector.promql import parse
from collector.promql.errors import BadDataError
from collector.storage.samples_read import MAX_MS, MIN_MS

_GO_FLOAT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_RFC3339 = re.compile(
    r"(?P<year>[+-]?\d{4,})-(?P<rest>\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})"
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
MAX_DURATION_S = (2**63 - 1) / 1e9
"""Go's time.Duration holds at most this many seconds."""


@dataclass(frozen=True)
class Form:
    """The parameters of one request, in Prometheus's order: the form body's, then the query string's."""

    pairs: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str:
        """The first value of ``name``, or "" (Go's ``FormValue``)."""
        return next((value for key, value in self.pairs if key == name), "")

    def all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        return [value for key, value in self.pairs if key == name]


async def read_form(request: web.Request) -> Form:
    """The parameters of ``request``: a POST's urlencoded body, then the query string."""
    pairs: list[tuple[str, str]] = []
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        body = await request.post()
        pairs.extend((key, value) for key, value in body.items() if isinstance(value, str))
    pairs.extend(request.query.items())
    return Form(tuple(pairs))


def invalid(parameter: str, message: str) -> BadDataError:
    """Prometheus's ``invalid parameter`` error."""
    return BadDataError(f'invalid parameter "{parameter}": {message}')


def _round_half_away(value: float) -> int:
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def _clamp(ms: int) -> int:
    return min(max(ms, MIN_MS), MAX_MS)


def parse_time(text: str) -> int:
    """Milliseconds since the epoch from Unix seconds or RFC 3339; raises ValueError with Prometheus's words.

    Times beyond what a datetime holds (Prometheus's own "minimum and maximum time" among them) are clamped
    to year 1 and year 9999.
    """
    if _GO_FLOAT.fullmatch(text):
        seconds = float(text)
        if math.isfinite(seconds):
            whole = math.trunc(seconds)
            return _clamp(whole * 1000 + _round_half_away((seconds - whole) * 1000))
    match = _RFC3339.fullmatch(text)
    if match is not None:
        year = int(match["year"])
        if year < 1:
            return MIN_MS
        if year > 9999:
            return MAX_MS
        fraction = (match["fraction"] or "")[:7]
        zone = "+00:00" if match["zone"] in ("Z", "z") else match["zone"]
        try:
            parsed = datetime.fromisoformat(f"{year:04d}-{match['rest'].upper()}{fraction}{zone}")
        except ValueError:
            pass
        else:
            delta = parsed.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
            return _clamp(delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000)
    raise ValueError(f'cannot parse "{text}" to a valid timestamp')


def parse_duration_ns(text: str) -> int:
    """Nanoseconds in seconds (``30``, ``1.5``) or a Prometheus duration (``1m30s``), as Go's Duration."""
    if _GO_FLOAT.fullmatch(text):
        seconds = float(text)
        if not math.isfinite(seconds) or abs(seconds) > MAX_DURATION_S:
            raise ValueError(f'cannot parse "{text}" to a valid duration. It overflows int64')
        return math.trunc(seconds * 1e9)
    try:
        return round(parse_duration(text) * 1e9)
    except ValueError:
        raise ValueError(f'cannot parse "{text}" to a valid duration') from None


def parse_duration_ms(text: str) -> int:
    """Whole milliseconds of :func:`parse_duration_ns` (truncated toward zero, as the engine does)."""
    nanoseconds = parse_duration_ns(text)
    return int(math.copysign(abs(nanoseconds) // 1_000_000, nanoseconds))


def _param(form: Form, name: str, reader: Callable[[str], int], default: int | None) -> int | None:
    text = form.get(name)
    if text == "":
        return default
    try:
        return reader(text)
    except ValueError as exc:
        raise invalid(name, str(exc)) from None


def time_param(form: Form, name: str, default: int | None) -> int | None:
    """An optional time parameter in milliseconds (``default`` when absent)."""
    return _param(form, name, parse_time, default)


def required_time(form: Form, name: str) -> int:
    """A time parameter that must be given (an empty one is Prometheus's parse error)."""
    try:
        return parse_time(form.get(name))
    except ValueError as exc:
        raise invalid(name, str(exc)) from None


def required_duration(form: Form, name: str) -> int:
    """A duration parameter that must be given."""
    try:
        return parse_duration_ms(form.get(name))
    except ValueError as exc:
        raise invalid(name, str(exc)) from None


def limit_param(form: Form) -> int | None:
    """The ``limit`` parameter: None for no limit (absent or 0)."""
    text = form.get("limit")
    if text == "":
        return None
    try:
        limit = int(text)
    except ValueError:
        raise invalid("limit", f'cannot parse "{text}" to a valid integer') from None
    if limit < 0:
        raise invalid("limit", "limit must be non-negative")
    return limit or None


def selectors(form: Form, *, required: bool) -> list[list[Matcher]]:
    """The ``match[]`` series selectors, each as its list of matchers."""
    texts = form.all("match[]")
    if required and not texts:
        raise BadDataError("no match[] parameter provided")
    out = []
    for text in texts:
        try:
            expr = parse.parse(text)
        except BadDataError as exc:
            raise invalid("match[]", str(exc)) from None
        if not isinstance(expr, parse.VectorSelector) or expr.offset_ms or expr.at is not None:
            raise invalid("match[]", f'{text!r} is not a series selector (expected e.g. up{{job="node"}})')
        out.append(list(expr.matchers))
    return out


def label_name(name: str) -> str:
    """A label name from a path, checked as Prometheus checks it."""
    if not _LABEL_NAME.fullmatch(name):
        raise BadDataError(f'invalid label name: "{name}"')
    return name
