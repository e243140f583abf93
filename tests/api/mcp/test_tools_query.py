"""The PromQL tools called in-process: results, defaults, and the refusals of bad arguments."""

from __future__ import annotations

import pytest

from api.mcp.context import Backend
from api.mcp.output import MAX_POINTS
from api.mcp.spec import ToolError
from api.mcp.tools_query import (
    LabelValuesArgs,
    MetricsArgs,
    QueryArgs,
    RangeArgs,
    _default_step_ms,
    run_label_values,
    run_list_metrics,
    run_query,
    run_query_range,
)
from tests.api.mcp.conftest import Fleet, context_for


async def test_a_scalar_query_answers_prometheus_s_shape(backend: Backend) -> None:
    ctx = await context_for(backend, "viewer")
    answer = await run_query(ctx, QueryArgs(query="1+1", time="1700000000"))
    assert answer.data == {"resultType": "scalar", "result": [1700000000, "2"]}


async def test_a_range_query_answers_each_step(backend: Backend, fleet: Fleet) -> None:
    ctx = await context_for(backend, "admin")
    answer = await run_query_range(ctx, RangeArgs(query=f'node_load1{{job="{fleet.job}",name="db-1"}}'))
    (series,) = answer.data["result"]
    assert series["metric"]["instance"] == "db-1:9100"
    assert {value for _, value in series["values"]} == {"2.5"}
    assert answer.data["step_s"] == 30.0 and not answer.truncated


@pytest.mark.parametrize(
    ("span_s", "step_ms"),
    [(60, 15_000), (3600, 30_000), (86_400, 720_000), (7 * 86_400, 5_040_000)],
)
def test_the_default_step_gives_about_120_points(span_s: int, step_ms: int) -> None:
    assert _default_step_ms(0, span_s * 1000) == step_ms


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"query": "sum("}, "bad query"),
        ({"query": "up", "start": "yesterday"}, "start: cannot parse"),
        ({"query": "up", "start": "200", "end": "100"}, "end must not be before start"),
        ({"query": "up", "step": "0s"}, "step must be positive"),
        ({"query": "up", "step": "1x"}, "step: cannot parse"),
        ({"query": "up", "start": "0", "end": "86400", "step": "1s"}, f"at most {MAX_POINTS}"),
    ],
)
async def test_bad_range_arguments_are_refused(backend: Backend, args: dict[str, str], message: str) -> None:
    ctx = await context_for(backend, "viewer")
    with pytest.raises(ToolError, match=message) as refused:
        await run_query_range(ctx, RangeArgs.model_validate(args))
    assert refused.value.status == 400


async def test_metric_names_are_filtered_by_text_and_grants(backend: Backend, fleet: Fleet) -> None:
    viewer = await context_for(backend, "viewer", grants=[fleet.db.server_id])
    names = (await run_list_metrics(viewer, MetricsArgs(contains="PROCESS"))).data["metrics"]
    assert names == [], "db-1 has no process series; web-1's are not granted"
    admin = await context_for(backend, "admin")
    names = (await run_list_metrics(admin, MetricsArgs(contains="process"))).data["metrics"]
    assert {"openmanager_process_cpu_percent", "openmanager_processes"} <= set(names)


async def test_label_values_need_a_series_selector(backend: Backend, fleet: Fleet) -> None:
    ctx = await context_for(backend, "viewer", grants=[fleet.db.server_id])
    answer = await run_label_values(
        ctx, LabelValuesArgs(label="name", match=f'node_load1{{job="{fleet.job}"}}')
    )
    assert answer.data == {"label": "name", "values": ["db-1"]}
    with pytest.raises(ToolError, match="series selector"):
        await run_label_values(ctx, LabelValuesArgs(label="name", match="rate(up[5m])"))
