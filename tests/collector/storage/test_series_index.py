"""Which series exist: by matcher sets, by the time range a scrape held them, by server; names and values."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import asyncpg
import pytest

from collector.matchers import Matcher
from collector.result import SeriesKey, TargetInfo
from collector.storage.maintenance import HistoryConfig, run_maintenance
from collector.storage.series_index import Window, find_series, label_names, label_values
from tests.collector.storage.history_helpers import T0, T0_MS, migrated_pool, result, target
from tests.collector.storage.history_helpers import write_results as store

HOUR_MS = 3_600_000


@pytest.fixture
async def pool(fresh_pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(fresh_pg_dsn) as opened:
        yield opened


def keys(t: TargetInfo, *names: str, **extra: str) -> tuple[SeriesKey, ...]:
    labels = tuple(sorted((*t.labels, *extra.items())))
    return tuple((name, labels) for name in names)


def m(name: str, op: str, value: str) -> Matcher:
    return Matcher.model_validate({"name": name, "op": op, "value": value})


@pytest.fixture
async def history(pool: asyncpg.Pool) -> tuple[TargetInfo, TargetInfo]:
    """Target 1: ``up`` and ``old_metric`` in the first hour, then ``up`` and ``new_metric{mode=…}``
    in the third; target 2: ``up`` in the third hour."""
    a, b = target(1), target(2, job="db")
    early = keys(a, "up", "old_metric")
    late = (*keys(a, "up"), *keys(a, "new_metric", mode="x"))
    await store(
        pool,
        [
            result(a, T0_MS, [1.0, 5.0], early),
            result(a, T0_MS + 2 * HOUR_MS, [1.0, 6.0], late),
            result(b, T0_MS + 2 * HOUR_MS, [1.0], keys(b, "up")),
        ],
    )
    return a, b


def names_of(found: Sequence[object]) -> list[tuple[str, str]]:
    return sorted((s.metric, s.labels["instance"]) for s in found)  # type: ignore[attr-defined]


async def test_matcher_sets_are_ored_and_their_matchers_anded(
    pool: asyncpg.Pool, history: tuple[TargetInfo, TargetInfo]
) -> None:
    a, b = history
    found = await find_series(
        pool, [[m("__name__", "=", "up"), m("job", "=", "db")], [m("__name__", "=~", "old_.*")]]
    )
    assert names_of(found) == [("old_metric", a.instance), ("up", b.instance)]
    assert await find_series(pool, [[m("mode", "=~", r"\w")]]) != [], (
        "a pattern SQL cannot read still matches"
    )


async def test_a_window_keeps_the_series_a_scrape_in_it_held(
    pool: asyncpg.Pool, history: tuple[TargetInfo, TargetInfo]
) -> None:
    a, b = history
    anything = [[m("__name__", "=~", ".+")]]
    late = Window(T0_MS + 2 * HOUR_MS - 60_000, T0_MS + 2 * HOUR_MS + 60_000)
    assert names_of(await find_series(pool, anything, window=late)) == [
        ("new_metric", a.instance),
        ("up", a.instance),
        ("up", b.instance),
    ]
    assert names_of(await find_series(pool, anything, window=Window(None, T0_MS))) == [
        ("old_metric", a.instance),
        ("up", a.instance),
    ]
    # The same after the first hours are compacted: then chunks say which sets were scraped.
    await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=2, minutes=10))
    assert names_of(await find_series(pool, anything, window=Window(T0_MS - 1, T0_MS + 1))) == [
        ("old_metric", a.instance),
        ("up", a.instance),
    ]
    assert await label_values(pool, "__name__", [], window=Window(T0_MS - 1, T0_MS + 1)) == [
        "old_metric",
        "up",
    ]
    ending_on_the_scrape = Window(T0_MS - 60_000, T0_MS)
    assert await label_values(pool, "__name__", [], window=ending_on_the_scrape) == ["old_metric", "up"]


async def test_names_and_values_without_matchers_and_with(
    pool: asyncpg.Pool, history: tuple[TargetInfo, TargetInfo]
) -> None:
    assert await label_names(pool, []) == ["__name__", "instance", "job", "mode"]
    assert await label_names(pool, [[m("__name__", "=", "up")]]) == ["__name__", "instance", "job"]
    assert await label_values(pool, "__name__", []) == ["new_metric", "old_metric", "up"]
    assert await label_values(pool, "job", []) == ["db", "node"]
    assert await label_values(pool, "mode", [[m("job", "=", "node")]]) == ["x"]
    assert await label_values(pool, "nothing", []) == []


async def test_only_the_allowed_servers_series_exist(
    pool: asyncpg.Pool, history: tuple[TargetInfo, TargetInfo]
) -> None:
    _, b = history
    assert names_of(await find_series(pool, [[m("__name__", "=", "up")]], servers={b.server_id})) == [
        ("up", b.instance)
    ]
    assert await label_names(pool, [], servers=set()) == []
    assert await label_values(pool, "job", [], servers={b.server_id}) == ["db"]


async def test_a_limit_returns_one_more_than_it_allows(
    pool: asyncpg.Pool, history: tuple[TargetInfo, TargetInfo]
) -> None:
    found = await find_series(pool, [[m("__name__", "=~", ".+")]], limit=2)
    assert len(found) == 3
    assert len(await find_series(pool, [[m("__name__", "=~", ".+")]], limit=10)) == 4
