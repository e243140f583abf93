"""Compaction of a target-hour: the chunk returns every sample, the rollups every bucket."""

from __future__ import annotations

import math

from collector.storage.compaction import (
    ROLLUP_5M_MS,
    StoredMatrix,
    compact_hour,
    decode_chunk_column,
    decode_rolled,
    read_timestamps,
    rollup_hours,
)
from collector.storage.rollups import bucket_points


def hour(start_ms: int, n_series: int = 4) -> tuple[list[int], list[list[float]]]:
    stamps = [start_ms + 15_000 * i for i in range(240)]
    rows = [
        [float(i), 0.5 * j, math.nan if i == 3 else float(i * i), 7.0][:n_series]
        for i, _ in enumerate(stamps)
        for j in [i]
    ]
    return stamps, rows


def test_a_chunk_returns_every_sample_of_every_series() -> None:
    stamps, rows = hour(3_600_000)
    chunk, _ = compact_hour(stamps, rows)
    assert (chunk.n_points, chunk.n_series) == (240, 4)
    assert read_timestamps(chunk.timestamps, 240) == stamps
    for j in range(4):
        column = decode_chunk_column(chunk.column_bytes(j), 240)
        assert [repr(v) for v in column] == [repr(r[j]) for r in rows]


def test_the_5_minute_rollup_holds_the_buckets_of_the_samples() -> None:
    stamps, rows = hour(3_600_000)
    _, rollup = compact_hour(stamps, rows)
    assert rollup.n_points == 12
    starts = read_timestamps(rollup.timestamps, 12)
    assert starts == [3_600_000 + ROLLUP_5M_MS * i for i in range(12)]
    for j in range(4):
        expected = bucket_points(((t, r[j]) for t, r in zip(stamps, rows, strict=True)), ROLLUP_5M_MS)
        assert decode_rolled(rollup.column_bytes(j), 12).buckets() == [expected[s] for s in starts]


def test_hourly_rollups_of_a_day_merge_each_hour() -> None:
    stored = []
    for h in range(3):
        stamps, rows = hour(h * 3_600_000)
        stored.append(StoredMatrix(h * 3_600_000, compact_hour(stamps, rows)[1]))
    day = rollup_hours(list(reversed(stored)))
    assert read_timestamps(day.timestamps, day.n_points) == [0, 3_600_000, 7_200_000]
    buckets = decode_rolled(day.column_bytes(0), 3).buckets()
    assert [(b.min, b.max, b.count) for b in buckets if b] == [(0.0, 239.0, 240)] * 3
