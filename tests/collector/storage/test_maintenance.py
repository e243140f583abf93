"""Maintenance: partitions, compaction and rollups that preserve values, retention, one run at a time."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta

from collector.matchers import Matcher
from collector.storage.history_read import SeriesPoints, series_range
from collector.storage.maintenance import HistoryConfig, run_maintenance
from collector.storage.rollups import Aggregate
from tests.collector.storage.history_helpers import T0, T0_MS, migrated_pool, result, target, write_hours

CONFIG = HistoryConfig()
ALL = [Matcher(name="job", op="=", value="node")]


async def test_maintenance_creates_partitions_ahead_and_moves_stray_rows_into_them(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        # Rows written before any partition exists land in the DEFAULT partition.
        await write_hours(pool, [target(1)], T0_MS, 0.5)
        assert await pool.fetchval("SELECT count(*) FROM history_raw_default") == 120
        report = await run_maintenance(pool, CONFIG, now=T0 + timedelta(minutes=40))
        assert "history_raw_p2026030210" in report.partitions_created
        assert "history_raw_p2026030309" in report.partitions_created  # a day ahead
        assert "server_stats_p20260302" in report.partitions_created
        assert "history_rollups_1h_p202603" in report.partitions_created
        assert await pool.fetchval("SELECT count(*) FROM history_raw_default") == 0
        assert await pool.fetchval("SELECT count(*) FROM history_raw_p2026030210") == 120
        assert await pool.fetchval("SELECT count(*) FROM server_stats_p20260302") == 120
        again = await run_maintenance(pool, CONFIG, now=T0 + timedelta(minutes=45))
        assert again.partitions_created == []


async def test_compaction_and_rollups_return_the_same_points_as_raw(fresh_pg_dsn: str) -> None:
    targets = [target(1), target(2)]
    end = T0 + timedelta(hours=3)
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, targets, T0_MS, 3)
        cases: list[tuple[int, Aggregate]] = [
            (15, "last"),
            (60, "avg"),
            (300, "avg"),
            (300, "max"),
            (3600, "avg"),
        ]
        before = {
            (step, agg): await series_range(pool, ALL, T0, end, step, aggregate=agg) for step, agg in cases
        }
        report = await run_maintenance(pool, CONFIG, now=end + timedelta(minutes=10))
        assert report.hours_compacted == 3
        assert report.target_hours_compacted == 6
        assert await pool.fetchval("SELECT count(*) FROM history_chunks") == 6
        assert await pool.fetchval("SELECT count(*) FROM history_rollups_5m") == 6
        for step, agg in cases[:-1]:
            expected = before[step, agg]
            after = await series_range(pool, ALL, T0, end, step, aggregate=agg)
            assert _points(after) == _points(expected), (step, agg)
        hourly = await series_range(pool, ALL, T0, end, 3600)
        _assert_close(_points(hourly), _points(before[3600, "avg"]))
        # Every sample is a point, but for the NaNs (6 series of each target, 15 scrapes each).
        assert sum(len(s.points) for s in before[15, "last"]) == 2 * 20 * 720 - 2 * 6 * 15

        # The next day, the closed day gets its 1-hour rollups; reads at an hourly step use them.
        next_day = T0.replace(hour=0) + timedelta(days=1, minutes=10)
        from_5m = await series_range(pool, ALL, T0, end, 3600)
        report = await run_maintenance(pool, CONFIG, now=next_day)
        assert report.days_rolled_up == 1
        assert await pool.fetchval("SELECT count(*) FROM history_rollups_1h") == 2
        assert _points(await series_range(pool, ALL, T0, end, 3600)) == _points(from_5m)


async def test_late_rows_are_compacted_again(fresh_pg_dsn: str) -> None:
    t = target(1)
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [t], T0_MS + 15_000, 1)  # the first scrape of the hour is missing
        await run_maintenance(pool, CONFIG, now=T0 + timedelta(hours=1, minutes=10))
        late = result(t, T0_MS, [1.0] * 20)
        from collector.storage.history import HistoryStore, SetDigests, batch_from_results  # noqa: PLC0415

        async with pool.acquire() as conn:
            await HistoryStore().write(conn, batch_from_results([late], {}, SetDigests()))
        assert await pool.fetchval("SELECT count(*) FROM history_dirty") == 1
        report = await run_maintenance(pool, CONFIG, now=T0 + timedelta(hours=1, minutes=20))
        assert report.dirty_target_hours == 1
        assert await pool.fetchval("SELECT count(*) FROM history_dirty") == 0
        points = await series_range(
            pool, [Matcher(name="__name__", op="=", value="up")], T0, T0 + timedelta(hours=1), 15
        )
        assert len(points[0].points) == 240
        assert points[0].points[0][0] == T0


async def test_an_hour_a_stopped_run_left_half_compacted_is_compacted_again(fresh_pg_dsn: str) -> None:
    a, b = target(1), target(2)
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [a, b], T0_MS, 2)
        # A run stopped right after moving the first watermark past hour 0, before any of its chunks.
        await pool.execute("UPDATE history_state SET compacted_until = $1", T0 + timedelta(hours=1))
        state = await pool.fetchrow("SELECT compacted_until, chunked_until FROM history_state")
        assert state is not None
        assert state["chunked_until"] < T0
        half = await series_range(pool, ALL, T0, T0 + timedelta(hours=1), 15)
        assert len(half) == 40
        assert all(s.points for s in half), "the unfinished hour is read from its raw rows"
        report = await run_maintenance(pool, CONFIG, now=T0 + timedelta(hours=2, minutes=10))
        assert report.hours_compacted == 2
        hours = await pool.fetch("SELECT server_id, start_ts FROM history_chunks ORDER BY start_ts")
        assert {(r["server_id"], r["start_ts"]) for r in hours} == {
            (t.server_id, T0 + timedelta(hours=h)) for t in (a, b) for h in (0, 1)
        }
        state = await pool.fetchrow("SELECT compacted_until, chunked_until FROM history_state")
        assert state is not None
        assert state["compacted_until"] == state["chunked_until"] == T0 + timedelta(hours=2)
        assert await series_range(pool, ALL, T0, T0 + timedelta(hours=1), 15) == half


async def test_retention_drops_whole_partitions_per_tier(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1)], T0_MS, 2)
        await run_maintenance(pool, CONFIG, now=T0 + timedelta(hours=2, minutes=10))
        await run_maintenance(pool, CONFIG, now=T0 + timedelta(days=1, hours=1))
        raw_before = await pool.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'history_raw_p%'"
        )
        report = await run_maintenance(pool, CONFIG, now=T0 + timedelta(days=20))
        assert "history_raw_p2026030210" in report.partitions_dropped
        assert "history_chunks_p20260302" in report.partitions_dropped
        assert "server_stats_p20260302" in report.partitions_dropped
        assert not any(p.startswith("history_rollups") for p in report.partitions_dropped)
        assert (
            await pool.fetchval("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'history_raw_p%'")
            < raw_before
        )
        assert await pool.fetchval("SELECT count(*) FROM history_raw") == 0
        end = T0 + timedelta(hours=2)
        assert all(not s.points for s in await series_range(pool, ALL, T0, end, 15))
        hourly = await series_range(pool, ALL, T0, end, 3600)
        assert all(len(s.points) == 2 for s in hourly)


async def test_raw_hours_not_yet_compacted_are_never_dropped(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1)], T0_MS, 1)
        await write_hours(pool, [target(1)], T0_MS + 5 * 3_600_000, 0.5)
        await run_maintenance(pool, CONFIG, now=T0 + timedelta(minutes=30))
        # Maintenance did not run for days, and this run may compact two hours only.
        report = await run_maintenance(pool, HistoryConfig(max_hours_per_run=2), now=T0 + timedelta(days=3))
        assert report.hours_compacted == 2
        assert "history_raw_p2026030210" in report.partitions_dropped
        later = T0 + timedelta(hours=5)
        assert await pool.fetchval("SELECT count(*) FROM history_raw WHERE ts >= $1", later) == 120
        assert await pool.fetchval("SELECT count(*) FROM history_chunks") == 1


async def test_two_runs_at_once_do_the_work_once(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1), target(2)], T0_MS, 1)
        now = T0 + timedelta(hours=1, minutes=10)
        reports = await asyncio.gather(*(run_maintenance(pool, CONFIG, now=now) for _ in range(2)))
        assert sorted(r.skipped for r in reports) == [False, True]
        assert await pool.fetchval("SELECT count(*) FROM history_chunks") == 2


Points = list[tuple[int, list[tuple[datetime, float | str]]]]


def _points(series: list[SeriesPoints]) -> Points:
    """Comparable points (NaN is not equal to itself, so it is spelled out)."""
    return [(s.series_id, [(t, v if v == v else "nan") for t, v in s.points]) for s in series]


def _assert_close(a: Points, b: Points) -> None:
    assert [(sid, [t for t, _ in pts]) for sid, pts in a] == [(sid, [t for t, _ in pts]) for sid, pts in b]
    for (_, pa), (_, pb) in zip(a, b, strict=True):
        for (_, va), (_, vb) in zip(pa, pb, strict=True):
            assert isinstance(va, float) and isinstance(vb, float)
            assert math.isclose(va, vb, rel_tol=1e-12)
