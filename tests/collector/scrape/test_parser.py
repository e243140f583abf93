"""The scrape parser: edge cases by table, prometheus_client's parsers as an oracle, the series cache.

prometheus_client's parsers are laxer than the formats in places; where a property test meets one of
those places it asserts our stricter behaviour and says why (see ``LAXER_ORACLE``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import cast

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as client_openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as client_text_families
from prometheus_client.samples import Timestamp

from collector.scrape.numbers import format_go_float
from collector.scrape.parser import (
    Exemplar,
    Format,
    MetricMeta,
    ParseError,
    ParseResult,
    Sample,
    SeriesCache,
    format_for_content_type,
    parse,
    parse_format,
)

Row = tuple[str, dict[str, str], float | str, int | None]
"""A sample as tests write it: name, labels, value ("NaN" for NaN), timestamp in ms."""

PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def rows(result: ParseResult) -> list[Row]:
    """Samples in the tests' shape, NaN made comparable."""
    return [
        (s.name, dict(s.labels), "NaN" if math.isnan(s.value) else s.value, s.timestamp_ms)
        for s in result.samples
    ]


def parse_text(page: str, cache: SeriesCache | None = None) -> ParseResult:
    return parse_format(page.encode(), "text", cache)


def parse_openmetrics(page: str, cache: SeriesCache | None = None) -> ParseResult:
    return parse_format(page.encode(), "openmetrics", cache)


# --- valid pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "page", "expected"),
    [
        pytest.param(
            "text",
            'foo{a="x\\\\y",b="q\\"r",c="l1\\nl2"} 1\n',
            [("foo", {"a": "x\\y", "b": 'q"r', "c": "l1\nl2"}, 1.0, None)],
            id="label-value-escapes",
        ),
        pytest.param(
            "text",
            'foo{path="C:\\data\\x"} 1\n',
            [("foo", {"path": "C:\\data\\x"}, 1.0, None)],
            id="text-unknown-escape-kept-as-written",
        ),
        pytest.param(
            "text",
            "a NaN\nb +Inf\nc -Inf\nd Inf\ne nan\nf -infinity\ng INF\n",
            [
                ("a", {}, "NaN", None),
                ("b", {}, math.inf, None),
                ("c", {}, -math.inf, None),
                ("d", {}, math.inf, None),
                ("e", {}, "NaN", None),
                ("f", {}, -math.inf, None),
                ("g", {}, math.inf, None),
            ],
            id="nan-and-infinities-in-any-case",
        ),
        pytest.param(
            "text",
            "a 1e3\nb .5\nc 5.\nd -0\ne +1\nf 1E-3\ng 007\n",
            [
                ("a", {}, 1000.0, None),
                ("b", {}, 0.5, None),
                ("c", {}, 5.0, None),
                ("d", {}, -0.0, None),
                ("e", {}, 1.0, None),
                ("f", {}, 0.001, None),
                ("g", {}, 7.0, None),
            ],
            id="decimal-forms",
        ),
        pytest.param(
            "text",
            "foo 1 1700000000123\nfoo 2 1700000000124\n",
            [("foo", {}, 1.0, 1700000000123), ("foo", {}, 2.0, 1700000000124)],
            id="text-timestamps-in-ms-same-series-twice",
        ),
        pytest.param(
            "text",
            ' \tfoo \t{ a = "b" ,\tc="d" , }\t 1 \t 12 \t\n',
            [("foo", {"a": "b", "c": "d"}, 1.0, 12)],
            id="text-blanks-between-tokens-and-trailing-comma",
        ),
        pytest.param(
            "text",
            'foo{a="b"}1\nbar{}2\n',
            [("foo", {"a": "b"}, 1.0, None), ("bar", {}, 2.0, None)],
            id="text-no-blank-needed-after-brace",
        ),
        pytest.param(
            "text",
            "\n# a comment\n#HELP foo is a comment too\n# HELP\n\n  \nfoo 1\n\n",
            [("foo", {}, 1.0, None)],
            id="text-blank-lines-and-comments",
        ),
        pytest.param(
            "text",
            '# TYPE "my.metric" gauge\n{"my.metric", "label.name"="v"} 1\n{a="b", "my.metric"} 2\n',
            [("my.metric", {"label.name": "v"}, 1.0, None), ("my.metric", {"a": "b"}, 2.0, None)],
            id="utf8-quoted-names",
        ),
        pytest.param(
            "text",
            '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="0.5"} 1\nh_bucket{le="1e6"} 1\n'
            'h_bucket{le="100000"} 1\nh_bucket{le="0.00001"} 1\nh_bucket{le="Inf"} 1\nh_bucket{le="x"} 1\n'
            "h_sum 1\nh_count 1\n",
            [
                ("h_bucket", {"le": "1.0"}, 1.0, None),
                ("h_bucket", {"le": "0.5"}, 1.0, None),
                ("h_bucket", {"le": "1e+06"}, 1.0, None),
                ("h_bucket", {"le": "100000.0"}, 1.0, None),
                ("h_bucket", {"le": "1e-05"}, 1.0, None),
                ("h_bucket", {"le": "+Inf"}, 1.0, None),
                ("h_bucket", {"le": "x"}, 1.0, None),
                ("h_sum", {}, 1.0, None),
                ("h_count", {}, 1.0, None),
            ],
            id="text-histogram-le-normalized-like-prometheus",
        ),
        pytest.param(
            "text",
            'h_bucket{le="1"} 1\n# TYPE s summary\ns{quantile="0"} 1\ns{quantile="0.99"} 2\ns_sum 1\n',
            [
                ("h_bucket", {"le": "1"}, 1.0, None),
                ("s", {"quantile": "0.0"}, 1.0, None),
                ("s", {"quantile": "0.99"}, 2.0, None),
                ("s_sum", {}, 1.0, None),
            ],
            id="text-le-kept-without-type-quantile-normalized",
        ),
        pytest.param(
            "text",
            'foo{a="",b="} ,=#{\\""} 1\nbar{a="\u2028\x0b\x1c\r\x85"} 2',
            [
                ("foo", {"a": "", "b": '} ,=#{"'}, 1.0, None),
                ("bar", {"a": "\u2028\x0b\x1c\r\x85"}, 2.0, None),
            ],
            id="awkward-label-values-and-no-final-newline",
        ),
        pytest.param("openmetrics", "foo 1\n# EOF", [("foo", {}, 1.0, None)], id="om-eof-without-newline"),
        pytest.param(
            "openmetrics",
            "a 1 1.5\nb 1 1520879607.789\nc 1 1e3\nd 1 -0.5\ne 1 0.0019\n# EOF\n",
            [
                ("a", {}, 1.0, 1500),
                ("b", {}, 1.0, 1520879607789),
                ("c", {}, 1.0, 1000000),
                ("d", {}, 1.0, -500),
                ("e", {}, 1.0, 1),
            ],
            id="om-timestamps-in-seconds-to-exact-ms",
        ),
        pytest.param(
            "openmetrics",
            '# TYPE foo counter\n# HELP foo x\nfoo_total{a="1"} 1\nfoo_created{a="1"} 1.7e9\n# EOF\n',
            [("foo_total", {"a": "1"}, 1.0, None), ("foo_created", {"a": "1"}, 1.7e9, None)],
            id="om-counter-total-and-created",
        ),
        pytest.param(
            "openmetrics",
            '# TYPE h histogram\nh_bucket{le="1"} 0\nh_bucket{le="+Inf"} 2\nh_count 2\nh_sum 3.5\n# EOF\n',
            [
                ("h_bucket", {"le": "1.0"}, 0.0, None),
                ("h_bucket", {"le": "+Inf"}, 2.0, None),
                ("h_count", {}, 2.0, None),
                ("h_sum", {}, 3.5, None),
            ],
            id="om-histogram",
        ),
        pytest.param(
            "openmetrics",
            '# TYPE i info\ni_info{v="1.2"} 1\n# TYPE s stateset\ns{s="a"} 1\ns{s="b"} 0\n# EOF\n',
            [("i_info", {"v": "1.2"}, 1.0, None), ("s", {"s": "a"}, 1.0, None), ("s", {"s": "b"}, 0.0, None)],
            id="om-info-and-stateset",
        ),
        pytest.param(
            "openmetrics",
            '# TYPE "my.metric" gauge\n# UNIT "my.metric" \n{"my.metric","a.b"="c\\\\"} +Inf\n# EOF\n',
            [("my.metric", {"a.b": "c\\"}, math.inf, None)],
            id="om-quoted-names-and-empty-unit",
        ),
        pytest.param(
            "openmetrics",
            'foo{a="b\tc"} 1\n# EOF\n',
            [("foo", {"a": "b\tc"}, 1.0, None)],
            id="om-raw-tab-in-label-value",
        ),
    ],
)
def test_valid_page_gives_samples(fmt: Format, page: str, expected: list[Row]) -> None:
    assert rows(parse_format(page.encode(), fmt)) == expected


def test_text_help_unescapes_backslash_and_newline_only() -> None:
    result = parse_text('# HELP foo a \\\\ b \\n c \\" d \\t\n# TYPE foo gauge\nfoo 1\n')
    assert result.metadata == {"foo": MetricMeta("foo", "gauge", 'a \\ b \n c \\" d \\t', "")}


def test_openmetrics_help_unescapes_quotes_too() -> None:
    result = parse_openmetrics('# HELP foo a \\\\ b \\n c \\" d\n# UNIT foo \nfoo 1\n# EOF\n')
    assert result.metadata == {"foo": MetricMeta("foo", "unknown", 'a \\ b \n c " d', "")}


def test_help_may_be_empty_in_text_and_keeps_further_blanks() -> None:
    result = parse_text("# HELP a\n# HELP b \n# HELP c   x \n")
    assert {n: m.help for n, m in result.metadata.items()} == {"a": "", "b": "", "c": "  x "}


def test_metadata_without_samples_is_kept_and_untyped_is_the_default() -> None:
    result = parse_text("# HELP foo the help\n")
    assert result.metadata == {"foo": MetricMeta("foo", "untyped", "the help", "")}


def test_openmetrics_unit_is_reported() -> None:
    result = parse_openmetrics("# TYPE foo_seconds gauge\n# UNIT foo_seconds seconds\nfoo_seconds 1\n# EOF\n")
    assert result.metadata["foo_seconds"] == MetricMeta("foo_seconds", "gauge", "", "seconds")
    assert result.format == "openmetrics"


def test_exemplars_are_returned_beside_their_samples() -> None:
    page = (
        "# TYPE foo counter\n"
        'foo_total{a="1"} 3 # {trace_id="abc def"} 1.5 1700000000.5\n'
        'foo_total{a="2"} 4 12.5 # {} 2\n'
        "# TYPE h histogram\n"
        'h_bucket{le="+Inf"} 2 # {span="x"} 0.3\n'
        "h_count 2\nh_sum 1\n# EOF\n"
    )
    for cache in (None, SeriesCache()):
        for _ in range(2):  # the second round with a warm cache resolves lines from it
            result = parse_openmetrics(page, cache)
            assert rows(result)[:3] == [
                ("foo_total", {"a": "1"}, 3.0, None),
                ("foo_total", {"a": "2"}, 4.0, 12500),
                ("h_bucket", {"le": "+Inf"}, 2.0, None),
            ]
            assert result.exemplars == [
                Exemplar(0, (("trace_id", "abc def"),), 1.5, 1700000000500),
                Exemplar(1, (), 2.0, None),
                Exemplar(2, (("span", "x"),), 0.3, None),
            ]


# --- invalid pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "page", "line", "fragment"),
    [
        pytest.param("text", "foo 1_2\n", 1, "invalid number '1_2'", id="value-with-underscore"),
        pytest.param("text", "foo 0x1p-3\n", 1, "invalid number", id="hex-float-value"),
        pytest.param("text", "foo 1e\n", 1, "invalid number '1e'", id="exponent-without-digits"),
        pytest.param("text", "foo \u0661\n", 1, "invalid number", id="non-ascii-digit"),
        pytest.param("text", "foo -nan\n", 1, "invalid number '-nan'", id="signed-nan"),
        pytest.param("text", "foo 1\u00a0\n", 1, "invalid number", id="value-with-no-break-space"),
        pytest.param("text", "foo 1.2.3\n", 1, "invalid number", id="two-points"),
        pytest.param("text", "foo\n", 1, "missing sample value", id="missing-value"),
        pytest.param("text", "ok 1\nfoo 1\r\nbar 2\r\n", 2, "carriage return", id="crlf-line-ending"),
        pytest.param("text", 'foo{a="b} 1\n', 1, "unterminated quoted string", id="unbalanced-quote"),
        pytest.param("text", "foo{a} 1\n", 1, "expected '=' after label name 'a'", id="label-without-value"),
        pytest.param("text", 'foo{1a="b"} 1\n', 1, "expected a label name", id="label-name-with-digit-first"),
        pytest.param("text", 'foo{a-b="c"} 1\n', 1, "expected '='", id="label-name-with-dash"),
        pytest.param("text", 'foo{a="b" c="d"} 1\n', 1, "expected ',' or '}'", id="missing-comma"),
        pytest.param("text", "foo{,} 1\n", 1, "expected a label name", id="lone-comma"),
        pytest.param("text", 'foo{a="b",,} 1\n', 1, "expected a label name", id="double-comma"),
        pytest.param(
            "text", 'foo{a="1",a="2"} 1\n', 1, "duplicate label name 'a'", id="duplicate-label-name"
        ),
        pytest.param("text", 'foo{__name__="x"} 1\n', 1, "__name__ is reserved", id="name-label"),
        pytest.param("text", 'foo{"bar"} 1\n', 1, "both before and inside", id="metric-name-twice"),
        pytest.param("text", '{"a", "b"} 1\n', 1, "metric name given twice", id="two-quoted-names"),
        pytest.param("text", '{a="b"} 1\n', 1, "expected a metric name", id="no-metric-name"),
        pytest.param("text", '{""} 1\n', 1, "empty metric name", id="empty-quoted-name"),
        pytest.param("text", 'foo{""="v"} 1\n', 1, "empty label name", id="empty-quoted-label-name"),
        pytest.param("text", "foo.bar 1\n", 1, "invalid character '.' in metric name", id="dot-in-bare-name"),
        pytest.param("text", "1foo 1\n", 1, "expected a metric name", id="name-with-digit-first"),
        pytest.param(
            "text", 'foo 1 # {a="b"} 1\n', 1, "exemplars exist only in OpenMetrics", id="text-exemplar"
        ),
        pytest.param("text", "foo 1 -5\n", 1, "invalid timestamp '-5'", id="text-negative-timestamp"),
        pytest.param("text", "foo 1 1.5\n", 1, "invalid timestamp '1.5'", id="text-fractional-timestamp"),
        pytest.param("text", "foo 1 9223372036854775808\n", 1, "out of range", id="text-timestamp-overflow"),
        pytest.param(
            "text", "foo 1 2 3\n", 1, "unexpected text after the timestamp", id="text-three-numbers"
        ),
        pytest.param("text", f"foo 1 {'1' * 5000}\n", 1, "out of range", id="text-timestamp-of-5000-digits"),
        pytest.param(
            "openmetrics",
            f"foo 1 {'1' * 5000}.5\n# EOF\n",
            1,
            "out of range",
            id="om-timestamp-of-5000-digits",
        ),
        pytest.param("openmetrics", "foo 1 1e19\n# EOF\n", 1, "out of range", id="om-timestamp-overflow"),
        pytest.param("text", "a 1\nfoo 1\nfoo 2\n", 3, "duplicate sample for series foo", id="duplicate"),
        pytest.param(
            "text",
            'foo{a="1",b="2"} 1\nfoo{b="2", a="1"} 1\n',
            2,
            "duplicate sample",
            id="duplicate-other-spelling",
        ),
        pytest.param("text", "foo 1 5\nfoo 2 5\n", 2, "at 5 ms", id="duplicate-with-timestamp"),
        pytest.param(
            "text",
            '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="1.0"} 1\n',
            3,
            "duplicate sample",
            id="duplicate-after-le-normalization",
        ),
        pytest.param(
            "text", "foo 1\n# TYPE foo gauge\n", 2, "TYPE line for 'foo' after its sample", id="late-type"
        ),
        pytest.param(
            "text", "h_sum 1\n# TYPE h histogram\n", 2, "after its sample 'h_sum'", id="late-histogram-type"
        ),
        pytest.param("text", "# TYPE a gauge\n# TYPE a counter\n", 2, "second TYPE line", id="type-twice"),
        pytest.param("text", "# HELP a x\n# HELP a y\n", 2, "second HELP line", id="help-twice"),
        pytest.param(
            "text", "# TYPE a info\n", 1, "unknown metric type 'info'", id="openmetrics-type-in-text"
        ),
        pytest.param("text", "# TYPE a\n", 1, "expected metric type", id="type-without-type"),
        pytest.param("text", "# HELP 1a x\n", 1, "expected a metric name after HELP", id="help-bad-name"),
        pytest.param("openmetrics", "foo 1\n", 2, "missing '# EOF'", id="om-missing-eof"),
        pytest.param("openmetrics", "", 1, "missing '# EOF'", id="om-empty-page"),
        pytest.param("openmetrics", "foo 1\n# EOF\n\n", 3, "content after '# EOF'", id="om-blank-after-eof"),
        pytest.param(
            "openmetrics", "# EOF\nfoo 1\n# EOF\n", 2, "content after '# EOF'", id="om-line-after-eof"
        ),
        pytest.param("openmetrics", "foo 1\r\n# EOF\r\n", 2, "carriage return", id="om-crlf"),
        pytest.param("openmetrics", "a 1\n\nb 1\n# EOF\n", 2, "blank line", id="om-blank-line"),
        pytest.param("openmetrics", "foo  1\n# EOF\n", 1, "after a single space", id="om-two-spaces"),
        pytest.param("openmetrics", "foo\t1\n# EOF\n", 1, "single space before the value", id="om-tab"),
        pytest.param("openmetrics", "foo 1 \n# EOF\n", 1, "after a single space", id="om-trailing-space"),
        pytest.param("openmetrics", " foo 1\n# EOF\n", 1, "expected a metric name", id="om-leading-space"),
        pytest.param("openmetrics", 'foo{a="b",} 1\n# EOF\n', 1, "trailing comma", id="om-trailing-comma"),
        pytest.param("openmetrics", 'foo{a = "b"} 1\n# EOF\n', 1, "expected '='", id="om-blanks-in-labels"),
        pytest.param(
            "openmetrics", 'foo{a="\\x"} 1\n# EOF\n', 1, "invalid escape sequence", id="om-bad-escape"
        ),
        pytest.param(
            "openmetrics", "# HELP foo a\\tb\n# EOF\n", 1, "invalid escape", id="om-help-bad-escape"
        ),
        pytest.param("openmetrics", "# HELP foo\n# EOF\n", 1, "a space and the text", id="om-help-no-space"),
        pytest.param("openmetrics", "# TYPE foo untyped\n# EOF\n", 1, "unknown metric type", id="om-untyped"),
        pytest.param("openmetrics", "# a comment\n# EOF\n", 1, "comments must be", id="om-comment"),
        pytest.param(
            "openmetrics", "foo 1 NaN\n# EOF\n", 1, "invalid timestamp 'NaN'", id="om-nan-timestamp"
        ),
        pytest.param(
            "openmetrics", "foo 1 1_0\n# EOF\n", 1, "invalid timestamp", id="om-timestamp-underscore"
        ),
        pytest.param("openmetrics", "foo 1\nfoo 2\n# EOF\n", 2, "duplicate sample", id="om-duplicate"),
        pytest.param(
            "openmetrics",
            "foo 1\n# TYPE foo gauge\n# EOF\n",
            2,
            "after its samples",
            id="om-metadata-after-samples",
        ),
        pytest.param(
            "openmetrics",
            "# TYPE a gauge\n# HELP a x\n# TYPE a gauge\n# EOF\n",
            3,
            "second TYPE",
            id="om-type-twice",
        ),
        pytest.param("openmetrics", "# HELP a x\n# HELP a y\n# EOF\n", 2, "second HELP", id="om-help-twice"),
        pytest.param(
            "openmetrics", "a 1\nb 1\na 2\n# EOF\n", 3, "not together", id="om-interleaved-families"
        ),
        pytest.param(
            "openmetrics",
            "# TYPE a counter\na_total 1\n# TYPE a_total gauge\n# EOF\n",
            3,
            "clashes",
            id="om-clash",
        ),
        pytest.param(
            "openmetrics",
            "a_total 1\n# TYPE a counter\n# EOF\n",
            2,
            "clashes with family 'a_total'",
            id="om-clash-2",
        ),
        pytest.param(
            "openmetrics", "# TYPE a counter\na 1\n# EOF\n", 2, "does not fit counter", id="om-bare-counter"
        ),
        pytest.param(
            "openmetrics", "# TYPE a counter\na_total -1\n# EOF\n", 2, "negative", id="om-negative-counter"
        ),
        pytest.param("openmetrics", "# TYPE a counter\na_total NaN\n# EOF\n", 2, "NaN", id="om-nan-counter"),
        pytest.param(
            "openmetrics",
            "# TYPE h histogram\nh_bucket 1\n# EOF\n",
            2,
            "missing le label",
            id="om-bucket-without-le",
        ),
        pytest.param(
            "openmetrics",
            '# TYPE h histogram\nh_bucket{le="NaN"} 1\n# EOF\n',
            2,
            "out of range",
            id="om-nan-le",
        ),
        pytest.param(
            "openmetrics",
            '# TYPE h histogram\nh_bucket{le="x"} 1\n# EOF\n',
            2,
            "not a number",
            id="om-word-le",
        ),
        pytest.param(
            "openmetrics", "# TYPE h histogram\nh_sum NaN\n# EOF\n", 2, "must not be NaN", id="om-nan-sum"
        ),
        pytest.param(
            "openmetrics",
            '# TYPE s summary\ns{quantile="1.5"} 1\n# EOF\n',
            2,
            "out of range",
            id="om-big-quantile",
        ),
        pytest.param(
            "openmetrics", "# TYPE s summary\ns 1\n# EOF\n", 2, "missing quantile", id="om-no-quantile"
        ),
        pytest.param("openmetrics", "# TYPE i info\ni_info 2\n# EOF\n", 2, "must be 1", id="om-info-value"),
        pytest.param(
            "openmetrics", '# TYPE s stateset\ns{s="a"} 2\n# EOF\n', 2, "must be 0 or 1", id="om-stateset"
        ),
        pytest.param(
            "openmetrics",
            '# TYPE s stateset\ns{x="a"} 1\n# EOF\n',
            2,
            "stateset sample without",
            id="om-stateset-2",
        ),
        pytest.param(
            "openmetrics",
            '# TYPE g gauge\ng 1 # {a="b"} 1\n# EOF\n',
            2,
            "exemplars belong",
            id="om-gauge-exemplar",
        ),
        pytest.param(
            "openmetrics",
            f'# TYPE c counter\nc_total 1 # {{a="{"x" * 128}"}} 1\n# EOF\n',
            2,
            "longer than 128",
            id="om-long-exemplar",
        ),
        pytest.param(
            "openmetrics",
            '# TYPE c counter\nc_total 1 # {a="b"} x\n# EOF\n',
            2,
            "invalid number",
            id="om-exemplar-value",
        ),
        pytest.param(
            "openmetrics", "# TYPE c counter\nc_total 1 # 1\n# EOF\n", 2, "opening the exemplar", id="om-ex"
        ),
        pytest.param(
            "openmetrics",
            "# TYPE a gauge\n# UNIT a seconds\n# EOF\n",
            2,
            "not a suffix",
            id="om-unit-not-suffix",
        ),
        pytest.param(
            "openmetrics",
            "# UNIT a_b b\n# TYPE a_b info\n# EOF\n",
            2,
            "info cannot have a unit",
            id="om-info-unit",
        ),
    ],
)
def test_invalid_page_fails_at_its_line(fmt: Format, page: str, line: int, fragment: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_format(page.encode(), fmt)
    assert caught.value.line == line
    assert fragment in str(caught.value)


def test_invalid_utf8_fails_with_its_line_and_byte() -> None:
    with pytest.raises(ParseError) as caught:
        parse_format(b'a 1\nb{x="\xff"} 2\n', "text")
    assert caught.value.line == 2
    assert "invalid UTF-8 (byte 0xff at column 6)" in str(caught.value)


def test_error_message_shows_a_truncated_fragment_of_the_line() -> None:
    with pytest.raises(ParseError) as caught:
        parse_text('foo{a="' + "x" * 200 + '"} 1_0\n')
    error = caught.value
    assert error.fragment.startswith("…") and error.fragment.endswith("1_0")
    assert len(error.fragment) <= 62
    assert str(error).startswith("line 1: invalid sample value: invalid number '1_0' (column 211): ")


def test_whole_page_fails_on_the_first_error_even_after_valid_lines() -> None:
    with pytest.raises(ParseError) as caught:
        parse_text("a 1\nb 2\nc x\nd y\n")
    assert caught.value.line == 3


# --- content type, numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, "text"),
        ("", "text"),
        ("text/plain; version=0.0.4; charset=utf-8", "text"),
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", "openmetrics"),
        ("Application/OpenMetrics-Text;version=0.0.1", "openmetrics"),
        ("application/json", "text"),
        ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily", "text"),
    ],
)
def test_content_type_chooses_format_like_prometheus(content_type: str | None, expected: Format) -> None:
    assert format_for_content_type(content_type) == expected


def test_parse_uses_the_content_type() -> None:
    assert parse(b"foo 1\n# EOF\n", "application/openmetrics-text").format == "openmetrics"
    with pytest.raises(ParseError, match="comments must be"):
        parse(b"# plain comment\n# EOF\n", "application/openmetrics-text")
    assert parse(b"# plain comment\nfoo 1\n", None).format == "text"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1.0"),
        (0.0, "0.0"),
        (-0.0, "0.0"),
        (-1.0, "-1.0"),
        (0.5, "0.5"),
        (0.005, "0.005"),
        (10.0, "10.0"),
        (100000.0, "100000.0"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (2.5e-7, "2.5e-07"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (0.1 + 0.2, "0.30000000000000004"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_normalized_label_numbers_match_go_formatting(value: float, expected: str) -> None:
    assert format_go_float(value) == expected


@given(st.floats(allow_nan=False))
def test_normalized_label_numbers_round_trip(value: float) -> None:
    assert float(format_go_float(value)) == value


# --- the series cache ---------------------------------------------------------------------------------


TEXT_PAGE = (
    "# HELP cpu_seconds_total Seconds.\n# TYPE cpu_seconds_total counter\n"
    'cpu_seconds_total{cpu="0",mode="idle"} 1\ncpu_seconds_total{cpu="0",mode="user"} 2\n'
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n'
    'fs{mount="/mnt/a b",note="x\\"y"} NaN\nstamped 1 1700000000000\n'
)


def test_warm_parse_returns_what_a_cold_parse_returns() -> None:
    cache = SeriesCache()
    cold = parse_text(TEXT_PAGE)
    for _ in range(3):
        warm = parse_text(TEXT_PAGE, cache)
        assert rows(warm) == rows(cold)
        assert warm.metadata == cold.metadata
    assert len(cache) == 8


def test_warm_parse_reuses_the_parsed_labels() -> None:
    cache = SeriesCache()
    first = parse_text(TEXT_PAGE, cache)
    second = parse_text(TEXT_PAGE.replace("} 1\n", "} 5\n"), cache)
    assert all(a.labels is b.labels for a, b in zip(first.samples, second.samples, strict=True))
    assert second.samples[0] == Sample("cpu_seconds_total", (("cpu", "0"), ("mode", "idle")), 5.0, None)


def test_series_gone_from_the_page_are_evicted() -> None:
    cache = SeriesCache()
    parse_text("a 1\nb 1\nc 1\n", cache)
    assert len(cache) == 3
    parse_text("a 2\n", cache)
    assert len(cache) == 1


def test_churning_series_keep_the_cache_bounded() -> None:
    cache = SeriesCache()
    for scrape in range(50):
        page = "".join(f'requests{{id="{scrape}-{i}"}} 1\n' for i in range(20)) + "steady 1\n"
        assert len(parse_text(page, cache).samples) == 21
        assert len(cache) == 21


def test_duplicate_is_caught_with_a_warm_cache() -> None:
    cache = SeriesCache()
    parse_text("a 1\nb 1\n", cache)
    with pytest.raises(ParseError, match="duplicate sample") as caught:
        parse_text("a 1\nb 1\na 2\n", cache)
    assert caught.value.line == 3


def test_a_failed_parse_empties_the_cache_and_the_next_one_refills_it() -> None:
    cache = SeriesCache()
    parse_text("a 1\nb 1\n", cache)
    with pytest.raises(ParseError):
        parse_text("a 1\nb x\n", cache)
    assert len(cache) == 0
    assert rows(parse_text("a 1\nb 1\n", cache)) == [("a", {}, 1.0, None), ("b", {}, 1.0, None)]


def test_changed_type_is_honoured_despite_cached_labels() -> None:
    cache = SeriesCache()
    typed = '# TYPE h histogram\nh_bucket{le="1"} 1\n'
    untyped = 'h_bucket{le="1"} 1\n'
    assert rows(parse_text(typed, cache))[0][1] == {"le": "1.0"}
    assert rows(parse_text(untyped, cache))[0][1] == {"le": "1"}
    assert rows(parse_text(typed, cache))[0][1] == {"le": "1.0"}
    as_summary = '# TYPE h_bucket summary\nh_bucket{le="1"} 1\n'
    assert rows(parse_text(as_summary, cache))[0][1] == {"le": "1"}


def test_switching_format_does_not_reuse_lenient_text_entries() -> None:
    cache = SeriesCache()
    parse_text('foo{a="b",} 1\n', cache)
    with pytest.raises(ParseError, match="trailing comma"):
        parse_openmetrics('foo{a="b",} 1\n# EOF\n', cache)


def test_second_spelling_of_a_series_is_parsed_but_not_cached() -> None:
    cache = SeriesCache()
    parse_text('foo{a="1",b="2"} 1 10\nfoo{b="2",a="1"} 2 20\n', cache)
    assert len(cache) == 1
    again = parse_text('foo{a="1",b="2"} 1 10\nfoo{b="2",a="1"} 2 20\n', cache)
    assert rows(again) == [("foo", {"a": "1", "b": "2"}, 1.0, 10), ("foo", {"a": "1", "b": "2"}, 2.0, 20)]


def test_without_a_cache_every_parse_is_cold_and_equal() -> None:
    assert rows(parse_text(TEXT_PAGE)) == rows(parse_text(TEXT_PAGE))


# --- property tests: model, renderers -----------------------------------------------------------------

UTF8_CHAR = st.characters(codec="utf-8")
LEGACY_NAME = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,8}", fullmatch=True)
UTF8_NAME = st.text(UTF8_CHAR, min_size=1, max_size=6)
LABEL_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n not in ("le", "quantile")
)
UTF8_LABEL_NAME = st.text(UTF8_CHAR, min_size=1, max_size=6).filter(
    lambda n: not n.startswith("__") and n not in ("le", "quantile")
)
LABEL_VALUE = st.text(UTF8_CHAR, max_size=8)
HELP_TEXT = st.text(UTF8_CHAR, max_size=12).filter(lambda s: s == s.strip())
SAFE_EXEMPLAR_VALUE = st.text(st.sampled_from("abc XYZ019-_.:/{},=#"), max_size=12)
LEGACY_METRIC_RE = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LEGACY_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def is_legacy_metric_name(name: str) -> bool:
    return re.fullmatch(LEGACY_METRIC_RE, name) is not None


def label_token(name: str) -> str:
    legacy = name and name[0] not in "0123456789" and set(name) <= LEGACY_LABEL_CHARS
    return name if legacy else f'"{escape(name)}"'


def metric_token(name: str) -> str:
    return name if is_legacy_metric_name(name) else f'"{escape(name)}"'


@dataclass(frozen=True)
class Line:
    """A rendered sample line: the series text, blanks, value, and what follows the value."""

    series: str
    gap: str
    value: str
    rest: str = ""

    def text(self) -> str:
        return f"{self.series}{self.gap}{self.value}{self.rest}"


@dataclass(frozen=True)
class Page:
    """A rendered page: lines are either str (metadata, comments) or sample ``Line``s."""

    fmt: Format
    lines: tuple[str | Line, ...]
    normalized: frozenset[tuple[str, str]]
    """(sample name, label) pairs that we normalize and the oracle does not."""
    metadata: dict[str, MetricMeta]

    def text(self) -> str:
        body = "".join((line if isinstance(line, str) else line.text()) + "\n" for line in self.lines)
        return body + ("# EOF\n" if self.fmt == "openmetrics" else "")


def float_text(draw: st.DrawFn, value: float) -> str:
    """Some spelling of ``value`` that both formats accept."""
    if math.isnan(value):
        return draw(st.sampled_from(["NaN", "nan", "NAN"]))
    if math.isinf(value):
        spellings = (
            ["+Inf", "Inf", "inf", "+Infinity", "infinity"] if value > 0 else ["-Inf", "-inf", "-Infinity"]
        )
        return draw(st.sampled_from(spellings))
    options = [repr(value), repr(value).upper(), format_go_float(value)]
    if value.is_integer() and abs(value) < 1e15:
        options.append(str(int(value)))
    return draw(st.sampled_from(options))


def series_text(draw: st.DrawFn, name: str, labels: list[tuple[str, str]], fmt: Format) -> str:
    blank = st.sampled_from(["", " ", "\t", " \t "]) if fmt == "text" else st.just("")
    pairs = [f'{label_token(k)}{draw(blank)}={draw(blank)}"{escape(v)}"' for k, v in labels]
    quoted = not is_legacy_metric_name(name)
    if quoted:
        pairs.insert(draw(st.integers(0, len(pairs))), f'"{escape(name)}"')
    if not pairs and not draw(st.booleans()):
        return name
    inner = "".join(f"{draw(blank)}{pair}{draw(blank)}," for pair in pairs)
    if not inner or (fmt == "openmetrics" or not draw(st.booleans())):
        inner = inner[:-1]  # the trailing comma is text-format only
    head = "" if quoted else name + draw(blank)
    return f"{head}{{{inner}{draw(blank)}}}"


def label_sets() -> st.SearchStrategy[list[list[tuple[str, str]]]]:
    """One to three distinct label sets of a family (pairs sorted by name)."""
    one = st.dictionaries(st.one_of(LABEL_NAME, UTF8_LABEL_NAME), LABEL_VALUE, max_size=3).map(
        lambda labels: sorted(labels.items())
    )
    return st.lists(one, min_size=1, max_size=3, unique_by=tuple)


@st.composite
def text_pages(draw: st.DrawFn) -> Page:
    """A valid text-format page with the metadata it declares."""
    lines: list[str | Line] = []
    normalized: set[tuple[str, str]] = set()
    metadata: dict[str, MetricMeta] = {}
    gap = st.sampled_from([" ", "\t", "  ", " \t"])
    for index in range(draw(st.integers(0, 6))):
        type_name = draw(st.sampled_from(["counter", "gauge", "untyped", "histogram", "summary", None]))
        name = (
            draw(st.one_of(LEGACY_NAME, UTF8_NAME))
            + f"_f{index}"
            + ("_total" if type_name == "counter" else "")
        )
        help_text = draw(st.none() | HELP_TEXT)
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# just a comment", "#", "  "])))
        if help_text is not None:
            escaped_help = help_text.replace("\\", "\\\\").replace("\n", "\\n")
            lines.append(f"# HELP {metric_token(name)} {escaped_help}")
        if type_name is not None:
            lines.append(f"# TYPE {metric_token(name)} {type_name}")
        if help_text is not None or type_name is not None:
            metadata[name] = MetricMeta(name, type_name or "untyped", help_text or "", "")
        for labels in draw(label_sets()):
            if type_name == "histogram":
                bounds = draw(
                    st.lists(st.floats(allow_nan=False, allow_infinity=False), unique=True, max_size=3)
                )
                members = [(name + "_bucket", [*labels, ("le", float_text(draw, b))]) for b in sorted(bounds)]
                members += [
                    (name + "_bucket", [*labels, ("le", "+Inf")]),
                    (name + "_sum", labels),
                    (name + "_count", labels),
                ]
                normalized.add((name + "_bucket", "le"))
            elif type_name == "summary":
                quantiles = draw(st.lists(st.floats(0, 1), unique=True, max_size=3))
                members = [(name, [*labels, ("quantile", float_text(draw, q))]) for q in quantiles]
                members += [(name + "_sum", labels), (name + "_count", labels)]
                normalized.add((name, "quantile"))
            else:
                members = [(name, labels)]
            for sample_name, pairs in members:
                value = float_text(draw, draw(st.floats()))
                stamp = draw(st.none() | st.integers(0, 2**63 - 1))
                rest = "" if stamp is None else " " * draw(st.integers(1, 2)) + str(stamp)
                series = draw(st.sampled_from(["", " ", "\t"])) + series_text(
                    draw, sample_name, pairs, "text"
                )
                lines.append(Line(series, draw(gap), value, rest + draw(st.sampled_from(["", " ", "\t"]))))
    return Page("text", tuple(lines), frozenset(normalized), metadata)


def openmetrics_family(
    draw: st.DrawFn, name: str
) -> tuple[str, list[tuple[str, list[tuple[str, str]], float]]]:
    """A family's type and samples (name, labels, value) meeting every OpenMetrics rule the oracle checks."""
    type_name = draw(
        st.sampled_from(
            ["counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"]
        )
    )
    out: list[tuple[str, list[tuple[str, str]], float]] = []
    counts = st.integers(0, 10**6).map(float)
    for labels in draw(label_sets()):
        if type_name == "counter":
            out.append((name + "_total", labels, draw(st.floats(min_value=0))))
            if draw(st.booleans()):
                out.append((name + "_created", labels, draw(st.floats(0, 2e9))))
        elif type_name in ("histogram", "gaugehistogram"):
            bounds = sorted(draw(st.lists(st.floats(0, 1e9), unique=True, max_size=3)))
            total = 0.0
            for bound in bounds:
                total += draw(counts)
                out.append((name + "_bucket", [*labels, ("le", float_text(draw, bound))], total))
            # prometheus_client insists on the canonical "+Inf" here; we, like Prometheus, take any spelling.
            total += draw(counts)
            out.append((name + "_bucket", [*labels, ("le", "+Inf")], total))
            prefix = "_g" if type_name == "gaugehistogram" else "_"
            out.append((f"{name}{prefix}count", labels, total))
            out.append((f"{name}{prefix}sum", labels, draw(st.floats(0, 1e9))))
        elif type_name == "summary":
            for quantile in draw(st.lists(st.floats(0, 1), unique=True, max_size=3)):
                value = draw(st.floats(min_value=0) | st.just(math.nan))
                out.append((name, [*labels, ("quantile", float_text(draw, quantile))], value))
            out.append((name + "_count", labels, draw(counts)))
            out.append((name + "_sum", labels, draw(st.floats(0, 1e9))))
        elif type_name == "info":
            out.append((name + "_info", labels, 1.0))
        elif type_name == "stateset":
            state_labels = [pair for pair in labels if pair[0] != name]
            for state in draw(st.lists(LABEL_VALUE, min_size=1, max_size=3, unique=True)):
                out.append((name, sorted([*state_labels, (name, state)]), float(draw(st.integers(0, 1)))))
        else:
            out.append((name, labels, draw(st.floats())))
    return type_name, out


@st.composite
def openmetrics_pages(draw: st.DrawFn) -> Page:
    """A valid OpenMetrics page, valid for prometheus_client's stricter family checks as well."""
    lines: list[str | Line] = []
    normalized: set[tuple[str, str]] = set()
    metadata: dict[str, MetricMeta] = {}
    for index in range(draw(st.integers(0, 6))):
        quoted = draw(st.booleans())
        name = draw(UTF8_NAME if quoted else LEGACY_NAME) + f"_f{index}"
        if name.startswith("__"):
            name = "x" + name  # a stateset's label is named after it, and "__" label names are reserved
        type_name, samples = openmetrics_family(draw, name)
        # prometheus_client needs a TYPE line for a quoted family name.
        typed = quoted or type_name != "unknown" or draw(st.booleans())
        help_text = draw(st.none() | HELP_TEXT)
        # The name ends in _f<index>, so f<index> is a unit that fits it.
        unit = draw(st.none() | st.just(f"f{index}")) if type_name not in ("info", "stateset") else None
        meta_lines = []
        if typed:
            meta_lines.append(f"# TYPE {metric_token(name)} {type_name}")
        if help_text is not None:
            meta_lines.append(f"# HELP {metric_token(name)} {escape(help_text)}")
        if unit is not None:
            meta_lines.append(f"# UNIT {metric_token(name)} {unit}")
        lines.extend(draw(st.permutations(meta_lines)))
        if meta_lines:
            metadata[name] = MetricMeta(name, type_name if typed else "unknown", help_text or "", unit or "")
        if type_name in ("histogram", "gaugehistogram"):
            normalized.add((name + "_bucket", "le"))
        if type_name == "summary":
            normalized.add((name, "quantile"))
        stamp = draw(st.none() | st.tuples(st.integers(0, 2**31), st.none() | st.integers(0, 999)))
        stamp_text = (
            "" if stamp is None else f" {stamp[0]}" + ("" if stamp[1] is None else f".{stamp[1]:03d}")
        )
        for sample_name, pairs, value in samples:
            rest = stamp_text
            exemplar_ok = (type_name == "counter" and sample_name.endswith("_total")) or (
                type_name in ("histogram", "gaugehistogram") and sample_name.endswith("_bucket")
            )
            if exemplar_ok and draw(st.booleans()):
                ex_labels = draw(st.dictionaries(LABEL_NAME, SAFE_EXEMPLAR_VALUE, max_size=2))
                ex_value = float_text(draw, draw(st.floats(allow_nan=False, allow_infinity=False)))
                ex_stamp = draw(st.none() | st.integers(0, 2**31))
                inner = ",".join(f'{k}="{v}"' for k, v in ex_labels.items())
                rest += f" # {{{inner}}} {ex_value}" + ("" if ex_stamp is None else f" {ex_stamp}")
            lines.append(
                Line(series_text(draw, sample_name, pairs, "openmetrics"), " ", float_text(draw, value), rest)
            )
    return Page("openmetrics", tuple(lines), frozenset(normalized), metadata)


Comparable = tuple[str, dict[str, str], float | str, float | int | None]
"""A sample comparable across parsers: text timestamps in seconds (as the oracle has them), OM ones in ms."""


def oracle_rows(page: Page) -> list[Comparable]:
    """What prometheus_client parses from the page, with our ``le``/``quantile`` normalization applied."""
    parser = cast(
        Callable[[str], Iterable[Metric]],
        client_openmetrics_families if page.fmt == "openmetrics" else client_text_families,
    )
    out: list[Comparable] = []
    for family in parser(page.text()):
        for sample in family.samples:
            labels = dict(sample.labels)
            for label, text in list(labels.items()):
                if (sample.name, label) in page.normalized:
                    labels[label] = format_go_float(float(text))
            stamp = sample.timestamp
            if isinstance(stamp, Timestamp):
                stamp = stamp.sec * 1000 + stamp.nsec // 1_000_000
            value = float(sample.value)
            out.append((sample.name, labels, "NaN" if math.isnan(value) else value, stamp))
    return out


def comparable(result: ParseResult) -> list[Comparable]:
    if result.format == "openmetrics":
        return list(rows(result))
    return [(n, ls, v, None if t is None else t / 1000) for n, ls, v, t in rows(result)]


def oracle_exemplars(page: Page) -> list[tuple[dict[str, str], float, int | None]]:
    parser = cast(Callable[[str], Iterable[Metric]], client_openmetrics_families)
    out: list[tuple[dict[str, str], float, int | None]] = []
    for family in parser(page.text()):
        for sample in family.samples:
            exemplar = sample.exemplar
            if exemplar is not None:
                stamp = exemplar.timestamp
                assert stamp is None or isinstance(stamp, Timestamp)
                ms = None if stamp is None else stamp.sec * 1000 + stamp.nsec // 1_000_000
                out.append((dict(exemplar.labels), float(exemplar.value), ms))
    return out


@PROPERTY_SETTINGS
@given(text_pages())
def test_text_pages_parse_like_prometheus_client(page: Page) -> None:
    result = parse_text(page.text())
    assert comparable(result) == oracle_rows(page)
    assert result.metadata == page.metadata


@PROPERTY_SETTINGS
@given(openmetrics_pages())
def test_openmetrics_pages_parse_like_prometheus_client(page: Page) -> None:
    result = parse_openmetrics(page.text())
    assert comparable(result) == oracle_rows(page)
    assert result.metadata == page.metadata
    ours = [(dict(e.labels), e.value, e.timestamp_ms) for e in result.exemplars]
    assert ours == oracle_exemplars(page)


# --- property tests: invalid pages --------------------------------------------------------------------

BAD_VALUES = ("1_2", "0x1p-3", "1e", "--1", "1.2.3", "0x10", "one", "1\u00a0", "\u0661", "+nan", "-NaN")
LAXER_ORACLE: dict[Format, frozenset[str]] = {
    # prometheus_client hands values to int()/float(), which take Unicode digits and a signed NaN; its
    # text parser also strips Unicode blanks around the value, and ignores a "\r" line ending.
    # It does not check escapes, duplicate series, text timestamps, or "#" after a text-format value.
    "text": frozenset(
        {"\u0661", "+nan", "-NaN", "1\u00a0", "crlf", "duplicate", "text_exemplar", "negative_timestamp"}
    ),
    "openmetrics": frozenset({"\u0661", "+nan", "-NaN", "duplicate", "bad_escape"}),
}


@dataclass(frozen=True)
class Mutation:
    """An invalid page made from a valid one, where we must fail and what the oracle does."""

    page: str
    fmt: Format
    line: int
    fragments: tuple[str, ...]
    oracle_rejects: bool


def mutate(draw: st.DrawFn, page: Page) -> Mutation | None:
    """Break one sample line of ``page`` (None when the page has no sample line)."""
    indices = [i for i, line in enumerate(page.lines) if isinstance(line, Line)]
    if not indices:
        return None
    index = draw(st.sampled_from(indices))
    line = page.lines[index]
    assert isinstance(line, Line)
    kinds = ["bad_value", "bad_label_name", "duplicate", "crlf"]
    if line.series.endswith('"}'):
        kinds.append("unclosed_quote")
    kinds += ["text_exemplar", "negative_timestamp"] if page.fmt == "text" else ["blank", "two_spaces"]
    if page.fmt == "openmetrics" and '"' in line.series:
        kinds.append("bad_escape")
    kind = draw(st.sampled_from(kinds))
    lines: list[str | Line] = list(page.lines)
    number = index + 1
    if kind == "bad_value":
        bad = draw(st.sampled_from(BAD_VALUES))
        lines[index] = replace(line, value=bad)
        fragments: tuple[str, ...] = ("invalid number",)
        kind = bad
    elif kind == "bad_label_name":
        brace = line.series.find("{")
        series = (
            line.series + '{1x="y"}'
            if brace < 0
            else f'{line.series[: brace + 1]}1x="y",{line.series[brace + 1 :]}'
        )
        lines[index] = replace(line, series=series)
        fragments = ("expected a label name",)
    elif kind == "duplicate":
        lines.insert(index + 1, line)
        number += 1
        fragments = ("duplicate sample",)
    elif kind == "crlf":
        lines[index] = replace(line, rest=line.rest + "\r")
        fragments = ("carriage return",)
    elif kind == "unclosed_quote":
        lines[index] = replace(line, series=line.series[:-2] + "}")
        fragments = ("unterminated quoted string", "expected", "invalid")
    elif kind == "text_exemplar":
        lines[index] = replace(line, rest=line.rest + ' # {a="b"} 1')
        fragments = ("exemplars exist only in OpenMetrics",)
    elif kind == "negative_timestamp":
        lines[index] = replace(line, rest=" -5")
        fragments = ("invalid timestamp",)
    elif kind == "blank":
        lines.insert(index, "")
        fragments = ("blank line",)
    elif kind == "two_spaces":
        lines[index] = replace(line, gap="  ")
        fragments = ("single space",)
    else:
        quote = line.series.index('"')
        lines[index] = replace(line, series=f"{line.series[: quote + 1]}\\q{line.series[quote + 1 :]}")
        fragments = ("invalid escape sequence",)
    broken = replace(page, lines=tuple(lines)).text()
    return Mutation(broken, page.fmt, number, fragments, kind not in LAXER_ORACLE[page.fmt])


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    page = draw(st.one_of(text_pages(), openmetrics_pages()))
    mutation = mutate(draw, page)
    assume(mutation is not None)
    assert mutation is not None
    return mutation


@PROPERTY_SETTINGS
@given(mutations())
def test_broken_line_fails_the_page_at_that_line(mutation: Mutation) -> None:
    with pytest.raises(ParseError) as caught:
        parse_format(mutation.page.encode(), mutation.fmt)
    assert caught.value.line == mutation.line
    assert any(fragment in str(caught.value) for fragment in mutation.fragments), str(caught.value)
    parser = cast(
        Callable[[str], Iterable[Metric]],
        client_openmetrics_families if mutation.fmt == "openmetrics" else client_text_families,
    )
    if mutation.oracle_rejects:
        with pytest.raises(Exception):  # noqa: B017 - the oracle raises what it happens to raise
            list(parser(mutation.page))


# --- property tests: the cache never changes an outcome -----------------------------------------------


Outcome = tuple[object, ...]


def outcome(page: str, fmt: Format, cache: SeriesCache | None) -> Outcome:
    try:
        result = parse_format(page.encode(), fmt, cache)
    except ParseError as exc:
        return ("error", exc.line, str(exc))
    return ("ok", rows(result), result.metadata, result.exemplars)


@st.composite
def page_pairs(draw: st.DrawFn) -> tuple[Format, str, str]:
    """A valid page and a later scrape of the same target: lines dropped, values changed, maybe broken."""
    page = draw(st.one_of(text_pages(), openmetrics_pages()))
    kept = [line for line in page.lines if draw(st.integers(0, 4)) > 0]
    if page.fmt == "text":
        kept = [
            replace(line, value=float_text(draw, draw(st.floats()))) if isinstance(line, Line) else line
            for line in kept
        ]
    later = replace(page, lines=tuple(kept))
    mutation = mutate(draw, later) if draw(st.booleans()) else None
    return page.fmt, page.text(), later.text() if mutation is None else mutation.page


@PROPERTY_SETTINGS
@given(page_pairs())
def test_warm_cache_gives_the_cold_outcome(pair: tuple[Format, str, str]) -> None:
    fmt, first, later = pair
    cache = SeriesCache()
    assert outcome(first, fmt, cache) == outcome(first, fmt, None)
    expected = outcome(later, fmt, None)
    assert outcome(later, fmt, cache) == expected
    assert outcome(later, fmt, cache) == expected
    assert outcome(first, fmt, cache) == outcome(first, fmt, None)
