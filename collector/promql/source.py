"""Where the engine reads series: a `SeriesSource`, and `MemorySource`, the in-memory one.

The engine asks once per query, before evaluating, for the samples of each distinct selector (`Selection`):
every series its matchers select with timestamps in ``[start_ms, end_ms]``. A storage-backed source (raw
rows, chunks and rollups in PostgreSQL, the live window in Redis) answers the same call, and may read all
selections together; `SelectHints` tells it how the data will be used (the step of a range query, the range
and function of a range vector) so it can choose what to read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from collector.matchers import Matcher, matches_all
from collector.promql.types import Series


@dataclass(frozen=True)
class SelectHints:
    """How a selection will be used: the query's step, and for a range vector its range and function."""

    step_ms: int = 0
    range_ms: int = 0
    func: str | None = None


@dataclass(frozen=True)
class Selection:
    """One read of a query: the matchers of a selector, the range its evaluation needs, and hints."""

    matchers: Sequence[Matcher]
    start_ms: int
    end_ms: int
    hints: SelectHints | None = None


class SeriesSource(Protocol):
    """Reads series for the engine."""

    async def select(
        self,
        matchers: Sequence[Matcher],
        start_ms: int,
        end_ms: int,
        hints: SelectHints | None = None,
    ) -> list[Series]:
        """Every series all ``matchers`` select, with its samples in ``[start_ms, end_ms]`` in time order.

        Staleness markers are kept (the NaN with bit pattern ``STALE_NAN_BITS``); series without a
        sample in the range are left out.
        """
        ...

    async def select_many(self, selections: Sequence[Selection]) -> list[list[Series]]:
        """`select` of each selection, in order: a source may read them together."""
        ...


class MemorySource:
    """Series held in memory, for tests and for data a caller already has."""

    def __init__(self, series: Iterable[Series] = ()) -> None:
        self._series: list[Series] = []
        for item in series:
            self.add(item)

    def add(self, series: Series) -> None:
        """Keep ``series`` (its samples sorted by time)."""
        order = np.argsort(series.ts, kind="stable")
        ts = np.asarray(series.ts, dtype=np.int64)[order]
        values = np.asarray(series.values, dtype=np.float64)[order]
        self._series.append(Series(dict(series.labels), ts, values))

    async def select_many(self, selections: Sequence[Selection]) -> list[list[Series]]:
        """See `SeriesSource.select_many`: each selection through `select`, concurrently."""
        reads = (self.select(s.matchers, s.start_ms, s.end_ms, s.hints) for s in selections)
        return list(await asyncio.gather(*reads))

    async def select(
        self,
        matchers: Sequence[Matcher],
        start_ms: int,
        end_ms: int,
        hints: SelectHints | None = None,
    ) -> list[Series]:
        """See `SeriesSource.select`."""
        selected = []
        for series in self._series:
            if not matches_all(matchers, series.labels):
                continue
            lo = int(np.searchsorted(series.ts, start_ms, side="left"))
            hi = int(np.searchsorted(series.ts, end_ms, side="right"))
            if hi > lo:
                selected.append(Series(series.labels, series.ts[lo:hi], series.values[lo:hi]))
        return selected
