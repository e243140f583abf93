"""The ``servers`` table as an inventory: registering, listing, editing, deleting, registered targets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.config.settings import Settings
from collector.result import server_id_for
from collector.storage.connections import open_stores
from collector.storage.servers import (
    NewServer,
    ServerExistsError,
    create_server,
    delete_server,
    get_server,
    list_servers,
    registered_targets,
    update_server,
)


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with open_stores(settings) as stores:
        await stores.pg.execute("DELETE FROM servers")
        yield stores.pg


def job() -> str:
    """A job name of this test's own."""
    return f"job-{uuid.uuid4().hex[:8]}"


async def test_create_derives_the_id_from_job_and_address(pool: asyncpg.Pool) -> None:
    name = job()
    record = await create_server(
        pool, NewServer("web-1", "web-1:9100", job=name, labels={"env": "prod"}, scrape_interval_s=30.0)
    )
    assert record.id == server_id_for(name, "web-1:9100")
    assert (record.source, record.hostname, record.scheme, record.metrics_path) == (
        "api",
        "web-1",
        "http",
        "/metrics",
    )
    assert record.labels == {"env": "prod"} and record.scrape_interval_s == 30.0 and record.enabled
    assert await get_server(pool, record.id) == record


async def test_the_same_job_and_address_again_is_a_typed_conflict(pool: asyncpg.Pool) -> None:
    name = job()
    await create_server(pool, NewServer("a", "10.0.0.1:9100", job=name))
    with pytest.raises(ServerExistsError) as raised:
        await create_server(pool, NewServer("b", "10.0.0.1:9100", job=name))
    assert raised.value.server_id == server_id_for(name, "10.0.0.1:9100")


async def test_a_discovered_row_with_that_job_and_address_also_conflicts(pool: asyncpg.Pool) -> None:
    name = job()
    await pool.execute(
        "INSERT INTO servers (name, hostname, job, address) VALUES ('x', 'x', $1, 'x:1')", name
    )
    with pytest.raises(ServerExistsError):
        await create_server(pool, NewServer("x", "x:1", job=name))


async def test_grant_owner_grants_the_creator_in_the_same_transaction(pool: asyncpg.Pool) -> None:
    owner = await pool.fetchval(
        "INSERT INTO users (username, password_hash, role) VALUES ($1, 'h', 'operator') RETURNING id",
        f"op-{uuid.uuid4().hex[:8]}",
    )
    record = await create_server(pool, NewServer("g", "g:1", job=job(), owner_id=owner), grant_owner=True)
    grants = await pool.fetch("SELECT server_id FROM server_grants WHERE user_id = $1", owner)
    assert [g["server_id"] for g in grants] == [record.id] and record.owner_id == owner


async def test_list_pages_by_name_and_keeps_to_the_allowed_ids(pool: asyncpg.Pool) -> None:
    name = job()
    made = [await create_server(pool, NewServer(n, f"{n}:1", job=name)) for n in ("c", "A", "b")]
    page, total = await list_servers(pool, limit=2, offset=0)
    assert [s.name for s in page] == ["A", "b"] and total == 3
    rest, total = await list_servers(pool, limit=2, offset=2)
    assert [s.name for s in rest] == ["c"] and total == 3
    past, total = await list_servers(pool, limit=2, offset=10)
    assert past == [] and total == 3
    only, total = await list_servers(pool, allowed={made[0].id})
    assert [s.name for s in only] == ["c"] and total == 1
    none, total = await list_servers(pool, allowed=set())
    assert none == [] and total == 0


async def test_update_changes_only_the_given_fields(pool: asyncpg.Pool) -> None:
    record = await create_server(pool, NewServer("old", "u:1", job=job(), scrape_interval_s=30.0))
    updated = await update_server(
        pool, record.id, {"name": "new", "labels": {"rack": "a"}, "scrape_interval_s": None}
    )
    assert updated is not None
    assert (updated.name, updated.labels, updated.scrape_interval_s) == ("new", {"rack": "a"}, None)
    assert updated.address == "u:1" and updated.updated_at >= record.updated_at
    assert await update_server(pool, uuid.uuid4(), {"name": "x"}) is None


async def test_update_refuses_identity_columns(pool: asyncpg.Pool) -> None:
    record = await create_server(pool, NewServer("n", "n:1", job=job()))
    with pytest.raises(ValueError, match="address"):
        await update_server(pool, record.id, {"address": "m:1"})


async def test_delete_reports_whether_there_was_a_server(pool: asyncpg.Pool) -> None:
    record = await create_server(pool, NewServer("d", "d:1", job=job()))
    assert await delete_server(pool, record.id)
    assert await get_server(pool, record.id) is None
    assert not await delete_server(pool, record.id)


async def test_registered_targets_are_the_enabled_api_rows(pool: asyncpg.Pool) -> None:
    name = job()
    scraped = await create_server(
        pool,
        NewServer("s", "s:9100", job=name, scheme="https", metrics_path="/m", scrape_interval_s=15.0),
    )
    await create_server(pool, NewServer("off", "off:9100", job=name, enabled=False))
    await pool.execute(
        "INSERT INTO servers (name, hostname, job, address) VALUES ('disc', 'disc', $1, 'disc:1')", name
    )
    targets = await registered_targets(pool)
    assert [(t.id, t.url, t.scrape_interval_s) for t in targets] == [(scraped.id, "https://s:9100/m", 15.0)]


async def test_monitoring_settings_are_stored_edited_and_handed_to_the_collector(pool: asyncpg.Pool) -> None:
    name = job()
    record = await create_server(
        pool, NewServer("s", "s:9100", job=name, scrape_timeout_s=3.0, collectors=("cpu",), tags=("db", "eu"))
    )
    assert (record.scrape_timeout_s, record.collectors, record.tags) == (3.0, ("cpu",), ("db", "eu"))
    updated = await update_server(
        pool, record.id, {"scrape_timeout_s": None, "collectors": ("cpu", "memory"), "tags": ()}
    )
    assert updated is not None
    assert (updated.scrape_timeout_s, updated.collectors, updated.tags) == (None, ("cpu", "memory"), ())
    (target,) = [t for t in await registered_targets(pool) if t.job == name]
    assert (target.scrape_timeout_s, target.collectors) == (None, ("cpu", "memory"))
    cleared = await update_server(pool, record.id, {"collectors": None, "scrape_timeout_s": 4.0})
    assert cleared is not None and (cleared.collectors, cleared.scrape_timeout_s) == (None, 4.0)
