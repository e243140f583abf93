"""Writing scrapes to PostgreSQL: servers, series and series sets, the raw history rows and ``server_stats``.

A batch is written in one transaction:

1. targets seen for the first time in this process get their ``servers`` row (created as
   :mod:`~collector.storage.server_rows` makes it, or matched by id) and a fresh ``last_check``/``status``;
   known ids are kept in memory, so steady state costs nothing;
2. series sets seen for the first time get their ``series`` and ``series_sets`` rows
   (:mod:`~collector.storage.series_sets`); afterwards a set is one bigint, looked up in memory by its digest;
3. one ``history_raw`` row per scrape (its values packed by :mod:`~collector.storage.raw_codec`) and one
   ``server_stats`` row per server are copied in with COPY;
4. rows older than the compaction watermark are listed in ``history_dirty`` so maintenance compacts their
   hour again.

Idempotency: ``history_raw`` and ``server_stats`` are unique on (server, time). A batch is first copied
straight into the tables; if any of its rows is already there (a replay of a batch whose commit was not
acknowledged), it is copied again into a temporary staging table and inserted with ``ON CONFLICT DO
NOTHING``. Replaying a batch twice therefore writes its rows once, with no bookkeeping of what was replayed.

The watermark check runs after the rows are inserted and reads the watermark ``FOR SHARE``: maintenance
advances the watermark (``UPDATE``) before it reads an hour's rows, so either it sees this batch's rows or
this batch sees the new watermark and marks the hour dirty.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

import asyncpg
import structlog

from collector.result import ScrapeResult
from collector.storage.errors import StoreUnavailable
from collector.storage.partitions import Connection
from collector.storage.raw_codec import pack_values
from collector.storage.series_sets import (
    SETS_PER_TRANSACTION,
    SeriesSetDef,
    register_sets,
    series_set_digest,
)
from collector.storage.server_rows import TargetRow, ensure_server_rows

log = structlog.get_logger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.LockNotAvailableError,
)
"""Failures that say PostgreSQL is unreachable or busy, not that the batch is wrong: retry later."""


def ms_to_datetime(ms: int) -> datetime:
    """Unix milliseconds as an aware UTC datetime, exactly."""
    return EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(when: datetime) -> int:
    """An aware datetime as Unix milliseconds."""
    return (when - EPOCH) // timedelta(milliseconds=1)


class ServerStatsSource(Protocol):
    """A server's summary of one scrape (``collector.summary.ServerSummary`` fits): percentages
    for cpu, memory and disk, bytes per second for network; None when not known."""

    @property
    def cpu(self) -> float | None: ...
    @property
    def memory(self) -> float | None: ...
    @property
    def disk(self) -> float | None: ...
    @property
    def network_rx(self) -> float | None: ...
    @property
    def network_tx(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class StatsValues:
    """The values of a ``server_stats`` row (cpu_usage, memory_usage, disk_usage, network_rx, network_tx)."""

    cpu: float | None = None
    memory: float | None = None
    disk: float | None = None
    network_rx: float | None = None
    network_tx: float | None = None

    @classmethod
    def of(cls, source: ServerStatsSource) -> StatsValues:
        """Copy the values out of any object with the five attributes."""
        return cls(source.cpu, source.memory, source.disk, source.network_rx, source.network_tx)

    def as_tuple(self) -> tuple[float | None, float | None, float | None, float | None, float | None]:
        """The values in column order."""
        return (self.cpu, self.memory, self.disk, self.network_rx, self.network_tx)


@dataclass(frozen=True, slots=True)
class ScrapeRow:
    """One scrape: its values aligned with the series set named by ``set_digest``."""

    server_id: UUID
    ts_ms: int
    set_digest: bytes
    values: Sequence[float]
    up: bool
    stats: StatsValues | None


@dataclass(slots=True)
class HistoryBatch:
    """Scrapes to write together, with the definitions of the targets and series sets they refer to.

    ``sets`` may lack a digest that PostgreSQL already knows (batches read back from the spool carry only
    the sets that were not known when they were spooled).
    """

    targets: dict[UUID, TargetRow] = field(default_factory=dict)
    sets: dict[bytes, SeriesSetDef] = field(default_factory=dict)
    rows: list[ScrapeRow] = field(default_factory=list)

    @property
    def sample_count(self) -> int:
        """How many samples the batch holds."""
        return sum(len(row.values) for row in self.rows)

    def extend(self, other: HistoryBatch) -> None:
        """Append ``other``'s rows and definitions."""
        self.targets.update(other.targets)
        self.sets.update(other.sets)
        self.rows.extend(other.rows)


class SetDigests:
    """The digest of each target's current series set, recomputed only when the scrape's set id changes."""

    def __init__(self) -> None:
        self._by_server: dict[UUID, tuple[str, bytes]] = {}

    def digest(self, result: ScrapeResult) -> bytes:
        """The digest of ``result``'s series set."""
        server_id = result.target.server_id
        cached = self._by_server.get(server_id)
        if cached is not None and cached[0] == result.series_set_id:
            return cached[1]
        digest = series_set_digest(server_id, result.series)
        self._by_server[server_id] = (result.series_set_id, digest)
        return digest


def batch_from_results(
    results: Iterable[ScrapeResult], stats: Mapping[UUID, ServerStatsSource], digests: SetDigests
) -> HistoryBatch:
    """The batch that writes ``results``; ``stats`` holds the ``server_stats`` values by server id.

    A summary describes a server's latest scrape: when ``results`` holds several scrapes of one server,
    its ``stats`` entry goes with the last of them only (call once per scrape wave to keep them all).
    """
    batch = HistoryBatch()
    results = list(results)
    last_of = {r.target.server_id: i for i, r in enumerate(results)}
    for i, result in enumerate(results):
        target = result.target
        batch.targets[target.server_id] = TargetRow(
            target.server_id, target.job, target.instance, target.labels
        )
        digest = digests.digest(result)
        if digest not in batch.sets:
            batch.sets[digest] = SeriesSetDef(target.server_id, result.series)
        source = stats.get(target.server_id) if last_of[target.server_id] == i else None
        batch.rows.append(
            ScrapeRow(
                target.server_id,
                result.timestamp_ms,
                digest,
                result.values,
                result.up,
                StatsValues.of(source) if source is not None else None,
            )
        )
    return batch


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What a batch write did."""

    rows_written: int
    samples_written: int
    rows_without_set: int
    """Rows skipped because their series set is known neither in the batch nor in PostgreSQL."""
    stats_written: int


class HistoryStore:
    """The SQL of the write path, with the in-memory caches that make steady state one COPY per table."""

    def __init__(self) -> None:
        self._known_servers: set[UUID] = set()
        self._set_ids: dict[bytes, int] = {}
        self._unlinked_servers: set[UUID] = set()

    async def write(
        self, conn: Connection, batch: HistoryBatch, *, step_timeout_s: float | None = None
    ) -> WriteOutcome:
        """Write ``batch``: reference data first, then the rows in one transaction.

        ``step_timeout_s`` bounds each step (the servers, each slice of new series sets, the rows) rather
        than the whole: the first write of a large fleet registers hundreds of thousands of series, and a
        bound on the whole would throw that progress away again and again on a busy machine.
        Raises :class:`StoreUnavailable` when PostgreSQL is unreachable or busy (worth retrying later).
        """
        try:
            try:
                return await self._write_once(conn, batch, step_timeout_s)
            except asyncpg.ForeignKeyViolationError:
                # A server was deleted behind our back: forget what we believe and register again.
                self._known_servers.clear()
                return await self._write_once(conn, batch, step_timeout_s)
        except TRANSIENT_ERRORS as exc:
            raise StoreUnavailable("postgres", f"{type(exc).__name__}: {exc}") from exc

    async def _write_once(
        self, conn: Connection, batch: HistoryBatch, step_timeout_s: float | None
    ) -> WriteOutcome:
        # Servers and series sets are reference data, idempotent by key: each is committed on its own (sets
        # in slices), so that a first write of a large fleet which times out keeps its progress.
        async with _step("registering servers", step_timeout_s), conn.transaction():
            new_servers = await self._register_servers(conn, batch)
        self._known_servers |= new_servers
        await self._resolve_sets(conn, batch, step_timeout_s)
        set_ids = self._set_ids
        async with _step("writing the rows", step_timeout_s), conn.transaction():
            raw = [
                (row.server_id, ms_to_datetime(row.ts_ms), set_ids[row.set_digest], pack_values(row.values))
                for row in batch.rows
                if row.set_digest in set_ids
            ]
            linked = self._known_servers
            stats = [
                (row.server_id, *row.stats.as_tuple(), ms_to_datetime(row.ts_ms))
                for row in batch.rows
                if row.stats is not None and row.server_id in linked
            ]
            await _copy_idempotent(conn, "history_raw", ("server_id", "ts", "series_set_id", "vals"), raw)
            await _copy_idempotent(
                conn,
                "server_stats",
                (
                    "server_id",
                    "cpu_usage",
                    "memory_usage",
                    "disk_usage",
                    "network_rx",
                    "network_tx",
                    "timestamp",
                ),
                stats,
            )
            await _mark_late_rows(conn, [(r[0], r[1]) for r in raw])
        skipped = len(batch.rows) - len(raw)
        if skipped:
            log.warning("history rows dropped: series set unknown", rows=skipped)
        return WriteOutcome(len(raw), sum(len(r[3]) for r in raw) // 8, skipped, len(stats))

    def known_set(self, digest: bytes) -> bool:
        """True when the series set is known to be stored in PostgreSQL."""
        return digest in self._set_ids

    async def _register_servers(self, conn: Connection, batch: HistoryBatch) -> set[UUID]:
        new = [t for sid, t in batch.targets.items() if sid not in self._known_servers]
        if not new:
            return set()
        linked = await ensure_server_rows(conn, new)
        last: dict[UUID, ScrapeRow] = {}
        for row in batch.rows:
            last[row.server_id] = row
        seen = [t.server_id for t in new if t.server_id in linked]
        await conn.execute(
            """UPDATE servers s SET status = u.status, last_check = u.last_check, updated_at = now()
               FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u(id, status, last_check)
               WHERE s.id = u.id""",
            seen,
            ["up" if sid in last and last[sid].up else "down" for sid in seen],
            [ms_to_datetime(last[sid].ts_ms) if sid in last else None for sid in seen],
        )
        for target in new:
            if target.server_id not in linked and target.server_id not in self._unlinked_servers:
                self._unlinked_servers.add(target.server_id)
                log.warning(
                    "another server row holds this job and address; its server_stats are not written",
                    job=target.job,
                    instance=target.instance,
                )
        return linked

    async def _resolve_sets(
        self, conn: Connection, batch: HistoryBatch, step_timeout_s: float | None
    ) -> None:
        wanted = list({row.set_digest for row in batch.rows if row.set_digest not in self._set_ids})
        if not wanted:
            return
        async with _step("looking up series sets", step_timeout_s):
            found = await conn.fetch("SELECT digest, id FROM series_sets WHERE digest = ANY($1)", wanted)
        self._set_ids.update((r["digest"], r["id"]) for r in found)
        missing = [(d, batch.sets[d]) for d in wanted if d not in self._set_ids and d in batch.sets]
        for i in range(0, len(missing), SETS_PER_TRANSACTION):
            async with _step("registering new series sets", step_timeout_s), conn.transaction():
                registered = await register_sets(conn, missing[i : i + SETS_PER_TRANSACTION])
            self._set_ids.update(registered)


@contextlib.asynccontextmanager
async def _step(what: str, timeout_s: float | None) -> AsyncIterator[None]:
    """Bound one step of a write; its timeout says which step it was (the log and health show it)."""
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except TimeoutError:
        raise TimeoutError(f"{what} took longer than {timeout_s:g} s") from None


async def _copy_idempotent(
    conn: Connection, table: str, columns: Sequence[str], records: Sequence[tuple[object, ...]]
) -> None:
    """COPY ``records`` into ``table``; rows already there (same key) are left as they are."""
    if not records:
        return
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(table, records=records, columns=list(columns))
    except asyncpg.UniqueViolationError:
        stage = f"{table}_stage"
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await conn.copy_records_to_table(stage, records=records, columns=list(columns))
        names = ", ".join(f'"{c}"' for c in columns)
        await conn.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} ON CONFLICT DO NOTHING"  # noqa: S608 - names are constants
        )


async def _mark_late_rows(conn: Connection, rows: Sequence[tuple[UUID, datetime]]) -> None:
    """List the target-hours of rows older than the compaction watermark in ``history_dirty``."""
    if not rows:
        return
    watermark: datetime = await conn.fetchval("SELECT compacted_until FROM history_state FOR SHARE")
    if min(r[1] for r in rows) >= watermark:
        return
    late = {(sid, ts.replace(minute=0, second=0, microsecond=0)) for sid, ts in rows if ts < watermark}
    # DO UPDATE (not DO NOTHING) locks an existing row, so maintenance cannot take it away before we commit.
    await conn.execute(
        """INSERT INTO history_dirty (server_id, hour) SELECT * FROM unnest($1::uuid[], $2::timestamptz[])
           ON CONFLICT (server_id, hour) DO UPDATE SET hour = EXCLUDED.hour""",
        [k[0] for k in late],
        [k[1] for k in late],
    )
