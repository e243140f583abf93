"""``check_metrics``: format detection, the verdict a scrape would reach, and naming lint."""

from __future__ import annotations

import pytest

from collector.scrape.checkmetrics import CheckFormat, LintWarning, check_metrics, detect_format
from collector.scrape.samples import Format
from tests.collector.scrape.openmetrics_cases import SuiteCase, suite_cases

CLEAN_TEXT = b"""# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code="200"} 10
http_requests_total{code="500"} 1
# HELP request_duration_seconds Time to serve a request.
# TYPE request_duration_seconds histogram
request_duration_seconds_bucket{le="0.1"} 3
request_duration_seconds_bucket{le="+Inf"} 4
request_duration_seconds_sum 0.5
request_duration_seconds_count 4
"""

CLEAN_OPENMETRICS = b"""# TYPE http_requests counter
# HELP http_requests Requests served.
http_requests_total{code="200"} 10
http_requests_created{code="200"} 1.7e9
# EOF
"""


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (CLEAN_OPENMETRICS, "openmetrics"),
        (CLEAN_OPENMETRICS.rstrip(b"\n"), "openmetrics"),
        (CLEAN_OPENMETRICS + b"\n\n", "openmetrics"),
        (b"# EOF", "openmetrics"),
        (CLEAN_TEXT, "text"),
        (b"", "text"),
        (b"foo 1\n# EOF is not the last line\n", "text"),
        (b"foo 1 # EOF\n", "text"),
    ],
)
def test_auto_detects_openmetrics_by_its_trailing_eof(payload: bytes, expected: Format) -> None:
    assert detect_format(payload) == expected


def test_valid_text_page_reports_its_sample_count_and_no_warnings() -> None:
    report = check_metrics(CLEAN_TEXT, "auto")
    assert report.ok
    assert (report.format, report.sample_count, report.error, report.warnings) == ("text", 6, None, ())


def test_valid_openmetrics_page_reports_its_sample_count_and_no_warnings() -> None:
    report = check_metrics(CLEAN_OPENMETRICS)
    assert report.ok
    assert (report.format, report.sample_count, report.warnings) == ("openmetrics", 2, ())


def test_invalid_page_reports_the_first_error_with_its_line() -> None:
    report = check_metrics(b"good 1\nbad 1_0\nworse x\n", "text")
    assert not report.ok
    assert report.sample_count == 0
    assert report.error is not None
    assert report.error.line == 2
    assert "invalid number '1_0'" in str(report.error)


WITH_EXEMPLAR = b'# TYPE c counter\nc_total 1 # {trace_id="a"} 1\n# EOF\n'


def test_auto_checks_an_openmetrics_page_as_openmetrics() -> None:
    assert check_metrics(WITH_EXEMPLAR, "auto").ok


@pytest.mark.parametrize(
    ("fmt", "payload", "line", "fragment"),
    [
        ("openmetrics", CLEAN_TEXT, 11, "missing '# EOF'"),
        ("text", WITH_EXEMPLAR, 2, "exemplars exist only in OpenMetrics"),
    ],
)
def test_forced_format_is_the_one_checked(fmt: CheckFormat, payload: bytes, line: int, fragment: str) -> None:
    report = check_metrics(payload, fmt)
    assert report.format == fmt
    assert report.error is not None
    assert report.error.line == line
    assert fragment in str(report.error)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            b"# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n",
            [LintWarning("jobs", 'counter metrics should have the "_total" suffix')],
            id="counter-without-total",
        ),
        pytest.param(
            b"# HELP jobs_total Jobs.\n# TYPE jobs_total gauge\njobs_total 1\n",
            [LintWarning("jobs_total", 'non-counter metrics should not have the "_total" suffix')],
            id="gauge-with-total",
        ),
        pytest.param(b"# TYPE up gauge\nup 1\n", [LintWarning("up", "no help text")], id="no-help"),
        pytest.param(
            b"loose 1\n", [LintWarning("loose", "no help text")], id="untyped-sample-without-metadata"
        ),
        pytest.param(
            b"# HELP queueLength Q.\nqueueLength 1\n",
            [LintWarning("queueLength", "metric names should be written in snake_case, not camelCase")],
            id="camel-case",
        ),
        pytest.param(
            b"# HELP latency_milliseconds L.\nlatency_milliseconds 1\n",
            [LintWarning("latency_milliseconds", 'use the base unit "seconds" instead of "milliseconds"')],
            id="non-base-unit",
        ),
        pytest.param(
            b"# HELP weight_sum W.\n# TYPE weight_sum gauge\nweight_sum 1\n",
            [
                LintWarning(
                    "weight_sum", 'non-histogram and non-summary metrics should not have the "_sum" suffix'
                )
            ],
            id="sum-suffix-on-gauge",
        ),
        pytest.param(
            b"# TYPE rpc summary\n# HELP rpc R.\nrpc_sum 1\nrpc_count 1\n# EOF\n",
            [],
            id="summary-samples-belong-to-their-family",
        ),
    ],
)
def test_lint_findings_are_warnings_only(payload: bytes, expected: list[LintWarning]) -> None:
    report = check_metrics(payload)
    assert report.ok
    assert list(report.warnings) == expected


@pytest.mark.parametrize("case", suite_cases(), ids=lambda case: case.name)
def test_openmetrics_check_agrees_with_the_openmetrics_parser_suite(case: SuiteCase) -> None:
    report = check_metrics(case.page, "openmetrics")
    assert report.ok == case.should_parse, report.error


def test_openmetrics_check_names_the_line_that_breaks_the_specification() -> None:
    page = b'# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum -1\nh_count 1\n# EOF\n'
    report = check_metrics(page, "openmetrics")
    assert report.error is not None
    assert report.error.line == 3
    assert "negative" in report.error.message
