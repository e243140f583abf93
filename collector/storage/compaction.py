"""Turning one target's raw scrapes of an hour into a compressed chunk and 5-minute rollups (pure functions).

A chunk and a rollup row have the same shape (:class:`EncodedMatrix`): encoded timestamps, and one encoded
column per series of the set, delimited by offsets. In a rollup row, the timestamps are the bucket starts
and a series' column is two streams: its mins, maxs, counts and lasts (values taken from the samples, which
keep the samples' decimal form and compress well), then its sums.

The functions take and return plain data so that maintenance may run them in a thread or another process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.storage.chunks import (
    decode_column,
    decode_streams,
    decode_timestamps,
    encode_column,
    encode_streams,
    encode_timestamps,
)
from collector.storage.rollups import RolledColumns, bucket_of, merge_columns, roll_column

ROLLUP_5M_MS = 300_000
ROLLUP_1H_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class EncodedMatrix:
    """A (points × series) matrix in the stored form of chunk and rollup rows."""

    n_points: int
    n_series: int
    timestamps: bytes
    offsets: list[int]
    payload: bytes

    def column_bytes(self, index: int) -> bytes:
        """The stored bytes of series ``index``."""
        return self.payload[self.offsets[index] : self.offsets[index + 1]]


def _assemble(timestamps_ms: Sequence[int], parts: Sequence[bytes]) -> EncodedMatrix:
    offsets = [0]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    stamps = encode_timestamps(timestamps_ms)
    return EncodedMatrix(len(timestamps_ms), len(parts), stamps, offsets, b"".join(parts))


def encode_rolled(columns: RolledColumns) -> bytes:
    """One series' rollup buckets in their stored form."""
    return encode_streams([columns.mins + columns.maxs + columns.counts + columns.lasts, columns.sums])


def decode_rolled(data: bytes | memoryview, n_buckets: int) -> RolledColumns:
    """The buckets that :func:`encode_rolled` stored."""
    exact, sums = decode_streams(data, [4 * n_buckets, n_buckets])
    n = n_buckets
    return RolledColumns(exact[:n], exact[n : 2 * n], sums, exact[2 * n : 3 * n], exact[3 * n :])


def decode_chunk_column(data: bytes | memoryview, n_points: int) -> list[float]:
    """One series' samples from a chunk row."""
    return decode_column(data, n_points)


def compact_hour(
    timestamps_ms: Sequence[int], rows: Sequence[Sequence[float]]
) -> tuple[EncodedMatrix, EncodedMatrix]:
    """One target's scrapes of one hour with one series set: its chunk and its 5-minute rollup row.

    ``rows[i]`` holds the values of the scrape at ``timestamps_ms[i]``; timestamps ascend.
    """
    columns = list(zip(*rows, strict=True))
    chunk = _assemble(timestamps_ms, [encode_column(c) for c in columns])
    starts = sorted({bucket_of(t, ROLLUP_5M_MS) for t in timestamps_ms})
    rolled = [encode_rolled(roll_column(timestamps_ms, c, starts, ROLLUP_5M_MS)) for c in columns]
    return chunk, _assemble(starts, rolled)


@dataclass(frozen=True, slots=True)
class StoredMatrix:
    """An :class:`EncodedMatrix` as read back, with its row's start."""

    start_ms: int
    matrix: EncodedMatrix


def rollup_hours(hours: Sequence[StoredMatrix]) -> EncodedMatrix:
    """The 1-hour rollup row of one target's day (one series set) from its 5-minute rollup rows.

    Each 5-minute row covers one hour, so all its buckets merge into that hour's bucket.
    """
    hours = sorted(hours, key=lambda h: h.start_ms)
    n_series = hours[0].matrix.n_series
    decoded = [
        [decode_rolled(h.matrix.column_bytes(j), h.matrix.n_points) for j in range(n_series)] for h in hours
    ]
    parts = []
    for j in range(n_series):
        merged = [merge_columns([hour[j]]) for hour in decoded]
        parts.append(
            encode_rolled(
                RolledColumns(
                    [m.mins[0] for m in merged],
                    [m.maxs[0] for m in merged],
                    [m.sums[0] for m in merged],
                    [m.counts[0] for m in merged],
                    [m.lasts[0] for m in merged],
                )
            )
        )
    return _assemble([bucket_of(h.start_ms, ROLLUP_1H_MS) for h in hours], parts)


def read_timestamps(matrix_timestamps: bytes | memoryview, n_points: int) -> list[int]:
    """The timestamps (or bucket starts) of a stored matrix."""
    return decode_timestamps(matrix_timestamps, n_points)
