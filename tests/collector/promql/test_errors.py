"""Error types map to Prometheus's API error types and HTTP statuses, with its messages."""

from __future__ import annotations

import pytest

from collector.promql.errors import (
    BadDataError,
    ExecutionError,
    PromQLError,
    QueryCanceledError,
    QueryTimeoutError,
    TooManySamplesError,
    UnavailableError,
    resolution_limit_message,
)


@pytest.mark.parametrize(
    ("error", "error_type", "status", "message"),
    [
        (BadDataError("parse error: x"), "bad_data", 400, "parse error: x"),
        (ExecutionError("boom"), "execution", 422, "boom"),
        (
            TooManySamplesError(),
            "execution",
            422,
            "query processing would load too many samples into memory in query execution",
        ),
        (
            QueryTimeoutError("expression evaluation"),
            "timeout",
            503,
            "query timed out in expression evaluation",
        ),
        (QueryCanceledError("query queue"), "canceled", 503, "query was canceled in query queue"),
        (UnavailableError("store down"), "unavailable", 503, "store down"),
    ],
)
def test_error_carries_prometheus_type_status_and_text(
    error: PromQLError, error_type: str, status: int, message: str
) -> None:
    assert (error.error_type, error.status, str(error)) == (error_type, status, message)


def test_resolution_limit_message_is_prometheus_text() -> None:
    assert resolution_limit_message(11_000) == (
        "exceeded maximum resolution of 11,000 points per timeseries. "
        "Try decreasing the query resolution (?step=XX)"
    )
