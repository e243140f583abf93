"""Bucket aggregation: the same numbers from samples and from merged buckets, NaN skipped."""

from __future__ import annotations

import math

import pytest

from collector.storage.rollups import (
    Aggregate,
    Bucket,
    aggregate,
    bucket_of,
    bucket_points,
    merge_columns,
    roll_column,
)


@pytest.mark.parametrize(
    ("ts_ms", "width_ms", "start"),
    [(0, 300_000, 0), (299_999, 300_000, 0), (300_000, 300_000, 300_000), (3_725_000, 3_600_000, 3_600_000)],
)
def test_buckets_start_at_multiples_of_their_width(ts_ms: int, width_ms: int, start: int) -> None:
    assert bucket_of(ts_ms, width_ms) == start


def test_aggregate_skips_nan_and_an_all_nan_bucket_is_empty() -> None:
    assert aggregate([1.0, math.nan, 3.0]) == Bucket(1.0, 3.0, 4.0, 2, 3.0)
    assert aggregate([math.nan]) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [("avg", 2.0), ("min", 1.0), ("max", 3.0), ("sum", 4.0), ("count", 2.0), ("last", 3.0)],
)
def test_bucket_values(name: Aggregate, expected: float) -> None:
    assert Bucket(1.0, 3.0, 4.0, 2, 3.0).value(name) == expected


def test_rolled_columns_give_the_buckets_of_the_points() -> None:
    stamps = [i * 15_000 for i in range(40)]
    values = [float(i % 7) for i in range(40)]
    rolled = roll_column(stamps, values, [0, 300_000], 300_000)
    direct = bucket_points(zip(stamps, values, strict=True), 300_000)
    assert rolled.buckets() == [direct[0], direct[300_000]]
    hourly = bucket_points(zip(stamps, values, strict=True), 3_600_000)
    assert merge_columns([rolled]).buckets() == [hourly[0]]


def test_a_bucket_without_samples_is_kept_as_an_empty_slot() -> None:
    rolled = roll_column([0, 600_000], [1.0, 2.0], [0, 300_000, 600_000], 300_000)
    assert [b is None for b in rolled.buckets()] == [False, True, False]
