"""The query engine a server uses: instant and range queries over a `SeriesSource`, within limits.

A query is parsed, its reads planned and fetched from the source in one call, then evaluated against a
deadline: in a worker thread (the evaluation is numpy and CPU-bound), or on the event loop when the query
is small enough that the hop to a thread would cost more than the work (:data:`INLINE_CELLS`). The number
of queries running at once is bounded, later ones wait their turn within their own timeout, as
Prometheus's engine does.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from dataclasses import dataclass

import numpy as np

from collector.promql import parse
from collector.promql.errors import (
    BadDataError,
    QueryTimeoutError,
    resolution_limit_message,
)
from collector.promql.evaluator import Evaluator, SelectorKey, check_supported
from collector.promql.guard import Guard
from collector.promql.plan import Planner
from collector.promql.source import Selection, SeriesSource
from collector.promql.types import (
    InstantVector,
    Matrix,
    Result,
    Sample,
    Scalar,
    Series,
    Steps,
    String,
    is_stale,
    label_key,
    sorted_by_labels,
)

INLINE_CELLS = 20_000
"""A query without subqueries whose samples read plus (series read x steps) stay under this is evaluated
on the event loop: a dashboard panel's hour of a few series."""

_DOCUMENTED = {"matrix": "range vector", "vector": "instant vector", "scalar": "scalar", "string": "string"}
_ORDERING_FUNCTIONS = frozenset({"sort", "sort_desc"})


@dataclass(frozen=True)
class EngineSettings:
    """Limits and defaults; Prometheus's own defaults unless said otherwise."""

    lookback_delta_ms: int = 300_000
    max_samples: int = 50_000_000
    timeout_s: float = 120.0
    max_concurrent_queries: int = 20
    max_points_per_series: int = 11_000
    subquery_step_ms: int = 60_000
    """The step of a subquery without one (Prometheus: the global evaluation interval, 1m by default)."""


def check_range(start_ms: int, end_ms: int, step_ms: int, max_points: int) -> None:
    """A range query's parameters, checked as Prometheus's API checks them."""
    if end_ms < start_ms:
        raise BadDataError('invalid parameter "end": end timestamp must not be before start time')
    if step_ms <= 0:
        raise BadDataError(
            'invalid parameter "step": zero or negative query resolution step widths are not accepted. '
            "Try a positive integer"
        )
    if (end_ms - start_ms) // step_ms > max_points:
        raise BadDataError(resolution_limit_message(max_points))


class Engine:
    """Evaluates PromQL against ``source``, or against the source a query names.

    A server keeps one engine, so that its bound on concurrent queries holds, and gives each query the
    source of its caller (the series that caller may see). ``timeout_s`` of a query may shorten the
    configured timeout, never lengthen it.
    """

    def __init__(self, source: SeriesSource | None = None, settings: EngineSettings | None = None) -> None:
        self.source = source
        self.settings = settings or EngineSettings()
        self._slots = asyncio.Semaphore(self.settings.max_concurrent_queries)

    async def instant_query(
        self,
        query: str,
        time_ms: int,
        *,
        source: SeriesSource | None = None,
        timeout_s: float | None = None,
    ) -> Result:
        """The value of ``query`` at ``time_ms``: a vector, scalar, string or (for a range vector) matrix."""
        expr = parse.parse(query)
        check_supported(expr)
        return await self._run(expr, time_ms, time_ms, 0, self._source(source), self._timeout(timeout_s))

    async def range_query(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        source: SeriesSource | None = None,
        timeout_s: float | None = None,
    ) -> Matrix:
        """``query`` evaluated every ``step_ms`` from ``start_ms`` to ``end_ms``."""
        check_range(start_ms, end_ms, step_ms, self.settings.max_points_per_series)
        expr = parse.parse(query)
        kind = parse.value_type(expr)
        if kind not in ("scalar", "vector"):
            raise BadDataError(
                f'invalid expression type "{_DOCUMENTED[kind]}" for range query, '
                "must be Scalar or instant Vector"
            )
        check_supported(expr)
        result = await self._run(
            expr, start_ms, end_ms, step_ms, self._source(source), self._timeout(timeout_s)
        )
        assert isinstance(result, Matrix)
        return result

    def _source(self, source: SeriesSource | None) -> SeriesSource:
        chosen = source or self.source
        if chosen is None:
            raise TypeError("the engine has no source and the query named none")
        return chosen

    def _timeout(self, timeout_s: float | None) -> float:
        if timeout_s is None:
            return self.settings.timeout_s
        return min(max(timeout_s, 0.0), self.settings.timeout_s)

    async def _run(  # noqa: PLR0917 - internal
        self,
        expr: parse.Expr,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        source: SeriesSource,
        timeout_s: float,
    ) -> Result:
        deadline = time.monotonic() + timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise QueryTimeoutError("query queue") from None
        cancelled = threading.Event()
        try:
            guard = Guard(self.settings.max_samples, deadline, cancelled)
            data, inline = await self._read(
                expr,
                source,
                start_ms=start_ms,
                end_ms=end_ms,
                step_ms=step_ms,
                guard=guard,
                deadline=deadline,
            )
            evaluate = functools.partial(
                self._evaluate,
                expr,
                data=data,
                guard=guard,
                start_ms=start_ms,
                end_ms=end_ms,
                step_ms=step_ms,
            )
            if inline:
                return evaluate()
            return await asyncio.shield(asyncio.to_thread(evaluate))
        except asyncio.CancelledError:
            # The worker thread sees the event at its next check and stops with QueryCanceledError.
            cancelled.set()
            raise
        finally:
            self._slots.release()

    async def _read(
        self,
        expr: parse.Expr,
        source: SeriesSource,
        *,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        guard: Guard,
        deadline: float,
    ) -> tuple[dict[SelectorKey, list[Series]], bool]:
        """The series of every selector, and whether the query is small enough to evaluate inline."""
        settings = self.settings
        planner = Planner(start_ms, end_ms, step_ms, settings.lookback_delta_ms, settings.subquery_step_ms)
        planner.walk(expr, start_ms, end_ms)
        keys = list(planner.reads)
        reads = [planner.reads[key] for key in keys]
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                selections = [Selection(r.selector.matchers, r.start_ms, r.end_ms, r.hints) for r in reads]
                results = await source.select_many(selections)
        except TimeoutError:
            raise QueryTimeoutError("query execution") from None
        samples = sum(len(series.ts) for found in results for series in found)
        guard.hold(samples)
        steps = (end_ms - start_ms) // step_ms + 1 if step_ms else 1
        cells = samples + steps * sum(len(found) for found in results)
        inline = not planner.subqueries and cells <= INLINE_CELLS
        return dict(zip(keys, results, strict=True)), inline

    def _evaluate(
        self,
        expr: parse.Expr,
        *,
        data: dict[SelectorKey, list[Series]],
        guard: Guard,
        start_ms: int,
        end_ms: int,
        step_ms: int,
    ) -> Result:
        settings = self.settings
        evaluator = Evaluator(
            data,
            guard,
            start_ms=start_ms,
            end_ms=end_ms,
            lookback_ms=settings.lookback_delta_ms,
            subquery_step_ms=settings.subquery_step_ms,
        )
        if step_ms == 0:
            return instant_result(evaluator, expr, start_ms)
        times = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        value = evaluator.eval(expr, times)
        if isinstance(value, Steps):
            series = (
                Series(labels, times[value.present[row]], value.values[row][value.present[row]])
                for row, labels in enumerate(value.labels)
            )
            return Matrix(sorted_by_labels(series))
        assert isinstance(value, np.ndarray)
        return Matrix((Series({}, times, value),))


def instant_result(evaluator: Evaluator, expr: parse.Expr, time_ms: int) -> Result:
    """Evaluate ``expr`` at one time, in the shape an instant query answers with."""
    times = np.array([time_ms], dtype=np.int64)
    if isinstance(expr, parse.MatrixSelector):
        data = evaluator.range_input(expr, times)
        found = []
        for row, labels in enumerate(data.labels):
            lo, hi = int(data.lo[row, 0]), int(data.hi[row, 0])
            if hi > lo:
                found.append(Series(labels, data.ts[lo:hi], data.values[lo:hi]))
        return Matrix(sorted_by_labels(found))
    if isinstance(expr, parse.Subquery):
        inner_times, steps = evaluator.subquery(expr, times)
        rows = (
            Series(labels, inner_times[steps.present[row]], steps.values[row][steps.present[row]])
            for row, labels in enumerate(steps.labels)
        )
        return Matrix(sorted_by_labels(row for row in rows if len(row.ts)))
    value = evaluator.eval(expr, times)
    if isinstance(value, str):
        return String(time_ms, value)
    if isinstance(value, np.ndarray):
        return Scalar(time_ms, float(value[0]))
    samples = [
        Sample(labels, float(value.values[row, 0]))
        for row, labels in enumerate(value.labels)
        if value.present[row, 0]
    ]
    if not (isinstance(expr, parse.Call) and expr.func in _ORDERING_FUNCTIONS):
        samples.sort(key=lambda sample: label_key(sample.labels))
    return InstantVector(time_ms, tuple(samples))


__all__ = ["Engine", "EngineSettings", "check_range", "instant_result", "is_stale"]
