"""Prometheus label matchers: their semantics, their validation and their text."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from collector.matchers import Matcher, matches_all

LABELS = {"job": "node", "instance": "web-1:9100", "severity": "critical"}


@pytest.mark.parametrize(
    ("name", "op", "value", "expected"),
    [
        ("job", "=", "node", True),
        ("job", "=", "nod", False),
        ("job", "!=", "node", False),
        ("job", "!=", "db", True),
        ("instance", "=~", "web-.*", True),
        ("instance", "=~", "web", False),  # anchored: a partial match is no match
        ("instance", "!~", "db-.*", True),
        ("instance", "!~", "web-1:9100|db", False),
        ("missing", "=", "", True),  # an absent label is the empty string
        ("missing", "=~", ".+", False),
        ("severity", "=~", "warning|critical", True),
        ("severity", "=~", "(?i)CRITICAL|x", True),  # a leading flag group, as Grafana users write it
        ("severity", "!~", "(?i)Critical", False),
    ],
)
def test_matcher_semantics(name: str, op: str, value: str, expected: bool) -> None:
    assert Matcher.model_validate({"name": name, "op": op, "value": value}).matches(LABELS) is expected


def test_matches_all_needs_every_matcher_and_is_true_for_none() -> None:
    job = Matcher(name="job", value="node")
    other = Matcher(name="severity", value="info")
    assert matches_all([job], LABELS)
    assert not matches_all([job, other], LABELS)
    assert matches_all([], LABELS)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"name": "job", "op": "=~", "value": "("}, "not a valid regular expression"),
        ({"name": "job", "op": "!~", "value": "(" * 500 + "x" + ")" * 500}, "nested too deeply"),
        ({"name": "1job", "value": "x"}, "should match pattern"),
        ({"name": "job", "op": "==", "value": "x"}, "Input should be"),
        ({"name": "job", "value": "x", "extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_matcher_is_a_validation_error(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Matcher.model_validate(data)


def test_matcher_prints_like_prometheus() -> None:
    assert str(Matcher(name="job", op="=~", value="no.*")) == "job=~'no.*'"


def test_a_query_matcher_has_no_size_limit() -> None:
    # A Grafana multi-value variable easily makes a pattern of thousands of characters.
    pattern = "|".join(f"web-{n}:9100" for n in range(500))
    matcher = Matcher(name="instance" * 20, op="=~", value=pattern)
    assert len(matcher.value) > 5000 and len(matcher.name) > 128
    assert matcher.matches({"instance" * 20: "web-499:9100"})


def test_the_metric_name_is_matched_as_the_name_label() -> None:
    assert Matcher(name="__name__", op="=~", value="node_.*").matches({"__name__": "node_load1"})
