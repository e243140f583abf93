"""Partition names and bounds per span, creation with stray rows moved, and drops by whole partition."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collector.storage.partitions import (
    HISTORY_RAW,
    SERVER_STATS,
    SERVER_STATS_1H,
    create_partition,
    drop_partitions_before,
    existing_partitions,
)
from tests.collector.storage.history_helpers import migrated_pool

WHEN = datetime(2026, 12, 31, 23, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("table", "start", "following", "name"),
    [
        (
            HISTORY_RAW,
            datetime(2026, 12, 31, 23, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
            "history_raw_p2026123123",
        ),
        (
            SERVER_STATS,
            datetime(2026, 12, 31, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
            "server_stats_p20261231",
        ),
        (
            SERVER_STATS_1H,
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
            "server_stats_1h_p202612",
        ),
    ],
)
def test_partition_spans_names_and_bounds(
    table: object, start: datetime, following: datetime, name: str
) -> None:
    from collector.storage.partitions import PartitionedTable  # noqa: PLC0415

    assert isinstance(table, PartitionedTable)
    assert table.floor(WHEN) == start
    assert table.next_start(start) == following
    assert table.partition_name(start) == name
    assert table.parse_start(name) == start
    assert table.parse_start(table.default_partition) is None


async def test_created_partitions_take_their_rows_from_default_and_drop_whole(fresh_pg_dsn: str) -> None:
    hour = datetime(2026, 3, 2, 10, tzinfo=UTC)
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO history_raw
               VALUES (gen_random_uuid(), $1, 1, '{1}'), (gen_random_uuid(), $2, 1, '{2}')""",
            hour,
            hour.replace(hour=11),
        )
        assert await create_partition(conn, HISTORY_RAW, hour)
        assert not await create_partition(conn, HISTORY_RAW, hour)
        assert await conn.fetchval("SELECT count(*) FROM history_raw_p2026030210") == 1
        assert await conn.fetchval("SELECT count(*) FROM history_raw_default") == 1
        assert list(await existing_partitions(conn, HISTORY_RAW)) == [hour]
        dropped = await drop_partitions_before(conn, HISTORY_RAW, hour.replace(hour=12))
        assert dropped == ["history_raw_p2026030210"]
        assert await conn.fetchval("SELECT count(*) FROM history_raw") == 0
