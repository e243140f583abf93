"""Aggregating samples into time buckets: min, max, sum, count and last, skipping NaN.

The same functions build the stored rollups and bucket points at read time, so a read over raw samples and a
read over rollups of the same samples agree exactly. Buckets start at multiples of their width since the
Unix epoch; sums make averages of any multiple of a bucket exact to rounding (sum of sums / sum of counts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Aggregate = Literal["avg", "min", "max", "sum", "count", "last"]


@dataclass(slots=True)
class Bucket:
    """The aggregates of the samples of one series in one time bucket."""

    min: float
    max: float
    sum: float
    count: int
    last: float

    def value(self, aggregate: Aggregate) -> float:
        """One aggregate; ``avg`` is ``sum / count``."""
        if aggregate == "avg":
            return self.sum / self.count
        if aggregate == "count":
            return float(self.count)
        result: float = getattr(self, aggregate)
        return result

    def merge(self, other: Bucket) -> None:
        """Fold a later bucket into this one."""
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.sum += other.sum
        self.count += other.count
        self.last = other.last


def bucket_of(ts_ms: int, width_ms: int) -> int:
    """The start of the bucket of width ``width_ms`` holding ``ts_ms``."""
    return ts_ms - ts_ms % width_ms


def aggregate(values: Sequence[float]) -> Bucket | None:
    """The aggregates of ``values`` without their NaNs; None when nothing is left."""
    if any(map(math.isnan, values)):
        values = [v for v in values if not math.isnan(v)]
    if not values:
        return None
    return Bucket(min(values), max(values), math.fsum(values), len(values), values[-1])


def bucket_points(points: Iterable[tuple[int, float]], width_ms: int) -> dict[int, Bucket]:
    """Time-ordered ``(ts_ms, value)`` points aggregated per bucket start."""
    grouped: dict[int, list[float]] = {}
    for ts, value in points:
        grouped.setdefault(bucket_of(ts, width_ms), []).append(value)
    out = {}
    for start, values in grouped.items():
        bucket = aggregate(values)
        if bucket is not None:
            out[start] = bucket
    return out


@dataclass(frozen=True, slots=True)
class RolledColumns:
    """One series' buckets as columns, in bucket order: what a rollup row stores per series."""

    mins: list[float]
    maxs: list[float]
    sums: list[float]
    counts: list[float]
    lasts: list[float]

    def buckets(self) -> list[Bucket | None]:
        """Back to buckets; a bucket with count 0 (only NaN samples) is None."""
        return [
            Bucket(mn, mx, s, int(c), la) if c else None
            for mn, mx, s, c, la in zip(self.mins, self.maxs, self.sums, self.counts, self.lasts, strict=True)
        ]


def roll_column(
    timestamps_ms: Sequence[int], values: Sequence[float], starts: Sequence[int], width_ms: int
) -> RolledColumns:
    """Aggregate one series into the buckets ``starts`` (each of width ``width_ms``), timestamps ascending."""
    columns = RolledColumns([], [], [], [], [])
    i = 0
    n = len(timestamps_ms)
    for start in starts:
        j = i
        end = start + width_ms
        while j < n and timestamps_ms[j] < end:
            j += 1
        bucket = aggregate(values[i:j])
        i = j
        if bucket is None:
            columns.mins.append(math.nan)
            columns.maxs.append(math.nan)
            columns.sums.append(0.0)
            columns.counts.append(0.0)
            columns.lasts.append(math.nan)
        else:
            columns.mins.append(bucket.min)
            columns.maxs.append(bucket.max)
            columns.sums.append(bucket.sum)
            columns.counts.append(float(bucket.count))
            columns.lasts.append(bucket.last)
    return columns


def merge_columns(parts: Sequence[RolledColumns]) -> RolledColumns:
    """Several rolled columns of consecutive buckets, merged into one bucket each (for coarser rollups)."""
    merged: Bucket | None = None
    for part in parts:
        for bucket in part.buckets():
            if bucket is None:
                continue
            if merged is None:
                merged = Bucket(bucket.min, bucket.max, bucket.sum, bucket.count, bucket.last)
            else:
                merged.merge(bucket)
    if merged is None:
        return RolledColumns([math.nan], [math.nan], [0.0], [0.0], [math.nan])
    return RolledColumns([merged.min], [merged.max], [merged.sum], [float(merged.count)], [merged.last])
