"""PostgreSQL health and size figures for ``/api/monitoring/postgres-stats``.

Sizes come from ``pg_total_relation_size`` (heap, TOAST and indexes); row counts are estimates that cost
nothing to read: the planner's ``reltuples`` once the table has been analyzed (ANALYZE and autovacuum keep it
current, and it changes with the transaction that sets it), else the statistics collector's live-row count,
which backends flush lazily and which can briefly count a moved row twice. A
partitioned table is reported with the sum of its partitions and the list of them. Bytes per sample of the
compacted history divides the chunks' size by the exact number of samples they hold (``n_points ×
n_series`` summed: a scan of the small chunk heaps, not of their payload).
"""

from __future__ import annotations

from typing import TypedDict

import asyncpg


class PartitionStats(TypedDict):
    """One partition of a partitioned table."""

    name: str
    bytes: int
    rows_estimate: int


class TableStats(TypedDict):
    """One table (a partitioned one summed over its partitions)."""

    name: str
    bytes: int
    rows_estimate: int
    partitions: list[PartitionStats]


class HistoryStats(TypedDict):
    """Size of each history tier and its cost per sample."""

    raw_bytes: int
    raw_samples_estimate: int
    raw_bytes_per_sample: float | None
    chunk_bytes: int
    chunk_samples: int
    chunk_bytes_per_sample: float | None
    rollup_5m_bytes: int
    rollup_1h_bytes: int


class PostgresStats(TypedDict):
    """What ``postgres_stats`` reports."""

    server_version: str
    database: str
    database_bytes: int
    connections: dict[str, int]
    """Connections to this database by state (``active``, ``idle``, ``idle in transaction`` …)."""
    max_connections: int
    tables: list[TableStats]
    history: HistoryStats


_TABLES_SQL = """
WITH parents AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
)
SELECT p.relname AS name, p.relkind = 'p' AS partitioned, part.relname AS part_name,
       pg_total_relation_size(coalesce(part.oid, p.oid)) AS bytes,
       CASE WHEN coalesce(part.reltuples, pc.reltuples) >= 0 THEN coalesce(part.reltuples, pc.reltuples)
            ELSE greatest(coalesce(st.n_live_tup, 0), 0) END::bigint AS rows
FROM parents p
JOIN pg_class pc ON pc.oid = p.oid
LEFT JOIN pg_inherits i ON i.inhparent = p.oid
LEFT JOIN pg_class part ON part.oid = i.inhrelid
LEFT JOIN pg_stat_user_tables st ON st.relid = coalesce(part.oid, p.oid)
ORDER BY p.relname, part.relname
"""


async def postgres_stats(pool: asyncpg.Pool) -> PostgresStats:
    """Sizes, row estimates, connections and version of the database behind ``pool``."""
    async with pool.acquire() as conn:
        version: str = await conn.fetchval("SHOW server_version")
        max_connections = int(await conn.fetchval("SHOW max_connections"))
        database: str = await conn.fetchval("SELECT current_database()")
        database_bytes: int = await conn.fetchval("SELECT pg_database_size(current_database())")
        connections = {
            r["state"] or "unknown": r["n"]
            for r in await conn.fetch(
                """SELECT state, count(*) AS n FROM pg_stat_activity
                   WHERE datname = current_database() GROUP BY state"""
            )
        }
        tables: dict[str, TableStats] = {}
        for r in await conn.fetch(_TABLES_SQL):
            empty = TableStats(name=r["name"], bytes=0, rows_estimate=0, partitions=[])
            table = tables.setdefault(r["name"], empty)
            table["bytes"] += r["bytes"]
            table["rows_estimate"] += r["rows"]
            if r["part_name"] is not None:
                table["partitions"].append(
                    PartitionStats(name=r["part_name"], bytes=r["bytes"], rows_estimate=r["rows"])
                )
        chunk_samples = int(
            await conn.fetchval("SELECT coalesce(sum(n_points::bigint * n_series), 0) FROM history_chunks")
        )
        avg_set_size = float(await conn.fetchval("SELECT coalesce(avg(n_series), 0) FROM series_sets"))

    def size(name: str) -> int:
        return tables[name]["bytes"] if name in tables else 0

    raw_rows = tables["history_raw"]["rows_estimate"] if "history_raw" in tables else 0
    raw_samples = int(raw_rows * avg_set_size)
    history = HistoryStats(
        raw_bytes=size("history_raw"),
        raw_samples_estimate=raw_samples,
        raw_bytes_per_sample=size("history_raw") / raw_samples if raw_samples else None,
        chunk_bytes=size("history_chunks"),
        chunk_samples=chunk_samples,
        chunk_bytes_per_sample=size("history_chunks") / chunk_samples if chunk_samples else None,
        rollup_5m_bytes=size("history_rollups_5m"),
        rollup_1h_bytes=size("history_rollups_1h"),
    )
    return PostgresStats(
        server_version=version,
        database=database,
        database_bytes=database_bytes,
        connections=connections,
        max_connections=max_connections,
        tables=list(tables.values()),
        history=history,
    )
