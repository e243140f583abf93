"""The alert engine's writes to one store: tried when due, spaced out by a backoff while the store fails.

The alert engine writes PostgreSQL (:mod:`collector.alerts.persistence`) and Redis
(:mod:`collector.alerts.publisher`) from its own task; a store that is away must neither stop evaluation nor
be hammered. The first failure of an outage and the end of it are logged, not every retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from redis.exceptions import RedisError

from collector.backoff import Backoff, RetrySchedule
from collector.storage.errors import StoreUnavailable

log = structlog.get_logger(__name__)

POSTGRES_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
    StoreUnavailable,
)
"""What PostgreSQL being away (or too slow) raises."""
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError, TimeoutError)
"""What Redis being away (or too slow) raises."""


class StoreRetry(RetrySchedule):
    """A retry schedule that runs the writes to one store itself, each bounded by ``timeout_s``."""

    def __init__(
        self,
        store: str,
        errors: tuple[type[Exception], ...],
        *,
        backoff: Backoff,
        clock: Callable[[], float],
        timeout_s: float,
    ) -> None:
        super().__init__(backoff, clock=clock)
        self.store = store
        self._errors = errors
        self._timeout_s = timeout_s

    async def attempt(self, write: Callable[[], Awaitable[None]]) -> None:
        """``await write()`` if the store is due; an error of the store is counted, not raised."""
        if not self.due():
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                await write()
        except self._errors as exc:
            self.failed(exc)
            if self.failures == 1:
                log.warning("alert engine cannot write, retrying", store=self.store, error=self.error)
            return
        if self.succeeded():
            log.info("alert engine writes again", store=self.store)
