"""The ``servers`` row of a discovered target: made once, alike whoever makes it, never taking another's."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from collector.storage.server_rows import TargetRow, ensure_server_rows
from tests.collector.storage.history_helpers import migrated_pool

WEB = TargetRow(uuid4(), "node", "web-1.example:9100", (("instance", "web-1.example:9100"), ("env", "prod")))
DB = TargetRow(uuid4(), "node", "[::1]:9100", ())


async def test_a_missing_row_is_made_from_the_target(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        assert await ensure_server_rows(conn, [WEB, DB]) == {WEB.server_id, DB.server_id}
        rows = await conn.fetch(
            """SELECT id, name, hostname, job, address, labels::text, status, last_check
               FROM servers ORDER BY name"""
        )
        assert [tuple(r.values()) for r in rows] == [
            (DB.server_id, "::1", "::1", "node", "[::1]:9100", "{}", "unknown", None),
            (
                WEB.server_id,
                "web-1.example",
                "web-1.example",
                "node",
                "web-1.example:9100",
                '{"env": "prod", "instance": "web-1.example:9100"}',
                "unknown",
                None,
            ),
        ]


async def test_an_existing_row_is_kept_as_it_is_and_counted(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO servers (id, name, hostname, job, address, status, updated_at)
               VALUES ($1, 'named by hand', 'h', $2, $3, 'up', '2020-01-01T00:00:00Z')""",
            WEB.server_id,
            WEB.job,
            WEB.instance,
        )
        assert await ensure_server_rows(conn, [WEB]) == {WEB.server_id}
        assert await ensure_server_rows(conn, [WEB]) == {WEB.server_id}
        row = await conn.fetchrow("SELECT name, status, extract(year FROM updated_at) AS y FROM servers")
        assert row is not None and tuple(row.values()) == ("named by hand", "up", 2020)
        assert await conn.fetchval("SELECT count(*) FROM servers") == 1


async def test_a_target_whose_job_and_address_another_row_holds_gets_no_row(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        registered = await conn.fetchval(
            "INSERT INTO servers (name, hostname, job, address) VALUES ('web', 'web', $1, $2) RETURNING id",
            WEB.job,
            WEB.instance,
        )
        assert await ensure_server_rows(conn, [WEB, DB]) == {DB.server_id}
        ids = {r["id"] for r in await conn.fetch("SELECT id FROM servers")}
        assert ids == {registered, DB.server_id}


async def test_a_row_made_by_a_concurrent_transaction_is_counted(fresh_pg_dsn: str) -> None:
    target = TargetRow(uuid4(), "node", "race.example:9100", ())
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as first, pool.acquire() as second:
        transaction = first.transaction()
        await transaction.start()
        assert await ensure_server_rows(first, [target]) == {target.server_id}
        # The second insert waits for the first transaction, then finds the row it made.
        racing = asyncio.create_task(ensure_server_rows(second, [target]))
        await asyncio.sleep(0.3)
        assert not racing.done()
        await transaction.commit()
        assert await racing == {target.server_id}
