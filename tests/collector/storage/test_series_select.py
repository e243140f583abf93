"""The first statement of a sample read: candidates, watermark, dirty hours and layouts, with the hint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collector.matchers import Matcher
from collector.storage.maintenance import HistoryConfig, run_maintenance
from collector.storage.sample_rows import Spans, read_layouts
from collector.storage.samples_read import read_samples
from collector.storage.series_select import (
    portable_regex,
    remember_watermark,
    select_series,
    sql_prefilter,
    watermark_hint,
)
from tests.collector.storage.history_helpers import T0, T0_MS, migrated_pool, target, write_hours

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def name(metric: str) -> Matcher:
    return Matcher(name="__name__", op="=", value=metric)


@pytest.mark.parametrize(
    ("pattern", "portable"),
    [
        ("a|b", True),
        ("node_.*", True),
        (r"10\.0\..*", True),
        ("[a-z]+_total", True),
        ("[^x]?", True),
        ("(?:a|b)c", True),
        (r"\d+", False),
        (r"\w", False),
        ("a{2}", False),
        ("[[:alpha:]]", False),
        ("(?i)abc", False),
        ("(?P<x>a)", False),
        ("(?s:a.)", False),
    ],
)
def test_only_regexes_both_engines_read_alike_go_to_sql(pattern: str, portable: bool) -> None:
    assert portable_regex(pattern) is portable
    pushed = sql_prefilter([Matcher(name="x", op="=~", value=pattern)])
    assert pushed == ([Matcher(name="x", op="=~", value=pattern)] if portable else [])


def test_negative_regexes_never_go_to_sql() -> None:
    assert sql_prefilter([Matcher(name="x", op="!~", value="a"), Matcher(name="y", op="!=", value="b")]) == [
        Matcher(name="y", op="!=", value="b")
    ]


async def test_layouts_computed_with_the_right_hint_are_those_read_on_their_own(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1), target(2)], T0_MS, 3, n_series=5)
        await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=2, minutes=10))
        # Across the watermark (T0 + 2 h), with one hour dirty: every tier is in the span.
        await pool.execute(
            "INSERT INTO history_dirty (server_id, hour) VALUES ($1, $2)", target(1).server_id, T0
        )
        span = (T0 + timedelta(minutes=30), T0 + timedelta(hours=3))
        selectors = [
            [name("node_cpu_seconds_total")],
            [name("up"), Matcher(name="instance", op="!=", value="x")],
        ]
        async with pool.acquire() as conn:
            found = await select_series(conn, selectors, servers=None, limit=1000, span=span, hint=EPOCH)
            assert found.chunked_until == T0 + timedelta(hours=2)
            assert found.layouts is None, "computed with a wrong watermark: dropped"
            assert found.dirty == [(target(1).server_id, T0)]
            hinted = await select_series(
                conn, selectors, servers=None, limit=1000, span=span, hint=found.chunked_until
            )
            spans = Spans.of(*span, found.chunked_until, found.dirty)
            for selected in found.selected:
                ids = [(s.series_id, s.server_id) for s in selected]
                alone = await read_layouts(conn, ids, spans)
                assert alone
                assert hinted.layouts_of({s.series_id for s in selected}) == alone


async def test_a_read_keeps_the_watermark_it_saw_as_the_next_reads_hint(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1)], T0_MS, 2, n_series=3)
        assert watermark_hint(pool) == EPOCH
        before = await read_samples(pool, [name("up")], T0_MS, T0_MS + 2 * 3_600_000)
        await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=1, minutes=10))
        # The hint is now stale: the read finds the layouts on its own, and answers the same.
        assert watermark_hint(pool) == EPOCH
        after = await read_samples(pool, [name("up")], T0_MS, T0_MS + 2 * 3_600_000)
        assert watermark_hint(pool) == T0 + timedelta(hours=1)
        again = await read_samples(pool, [name("up")], T0_MS, T0_MS + 2 * 3_600_000)
        for read in (after, again):
            assert [s.ts.tolist() for s in read.series] == [s.ts.tolist() for s in before.series]
            assert [s.values.tolist() for s in read.series] == [s.values.tolist() for s in before.series]
        remember_watermark(pool, EPOCH)
