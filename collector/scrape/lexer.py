"""Tokenizing one line of the Prometheus text format 0.0.4 or OpenMetrics 1.0: the parser's cold path.

The parser sends a line here only when its series is not cached yet, or when the cheap split of a cached
line did not give a valid value, so this module favours clear checks and precise messages over speed.

The two formats share the series syntax: a metric name ``[a-zA-Z_:][a-zA-Z0-9_:]*`` before the braces, or
any UTF-8 name as a quoted string inside them (``{"my.metric", "label.name"="v"}``), and label names
``[a-zA-Z_][a-zA-Z0-9_]*`` or quoted. They differ in what surrounds the tokens: the text format takes
blanks (spaces and tabs) between any tokens, at both ends of a line and after a trailing comma in the
label set; OpenMetrics takes exactly one space where its grammar has one and nothing else.

Escapes: ``\\\\``, ``\\"`` and ``\\n`` in label values and quoted names; any other escape is kept as written
in the text format (as Prometheus does) and rejected in OpenMetrics (its grammar has no others). ``HELP``
text knows ``\\\\`` and ``\\n`` in the text format and additionally ``\\"`` in OpenMetrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from collector.scrape.numbers import (
    TimestampRangeError,
    parse_openmetrics_timestamp,
    parse_text_timestamp,
    parse_value,
)

Labels = tuple[tuple[str, str], ...]
"""Label pairs sorted by name, without the metric name."""
MetaKind = Literal["HELP", "TYPE", "UNIT", "COMMENT"]

TEXT_TYPES: Final = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
OPENMETRICS_TYPES: Final = frozenset(
    {"counter", "gauge", "histogram", "gaugehistogram", "summary", "stateset", "info", "unknown"}
)
EXEMPLAR_MAX_RUNES: Final = 128
"""OpenMetrics limit on the summed length of an exemplar's label names and values: a scrape keeps the sample
and drops a longer exemplar, as Prometheus's exemplar storage does."""
EXEMPLAR_SAMPLE_SUFFIXES: Final = ("_total", "_bucket")
"""The sample names Prometheus accepts an exemplar on (a counter's total, a histogram's bucket)."""

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNIT = re.compile(r"[a-zA-Z0-9_:]*")
_QUOTED = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_BLANKS = re.compile(r"[ \t]*")
# A label pair in its plainest form, and the same with groups for the name and the raw value.
_PAIR_SYNTAX: Final = r'[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*(?:\\.[^"\\]*)*"'
_PLAIN_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_PLAIN_SERIES = re.compile(
    rf"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{((?:{_PAIR_SYNTAX}(?:,{_PAIR_SYNTAX})*)?)\}})?", re.DOTALL
)
_TEXT_TOKEN = re.compile(r"[^ \t]*")
_ESCAPE = re.compile(r"\\(.|$)", re.DOTALL)
_UNESCAPED: Final = {"\\": "\\", '"': '"', "n": "\n"}
_LABEL_ESCAPES: Final = '\\"n'
_TEXT_HELP_ESCAPES: Final = "\\n"
_RESERVED_NAME_LABEL: Final = "__name__"
_TEXT_HASH: Final = "unexpected '#' after the value (exemplars exist only in OpenMetrics)"


class LineError(ValueError):
    """What is wrong with a line and where (0-based column, None for the whole line).

    The parser adds the line number.
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


class TimestampOutOfRangeError(LineError):
    """An OpenMetrics sample whose timestamp storage cannot hold: the scrape drops the sample and keeps the
    page, as Prometheus's storage refuses such a sample without failing the scrape."""


@dataclass(frozen=True, slots=True)
class ExemplarLine:
    """An OpenMetrics exemplar as written after a sample."""

    labels: Labels
    value: float
    timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class SampleLine:
    """A sample line taken apart: labels unescaped, in page order; ``series_end`` ends ``name{labels}``."""

    name: str
    labels: list[tuple[str, str]]
    series_end: int
    value: float
    timestamp_ms: int | None
    exemplar: ExemplarLine | None


@dataclass(frozen=True, slots=True)
class MetaLine:
    """A ``# HELP``, ``# TYPE`` or ``# UNIT`` line: its metric family name and unescaped text.

    ``COMMENT`` (name and text empty) is any other comment line of the text format.
    """

    kind: MetaKind
    name: str
    text: str


COMMENT: Final = MetaLine("COMMENT", "", "")


def unescape(raw: str, known: str) -> str:
    """Replace the escapes in ``known``; others are kept as written, as a Prometheus scrape keeps them."""
    if "\\" not in raw:
        return raw

    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        if char and char in known:
            return _UNESCAPED[char]
        return match.group(0)

    return _ESCAPE.sub(replace, raw)


def _skip_blanks(line: str, pos: int) -> int:
    match = _BLANKS.match(line, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _quoted(line: str, pos: int, openmetrics: bool) -> tuple[str, int]:
    """The unescaped content of the quoted string at ``pos`` and the position after it."""
    match = _QUOTED.match(line, pos)
    if match is None:
        raise LineError("unterminated quoted string", pos)
    return unescape(match.group(1), _LABEL_ESCAPES), match.end()


def _scan_labels(line: str, pos: int, openmetrics: bool) -> tuple[str | None, list[tuple[str, str]], int]:
    """The label set whose ``{`` is just before ``pos``: quoted metric name if any, pairs, end position."""
    text = not openmetrics
    quoted_name: str | None = None
    labels: list[tuple[str, str]] = []
    seen: set[str] = set()
    if text:
        pos = _skip_blanks(line, pos)
    if line.startswith("}", pos):
        return None, labels, pos + 1
    while True:
        start = pos
        if line.startswith('"', pos):
            name, pos = _quoted(line, pos, openmetrics)
            after = _skip_blanks(line, pos) if text else pos
            if not line.startswith("=", after):
                if quoted_name is not None:
                    raise LineError("metric name given twice in the label set", start)
                if not name:
                    raise LineError("empty metric name", start)
                quoted_name = name
                name = ""
            elif not name:
                raise LineError("empty label name", start)
            pos = after
        else:
            match = _LABEL_NAME.match(line, pos)
            if match is None:
                raise LineError(
                    "expected a label name (quote names that are not [a-zA-Z_][a-zA-Z0-9_]*)", pos
                )
            name = match.group()
            pos = _skip_blanks(line, match.end()) if text else match.end()
            if not line.startswith("=", pos):
                raise LineError(f"expected '=' after label name {name!r}", pos)
        if name:
            if name == _RESERVED_NAME_LABEL:
                raise LineError("label name __name__ is reserved: write the metric name instead", start)
            if name in seen:
                raise LineError(f"duplicate label name {name!r}", start)
            seen.add(name)
            pos = _skip_blanks(line, pos + 1) if text else pos + 1
            if not line.startswith('"', pos):
                raise LineError(f"expected a quoted value for label {name!r}", pos)
            value, pos = _quoted(line, pos, openmetrics)
            labels.append((name, value))
        if text:
            pos = _skip_blanks(line, pos)
        if line.startswith("}", pos):
            return quoted_name, labels, pos + 1
        if not line.startswith(",", pos):
            raise LineError("expected ',' or '}' in the label set", pos)
        pos += 1
        if text:
            pos = _skip_blanks(line, pos)
            if line.startswith("}", pos):
                return quoted_name, labels, pos + 1
        elif line.startswith("}", pos):
            raise LineError("trailing comma in the label set (not allowed in OpenMetrics)", pos - 1)


def _number(token: str, column: int) -> float:
    try:
        return parse_value(token)
    except ValueError as exc:
        raise LineError(f"invalid sample value: {exc}", column) from None


def scan_sample(line: str, openmetrics: bool) -> SampleLine:
    """Take a sample line apart, raising :class:`LineError` for anything the format does not allow."""
    series = _plain_series(line, openmetrics)
    if series is not None:
        name, labels, pos = series
    else:
        name, labels, pos = _series(line, openmetrics)
    if openmetrics:
        return _openmetrics_rest(line, name, labels, pos)
    return _text_rest(line, name, labels, pos)


def _plain_series(line: str, openmetrics: bool) -> tuple[str, list[tuple[str, str]], int] | None:
    """The series of the commonest lines, ``name{a="b",c="d"} …``, in one regex match; None otherwise.

    Anything unusual (blanks, quoted names, a trailing comma, escapes OpenMetrics could reject, repeated
    or reserved label names) is left to the full scan, which also gives the precise errors.
    """
    match = _PLAIN_SERIES.match(line)
    if match is None or not line.startswith(" ", match.end()):
        return None
    inner = match.group(2)
    if inner is None and not openmetrics and line.startswith("{", _skip_blanks(line, match.end())):
        return None  # "name {labels}": the text format allows blanks before the braces
    if not inner:
        return match.group(1), [], match.end()
    if openmetrics and "\\" in inner:
        return None
    pairs = _PLAIN_PAIR.findall(inner)
    names = {name for name, _ in pairs}
    if len(names) != len(pairs) or _RESERVED_NAME_LABEL in names:
        return None
    if "\\" in inner:
        pairs = [(name, unescape(value, _LABEL_ESCAPES)) for name, value in pairs]
    return match.group(1), pairs, match.end()


def _series(line: str, openmetrics: bool) -> tuple[str, list[tuple[str, str]], int]:
    """Metric name, label pairs and end of the series text at the start of ``line``, any syntax."""
    text = not openmetrics
    pos = _skip_blanks(line, 0) if text else 0
    name: str | None = None
    match = _METRIC_NAME.match(line, pos)
    if match is not None:
        name = match.group()
        pos = match.end()
    brace = _skip_blanks(line, pos) if text and name is not None else pos
    braced = line.startswith("{", brace)
    labels: list[tuple[str, str]] = []
    if braced:
        quoted_name, labels, pos = _scan_labels(line, brace + 1, openmetrics)
        if quoted_name is not None:
            if name is not None:
                raise LineError("metric name given both before and inside the braces", brace)
            name = quoted_name
    if name is None:
        what = "metric name" if braced else "metric name or '{'"
        raise LineError(f"expected a {what}", pos)
    if not braced and pos < len(line) and line[pos] not in " \t":
        raise LineError(
            f"invalid character {line[pos]!r} in metric name (quote UTF-8 names inside the braces)", pos
        )
    return name, labels, pos


def _text_rest(line: str, name: str, labels: list[tuple[str, str]], series_end: int) -> SampleLine:
    if line.startswith(" ", series_end):
        rest = line[series_end + 1 :]
        if rest and " " not in rest and "\t" not in rest:  # the usual "name{…} value"
            return SampleLine(name, labels, series_end, _number(rest, series_end + 1), None, None)
    pos = _skip_blanks(line, series_end)
    token = _TEXT_TOKEN.match(line, pos)
    assert token is not None  # the pattern matches the empty string
    if not token.group():
        raise LineError("missing sample value", pos)
    value = _number(token.group(), pos)
    pos = _skip_blanks(line, token.end())
    if pos == len(line):
        return SampleLine(name, labels, series_end, value, None, None)
    stamp = _TEXT_TOKEN.match(line, pos)
    assert stamp is not None
    if stamp.group().startswith("#"):
        raise LineError(_TEXT_HASH, pos)
    try:
        timestamp_ms = parse_text_timestamp(stamp.group())
    except ValueError as exc:
        raise LineError(str(exc), pos) from None
    end = _skip_blanks(line, stamp.end())
    if line.startswith("#", end):
        raise LineError(_TEXT_HASH, end)
    if end != len(line):
        raise LineError("unexpected text after the timestamp", end)
    return SampleLine(name, labels, series_end, value, timestamp_ms, None)


def _space_token(line: str, pos: int, what: str) -> tuple[str, int]:
    """The token after the single space at ``pos`` and where it ends."""
    if not line.startswith(" ", pos):
        raise LineError(f"expected a single space before the {what}", pos)
    end = line.find(" ", pos + 1)
    if end < 0:
        end = len(line)
    token = line[pos + 1 : end]
    if not token:
        raise LineError(f"expected the {what} after a single space (no other whitespace)", pos + 1)
    return token, end


def _openmetrics_timestamp(token: str, column: int) -> int:
    try:
        return parse_openmetrics_timestamp(token)
    except TimestampRangeError as exc:
        raise TimestampOutOfRangeError(str(exc), column) from None
    except ValueError as exc:
        raise LineError(str(exc), column) from None


def _openmetrics_rest(line: str, name: str, labels: list[tuple[str, str]], series_end: int) -> SampleLine:
    token, pos = _space_token(line, series_end, "value")
    value = _number(token, series_end + 1)
    timestamp_ms: int | None = None
    exemplar: ExemplarLine | None = None
    if pos < len(line) and not line.startswith(" # ", pos):
        token, end = _space_token(line, pos, "timestamp")
        timestamp_ms = _openmetrics_timestamp(token, pos + 1)
        pos = end
    if line.startswith(" # ", pos):
        exemplar = scan_exemplar(line, pos + 3)
    elif pos < len(line):
        raise LineError("unexpected text after the timestamp", pos)
    return SampleLine(name, labels, series_end, value, timestamp_ms, exemplar)


def scan_exemplar(line: str, pos: int) -> ExemplarLine:
    """The exemplar starting at ``pos`` (after the `` # `` that follows a value or timestamp)."""
    if not line.startswith("{", pos):
        raise LineError("expected '{' opening the exemplar's labels after ' # '", pos)
    quoted_name, pairs, pos = _scan_labels(line, pos + 1, openmetrics=True)
    if quoted_name is not None:
        raise LineError("an exemplar's labels cannot name a metric", pos)
    token, end = _space_token(line, pos, "exemplar value")
    value = _number(token, pos + 1)
    timestamp_ms: int | None = None
    if end < len(line):
        token, stamp_end = _space_token(line, end, "exemplar timestamp")
        timestamp_ms = _openmetrics_timestamp(token, end + 1)
        if stamp_end != len(line):
            raise LineError("unexpected text after the exemplar", stamp_end)
    return ExemplarLine(tuple(sorted(pairs)), value, timestamp_ms)


def scan_metadata(line: str, openmetrics: bool) -> MetaLine:
    """A ``HELP``/``TYPE``/``UNIT`` line taken apart, or a text-format comment to ignore.

    The caller has seen that the line starts with ``#`` (after blanks, in the text format) and is not
    OpenMetrics's ``# EOF``.
    """
    if openmetrics:
        keyword = line[2:6]
        if not line.startswith("# ") or keyword not in ("HELP", "TYPE", "UNIT") or line[6:7] != " ":
            raise LineError("OpenMetrics comments must be '# HELP', '# TYPE', '# UNIT' or '# EOF'", 0)
        pos = 7
    else:
        hash_at = _skip_blanks(line, 0)
        after = _skip_blanks(line, hash_at + 1)
        keyword = line[after : after + 4]
        # Like Prometheus's lexer: "#HELP" or "# HELPER" is an ordinary comment.
        if (
            after == hash_at + 1
            or keyword not in ("HELP", "TYPE")
            or line[after + 4 : after + 5] not in " \t"
        ):
            return COMMENT
        pos = _skip_blanks(line, after + 4)
        if after + 4 == len(line):
            return COMMENT
    kind: MetaKind = "HELP" if keyword == "HELP" else "TYPE" if keyword == "TYPE" else "UNIT"
    if line.startswith('"', pos):
        name, end = _quoted(line, pos, openmetrics)
        if not name:
            raise LineError("empty metric name", pos)
    else:
        match = _METRIC_NAME.match(line, pos)
        if match is None:
            raise LineError(f"expected a metric name after {kind}", pos)
        name, end = match.group(), match.end()
    if end == len(line):
        if openmetrics or kind == "TYPE":
            what = "metric type" if kind == "TYPE" else "a space and the text" if kind == "HELP" else "unit"
            raise LineError(f"expected {what} after the metric name", end)
        return MetaLine(kind, name, "")
    if line[end] != " " and (openmetrics or line[end] != "\t"):
        raise LineError(f"invalid character {line[end]!r} after the metric name", end)
    rest = line[end + 1 :]
    if kind == "HELP":
        known = _LABEL_ESCAPES if openmetrics else _TEXT_HELP_ESCAPES
        return MetaLine(kind, name, unescape(rest, known))
    if kind == "TYPE":
        type_name = rest if openmetrics else rest.strip(" \t")
        if type_name not in (OPENMETRICS_TYPES if openmetrics else TEXT_TYPES):
            raise LineError(f"unknown metric type {type_name!r}", end + 1)
        return MetaLine(kind, name, type_name)
    if _UNIT.fullmatch(rest) is None:
        raise LineError(f"invalid unit {rest!r}", end + 1)
    return MetaLine(kind, name, rest)
