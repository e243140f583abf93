"""A migrated pool on this run's database, with no notification channels left from other tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.storage.connections import connect_postgres
from collector.storage.migrate import migrate


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pg = await connect_postgres(pg_dsn, min_size=1, max_size=4)
    try:
        async with pg.acquire() as conn:
            await migrate(conn)
        await pg.execute("DELETE FROM notification_channels")
        yield pg
    finally:
        await pg.close()
