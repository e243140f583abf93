"""The PromQL differential data set written into our PostgreSQL history through the collector's write path.

Series that share their scrape times are one target's scrapes (a series set per scrape), the way the
collector stores a scrape; `stale_series()`'s staleness markers become what a real scrape leaves behind: the
scrapes of the marked stretch lack the series (the target keeps scraping ``omdiff_scrape`` meanwhile), so the
read path synthesises the marker, and a series whose last sample is a marker ends with one more scrape
without it. Both ways give the engine the same answers (a marker then silence is a marker at every step).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

from collector.promql.types import Series, is_stale
from collector.result import ScrapeResult, SeriesKey, TargetInfo, server_id_for
from collector.storage.history import HistoryBatch, HistoryStore, SetDigests, batch_from_results
from tests.collector.promql.differential import dataset, stale_series

COMPANION = "omdiff_scrape"
"""A series the staleness targets keep in every scrape; no query of the table selects it."""


def series_key(labels: dict[str, str]) -> SeriesKey:
    """The collector's key of a series: its name and its other labels, sorted."""
    return labels["__name__"], tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


def _target(index: int) -> TargetInfo:
    job, instance = f"omdiff-{index}", f"omdiff-{index}:9100"
    labels = (("instance", instance), ("job", job))
    return TargetInfo(f"omdiff-{index}", server_id_for(job, instance), job, instance, labels, "", 15, 10)


def _scrapes(target: TargetInfo, series: Sequence[Series]) -> list[ScrapeResult]:
    """One target's scrapes: at every time any of ``series`` has a sample, the series that have one there."""
    times = np.unique(np.concatenate([s.ts for s in series]))
    results = []
    for t in times.tolist():
        keys: list[SeriesKey] = []
        values: list[float] = []
        for item in series:
            at = np.searchsorted(item.ts, t)
            if at < len(item.ts) and item.ts[at] == t and not is_stale(item.values[at : at + 1])[0]:
                keys.append(series_key(dict(item.labels)))
                values.append(float(item.values[at]))
        results.append(
            ScrapeResult(
                target=target,
                timestamp_ms=int(t),
                duration_s=0.01,
                error=None,
                error_reason=None,
                series=tuple(keys),
                series_set_id=str(hash(tuple(keys))),
                values=values,
            )
        )
    return results


def _companion(item: Series) -> Series:
    """A series scraped at every time ``item`` has a sample or a marker."""
    labels = {"__name__": COMPANION, "instance": item.labels["instance"]}
    return Series(labels, item.ts, np.ones(len(item.ts)))


def targets_and_series() -> list[list[Series]]:
    """The data set grouped by target: series with the same scrape times and the same instance."""
    groups: dict[tuple[str, str, bytes], list[Series]] = {}
    for item in dataset():
        key = (item.labels.get("job", ""), item.labels.get("instance", ""), item.ts.tobytes())
        groups.setdefault(key, []).append(item)
    out = list(groups.values())
    out.extend([item, _companion(item)] for item in stale_series())
    return out


async def write_dataset(pool: asyncpg.Pool) -> int:
    """Write the whole data set; returns how many scrapes (history rows) it made."""
    batch = HistoryBatch()
    digests = SetDigests()
    rows = 0
    for index, series in enumerate(targets_and_series()):
        for result in _scrapes(_target(index), series):
            batch.extend(batch_from_results([result], {}, digests))
            rows += 1
    async with pool.acquire() as conn:
        await HistoryStore().write(conn, batch)
    return rows
