"""The events table: recording, minimum-level and other filters, grants, paging, servers deleted later."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from collector.alerts.notify.notifier import EVENT_SOURCE as NOTIFY_SOURCE
from collector.alerts.persistence import EVENT_SOURCE as ALERTS_SOURCE
from collector.config.settings import Settings
from collector.storage.connections import open_stores
from collector.storage.events import (
    Level,
    PendingEvent,
    is_system_source,
    levels_at_least,
    query_events,
    record_event,
    record_events,
)
from collector.storage.scrape_events import SOURCE as SCRAPE_SOURCE

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with open_stores(settings) as stores:
        # Every test counts what it sees: events of earlier tests must not be among them.
        await stores.pg.execute("DELETE FROM events")
        yield stores.pg


async def make_server(pool: asyncpg.Pool) -> uuid.UUID:
    """A servers row, for events to name."""
    server_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO servers (name, hostname) VALUES ($1, $1) RETURNING id", f"host-{uuid.uuid4().hex[:8]}"
    )
    return server_id


async def set_time(pool: asyncpg.Pool, event_id: int, at: datetime) -> None:
    """Move an event to ``at`` (record_event stamps the database's now)."""
    await pool.execute("UPDATE events SET at = $2 WHERE id = $1", event_id, at)


@pytest.mark.parametrize(
    ("minimum", "expected"),
    [
        ("debug", ["debug", "info", "warning", "error", "critical"]),
        ("info", ["info", "warning", "error", "critical"]),
        ("warning", ["warning", "error", "critical"]),
        ("error", ["error", "critical"]),
        ("critical", ["critical"]),
    ],
)
def test_levels_at_least_includes_the_more_severe(minimum: Level, expected: list[Level]) -> None:
    assert levels_at_least(minimum) == expected


async def test_recorded_event_reads_back_with_its_detail(pool: asyncpg.Pool) -> None:
    server = await make_server(pool)
    recorded = await record_event(
        pool, "error", "scrape", "scrape failed", server_id=server, detail={"error": "timeout", "n": [1, 2]}
    )
    events, total = await query_events(pool)
    assert total == 1 and events == [recorded]
    assert recorded.server_id == server and recorded.detail == {"error": "timeout", "n": [1, 2]}
    assert recorded.at.tzinfo is not None


async def test_event_without_server_or_detail_is_stored_as_null(pool: asyncpg.Pool) -> None:
    recorded = await record_event(pool, "info", "api", "started")
    assert recorded.server_id is None and recorded.detail is None


async def test_unknown_level_is_refused_before_the_database(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="unknown event level 'fatal'"):
        await record_event(pool, "fatal", "api", "nope")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minimum", "count"),
    [(None, 5), ("debug", 5), ("info", 4), ("warning", 3), ("error", 2), ("critical", 1)],
)
async def test_level_filter_is_a_minimum(pool: asyncpg.Pool, minimum: Level | None, count: int) -> None:
    for level in ("debug", "info", "warning", "error", "critical"):
        await record_event(pool, level, "alert", f"a {level} event")
    events, total = await query_events(pool, level=minimum)
    assert total == count == len(events)


async def test_source_server_and_time_filters(pool: asyncpg.Pool) -> None:
    web, db = await make_server(pool), await make_server(pool)
    early = await record_event(pool, "info", "scrape", "early", server_id=web)
    middle = await record_event(pool, "info", "action", "middle", server_id=db)
    late = await record_event(pool, "info", "scrape", "late", server_id=web)
    for event, minutes in ((early, 0), (middle, 10), (late, 20)):
        await set_time(pool, event.id, T0 + timedelta(minutes=minutes))

    async def ids(**filters: object) -> list[int]:
        events, total = await query_events(pool, **filters)  # type: ignore[arg-type]
        assert total == len(events)
        return [e.id for e in events]

    assert await ids(source="scrape") == [late.id, early.id]
    assert await ids(server_id=db) == [middle.id]
    # since is inclusive, until exclusive.
    assert await ids(since=T0 + timedelta(minutes=10)) == [late.id, middle.id]
    assert await ids(until=T0 + timedelta(minutes=10)) == [early.id]
    assert await ids(source="scrape", since=T0 + timedelta(minutes=5), until=T0 + timedelta(hours=1)) == [
        late.id
    ]


async def test_allowed_servers_see_their_events_and_serverless_ones(pool: asyncpg.Pool) -> None:
    granted, other = await make_server(pool), await make_server(pool)
    mine = await record_event(pool, "warning", "scrape", "mine", server_id=granted)
    await record_event(pool, "warning", "scrape", "not mine", server_id=other)
    general = await record_event(pool, "info", "api", "for everyone")
    events, total = await query_events(pool, allowed_servers={granted})
    assert total == 2 and {e.id for e in events} == {mine.id, general.id}
    events, total = await query_events(pool, allowed_servers=set())
    assert total == 1 and [e.id for e in events] == [general.id]
    _, total = await query_events(pool, allowed_servers=None)
    assert total == 3


async def test_pages_are_newest_first_and_total_counts_every_match(pool: asyncpg.Pool) -> None:
    recorded = [await record_event(pool, "info", "user", f"event {i}") for i in range(7)]
    for i, event in enumerate(recorded):
        await set_time(pool, event.id, T0 + timedelta(seconds=i))
    newest_first = [e.id for e in reversed(recorded)]
    first, total = await query_events(pool, limit=3)
    second, _ = await query_events(pool, limit=3, offset=3)
    last, _ = await query_events(pool, limit=3, offset=6)
    assert total == 7
    assert [e.id for e in first + second + last] == newest_first


async def test_deleting_a_server_keeps_its_events_without_the_server(pool: asyncpg.Pool) -> None:
    server = await make_server(pool)
    recorded = await record_event(pool, "critical", "alert", "disk full", server_id=server)
    await pool.execute("DELETE FROM servers WHERE id = $1", server)
    events, _ = await query_events(pool)
    assert [(e.id, e.server_id) for e in events] == [(recorded.id, None)]


async def test_record_events_writes_a_batch_at_its_own_times_and_nulls_unknown_servers(
    pool: asyncpg.Pool,
) -> None:
    known = await make_server(pool)
    await record_events(
        pool,
        [
            PendingEvent(T0, "error", "scrape", "web-1 is down", known, {"error": "timeout"}),
            PendingEvent(T0 + timedelta(seconds=15), "info", "scrape", "not registered yet", uuid.uuid4()),
        ],
    )
    events, total = await query_events(pool, source="scrape")
    assert total == 2
    assert [(e.at, e.level, e.server_id, e.message) for e in events] == [
        (T0 + timedelta(seconds=15), "info", None, "not registered yet"),
        (T0, "error", known, "web-1 is down"),
    ]
    assert events[1].detail == {"error": "timeout"}


async def test_record_events_refuses_an_unknown_level(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="unknown event level"):
        await record_events(pool, [PendingEvent(T0, "loud", "scrape", "x")])  # type: ignore[arg-type]


def test_the_sources_the_service_writes_under_are_reserved() -> None:
    for source in (SCRAPE_SOURCE, ALERTS_SOURCE, NOTIFY_SOURCE):
        assert is_system_source(source) and is_system_source(f"{source}.sub")
    assert not is_system_source("deploy") and not is_system_source(f"{ALERTS_SOURCE}-report")


async def test_posted_by_is_stored_and_filters_posted_from_own_events(pool: asyncpg.Pool) -> None:
    own = await record_event(pool, "info", "scrape", "up again")
    posted = await record_event(pool, "info", "deploy", "release", posted_by="alice")
    assert own.posted_by is None and posted.posted_by == "alice"
    assert [e.id for e in (await query_events(pool, posted=True))[0]] == [posted.id]
    assert [e.id for e in (await query_events(pool, posted=False))[0]] == [own.id]
    both, total = await query_events(pool)
    assert total == 2 and {e.posted_by for e in both} == {None, "alice"}
