"""Metric family rules: how a sample name relates to its family's TYPE.

A family's sample names are the family name plus a suffix its type allows (a counter ``foo`` has
``foo_total`` and ``foo_created``). A scrape reads an OpenMetrics page as Prometheus does: metadata and
samples are taken as they come, and a sample whose name the current family does not allow starts a new
family of type ``unknown``. The specification's other family rules (metadata once and first, contiguous
families, value rules, clashing names) are checked only by ``check-metrics``
(:mod:`collector.scrape.openmetrics_strict`): Prometheus scrapes pages that break them.

Both formats share the label normalization Prometheus applies to ``le`` of histogram buckets and
``quantile`` of summary quantiles (see :func:`normalized_labels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from collector.scrape.lexer import LineError, MetaLine
from collector.scrape.numbers import format_go_float, parse_value

_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
_CLAIMED_SUFFIXES: Final = tuple(
    sorted({suffix for suffixes in _SUFFIXES.values() for suffix in suffixes if suffix})
)
_BUCKET_TYPES: Final = frozenset({"histogram", "gaugehistogram"})
_TEXT_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}


def sample_suffixes(type_name: str) -> tuple[str, ...]:
    """The suffixes OpenMetrics allows the samples of a family of this type (``""``: the family's name)."""
    return _SUFFIXES.get(type_name, _SUFFIXES["unknown"])


def text_sample_suffixes(type_name: str) -> tuple[str, ...]:
    """The suffixes of the sample names a text-format TYPE line of this type covers."""
    return _TEXT_SUFFIXES.get(type_name, ("",))


def text_sample_names(name: str, type_name: str) -> tuple[str, ...]:
    """The sample names a text-format TYPE line covers (a TYPE line must come before all of them)."""
    return tuple(name + suffix for suffix in text_sample_suffixes(type_name))


def family_of(name: str, types: Mapping[str, str]) -> str | None:
    """The family that sample ``name`` belongs to, given the TYPE of each family with metadata: ``name``
    itself when it has metadata, else the family whose type gives its samples ``name``'s suffix (``foo``
    for ``foo_bucket`` of a histogram ``foo``); None when no family claims the name."""
    if name in types:
        return name
    for suffix in _CLAIMED_SUFFIXES:
        if name.endswith(suffix):
            family = name[: -len(suffix)]
            if family in types and suffix in sample_suffixes(types[family]):
                return family
    return None


def text_has_one_sample_name(type_name: str) -> bool:
    """True when a text-format family of this type has only samples named like the family."""
    return type_name not in _TEXT_SUFFIXES


def text_sample_labels(
    types: dict[str, str], name: str, pairs: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Labels of a text-format sample with ``le``/``quantile`` normalized where its family's TYPE asks."""
    own_type = types.get(name)
    if own_type == "summary":
        return normalized_labels(pairs, "quantile")
    if own_type is None and name.endswith("_bucket") and types.get(name[:-7]) == "histogram":
        return normalized_labels(pairs, "le")
    return pairs


def normalized_labels(pairs: list[tuple[str, str]], label: str) -> list[tuple[str, str]]:
    """``pairs`` with the number in ``label`` rewritten as Prometheus 3 does (``1`` -> ``1.0``).

    A missing label or a value that is not a number stays as it is, as in a Prometheus scrape.
    """
    for index, (name, value) in enumerate(pairs):
        if name != label:
            continue
        try:
            number = parse_value(value)
        except ValueError:
            return pairs
        normalized = list(pairs)
        normalized[index] = (name, format_go_float(number))
        return normalized
    return pairs


class OpenMetricsFamilies:
    """The family state of one OpenMetrics page, fed its metadata lines and sample names in order.

    ``allowed`` holds the sample names of the current family; the parser's hot loop reads it directly.
    ``helps``, ``types`` and ``units`` collect the metadata (a repeated line replaces the earlier one).
    """

    def __init__(self) -> None:
        self.helps: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.units: dict[str, str] = {}
        self.name = ""
        self.type = "unknown"
        self.allowed: frozenset[str] = frozenset()

    def metadata(self, meta: MetaLine) -> None:
        """A HELP, TYPE or UNIT line."""
        name, kind = meta.name, meta.kind
        if name != self.name:
            self.start(name)
        if kind == "HELP":
            self.helps[name] = meta.text
        elif kind == "TYPE":
            self.types[name] = meta.text
            self.type = meta.text
            self.allowed = frozenset(name + suffix for suffix in sample_suffixes(meta.text))
        else:
            if meta.text and not name.endswith("_" + meta.text):
                raise LineError(f"unit {meta.text!r} is not a suffix of the metric name {name!r}")
            self.units[name] = meta.text

    def start(self, name: str) -> None:
        """Begin the family ``name`` (``unknown`` until a TYPE line says otherwise)."""
        self.name = name
        self.type = "unknown"
        self.allowed = frozenset((name,))

    def sample_labels(self, name: str, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """A sample's labels, with ``le`` or ``quantile`` normalized where its family has them."""
        suffix = name[len(self.name) :]
        if self.type in _BUCKET_TYPES and suffix == "_bucket":
            return normalized_labels(pairs, "le")
        if self.type == "summary" and not suffix:
            return normalized_labels(pairs, "quantile")
        return pairs

    def sample(self, name: str) -> None:
        """A sample named ``name``: it starts a new family when the current one does not allow it."""
        if name not in self.allowed:
            self.start(name)
