"""``openmanager import FILE``: an OpenMetrics file with timestamps written into history.

Like ``promtool tsdb create-blocks-from openmetrics``: every sample must carry its timestamp, and the
samples land in history as if they had been scraped then. They take the history write path of the
storage pipeline: the samples of one server (``job`` and ``instance`` labels, or a server registered
with that address, as for remote write: :mod:`~collector.ingest.targets`) at one timestamp make one
scrape result, the results become :class:`~collector.storage.history.HistoryBatch` rows with their
``server_stats`` summaries, and :class:`~collector.storage.history.HistoryStore` writes them, idempotently
(importing a file twice writes its rows once; a row that exists keeps its values). Rows older than the
compaction watermark are marked for maintenance to compact again.

Live state and the alert engine are left alone: old samples say nothing about now. The file is read
whole into memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from collector.ingest.assembler import scrape_result
from collector.ingest.series import series_key_of
from collector.ingest.targets import RegisteredAddress, pushed_target, registered_addresses
from collector.result import ScrapeResult, SeriesKey, TargetInfo
from collector.scrape.loop import series_set_id
from collector.scrape.parser import ParseResult, parse_format
from collector.storage.history import HistoryBatch, HistoryStore, SetDigests, batch_from_results
from collector.summary import ServerSummary, Summarizer

ROWS_PER_BATCH = 500
"""Scrape rows written per transaction."""


class BackfillError(ValueError):
    """The file cannot be imported; the message says why (with its line when the parser found it)."""


@dataclass(frozen=True)
class BackfillReport:
    """What an import wrote."""

    samples: int
    rows: int
    servers: int
    first_ms: int
    last_ms: int


def results_from_openmetrics(
    payload: bytes, registered: Mapping[str, RegisteredAddress] | None = None
) -> list[ScrapeResult]:
    """The scrape results of an OpenMetrics file: one per server and timestamp, in timestamp order."""
    try:
        parsed: ParseResult = parse_format(payload, "openmetrics")
    except ValueError as exc:
        raise BackfillError(f"not a valid OpenMetrics file: {exc}") from None
    targets: dict[tuple[str, str], TargetInfo] = {}
    groups: dict[tuple[int, tuple[str, str]], dict[SeriesKey, float]] = {}
    for number, sample in enumerate(parsed.samples, start=1):
        if sample.timestamp_ms is None:
            raise BackfillError(
                f"sample {number} ({sample.name}) has no timestamp: every sample of an import needs one"
            )
        series = series_key_of([("__name__", sample.name), *sample.labels])
        if series is None:
            raise BackfillError(f"sample {number} ({sample.name}) has invalid labels")
        labels = dict(series[1])
        server = (labels.get("job", ""), labels.get("instance", ""))
        if server not in targets:
            targets[server] = pushed_target(*server, registered or {})
        groups.setdefault((sample.timestamp_ms, server), {})[series] = sample.value
    results = []
    for (ts_ms, server), samples in sorted(groups.items()):
        keys = tuple(sorted(samples))
        values = [samples[k] for k in keys]
        results.append(scrape_result(targets[server], ts_ms, keys, series_set_id(keys), values))
    return results


def _waves(results: Sequence[ScrapeResult]) -> Iterator[list[ScrapeResult]]:
    """Consecutive parts in which no server appears twice: each scrape gets its own summary."""
    wave: list[ScrapeResult] = []
    seen: set[UUID] = set()
    for result in results:
        if result.target.server_id in seen:
            yield wave
            wave, seen = [], set()
        wave.append(result)
        seen.add(result.target.server_id)
    if wave:
        yield wave


def history_batches(results: Sequence[ScrapeResult]) -> Iterator[HistoryBatch]:
    """The history batches of ``results`` (in timestamp order), with their ``server_stats`` summaries."""
    summarizer = Summarizer()
    digests = SetDigests()
    batch = HistoryBatch()
    for wave in _waves(results):
        summaries = summarizer.summarize(wave)
        stats: dict[UUID, ServerSummary] = {
            r.target.server_id: summaries[r.target.identity] for r in wave if r.target.identity in summaries
        }
        batch.extend(batch_from_results(wave, stats, digests))
        if len(batch.rows) >= ROWS_PER_BATCH:
            yield batch
            batch = HistoryBatch()
    if batch.rows:
        yield batch


async def backfill(pool: asyncpg.Pool, payload: bytes, *, step_timeout_s: float = 60.0) -> BackfillReport:
    """Import an OpenMetrics file into history; raises :class:`BackfillError` for an invalid file and
    :class:`~collector.storage.errors.StoreUnavailable` when PostgreSQL fails."""
    registered = await registered_addresses(pool)
    results = await asyncio.to_thread(results_from_openmetrics, payload, registered)
    if not results:
        raise BackfillError("the file has no samples")
    store = HistoryStore()
    rows = 0
    async with pool.acquire() as conn:
        for batch in history_batches(results):
            outcome = await store.write(conn, batch, step_timeout_s=step_timeout_s)
            rows += outcome.rows_written
    return BackfillReport(
        samples=sum(len(r.values) for r in results),
        rows=rows,
        servers=len({r.target.server_id for r in results}),
        first_ms=results[0].timestamp_ms,
        last_ms=results[-1].timestamp_ms,
    )
