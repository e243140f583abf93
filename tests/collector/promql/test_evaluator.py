"""Selectors over steps: the lookback delta, staleness markers, offset and @, subqueries."""

from __future__ import annotations

import numpy as np
import pytest

from collector.promql import EngineSettings, Series, parse
from collector.promql.errors import BadDataError
from collector.promql.evaluator import check_supported
from collector.promql.types import STALE_NAN_BITS
from tests.collector.promql.helpers import instant, only_value, series, vector_values

UP = series({"__name__": "up"}, [(0, 1), (60, 2)])


@pytest.mark.parametrize(
    ("at_s", "expected"),
    [(60, 2.0), (359.999, 2.0), (360, 2.0), (360.001, None), (30, 1.0), (-0.001, None)],
)
def test_lookback_delta_is_five_minutes_inclusive(at_s: float, expected: float | None) -> None:
    result = vector_values(instant([UP], "up", at_s))
    assert result == ({} if expected is None else {(("__name__", "up"),): expected})


def test_lookback_delta_is_configurable() -> None:
    settings = EngineSettings(lookback_delta_ms=60_000)
    assert vector_values(instant([UP], "up", 121, settings)) == {}


def test_staleness_marker_ends_a_series_at_once() -> None:
    stale = np.array([STALE_NAN_BITS], dtype=np.uint64).view(np.float64)[0]
    data = [Series({"__name__": "up"}, np.array([0, 15_000, 30_000]), np.array([1.0, stale, 3.0]))]
    assert vector_values(instant(data, "up", 20)) == {}
    assert vector_values(instant(data, "up", 35)) == {(("__name__", "up"),): 3.0}
    # Range vectors skip the marker.
    assert only_value(instant(data, "count_over_time(up[1m])", 35)) == 2.0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("up offset 1m", 1.0),
        ("up offset -1m", 2.0),
        ("up @ 0", 1.0),
        ("up @ 120 offset 1m", 2.0),
        ("up @ start()", 2.0),
        ("sum_over_time(up[1m] @ 60)", 3.0),
    ],
)
def test_offset_and_at(query: str, expected: float) -> None:
    assert only_value(instant([UP], query, 60)) == expected


def test_subquery_steps_are_aligned_to_their_step() -> None:
    data = [series({"__name__": "g"}, [(t, t) for t in range(0, 600, 10)])]
    # Steps at 60, 120, 180, 240 (aligned to 60 s) within (50, 250].
    assert only_value(instant(data, "count_over_time(g[200s:60s])", 250)) == 4.0
    assert only_value(instant(data, "min_over_time(g[200s:60s])", 250)) == 60.0


def test_a_subquery_without_step_uses_the_default_subquery_step() -> None:
    data = [series({"__name__": "g"}, [(t, t) for t in range(0, 600, 10)])]
    settings = EngineSettings(subquery_step_ms=100_000)
    assert only_value(instant(data, "count_over_time(g[300s:])", 300, settings)) == 4.0


def test_timestamp_of_a_selector_is_the_sample_time() -> None:
    assert only_value(instant([UP], "timestamp(up)", 100)) == 60.0
    assert only_value(instant([UP], "timestamp(-up)", 100)) == 100.0


@pytest.mark.parametrize(
    "query", ["info(up)", "limitk(1, up)", "mad_over_time(up[5m])", "sum(sort_by_label(up, 'a'))"]
)
def test_functions_beyond_prometheus_2_are_rejected_before_reading(query: str) -> None:
    with pytest.raises(BadDataError):
        check_supported(parse.parse(query))
