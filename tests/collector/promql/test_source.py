"""The in-memory source: matchers, an inclusive time range, samples in time order."""

from __future__ import annotations

import asyncio

import numpy as np

from collector.matchers import Matcher
from collector.promql import MemorySource, Series
from tests.collector.promql.helpers import series


def test_select_filters_by_matchers_and_inclusive_range() -> None:
    source = MemorySource(
        [
            series({"__name__": "up", "job": "a"}, [(1, 1), (2, 2), (3, 3)]),
            series({"__name__": "up", "job": "b"}, [(1, 1)]),
        ]
    )
    found = asyncio.run(source.select([Matcher(name="job", op="=~", value="a|c")], 2000, 3000))
    assert [(s.labels["job"], s.ts.tolist()) for s in found] == [("a", [2000, 3000])]


def test_series_without_samples_in_range_are_left_out() -> None:
    source = MemorySource([series({"__name__": "up"}, [(1, 1)])])
    assert asyncio.run(source.select([], 5000, 6000)) == []


def test_samples_are_kept_in_time_order() -> None:
    source = MemorySource([Series({"a": "b"}, np.array([3000, 1000]), np.array([3.0, 1.0]))])
    (found,) = asyncio.run(source.select([], 0, 5000))
    assert (found.ts.tolist(), found.values.tolist()) == ([1000, 3000], [1.0, 3.0])
