"""Evaluation of a parsed query over a grid of step timestamps, on series already read.

Every node is evaluated for all steps at once: selectors look up their samples for every step with
``searchsorted``, operators and functions work on whole (series x steps) matrices. Subqueries evaluate
their expression on their own aligned grid. ``@`` pins a selector or subquery to one time (start() and
end() are the query's), so it gives the same samples at every step. Prometheus 2.x's rules throughout: the
lookback window ``[t - lookback, t]``, range windows ``[t - range, t]``, staleness markers ending a series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from collector.promql import aggregations, binary, parse
from collector.promql.errors import BadDataError, ExecutionError
from collector.promql.functions import FUNCTIONS, CallArgs, Value, absent_labels
from collector.promql.guard import Guard
from collector.promql.range_functions import RANGE_FUNCTIONS
from collector.promql.types import Floats, Ints, Labels, Series, Steps, is_stale, merge_rows, without_name
from collector.promql.windows import RangeInput, build

SelectorKey = tuple[tuple[str, str, str], ...]
SUPPORTED_FUNCTIONS = frozenset(FUNCTIONS) | frozenset(RANGE_FUNCTIONS) | {"absent_over_time"}
SUPPORTED_AGGREGATIONS = frozenset(
    {
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    }
)


def selector_key(selector: parse.VectorSelector) -> SelectorKey:
    """What identifies one read from the source: the matchers."""
    return tuple((m.name, m.op, m.value) for m in selector.matchers)


def check_supported(expr: parse.Expr) -> None:
    """Reject, before reading any data, what the parser accepts but this engine does not evaluate."""
    match expr:
        case parse.Call(func=func, args=args):
            if func not in SUPPORTED_FUNCTIONS:
                raise BadDataError(f'parse error: unknown function with name "{func}"')
            children: tuple[parse.Expr, ...] = args
        case parse.Aggregate(op=op, expr=inner, param=param):
            if op not in SUPPORTED_AGGREGATIONS:
                raise BadDataError(f'parse error: unknown aggregation "{op}"')
            children = (inner,) if param is None else (inner, param)
        case parse.Binary(lhs=lhs, rhs=rhs):
            children = (lhs, rhs)
        case parse.Unary(expr=inner) | parse.Subquery(expr=inner):
            children = (inner,)
        case _:
            children = ()
    for child in children:
        check_supported(child)


class Evaluator:
    """Evaluates nodes of one query; ``data`` holds the series read for each selector."""

    def __init__(
        self,
        data: Mapping[SelectorKey, list[Series]],
        guard: Guard,
        *,
        start_ms: int,
        end_ms: int,
        lookback_ms: int,
        subquery_step_ms: int,
    ) -> None:
        self.data = data
        self.guard = guard
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.lookback_ms = lookback_ms
        self.subquery_step_ms = subquery_step_ms

    def eval(self, expr: parse.Expr, times: Ints) -> Value:
        """The value of ``expr`` at each of ``times``; counts what it holds against the sample limit."""
        self.guard.check()
        mark = self.guard.samples
        value = self._eval(expr, times)
        points = int(value.present.sum()) if isinstance(value, Steps) else len(times)
        self.guard.hold(points)
        self.guard.samples = mark + points
        return value

    def at_time(self, at: parse.At) -> int:
        """The time an ``@`` modifier names."""
        if at.kind == "start":
            return self.start_ms
        if at.kind == "end":
            return self.end_ms
        return at.time_ms

    def _pinned(self, times: Ints, offset_ms: int, at: parse.At | None) -> Ints:
        if at is None:
            return times - offset_ms
        return np.full(len(times), self.at_time(at) - offset_ms, dtype=np.int64)

    def _eval(self, expr: parse.Expr, times: Ints) -> Value:
        match expr:
            case parse.NumberLiteral(value=number):
                return np.full(len(times), number)
            case parse.StringLiteral(value=text):
                return text
            case parse.VectorSelector():
                return self.vector_selector(expr, times)[0]
            case parse.Unary(expr=inner):
                value = self.eval(inner, times)
                if isinstance(value, Steps):
                    labels = [without_name(labels) for labels in value.labels]
                    return merge_rows(Steps(labels, -value.values, value.present), allow_disjoint=False)
                assert isinstance(value, np.ndarray)
                return -value
            case parse.Call():
                return self._call(expr, times)
            case parse.Aggregate():
                return self._aggregate(expr, times)
            case parse.Binary():
                return self._binary(expr, times)
        raise BadDataError(f"parse error: a range vector is not allowed here: {expr}")

    def vector_selector(self, selector: parse.VectorSelector, times: Ints) -> tuple[Steps, Ints]:
        """The instant vector of a selector, and the timestamps of the samples it took."""
        moments = self._pinned(times, selector.offset_ms, selector.at)
        series = self.data.get(selector_key(selector), [])
        self.guard.allocate(len(series) * len(times))
        values = np.empty((len(series), len(times)))
        present = np.zeros((len(series), len(times)), dtype=bool)
        sample_ts = np.zeros((len(series), len(times)), dtype=np.int64)
        for row, item in enumerate(series):
            if row % 256 == 0:
                self.guard.check()
            index = np.searchsorted(item.ts, moments, side="right") - 1
            clipped = np.maximum(index, 0)
            found_ts = item.ts[clipped] if len(item.ts) else np.zeros(len(times), dtype=np.int64)
            found = item.values[clipped] if len(item.ts) else np.zeros(len(times))
            present[row] = (index >= 0) & (found_ts >= moments - self.lookback_ms) & ~is_stale(found)
            values[row], sample_ts[row] = found, found_ts
        keep = np.asarray(present.any(axis=1), dtype=bool)
        steps = Steps([series[row].labels for row in np.flatnonzero(keep)], values[keep], present[keep])
        return steps, sample_ts[keep]

    def range_input(self, expr: parse.Expr, times: Ints) -> RangeInput:
        """The windows of a range vector (a matrix selector or a subquery) at every step."""
        if isinstance(expr, parse.MatrixSelector):
            selector = expr.selector
            rows = []
            for item in self.data.get(selector_key(selector), []):
                fresh = ~is_stale(item.values)
                rows.append((item.labels, item.ts[fresh], item.values[fresh]))
            ends = self._pinned(times, selector.offset_ms, selector.at)
            self.guard.allocate(len(rows) * len(times))
            return build(rows, ends, expr.range_ms, times)
        if isinstance(expr, parse.Subquery):
            inner_times, steps = self.subquery(expr, times)
            rows = [
                (labels, inner_times[steps.present[row]], steps.values[row][steps.present[row]])
                for row, labels in enumerate(steps.labels)
            ]
            ends = self._pinned(times, expr.offset_ms, expr.at)
            return build(rows, ends, expr.range_ms, times)
        raise BadDataError("parse error: expected a range vector")

    def subquery(self, expr: parse.Subquery, times: Ints) -> tuple[Ints, Steps]:
        """A subquery's own steps (aligned to its step, as in Prometheus) and its vector over them."""
        step = expr.step_ms or self.subquery_step_ms
        moments = self._pinned(times[[0, -1]] if len(times) else times, expr.offset_ms, expr.at)
        if len(moments) == 0:
            return np.empty(0, dtype=np.int64), Steps.empty(0)
        earliest = int(moments[0]) - expr.range_ms
        # Go's integer division truncates toward zero; the start is then moved up to the range.
        start = step * int(earliest / step) if earliest < 0 else step * (earliest // step)
        if start < earliest:
            start += step
        self.guard.allocate((int(moments[-1]) - start) // step + 1)
        inner_times = np.arange(start, int(moments[-1]) + 1, step, dtype=np.int64)
        if len(inner_times) == 0:
            return inner_times, Steps.empty(0)
        value = self.eval(expr.expr, inner_times)
        assert isinstance(value, Steps)
        return inner_times, value

    def _call(self, call: parse.Call, times: Ints) -> Value:
        name, args = call.func, call.args
        if name == "timestamp" and isinstance(args[0], parse.VectorSelector):
            steps, sample_ts = self.vector_selector(args[0], times)
            labels = [without_name(labels) for labels in steps.labels]
            return merge_rows(Steps(labels, sample_ts / 1000.0, steps.present))
        if name in RANGE_FUNCTIONS or name == "absent_over_time":
            return self._range_call(call, times)
        values = [self.eval(arg, times) for arg in args]
        return FUNCTIONS[name](CallArgs(values, args, times, self.guard))

    def _range_call(self, call: parse.Call, times: Ints) -> Steps:
        index = next(i for i, arg in enumerate(call.args) if parse.value_type(arg) == "matrix")
        data = self.range_input(call.args[index], times)
        if call.func == "absent_over_time":
            missing = ~np.asarray((data.count > 0).any(axis=0), dtype=bool)
            absent = absent_labels(call.args[index])
            return merge_rows(Steps([absent], np.ones((1, len(times))), missing[None, :]))
        others: list[Floats] = []
        for i, arg in enumerate(call.args):
            if i != index:
                value = self.eval(arg, times)
                assert isinstance(value, np.ndarray)
                others.append(value)
        values, present = RANGE_FUNCTIONS[call.func](data, others, self.guard)
        labels: Sequence[Labels] = (
            data.labels if call.func == "last_over_time" else [without_name(labels) for labels in data.labels]
        )
        return merge_rows(Steps(labels, values, present), allow_disjoint=False)

    def _aggregate(self, node: parse.Aggregate, times: Ints) -> Steps:
        param: Floats | str | None = None
        if node.param is not None:
            evaluated = self.eval(node.param, times)
            if isinstance(evaluated, Steps):
                raise ExecutionError("aggregation parameter must be a scalar or a string")
            param = evaluated
        vector = self.eval(node.expr, times)
        assert isinstance(vector, Steps)
        return aggregations.aggregate(
            node.op, vector, grouping=node.grouping, without=node.without, param=param, guard=self.guard
        )

    def _binary(self, node: parse.Binary, times: Ints) -> Value:
        lhs, rhs = self.eval(node.lhs, times), self.eval(node.rhs, times)
        if isinstance(lhs, Steps) and isinstance(rhs, Steps):
            assert node.matching is not None
            if node.op in binary.SET_OPERATORS:
                return binary.set_operation(node.op, lhs, rhs, node.matching)
            return binary.vector_vector(node.op, lhs, rhs, node.matching, node.return_bool)
        if isinstance(lhs, Steps):
            assert isinstance(rhs, np.ndarray)
            return binary.vector_scalar(node.op, lhs, rhs, scalar_left=False, return_bool=node.return_bool)
        if isinstance(rhs, Steps):
            assert isinstance(lhs, np.ndarray)
            return binary.vector_scalar(node.op, rhs, lhs, scalar_left=True, return_bool=node.return_bool)
        assert isinstance(lhs, np.ndarray) and isinstance(rhs, np.ndarray)
        return binary.scalar_scalar(node.op, lhs, rhs)
