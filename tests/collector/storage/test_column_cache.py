"""The decoded-column cache: the decoder's arrays, kept by their stored bytes, bounded, never changed."""

from __future__ import annotations

import numpy as np
import pytest

from collector.storage.chunk_arrays import decode_column_array, decode_timestamps_array
from collector.storage.chunks import encode_column, encode_timestamps
from collector.storage.column_cache import ColumnCache


def column(seed: int, n: int = 100) -> tuple[bytes, list[float]]:
    values = [round(seed + i * 0.25, 2) for i in range(n)]
    return encode_column(values), values


def test_a_column_is_decoded_once_and_then_answered_from_the_cache() -> None:
    cache = ColumnCache()
    data, values = column(1)
    first = cache.values(data, len(values))
    again = cache.values(bytes(bytearray(data)), len(values))  # equal bytes, another object
    assert again is first
    assert (cache.hits, cache.misses) == (1, 1)
    assert first.tolist() == decode_column_array(data, len(values)).tolist() == values


def test_timestamps_and_values_of_the_same_bytes_are_kept_apart() -> None:
    cache = ColumnCache()
    data = encode_timestamps([1_000, 16_000, 31_000])
    stamps = cache.timestamps(data, 3)
    values = cache.values(data, 3)
    assert stamps.dtype == np.int64
    assert values.dtype == np.float64
    assert stamps.tolist() == decode_timestamps_array(data, 3).tolist() == [1_000, 16_000, 31_000]


def test_cached_arrays_cannot_be_changed_by_a_reader() -> None:
    cache = ColumnCache()
    data, values = column(2)
    array = cache.values(data, len(values))
    with pytest.raises(ValueError, match="read-only"):
        array[0] = 42.0


def test_the_least_recently_used_columns_go_first_past_the_bound() -> None:
    data = [column(seed) for seed in range(3)]
    one_entry = len(data[0][0]) + 8 * 100
    cache = ColumnCache(max_bytes=2 * one_entry + one_entry // 2)
    cache.values(data[0][0], 100)
    cache.values(data[1][0], 100)
    cache.values(data[0][0], 100)  # the first is now the most recently used
    cache.values(data[2][0], 100)  # evicts the second
    assert cache.held <= cache.max_bytes
    cache.values(data[0][0], 100)
    cache.values(data[1][0], 100)
    assert (cache.hits, cache.misses) == (2, 4)


def test_a_column_larger_than_the_whole_cache_is_decoded_but_not_kept() -> None:
    cache = ColumnCache(max_bytes=10)
    data, values = column(3)
    assert cache.values(data, len(values)).tolist() == values
    assert cache.held == 0
