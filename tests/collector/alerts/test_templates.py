"""Annotation templates: sandboxed, checked when a rule is saved, never raising at evaluation."""

from __future__ import annotations

import pytest

from collector.alerts.templates import MAX_TEMPLATE_CHARS, TemplateContext, check_template, render

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
