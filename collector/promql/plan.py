"""Which samples a query needs: for every selector, the time range it reads (as Prometheus's
getTimeRangesForSelector computes it), so the engine reads each selector once before evaluating."""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.promql import parse
from collector.promql.evaluator import SelectorKey, selector_key
from collector.promql.source import SelectHints


@dataclass
class Read:
    """One read from the source: matchers, the union of the ranges its selectors need, hints."""

    selector: parse.VectorSelector
    start_ms: int
    end_ms: int
    hints: SelectHints


@dataclass
class Planner:
    """Walks a query with the time span each node is evaluated over."""

    start_ms: int
    end_ms: int
    step_ms: int
    lookback_ms: int
    subquery_step_ms: int
    reads: dict[SelectorKey, Read] = field(default_factory=dict)
    subqueries: bool = False
    """Whether the query has a subquery (its inner steps are not the query's: its work is not foreseen)."""

    def _at(self, at: parse.At) -> int:
        return {"start": self.start_ms, "end": self.end_ms}.get(at.kind, at.time_ms)

    def _span(self, first: int, last: int, offset_ms: int, at: parse.At | None) -> tuple[int, int]:
        if at is not None:
            pinned = self._at(at) - offset_ms
            return pinned, pinned
        return first - offset_ms, last - offset_ms

    def _need(self, selector: parse.VectorSelector, start: int, end: int, hints: SelectHints) -> None:
        key = selector_key(selector)
        known = self.reads.get(key)
        if known is None:
            self.reads[key] = Read(selector, start, end, hints)
        else:
            known.start_ms, known.end_ms = min(known.start_ms, start), max(known.end_ms, end)

    def walk(self, expr: parse.Expr, first: int, last: int, func: str | None = None) -> None:
        """Record the reads of ``expr`` evaluated at steps from ``first`` to ``last``."""
        match expr:
            case parse.VectorSelector():
                low, high = self._span(first, last, expr.offset_ms, expr.at)
                self._need(expr, low - self.lookback_ms, high, SelectHints(step_ms=self.step_ms))
            case parse.MatrixSelector(selector=selector, range_ms=range_ms):
                low, high = self._span(first, last, selector.offset_ms, selector.at)
                hints = SelectHints(step_ms=self.step_ms, range_ms=range_ms, func=func)
                self._need(selector, low - range_ms, high, hints)
            case parse.Subquery():
                self.subqueries = True
                low, high = self._span(first, last, expr.offset_ms, expr.at)
                step = expr.step_ms or self.subquery_step_ms
                self.walk(expr.expr, low - expr.range_ms - step, high)
            case parse.Call(func=name, args=args):
                for arg in args:
                    self.walk(arg, first, last, name)
            case parse.Aggregate(expr=inner, param=param):
                self.walk(inner, first, last)
                if param is not None:
                    self.walk(param, first, last)
            case parse.Binary(lhs=lhs, rhs=rhs):
                self.walk(lhs, first, last)
                self.walk(rhs, first, last)
            case parse.Unary(expr=inner):
                self.walk(inner, first, last)
