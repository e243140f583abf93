"""The adapter from promql-parser's AST to the engine's nodes."""

from __future__ import annotations

import pytest

from collector.promql import parse
from collector.promql.errors import BadDataError


def test_selector_with_every_matcher_offset_and_at() -> None:
    node = parse.parse('up{a="1", b!="2", c=~"x|y", d!~"z.*"} offset 5m @ 100.5')
    assert isinstance(node, parse.VectorSelector)
    assert [(m.name, m.op, m.value) for m in node.matchers] == [
        ("__name__", "=", "up"),
        ("a", "=", "1"),
        ("b", "!=", "2"),
        ("c", "=~", "x|y"),
        ("d", "!~", "z.*"),
    ]
    assert (node.offset_ms, node.at) == (300_000, parse.At("time", 100_500))


@pytest.mark.parametrize(
    ("query", "at"),
    [
        ("up @ start()", parse.At("start")),
        ("up @ end()", parse.At("end")),
        ("up @ -100.5", parse.At("time", -100_500)),
    ],
)
def test_at_modifier_forms(query: str, at: parse.At) -> None:
    node = parse.parse(query)
    assert isinstance(node, parse.VectorSelector)
    assert node.at == at


def test_negative_offset_and_subquery_fields() -> None:
    node = parse.parse("rate(up[5m])[30m:1m] offset -1m")
    assert isinstance(node, parse.Subquery)
    assert (node.range_ms, node.step_ms, node.offset_ms) == (1_800_000, 60_000, -60_000)
    default_step = parse.parse("up[30m:]")
    assert isinstance(default_step, parse.Subquery) and default_step.step_ms == 0


@pytest.mark.parametrize(
    ("query", "matching", "return_bool"),
    [
        ("a + b", parse.VectorMatching("one-to-one"), False),
        ("a > bool b", parse.VectorMatching("one-to-one"), True),
        ("a * on(x) group_left(y) b", parse.VectorMatching("many-to-one", True, ("x",), ("y",)), False),
        ("a / ignoring(x) group_right b", parse.VectorMatching("one-to-many", False, ("x",), ()), False),
        ("a and on() b", parse.VectorMatching("many-to-many", True, (), ()), False),
        ("a or b", parse.VectorMatching("many-to-many"), False),
        ("a + 1", None, False),
    ],
)
def test_binary_matching(query: str, matching: parse.VectorMatching | None, return_bool: bool) -> None:
    node = parse.parse(query)
    assert isinstance(node, parse.Binary)
    assert (node.matching, node.return_bool) == (matching, return_bool)


def test_aggregation_grouping_and_parameter() -> None:
    node = parse.parse("topk without (a, b) (3, up)")
    assert isinstance(node, parse.Aggregate)
    assert (node.op, node.grouping, node.without, node.param) == (
        "topk",
        ("a", "b"),
        True,
        parse.NumberLiteral(3),
    )


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("1", "scalar"),
        ('"s"', "string"),
        ("up", "vector"),
        ("up[5m]", "matrix"),
        ("up[5m:1m]", "matrix"),
        ("time()", "scalar"),
        ("scalar(up)", "scalar"),
        ("1 + 2", "scalar"),
        ("1 + up", "vector"),
        ("-(1)", "scalar"),
        ("hour()", "vector"),
    ],
)
def test_value_type(query: str, kind: str) -> None:
    assert parse.value_type(parse.parse(query)) == kind


def test_holt_winters_is_known_under_its_prometheus_2_name() -> None:
    node = parse.parse("holt_winters(up[5m], 0.5, 0.5)")
    assert isinstance(node, parse.Call) and node.func == "holt_winters"


def test_a_regex_longer_than_alert_matchers_allow_is_accepted() -> None:
    alternatives = "|".join(f"host{i}:9100" for i in range(500))
    node = parse.parse(f'up{{instance=~"{alternatives}"}}')
    assert isinstance(node, parse.VectorSelector)
    assert node.matchers[1].matches({"instance": "host499:9100"})


@pytest.mark.parametrize(
    "query",
    ["sum(", "up{", "{}", "rate(up)", "foo(up)", 'up{a=~"("}', "up[5m] + 1", "1 and 2", 'up{a="b" or c="d"}'],
)
def test_invalid_query_is_bad_data(query: str) -> None:
    with pytest.raises(BadDataError, match="parse error"):
        parse.parse(query)
