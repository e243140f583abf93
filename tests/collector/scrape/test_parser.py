"""The scrape parser: edge cases by table, prometheus_client's parsers as an oracle, limits, content types.

prometheus_client's parsers are laxer than the formats in places; where a property test meets one of
those places it asserts our stricter behaviour and says why (see ``LAXER_ORACLE`` in ``pages.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as client_openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as client_text_families
from prometheus_client.samples import Timestamp

from collector.scrape.numbers import format_go_float
from collector.scrape.parser import (
    ParseError,
    ParseResult,
    SampleLimitError,
    describe_invalid_page,
    format_for_content_type,
    is_metrics_content_type,
    parse,
    parse_format,
)
from collector.scrape.samples import Exemplar, Format, MetricMeta
from collector.scrape.seriescache import SeriesCache
from tests.collector.scrape.pages import (
    PROPERTY_SETTINGS,
    Mutation,
    Page,
    Row,
    mutations,
    openmetrics_pages,
    parse_openmetrics,
    parse_text,
    rows,
    text_pages,
)

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
        pytest.param("text", "a 1\nfoo 1\nfoo 2\n", 3, "duplicate sample for series foo", id="duplicate"),
        pytest.param(
            "text",
            'foo{a="1",b="2"} 1\nfoo{b="2", a="1"} 1\n',
            2,
            "duplicate sample",
            id="duplicate-other-spelling",
        ),
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
            '# TYPE g gauge\ng 1 # {a="b"} 1\n# EOF\n',
            2,
            "exemplars belong",
            id="om-gauge-exemplar",
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
    ],
)
def test_invalid_page_fails_at_its_line(fmt: Format, page: str, line: int, fragment: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_format(page.encode(), fmt)
    assert caught.value.line == line
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("fmt", "page"),
    [
        pytest.param(
            "openmetrics",
            f"foo 1 {'1' * 5000}.5\n# EOF\n",
            id="om-timestamp-of-5000-digits",
        ),
        pytest.param("openmetrics", "foo 1 1e19\n# EOF\n", id="om-timestamp-overflow"),
        pytest.param("text", "foo 1 5\nfoo 2 5\n", id="duplicate-with-timestamp"),
        pytest.param("openmetrics", 'foo{a="\\x"} 1\n# EOF\n', id="om-bad-escape"),
        pytest.param("openmetrics", "# HELP foo a\\tb\n# EOF\n", id="om-help-bad-escape"),
        pytest.param("openmetrics", "foo 1\n# TYPE foo gauge\n# EOF\n", id="om-metadata-after-samples"),
        pytest.param(
            "openmetrics", "# TYPE a gauge\n# HELP a x\n# TYPE a gauge\n# EOF\n", id="om-type-twice"
        ),
        pytest.param("openmetrics", "# HELP a x\n# HELP a y\n# EOF\n", id="om-help-twice"),
        pytest.param("openmetrics", 'a{x="1"} 1\nb 1\na{x="2"} 2\n# EOF\n', id="om-interleaved-families"),
        pytest.param(
            "openmetrics", "# TYPE a counter\na_total 1\n# TYPE a_total gauge\n# EOF\n", id="om-clash"
        ),
        pytest.param("openmetrics", "a_total 1\n# TYPE a counter\n# EOF\n", id="om-clash-2"),
        pytest.param("openmetrics", "# TYPE a counter\na 1\n# EOF\n", id="om-bare-counter"),
        pytest.param("openmetrics", "# TYPE a counter\na_total -1\n# EOF\n", id="om-negative-counter"),
        pytest.param("openmetrics", "# TYPE a counter\na_total NaN\n# EOF\n", id="om-nan-counter"),
        pytest.param("openmetrics", "# TYPE h histogram\nh_bucket 1\n# EOF\n", id="om-bucket-without-le"),
        pytest.param("openmetrics", '# TYPE h histogram\nh_bucket{le="NaN"} 1\n# EOF\n', id="om-nan-le"),
        pytest.param("openmetrics", '# TYPE h histogram\nh_bucket{le="x"} 1\n# EOF\n', id="om-word-le"),
        pytest.param("openmetrics", "# TYPE h histogram\nh_sum NaN\n# EOF\n", id="om-nan-sum"),
        pytest.param("openmetrics", '# TYPE s summary\ns{quantile="1.5"} 1\n# EOF\n', id="om-big-quantile"),
        pytest.param("openmetrics", "# TYPE s summary\ns 1\n# EOF\n", id="om-no-quantile"),
        pytest.param("openmetrics", "# TYPE i info\ni_info 2\n# EOF\n", id="om-info-value"),
        pytest.param("openmetrics", '# TYPE s stateset\ns{s="a"} 2\n# EOF\n', id="om-stateset"),
        pytest.param("openmetrics", '# TYPE s stateset\ns{x="a"} 1\n# EOF\n', id="om-stateset-2"),
        pytest.param(
            "openmetrics",
            f'# TYPE c counter\nc_total 1 # {{a="{"x" * 128}"}} 1\n# EOF\n',
            id="om-long-exemplar",
        ),
        pytest.param("openmetrics", "# UNIT a_b b\n# TYPE a_b info\n# EOF\n", id="om-info-unit"),
    ],
)
def test_page_a_prometheus_scrape_accepts_is_accepted(fmt: Format, page: str) -> None:
    """Pages that break a rule of the OpenMetrics specification but that Prometheus scrapes: a scrape here
    takes them too (``check-metrics`` reports them, see test_checkmetrics.py). A timestamp that storage cannot
    hold drops its sample; a second sample of a series at the same millisecond is dropped, the first kept."""
    assert parse_format(page.encode(), fmt).format == fmt


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


# --- property tests: the oracle ----------------------------------------------------------------------

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


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
@pytest.mark.parametrize("warm", [False, True])
def test_a_sample_limit_stops_the_parse_and_empties_the_cache(fmt: Format, warm: bool) -> None:
    def page(count: int) -> bytes:
        lines = "".join(f'm{{i="{i}"}} 1\n' for i in range(count))
        return f"# TYPE m gauge\n{lines}{'# EOF' + chr(10) if fmt == 'openmetrics' else ''}".encode()

    cache = SeriesCache()
    if warm:
        assert len(parse_format(page(100), fmt, cache, sample_limit=100).samples) == 100
    with pytest.raises(SampleLimitError, match="exceed sample_limit 100"):
        parse_format(page(5_000), fmt, cache, sample_limit=100)
    assert len(cache) == 0, "the series of a page over the limit are not kept"
    assert len(parse_format(page(5_000), fmt, cache).samples) == 5_000, "no limit: the whole page"


def test_a_cache_filled_under_a_higher_limit_still_meets_a_lower_one() -> None:
    page = b"".join(b'm{i="%d"} 1\n' % i for i in range(10))
    cache = SeriesCache()
    parse_format(page, "text", cache)
    with pytest.raises(SampleLimitError):
        parse_format(page, "text", cache, sample_limit=5)


@pytest.mark.parametrize(
    ("content_type", "metrics"),
    [
        ("", True),
        ("text/plain; version=0.0.4; charset=utf-8", True),
        ("application/openmetrics-text; version=1.0.0", True),
        ("TEXT/PLAIN", True),
        ("text/html; charset=utf-8", False),
        ("application/json", False),
        ("application/octet-stream", False),
    ],
)
def test_metrics_content_types(content_type: str, metrics: bool) -> None:
    assert is_metrics_content_type(content_type) is metrics


def test_an_invalid_page_is_described_without_quoting_it() -> None:
    secret = "s3cr3t"
    with pytest.raises(ParseError) as caught:
        parse(f"# TYPE m gauge\nm 1\n{secret} x\n".encode(), "text/plain")
    assert secret in str(caught.value), "the parse error itself quotes the line"
    described = describe_invalid_page("text/plain; charset=utf-8", 44, caught.value)
    assert described == "not a metrics page (content type text/plain, 44 bytes): invalid at line 3"
    html = describe_invalid_page('text/html; charset="<b>x</b>"', 1234, caught.value)
    assert html == "not a metrics page (content type text/html, 1234 bytes)"
    assert describe_invalid_page("a/<script>", 1) == "not a metrics page (content type a/?script?, 1 bytes)"
    assert describe_invalid_page(None, 0) == "not a metrics page (content type none, 0 bytes)"
