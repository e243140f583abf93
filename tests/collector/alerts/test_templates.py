"""Annotation templates: sandboxed and bounded, checked when a rule is saved, never raising at evaluation."""

from __future__ import annotations

import time

import pytest
from structlog.testing import capture_logs

from collector.alerts.templates import (
    MAX_TEMPLATE_CHARS,
    RenderAllowance,
    TemplateContext,
    check_template,
    render,
)

CONTEXT = TemplateContext(
    labels={"instance": "web-1:9100", "env": "prod"}, value=97.25, threshold=90.0, server="web-1"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ server }} at {{ value | round(1) }}% > {{ threshold }}%", "web-1 at 97.2% > 90.0%"),
        ("{{ labels.env }} {{ labels['instance'] }}", "prod web-1:9100"),
        ("{{ labels.missing }}|", "|"),
        ("plain text", "plain text"),
    ],
)
def test_render_sees_labels_value_threshold_and_server(text: str, expected: str) -> None:
    assert render(check_template(text), CONTEXT) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{ value", "does not render"),
        ("{% for %}", "does not render"),
        ("{{ value | nofilter }}", "does not render"),
        ("{{ value.__class__.__mro__ }}", "does not render"),
        ("x" * (MAX_TEMPLATE_CHARS + 1), "longer than"),
        ("{{ value + 'x' }}", "fails on sample values"),
    ],
)
def test_broken_or_unsafe_template_is_refused_when_checked(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        check_template(text)


def test_a_template_failing_on_real_values_renders_as_its_text() -> None:
    text = "{{ value | round(1) }}"
    no_value = TemplateContext(labels={}, value=None, threshold=None, server="h")
    assert render(text, no_value) == text


NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{{ i * j }}{% endfor %}{% endfor %}"
NESTED_STRINGS = "{% set s = 'ab' * 8000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
HUGE_OUTPUT = "{% for i in range(10000) %}{{ 'x' * 16000 }}{% endfor %}"


@pytest.mark.parametrize("text", [NESTED_LOOPS, NESTED_STRINGS, HUGE_OUTPUT, "{{ 'x' * 10 ** 9 }}"])
def test_a_template_past_a_rendering_limit_is_refused_when_checked(text: str) -> None:
    started = time.monotonic()
    with pytest.raises(ValueError, match="rendering limit"):
        check_template(text)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("text", [NESTED_LOOPS, NESTED_STRINGS, HUGE_OUTPUT])
def test_a_template_past_a_rendering_limit_renders_as_its_text_soon_and_is_logged_once(text: str) -> None:
    allowance = RenderAllowance()
    with capture_logs() as logs:
        started = time.monotonic()
        assert render(text, CONTEXT, allowance) == text
        assert time.monotonic() - started < 1.0
        for _ in range(3):
            assert render(text, CONTEXT, allowance) == text
    assert [entry["event"] for entry in logs].count("alert template went past a rendering limit") == 1


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_template_that_used_up_its_render_time_is_shown_unrendered_until_it_refills() -> None:
    clock = FakeClock()
    allowance = RenderAllowance(burst_s=0.5, rate=0.05, clock=clock)
    text = "{{ server }}"
    assert allowance.allows(text)
    allowance.charge(text, 0.6)  # a slow render, within its own budget, took more than the burst
    assert not allowance.allows(text)
    assert render(text, CONTEXT, allowance) == text, "skipped, not rendered"
    clock.t += 2.5  # 0.125 s regained: the balance is positive again
    assert allowance.allows(text)
    assert render(text, CONTEXT, allowance) == "web-1"
    assert allowance.allows("{{ value }}"), "each template has an allowance of its own"


def test_a_template_past_a_limit_waits_a_whole_burst_before_it_is_tried_again() -> None:
    clock = FakeClock()
    allowance = RenderAllowance(burst_s=0.5, rate=0.05, clock=clock)
    assert render(HUGE_OUTPUT, CONTEXT, allowance) == HUGE_OUTPUT
    clock.t += 9.5
    assert not allowance.allows(HUGE_OUTPUT)
    clock.t += 1.0
    assert allowance.allows(HUGE_OUTPUT)


def test_quick_renders_do_not_draw_on_the_allowance() -> None:
    # A fleet where one rule fires everywhere renders the same template thousands of times at once.
    clock = FakeClock()
    allowance = RenderAllowance(burst_s=0.05, rate=0.0, clock=clock)
    text = "{% for k, v in labels | dictsort %}{{ k }}={{ v }} {% endfor %}on {{ server }}"
    for _ in range(2000):
        assert render(text, CONTEXT, allowance) == "env=prod instance=web-1:9100 on web-1"
    assert allowance.allows(text)
    allowance.charge(text, 0.0009)
    assert allowance.allows(text)
    allowance.charge(text, 0.051)
    assert not allowance.allows(text)
