"""Migrations: applied once, in order, under the advisory lock; edited migrations are refused."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from collector.storage.migrate import MigrationMismatchError, available_migrations, migrate


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_migrate_creates_the_seed_tables_and_records_versions(fresh_pg_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        applied = await migrate(conn)
        assert applied == [m.version for m in available_migrations()]
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert {"users", "servers", "server_stats", "alerts", "schema_migrations"} <= tables
        columns = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name='servers'"
            )
        }
        assert {"id", "name", "hostname", "description", "status", "last_check", "owner_id"} <= columns
        assert await migrate(conn) == []
    finally:
        await conn.close()


async def test_two_collectors_migrating_at_once_apply_each_migration_once(fresh_pg_dsn: str) -> None:
    conns = [await asyncpg.connect(fresh_pg_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(available_migrations())]
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(available_migrations())
    finally:
        for conn in conns:
            await conn.close()


async def test_an_applied_migration_that_was_edited_is_refused(fresh_pg_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn)
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(MigrationMismatchError, match="0001_init was changed"):
            await migrate(conn)
    finally:
        await conn.close()
