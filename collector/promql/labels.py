"""Label-set helpers shared by the operators: grouping keys, match signatures, Go's number spelling."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

import numpy as np

from collector.promql.types import METRIC_NAME, LabelKey, Labels

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def valid_label_name(name: str) -> bool:
    """Whether ``name`` is a Prometheus label name."""
    return LABEL_NAME.fullmatch(name) is not None


def grouped(labels: Labels, grouping: Iterable[str], without: bool) -> dict[str, str]:
    """The labels an aggregation keeps: those in ``by``, or all but ``without`` and the metric name."""
    names = set(grouping)
    if without:
        return {k: v for k, v in labels.items() if k not in names and k != METRIC_NAME}
    return {k: v for k, v in labels.items() if k in names}


def signature(labels: Labels, on: bool, names: Iterable[str]) -> LabelKey:
    """The key two series must share to match in a binary operation (``on`` or ``ignoring`` names)."""
    listed = set(names)
    if on:
        return tuple(sorted((k, v) for k, v in labels.items() if k in listed))
    return tuple(sorted((k, v) for k, v in labels.items() if k not in listed and k != METRIC_NAME))


def go_quote(text: str) -> str:
    """A string quoted as Go's ``%q`` does for ordinary text."""
    return json.dumps(text, ensure_ascii=False)


def format_value(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(np.format_float_positional(value, unique=True, trim="-"))


def format_g(value: float) -> str:
    """A float as Go's ``%v``, for error messages."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def labels_text(labels: Labels) -> str:
    """A label set as Prometheus prints one: ``{a="b", c="d"}``."""
    inner = ", ".join(f"{k}={go_quote(v)}" for k, v in sorted(labels.items()))
    return "{" + inner + "}"
