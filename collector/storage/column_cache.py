"""Decoded chunk columns kept for the next queries: a bounded LRU keyed by the column's stored bytes.

Dashboards ask the same ranges again and again (every refresh, every panel over the same host), and decoding
a compacted column (:mod:`collector.storage.chunk_arrays`) is most of the CPU a query over compacted hours
spends. The key is the stored bytes themselves (with the sample count), so an entry can never be stale: a
chunk row rewritten by maintenance has other bytes and so another key, and the old entry just ages out.
Entries are read-only arrays, so no reader can change what the next one gets.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from numpy.typing import NDArray

from collector.storage.chunk_arrays import decode_column_array, decode_columns, decode_timestamps_array

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""What the cache holds at most: stored bytes of the keys plus decoded bytes of the arrays."""


class ColumnCache:
    """Decoded columns and timestamp columns by their stored bytes, least recently used evicted first."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[bool, int, bytes], np.ndarray] = OrderedDict()

    def values(self, data: bytes, count: int) -> NDArray[np.float64]:
        """The ``count`` values stored as ``data`` (see `decode_column_array`), read-only."""
        found: NDArray[np.float64] = self._get((False, count, data))
        return found

    def values_many(self, columns: list[tuple[bytes, int]]) -> list[NDArray[np.float64]]:
        """`values` of each (data, count); the columns not held are decoded together (`decode_columns`)."""
        out: list[NDArray[np.float64] | None] = []
        missing: list[int] = []
        for data, count in columns:
            key = (False, count, data)
            array = self._entries.get(key)
            if array is None:
                missing.append(len(out))
            else:
                self._entries.move_to_end(key)
            out.append(array)
        self.hits += len(columns) - len(missing)
        self.misses += len(missing)
        decoded = decode_columns([columns[i] for i in missing])
        for i, array in zip(missing, decoded, strict=True):
            data, count = columns[i]
            out[i] = self._keep((False, count, data), array)
        return [array for array in out if array is not None]

    def timestamps(self, data: bytes, count: int) -> NDArray[np.int64]:
        """The ``count`` timestamps stored as ``data`` (see `decode_timestamps_array`), read-only."""
        found: NDArray[np.int64] = self._get((True, count, data))
        return found

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self.held = 0

    def _get(self, key: tuple[bool, int, bytes]) -> np.ndarray:
        array = self._entries.get(key)
        if array is not None:
            self.hits += 1
            self._entries.move_to_end(key)
            return array
        self.misses += 1
        stamps, count, data = key
        return self._keep(
            key, decode_timestamps_array(data, count) if stamps else decode_column_array(data, count)
        )

    def _keep(self, key: tuple[bool, int, bytes], array: np.ndarray) -> np.ndarray:
        held = self._entries.get(key)
        if held is not None:  # the same bytes twice in one batch
            return held
        array.flags.writeable = False
        data = key[2]
        size = len(data) + array.nbytes
        if size > self.max_bytes:
            return array
        self._entries[key] = array
        self.held += size
        while self.held > self.max_bytes:
            (_, _, old), evicted = self._entries.popitem(last=False)
            self.held -= len(old) + evicted.nbytes
        return array


COLUMNS = ColumnCache()
"""The process's cache, shared by every query (reads run on the event loop: no locking needed)."""
