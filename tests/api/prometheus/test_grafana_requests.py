"""Grafana's request rules: nice intervals, built-in variables, aligned ranges, variable requests."""

from __future__ import annotations

import pytest

from tests.api.prometheus.grafana_requests import (
    TimeRange,
    builtins,
    format_interval,
    go_duration,
    panel_requests,
    parse_interval_ms,
    round_interval_ms,
    seconds,
    step_ms,
    variable_requests,
)
from tests.api.prometheus.node_exporter_full import PanelQuery, TemplateVariable

NOW_MS = 1_767_229_807_300
HOUR = TimeRange(NOW_MS - 3_600_000, NOW_MS)
DAY = TimeRange(NOW_MS - 86_400_000, NOW_MS)
WEEK = TimeRange(NOW_MS - 7 * 86_400_000, NOW_MS)


def panel(
    expr: str = "rate(x[$__rate_interval])", points: int = 1920, min_interval: str = "", instant: bool = False
) -> PanelQuery:
    return PanelQuery("p", "A", expr, instant, True, min_interval, points, hidden=False)


@pytest.mark.parametrize(
    ("raw_ms", "nice_ms"),
    [
        (1, 10),
        (15, 10),
        (16, 20),
        (1_875, 2_000),
        (12_500, 10_000),
        (12_501, 15_000),
        (45_000, 30_000),
        (90_000, 60_000),
        (90_001, 120_000),
        (360_000, 300_000),
        (86_400_000, 43_200_000),
        (604_800_000, 86_400_000),
        (10**12, 31_536_000_000),
    ],
)
def test_round_interval_picks_grafanas_nice_interval(raw_ms: int, nice_ms: int) -> None:
    assert round_interval_ms(raw_ms) == nice_ms


@pytest.mark.parametrize(
    ("ms", "grafana", "go"),
    [
        (15_000, "15s", "15s"),
        (60_000, "1m", "1m0s"),
        (75_000, "1m", "1m15s"),
        (7_200_000, "2h", "2h0m0s"),
        (500, "500ms", "500ms"),
        (1_500, "1s", "1.5s"),
        (86_400_000, "1d", "24h0m0s"),
    ],
)
def test_durations_are_written_as_grafana_and_go_write_them(ms: int, grafana: str, go: str) -> None:
    assert (format_interval(ms), go_duration(ms)) == (grafana, go)


@pytest.mark.parametrize(
    ("text", "ms"), [("15s", 15_000), ("1m", 60_000), ("30", 30_000), ("250ms", 250), ("<2h", 7_200_000)]
)
def test_interval_strings_parse(text: str, ms: int) -> None:
    assert parse_interval_ms(text) == ms


def test_a_bad_interval_string_is_refused() -> None:
    with pytest.raises(ValueError, match="1x"):
        parse_interval_ms("1x")


@pytest.mark.parametrize(
    ("time_range", "points", "min_interval", "step", "rate"),
    [
        (HOUR, 1920, "", 15_000, "1m0s"),  # 1.875 s a point: the scrape interval is the floor
        (DAY, 960, "", 60_000, "1m15s"),  # 90 s a point rounds to 1 m
        (DAY, 1920, "", 30_000, "1m0s"),  # 45 s rounds to 30 s; 4 × scrape wins
        (WEEK, 1920, "", 300_000, "5m15s"),
        (HOUR, 1920, "1m", 60_000, "4m0s"),  # a target's min step raises step and rate interval
    ],
)
def test_step_and_rate_interval_follow_grafanas_rules(
    time_range: TimeRange, points: int, min_interval: str, step: int, rate: str
) -> None:
    query = panel(points=points, min_interval=min_interval)
    assert step_ms(query, time_range) == step
    assert builtins(query, time_range)["__rate_interval"] == rate


def test_builtin_range_variables() -> None:
    values = builtins(panel(), HOUR)
    assert (
        values["__range"] == "3600s" and values["__range_s"] == "3600" and values["__range_ms"] == "3600000"
    )
    assert values["__interval"] == "15s" and values["__interval_ms"] == "15000"


def test_a_range_query_is_aligned_down_to_the_step_and_an_instant_query_is_not() -> None:
    query = panel('sum(rate(x{job="$job"}[$__rate_interval])) / $__interval_ms', instant=True)
    ranged, instant = panel_requests(query, {"job": "node"}, DAY)
    assert ranged.path == "/api/v1/query_range" and instant.path == "/api/v1/query"
    assert ranged.params["query"] == 'sum(rate(x{job="node"}[1m0s])) / 30000'
    assert ranged.params["step"] == "30"
    assert int(ranged.params["start"]) % 30 == 0 and int(ranged.params["end"]) % 30 == 0
    assert int(ranged.params["end"]) <= NOW_MS / 1000 < int(ranged.params["end"]) + 30
    assert instant.params["time"] == "1767229807.3"


@pytest.mark.parametrize(
    ("ms", "text"), [(1_767_229_800_000, "1767229800"), (1_767_229_807_050, "1767229807.05")]
)
def test_times_are_seconds_with_a_fraction_only_when_there_is_one(ms: int, text: str) -> None:
    assert seconds(ms) == text


def test_a_variable_asks_label_values_with_its_filled_selector_and_the_series_alike() -> None:
    variable = TemplateVariable("node", 'up{job="$job"}', "instance")
    labels, series = variable_requests(variable, {"job": "node"}, HOUR)
    assert labels.path == "/api/v1/label/instance/values"
    assert labels.params == {"match[]": 'up{job="node"}', "start": "1767226207", "end": "1767229808"}
    assert series is not None and series.path == "/api/v1/series" and series.params == labels.params


def test_a_variable_without_a_selector_asks_label_values_only() -> None:
    labels, series = variable_requests(TemplateVariable("job", "", "job"), {}, HOUR)
    assert labels.params == {"start": "1767226207", "end": "1767229808"} and series is None
