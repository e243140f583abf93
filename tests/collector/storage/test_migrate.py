"""Migrations: applied once, in order, under the advisory lock; edited migrations are refused."""

from __future__ import annotations

import asyncio
import math
import struct
from datetime import UTC, datetime

import asyncpg
import pytest

from collector.storage.migrate import MigrationMismatchError, available_migrations, migrate
from collector.storage.raw_codec import unpack_values


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


async def test_raw_values_stored_as_arrays_are_converted_to_packed_bytes(fresh_pg_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        assert await migrate(conn, up_to=8) == list(range(1, 9))
        (stale,) = struct.unpack(">d", bytes.fromhex("7ff0000000000002"))
        rows = [[1.5, -2.0, 1e300, stale], []]
        for i, vals in enumerate(rows):
            await conn.execute(
                "INSERT INTO history_raw (server_id, ts, series_set_id, vals) "
                "VALUES (gen_random_uuid(), now() + $1 * interval '1 s', 1, $2)",
                i,
                vals,
            )
        assert await migrate(conn) == [m.version for m in available_migrations()][8:]
        converted = await conn.fetch("SELECT vals FROM history_raw ORDER BY ts")
        stored = [unpack_values(r["vals"]) for r in converted]
        assert stored[0][:3] == [1.5, -2.0, 1e300] and stored[1] == []
        assert math.isnan(stored[0][3])
        assert struct.pack(">d", stored[0][3]) == bytes.fromhex("7ff0000000000002")
    finally:
        await conn.close()


async def test_api_tokens_without_an_expiry_get_one_and_expiry_becomes_required(fresh_pg_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn, up_to=9)
        user = await conn.fetchval(
            "INSERT INTO users (username, password_hash, role) VALUES ('t', 'x', 'admin') RETURNING id"
        )
        for name, revoked in (("live", None), ("revoked", "2020-01-01T00:00:00Z")):
            await conn.execute(
                """INSERT INTO api_tokens (user_id, name, token_hash, role, revoked_at)
                   VALUES ($1, $2, $2, 'admin', $3::text::timestamptz)""",
                user,
                name,
                revoked,
            )
        await migrate(conn)
        rows = {
            r["name"]: r
            for r in await conn.fetch(
                """SELECT name, expires_at - now() AS left, expires_at = revoked_at AS at_revocation
                   FROM api_tokens"""
            )
        }
        assert abs(rows["live"]["left"].days - 90) <= 1
        assert rows["revoked"]["at_revocation"]
        with pytest.raises(asyncpg.NotNullViolationError):
            await conn.execute(
                "INSERT INTO api_tokens (user_id, name, token_hash, role) VALUES ($1, 'n', 'n', 'admin')",
                user,
            )
        assert await conn.fetchval("SELECT must_change_password FROM users WHERE id = $1", user) is False
    finally:
        await conn.close()


async def test_metric_metadata_comes_to_existing_servers_and_goes_with_them(fresh_pg_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn, up_to=16)
        server = await conn.fetchval("INSERT INTO servers (name, hostname) VALUES ('a', 'a') RETURNING id")
        assert await migrate(conn) == [m.version for m in available_migrations()][16:]
        await conn.execute(
            "INSERT INTO metric_metadata (server_id, metric, type, help, unit) "
            "VALUES ($1, 'up', 'gauge', '', '')",
            server,
        )
        await conn.execute(
            "INSERT INTO metric_metadata_targets (server_id, labels) VALUES ($1, '{}')", server
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO metric_metadata (server_id, metric, type, help, unit) "
                "VALUES ($1, 'up', 'counter', '', '')",
                server,
            )
        await conn.execute("DELETE FROM servers WHERE id = $1", server)
        assert await conn.fetchval("SELECT count(*) FROM metric_metadata") == 0
        assert await conn.fetchval("SELECT count(*) FROM metric_metadata_targets") == 0
    finally:
        await conn.close()


async def test_installed_history_counts_the_hour_before_the_watermark_as_maybe_unfinished(
    fresh_pg_dsn: str,
) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn, up_to=17)
        await conn.execute("UPDATE history_state SET compacted_until = '2026-03-02T10:00:00Z'")
        await migrate(conn)
        chunked = await conn.fetchval("SELECT chunked_until FROM history_state")
        assert chunked == datetime(2026, 3, 2, 9, tzinfo=UTC)
    finally:
        await conn.close()


async def test_a_history_never_compacted_keeps_its_watermarks_at_the_epoch(fresh_pg_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn)
        row = await conn.fetchrow("SELECT compacted_until, chunked_until FROM history_state")
        assert row is not None
        assert row["compacted_until"] == row["chunked_until"] == datetime(1970, 1, 1, tzinfo=UTC)
    finally:
        await conn.close()


async def test_series_of_one_metric_and_instance_are_found_by_the_index(fresh_pg_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_pg_dsn)
    try:
        await migrate(conn)
        await conn.execute("SET enable_seqscan = off")
        plan = await conn.fetch(
            """EXPLAIN SELECT id FROM series s
               WHERE s.metric = 'node_cpu_seconds_total' AND (s.labels ->> 'instance') = 'a:9100'"""
        )
        assert "series_metric_instance" in "\n".join(row[0] for row in plan)
    finally:
        await conn.close()
