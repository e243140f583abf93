"""The bounded sandbox: steps, time, sizes and calls are limited; ordinary templates render as in Jinja."""

from __future__ import annotations

import re
import time
import tracemalloc

import pytest
from jinja2 import TemplateError
from jinja2.exceptions import SecurityError

from collector.alerts.sandbox import BoundedEnvironment, render_bounded
from collector.alerts.template_limits import RenderLimits, TemplateLimitError

ENV = BoundedEnvironment(RenderLimits(), autoescape=False)
VARIABLES: dict[str, object] = {
    "labels": {"alertname": "HighCpu", "instance": "web-1:9100", "env": "prod"},
    "value": 97.25,
    "threshold": 90.0,
    "server": "web-1",
}


def render(text: str, env: BoundedEnvironment = ENV) -> str:
    return render_bounded(env.from_string(text), VARIABLES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ server }} at {{ value | round(1) }}%", "web-1 at 97.2%"),
        (
            "{% for k, v in labels | dictsort %}{{ k }}={{ v }}{{ ',' if not loop.last }}{% endfor %}",
            "alertname=HighCpu,env=prod,instance=web-1:9100",
        ),
        ("{{ labels.instance.split(':')[0] | upper }}", "WEB-1"),
        ("{{ '%.1f' | format(value) }} {{ '{:.2f}'.format(value) }} {{ '%d%%' % 5 }}", "97.2 97.25 5%"),
        ("{{ labels.values() | map('upper') | join(', ') }}", "HIGHCPU, WEB-1:9100, PROD"),
        ("{{ (value - threshold) | abs | round }} {{ [1, 2] + [3] }} {{ 2 ** 10 }}", "7.0 [1, 2, 3] 1024"),
        (
            "{% set ns = namespace(n=0) %}"
            "{% for i in range(5) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
            "10",
        ),
        ("{% macro tag(k) %}[{{ k }}]{% endmacro %}{{ tag('a') ~ tag('b') }}", "[a][b]"),
        ("{% filter upper %}{{ server }}{% endfilter %} {{ 'x' | center(5) }}|", "WEB-1   x  |"),
        (
            "{{ labels.get('missing', 'none') }} {{ 'a-b'.replace('-', '+') }} {{ ' x '.strip() }}",
            "none a+b x",
        ),
    ],
)
def test_ordinary_templates_render_as_in_jinja(text: str, expected: str) -> None:
    assert render(text) == expected


MB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        # Loops: nested ranges, nested loops over a string, recursion through a macro.
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "range()"),
        ("{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}", "iterations"),
        ("{% set s = 'ab' * 5000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}", "iterations"),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
            "iterations",
        ),
        # Time: bounded steps that are each slow.
        (
            "{% for i in range(9000) %}{{ ('a' * 8000).replace('a', 'bb') | length }}{% endfor %}",
            "longer than 0",
        ),
        # Sizes, refused before they are made.
        ("{{ 'x' * 1000000000 }}", "repeated"),
        ("{{ ['x'] * 1000000000 }}", "repeated"),
        ("{{ 2 ** 100000000 }}", "power"),
        ("{{ 'x' | center(1000000000) }}", "|center"),
        ("{{ 'x'.ljust(1000000000) }}", "ljust"),
        ("{{ 'x'.zfill(1000000000) }}", "zfill"),
        ("{{ ('\t' * 8000).expandtabs(100000) }}", "expandtabs"),
        ("{{ '%1000000000s' % 'x' }}", "formatted"),
        ("{{ '%*s' % (1000000000, 'x') }}", "argument"),
        ("{{ '%1000000000s' | format('x') }}", "formatted"),
        ("{{ '{:>1000000000}'.format(1) }}", "formatted"),
        ("{{ '{:>{w}}'.format(1, w=1000000000) }}", "argument"),
        ("{{ ('{0}' * 2000).format('x' * 10000) }}", "formatted"),
        ("{{ 'x\n' * 8000 | indent(100000) }}", "|indent"),
        ("{{ ('x\n' * 8000) | indent(1000) }}", "|indent"),
        ("{{ 'xy' * 4000 | wordwrap(1, wrapstring='-' * 10000) }}", "|wordwrap"),
        ("{{ ('a' * 16000).replace('a', 'bbbb') }}", "replace()"),
        ("{{ ('a' * 16000) | replace('a', 'bbbb') }}", "replace()"),
        ("{{ ('x' * 16000).join(range(5000) | map('string')) }}", "join()"),
        ("{{ range(5000) | map('string') | join('x' * 16000) }}", "join()"),
        ("{{ ('x' * 16000).join('y' * 16000) }}", "join()"),
        ("{{ range(10000) | join('x' * 16000) }}", "join()"),
        ("{{ [1] | batch(1000000000, 0) | list }}", "|batch"),
        ("{{ [1] | tojson(indent=1000000) }}", "tojson"),
        # Sizes that grow step by step.
        (
            "{% set ns = namespace(s='ab') %}"
            "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "(~)",
        ),
        (
            "{% set ns = namespace(s='ab') %}"
            "{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
            "(+)",
        ),
        (
            "{% set a = ['x' * 8000] %}{% set b = [a, a, a, a, a, a, a, a] %}"
            "{% set c = [b, b, b, b] %}{{ c }}",
            "output",
        ),
        (
            "{% set x %}{% for i in range(10000) %}{{ 'y' * 16000 }}{% endfor %}{% endset %}{{ x | length }}",
            "block",
        ),
        # Output.
        ("{% for i in range(9000) %}{{ 'x' * 100 }}{% endfor %}", "output is longer"),
    ],
)
def test_a_render_past_a_limit_stops_soon_and_small(text: str, limit: str) -> None:
    template = ENV.from_string(text)
    tracemalloc.start()
    started = time.monotonic()
    try:
        # Under tracing, the time budget may end a long loop before its step limit does.
        with pytest.raises(TemplateLimitError, match=f"{re.escape(limit)}|took longer"):
            render_bounded(template, VARIABLES)
        elapsed_s = time.monotonic() - started
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Tracing slows Python down a few times: the budget is 50 ms, the bound here leaves room for that.
    assert elapsed_s < 1.0
    assert peak_bytes < 16 * MB


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{% for x in labels recursive %}{{ loop(labels) }}{% endfor %}", "recursive loops"),
        ("{{ lipsum(1000000) }}", "'lipsum' is undefined"),
        ("{{ 'http://x' | urlize }}", "No filter named 'urlize'"),
        ("{{ (1).to_bytes(1000000000, 'big') }}", "calling 'to_bytes' is not allowed"),
        ("{{ 'x'.encode() }}", "calling 'encode' is not allowed"),
        ("{{ labels.update({'a': 'b'}) }}", "unsafe"),
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
    ],
)
def test_calls_that_could_escape_the_bounds_are_refused(text: str, error: str) -> None:
    with pytest.raises((TemplateError, SecurityError), match=error):
        render(text)


def test_the_limits_are_those_of_the_environment() -> None:
    small = BoundedEnvironment(RenderLimits(max_steps=20, max_value_chars=20, max_output_chars=30))
    # range() and the loop are a step each, then one per item.
    assert render("{% for i in range(9) %}{{ i }}{% endfor %}", small) == "012345678"
    with pytest.raises(TemplateLimitError, match="range"):
        render("{% for i in range(21) %}{% endfor %}", small)
    with pytest.raises(TemplateLimitError, match="more than 20 loop iterations"):
        render("{% for c in 'x' * 19 %}{% endfor %}", small)
    with pytest.raises(TemplateLimitError, match="20 characters"):
        render("{{ 'x' * 21 }}", small)
    with pytest.raises(TemplateLimitError, match="30 characters"):
        render("{{ 'x' * 20 }}{{ 'y' * 11 }}", small)
    slow = BoundedEnvironment(RenderLimits(time_budget_s=0.0))
    with pytest.raises(TemplateLimitError, match="longer than 0 s"):
        render("{% for i in range(20) %}{% endfor %}", slow)
