"""Targets going down and coming back become event-log rows: one per change, written in the background."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.config.settings import Settings
from collector.storage.connections import open_stores
from collector.storage.events import query_events
from collector.storage.scrape_events import SOURCE, ScrapeEventLog, ScrapeEventOptions
from tests.collector.test_summary import failed_result, make_result, make_target
from tests.polling import eventually

WEB = make_target("web-1:9100")
DB = make_target("db-1:9100")
T0 = 1_767_225_600.0


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with open_stores(settings) as stores:
        await stores.pg.execute("DELETE FROM events")
        yield stores.pg


async def messages(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    events, _ = await query_events(pool, source=SOURCE)
    return [(e.level, e.message) for e in reversed(events)]


async def test_one_event_per_change_of_health_not_per_scrape(pool: asyncpg.Pool) -> None:
    sink = ScrapeEventLog(pool)
    sink.start()
    try:
        sink.observe([make_result([], T0, WEB), failed_result(T0, DB, "connection refused")], {})
        sink.observe([make_result([], T0 + 15, WEB), failed_result(T0 + 15, DB, "connection refused")], {})
        sink.observe([failed_result(T0 + 30, WEB, "timeout"), make_result([], T0 + 30, DB)], {})
        sink.observe([failed_result(T0 + 45, WEB, "timeout")], {})
        sink.observe([make_result([], T0 + 90, WEB)], {})

        async def written() -> bool:
            return len(await messages(pool)) == 4

        await eventually(written)
    finally:
        await sink.close()
    assert await messages(pool) == [
        ("warning", "first scrape of db-1:9100 (node) failed: connection refused"),
        ("error", "web-1:9100 (node) is down: timeout"),
        ("info", "db-1:9100 (node) is up again after 30 s down"),
        ("info", "web-1:9100 (node) is up again after 60 s down"),
    ]


async def test_events_wait_while_postgres_is_away_and_the_oldest_go_first_when_full(
    pool: asyncpg.Pool,
) -> None:
    away = await asyncpg.create_pool("postgresql://postgres@127.0.0.1:1/none", min_size=0, max_size=1)
    sink = ScrapeEventLog(away, ScrapeEventOptions(max_pending=2, retry_initial_s=0.05, retry_max_s=0.1))
    sink.start()
    for k in range(3):
        sink.observe([failed_result(T0 + 30 * k, WEB, "timeout")], {})
        sink.observe([make_result([], T0 + 30 * k + 15, WEB)], {})
    await asyncio.sleep(0.2)
    assert sink.dropped == 4
    sink._pool = pool  # PostgreSQL is back
    await sink.close()
    assert [level for level, _ in await messages(pool)] == ["error", "info"]
