"""The rows of a sample read: the tiers of a range, the series sets it uses, runs of positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collector.matchers import Matcher
from collector.storage.history import ms_to_datetime
from collector.storage.maintenance import HistoryConfig, run_maintenance
from collector.storage.sample_rows import RUN_GAP, SetLayout, Spans, active_sets
from collector.storage.samples_read import read_samples
from tests.collector.storage.history_helpers import T0, T0_MS, migrated_pool, result, target, write_results

SERVER = target(1).server_id


TICK = timedelta(microseconds=1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("start", "end", "watermark", "expected"),
    [
        # All after the watermark: raw rows only.
        (at(5), at(6), at(3), Spans(None, (at(5), at(6)))),
        # Across it: chunks of the hours before it, raw rows from it on (its hour may be mid-compaction),
        # the dirty hours of the chunk span.
        (
            at(0.5),
            at(6),
            at(3),
            Spans((at(0), at(3) - TICK), (at(3), at(6)), ((SERVER, at(0)), (SERVER, at(2)))),
        ),
        # All before it: no raw span, but dirty hours still read.
        (at(0.5), at(1), at(3), Spans((at(0), at(1)), None, ((SERVER, at(0)),))),
    ],
)
def test_a_range_reads_each_hour_from_chunks_before_the_watermark_and_raw_rows_from_it_on(
    start: datetime, end: datetime, watermark: datetime, expected: Spans
) -> None:
    dirty = [(SERVER, at(hour)) for hour in (-1, 0, 2, 3, 5)]
    assert Spans.of(start, end, watermark, dirty) == expected


def test_unused_tiers_get_bounds_no_row_is_in() -> None:
    params = Spans(None, (at(1), at(2))).params()
    assert params[2:4] == [at(1), at(2)]
    low, high = params[0], params[1]
    assert isinstance(low, datetime)
    assert isinstance(high, datetime)
    assert low > high
    assert len(params) == 4  # no dirty hours: the statements without their branches


def test_dirty_hours_are_passed_as_server_and_hour_arrays() -> None:
    params = Spans((at(0), at(3)), None, ((SERVER, at(0)), (SERVER, at(1)))).params()
    assert params[4:] == [[SERVER, SERVER], [at(0), at(1)]]


@pytest.mark.parametrize(
    ("positions", "runs"),
    [
        ([1, 2, 3], [(1, 3)]),
        ([1, 1 + RUN_GAP, 2 + 2 * RUN_GAP], [(1, 1 + RUN_GAP), (2 + 2 * RUN_GAP, 2 + 2 * RUN_GAP)]),
        ([5], [(5, 5)]),
    ],
)
def test_close_positions_are_read_as_one_run(positions: list[int], runs: list[tuple[int, int]]) -> None:
    layout = SetLayout(target(1).server_id, positions, list(range(len(positions))))
    assert layout.runs() == runs


async def test_only_the_series_sets_a_range_uses_are_looked_into(fresh_pg_dsn: str) -> None:
    t = target(1)
    sets = [(("up", t.labels), (f"churn_{i}", t.labels)) for i in range(3)]
    hour = 3_600_000
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_results(
            pool, [result(t, T0_MS + 2 * i * hour, [1.0, float(i)], keys) for i, keys in enumerate(sets)]
        )
        ids = [
            r["series_set_id"] for r in await pool.fetch("SELECT series_set_id FROM history_raw ORDER BY ts")
        ]
        middle = (ms_to_datetime(T0_MS + 2 * hour - 1), ms_to_datetime(T0_MS + 2 * hour + 1))
        async with pool.acquire() as conn:
            assert await active_sets(conn, [t.server_id], Spans(None, middle)) == [ids[1]]
        await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=5, minutes=10))
        late = [result(t, T0_MS + 7_000, [1.0, 9.0], sets[2])]
        await write_results(pool, late)  # a late row for a compacted hour, in the third set
        dirty = ((t.server_id, T0.astimezone(UTC)),)
        async with pool.acquire() as conn:
            assert sorted(await active_sets(conn, [t.server_id], Spans(middle, None))) == [ids[1]]
            assert sorted(await active_sets(conn, [t.server_id], Spans(None, None, dirty))) == sorted(
                [ids[0], ids[2]]
            )
        read = await read_samples(
            pool, [Matcher(name="__name__", op="=", value="churn_2")], T0_MS, T0_MS + 60_000
        )
    assert read.series[0].values.tolist() == [9.0]


async def test_raw_rows_of_sets_with_one_run_and_with_several_give_each_series_its_values(
    fresh_pg_dsn: str,
) -> None:
    t = target(1)
    wide = tuple((f"m_{i:02d}", t.labels) for i in range(40))
    narrow = (("up", t.labels), ("m_00", t.labels))
    rows = [result(t, T0_MS + k * 15_000, [float(100 * k + i) for i in range(40)], wide) for k in range(3)]
    rows.append(result(t, T0_MS + 3 * 15_000, [1.0, 7.0], narrow))
    picked = Matcher(name="__name__", op="=~", value="m_00|m_39")  # positions 1 and 40: two runs
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_results(pool, rows)
        read = await read_samples(pool, [picked], T0_MS, T0_MS + 3 * 15_000)
    values = {item.series.metric: item.values.tolist()[:4] for item in read.series}
    assert values["m_39"][:3] == [39.0, 139.0, 239.0]
    assert values["m_00"] == [0.0, 100.0, 200.0, 7.0]
