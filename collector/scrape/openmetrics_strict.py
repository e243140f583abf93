"""Every MUST of the OpenMetrics 1.0 specification, for ``check-metrics --format openmetrics``.

A scrape reads pages as Prometheus does and so accepts some that the specification forbids (a negative
histogram sum, interleaved label sets of one family, metadata after samples, and so on). Checking a page
against the specification is what prometheus-client's OpenMetrics parser does: it passes the OpenMetrics
project's parser test suite, so this module hands the page to it and turns its complaint into a
:class:`~collector.scrape.parser.ParseError` with the line it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, cast

from prometheus_client.openmetrics import parser

from collector.scrape.parser import ParseError

_families: Final = cast(Callable[[str], Iterable[object]], parser.text_string_to_metric_families)
"""prometheus-client's OpenMetrics parser (untyped there): a generator that raises ValueError."""


def strict_error(payload: bytes) -> ParseError | None:
    """The first violation of the OpenMetrics specification in ``payload``, or None for a valid page."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = payload[: exc.start].count(b"\n") + 1
        return ParseError(line, "the page is not valid UTF-8")
    try:
        for _family in _families(text):
            pass
    except ValueError as exc:
        message = str(exc)
        return ParseError(_line_named(message, text), message)
    return None


def _line_named(message: str, text: str) -> int:
    """The 1-based number of the line the message quotes at its end (``…: <line>``), else 0 for the page."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line and message.endswith(": " + line):
            return number
    return 0
