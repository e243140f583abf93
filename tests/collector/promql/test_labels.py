"""Label helpers: grouping, match signatures and Go's spelling of numbers."""

from __future__ import annotations

import math

import pytest

from collector.promql.labels import format_g, format_value, grouped, labels_text, signature, valid_label_name

LABELS = {"__name__": "m", "a": "1", "b": "2"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (1e22, "10000000000000000000000"),
        (-0.0, "-0"),
        (math.nan, "NaN"),
        (-math.inf, "-Inf"),
    ],
)
def test_format_value_is_go_f_minus_one(value: float, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(1e20, "1e+20"), (math.nan, "NaN"), (math.inf, "+Inf"), (3.0, "3")]
)
def test_format_g_is_go_v(value: float, text: str) -> None:
    assert format_g(value) == text


def test_grouping_by_keeps_listed_and_without_drops_listed_and_name() -> None:
    assert grouped(LABELS, ["a", "zz"], without=False) == {"a": "1"}
    assert grouped(LABELS, ["a"], without=True) == {"b": "2"}


def test_signature_on_and_ignoring() -> None:
    assert signature(LABELS, True, ["a"]) == (("a", "1"),)
    assert signature(LABELS, False, ["a"]) == (("b", "2"),)


def test_label_names_and_printing() -> None:
    assert valid_label_name("_a1") and not valid_label_name("1a") and not valid_label_name("")
    assert labels_text({"b": "x", "a": 'q"'}) == '{a="q\\"", b="x"}'
