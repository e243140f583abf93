"""The PromQL tools: ``query`` (instant), ``query_range``, ``list_metrics`` and ``label_values``.

They run in-process on the API's engine over the caller's
:class:`~collector.promql.history_source.StorageSource` (only the series of granted servers), exactly as
``/api/v1/query`` and the label endpoints do, with the ``query`` settings' limits. Results keep
Prometheus's shapes (``resultType``, ``metric``, ``value``/``values``) under the envelope of
:mod:`api.mcp.output`.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from pydantic import Field

from api.mcp.context import ToolContext
from api.mcp.output import MAX_POINTS, MAX_ROWS, Answer, cap_rows
from api.mcp.spec import ToolArgs, ToolError, ToolSpec
from api.prometheus.params import parse_duration_ms, parse_time
from api.prometheus.render import result_json
from collector.promql import parse
from collector.promql.errors import (
    BadDataError,
    ExecutionError,
    PromQLError,
    QueryTimeoutError,
    UnavailableError,
)
from collector.promql.history_source import UNAVAILABLE_ERRORS
from collector.storage import series_index
from collector.storage.series_index import Window

Query = Annotated[str, Field(min_length=1, max_length=10_000, description="a PromQL expression")]
Time = Annotated[str | None, Field(max_length=64, description="Unix seconds or RFC 3339; now when left out")]


class QueryArgs(ToolArgs):
    """``query``."""

    query: Query
    time: Time = None


class RangeArgs(ToolArgs):
    """``query_range``."""

    query: Query
    start: Time = Field(default=None, description="Unix seconds or RFC 3339; one hour before end by default")
    end: Time = None
    step: Annotated[str | None, Field(max_length=32)] = Field(
        default=None, description="seconds or a duration like 1m; by default about 120 points"
    )


class MetricsArgs(ToolArgs):
    """``list_metrics``."""

    contains: Annotated[str | None, Field(max_length=200)] = Field(
        default=None, description="only metric names containing this text (case-insensitive)"
    )
    hours: Annotated[float, Field(gt=0, le=24 * 15)] = Field(
        default=24, description="metrics scraped within this many hours"
    )


class LabelValuesArgs(ToolArgs):
    """``label_values``."""

    label: Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=256)]
    match: Annotated[str | None, Field(max_length=10_000)] = Field(
        default=None, description='a series selector narrowing the series, e.g. node_load1{job="node"}'
    )
    hours: Annotated[float, Field(gt=0, le=24 * 15)] = Field(
        default=24, description="series scraped within this many hours"
    )


def _now_ms() -> int:
    return round(time.time() * 1000)


def _time(text: str | None, name: str, default_ms: int) -> int:
    if text is None:
        return default_ms
    try:
        return parse_time(text)
    except ValueError as exc:
        raise ToolError(f"{name}: {exc}", 400) from None


async def _evaluate(ctx: ToolContext, run: Any) -> tuple[dict[str, Any], list[str]]:
    source = ctx.source()
    try:
        result = await run(source)
    except BadDataError as exc:
        raise ToolError(f"bad query: {exc}", 400) from None
    except QueryTimeoutError as exc:
        raise ToolError(f"the query timed out: {exc}", 503) from None
    except UnavailableError as exc:
        raise ToolError(str(exc), 503) from None
    except ExecutionError as exc:
        raise ToolError(f"the query failed: {exc}", 422) from None
    except PromQLError as exc:
        raise ToolError(str(exc), 422) from None
    except UNAVAILABLE_ERRORS:
        raise ToolError("the history store (PostgreSQL) is not available", 503) from None
    data: dict[str, Any] = json.loads(result_json(result))
    return data, list(dict.fromkeys(source.warnings))


async def run_query(ctx: ToolContext, args: QueryArgs) -> Answer:
    """An instant query at ``time``."""
    at_ms = _time(args.time, "time", _now_ms())
    engine = ctx.backend.engine
    data, warnings = await _evaluate(
        ctx, lambda source: engine.instant_query(args.query, at_ms, source=source)
    )
    answer = Answer(data, rows_key="result", notes=warnings)
    if data["resultType"] in ("vector", "matrix"):
        data["result"], answer.truncated = cap_rows(data["result"], MAX_ROWS, "series", answer.notes)
    return answer


def _default_step_ms(start_ms: int, end_ms: int) -> int:
    # About 120 points, never finer than 15 s, in whole seconds.
    return max(15_000, (end_ms - start_ms) // 120 // 1000 * 1000)


async def run_query_range(ctx: ToolContext, args: RangeArgs) -> Answer:
    """A range query; points beyond :data:`MAX_POINTS` (all series together) are left out."""
    end_ms = _time(args.end, "end", _now_ms())
    start_ms = _time(args.start, "start", end_ms - 3_600_000)
    if end_ms < start_ms:
        raise ToolError("end must not be before start", 400)
    if args.step is None:
        step_ms = _default_step_ms(start_ms, end_ms)
    else:
        try:
            step_ms = parse_duration_ms(args.step)
        except ValueError as exc:
            raise ToolError(f"step: {exc}", 400) from None
    if step_ms <= 0:
        raise ToolError("step must be positive", 400)
    steps = (end_ms - start_ms) // step_ms + 1
    if steps > MAX_POINTS:
        raise ToolError(
            f"{steps} points per series is too many: at most {MAX_POINTS}; use a larger step", 400
        )
    engine = ctx.backend.engine
    data, warnings = await _evaluate(
        ctx, lambda source: engine.range_query(args.query, start_ms, end_ms, step_ms, source=source)
    )
    answer = Answer(data, rows_key="result", notes=warnings)
    series, answer.truncated = cap_rows(data["result"], MAX_ROWS, "series", answer.notes)
    kept: list[dict[str, Any]] = []
    budget = MAX_POINTS
    for item in series:
        if len(item["values"]) > budget:
            answer.notes.append(f"stopped at {MAX_POINTS} points: {len(series) - len(kept)} series left out")
            answer.truncated = True
            break
        budget -= len(item["values"])
        kept.append(item)
    data["result"] = kept
    data["step_s"] = step_ms / 1000
    return answer


def _window(hours: float) -> Window:
    end_ms = _now_ms()
    return Window(end_ms - round(hours * 3_600_000), end_ms)


async def run_list_metrics(ctx: ToolContext, args: MetricsArgs) -> Answer:
    """The metric names of the caller's servers."""
    try:
        names = await series_index.label_values(
            ctx.backend.pg, "__name__", [], servers=ctx.servers, window=_window(args.hours)
        )
    except UNAVAILABLE_ERRORS:
        raise ToolError("the history store (PostgreSQL) is not available", 503) from None
    if args.contains:
        needle = args.contains.casefold()
        names = [name for name in names if needle in name.casefold()]
    answer = Answer({}, rows_key="metrics")
    answer.data["metrics"], answer.truncated = cap_rows(names, MAX_ROWS * 5, "metrics", answer.notes)
    return answer


async def run_label_values(ctx: ToolContext, args: LabelValuesArgs) -> Answer:
    """The values of one label among the caller's series."""
    matcher_sets = []
    if args.match:
        try:
            expr = parse.parse(args.match)
        except BadDataError as exc:
            raise ToolError(f"match: {exc}", 400) from None
        if not isinstance(expr, parse.VectorSelector) or expr.offset_ms or expr.at is not None:
            raise ToolError('match must be a series selector, e.g. up{job="node"}', 400)
        matcher_sets.append(list(expr.matchers))
    try:
        values = await series_index.label_values(
            ctx.backend.pg, args.label, matcher_sets, servers=ctx.servers, window=_window(args.hours)
        )
    except UNAVAILABLE_ERRORS:
        raise ToolError("the history store (PostgreSQL) is not available", 503) from None
    answer = Answer({"label": args.label}, rows_key="values")
    answer.data["values"], answer.truncated = cap_rows(values, MAX_ROWS * 5, "values", answer.notes)
    return answer


QUERY_TOOLS = (
    ToolSpec(
        "query",
        "Evaluate a PromQL expression at one time (default now) over the servers you may see. "
        "Answers Prometheus's result shape (vector, matrix, scalar, string).",
        QueryArgs,
        run_query,
    ),
    ToolSpec(
        "query_range",
        "Evaluate a PromQL expression every step from start to end (default: the last hour, ~120 points). "
        f"At most {MAX_POINTS} points in all.",
        RangeArgs,
        run_query_range,
    ),
    ToolSpec(
        "list_metrics",
        "Metric names scraped from the servers you may see (optionally containing some text).",
        MetricsArgs,
        run_list_metrics,
    ),
    ToolSpec(
        "label_values",
        "The values of one label (e.g. instance, job, mountpoint) among the series you may see, "
        "optionally narrowed by a series selector.",
        LabelValuesArgs,
        run_label_values,
    ),
)
