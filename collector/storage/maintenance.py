"""The history maintenance job: partitions ahead, compaction of closed hours, rollups, retention.

``run_maintenance`` is meant to be scheduled every few minutes (and once at start-up). Each run:

1. creates the partitions the next hours and days will need;
2. compacts every closed hour (one that ended ``compaction_delay_s`` ago) into chunks and 5-minute rollups,
   and rolls ``server_stats`` up into 5-minute and 1-hour buckets. ``history_state.compacted_until`` moves
   past an hour before it is compacted (later rows for it mark it dirty), ``chunked_until`` after: reads
   take the hours before ``chunked_until`` from chunks, and a run stopped mid-hour resumes at that hour;
3. compacts again the target-hours that received late rows (``history_dirty``, filled by the writer);
4. builds the 1-hour rollups of every closed day from its 5-minute rollups;
5. drops the partitions that retention has passed, never raw hours that are not compacted yet.

It is idempotent (compaction replaces what an earlier run wrote) and runs under a PostgreSQL advisory lock:
a second run that starts while one is in progress returns at once with ``skipped=True``.

Encoding is CPU work in pure Python (about 0.15 s per target-hour of 1,000 series); it runs in ``executor``
(the default thread pool unless a process pool is passed), so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from collector.storage import partitions as parts
from collector.storage.compaction import EncodedMatrix, StoredMatrix, compact_hour, rollup_hours
from collector.storage.history import datetime_to_ms
from collector.storage.partitions import Connection
from collector.storage.raw_codec import unpack_values

log = structlog.get_logger(__name__)

# An arbitrary constant shared by every OpenManager process: "OMHISTOR" as a 64-bit integer.
MAINTENANCE_LOCK_ID = 0x4F4D484953544F52
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class HistoryConfig:
    """Retention per tier and the pace of maintenance."""

    raw_retention_s: float = 48 * 3600
    chunk_retention_s: float = 15 * 86400
    rollup_5m_retention_s: float = 90 * 86400
    rollup_1h_retention_s: float = 730 * 86400
    server_stats_retention_s: float = 15 * 86400
    """Per-scrape ``server_stats`` rows; their 5-minute and 1-hour rollups follow the rollup retentions."""
    compaction_delay_s: float = 300
    """An hour is compacted once it ended this long ago, so that in-flight batches have landed."""
    partitions_ahead_s: float = 86400
    max_hours_per_run: int = 48
    """Bound on hours compacted by one run, so that a long backlog is worked off over several runs."""
    lock_timeout_ms: int = 5000

    def __post_init__(self) -> None:
        if self.raw_retention_s < 2 * 3600 + self.compaction_delay_s:
            raise ValueError(
                f"raw_retention_s must leave time to compact (>= 2 h + compaction_delay_s), "
                f"got {self.raw_retention_s}"
            )
        if self.max_hours_per_run < 1:
            raise ValueError(f"max_hours_per_run must be at least 1, got {self.max_hours_per_run}")


@dataclass
class MaintenanceReport:
    """What one run did."""

    skipped: bool = False
    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    hours_compacted: int = 0
    target_hours_compacted: int = 0
    dirty_target_hours: int = 0
    days_rolled_up: int = 0
    duration_s: float = 0.0


def floor_hour(when: datetime) -> datetime:
    """The start of the UTC hour holding ``when``."""
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(when: datetime) -> datetime:
    """The start of the UTC day holding ``when``."""
    return floor_hour(when).replace(hour=0)


async def run_maintenance(
    pool: asyncpg.Pool,
    config: HistoryConfig | None = None,
    now: datetime | None = None,
    *,
    executor: Executor | None = None,
) -> MaintenanceReport:
    """One maintenance run (see the module docstring); ``now`` defaults to the current time."""
    config = config or HistoryConfig()
    now = now or datetime.now(UTC)
    report = MaintenanceReport()
    started = time.perf_counter()
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", MAINTENANCE_LOCK_ID):
            report.skipped = True
            return report
        try:
            job = _Job(conn, config, now, executor, report)
            await job.create_partitions()
            await job.compact_closed_hours()
            await job.recompact_dirty()
            await job.rollup_closed_days()
            await job.apply_retention()
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK_ID)
    report.duration_s = time.perf_counter() - started
    log.info(
        "history maintenance done",
        hours=report.hours_compacted,
        target_hours=report.target_hours_compacted,
        dirty=report.dirty_target_hours,
        days=report.days_rolled_up,
        created=len(report.partitions_created),
        dropped=len(report.partitions_dropped),
        duration_s=round(report.duration_s, 3),
    )
    return report


def _compact_groups(
    groups: Sequence[tuple[int, list[int], list[list[float]]]],
) -> list[tuple[int, EncodedMatrix, EncodedMatrix]]:
    return [(set_id, *compact_hour(ts, rows)) for set_id, ts, rows in groups]


def _rollup_groups(
    groups: Sequence[tuple[int, list[StoredMatrix]]],
) -> list[tuple[int, EncodedMatrix]]:
    return [(set_id, rollup_hours(hours)) for set_id, hours in groups]


_MATRIX_COLUMNS = [
    "server_id",
    "start_ts",
    "series_set_id",
    "n_points",
    "n_series",
    "timestamps",
    "offsets",
    "payload",
]


def _matrix_record(server_id: UUID, start: datetime, set_id: int, m: EncodedMatrix) -> tuple[object, ...]:
    return (server_id, start, set_id, m.n_points, m.n_series, m.timestamps, m.offsets, m.payload)


def _stats_rollup_sql(table: str, width: str, one_server: bool) -> str:
    metrics = ("cpu", "memory", "disk", "network_rx", "network_tx")
    columns = {"cpu": "cpu_usage", "memory": "memory_usage", "disk": "disk_usage"}
    aggregates = ", ".join(
        f"coalesce(sum({columns.get(m, m)}), 0), count({columns.get(m, m)})" for m in metrics
    )
    names = ", ".join(f"{m}_sum, {m}_count" for m in metrics)
    updates = ", ".join(f"{m}_sum = EXCLUDED.{m}_sum, {m}_count = EXCLUDED.{m}_count" for m in metrics)
    where = '"timestamp" >= $1 AND "timestamp" < $2' + (" AND server_id = $3" if one_server else "")
    return f"""INSERT INTO {table} (server_id, bucket, {names})
               SELECT server_id, date_bin('{width}', "timestamp", 'epoch'), {aggregates}
               FROM server_stats WHERE {where} GROUP BY 1, 2
               ON CONFLICT (server_id, bucket) DO UPDATE SET {updates}"""  # noqa: S608 - constants only


async def rollup_server_stats(
    conn: Connection, start: datetime, end: datetime, server_id: UUID | None = None
) -> None:
    """(Re)compute the 5-minute and 1-hour ``server_stats`` rollups of [start, end), hour-aligned bounds."""
    for table, width in (("server_stats_5m", "5 minutes"), ("server_stats_1h", "1 hour")):
        if server_id is None:
            await conn.execute(_stats_rollup_sql(table, width, one_server=False), start, end)
        else:
            await conn.execute(_stats_rollup_sql(table, width, one_server=True), start, end, server_id)


class _Job:
    def __init__(
        self,
        conn: Connection,
        config: HistoryConfig,
        now: datetime,
        executor: Executor | None,
        report: MaintenanceReport,
    ) -> None:
        self.conn = conn
        self.config = config
        self.now = now
        self.executor = executor
        self.report = report

    async def _state(self, column: str) -> datetime:
        value: datetime = await self.conn.fetchval(f"SELECT {column} FROM history_state")  # noqa: S608
        return value

    async def _advance(self, column: str, to: datetime) -> None:
        await self.conn.execute(
            f"UPDATE history_state SET {column} = greatest({column}, $1)",  # noqa: S608 - constant names
            to,
        )

    # -- partitions ---------------------------------------------------------------------------------------

    async def create_partitions(self) -> None:
        ahead = self.now + timedelta(seconds=self.config.partitions_ahead_s)
        raw_back = self.now - timedelta(seconds=self.config.raw_retention_s)
        plan = [
            (parts.HISTORY_RAW, self.now - 2 * HOUR),
            (parts.HISTORY_CHUNKS, raw_back),
            (parts.HISTORY_ROLLUPS_5M, raw_back),
            (parts.HISTORY_ROLLUPS_1H, raw_back),
            (parts.SERVER_STATS, self.now - DAY),
            (parts.SERVER_STATS_5M, self.now - DAY),
            (parts.SERVER_STATS_1H, self.now - DAY),
        ]
        for table, start in plan:
            try:
                self.report.partitions_created += await parts.ensure_partitions(
                    self.conn, table, start, ahead, lock_timeout_ms=self.config.lock_timeout_ms
                )
            except asyncpg.LockNotAvailableError:
                log.warning("partition creation postponed: table busy", table=table.name)

    # -- compaction ---------------------------------------------------------------------------------------

    async def compact_closed_hours(self) -> None:
        closed = floor_hour(self.now - timedelta(seconds=self.config.compaction_delay_s))
        # From the first hour not known whole: one a stopped run left half done is compacted again.
        hour = await self._state("chunked_until")
        if hour <= EPOCH:
            earliest: datetime | None = await self.conn.fetchval("SELECT min(ts) FROM history_raw")
            if earliest is None:
                return
            hour = floor_hour(earliest)
        done = 0
        while hour < closed and done < self.config.max_hours_per_run:
            # Advance the watermark first: a writer that commits rows for this hour afterwards sees it and
            # marks the hour dirty; one that committed before is in the rows read below (see history.py).
            await self._advance("compacted_until", hour + HOUR)
            servers = await self.conn.fetch(
                "SELECT DISTINCT server_id FROM history_raw WHERE ts >= $1 AND ts < $2", hour, hour + HOUR
            )
            for row in servers:
                await self._compact_target_hour(row["server_id"], hour)
            await rollup_server_stats(self.conn, hour, hour + HOUR)
            # Only now is the hour whole in chunks and rollups: readers take it from them, no longer raw.
            await self._advance("chunked_until", hour + HOUR)
            self.report.hours_compacted += 1
            done += 1
            hour += HOUR

    async def _compact_target_hour(self, server_id: UUID, hour: datetime) -> None:
        rows = await self.conn.fetch(
            """SELECT ts, series_set_id, vals FROM history_raw
               WHERE server_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts""",
            server_id,
            hour,
            hour + HOUR,
        )
        if not rows:
            return  # nothing left to compact: keep whatever an earlier run made of this hour
        grouped: dict[int, tuple[list[int], list[list[float]]]] = {}
        for row in rows:
            ts, values = grouped.setdefault(row["series_set_id"], ([], []))
            ts.append(datetime_to_ms(row["ts"]))
            values.append(unpack_values(row["vals"]))
        groups = [(set_id, ts, values) for set_id, (ts, values) in grouped.items()]
        encoded = await asyncio.get_running_loop().run_in_executor(self.executor, _compact_groups, groups)
        async with self.conn.transaction():
            for table in ("history_chunks", "history_rollups_5m"):
                await self.conn.execute(
                    f"DELETE FROM {table} WHERE server_id = $1 AND start_ts = $2",  # noqa: S608 - constant
                    server_id,
                    hour,
                )
            if encoded:
                await self.conn.copy_records_to_table(
                    "history_chunks",
                    records=[_matrix_record(server_id, hour, s, chunk) for s, chunk, _ in encoded],
                    columns=_MATRIX_COLUMNS,
                )
                await self.conn.copy_records_to_table(
                    "history_rollups_5m",
                    records=[_matrix_record(server_id, hour, s, rollup) for s, _, rollup in encoded],
                    columns=_MATRIX_COLUMNS,
                )
        self.report.target_hours_compacted += 1

    async def recompact_dirty(self) -> None:
        rollup_1h_until = await self._state("rollup_1h_until")
        raw_dropped_until = await self._state("raw_dropped_until")
        while True:
            batch = await self.conn.fetch(
                "SELECT server_id, hour FROM history_dirty ORDER BY hour, server_id LIMIT 100"
            )
            if not batch:
                return
            for row in batch:
                server_id, hour = row["server_id"], row["hour"]
                # Deleted before reading: a writer adding rows meanwhile marks the hour dirty again.
                await self.conn.execute(
                    "DELETE FROM history_dirty WHERE server_id = $1 AND hour = $2", server_id, hour
                )
                if hour < raw_dropped_until:
                    continue
                await self._compact_target_hour(server_id, hour)
                await rollup_server_stats(self.conn, hour, hour + HOUR, server_id)
                if floor_day(hour) < rollup_1h_until:
                    await self._rollup_target_day(server_id, floor_day(hour))
                self.report.dirty_target_hours += 1

    # -- 1-hour rollups -----------------------------------------------------------------------------------

    async def rollup_closed_days(self) -> None:
        closed = floor_day(await self._state("chunked_until"))
        day = await self._state("rollup_1h_until")
        if day <= EPOCH:
            earliest: datetime | None = await self.conn.fetchval(
                "SELECT min(start_ts) FROM history_rollups_5m"
            )
            if earliest is None:
                return
            day = floor_day(earliest)
        while day < closed:
            await self._advance("rollup_1h_until", day + DAY)
            servers = await self.conn.fetch(
                "SELECT DISTINCT server_id FROM history_rollups_5m WHERE start_ts >= $1 AND start_ts < $2",
                day,
                day + DAY,
            )
            for row in servers:
                await self._rollup_target_day(row["server_id"], day)
            self.report.days_rolled_up += 1
            day += DAY

    async def _rollup_target_day(self, server_id: UUID, day: datetime) -> None:
        rows = await self.conn.fetch(
            """SELECT start_ts, series_set_id, n_points, n_series, timestamps, offsets, payload
               FROM history_rollups_5m WHERE server_id = $1 AND start_ts >= $2 AND start_ts < $3""",
            server_id,
            day,
            day + DAY,
        )
        grouped: dict[int, list[StoredMatrix]] = {}
        for row in rows:
            matrix = EncodedMatrix(
                row["n_points"], row["n_series"], row["timestamps"], list(row["offsets"]), row["payload"]
            )
            grouped.setdefault(row["series_set_id"], []).append(
                StoredMatrix(datetime_to_ms(row["start_ts"]), matrix)
            )
        encoded = await asyncio.get_running_loop().run_in_executor(
            self.executor, _rollup_groups, list(grouped.items())
        )
        async with self.conn.transaction():
            await self.conn.execute(
                "DELETE FROM history_rollups_1h WHERE server_id = $1 AND start_ts = $2", server_id, day
            )
            if encoded:
                await self.conn.copy_records_to_table(
                    "history_rollups_1h",
                    records=[_matrix_record(server_id, day, s, m) for s, m in encoded],
                    columns=_MATRIX_COLUMNS,
                )

    # -- retention ----------------------------------------------------------------------------------------

    async def apply_retention(self) -> None:
        chunked_until = await self._state("chunked_until")
        c = self.config

        def before(seconds: float) -> datetime:
            return self.now - timedelta(seconds=seconds)

        plan = [
            (parts.HISTORY_RAW, min(before(c.raw_retention_s), chunked_until), "raw_dropped_until"),
            (parts.HISTORY_CHUNKS, before(c.chunk_retention_s), "chunks_dropped_until"),
            (parts.HISTORY_ROLLUPS_5M, before(c.rollup_5m_retention_s), "rollup_5m_dropped_until"),
            (parts.HISTORY_ROLLUPS_1H, before(c.rollup_1h_retention_s), "rollup_1h_dropped_until"),
            (parts.SERVER_STATS, before(c.server_stats_retention_s), None),
            (parts.SERVER_STATS_5M, before(c.rollup_5m_retention_s), None),
            (parts.SERVER_STATS_1H, before(c.rollup_1h_retention_s), None),
        ]
        for table, cutoff, state_column in plan:
            try:
                self.report.partitions_dropped += await parts.drop_partitions_before(
                    self.conn, table, cutoff, lock_timeout_ms=c.lock_timeout_ms
                )
            except asyncpg.LockNotAvailableError:
                log.warning("partition drop postponed: table busy", table=table.name)
                continue
            if state_column is not None:
                await self._advance(state_column, cutoff)
        raw_dropped_until = await self._state("raw_dropped_until")
        await self.conn.execute("DELETE FROM history_dirty WHERE hour < $1", raw_dropped_until)
