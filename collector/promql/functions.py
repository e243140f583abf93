"""Functions of instant vectors and scalars: math, clamping, dates, labels, ``absent``, ``scalar``, ...

Each takes a `CallArgs` (the evaluated arguments, the argument expressions, the step timestamps) and returns
a `Steps` or, for scalar functions, a (n,) array. Functions of range vectors are in `range_functions`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from collector.promql import parse
from collector.promql.errors import ExecutionError
from collector.promql.guard import Guard
from collector.promql.histogram import histogram_quantile
from collector.promql.labels import valid_label_name
from collector.promql.types import METRIC_NAME, Floats, Ints, Labels, Steps, merge_rows, without_name
from collector.regex import AnchoredRegex, RegexError, RegexMatch, compile_anchored

Value = Steps | Floats | str


@dataclass(frozen=True, eq=False)
class CallArgs:
    """A function call's evaluated arguments, its argument expressions and the step timestamps."""

    values: Sequence[Value]
    nodes: Sequence[parse.Expr]
    times: Ints
    guard: Guard

    def vector(self, index: int) -> Steps:
        """Argument ``index`` as an instant vector."""
        value = self.values[index]
        assert isinstance(value, Steps)
        return value

    def scalar(self, index: int) -> Floats:
        """Argument ``index`` as per-step scalars."""
        value = self.values[index]
        assert isinstance(value, np.ndarray)
        return value

    def string(self, index: int) -> str:
        """Argument ``index`` as a string."""
        value = self.values[index]
        assert isinstance(value, str)
        return value


Function = Callable[[CallArgs], Value]


def _go_max(a: Floats, b: Floats) -> Floats:
    """Go's math.Max: +Inf wins even over NaN."""
    return np.where((a == np.inf) | (b == np.inf), np.inf, np.maximum(a, b))


def _go_min(a: Floats, b: Floats) -> Floats:
    """Go's math.Min: -Inf wins even over NaN."""
    return np.where((a == -np.inf) | (b == -np.inf), -np.inf, np.minimum(a, b))


def _elementwise(fn: Callable[[Floats], Floats]) -> Function:
    def apply(call: CallArgs) -> Steps:
        vector = call.vector(0)
        with np.errstate(all="ignore"):
            values = fn(vector.values)
        return merge_rows(Steps([without_name(labels) for labels in vector.labels], values, vector.present))

    return apply


def _sgn(values: Floats) -> Floats:
    return np.where(values < 0, -1.0, np.where(values > 0, 1.0, values))


def _round(call: CallArgs) -> Steps:
    nearest = call.scalar(1) if len(call.values) > 1 else np.ones(len(call.times))
    inverse = 1.0 / nearest
    result = _elementwise(lambda values: np.floor(values * inverse + 0.5) / inverse)(call)
    assert isinstance(result, Steps)
    return result


def _clamp_with(call: CallArgs, low: Floats, high: Floats) -> Steps:
    vector = call.vector(0)
    values = _go_max(np.broadcast_to(low, vector.values.shape), _go_min(high, vector.values))
    present = vector.present & ~(high < low)[None, :]
    return merge_rows(Steps([without_name(labels) for labels in vector.labels], values, present))


def _clamp(call: CallArgs) -> Steps:
    return _clamp_with(call, call.scalar(1), call.scalar(2))


def _clamp_min(call: CallArgs) -> Steps:
    return _clamp_with(call, call.scalar(1), np.full(len(call.times), np.inf))


def _clamp_max(call: CallArgs) -> Steps:
    return _clamp_with(call, np.full(len(call.times), -np.inf), call.scalar(1))


def _scalar(call: CallArgs) -> Floats:
    vector = call.vector(0)
    single = vector.present.sum(axis=0) == 1
    chosen = np.where(vector.present, vector.values, 0.0).sum(axis=0) if vector.labels else 0.0
    return np.where(single, chosen, np.nan)


def _vector(call: CallArgs) -> Steps:
    values = call.scalar(0)
    return Steps([{}], values[None, :].copy(), np.ones((1, len(values)), dtype=bool))


def _time(call: CallArgs) -> Floats:
    return call.times / 1000.0


def _pi(call: CallArgs) -> Floats:
    return np.full(len(call.times), np.pi)


def _timestamp(call: CallArgs) -> Steps:
    vector = call.vector(0)
    values = np.broadcast_to(call.times / 1000.0, vector.values.shape).copy()
    return merge_rows(Steps([without_name(labels) for labels in vector.labels], values, vector.present))


def absent_labels(node: parse.Expr) -> dict[str, str]:
    """The labels ``absent`` gives its result: the equality matchers that name one value per label."""
    if isinstance(node, parse.MatrixSelector):
        node = node.selector
    if not isinstance(node, parse.VectorSelector):
        return {}
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for matcher in node.matchers:
        if matcher.name == METRIC_NAME:
            continue
        if matcher.op == "=" and matcher.name not in seen:
            seen.add(matcher.name)
            if matcher.value:
                labels[matcher.name] = matcher.value
                continue
        labels.pop(matcher.name, None)
    return labels


def _absent(call: CallArgs) -> Steps:
    missing = ~np.asarray(call.vector(0).present.any(axis=0), dtype=bool)
    return merge_rows(Steps([absent_labels(call.nodes[0])], np.ones((1, missing.size)), missing[None, :]))


def _sort(descending: bool) -> Function:
    def apply(call: CallArgs) -> Steps:
        vector = call.vector(0)
        if vector.values.shape[1] != 1 or not vector.labels:
            return vector
        values = vector.values[:, 0]
        nan = np.isnan(values)
        key = -values if descending else values
        # NaN goes last either way, as in Prometheus.
        order = np.lexsort((np.where(nan, 0.0, key), nan))
        return vector.take(order)

    return apply


def _dates(field: Callable[[Ints], Ints]) -> Function:
    def apply(call: CallArgs) -> Steps:
        if not call.values:
            seconds = call.times // 1000
            return Steps([{}], field(seconds)[None, :].astype(np.float64), np.ones((1, len(seconds)), bool))
        vector = call.vector(0)
        finite = np.isfinite(vector.values)
        seconds = np.trunc(np.where(finite, vector.values, 0)).astype(np.int64)
        values = np.where(finite, field(seconds).astype(np.float64), np.nan)
        return merge_rows(Steps([without_name(labels) for labels in vector.labels], values, vector.present))

    return apply


def _days(seconds: Ints) -> np.ndarray:
    return (seconds // 86400).astype("datetime64[D]")


def _month_start(seconds: Ints) -> np.ndarray:
    return _days(seconds).astype("datetime64[M]")


DATE_FIELDS: dict[str, Callable[[Ints], Ints]] = {
    "minute": lambda s: (s % 3600) // 60,
    "hour": lambda s: (s % 86400) // 3600,
    "day_of_week": lambda s: (s // 86400 + 4) % 7,
    "day_of_month": lambda s: (_days(s) - _month_start(s).astype("datetime64[D]")).astype(np.int64) + 1,
    "day_of_year": lambda s: (
        (_days(s) - _days(s).astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    ),
    "days_in_month": lambda s: (
        (_month_start(s) + 1).astype("datetime64[D]") - _month_start(s).astype("datetime64[D]")
    ).astype(np.int64),
    "month": lambda s: _month_start(s).astype(np.int64) % 12 + 1,
    "year": lambda s: _days(s).astype("datetime64[Y]").astype(np.int64) + 1970,
}


def expand_template(template: str, regex: AnchoredRegex, match: RegexMatch) -> str:
    """Go's Regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; unknown groups expand empty."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char != "$" or i + 1 == len(template):
            out.append(char)
            i += 1
            continue
        rest = template[i + 1 :]
        if rest[0] == "$":
            out.append("$")
            i += 2
            continue
        braced = re.match(r"\{([A-Za-z0-9_]+)\}", rest)
        plain = re.match(r"[A-Za-z0-9_]+", rest)
        found = braced or plain
        if found is None:
            out.append("$")
            i += 1
            continue
        name = found.group(1) if braced else found.group(0)
        i += 1 + found.end()
        out.append(_group(regex, match, name))
    return "".join(out)


def _group(regex: AnchoredRegex, match: RegexMatch, name: str) -> str:
    if name.isdigit():
        number = int(name)
        if number > regex.groups:
            return ""
        return match.group(number) or ""
    if name in regex.groupindex:
        return match.group(name) or ""
    return ""


def _label_replace(call: CallArgs) -> Steps:
    vector = call.vector(0)
    dst, replacement, src, pattern = (call.string(i) for i in range(1, 5))
    try:
        regex = compile_anchored(pattern)
    except RegexError:
        raise ExecutionError(f"invalid regular expression in label_replace(): {pattern}") from None
    if not valid_label_name(dst):
        raise ExecutionError(f"invalid destination label name in label_replace(): {dst}")
    labels_out: list[Labels] = []
    for labels in vector.labels:
        match = regex.fullmatch(labels.get(src, ""))
        if match is None:
            labels_out.append(labels)
            continue
        result = {k: v for k, v in labels.items() if k != dst}
        value = expand_template(replacement, regex, match)
        if value:
            result[dst] = value
        labels_out.append(result)
    return vector.relabel(labels_out)


def _label_join(call: CallArgs) -> Steps:
    vector = call.vector(0)
    dst, separator = call.string(1), call.string(2)
    sources = [call.string(i) for i in range(3, len(call.values))]
    for source in sources:
        if not valid_label_name(source):
            raise ExecutionError(f"invalid source label name in label_join(): {source}")
    if not valid_label_name(dst):
        raise ExecutionError(f"invalid destination label name in label_join(): {dst}")
    labels_out: list[Labels] = []
    for labels in vector.labels:
        result = dict(labels)
        joined = separator.join(labels.get(source, "") for source in sources)
        if joined:
            result[dst] = joined
        else:
            result.pop(dst, None)
        labels_out.append(result)
    return vector.relabel(labels_out)


def _histogram_quantile(call: CallArgs) -> Steps:
    return histogram_quantile(call.scalar(0), call.vector(1), call.guard)


def _native_histograms_only(call: CallArgs) -> Steps:
    """Functions of native histograms: series here are floats only, which they skip."""
    return Steps.empty(len(call.times))


_MATH: dict[str, Callable[[Floats], Floats]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "rad": lambda v: v * np.pi / 180,
    "deg": lambda v: v * 180 / np.pi,
    "sgn": _sgn,
}

FUNCTIONS: dict[str, Function] = {
    **{name: _elementwise(fn) for name, fn in _MATH.items()},
    **{name: _dates(field) for name, field in DATE_FIELDS.items()},
    "round": _round,
    "clamp": _clamp,
    "clamp_min": _clamp_min,
    "clamp_max": _clamp_max,
    "scalar": _scalar,
    "vector": _vector,
    "time": _time,
    "pi": _pi,
    "timestamp": _timestamp,
    "absent": _absent,
    "sort": _sort(descending=False),
    "sort_desc": _sort(descending=True),
    "label_replace": _label_replace,
    "label_join": _label_join,
    "histogram_quantile": _histogram_quantile,
    "histogram_count": _native_histograms_only,
    "histogram_sum": _native_histograms_only,
    "histogram_fraction": _native_histograms_only,
}
"""Every function without a range-vector argument."""
