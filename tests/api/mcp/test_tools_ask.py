"""The ``ask`` tool: the natural-language answer as data, its tables and series capped."""

from __future__ import annotations

from typing import Any

from api.mcp.context import Backend
from api.mcp.output import MAX_POINTS, MAX_ROWS
from api.mcp.tools_ask import AskArgs, _cap_part, run_ask
from tests.api.mcp.conftest import Fleet, context_for


async def test_ask_answers_in_the_language_asked(backend: Backend, fleet: Fleet) -> None:
    ctx = await context_for(backend, "viewer", grants=[fleet.web.server_id])
    answer = await run_ask(ctx, AskArgs(question="web-1 상태 어때?"))
    assert answer.data["language"] == "ko"
    assert set(answer.data) >= {"intent", "entities", "answer", "data", "queries", "suggestions"}


def test_a_table_is_cut_to_the_row_limit() -> None:
    notes: list[str] = []
    table: dict[str, Any] = {
        "kind": "table",
        "title": "cpu",
        "columns": ["x"],
        "rows": [[i] for i in range(500)],
    }
    assert _cap_part(table, notes) is True
    assert len(table["rows"]) == MAX_ROWS and notes == [
        f"showing {MAX_ROWS} of 500 rows of 'cpu'; narrow the request to see the rest"
    ]


def test_a_chart_keeps_its_last_points_within_the_budget() -> None:
    notes: list[str] = []
    points = MAX_POINTS
    chart: dict[str, Any] = {
        "kind": "series",
        "title": "load",
        "timestamps": list(range(points)),
        "lines": [
            {"label": "a", "values": list(range(points))},
            {"label": "b", "values": list(range(points))},
        ],
    }
    assert _cap_part(chart, notes) is True
    half = MAX_POINTS // 2
    assert chart["timestamps"] == list(range(points - half, points))
    assert all(line["values"] == list(range(points - half, points)) for line in chart["lines"])
    small: dict[str, Any] = {
        "kind": "series",
        "title": "s",
        "timestamps": [1],
        "lines": [{"label": "a", "values": [1]}],
    }
    assert _cap_part(small, notes) is False
