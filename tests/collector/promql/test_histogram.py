"""histogram_quantile over classic bucket series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from collector.promql.histogram import bucket_quantile, parse_bound
from tests.collector.promql.helpers import instant, series, vector_values

BOUNDS = np.array([1.0, 2.0, 4.0, np.inf])
COUNTS = np.array([[10.0], [20.0], [40.0], [40.0]])


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.25, 1.0),  # rank 10 lands at the top of the first bucket
        (0.5, 2.0),
        (0.75, 3.0),  # halfway through (2, 4]
        (1.0, 4.0),  # the +Inf bucket answers the highest finite bound
        (-0.1, -math.inf),
        (1.1, math.inf),
    ],
)
def test_bucket_quantile_interpolates_linearly(q: float, expected: float) -> None:
    assert bucket_quantile(np.array([q]), BOUNDS, COUNTS)[0] == pytest.approx(expected)


def test_without_an_inf_bucket_or_observations_it_is_nan() -> None:
    assert math.isnan(bucket_quantile(np.array([0.5]), BOUNDS[:3], COUNTS[:3])[0])
    assert math.isnan(bucket_quantile(np.array([0.5]), BOUNDS, np.zeros((4, 1)))[0])


def test_non_monotonic_buckets_are_made_monotonic() -> None:
    counts = np.array([[10.0], [5.0], [40.0], [40.0]])
    assert bucket_quantile(np.array([0.25]), BOUNDS, counts)[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "bound"), [("0.5", 0.5), ("+Inf", math.inf), ("1e3", 1000.0), ("1_0", None), (None, None)]
)
def test_le_is_read_as_go_parses_floats(text: str | None, bound: float | None) -> None:
    assert parse_bound(text) == bound


def test_histogram_quantile_groups_buckets_by_their_other_labels() -> None:
    data = [
        series({"__name__": "h_bucket", "job": job, "le": le}, [(0, count * scale)])
        for job, scale in (("a", 1), ("b", 2))
        for le, count in (("1", 10), ("2", 20), ("4", 40), ("+Inf", 40))
    ]
    result = vector_values(instant(data, "histogram_quantile(0.75, h_bucket)", 0))
    assert result == {(("job", "a"),): pytest.approx(3.0), (("job", "b"),): pytest.approx(3.0)}
