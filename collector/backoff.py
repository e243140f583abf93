"""Capped exponential backoff with jitter: the one retry policy of the store writers and reconnect loops.

:class:`Backoff` says how long to wait after the n-th failure in a row: ``initial_s``, doubling with every
further failure up to ``max_s``, each wait scaled by a random factor within ``1 ± jitter`` so that peers
that failed together (every writer after a PostgreSQL restart) do not all come back at the same instant.

Retrying takes one of two shapes:

- a writer that must not wait for a store (it spools, drops or queues meanwhile) keeps a
  :class:`RetrySchedule`: the failures in a row, when the store is due to be tried again, and why it last
  failed (for ``/api/health``);
- a loop that may wait calls :func:`retry`, which sleeps between the attempts of one call, retries transient
  errors and raises permanent ones (and the last attempt's) at once.

Clock, sleep and randomness are parameters, so tests drive them without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

Uniform = Callable[[float, float], float]
"""A random number between its two arguments (``random.uniform``)."""

Transient = tuple[type[Exception], ...] | Callable[[Exception], bool]
"""Which errors another attempt may cure: exception types, or a predicate."""

_MAX_DOUBLINGS = 1000
"""Far past any cap; keeps ``2.0 ** n`` finite after days of failures in a row."""


@dataclass(frozen=True)
class Backoff:
    """Waits that double from ``initial_s`` up to ``max_s``, each scaled by a factor within ``1 ± jitter``."""

    initial_s: float
    max_s: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.initial_s <= self.max_s:
            raise ValueError(f"backoff needs 0 <= initial_s <= max_s, not {self.initial_s} and {self.max_s}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be within 0 and 1, not {self.jitter}")

    def delay_s(self, failures: int, uniform: Uniform = random.uniform) -> float:
        """The wait after ``failures`` (1 or more) failures in a row."""
        if failures < 1:
            raise ValueError(f"a backoff delay follows at least one failure, not {failures}")
        delay_s = min(self.max_s, self.initial_s * 2.0 ** min(failures - 1, _MAX_DOUBLINGS))
        if self.jitter:
            delay_s *= uniform(1 - self.jitter, 1 + self.jitter)
        return delay_s


def describe(exc: BaseException) -> str:
    """An error's text, or its type's name when it has none (``TimeoutError()``)."""
    return str(exc) or type(exc).__name__


class RetrySchedule:
    """One store's failures in a row, when it is due to be tried again, and why it last failed."""

    def __init__(
        self,
        backoff: Backoff,
        *,
        clock: Callable[[], float] = time.monotonic,
        uniform: Uniform = random.uniform,
    ) -> None:
        self.backoff = backoff
        self._clock = clock
        self._uniform = uniform
        self.failures = 0
        """Failures since the last success."""
        self.retry_at = 0.0
        """The clock's time from which the next try is due; 0 while the store is healthy."""
        self.error: str | None = None
        """The last failure's text; None while the store is healthy."""

    def failed(self, error: BaseException | str) -> float:
        """Count a failure (an exception, or its text as the caller words it); returns the wait it sets."""
        self.failures += 1
        delay_s = self.backoff.delay_s(self.failures, self._uniform)
        self.retry_at = self._clock() + delay_s
        self.error = error if isinstance(error, str) else describe(error)
        return delay_s

    def succeeded(self) -> int:
        """Back to healthy; returns how many failures in a row this ends (0 when there were none)."""
        failures = self.failures
        self.failures, self.retry_at, self.error = 0, 0.0, None
        return failures

    def due(self) -> bool:
        """Whether the store may be tried now."""
        return self._clock() >= self.retry_at

    def wait_s(self) -> float:
        """How long until the next try is due (0 when it is due)."""
        return max(0.0, self.retry_at - self._clock())

    def retry_now(self) -> None:
        """Make the next try due at once (a last attempt at shutdown), keeping the count and the error."""
        self.retry_at = 0.0


async def retry(
    call: Callable[[], Awaitable[T]],
    backoff: Backoff,
    *,
    transient: Transient,
    attempts: int | None = None,
    on_retry: Callable[[int, Exception, float], object] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    uniform: Uniform = random.uniform,
) -> T:
    """``await call()`` until it returns, sleeping ``backoff``'s delays between the attempts.

    A transient error is retried, up to ``attempts`` calls in all (None: for as long as it takes); a
    permanent one, or the last attempt's, is raised. ``on_retry(attempt, error, delay_s)`` is called before
    each wait, to log it. Cancellation is never retried.
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"retry needs at least one attempt, not {attempts}")
    is_transient = transient if not isinstance(transient, tuple) else _instance_of(transient)
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            delay_s = backoff.delay_s(attempt, uniform)
            if on_retry is not None:
                on_retry(attempt, exc, delay_s)
            await sleep(delay_s)


def _instance_of(types: tuple[type[Exception], ...]) -> Callable[[Exception], bool]:
    return lambda exc: isinstance(exc, types)
