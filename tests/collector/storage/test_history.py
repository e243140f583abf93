"""The SQL write path: servers, series sets, raw rows and server_stats, written once however replayed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from collector.storage.errors import StoreUnavailable
from collector.storage.history import (
    HistoryStore,
    SetDigests,
    StatsValues,
    batch_from_results,
    ms_to_datetime,
)
from collector.storage.raw_codec import unpack_values
from collector.summary import ServerSummary
from tests.collector.storage.history_helpers import T0_MS, migrated_pool, result, stats, target


async def test_first_write_creates_server_series_and_set_then_steady_state_only_adds_rows(
    fresh_pg_dsn: str,
) -> None:
    t = target(1)
    digests = SetDigests()
    store = HistoryStore()
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        first = batch_from_results([result(t, T0_MS, [1.0, 2.0, 3.0])], {t.server_id: stats(10.0)}, digests)
        outcome = await store.write(conn, first)
        assert (outcome.rows_written, outcome.samples_written, outcome.stats_written) == (1, 3, 1)
        server = await conn.fetchrow("SELECT * FROM servers WHERE id = $1", t.server_id)
        assert server is not None
        assert (server["name"], server["hostname"], server["job"], server["address"], server["status"]) == (
            "host-1.example",
            "host-1.example",
            "node",
            "host-1.example:9100",
            "up",
        )
        assert await conn.fetchval("SELECT count(*) FROM series") == 3
        ids = await conn.fetchval("SELECT series_ids FROM series_sets")
        metrics = [await conn.fetchval("SELECT metric FROM series WHERE id = $1", i) for i in ids]
        assert metrics == ["up", "node_cpu_seconds_total", "node_cpu_seconds_total"]

        second = batch_from_results([result(t, T0_MS + 15_000, [1.0, 2.5, 3.5])], {}, digests)
        await store.write(conn, second)
        assert await conn.fetchval("SELECT count(*) FROM series_sets") == 1
        rows = await conn.fetch("SELECT ts, vals FROM history_raw ORDER BY ts")
        assert [(r["ts"], unpack_values(r["vals"])) for r in rows] == [
            (ms_to_datetime(T0_MS), [1.0, 2.0, 3.0]),
            (ms_to_datetime(T0_MS + 15_000), [1.0, 2.5, 3.5]),
        ]
        assert await conn.fetchval("SELECT cpu_usage FROM server_stats") == 10.0


async def test_replaying_a_batch_writes_each_row_once(fresh_pg_dsn: str) -> None:
    targets = [target(i) for i in range(3)]
    digests = SetDigests()
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        batch = batch_from_results(
            [result(t, T0_MS, [float(i), 1.0]) for i, t in enumerate(targets)],
            {t.server_id: stats(1.0) for t in targets},
            digests,
        )
        await HistoryStore().write(conn, batch)
        # A fresh store (a restarted collector) replays the same batch plus one new row.
        batch.rows.extend(
            batch_from_results([result(targets[0], T0_MS + 15_000, [9.0, 9.0])], {}, digests).rows
        )
        outcome = await HistoryStore().write(conn, batch)
        assert outcome.rows_written == 4
        assert await conn.fetchval("SELECT count(*) FROM history_raw") == 4
        assert await conn.fetchval("SELECT count(*) FROM server_stats") == 3


async def test_rows_older_than_the_compaction_watermark_mark_their_hour_dirty(fresh_pg_dsn: str) -> None:
    t = target(1)
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        await conn.execute("UPDATE history_state SET compacted_until = $1", ms_to_datetime(T0_MS))
        batch = batch_from_results(
            [result(t, T0_MS - 60_000, [1.0]), result(t, T0_MS + 60_000, [2.0])], {}, SetDigests()
        )
        await HistoryStore().write(conn, batch)
        dirty = await conn.fetch("SELECT server_id, hour FROM history_dirty")
        assert [(r["server_id"], r["hour"]) for r in dirty] == [
            (t.server_id, ms_to_datetime(T0_MS) - timedelta(hours=1))
        ]


async def test_a_server_registered_under_another_id_keeps_history_but_gets_no_stats(
    fresh_pg_dsn: str,
) -> None:
    t = target(1)
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO servers (name, hostname, job, address) VALUES ('x', 'x', $1, $2)", t.job, t.instance
        )
        batch = batch_from_results([result(t, T0_MS, [1.0])], {t.server_id: stats(5.0)}, SetDigests())
        outcome = await HistoryStore().write(conn, batch)
        assert (outcome.rows_written, outcome.stats_written) == (1, 0)


async def test_a_server_row_made_before_the_first_write_gets_the_scrape_status(fresh_pg_dsn: str) -> None:
    t, other = target(1), target(2)
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        # Made by an alert about the target before its first scrape was written: no status, no last check.
        await conn.execute(
            "INSERT INTO servers (id, name, hostname, job, address) VALUES ($1, 'x', 'x', $2, $3)",
            t.server_id,
            t.job,
            t.instance,
        )
        failed = replace(result(other, T0_MS, [0.0]), error="connection refused", error_reason="connect")
        results = [result(t, T0_MS, [1.0]), failed]
        batch = batch_from_results(results, {t.server_id: stats(5.0)}, SetDigests())
        outcome = await HistoryStore().write(conn, batch)
        assert (outcome.rows_written, outcome.stats_written) == (2, 1)
        rows = await conn.fetch("SELECT id, name, status, last_check FROM servers ORDER BY name")
        assert [(r["id"], r["name"], r["status"], r["last_check"]) for r in rows] == [
            (other.server_id, "host-2.example", "down", ms_to_datetime(T0_MS)),
            (t.server_id, "x", "up", ms_to_datetime(T0_MS)),
        ]


async def test_a_changed_series_set_gets_a_new_set_row(fresh_pg_dsn: str) -> None:
    t = target(1)
    digests = SetDigests()
    store = HistoryStore()
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn:
        await store.write(conn, batch_from_results([result(t, T0_MS, [1.0, 2.0])], {}, digests))
        await store.write(conn, batch_from_results([result(t, T0_MS + 15_000, [1.0, 2.0, 3.0])], {}, digests))
        sets = await conn.fetch("SELECT n_series FROM series_sets ORDER BY id")
        assert [r["n_series"] for r in sets] == [2, 3]
        assert await conn.fetchval("SELECT count(*) FROM series") == 3


def test_the_summary_of_a_scrape_fills_its_server_stats_row() -> None:
    t = target(1)
    summary = ServerSummary(cpu=12.5, memory=40.0, disk=None, network_rx=1e6, network_tx=2e5, load1=0.3)
    batch = batch_from_results(
        [result(t, T0_MS, [1.0]), result(t, T0_MS + 15_000, [1.0])], {t.server_id: summary}, SetDigests()
    )
    # A summary is of the server's latest scrape in the call.
    assert [row.stats for row in batch.rows] == [None, StatsValues(12.5, 40.0, None, 1e6, 2e5)]


async def test_a_step_that_times_out_names_itself_and_commits_nothing(fresh_pg_dsn: str) -> None:
    t = target(1)
    digests = SetDigests()
    store = HistoryStore()
    async with migrated_pool(fresh_pg_dsn) as pool, pool.acquire() as conn, pool.acquire() as locker:
        await store.write(conn, batch_from_results([result(t, T0_MS, [1.0])], {}, digests))
        async with locker.transaction():
            await locker.execute("LOCK TABLE history_raw IN ACCESS EXCLUSIVE MODE")
            later = batch_from_results([result(t, T0_MS + 15_000, [2.0])], {}, digests)
            with pytest.raises(StoreUnavailable, match=r"writing the rows took longer than 0\.3 s"):
                await store.write(conn, later, step_timeout_s=0.3)
        assert await conn.fetchval("SELECT count(*) FROM history_raw") == 1
