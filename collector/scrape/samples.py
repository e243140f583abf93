"""What a parsed page is made of: its format, its samples, its families' metadata and its exemplars."""

from __future__ import annotations

from typing import Literal, NamedTuple

from collector.scrape.lexer import Labels

Format = Literal["text", "openmetrics"]


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
