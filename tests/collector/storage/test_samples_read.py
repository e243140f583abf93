"""Exact samples for PromQL: raw rows and chunks give the same samples, staleness from set changes, grants."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
import numpy as np
import pytest

from collector.matchers import Matcher
from collector.result import ScrapeResult, SeriesKey, TargetInfo
from collector.storage.maintenance import HistoryConfig, run_maintenance
from collector.storage.raw_cache import RawCache
from collector.storage.sample_rows import SampleLimitError
from collector.storage.samples_read import (
    STALE_NAN_BITS,
    Selection,
    read_samples,
    read_samples_many,
    with_staleness,
)
from tests.collector.storage.history_helpers import (
    T0,
    T0_MS,
    migrated_pool,
    result,
    target,
    write_hours,
)
from tests.collector.storage.history_helpers import (
    write_results as write,
)

STEP_MS = 15_000


def is_stale(values: Sequence[float] | np.ndarray) -> list[bool]:
    marks: list[bool] = (np.asarray(values, dtype=np.float64).view(np.uint64) == STALE_NAN_BITS).tolist()
    return marks


def failed(t: TargetInfo, ts_ms: int) -> ScrapeResult:
    """A failed scrape: only ``up`` 0, as the scrape loop stores it."""
    return ScrapeResult(
        target=t,
        timestamp_ms=ts_ms,
        duration_s=0.01,
        error="connection refused",
        error_reason="refused",
        series=(("up", t.labels),),
        series_set_id="synthetic",
        values=[0.0],
    )


def name(metric: str) -> Matcher:
    return Matcher(name="__name__", op="=", value=metric)


async def cpu_samples(
    pool: asyncpg.Pool, matchers: Sequence[Matcher], start_ms: int, end_ms: int
) -> dict[str, tuple[list[int], list[float]]]:
    """Samples by ``cpu`` label."""
    read = await read_samples(pool, matchers, start_ms, end_ms)
    return {s.series.labels["cpu"]: (s.ts.tolist(), s.values.tolist()) for s in read.series}


async def test_raw_rows_give_every_sample_at_its_scrape_time_inclusive_range(fresh_pg_dsn: str) -> None:
    t = target(1)
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [t], T0_MS, 10 / 60, n_series=6)
        found = await cpu_samples(
            pool, [name("node_cpu_seconds_total")], T0_MS + STEP_MS, T0_MS + 3 * STEP_MS
        )
    assert sorted(found) == [str(j) for j in range(1, 6)]
    ts, values = found["3"]
    assert ts == [T0_MS + STEP_MS, T0_MS + 2 * STEP_MS, T0_MS + 3 * STEP_MS]
    assert values == [3000.0 + 7, 3000.0 + 14, 3000.0 + 21]  # write_hours: counter 1000 * j + 7 * k


async def test_chunks_and_raw_rows_give_the_same_samples_across_the_compaction_watermark(
    fresh_pg_dsn: str,
) -> None:
    a, b = target(1), target(2)
    start, end = T0_MS - 600_000, T0_MS + 3 * 3_600_000
    matchers = [Matcher(name="__name__", op="=~", value="node_cpu_seconds_total|up")]
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [a, b], T0_MS, 3, n_series=20)
        raw = await read_samples(pool, matchers, start, end)
        # Compact the first two hours: a read now spans chunks, the hour both ways, and raw rows.
        await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=2, minutes=10))
        assert await pool.fetchval("SELECT count(*) FROM history_chunks") == 4
        mixed = await read_samples(pool, matchers, start, end)
    assert len(raw.series) == len(mixed.series) == 40
    for x, y in zip(raw.series, mixed.series, strict=True):
        assert x.series == y.series
        assert x.ts.tolist() == y.ts.tolist()
        assert x.values.view(np.uint64).tolist() == y.values.view(np.uint64).tolist(), "NaN kept bit for bit"
    assert any(math.isnan(v) for s in mixed.series for v in s.values.tolist())
    last = T0_MS + 3 * 3_600_000 - STEP_MS
    assert mixed.last_scrape_ms == {a.server_id: last, b.server_id: last}


async def test_an_hour_being_compacted_is_read_from_its_raw_rows(fresh_pg_dsn: str) -> None:
    t = target(1)
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [t], T0_MS, 1, n_series=3)
        # Maintenance moves the watermark before it writes the hour's chunks: no chunk exists yet.
        await pool.execute("UPDATE history_state SET compacted_until = $1", T0 + timedelta(hours=1))
        read = await read_samples(pool, [name("up")], T0_MS, T0_MS + 3_600_000)
    (up,) = read.series
    assert len(up.ts) == 240


async def test_a_late_row_for_a_compacted_hour_is_read_before_maintenance_compacts_it_again(
    fresh_pg_dsn: str,
) -> None:
    t = target(1)
    keys: tuple[SeriesKey, ...] = (("up", t.labels), ("load", t.labels))
    hour3, hour6 = T0_MS + 3 * 3_600_000, T0_MS + 6 * 3_600_000
    late_ms = hour3 + 7_000
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write(pool, [result(t, hour3 + k * STEP_MS, [1.0, float(k)], keys) for k in range(4)])
        await write(pool, [result(t, hour6 + k * STEP_MS, [1.0, float(k)], keys) for k in range(4)])
        await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=6, minutes=10))
        await write(pool, [result(t, late_ms, [1.0, 99.0], keys)])
        assert await pool.fetchval("SELECT count(*) FROM history_dirty") == 1
        read = await read_samples(pool, [name("load")], T0_MS + 3 * 3_600_000, T0_MS + 4 * 3_600_000)
    (load,) = read.series
    assert load.ts.tolist()[:2] == [T0_MS + 3 * 3_600_000, late_ms]
    assert load.values.tolist() == [0.0, 99.0, 1.0, 2.0, 3.0]


async def test_raw_rows_held_by_the_cache_read_as_rows_read_whole_new_and_late_rows_are_read(
    fresh_pg_dsn: str,
) -> None:
    t = target(1)
    keys: tuple[SeriesKey, ...] = (("up", t.labels), ("load", t.labels), ("temp", t.labels))
    scrapes = [0, 2, 3, 4]  # the scrape at 1 comes late, after the first read
    cache = RawCache()

    async def load_and_temp(raw_cache: RawCache | None) -> list[tuple[list[int], list[float]]]:
        selection = Selection([Matcher(name="__name__", op="=~", value="load|temp")], T0_MS, T0_MS + 600_000)
        (read,) = await read_samples_many(pool, [selection], raw_cache=raw_cache)
        return [(s.ts.tolist(), s.values.tolist()) for s in read.series]

    async with migrated_pool(fresh_pg_dsn) as pool:
        await write(pool, [result(t, T0_MS + k * STEP_MS, [1.0, k + 0.5, -k], keys) for k in scrapes])
        first = await load_and_temp(cache)
        assert first == await load_and_temp(None)
        assert (cache.hits, cache.misses) == (0, 4)
        # A new scrape after the held stretch: only it is read.
        await write(pool, [result(t, T0_MS + 5 * STEP_MS, [1.0, 5.5, -5.0], keys)])
        assert await load_and_temp(cache) == await load_and_temp(None)
        assert (cache.hits, cache.misses) == (4, 4 + 1)
        # A late scrape inside the held stretch: the count differs, the set's rows are read whole again.
        await write(pool, [result(t, T0_MS + STEP_MS, [1.0, 99.0, -99.0], keys)])
        again = await load_and_temp(cache)
        whole = await load_and_temp(None)
        assert (cache.hits, cache.misses) == (4, 5 + 6)
        assert await load_and_temp(cache) == whole
        assert (cache.hits, cache.misses) == (4 + 6, 5 + 6)
    assert again == whole
    assert whole[0] == ([T0_MS + k * STEP_MS for k in range(6)], [0.5, 99.0, 2.5, 3.5, 4.5, 5.5])


@pytest.mark.parametrize("compacted", [False, True], ids=["raw", "chunks"])
async def test_a_series_gone_from_a_scrape_gets_a_staleness_marker_at_that_scrape(
    fresh_pg_dsn: str, compacted: bool
) -> None:
    t = target(1)
    both: tuple[SeriesKey, ...] = (("up", t.labels), ("a", t.labels), ("b", t.labels))
    only_a: tuple[SeriesKey, ...] = (("up", t.labels), ("a", t.labels))
    ts = [T0_MS + k * STEP_MS for k in range(10)]
    scrapes = [
        *(result(t, ts[k], [1.0, 10.0 + k, 20.0 + k], both) for k in range(3)),
        result(t, ts[3], [1.0, 13.0], only_a),  # b goes away
        failed(t, ts[4]),  # a goes away with the failed scrape
        failed(t, ts[5]),
        result(t, ts[6], [1.0, 16.0, 26.0], both),  # both come back
        result(t, ts[7], [1.0, 17.0, 27.0], both),
    ]
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write(pool, scrapes)
        if compacted:
            await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=1, minutes=10))
            assert await pool.fetchval("SELECT count(*) FROM history_chunks") == 3
        read = await read_samples(pool, [Matcher(name="__name__", op="=~", value="a|b|up")], T0_MS, ts[9])
    got = {s.series.metric: s for s in read.series}
    assert got["b"].ts.tolist() == [ts[0], ts[1], ts[2], ts[3], ts[6], ts[7]]
    assert is_stale(got["b"].values) == [False, False, False, True, False, False]
    assert got["a"].ts.tolist() == [ts[0], ts[1], ts[2], ts[3], ts[4], ts[6], ts[7]]
    assert is_stale(got["a"].values) == [False] * 4 + [True] + [False] * 2
    assert not any(is_stale(got["up"].values)), "a series in every scrape never goes stale"
    assert got["up"].values.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]


async def test_rows_held_by_the_cache_give_the_same_staleness_markers(fresh_pg_dsn: str) -> None:
    t = target(1)
    both: tuple[SeriesKey, ...] = (("up", t.labels), ("a", t.labels), ("b", t.labels))
    ts = [T0_MS + k * STEP_MS for k in range(6)]
    cache = RawCache()
    selection = Selection([Matcher(name="__name__", op="=~", value="a|b")], T0_MS, ts[5])

    async def read(raw_cache: RawCache | None) -> list[tuple[str, list[int], list[int]]]:
        (found,) = await read_samples_many(pool, [selection], raw_cache=raw_cache)
        return [(s.series.metric, s.ts.tolist(), s.values.view(np.uint64).tolist()) for s in found.series]

    async with migrated_pool(fresh_pg_dsn) as pool:
        await write(pool, [result(t, ts[k], [1.0, 10.0 + k, 20.0 + k], both) for k in range(3)])
        await read(cache)
        await write(pool, [failed(t, ts[3]), result(t, ts[4], [1.0, 14.0, 24.0], both)])
        held = await read(cache)
        assert cache.hits == 3, "the first three scrapes came from the cache"
        assert held == await read(None)
    assert [marks for _, _, marks in held] and all(
        is_stale(np.array(marks, dtype=np.uint64).view(np.float64)) == [False] * 3 + [True, False]
        for _, _, marks in held
    )


@pytest.mark.parametrize(
    ("ts", "scrapes", "expected_ts", "expected_stale"),
    [
        ([10, 20], [10, 20, 30], [10, 20, 30], [False, False, True]),
        ([10, 30], [10, 20, 30], [10, 20, 30], [False, True, False]),
        ([10, 20, 30], [10, 20, 30], [10, 20, 30], [False, False, False]),
        ([20], [10, 20], [20], [False]),
        ([], [10, 20], [], []),
        ([10, 40], [10, 20, 30, 40, 50], [10, 20, 40, 50], [False, True, False, True]),
    ],
)
def test_staleness_markers_follow_the_scrapes_a_series_missed(
    ts: list[int], scrapes: list[int], expected_ts: list[int], expected_stale: list[bool]
) -> None:
    values = np.arange(len(ts), dtype=np.float64)
    got_ts, got_values = with_staleness(
        np.array(ts, dtype=np.int64), values, np.array(scrapes, dtype=np.int64)
    )
    assert got_ts.tolist() == expected_ts
    assert is_stale(got_values) == expected_stale


async def test_only_the_allowed_servers_series_are_read(fresh_pg_dsn: str) -> None:
    a, b = target(1), target(2)
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [a, b], T0_MS, 5 / 60, n_series=3)
        everyone = await read_samples(pool, [name("up")], T0_MS, T0_MS + 300_000)
        only_b = await read_samples(pool, [name("up")], T0_MS, T0_MS + 300_000, servers={b.server_id})
        nobody = await read_samples(pool, [name("up")], T0_MS, T0_MS + 300_000, servers=set())
    assert {s.series.labels["instance"] for s in everyone.series} == {a.instance, b.instance}
    assert [s.series.labels["instance"] for s in only_b.series] == [b.instance]
    assert set(only_b.last_scrape_ms) == {b.server_id}
    assert nobody.series == []


@pytest.mark.parametrize(
    "matchers",
    [
        [Matcher(name="cpu", op="=~", value="1|3")],
        [Matcher(name="cpu", op="=~", value=r"[13]")],
        [Matcher(name="cpu", op="=~", value=r"\d")],  # not portable: matched in Python only
        [Matcher(name="cpu", op="=~", value=r"(?i)1|3")],
        [Matcher(name="__name__", op="=~", value="node_.*"), Matcher(name="cpu", op="!~", value="2|4|5")],
        [Matcher(name="cpu", op="!=", value=""), Matcher(name="cpu", op="!=", value="2")],
    ],
    ids=["alternation", "class", "class-escape", "inline-flag", "negative-regex", "not-equal"],
)
async def test_matchers_select_as_the_engine_does_whatever_sql_can_apply(
    fresh_pg_dsn: str, matchers: list[Matcher]
) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1)], T0_MS, 1 / 60, n_series=6)
        read = await read_samples(pool, matchers, T0_MS, T0_MS + 60_000)
    expected = {"1", "3"} if matchers[0].value != r"\d" else {"1", "2", "3", "4", "5"}
    if matchers[0].name == "__name__":
        expected = {"1", "3"}
    if matchers[0].op == "!=":
        expected = {"1", "3", "4", "5"}
    assert {s.series.labels["cpu"] for s in read.series} == expected


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
async def test_a_read_past_the_sample_budget_is_refused(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1)], T0_MS, 10 / 60, n_series=5)
        ok = await read_samples(pool, [name("up")], T0_MS, T0_MS + 600_000, max_samples=40)
        assert len(ok.series[0].ts) == 40
        with pytest.raises(SampleLimitError):
            await read_samples(
                pool, [name("node_cpu_seconds_total")], T0_MS, T0_MS + 600_000, max_samples=100
            )


async def test_a_range_beyond_what_a_datetime_holds_is_clamped(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1)], T0_MS, 1 / 60, n_series=2)
        read = await read_samples(pool, [name("up")], -(2**62), 2**62)
    assert len(read.series[0].ts) == 4


async def test_a_range_ending_on_an_hour_s_first_scrape_reads_that_hour_s_chunk(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1)], T0_MS, 3, n_series=2)
        # Compacted up to T0 + 3 h: the second hour is read from chunks only.
        await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=3, minutes=10))
        read = await read_samples(pool, [name("up")], T0_MS + 3_600_000 - 300_000, T0_MS + 3_600_000)
    assert read.series[0].ts.tolist()[-1] == T0_MS + 3_600_000


async def test_a_read_plans_generically_and_leaves_the_pool_s_connections_as_they_were(
    fresh_pg_dsn: str,
) -> None:
    async with migrated_pool(fresh_pg_dsn) as setup:
        await write_hours(setup, [target(1)], T0_MS, 0.25, n_series=3)
    pool = await asyncpg.create_pool(fresh_pg_dsn, min_size=1, max_size=1)  # the same connection each time
    try:
        for _ in range(8):  # past the five executions after which PostgreSQL may choose by itself
            (read,) = await read_samples_many(pool, [Selection([name("up")], T0_MS, T0_MS + 900_000)])
            assert len(read.series[0].ts) == 60
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "auto", "the pool's reset restored it"
            plans = await conn.fetchrow(
                """SELECT sum(generic_plans) AS generic, sum(custom_plans) AS custom
                   FROM pg_prepared_statements WHERE statement ~ 'history_raw'"""
            )
        assert plans is not None
        assert plans["generic"] >= 8
        assert plans["custom"] == 0
    finally:
        await pool.close()
