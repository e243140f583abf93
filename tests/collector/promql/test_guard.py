"""A query's deadline, cancellation and sample limit."""

from __future__ import annotations

import threading
import time

import pytest

from collector.promql.errors import QueryCanceledError, QueryTimeoutError, TooManySamplesError
from collector.promql.guard import Guard


def test_past_deadline_is_a_timeout() -> None:
    with pytest.raises(QueryTimeoutError, match="query timed out in expression evaluation"):
        Guard(10, deadline=time.monotonic() - 1).check()


def test_cancelled_query_stops() -> None:
    event = threading.Event()
    event.set()
    with pytest.raises(QueryCanceledError):
        Guard(10, cancelled=event).check()


def test_a_matrix_larger_than_the_limit_is_refused_before_allocation() -> None:
    guard = Guard(10)
    guard.allocate(10)
    with pytest.raises(TooManySamplesError):
        guard.allocate(11)


def test_holding_past_the_maximum_raises() -> None:
    guard = Guard(10)
    guard.hold(10)
    with pytest.raises(TooManySamplesError):
        guard.hold(1)
