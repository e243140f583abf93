"""Time partitions of the history tables: their names and bounds, creating them ahead, dropping them whole.

Every time-partitioned table has a DEFAULT partition that catches rows for which no partition exists yet.
Creating a partition whose range already has rows in the DEFAULT partition would fail, so those rows are
moved first, in the same transaction. Partition names carry their start (``history_raw_p2024010113``), which
is how existing partitions and their bounds are found again without parsing catalog expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Span = Literal["hour", "day", "month"]

_FORMATS: dict[Span, str] = {"hour": "%Y%m%d%H", "day": "%Y%m%d", "month": "%Y%m"}


@dataclass(frozen=True)
class PartitionedTable:
    """A table partitioned by range on ``column``, one partition per ``span``."""

    name: str
    column: str
    span: Span

    def floor(self, when: datetime) -> datetime:
        """The start of the partition that holds ``when``."""
        when = when.astimezone(UTC)
        if self.span == "hour":
            return when.replace(minute=0, second=0, microsecond=0)
        if self.span == "day":
            return when.replace(hour=0, minute=0, second=0, microsecond=0)
        return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def next_start(self, start: datetime) -> datetime:
        """The start of the partition after the one starting at ``start``."""
        if self.span == "hour":
            return start + timedelta(hours=1)
        if self.span == "day":
            return start + timedelta(days=1)
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)

    def partition_name(self, start: datetime) -> str:
        """The name of the partition starting at ``start``."""
        return f"{self.name}_p{start.strftime(_FORMATS[self.span])}"

    def parse_start(self, partition: str) -> datetime | None:
        """The start encoded in a partition name, or None for the DEFAULT partition or a foreign name."""
        match = re.fullmatch(rf"{re.escape(self.name)}_p(\d+)", partition)
        if not match:
            return None
        try:
            return datetime.strptime(match.group(1), _FORMATS[self.span]).replace(tzinfo=UTC)
        except ValueError:
            return None

    @property
    def default_partition(self) -> str:
        """The name of the catch-all partition."""
        return f"{self.name}_default"


HISTORY_RAW = PartitionedTable("history_raw", "ts", "hour")
HISTORY_CHUNKS = PartitionedTable("history_chunks", "start_ts", "day")
HISTORY_ROLLUPS_5M = PartitionedTable("history_rollups_5m", "start_ts", "day")
HISTORY_ROLLUPS_1H = PartitionedTable("history_rollups_1h", "start_ts", "month")
SERVER_STATS = PartitionedTable("server_stats", "timestamp", "day")
SERVER_STATS_5M = PartitionedTable("server_stats_5m", "bucket", "month")
SERVER_STATS_1H = PartitionedTable("server_stats_1h", "bucket", "month")

ALL_TABLES = (
    HISTORY_RAW,
    HISTORY_CHUNKS,
    HISTORY_ROLLUPS_5M,
    HISTORY_ROLLUPS_1H,
    SERVER_STATS,
    SERVER_STATS_5M,
    SERVER_STATS_1H,
)


async def existing_partitions(conn: Connection, table: PartitionedTable) -> dict[datetime, str]:
    """The dated partitions of ``table``: start → name."""
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = $1::regclass""",
        table.name,
    )
    found = {}
    for row in rows:
        start = table.parse_start(row["relname"])
        if start is not None:
            found[start] = row["relname"]
    return found


async def create_partition(
    conn: Connection, table: PartitionedTable, start: datetime, *, lock_timeout_ms: int = 5000
) -> bool:
    """Create the partition starting at ``start`` unless it exists; returns True when it was created.

    Rows of its range already in the DEFAULT partition are moved into it in the same transaction. Creating a
    partition locks its parent; ``lock_timeout_ms`` bounds the wait behind long readers (raises
    ``LockNotAvailableError``; partitions are made ahead, so the next run will do).
    """
    name = table.partition_name(start)
    end = table.next_start(start)
    column = f'"{table.column}"'
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
        if exists:
            return False
        stray = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {table.default_partition} WHERE {column} >= $1 AND {column} < $2)",  # noqa: S608 - names are constants
            start,
            end,
        )
        bounds = f"FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        if not stray:
            await conn.execute(f"CREATE TABLE {name} PARTITION OF {table.name} FOR VALUES {bounds}")
            return True
        await conn.execute(f"CREATE TABLE {name} (LIKE {table.name} INCLUDING DEFAULTS INCLUDING STORAGE)")
        await conn.execute(
            f"""WITH moved AS (DELETE FROM {table.default_partition}
                               WHERE {column} >= $1 AND {column} < $2 RETURNING *)
                INSERT INTO {name} SELECT * FROM moved""",  # noqa: S608 - names are constants
            start,
            end,
        )
        await conn.execute(f"ALTER TABLE {table.name} ATTACH PARTITION {name} FOR VALUES {bounds}")
        return True


async def ensure_partitions(
    conn: Connection, table: PartitionedTable, start: datetime, end: datetime, *, lock_timeout_ms: int = 5000
) -> list[str]:
    """Create every missing partition covering [start, end); returns the names created."""
    created = []
    cursor = table.floor(start)
    while cursor < end:
        if await create_partition(conn, table, cursor, lock_timeout_ms=lock_timeout_ms):
            created.append(table.partition_name(cursor))
        cursor = table.next_start(cursor)
    return created


async def drop_partitions_before(
    conn: Connection, table: PartitionedTable, cutoff: datetime, *, lock_timeout_ms: int = 5000
) -> list[str]:
    """Drop every partition that ends at or before ``cutoff``, and older stray rows of the DEFAULT partition.

    Partitions go whole (DROP TABLE), never row by row; the DEFAULT partition only ever holds a few stray
    rows, which are deleted.
    """
    dropped = []
    for start, name in sorted((await existing_partitions(conn, table)).items()):
        if table.next_start(start) > cutoff:
            break
        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
            await conn.execute(f"DROP TABLE {name}")
        dropped.append(name)
    await conn.execute(
        f'DELETE FROM {table.default_partition} WHERE "{table.column}" < $1',  # noqa: S608 - names are constants
        cutoff,
    )
    return dropped
