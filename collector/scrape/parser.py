"""Parse a scraped page in the Prometheus text format 0.0.4 or OpenMetrics 1.0 into samples and metadata.

This module is the parser's face: the entry points, the result, the errors, the content types and the
page-level rules (UTF-8, ``# EOF``). Speed comes from :class:`~collector.scrape.seriescache.SeriesCache`,
kept per target; the lines are parsed by :class:`~collector.scrape.parsepass.ParsePass`, warm from the cache
and, should that fail, once more cold as the reference.

Semantics, decided here and tested:

* A whole page fails on its first error (as a Prometheus scrape does), with the 1-based line.
* A scrape accepts what a Prometheus scrape accepts (checked against a real Prometheus on the OpenMetrics
  project's parser suite); the specification's stricter rules are for ``check-metrics``.
* The same series twice without a timestamp fails the page in both formats (Prometheus drops the later
  sample and counts "duplicate sample for timestamp", which hides an exporter bug). With a timestamp the
  later sample at the same millisecond is dropped, as Prometheus's storage does; an OpenMetrics sample whose
  timestamp does not fit int64 milliseconds is dropped too, and the page kept.
* ``le`` of a histogram's ``_bucket`` samples and ``quantile`` of a summary's quantile samples are
  normalized as Prometheus 3 does, so ``le="1"`` and ``le="1.0"`` are one series: the number is
  rewritten by :func:`~collector.scrape.numbers.format_go_float` (``1.0``, ``0.25``, ``1e+06``, ``+Inf``).
  Only when the family's TYPE says histogram (or gaugehistogram) or summary; in the text format a value
  that is not a number (or a missing label) is kept as written.
* Exemplars (OpenMetrics only) are returned in :attr:`ParseResult.exemplars`, on ``_total`` and
  ``_bucket`` samples only (another sample with one fails the page, as in Prometheus); one whose labels are
  longer than 128 characters is dropped. In the text format a ``#`` after the value is an error.
* Text format: blank lines, comments, blanks around tokens and a trailing comma in a label set are
  allowed; at most one HELP and one TYPE per name, and TYPE must precede the samples of its family. Lines
  of a family need not be contiguous there (Prometheus does not require it either). A missing newline
  at the end of the page is accepted.
* OpenMetrics: see :class:`~collector.scrape.families.OpenMetricsFamilies` for how samples find their
  family; a UNIT must be a suffix of its family's name. The page
  must end with ``# EOF`` (optionally followed by one newline) and may not contain blank lines. Invariants
  across samples (bucket order, the ``+Inf`` bucket, the count matching it) are not checked.
* ``\\r`` is an ordinary character, so a CRLF page fails (as in Prometheus) with a message that says so.
* Label values are returned as written, empty ones included (Prometheus drops a label whose value is
  empty when it stores the series; that is for storage to decide).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from collector.scrape.lexer import LineError
from collector.scrape.parsepass import InvalidLineError, OverSampleLimitError, ParsePass, TypesChangedError
from collector.scrape.samples import Exemplar, Format, MetricMeta, Sample
from collector.scrape.seriescache import SeriesCache

OPENMETRICS_MEDIA_TYPE: Final = "application/openmetrics-text"
_EOF_LINE: Final = "# EOF"
_FRAGMENT_CHARS: Final = 60
_FRAGMENT_LEAD_CHARS: Final = 20
_MESSAGE_CHARS: Final = 200
_MEDIA_TYPE_CHARS: Final = frozenset("!#$&^_.+-/")
_MEDIA_TYPE_CHARS_SHOWN: Final = 80

# Whitespace that float() strips but the format does not allow around a value. A page without any lets
# the hot loop skip checking both ends of every value (the text format allows tabs there).
_TEXT_ODD_WHITESPACE: Final = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_ODD_WHITESPACE: Final[dict[Format, tuple[bytes, ...]]] = {
    "text": _TEXT_ODD_WHITESPACE,
    "openmetrics": (*_TEXT_ODD_WHITESPACE, b"\t"),
}


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


class SampleLimitError(ValueError):
    """The page has more samples than the ``sample_limit`` the parse was given; it stopped there."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} samples exceed sample_limit {limit}")
        self.limit = limit


def format_for_content_type(content_type: str | None) -> Format:
    """The format Prometheus would pick: OpenMetrics for its media type, else the text format."""
    if content_type and content_type.split(";", 1)[0].strip().lower() == OPENMETRICS_MEDIA_TYPE:
        return "openmetrics"
    return "text"


def is_metrics_content_type(content_type: str | None) -> bool:
    """Whether a reply's Content-Type is one a metrics page is served with (none at all counts)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("", "text/plain", OPENMETRICS_MEDIA_TYPE)


def describe_invalid_page(content_type: str | None, size_bytes: int, error: ParseError | None = None) -> str:
    """An error for a reply that did not parse, quoting nothing of it: its media type and size.

    For a metrics content type, the line of the first error is added. The media type is reduced to the
    characters a media type has, and cut short.
    """
    media = (content_type or "").split(";", 1)[0].strip()
    media = "".join(c if c.isascii() and (c.isalnum() or c in _MEDIA_TYPE_CHARS) else "?" for c in media)
    media = media[:_MEDIA_TYPE_CHARS_SHOWN] or "none"
    text = f"not a metrics page (content type {media}, {size_bytes} bytes)"
    if error is not None and is_metrics_content_type(content_type):
        text += f": invalid at line {error.line}"
    return text


def parse(
    payload: bytes, content_type: str | None, cache: SeriesCache | None = None, sample_limit: int = 0
) -> ParseResult:
    """Parse a scraped page in the format its Content-Type names; raise :class:`ParseError` if invalid."""
    return parse_format(payload, format_for_content_type(content_type), cache, sample_limit)


def parse_format(
    payload: bytes, fmt: Format, cache: SeriesCache | None = None, sample_limit: int = 0
) -> ParseResult:
    """Parse a page in the given format; raise :class:`ParseError` on the first invalid line.

    With a ``sample_limit`` (0: none), a page with more samples raises :class:`SampleLimitError` as soon as
    the parse passes it, so that a huge page costs neither the time nor the memory of parsing it all.
    """
    lines = _decode(payload).split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line, not an empty line
    if fmt == "openmetrics":
        lines = _openmetrics_body(lines, ended=payload.endswith(b"\n") or not payload)
    if cache is None:
        cache = SeriesCache()
    cache.use_format(fmt)
    clean = not any(char in payload for char in _ODD_WHITESPACE[fmt])
    try:
        if len(cache) > 0:
            try:
                return _run(ParsePass(lines, fmt, cache, clean, warm=True, sample_limit=sample_limit), fmt)
            except (TypesChangedError, InvalidLineError):
                # A cached entry may stem from other TYPE lines; the cold parse below is the reference,
                # for the result and for the error alike.
                cache.clear()
        try:
            return _run(ParsePass(lines, fmt, cache, clean, warm=False, sample_limit=sample_limit), fmt)
        except InvalidLineError as exc:
            cache.clear()
            raise _line_error(exc.number, exc.line, exc.error) from None
    except OverSampleLimitError:
        # The series of a page over the limit are not worth remembering (nor their memory).
        cache.clear()
        raise SampleLimitError(sample_limit) from None


def _run(parse_pass: ParsePass, fmt: Format) -> ParseResult:
    metadata = parse_pass.run()
    return ParseResult(parse_pass.samples, dict(metadata), fmt, parse_pass.exemplars)


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
