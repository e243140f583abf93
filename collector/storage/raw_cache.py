"""Selected columns of raw rows kept for the next queries: a bounded LRU keyed by series set and column runs.

A raw row (one scrape of a target, ``history_raw``) is written once and never changed: the writer inserts
with ``ON CONFLICT DO NOTHING``, and rows leave only with their partition. So the values a query took from a
row's columns are the values the next query would take. Reading them again is what a dashboard's short
ranges mostly cost: each row's bytes are compressed, and PostgreSQL decompresses a row to cut a few values
out of it, for every row of the last hours on every refresh.

An entry is keyed by the series set and the runs of positions read from it (the same runs cut the same
bytes), and holds the times of the rows read and their columns. :mod:`collector.storage.sample_rows` sends
the stretch of time an entry holds (its first and last time); the statement leaves the set's rows in that
stretch out and counts them instead, returns the other rows whole, and the two are put together here. A row
written late into a held stretch (a replayed spool, a remote-write backfill) makes the count differ from
the entry's: the entry is dropped (:meth:`RawCache.forget`) and the set's rows are read again.

A cache belongs to one database: :class:`collector.storage.connections.Stores` holds one, and the query
sources of the API, the chat and MCP pass it down (set ids of two databases mean different sets). Reads run
on the event loop, so no locking is needed; an entry is replaced whole, never changed, so a read that took
one before its statement assembles with exactly the rows it said it held.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
RunsKey = tuple[tuple[int, int], ...]
"""The (first, last) positions of each run read from a set's rows."""
Key = tuple[int, RunsKey]
"""(series set id, its runs)."""

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""What the cache holds at most: the bytes of the times and values of its entries."""


@dataclass(frozen=True, slots=True)
class RawColumns:
    """Rows of one series set: their times (sorted, unique, ms) and their selected columns, a row per time."""

    ts: Ints
    matrix: Floats

    @property
    def nbytes(self) -> int:
        return int(self.ts.nbytes + self.matrix.nbytes)


class RawCache:
    """The selected columns of raw rows by (set, runs), least recently used evicted first."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.hits = 0
        """Rows whose columns came from an entry."""
        self.misses = 0
        """Rows whose columns were read."""
        self._entries: OrderedDict[Key, RawColumns] = OrderedDict()

    def get(self, key: Key) -> RawColumns | None:
        """The entry of ``key``: the rows a read of it took last, with their columns (None when none)."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def assemble(
        self, key: Key, entry: RawColumns | None, ts: Ints, new_ts: Ints, new_matrix: Floats
    ) -> RawColumns:
        """The rows at ``ts``: those at ``new_ts`` from ``new_matrix`` (read now), the others from ``entry``
        (what :meth:`get` gave before the read, whose times the read left out). Times come out sorted and
        unique (a row may be read twice where the tiers of a range meet). Remembered as the entry of ``key``.
        """
        ts, first = np.unique(ts), np.unique(new_ts, return_index=True)
        new_ts, new_matrix = first[0], new_matrix[first[1]]
        matrix = np.empty((len(ts), new_matrix.shape[1]), dtype=np.float64)
        fresh = np.isin(ts, new_ts, assume_unique=True)
        self.misses += int(fresh.sum())
        self.hits += len(ts) - int(fresh.sum())
        matrix[fresh] = new_matrix[np.searchsorted(new_ts, ts[fresh])]
        if not bool(fresh.all()):
            # Every time not read now was sent as held: it is in the entry.
            assert entry is not None and entry.matrix.shape[1] == new_matrix.shape[1]
            matrix[~fresh] = entry.matrix[np.searchsorted(entry.ts, ts[~fresh])]
        columns = RawColumns(ts, matrix)
        self._keep(key, columns)
        return columns

    def forget(self, key: Key) -> None:
        """Drop the entry of ``key``, if any."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.held -= old.nbytes

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self.held = 0

    def _keep(self, key: Key, columns: RawColumns) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.held -= old.nbytes
        if columns.nbytes > self.max_bytes:
            return
        columns.ts.flags.writeable = False
        columns.matrix.flags.writeable = False
        self._entries[key] = columns
        self.held += columns.nbytes
        while self.held > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.held -= evicted.nbytes
