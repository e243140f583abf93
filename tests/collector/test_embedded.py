"""The embedded default: real PostgreSQL and Redis under the data directory, found again on restart."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from collector.embedded import embedded_stores


async def test_embedded_servers_start_keep_data_and_stop(tmp_path: Path) -> None:
    async with embedded_stores(tmp_path, postgres=True, redis=True) as stores:
        assert stores.postgres_dsn is not None and stores.redis_url is not None
        conn = await asyncpg.connect(stores.postgres_dsn)
        await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        await conn.close()
        client = aioredis.Redis.from_url(stores.redis_url)
        await client.set("kept", "yes")
        await client.aclose()
    assert (tmp_path / "postgres" / "PG_VERSION").is_file()
    async with embedded_stores(tmp_path, postgres=True, redis=True) as again:
        assert again.postgres_dsn is not None and again.redis_url is not None
        conn = await asyncpg.connect(again.postgres_dsn)
        assert await conn.fetchval("SELECT v FROM kept") == 42
        await conn.close()
        client = aioredis.Redis.from_url(again.redis_url)
        assert await client.get("kept") == b"yes"
        await client.aclose()


async def test_nothing_is_started_when_both_stores_are_external(tmp_path: Path) -> None:
    async with embedded_stores(tmp_path, postgres=False, redis=False) as stores:
        assert stores.postgres_dsn is None and stores.redis_url is None
    assert not (tmp_path / "postgres").exists()
