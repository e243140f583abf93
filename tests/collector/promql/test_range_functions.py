"""Range-vector functions on hand-checkable data (the differential suite checks them against Prometheus)."""

from __future__ import annotations

import math

import pytest

from collector.promql.errors import ExecutionError
from tests.collector.promql.helpers import instant, only_value, series

# A counter sampled every 10 s from t=0: 0, 10, 20, ... with a reset to 5 at t=60.
COUNTER = series(
    {"__name__": "c"}, [(0, 0), (10, 10), (20, 20), (30, 30), (40, 40), (50, 50), (60, 5), (70, 15)]
)
GAUGE = series({"__name__": "g"}, [(0, 4), (10, 2), (20, 8), (30, 6)])
LINE = series({"__name__": "line"}, [(t, 3 * t + 1) for t in range(0, 70, 10)])


@pytest.mark.parametrize(
    ("query", "at_s", "expected"),
    [
        # Samples cover [0, 60] of the window [0, 60]: no extrapolation; 50 before the reset + 5 after.
        ("increase(c[60s])", 60, 55.0),
        ("rate(c[60s])", 60, 55.0 / 60),
        # Window [10, 70]: 60 s of samples plus the reset's 50; extrapolated to nothing more.
        ("increase(c[60s])", 70, 15 - 10 + 50.0),
        ("resets(c[80s])", 70, 1.0),
        ("changes(c[80s])", 70, 7.0),
        ("irate(c[30s])", 70, 1.0),
        ("irate(c[30s])", 60, 0.5),
        ("idelta(g[30s])", 30, -2.0),
        ("delta(g[30s])", 30, 2.0),
        ("count_over_time(g[30s])", 30, 4.0),
        ("sum_over_time(g[30s])", 30, 20.0),
        ("avg_over_time(g[30s])", 30, 5.0),
        ("min_over_time(g[30s])", 30, 2.0),
        ("max_over_time(g[30s])", 30, 8.0),
        ("last_over_time(g[30s])", 30, 6.0),
        ("present_over_time(g[30s])", 30, 1.0),
        ("stdvar_over_time(g[30s])", 30, 5.0),
        ("stddev_over_time(g[30s])", 30, math.sqrt(5.0)),
        ("quantile_over_time(0.5, g[30s])", 30, 5.0),
        ("quantile_over_time(0.25, g[30s])", 30, 3.5),
        ("deriv(line[60s])", 60, 3.0),
        ("predict_linear(line[60s], 10)", 60, 3 * 70 + 1.0),
    ],
)
def test_range_function_value(query: str, at_s: float, expected: float) -> None:
    assert only_value(instant([COUNTER, GAUGE, LINE], query, at_s)) == pytest.approx(expected)


def test_rate_extrapolates_toward_window_edges() -> None:
    # Samples at 5..55 in the window [0, 60]: 5 s on each side is under 1.1 average intervals.
    data = series({"__name__": "c"}, [(t, t) for t in range(5, 60, 10)])
    assert only_value(instant([data], "increase(c[60s])", 60)) == pytest.approx(60.0)


def test_counter_rate_does_not_extrapolate_below_zero() -> None:
    data = series({"__name__": "c"}, [(30, 1), (40, 11), (50, 21)])
    # An increase of 20 over 20 s; extrapolating 30 s back would pass zero, so it stops at the zero
    # point 1 s before the first sample: 20 * 21 / 20.
    assert only_value(instant([data], "increase(c[50s])", 50)) == pytest.approx(21.0)


@pytest.mark.parametrize("query", ["rate(g[5s])", "deriv(g[5s])", "irate(g[5s])"])
def test_functions_needing_two_samples_give_nothing_for_one(query: str) -> None:
    assert instant([GAUGE], query, 30).samples == ()  # type: ignore[union-attr]


def test_holt_winters_smooths_a_line_to_its_last_value() -> None:
    assert only_value(instant([LINE], "holt_winters(line[60s], 0.5, 0.5)", 60)) == pytest.approx(181.0)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("holt_winters(g[60s], 1, 0.5)", "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"),
        ("holt_winters(g[60s], 0.5, 0)", "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"),
    ],
)
def test_holt_winters_checks_its_factors(query: str, message: str) -> None:
    with pytest.raises(ExecutionError, match=message.replace("(", r"\(").replace(".", r"\.")):
        instant([GAUGE], query, 30)


def test_range_functions_drop_the_metric_name_but_last_over_time_keeps_it() -> None:
    assert instant([GAUGE], "max_over_time(g[30s])", 30).samples[0].labels == {}  # type: ignore[union-attr]
    assert instant([GAUGE], "last_over_time(g[30s])", 30).samples[0].labels == {"__name__": "g"}  # type: ignore[union-attr]
