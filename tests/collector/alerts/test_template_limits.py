"""Render limits: the step and time budget, and the size rules that refuse an operation beforehand."""

from __future__ import annotations

import time

import pytest

from collector.alerts.template_limits import (
    RenderLimits,
    SizeChecks,
    TemplateLimitError,
    budget_for,
    printf_widths,
    step,
    text_size,
)

SIZES = SizeChecks(RenderLimits(max_value_chars=100))


def test_a_step_outside_a_render_counts_nothing() -> None:
    for _ in range(RenderLimits().max_steps + 1):
        step()


def test_steps_past_the_budget_stop_the_render_and_the_budget_ends_with_the_block() -> None:
    with budget_for(RenderLimits(max_steps=3)) as budget:
        for _ in range(3):
            step()
        assert budget.steps == 3
        with pytest.raises(TemplateLimitError, match="more than 3 loop iterations"):
            step()
    step()  # outside the block again: nothing is counted


def test_a_budget_past_its_cpu_deadline_stops_at_a_tick() -> None:
    with (
        budget_for(RenderLimits(time_budget_s=0.0)) as budget,
        pytest.raises(TemplateLimitError, match="longer than 0 s"),
    ):
        for _ in range(8):
            budget.tick()


@pytest.mark.parametrize(
    ("operator", "left", "right", "refused"),
    [
        ("*", "x", 101, True),
        ("*", 101, "x", True),
        ("*", ["ab"], 10, False),
        ("*", 2**200, 2**200, True),
        ("**", 10, 400, True),
        ("**", 10, 2, False),
        ("+", "x" * 60, "y" * 41, True),
        ("+", "x" * 50, "y" * 50, False),
        ("%", "%200s", "x", True),
        ("%", "%5s", ("x",), False),
        ("-", 10**300, 1, False),
    ],
)
def test_arithmetic_is_refused_before_it_makes_a_value_too_long(
    operator: str, left: object, right: object, refused: bool
) -> None:
    if refused:
        with pytest.raises(TemplateLimitError, match="longer than 100 characters"):
            SIZES.check_binop(operator, left, right)
    else:
        SIZES.check_binop(operator, left, right)


@pytest.mark.parametrize(
    ("name", "values", "kwargs", "refused"),
    [
        ("center", ("x", 101), {}, True),
        ("center", ("x", 100), {}, False),
        ("indent", ("a\n" * 30, 4), {}, True),
        ("replace", ("aaaa", "a", "x" * 30), {}, True),
        ("replace", ("aaaa", "a", "x" * 30, 1), {}, False),
        ("join", (["ab"] * 30, "--"), {}, True),
        ("tojson", ({}, 9), {}, True),
        ("tojson", ({},), {"indent": 8}, False),
    ],
)
def test_filters_are_refused_by_their_own_arguments(
    name: str, values: tuple[object, ...], kwargs: dict[str, object], refused: bool
) -> None:
    if refused:
        with pytest.raises(TemplateLimitError):
            SIZES.check_filter(name, values, kwargs)
    else:
        SIZES.check_filter(name, values, kwargs)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%s and %d%%", [("", ""), ("", ""), ("", "")]),
        ("%(name)10.2f|%-5s|%*d|%.*f", [("10", "2"), ("5", ""), ("*", ""), ("", "*")]),
        ("%(unclosed", []),
        ("no conversions", []),
    ],
)
def test_printf_widths_reads_each_conversion(fmt: str, expected: list[tuple[str, str]]) -> None:
    assert list(printf_widths(fmt)) == expected


@pytest.mark.parametrize(
    ("value", "at_least"),
    [
        ("abc", 3),
        (["ab", ["cd"]], 4),
        ({"key": "value"}, 8),
        (10**100, 100),
        ((["x" * 10] * 3,), 30),
    ],
)
def test_text_size_is_at_least_the_printed_length(value: object, at_least: int) -> None:
    assert text_size(value, 1000) >= max(at_least, len(str(value)) if not isinstance(value, int) else 0)


def test_text_size_stops_counting_past_the_limit() -> None:
    shared: list[object] = ["x" * 100]
    for _ in range(50):
        shared = [shared, shared]  # 2**50 strings when printed, one list in memory per level
    started = time.monotonic()
    assert text_size(shared, 10_000) > 10_000
    assert time.monotonic() - started < 0.1
