"""The errors a query can end with, typed as Prometheus's HTTP API types them (`errorType` and status).

An API layer answers ``{"status": "error", "errorType": exc.error_type, "error": str(exc)}`` with
``exc.status``; the messages are Prometheus's own where Prometheus has one.
"""

from __future__ import annotations

from typing import ClassVar


class PromQLError(Exception):
    """Base of every query failure."""

    error_type: ClassVar[str] = "internal"
    status: ClassVar[int] = 500


class BadDataError(PromQLError):
    """The query or its parameters are invalid (a parse error, a bad step): the caller must change them."""

    error_type = "bad_data"
    status = 400


class ExecutionError(PromQLError):
    """The query is valid but its evaluation failed (duplicate series, a bad regex in label_replace, ...)."""

    error_type = "execution"
    status = 422


class TooManySamplesError(ExecutionError):
    """The query would hold more samples in memory than the configured maximum."""

    def __init__(self, env: str = "query execution") -> None:
        super().__init__(f"query processing would load too many samples into memory in {env}")


class QueryTimeoutError(PromQLError):
    """The query ran past its deadline."""

    error_type = "timeout"
    status = 503

    def __init__(self, env: str) -> None:
        super().__init__(f"query timed out in {env}")


class QueryCanceledError(PromQLError):
    """The caller went away (or the service is stopping) while the query ran."""

    error_type = "canceled"
    status = 503

    def __init__(self, env: str) -> None:
        super().__init__(f"query was canceled in {env}")


class UnavailableError(PromQLError):
    """The storage the series are read from did not answer."""

    error_type = "unavailable"
    status = 503


DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"


def resolution_limit_message(max_points: int) -> str:
    """Prometheus's text for a range query with too many steps (``11,000`` by default)."""
    return (
        f"exceeded maximum resolution of {max_points:,} points per timeseries. "
        "Try decreasing the query resolution (?step=XX)"
    )
