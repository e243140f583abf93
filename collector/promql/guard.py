"""A query's limits while it runs: its deadline, its cancellation and the samples it holds in memory."""

from __future__ import annotations

import threading
import time

from collector.promql.errors import QueryCanceledError, QueryTimeoutError, TooManySamplesError

EVALUATION = "expression evaluation"


class Guard:
    """Checked by the evaluator at every node and every inner loop; raising stops the query.

    ``samples`` counts the points held at once, as Prometheus's ``--query.max-samples`` does: the samples
    read from storage plus the results of the nodes being evaluated.
    """

    def __init__(
        self,
        max_samples: int,
        deadline: float | None = None,
        cancelled: threading.Event | None = None,
    ) -> None:
        self.max_samples = max_samples
        self.deadline = deadline
        self.cancelled = cancelled
        self.samples = 0

    def check(self, env: str = EVALUATION) -> None:
        """Raise if the query was cancelled or is past its deadline."""
        if self.cancelled is not None and self.cancelled.is_set():
            raise QueryCanceledError(env)
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise QueryTimeoutError(env)

    def allocate(self, cells: int) -> None:
        """Refuse, before allocating it, a (series x steps) matrix larger than the sample limit.

        Stricter than Prometheus only for series absent from most steps: their absent cells count too.
        """
        if cells > self.max_samples:
            raise TooManySamplesError()

    def hold(self, count: int) -> None:
        """Count ``count`` more points held; raise past the maximum."""
        self.samples += count
        if self.samples > self.max_samples:
            raise TooManySamplesError()
