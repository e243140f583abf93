"""The decoupled write path: straight to PostgreSQL when healthy, through the spool when not, nothing lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pgserver
import pytest

from collector.result import ScrapeResult
from collector.storage.batch_codec import decode_batch
from collector.storage.history_writer import HistoryWriter, WriterConfig
from collector.storage.raw_codec import unpack_values
from tests.collector.storage.history_helpers import T0_MS, migrated_pool, result, stats, target
from tests.polling import eventually

UNREACHABLE_DSN = "postgresql://postgres@127.0.0.1:1/none"


def writer_config(tmp_path: Path, **overrides: float) -> WriterConfig:
    return WriterConfig(
        spool_dir=tmp_path / "spool",
        spool_max_bytes=int(overrides.get("spool_max_bytes", 1 << 24)),
        spool_segment_bytes=int(overrides.get("spool_segment_bytes", 1 << 16)),
        spool_fsync=False,
        flush_interval_s=0.05,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        write_timeout_s=5,
    )


def wave(n_targets: int, k: int) -> list[ScrapeResult]:
    return [result(target(i), T0_MS + k * 15_000, [float(k), float(i), 0.5]) for i in range(n_targets)]


async def test_a_healthy_database_gets_batches_directly(fresh_pg_dsn: str, tmp_path: Path) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        writer = HistoryWriter(pool, writer_config(tmp_path))
        await writer.start()
        for k in range(3):
            writer.write(wave(5, k), {target(i).server_id: stats(k) for i in range(5)})
        await eventually(lambda: writer.counters.samples_written_total == 45, timeout_s=20)
        await writer.close()
        assert writer.health().status == "ok"
        assert writer.counters.batches_spooled_total == 0
        assert await pool.fetchval("SELECT count(*) FROM history_raw") == 15
        assert await pool.fetchval("SELECT count(*) FROM server_stats") == 15


async def test_postgres_down_for_several_batches_then_back_loses_no_sample(
    tmp_path: Path, pg_data_dir: Path
) -> None:
    pgdata = pg_data_dir
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    dsn = server.get_uri()
    try:
        async with migrated_pool(dsn) as pool:
            writer = HistoryWriter(pool, writer_config(tmp_path))
            await writer.start()
            writer.write(wave(3, 0), {})
            await eventually(lambda: writer.counters.batches_written_total == 1, timeout_s=20)

            server.cleanup()
            for k in range(1, 6):
                # A target that first appears during the outage: its series must still arrive.
                results = wave(3, k) + ([result(target(99), T0_MS + k * 15_000, [7.0])] if k == 3 else [])
                writer.write(results, {})
                await asyncio.sleep(0.1)
            await eventually(lambda: writer.counters.batches_spooled_total >= 3, timeout_s=20)
            health = writer.health()
            assert health.status == "degraded"
            assert health.spool_records > 0
            assert health.last_error is not None

            server = pgserver.get_server(pgdata, cleanup_mode="stop")
            await eventually(lambda: writer.health().status == "ok", timeout_s=20)
            await writer.close()
            assert await pool.fetchval("SELECT count(*) FROM history_raw") == 3 * 6 + 1
            assert await pool.fetchval("SELECT count(DISTINCT (server_id, ts)) FROM history_raw") == 19
            vals = await pool.fetchval(
                "SELECT vals FROM history_raw WHERE server_id = $1", target(99).server_id
            )
            assert unpack_values(vals) == [7.0]
    finally:
        server.cleanup()


async def test_spooled_batches_survive_a_restart_and_replay_exactly_once(
    fresh_pg_dsn: str, tmp_path: Path
) -> None:
    down = await asyncpg.create_pool(UNREACHABLE_DSN, min_size=0, max_size=1)
    writer = HistoryWriter(down, writer_config(tmp_path))
    await writer.start()
    for k in range(4):
        writer.write(wave(2, k), {target(i).server_id: stats(1.0) for i in range(2)})
        await writer.flush()
    await writer.close()
    await down.close()
    assert writer.counters.batches_spooled_total == 4

    async with migrated_pool(fresh_pg_dsn) as pool:
        restarted = HistoryWriter(pool, writer_config(tmp_path))
        await restarted.start()
        assert restarted.health().spool_records == 4
        await eventually(lambda: restarted.health().status == "ok", timeout_s=20)
        await restarted.close()
        assert restarted.counters.batches_replayed_total == 4
        assert await pool.fetchval("SELECT count(*) FROM history_raw") == 8
        assert await pool.fetchval("SELECT count(*) FROM server_stats") == 8


async def test_a_full_spool_drops_the_oldest_batches_and_counts_them(tmp_path: Path) -> None:
    down = await asyncpg.create_pool(UNREACHABLE_DSN, min_size=0, max_size=1)
    writer = HistoryWriter(down, writer_config(tmp_path, spool_max_bytes=8000, spool_segment_bytes=2000))
    await writer.start()
    try:
        for k in range(40):
            writer.write(wave(4, k), {})
            await writer.flush()
        health = writer.health()
        assert health.spool_dropped_records > 0
        assert health.spool_bytes <= 8000
        assert health.spool_records + health.spool_dropped_records == 40
    finally:
        await writer.close()
        await down.close()


async def test_write_after_close_is_refused(tmp_path: Path, fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        writer = HistoryWriter(pool, writer_config(tmp_path))
        await writer.start()
        await writer.close()
        with pytest.raises(RuntimeError, match="closed"):
            writer.write(wave(1, 0), {})


async def test_a_slow_database_sends_batches_to_the_spool_until_it_keeps_up(
    fresh_pg_dsn: str, tmp_path: Path
) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        config = WriterConfig(
            spool_dir=tmp_path / "spool",
            spool_fsync=False,
            flush_interval_s=0.05,
            write_timeout_s=0.3,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
        writer = HistoryWriter(pool, config)
        await writer.start()
        blocker = await asyncpg.connect(fresh_pg_dsn)
        try:
            async with blocker.transaction():
                # Another session holds the table: every write waits past write_timeout_s.
                await blocker.execute("LOCK TABLE history_raw IN ACCESS EXCLUSIVE MODE")
                writer.write(wave(2, 0), {})
                await eventually(lambda: writer.counters.batches_spooled_total >= 1, timeout_s=20)
                assert writer.health().status == "degraded"
            await eventually(lambda: writer.health().status == "ok", timeout_s=20)
        finally:
            await blocker.close()
        await writer.close()
        assert await pool.fetchval("SELECT count(*) FROM history_raw") == 2


async def test_closing_during_a_hung_write_keeps_the_batch_in_the_spool(
    fresh_pg_dsn: str, tmp_path: Path
) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        writer = HistoryWriter(pool, writer_config(tmp_path))
        await writer.start()
        blocker = await asyncpg.connect(fresh_pg_dsn)
        try:
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE history_raw IN ACCESS EXCLUSIVE MODE")
                writer.write(wave(3, 0), {})
                await asyncio.sleep(0.3)  # the flush task is now waiting on the lock
                await writer.close(timeout_s=0.3)
                assert writer.spool.pending_records == 1
        finally:
            await blocker.close()
        restarted = HistoryWriter(pool, writer_config(tmp_path))
        await restarted.start()
        await eventually(lambda: restarted.health().status == "ok", timeout_s=20)
        await restarted.close()
        assert await pool.fetchval("SELECT count(*) FROM history_raw") == 3


async def test_a_new_series_set_is_defined_in_the_first_spooled_record_only(
    fresh_pg_dsn: str, tmp_path: Path
) -> None:
    down = await asyncpg.create_pool(UNREACHABLE_DSN, min_size=0, max_size=1)
    writer = HistoryWriter(down, writer_config(tmp_path))
    await writer.start()
    for k in range(3):
        writer.write(wave(2, k), {})
        await writer.flush()
    defined = []
    while (head := writer.spool.peek()) is not None:
        defined.append(len(decode_batch(head[1]).sets))
        writer.spool.ack(head[0])
    assert defined == [2, 0, 0]
    await writer.close()
    await down.close()


async def test_replay_completes_records_whose_definitions_an_earlier_record_held(
    fresh_pg_dsn: str, tmp_path: Path
) -> None:
    down = await asyncpg.create_pool(UNREACHABLE_DSN, min_size=0, max_size=1)
    writer = HistoryWriter(down, writer_config(tmp_path))
    await writer.start()
    for k in range(3):
        writer.write(wave(2, k), {})
        await writer.flush()
    # The first record, which defined the sets, is gone (as when a full spool drops its oldest).
    head = writer.spool.peek()
    assert head is not None
    writer.spool.ack(head[0])
    async with migrated_pool(fresh_pg_dsn) as pool:
        writer._pool = pool  # the database is back: same process, same memory of the definitions
        writer._retry.retry_now()
        await eventually(lambda: writer.health().status == "ok", timeout_s=20)
        await writer.close()
        assert await pool.fetchval("SELECT count(*) FROM history_raw") == 4
    await down.close()
