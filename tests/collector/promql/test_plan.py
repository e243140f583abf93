"""The time range read for each selector."""

from __future__ import annotations

import pytest

from collector.promql import parse
from collector.promql.plan import Planner

M = 60_000


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("up", 100 * M - 5 * M, 110 * M),
        ("up offset 10m", 85 * M, 100 * M),
        ("rate(up[15m])", 85 * M, 110 * M),
        ("up @ 50", 50_000 - 5 * M, 50_000),
        ("up @ end()", 105 * M, 110 * M),
        ("max_over_time(up[30m:1m])", 100 * M - 30 * M - M - 5 * M, 110 * M),
    ],
)
def test_each_selector_reads_what_its_evaluation_needs(query: str, start: int, end: int) -> None:
    planner = Planner(100 * M, 110 * M, M, 5 * M, M)
    planner.walk(parse.parse(query), 100 * M, 110 * M)
    ((read),) = planner.reads.values()
    assert (read.start_ms, read.end_ms) == (start, end)


def test_one_selector_used_twice_is_read_once_over_both_ranges() -> None:
    planner = Planner(100 * M, 100 * M, 0, 5 * M, M)
    planner.walk(parse.parse("up - up offset 1h"), 100 * M, 100 * M)
    ((read),) = planner.reads.values()
    assert (read.start_ms, read.end_ms) == (35 * M, 100 * M)
    assert read.hints.step_ms == 0
