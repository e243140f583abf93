"""Reading history: server metrics per step from server_stats or its rollups, series by label matchers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collector.matchers import Matcher
from collector.storage.history_read import (
    TooManySeriesError,
    matchers_sql,
    series_range,
    server_history,
)
from collector.storage.maintenance import HistoryConfig, run_maintenance
from tests.collector.storage.history_helpers import T0, T0_MS, migrated_pool, target, write_hours


async def test_server_history_averages_per_step_the_same_before_and_after_rollup(fresh_pg_dsn: str) -> None:
    t = target(1)
    end = T0 + timedelta(hours=2)
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [t], T0_MS, 2)
        minute = await server_history(pool, t.server_id, "cpu", T0, end, 60)
        assert len(minute) == 120
        # cpu cycles through 0..6 scrape by scrape, four scrapes a minute.
        assert minute[0] == (T0, sum((T0_MS // 15_000 + k) % 7 for k in range(4)) / 4)
        five = await server_history(pool, t.server_id, "cpu", T0, end, 300)
        hourly = await server_history(pool, t.server_id, "cpu", T0, end, 3600)
        await run_maintenance(pool, HistoryConfig(), now=end + timedelta(minutes=10))
        assert await pool.fetchval("SELECT count(*) FROM server_stats_5m") == 24
        assert await pool.fetchval("SELECT count(*) FROM server_stats_1h") == 2
        assert await server_history(pool, t.server_id, "cpu", T0, end, 300) == five
        assert await server_history(pool, t.server_id, "cpu", T0, end, 3600) == hourly
        assert await server_history(pool, t.server_id, "memory", T0, end, 3600) == [
            (T0, 50.0),
            (T0 + timedelta(hours=1), 50.0),
        ]


async def test_series_are_selected_by_label_matchers(fresh_pg_dsn: str) -> None:
    a, b = target(1), target(2, job="db")
    end = T0 + timedelta(minutes=5)
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [a, b], T0_MS, 5 / 60, n_series=4)

        async def select(*matchers: Matcher) -> list[tuple[str, str | None, str]]:
            found = await series_range(pool, matchers, T0, end, 60)
            return sorted((s.metric, s.labels.get("cpu"), s.labels["job"]) for s in found)

        assert await select(Matcher(name="__name__", op="=", value="up")) == [
            ("up", None, "db"),
            ("up", None, "node"),
        ]
        assert await select(
            Matcher(name="job", op="=", value="db"), Matcher(name="__name__", op="!=", value="up")
        ) == [
            ("node_cpu_seconds_total", "1", "db"),
            ("node_cpu_seconds_total", "2", "db"),
            ("node_cpu_seconds_total", "3", "db"),
        ]
        assert await select(
            Matcher(name="job", op="=", value="node"), Matcher(name="cpu", op="=~", value="1|3")
        ) == [
            ("node_cpu_seconds_total", "1", "node"),
            ("node_cpu_seconds_total", "3", "node"),
        ]
        assert await select(
            Matcher(name="job", op="=", value="node"), Matcher(name="cpu", op="!~", value="[12]")
        ) == [
            ("node_cpu_seconds_total", "3", "node"),
            ("up", None, "node"),
        ]
        # An empty value matches series without the label, as in Prometheus.
        assert await select(
            Matcher(name="cpu", op="=", value=""), Matcher(name="__name__", op="=~", value="u.")
        ) == [
            ("up", None, "db"),
            ("up", None, "node"),
        ]
        assert await select(Matcher(name="__name__", op="=~", value="cpu")) == []  # regexes are anchored
        found = await series_range(pool, [Matcher(name="__name__", op="=", value="up")], T0, end, 60)
        assert [v for _, v in found[0].points] == [1.0] * 5
        one = await series_range(
            pool, [Matcher(name="__name__", op="=", value="up")], T0, end, 60, server_id=b.server_id
        )
        assert [(s.metric, s.labels["job"]) for s in one] == [("up", "db")], "one server's series only"


async def test_a_query_selecting_too_many_series_is_refused(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        await write_hours(pool, [target(1)], T0_MS, 1 / 60, n_series=10)
        with pytest.raises(TooManySeriesError, match="more than 5 series"):
            await series_range(
                pool,
                [Matcher(name="job", op="=", value="node")],
                T0,
                T0 + timedelta(minutes=1),
                15,
                max_series=5,
            )


@pytest.mark.parametrize(
    ("step_s", "end_delta", "message"),
    [
        (0, timedelta(hours=1), "step_s must be positive"),
        (60, timedelta(0), "end must be after start"),
        (1, timedelta(days=1), "more than 11,000 points"),
    ],
)
async def test_bad_ranges_are_refused(
    fresh_pg_dsn: str, step_s: float, end_delta: timedelta, message: str
) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        with pytest.raises(ValueError, match=message):
            await server_history(pool, target(1).server_id, "cpu", T0, T0 + end_delta, step_s)


@pytest.mark.parametrize(
    ("matcher", "condition", "params"),
    [
        (Matcher(name="__name__", op="=", value="up"), "s.metric = $1", ["up"]),
        (Matcher(name="__name__", op="=~", value="node_.*"), "s.metric ~ $1", ["^(?:node_.*)$"]),
        (
            Matcher(name="job", op="=", value="node"),
            "s.labels @> jsonb_build_object($1::text, $2::text)",
            ["job", "node"],
        ),
        # instance = value in the form of the (metric, instance) index
        (Matcher(name="instance", op="=", value="a:9100"), "(s.labels ->> 'instance') = $1", ["a:9100"]),
        (Matcher(name="instance", op="=", value=""), "coalesce(s.labels ->> $1, '') = $2", ["instance", ""]),
        (Matcher(name="job", op="!=", value="node"), "coalesce(s.labels ->> $1, '') <> $2", ["job", "node"]),
        (Matcher(name="job", op="=", value=""), "coalesce(s.labels ->> $1, '') = $2", ["job", ""]),
        (
            Matcher(name="job", op="!~", value="a|b"),
            "coalesce(s.labels ->> $1, '') !~ $2",
            ["job", "^(?:a|b)$"],
        ),
    ],
)
def test_matchers_become_parameterised_sql(matcher: Matcher, condition: str, params: list[str]) -> None:
    assert matchers_sql([matcher]) == (condition, params)


def test_at_least_one_matcher_is_needed() -> None:
    with pytest.raises(ValueError, match="at least one matcher"):
        matchers_sql([])
