"""Prometheus label matchers: their semantics, their validation and their text."""

from __future__ import annotations

import concurrent.futures

import pytest
from pydantic import ValidationError

from collector.matchers import REMEMBERED_VALUES, Matcher, matches_all

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
        ("job", "=~", "no(?i)DE", True),  # a flag group anywhere, as in Go
        ("job", "=~", "\\w{4}", True),
        ("job", "=~", "[[:alpha:]]+", True),  # POSIX classes, as in Go
        ("job", "=~", "\\pL+", True),  # Unicode classes, as in Go
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
        # What Go's regexp (Prometheus, Alertmanager) refuses: look-around, back-references, big repeats.
        ({"name": "job", "op": "=~", "value": "node(?=x)"}, "not a valid regular expression"),
        ({"name": "job", "op": "!~", "value": "(a)\\1"}, "not a valid regular expression"),
        ({"name": "job", "op": "=~", "value": "a{1001}"}, "not a valid regular expression"),
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


def test_a_regex_is_compiled_as_prometheus_compiles_it() -> None:
    # ^(?s:<pattern>)$: a dot matches a newline, and \\d is ASCII only, as in Go.
    assert Matcher(name="job", op="=~", value="a.b").matches({"job": "a\nb"})
    assert not Matcher(name="job", op="=~", value="\\d").matches({"job": "\u0663"})
    # Prometheus compiles "^(?s:" + pattern + ")$", in which "a)(b" is a whole pattern.
    assert Matcher(name="job", op="=~", value="a)(b").matches({"job": "ab"})


def test_a_pathological_regex_takes_linear_time() -> None:
    """``([a-z_]+)+Z`` on a 40-letter name: a backtracking engine would try about 2**40 ways (hours)."""
    matcher = Matcher(name="__name__", op="=~", value="([a-z_]+)+Z")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(matcher.matches, {"__name__": "node_network_receive_bytes_total_abcdefgh"})
        assert answer.result(timeout=60) is False


def test_answers_are_remembered_up_to_a_bound() -> None:
    matcher = Matcher(name="job", op="=~", value="web-[0-9]+")
    for n in range(REMEMBERED_VALUES * 2 + 10):
        assert matcher.matches({"job": f"web-{n}"})
        assert not matcher.matches({"job": f"db-{n}"})
    assert 0 < len(matcher._answers) <= REMEMBERED_VALUES
    # What it remembers stays right after the bound cleared it.
    assert matcher.matches({"job": "web-1"}) and not matcher.matches({"job": "db-1"})
