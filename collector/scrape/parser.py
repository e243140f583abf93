"""Parse a scraped page in the Prometheus text format 0.0.4 or OpenMetrics 1.0 into samples and metadata.

Speed comes from :class:`SeriesCache`, kept per target like Prometheus's scrape cache: it maps the exact
series text of a line (``name{labels}``, everything before the value) to its parsed name and labels. A
line of a known series then costs a split at its last space, a dict lookup, a few constant-time checks
of the value and ``float()``; known metadata lines cost a dict lookup. Anything else (timestamps,
exemplars, new series, errors) goes through :mod:`collector.scrape.lexer` and
:mod:`collector.scrape.families`.

Semantics, decided here and tested:

* A whole page fails on its first error (as a Prometheus scrape does), with the 1-based line.
* Duplicate series fail the page in both formats: the same name and labels with the same timestamp
  (both absent counts as the same). OpenMetrics forbids them; for the text format Prometheus drops the
  later sample and counts "duplicate sample for timestamp", which hides an exporter bug.
* ``le`` of a histogram's ``_bucket`` samples and ``quantile`` of a summary's quantile samples are
  normalized as Prometheus 3 does, so ``le="1"`` and ``le="1.0"`` are one series: the number is
  rewritten by :func:`~collector.scrape.numbers.format_go_float` (``1.0``, ``0.25``, ``1e+06``, ``+Inf``).
  Only when the family's TYPE says histogram (or gaugehistogram) or summary; in the text format a value
  that is not a number is kept as written, in OpenMetrics it is an error.
* Exemplars (OpenMetrics only) are validated and returned in :attr:`ParseResult.exemplars`; in the text
  format a ``#`` after the value is an error.
* Text format: blank lines, comments, blanks around tokens and a trailing comma in a label set are
  allowed; at most one HELP and one TYPE per name, and TYPE must precede the samples of its family. Lines
  of a family need not be contiguous there (Prometheus does not require it either). A missing newline
  at the end of the page is accepted.
* OpenMetrics: see :class:`~collector.scrape.families.OpenMetricsFamilies` for the family rules. The page
  must end with ``# EOF`` (optionally followed by one newline) and may not contain blank lines. Invariants
  across samples (bucket order, the ``+Inf`` bucket, the count matching it) are not checked.
* ``\\r`` is an ordinary character, so a CRLF page fails (as in Prometheus) with a message that says so.
* Label values are returned as written, empty ones included (Prometheus drops a label whose value is
  empty when it stores the series; that is for storage to decide).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

from collector.scrape.families import (
    ANY,
    NOT_NEGATIVE,
    OpenMetricsFamilies,
    text_has_one_sample_name,
    text_sample_labels,
    text_sample_names,
)
from collector.scrape.lexer import (
    ExemplarLine,
    Labels,
    LineError,
    MetaLine,
    scan_exemplar,
    scan_metadata,
    scan_sample,
)
from collector.scrape.numbers import parse_openmetrics_timestamp, parse_text_timestamp, parse_value

Format = Literal["text", "openmetrics"]

OPENMETRICS_MEDIA_TYPE: Final = "application/openmetrics-text"
_EOF_LINE: Final = "# EOF"
_FRAGMENT_CHARS: Final = 60
_FRAGMENT_LEAD_CHARS: Final = 20
_MESSAGE_CHARS: Final = 200

# Whitespace that float() strips but the format does not allow around a value. A page without any lets
# the hot loop skip checking both ends of every value (the text format allows tabs there).
_TEXT_ODD_WHITESPACE: Final = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_ODD_WHITESPACE: Final[dict[Format, tuple[bytes, ...]]] = {
    "text": _TEXT_ODD_WHITESPACE,
    "openmetrics": (*_TEXT_ODD_WHITESPACE, b"\t"),
}


class Sample(NamedTuple):
    """One sample: metric name, labels sorted by name (without ``__name__``), value, own timestamp."""

    name: str
    labels: Labels
    value: float
    timestamp_ms: int | None


class MetricMeta(NamedTuple):
    """What HELP, TYPE and UNIT lines say about a metric family (``untyped``/``unknown`` without TYPE)."""

    name: str
    type: str
    help: str
    unit: str


class Exemplar(NamedTuple):
    """An OpenMetrics exemplar of ``ParseResult.samples[sample_index]``."""

    sample_index: int
    labels: Labels
    value: float
    timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class ParseResult:
    """The samples of a page in page order, metadata of the families that have any, the format used."""

    samples: list[Sample]
    metadata: dict[str, MetricMeta]
    format: Format
    exemplars: list[Exemplar]


class ParseError(ValueError):
    """The page is invalid: ``line`` is 1-based, ``fragment`` the offending part of that line."""

    def __init__(self, line: int, message: str, fragment: str = "") -> None:
        self.line = line
        self.message = message
        self.fragment = fragment
        super().__init__(f"line {line}: {message}" + (f": {fragment!r}" if fragment else ""))


class _TypesChangedError(Exception):
    """A TYPE differs from the scrape the cache was filled from, so cached labels may be stale."""


class _Series:
    """A cached series; ``gen`` is the parse that last produced it without a timestamp."""

    __slots__ = ("gen", "labels", "name")

    def __init__(self, name: str, labels: Labels) -> None:
        self.name = name
        self.labels = labels
        self.gen = 0


class SeriesCache:
    """Per-target memory of parsed series, so a steady-state scrape skips tokenizing.

    Keys are the exact series texts of the last successful parse, so memory follows the target's current
    series: after each successful parse, series the page no longer has are dropped. The cache also keeps
    the page's TYPE lines, because ``le``/``quantile`` normalization and the OpenMetrics checks of a cached
    series depend on them: when they change, or a parse fails, the cache starts over. Not thread-safe; one
    per target.
    """

    def __init__(self) -> None:
        self._keys: dict[str, _Series] = {}
        self._series: dict[tuple[str, Labels], _Series] = {}
        self._metadata_lines: dict[str, MetaLine] = {}
        self._types: dict[str, str] = {}
        self._helps: dict[str, str] = {}
        self._units: dict[str, str] = {}
        self._metadata: dict[str, MetricMeta] = {}
        self._format: Format | None = None
        self._generation = 0

    def __len__(self) -> int:
        """The number of cached series."""
        return len(self._series)

    def clear(self) -> None:
        """Forget everything (the generation counter keeps counting)."""
        self._keys = {}
        self._series = {}
        self._metadata_lines = {}
        self._types = {}
        self._helps = {}
        self._units = {}
        self._metadata = {}


def format_for_content_type(content_type: str | None) -> Format:
    """The format Prometheus would pick: OpenMetrics for its media type, else the text format."""
    if content_type and content_type.split(";", 1)[0].strip().lower() == OPENMETRICS_MEDIA_TYPE:
        return "openmetrics"
    return "text"


def parse(payload: bytes, content_type: str | None, cache: SeriesCache | None = None) -> ParseResult:
    """Parse a scraped page in the format its Content-Type names; raise :class:`ParseError` if invalid."""
    return parse_format(payload, format_for_content_type(content_type), cache)


def parse_format(payload: bytes, fmt: Format, cache: SeriesCache | None = None) -> ParseResult:
    """Parse a page in the given format; raise :class:`ParseError` on the first invalid line."""
    lines = _decode(payload).split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line, not an empty line
    if fmt == "openmetrics":
        lines = _openmetrics_body(lines, ended=payload.endswith(b"\n") or not payload)
    if cache is None:
        cache = SeriesCache()
    if cache._format != fmt:
        cache.clear()
        cache._format = fmt
    clean = not any(char in payload for char in _ODD_WHITESPACE[fmt])
    warm = len(cache) > 0
    if warm:
        try:
            return _Parse(lines, fmt, cache, clean, warm=True).run()
        except (_TypesChangedError, ParseError):
            # A cached entry may stem from other TYPE lines; the cold parse below is the reference,
            # for the result and for the error alike.
            cache.clear()
    try:
        return _Parse(lines, fmt, cache, clean, warm=False).run()
    except ParseError:
        cache.clear()
        raise


def _decode(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = payload.rfind(b"\n", 0, exc.start) + 1
        line = payload.count(b"\n", 0, exc.start) + 1
        message = f"invalid UTF-8 (byte 0x{payload[exc.start]:02x} at column {exc.start - start + 1})"
        fragment = payload[start : start + _FRAGMENT_CHARS].decode("utf-8", "replace")
        raise ParseError(line, message, fragment.partition("\n")[0]) from None


def _openmetrics_body(lines: list[str], ended: bool) -> list[str]:
    """The lines before the final ``# EOF``, which must be the last line."""
    try:
        eof = lines.index(_EOF_LINE)
    except ValueError:
        if lines and lines[-1].rstrip() == _EOF_LINE:
            message = "the last line must be exactly '# EOF'"
            if lines[-1].endswith("\r"):
                message += "; it ends with a carriage return: CRLF line endings are not allowed"
            raise ParseError(len(lines), message, lines[-1]) from None
        last = len(lines) + 1 if ended else len(lines)
        raise ParseError(last, "missing '# EOF' at the end (OpenMetrics requires it)") from None
    if eof != len(lines) - 1:
        raise ParseError(eof + 2, "content after '# EOF'", _excerpt(lines[eof + 1]))
    return lines[:eof]


def _excerpt(line: str, column: int | None = None) -> str:
    column = column or 0
    start = max(0, column - _FRAGMENT_LEAD_CHARS)
    end = start + _FRAGMENT_CHARS
    return ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")


def _line_error(number: int, line: str, exc: LineError) -> ParseError:
    message = exc.message
    if len(message) > _MESSAGE_CHARS:  # it may quote a name or value of any length
        message = message[:_MESSAGE_CHARS] + "…"
    if exc.column is not None:
        message += f" (column {exc.column + 1})"
    if line.endswith("\r"):
        message += "; the line ends with a carriage return: CRLF line endings are not allowed"
    return ParseError(number, message, _excerpt(line, exc.column))


class _Parse:
    """One parse attempt of one page: the hot loops, and the state the slow path checks lines against."""

    def __init__(self, lines: list[str], fmt: Format, cache: SeriesCache, clean: bool, warm: bool) -> None:
        self.lines = lines
        self.fmt: Format = fmt
        self.openmetrics = fmt == "openmetrics"
        self.clean = clean
        self.cache = cache
        self.warm = warm
        cache._generation += 1
        self.generation = cache._generation
        self.keys = cache._keys
        self.series = cache._series
        self.known_metadata = cache._metadata_lines
        self.metadata_lines: dict[str, MetaLine] = {}
        self.samples: list[Sample] = []
        self.exemplars: list[Exemplar] = []
        self.stamped: set[tuple[_Series, int]] = set()
        self.stamped_series: set[_Series] = set()
        self.families = OpenMetricsFamilies()
        # The text format needs no more than the metadata and the names of the samples so far.
        self.helps = self.families.helps
        self.types = self.families.types
        self.names: set[str] = set()

    def run(self) -> ParseResult:
        """Parse every line, then check and store what the cache needs for the next scrape."""
        if self.openmetrics:
            self._openmetrics_loop()
        else:
            self._text_loop()
        cache = self.cache
        helps, types, units = self.helps, self.types, self.families.units
        if self.warm and types != cache._types:
            raise _TypesChangedError
        self._sweep()
        if helps != cache._helps or types != cache._types or units != cache._units or not cache._metadata:
            default_type = "unknown" if self.openmetrics else "untyped"
            cache._metadata = {
                name: MetricMeta(
                    name, types.get(name, default_type), helps.get(name, ""), units.get(name, "")
                )
                for name in {**helps, **types, **units}
            }
        cache._metadata_lines = self.metadata_lines
        cache._types, cache._helps, cache._units = types, helps, units
        return ParseResult(self.samples, dict(cache._metadata), self.fmt, self.exemplars)

    def _text_loop(self) -> None:
        get = self.keys.get
        known_metadata = self.known_metadata.get
        metadata_lines = self.metadata_lines
        helps = self.helps
        types = self.types
        previous_type = self.cache._types.get
        names = self.names
        samples = self.samples
        append = samples.append
        generation = self.generation
        clean = self.clean
        new = tuple.__new__
        slow = self._slow
        last_name = ""
        other = 0  # lines without a sample so far: with len(samples) it gives the line number
        for line in self.lines:
            key, _, value_text = line.rpartition(" ")
            entry = get(key)
            if entry is not None:
                if (
                    entry.gen != generation
                    and value_text.isascii()
                    and "_" not in value_text
                    and (clean or value_text[:1] > " " < value_text[-1:])
                ):
                    try:
                        value = float(value_text)
                    except ValueError:
                        pass
                    else:
                        # Of what is left, only a signed NaN passes float() and not the formats; other
                        # spellings of NaN than this one take the slow path.
                        if value == value or value_text == "NaN":  # noqa: PLR0124 - the fastest NaN test
                            entry.gen = generation
                            name = entry.name
                            if name is not last_name:
                                names.add(name)
                                last_name = name
                            append(new(Sample, (name, entry.labels, value, None)))
                            continue
            else:
                meta = known_metadata(line)
                if meta is not None:
                    # The usual cases of _text_metadata, inlined: a known line with nothing to report.
                    metadata_lines[line] = meta
                    kind, name = meta.kind, meta.name
                    if kind == "HELP":
                        if name not in helps:
                            helps[name] = meta.text
                            other += 1
                            continue
                    elif kind == "TYPE":
                        type_name = meta.text
                        if (
                            name not in types
                            and name not in names
                            and text_has_one_sample_name(type_name)
                            and previous_type(name) == type_name
                        ):
                            types[name] = type_name
                            other += 1
                            continue
                    else:
                        other += 1
                        continue
            other += slow(line, len(samples) + other + 1)

    def _openmetrics_loop(self) -> None:
        get = self.keys.get
        known_metadata = self.known_metadata.get
        metadata_lines = self.metadata_lines
        families = self.families
        allowed = families.allowed.get
        samples = self.samples
        append = samples.append
        generation = self.generation
        clean = self.clean
        new = tuple.__new__
        slow = self._slow
        other = 0
        for line in self.lines:
            key, _, value_text = line.rpartition(" ")
            entry = get(key)
            if entry is not None:
                if (
                    entry.gen != generation
                    and value_text.isascii()
                    and "_" not in value_text
                    and (clean or value_text[:1] > " " < value_text[-1:])
                ):
                    try:
                        value = float(value_text)
                    except ValueError:
                        pass
                    else:
                        rule = allowed(entry.name)
                        # NaN fails every comparison, so NOT_NEGATIVE's ">= 0" rules it out as well.
                        if (rule == ANY and (value == value or value_text == "NaN")) or (  # noqa: PLR0124
                            rule == NOT_NEGATIVE and value >= 0
                        ):
                            entry.gen = generation
                            append(new(Sample, (entry.name, entry.labels, value, None)))
                            continue
            else:
                meta = known_metadata(line)
                if meta is not None:
                    metadata_lines[line] = meta
                    try:
                        self._openmetrics_metadata(meta)
                    except LineError as exc:
                        raise _line_error(len(samples) + other + 1, line, exc) from None
                    other += 1
                    allowed = families.allowed.get
                    continue
            other += slow(line, len(samples) + other + 1)
            allowed = families.allowed.get

    def _slow(self, line: str, number: int) -> int:
        """Handle a line the hot loop could not; return 1 when it holds no sample."""
        try:
            if self.openmetrics:
                if not line:
                    raise LineError("blank line (not allowed in OpenMetrics)")
                if line[0] == "#":
                    self._metadata(line)
                    return 1
            else:
                first = line.lstrip(" \t")[:1]
                if not first:
                    return 1
                if first == "#":
                    self._metadata(line)
                    return 1
            self._sample(line)
        except LineError as exc:
            raise _line_error(number, line, exc) from None
        return 0

    def _sample(self, line: str) -> None:
        body = line.partition(" # ")[0] if self.openmetrics else line
        resolved = self._resolve(body)
        if resolved is None:
            parsed = scan_sample(line, self.openmetrics)
            entry = self._entry(line, parsed.name, parsed.labels, parsed.series_end)
            self._add(entry, parsed.value, parsed.timestamp_ms, parsed.exemplar, parsed.series_end)
            return
        entry, value, timestamp_ms = resolved
        exemplar = scan_exemplar(line, len(body) + 3) if len(body) < len(line) else None
        self._add(entry, value, timestamp_ms, exemplar, len(body))

    def _resolve(self, body: str) -> tuple[_Series, float, int | None] | None:
        """A cached series with value (and timestamp) when ``body`` splits cleanly into them.

        The key is only ever a complete series text, so a hit means the split is where the lexer would
        put it; anything that does not split cleanly goes to the lexer instead.
        """
        key, _, token = body.rpartition(" ")
        try:
            entry = self.keys.get(key)
            if entry is not None:
                return entry, parse_value(token), None
            key, _, value_token = key.rpartition(" ")
            entry = self.keys.get(key)
            if entry is not None:
                parse_timestamp = parse_openmetrics_timestamp if self.openmetrics else parse_text_timestamp
                return entry, parse_value(value_token), parse_timestamp(token)
        except ValueError:
            pass
        return None

    def _entry(self, line: str, name: str, pairs: list[tuple[str, str]], series_end: int) -> _Series:
        """The series of a freshly tokenized line, cached under its series text."""
        if self.openmetrics:
            if name not in self.families.allowed:
                self.families.start(name, len(self.samples), series_end)
            pairs = self.families.sample_labels(name, pairs, series_end)
        elif self.types:
            pairs = text_sample_labels(self.types, name, pairs)
        labels = tuple(sorted(pairs))
        entry = self.series.get((name, labels))
        if entry is None:
            entry = _Series(sys.intern(name), labels)
            self.series[(name, labels)] = entry
            # Another spelling of a cached series (label order, quoting) is left uncached: it is
            # then parsed in full each time, and the cache stays one key per series.
            self.keys[line[:series_end]] = entry
        return entry

    def _add(
        self,
        entry: _Series,
        value: float,
        timestamp_ms: int | None,
        exemplar: ExemplarLine | None,
        column: int,
    ) -> None:
        """Append a sample after the checks the hot loop makes, or finds it cannot make."""
        if self.openmetrics:
            self.families.sample(entry.name, value, exemplar is not None, len(self.samples), column)
        if timestamp_ms is None:
            if entry.gen == self.generation:
                raise LineError(f"duplicate sample for series {_series_text(entry)}")
            entry.gen = self.generation
        else:
            stamp = (entry, timestamp_ms)
            if stamp in self.stamped:
                raise LineError(f"duplicate sample for series {_series_text(entry)} at {timestamp_ms} ms")
            self.stamped.add(stamp)
            self.stamped_series.add(entry)
        self.samples.append(Sample(entry.name, entry.labels, value, timestamp_ms))
        self.names.add(entry.name)
        if exemplar is not None:
            self.exemplars.append(
                Exemplar(len(self.samples) - 1, exemplar.labels, exemplar.value, exemplar.timestamp_ms)
            )

    def _metadata(self, line: str) -> None:
        known = self.known_metadata
        meta = known[line] if line in known else scan_metadata(line, self.openmetrics)
        self.metadata_lines[line] = meta
        if meta.kind == "COMMENT":
            return
        if self.openmetrics:
            self._openmetrics_metadata(meta)
        else:
            self._text_metadata(meta)

    def _text_metadata(self, meta: MetaLine) -> None:
        name = meta.name
        if meta.kind == "HELP":
            if name in self.helps:
                raise LineError(f"second HELP line for {name!r}")
            self.helps[name] = meta.text
            return
        if name in self.types:
            raise LineError(f"second TYPE line for {name!r}")
        for sample_name in text_sample_names(name, meta.text):
            if sample_name in self.names:
                raise LineError(f"TYPE line for {name!r} after its sample {sample_name!r}")
        self.types[name] = meta.text
        self._check_type_unchanged(name, meta.text)

    def _openmetrics_metadata(self, meta: MetaLine) -> None:
        self.families.metadata(meta, len(self.samples))
        if meta.kind == "TYPE":
            self._check_type_unchanged(meta.name, meta.text)

    def _check_type_unchanged(self, name: str, type_name: str) -> None:
        """Stop a warm parse as soon as a TYPE differs from the page the cache was filled from."""
        if self.warm and self.cache._types.get(name) != type_name:
            raise _TypesChangedError

    def _sweep(self) -> None:
        """Drop the series this page did not have."""
        cache, generation = self.cache, self.generation
        stamped = self.stamped_series
        touched = len(self.samples) - len(self.stamped) + sum(1 for e in stamped if e.gen != generation)
        if touched != len(self.series):
            cache._keys = {k: e for k, e in self.keys.items() if e.gen == generation or e in stamped}
            cache._series = {k: e for k, e in self.series.items() if e.gen == generation or e in stamped}


def _series_text(entry: _Series) -> str:
    labels = ",".join(f"{name}={value!r}" for name, value in entry.labels)
    return f"{entry.name}{{{labels}}}" if labels else entry.name
