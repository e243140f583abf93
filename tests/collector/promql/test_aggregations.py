"""Aggregation operators with by/without over a small hand-checkable vector."""

from __future__ import annotations

import math

import pytest

from collector.promql.errors import ExecutionError
from tests.collector.promql.helpers import instant, series, vector_values

DATA = [
    series({"__name__": "m", "job": "a", "i": "1"}, [(0, 1)]),
    series({"__name__": "m", "job": "a", "i": "2"}, [(0, 3)]),
    series({"__name__": "m", "job": "b", "i": "3"}, [(0, 8)]),
]
A, B = (("job", "a"),), (("job", "b"),)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sum by (job) (m)", {A: 4.0, B: 8.0}),
        ("sum(m)", {(): 12.0}),
        ("avg by (job) (m)", {A: 2.0, B: 8.0}),
        ("count without (i) (m)", {A: 2.0, B: 1.0}),
        ("min by (job) (m)", {A: 1.0, B: 8.0}),
        ("max by (job) (m)", {A: 3.0, B: 8.0}),
        ("group by (job) (m)", {A: 1.0, B: 1.0}),
        ("stdvar by (job) (m)", {A: 1.0, B: 0.0}),
        ("stddev by (job) (m)", {A: 1.0, B: 0.0}),
        ("quantile by (job) (0.5, m)", {A: 2.0, B: 8.0}),
        (
            'count_values("value", m)',
            {(("value", "1"),): 1.0, (("value", "3"),): 1.0, (("value", "8"),): 1.0},
        ),
        ("sum by (nonexistent) (m)", {(): 12.0}),
    ],
)
def test_aggregation(query: str, expected: dict[tuple[tuple[str, str], ...], float]) -> None:
    assert vector_values(instant(DATA, query, 0)) == expected


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("topk(1, m)", {"3"}),
        ("bottomk(2, m)", {"1", "2"}),
        ("topk by (job) (1, m)", {"2", "3"}),
        ("topk(0, m)", set()),
    ],
)
def test_topk_bottomk_keep_the_original_series(query: str, kept: set[str]) -> None:
    samples = instant(DATA, query, 0).samples  # type: ignore[union-attr]
    assert {s.labels["i"] for s in samples} == kept
    assert all("__name__" in s.labels for s in samples)


def test_topk_prefers_numbers_to_nan() -> None:
    data = [*DATA, series({"__name__": "m", "job": "b", "i": "4"}, [(0, math.nan)])]
    assert {s.labels["i"] for s in instant(data, "topk(3, m)", 0).samples} == {"1", "2", "3"}  # type: ignore[union-attr]


def test_max_ignores_nan_unless_all_are() -> None:
    data = [
        series({"__name__": "n", "i": "1"}, [(0, math.nan)]),
        series({"__name__": "n", "i": "2"}, [(0, 2)]),
    ]
    assert vector_values(instant(data, "max(n)", 0)) == {(): 2.0}


def test_topk_with_a_k_beyond_int64_is_an_error() -> None:
    with pytest.raises(ExecutionError, match="Scalar value 1e\\+20 overflows int64"):
        instant(DATA, "topk(1e20, m)", 0)


def test_count_values_needs_a_valid_label_name() -> None:
    with pytest.raises(ExecutionError, match='invalid label name "a-b"'):
        instant(DATA, 'count_values("a-b", m)', 0)
