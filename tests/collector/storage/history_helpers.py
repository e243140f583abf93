"""Building scrape results and a migrated pool for the history tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from collector.result import ScrapeResult, SeriesKey, TargetInfo, server_id_for
from collector.storage.history import StatsValues
from collector.storage.migrate import migrate

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
"""A fixed hour start that tests write around."""
T0_MS = int(T0.timestamp() * 1000)


def target(i: int, job: str = "node") -> TargetInfo:
    """The i-th test target."""
    instance = f"host-{i}.example:9100"
    labels = (("instance", instance), ("job", job))
    return TargetInfo(
        f"t{i}", server_id_for(job, instance), job, instance, labels, f"http://{instance}/metrics", 15, 10
    )


def series_for(t: TargetInfo, n: int) -> tuple[SeriesKey, ...]:
    """``n`` series of target ``t``: a cpu counter per mode, then generic gauges."""
    keys: list[SeriesKey] = [("up", t.labels)]
    for j in range(1, n):
        keys.append(("node_cpu_seconds_total", (("cpu", str(j)), *t.labels, ("mode", "idle"))))
    return tuple(keys)


def result(
    t: TargetInfo, ts_ms: int, values: Sequence[float], series: tuple[SeriesKey, ...] | None = None
) -> ScrapeResult:
    """A successful scrape of ``t`` at ``ts_ms`` with these values."""
    keys = series if series is not None else series_for(t, len(values))
    return ScrapeResult(
        target=t,
        timestamp_ms=ts_ms,
        duration_s=0.01,
        error=None,
        error_reason=None,
        series=keys,
        series_set_id=f"set-{hash(keys)}",
        values=list(values),
    )


def stats(cpu: float) -> StatsValues:
    """Summary values with this cpu usage."""
    return StatsValues(cpu=cpu, memory=50.0, disk=25.0, network_rx=1000.0, network_tx=500.0)


@asynccontextmanager
async def migrated_pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A small pool on ``dsn`` after applying every migration."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        yield pool
    finally:
        await pool.close()


async def write_hours(
    pool: asyncpg.Pool,
    targets: Sequence[TargetInfo],
    start_ms: int,
    hours: float,
    n_series: int = 20,
    interval_ms: int = 15_000,
) -> int:
    """Write ``hours`` of scrapes of ``targets`` (counters, gauges, some NaN); returns the row count."""
    from collector.storage.history import (  # noqa: PLC0415
        HistoryBatch,
        HistoryStore,
        SetDigests,
        batch_from_results,
    )

    results = []
    steps = int(hours * 3_600_000 // interval_ms)
    for i, t in enumerate(targets):
        keys = series_for(t, n_series)
        for k in range(steps):
            values = [1.0] + [
                float(1000 * j + 7 * k)
                if j % 3 == 0
                else round(j + (k * 37 % 11) / 10, 2)
                if j % 3 == 1
                else (k * 0.37 + i) % 1.0
                if k % 50
                else float("nan")
                for j in range(1, n_series)
            ]
            results.append(result(t, start_ms + k * interval_ms, values, keys))
    store = HistoryStore()
    digests = SetDigests()
    waves: dict[int, list[ScrapeResult]] = {}
    for r in results:
        waves.setdefault(r.timestamp_ms, []).append(r)
    batch = HistoryBatch()
    for ts, wave in sorted(waves.items()):
        summaries = {r.target.server_id: stats(float(ts // interval_ms % 7)) for r in wave}
        batch.extend(batch_from_results(wave, summaries, digests))
    async with pool.acquire() as conn:
        await store.write(conn, batch)
    return len(results)


async def write_results(pool: asyncpg.Pool, results: Sequence[ScrapeResult]) -> None:
    """Write ``results`` through the history write path as one batch (without summaries)."""
    from collector.storage.history import (  # noqa: PLC0415
        HistoryBatch,
        HistoryStore,
        SetDigests,
        batch_from_results,
    )

    batch = HistoryBatch()
    digests = SetDigests()
    for r in results:
        batch.extend(batch_from_results([r], {}, digests))
    async with pool.acquire() as conn:
        await HistoryStore().write(conn, batch)
