"""Instant-vector functions: math, clamping, dates, labels, absent, scalar, sort."""

from __future__ import annotations

import math
import re

import pytest

from collector.promql import parse
from collector.promql.errors import ExecutionError
from collector.promql.functions import absent_labels, expand_template
from collector.regex import compile_anchored
from tests.collector.promql.helpers import instant, only_value, series, vector_values

X = series({"__name__": "x", "job": "a"}, [(0, -2.5)])
Y = series({"__name__": "y", "job": "b"}, [(0, 4.0)])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("abs(x)", 2.5),
        ("ceil(x)", -2.0),
        ("floor(x)", -3.0),
        ("round(x)", -2.0),
        ("round(y, 3)", 3.0),
        ("sqrt(y)", 2.0),
        ("ln(y)", math.log(4)),
        ("log2(y)", 2.0),
        ("log10(y)", math.log10(4)),
        ("exp(y)", math.exp(4)),
        ("sgn(x)", -1.0),
        ("clamp(x, -1, 1)", -1.0),
        ("clamp_min(x, 0)", 0.0),
        ("clamp_max(y, 3)", 3.0),
        ("deg(y)", 4 * 180 / math.pi),
        ("rad(y)", 4 * math.pi / 180),
        ("scalar(y)", 4.0),
        ("timestamp(y)", 0.0),
    ],
)
def test_function_value(query: str, expected: float) -> None:
    assert only_value(instant([X, Y], query, 10)) == pytest.approx(expected)


def test_functions_drop_the_metric_name() -> None:
    assert vector_values(instant([X], "abs(x)", 0)) == {(("job", "a"),): 2.5}


def test_clamp_with_max_below_min_is_empty() -> None:
    assert vector_values(instant([X], "clamp(x, 1, 0)", 0)) == {}


def test_scalar_of_several_series_is_nan() -> None:
    assert math.isnan(only_value(instant([X, Y], 'scalar({__name__=~"x|y"})', 0)))


# 2021-03-07T13:45:30Z, a Sunday, day 66 of the year, in a 31-day month.
MOMENT = 1615124730


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        ("minute", 45),
        ("hour", 13),
        ("day_of_week", 0),
        ("day_of_month", 7),
        ("day_of_year", 66),
        ("days_in_month", 31),
        ("month", 3),
        ("year", 2021),
    ],
)
def test_date_function_of_a_value_and_of_the_evaluation_time(func: str, expected: int) -> None:
    assert only_value(instant([], f"{func}(vector({MOMENT}))", 0)) == expected
    assert only_value(instant([], f"{func}()", MOMENT)) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$1", "ab"),
        ("${1}x", "abx"),
        ("$1x", ""),
        ("$name-$2", "ab-cd"),
        ("$$1", "$1"),
        ("$9", ""),
        ("a$-b", "a$-b"),
    ],
)
def test_label_replace_templates_expand_as_go_does(template: str, expected: str) -> None:
    regex = compile_anchored("(?P<name>ab)(cd)")
    match = regex.fullmatch("abcd")
    assert match is not None
    assert expand_template(template, regex, match) == expected


def test_label_replace_sets_and_removes_labels() -> None:
    result = instant([X], 'label_replace(x, "dst", "$1-z", "job", "(.*)")', 0)
    assert vector_values(result) == {(("__name__", "x"), ("dst", "a-z"), ("job", "a")): -2.5}
    removed = instant([X], 'label_replace(x, "job", "", "job", ".*")', 0)
    assert vector_values(removed) == {(("__name__", "x"),): -2.5}


def test_label_replace_without_a_match_keeps_the_labels() -> None:
    result = instant([X], 'label_replace(x, "dst", "v", "job", "zzz")', 0)
    assert vector_values(result) == {(("__name__", "x"), ("job", "a")): -2.5}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            'label_replace(x, "a-b", "v", "job", ".*")',
            "invalid destination label name in label_replace(): a-b",
        ),
        ('label_replace(x, "a", "v", "job", "(")', "invalid regular expression in label_replace(): ("),
        ('label_join(x, "a", ",", "b-c")', "invalid source label name in label_join(): b-c"),
    ],
)
def test_label_function_errors(query: str, message: str) -> None:
    with pytest.raises(ExecutionError, match=re.escape(message)):
        instant([X], query, 0)


def test_label_join_joins_in_argument_order() -> None:
    result = instant([X], 'label_join(x, "id", "/", "job", "__name__")', 0)
    assert vector_values(result) == {(("__name__", "x"), ("id", "a/x"), ("job", "a")): -2.5}


@pytest.mark.parametrize(
    ("query", "labels"),
    [
        ('absent(up{job="a", env=~"p.*"})', {"job": "a"}),
        ('absent(up{job="a", job="b"})', {}),
        ('absent(up{job!="x", job="b"})', {"job": "b"}),
        ("absent(sum(up))", {}),
    ],
)
def test_absent_labels_come_from_equality_matchers(query: str, labels: dict[str, str]) -> None:
    call = parse.parse(query)
    assert isinstance(call, parse.Call)
    assert absent_labels(call.args[0]) == labels


def test_absent_is_one_only_without_series() -> None:
    assert vector_values(instant([X], 'absent(x{job="b"})', 0)) == {(("job", "b"),): 1.0}
    assert vector_values(instant([X], "absent(x)", 0)) == {}


def test_sort_orders_an_instant_vector_with_nan_last() -> None:
    data = [
        series({"__name__": "v", "i": "1"}, [(0, 3)]),
        series({"__name__": "v", "i": "2"}, [(0, math.nan)]),
        series({"__name__": "v", "i": "3"}, [(0, 1)]),
    ]
    ascending = [s.labels["i"] for s in instant(data, "sort(v)", 0).samples]  # type: ignore[union-attr]
    descending = [s.labels["i"] for s in instant(data, "sort_desc(v)", 0).samples]  # type: ignore[union-attr]
    assert (ascending, descending) == (["3", "1", "2"], ["1", "3", "2"])
