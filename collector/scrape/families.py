"""Metric family rules: how a sample name relates to its family's TYPE, and what that implies per sample.

OpenMetrics defines them precisely: a family's HELP, TYPE and UNIT come once each and before its samples,
its lines are contiguous, its sample names are the family name plus a suffix its type allows (a counter
``foo`` has ``foo_total`` and ``foo_created``), and some of those samples have value rules (a counter's
total is not negative or NaN). A sample whose name the current family does not allow starts a new family
of type ``unknown``, which must not clash with any name an earlier family claimed.

Both formats share the label normalization Prometheus applies to ``le`` of histogram buckets and
``quantile`` of summary quantiles (see :func:`normalized_labels`).
"""

from __future__ import annotations

import math
from typing import Final

from collector.scrape.lexer import LineError, MetaLine
from collector.scrape.numbers import format_go_float, parse_value

# What a sample's value must be, by its place in the family (small ints: the hot loop compares them).
ANY, NOT_NEGATIVE, NOT_NAN, ONE, ZERO_OR_ONE = 0, 1, 2, 3, 4
_VALUE_RULES: Final = {
    NOT_NEGATIVE: "must not be negative or NaN",
    NOT_NAN: "must not be NaN",
    ONE: "must be 1",
    ZERO_OR_ONE: "must be 0 or 1",
}
_SUFFIXES: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    "counter": (("_total", NOT_NEGATIVE), ("_created", ANY)),
    "gauge": (("", ANY),),
    "histogram": (("_bucket", NOT_NEGATIVE), ("_count", NOT_NEGATIVE), ("_sum", NOT_NAN), ("_created", ANY)),
    "gaugehistogram": (("_bucket", NOT_NEGATIVE), ("_gcount", NOT_NEGATIVE), ("_gsum", NOT_NAN)),
    "summary": (("", ANY), ("_count", NOT_NEGATIVE), ("_sum", NOT_NAN), ("_created", ANY)),
    "info": (("_info", ONE),),
    "stateset": (("", ZERO_OR_ONE),),
    "unknown": (("", ANY),),
}
_EXEMPLAR_SUFFIXES: Final = {"counter": "_total", "histogram": "_bucket", "gaugehistogram": "_bucket"}
_BUCKET_TYPES: Final = frozenset({"histogram", "gaugehistogram"})
_TEXT_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}


def text_sample_names(name: str, type_name: str) -> tuple[str, ...]:
    """The sample names a text-format TYPE line covers (a TYPE line must come before all of them)."""
    return tuple(name + suffix for suffix in _TEXT_SUFFIXES.get(type_name, ("",)))


def text_has_one_sample_name(type_name: str) -> bool:
    """True when a text-format family of this type has only samples named like the family."""
    return type_name not in _TEXT_SUFFIXES


def text_sample_labels(
    types: dict[str, str], name: str, pairs: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Labels of a text-format sample with ``le``/``quantile`` normalized where its family's TYPE asks."""
    own_type = types.get(name)
    if own_type == "summary":
        return normalized_labels(pairs, "quantile", 0, strict=False)
    if own_type is None and name.endswith("_bucket") and types.get(name[:-7]) == "histogram":
        return normalized_labels(pairs, "le", 0, strict=False)
    return pairs


def normalized_labels(
    pairs: list[tuple[str, str]], label: str, column: int, strict: bool
) -> list[tuple[str, str]]:
    """``pairs`` with the number in ``label`` rewritten as Prometheus 3 does (``1`` -> ``1.0``).

    ``strict`` (OpenMetrics) requires the label and a number in range: not NaN, and within [0, 1] for a
    quantile. Otherwise (text format) a missing label or a value that is not a number stays as it is.
    """
    for index, (name, value) in enumerate(pairs):
        if name != label:
            continue
        try:
            number = parse_value(value)
        except ValueError:
            if strict:
                raise LineError(f"{label} label value {value!r} is not a number", column) from None
            return pairs
        if strict and (math.isnan(number) or (label == "quantile" and not 0 <= number <= 1)):
            raise LineError(f"{label} label value {value!r} is out of range", column)
        normalized = list(pairs)
        normalized[index] = (name, format_go_float(number))
        return normalized
    if strict:
        raise LineError(f"missing {label} label", column)
    return pairs


def value_fits(rule: int, value: float) -> bool:
    """Whether ``value`` meets the value rule (``ANY`` … ``ZERO_OR_ONE``)."""
    if rule == ANY:
        return True
    if rule == NOT_NEGATIVE:
        return value >= 0
    if rule == NOT_NAN:
        return not math.isnan(value)
    if rule == ONE:
        return value == 1
    return value in (0, 1)


class OpenMetricsFamilies:
    """The family state of one OpenMetrics page, fed its metadata lines and sample names in order.

    ``allowed`` maps each sample name of the current family to its value rule; the parser's hot loop reads
    it directly. ``helps``, ``types`` and ``units`` collect the metadata.
    """

    def __init__(self) -> None:
        self.helps: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.units: dict[str, str] = {}
        self.name = ""
        self.type = "unknown"
        self.allowed: dict[str, int] = {}
        self._first_sample = 0
        self._metadata_kinds: set[str] = set()
        self._exemplar_name = ""
        self._claimed: dict[str, str] = {}

    def metadata(self, meta: MetaLine, sample_count: int) -> None:
        """A HELP, TYPE or UNIT line after ``sample_count`` samples of the page."""
        name, kind = meta.name, meta.kind
        if name != self.name:
            self.start(name, sample_count)
        elif sample_count > self._first_sample:
            raise LineError(f"{kind} line for {name!r} after its samples (metadata comes first)")
        if kind in self._metadata_kinds:
            raise LineError(f"second {kind} line for {name!r}")
        self._metadata_kinds.add(kind)
        if kind == "HELP":
            self.helps[name] = meta.text
        elif kind == "TYPE":
            self._set_type(name, meta.text)
        else:
            self.units[name] = meta.text
        unit = self.units.get(name, "")
        if unit and not name.endswith("_" + unit):
            raise LineError(f"unit {unit!r} is not a suffix of the metric name {name!r}")
        if unit and self.type in ("info", "stateset"):
            raise LineError(f"a {self.type} cannot have a unit")

    def start(self, name: str, sample_count: int, column: int | None = None) -> None:
        """Begin the family ``name`` (``unknown`` until a TYPE line says otherwise)."""
        owner = self._claimed.get(name)
        if owner == self.name and name not in self.allowed:
            raise LineError(f"sample name {name!r} does not fit {self.type} family {owner!r}", column)
        if owner == name:
            raise LineError(f"lines of metric family {name!r} are not together (it appeared earlier)", column)
        if owner is not None:
            raise LineError(f"metric family {name!r} clashes with a sample name of family {owner!r}", column)
        self._claimed[name] = name
        self.name = name
        self.type = "unknown"
        self.allowed = {name: ANY}
        self._first_sample = sample_count
        self._metadata_kinds = set()
        self._exemplar_name = ""

    def sample_labels(self, name: str, pairs: list[tuple[str, str]], column: int) -> list[tuple[str, str]]:
        """Check and normalize the labels of a sample of the current family."""
        suffix = name[len(self.name) :]
        if self.type in _BUCKET_TYPES and suffix == "_bucket":
            return normalized_labels(pairs, "le", column, strict=True)
        if self.type == "summary" and not suffix:
            return normalized_labels(pairs, "quantile", column, strict=True)
        if self.type == "stateset" and all(label != self.name for label, _ in pairs):
            raise LineError(f"stateset sample without a label named after its family {self.name!r}", column)
        return pairs

    def sample(self, name: str, value: float, exemplar: bool, sample_count: int, column: int) -> None:
        """Check a sample of the page (starting a new family if the current one does not allow it)."""
        rule = self.allowed.get(name)
        if rule is None:
            self.start(name, sample_count, column)
            rule = ANY
        if not value_fits(rule, value):
            raise LineError(f"{name} of a {self.type} {_VALUE_RULES[rule]} (got {value!r})", column)
        if exemplar and name != self._exemplar_name:
            raise LineError("exemplars belong only on counter _total and histogram _bucket samples", column)

    def _set_type(self, name: str, type_name: str) -> None:
        allowed: dict[str, int] = {}
        for suffix, rule in _SUFFIXES[type_name]:
            sample_name = name + suffix
            owner = self._claimed.setdefault(sample_name, name)
            if owner != name:
                raise LineError(f"sample name {sample_name!r} of {name!r} clashes with family {owner!r}")
            allowed[sample_name] = rule
        self.types[name] = type_name
        self.type = type_name
        self.allowed = allowed
        exemplar_suffix = _EXEMPLAR_SUFFIXES.get(type_name)
        self._exemplar_name = "" if exemplar_suffix is None else name + exemplar_suffix
