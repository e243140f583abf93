"""The PromQL engine's `SeriesSource` over the stored history, with the live layer for the latest scrapes.

`StorageSource` answers the engine's selections from PostgreSQL (:mod:`collector.storage.samples_read`:
exact samples from raw rows and chunks, staleness markers where a series left its target's scrapes) and
adds, for each server, the scrape the live layer holds (``target:{identity}:latest`` in Redis) when the
PostgreSQL write path has not stored it yet. The live value is the same scrape the history will hold: a
query's answer does not change when the row lands. Nothing is copied: both stores are read as they are.

A source is made per request: it reads only the series of the servers the caller may see (``servers``,
None for all), and it counts the samples it loads against the query's budget. ``raw_cache`` is the stores'
cache of raw-row columns (:attr:`collector.storage.connections.Stores.raw_cache`; None reads every row).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import numpy as np
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from collector.matchers import Matcher
from collector.promql.errors import TooManySamplesError, UnavailableError
from collector.promql.source import SelectHints, Selection
from collector.promql.types import Series, is_stale, label_key, stale_array
from collector.result import SeriesKey
from collector.storage import keys, samples_read
from collector.storage.live_codec import decode_latest, decode_series_set
from collector.storage.live_read import parse_status
from collector.storage.raw_cache import RawCache
from collector.storage.sample_rows import SampleLimitError
from collector.storage.samples_read import SampleRead, read_samples_many
from collector.storage.series_select import SelectedSeries

log = structlog.get_logger(__name__)

LIVE_WINDOW_MS = 3_600_000
"""Ranges that ended longer ago are not looked up in the live layer: it holds only the latest scrape."""

UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
"""Failures that say PostgreSQL is away or overloaded (the query is fine): answered as ``unavailable``."""


@dataclass(frozen=True, slots=True)
class LiveScrape:
    """A server's latest scrape as the live layer holds it: its time and its values by series."""

    timestamp_ms: int
    values: dict[SeriesKey, float]


def series_key(item: SelectedSeries) -> SeriesKey:
    """The scrape engine's key of a stored series (labels sorted by name)."""
    return item.metric, tuple(sorted(item.labels.items()))


class StorageSource:
    """Reads series for the engine from the PostgreSQL history and the Redis live layer."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis | None,
        *,
        servers: Collection[UUID] | None = None,
        max_samples: int = 50_000_000,
        clock: Callable[[], float] = time.time,
        raw_cache: RawCache | None = None,
    ) -> None:
        self.pool = pool
        self.raw_cache = raw_cache
        self.redis = redis
        self.servers = None if servers is None else frozenset(servers)
        self.max_samples = max_samples
        self.clock = clock
        self.loaded = 0
        self.warnings: list[str] = []

    async def select(
        self,
        matchers: Sequence[Matcher],
        start_ms: int,
        end_ms: int,
        hints: SelectHints | None = None,
    ) -> list[Series]:
        """See `collector.promql.source.SeriesSource.select`."""
        (found,) = await self.select_many([Selection(matchers, start_ms, end_ms, hints)])
        return found

    async def select_many(self, selections: Sequence[Selection]) -> list[list[Series]]:
        """See `collector.promql.source.SeriesSource.select_many`: one connection, three statements."""
        try:
            reads = await read_samples_many(
                self.pool,
                [samples_read.Selection(s.matchers, s.start_ms, s.end_ms) for s in selections],
                servers=self.servers,
                max_samples=max(0, self.max_samples - self.loaded),
                raw_cache=self.raw_cache,
            )
        except SampleLimitError:
            raise TooManySamplesError("query execution") from None
        except UNAVAILABLE_ERRORS as exc:
            log.warning("history not readable for a query", error=f"{type(exc).__name__}: {exc}")
            raise UnavailableError("the history store (PostgreSQL) is not available") from None
        pairs = zip(reads, selections, strict=True)
        return [await self._with_live(read, s.start_ms, s.end_ms) for read, s in pairs]

    async def _with_live(self, read: SampleRead, start_ms: int, end_ms: int) -> list[Series]:
        out = {item.series.series_id: (item.ts, item.values) for item in read.series}
        if self.redis is not None and end_ms >= self.clock() * 1000 - LIVE_WINDOW_MS:
            await self._add_live(read, start_ms, end_ms, out)
        found = []
        for item in read.selected:
            samples = out.get(item.series_id)
            if samples is not None and len(samples[0]):
                self.loaded += len(samples[0])
                found.append(Series(item.all_labels(), samples[0], samples[1]))
        if self.loaded > self.max_samples:
            raise TooManySamplesError("query execution")
        # In Prometheus's label order, as its storage yields series: where values tie (topk, bottomk), the
        # first series wins on both sides, whatever order the series were stored in.
        found.sort(key=lambda series: label_key(series.labels))
        return found

    async def _add_live(
        self,
        read: SampleRead,
        start_ms: int,
        end_ms: int,
        out: dict[int, tuple[np.ndarray, np.ndarray]],
    ) -> None:
        servers = sorted({item.server_id for item in read.selected})
        try:
            live = await self._live_scrapes(servers, read.last_scrape_ms, start_ms, end_ms)
        except (RedisError, OSError, ValueError) as exc:
            log.warning("live layer not readable for a query", error=f"{type(exc).__name__}: {exc}")
            self.warnings.append("the live layer (Redis) did not answer: the latest scrapes may be missing")
            return
        for item in read.selected:
            scrape = live.get(item.server_id)
            if scrape is None:
                continue
            ts, values = out.get(item.series_id, (np.empty(0, np.int64), np.empty(0)))
            value = scrape.values.get(series_key(item))
            if value is not None:
                added = np.array([value], dtype=np.float64)
            elif len(ts) and ts[-1] == read.last_scrape_ms.get(item.server_id) and not is_stale(values)[-1]:
                # In the last stored scrape, missing from the live one: gone stale at this scrape.
                added = stale_array(1)
            else:
                continue
            out[item.series_id] = (
                np.append(ts, np.int64(scrape.timestamp_ms)),
                np.concatenate([values, added]),
            )

    async def _live_scrapes(
        self, servers: Sequence[UUID], stored_ms: dict[UUID, int], start_ms: int, end_ms: int
    ) -> dict[UUID, LiveScrape]:
        """The live scrape of each server that is in the range and later than its last stored row."""
        assert self.redis is not None
        if not servers:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for server_id in servers:
            pipe.get(keys.server_status(server_id))
        statuses: list[bytes | None] = await pipe.execute()
        wanted: dict[UUID, str] = {}
        for server_id, raw in zip(servers, statuses, strict=True):
            status = parse_status(str(server_id), raw) if raw is not None else None
            if status is None or status.identity is None or status.last_scrape is None:
                continue
            last_ms = round(status.last_scrape * 1000)
            if start_ms <= last_ms <= end_ms and last_ms > stored_ms.get(server_id, start_ms - 1):
                wanted[server_id] = status.identity
        if not wanted:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for identity in wanted.values():
            pipe.get(keys.target_latest(identity))
        latest = [decode_latest(raw) if raw is not None else None for raw in await pipe.execute()]
        pipe = self.redis.pipeline(transaction=False)
        for scrape in latest:
            pipe.get(keys.series_set(scrape.series_set_id if scrape is not None else ""))
        sets: list[bytes | None] = await pipe.execute()
        out: dict[UUID, LiveScrape] = {}
        for server_id, scrape, raw_set in zip(wanted, latest, sets, strict=True):
            if scrape is None or raw_set is None:
                continue
            if not start_ms <= scrape.timestamp_ms <= end_ms:
                continue
            if scrape.timestamp_ms <= stored_ms.get(server_id, start_ms - 1):
                continue
            series = decode_series_set(raw_set)
            if len(series) != len(scrape.values):
                continue
            out[server_id] = LiveScrape(scrape.timestamp_ms, dict(zip(series, scrape.values, strict=True)))
        return out
