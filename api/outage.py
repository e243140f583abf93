"""Requests that meet a store outage: a 503 with ``Retry-After`` and a log line, never a 500 and a traceback.

PostgreSQL or Redis going away (refused, reset, timed out, shutting down, out of connections) is a condition
the service lives through: the collector spools history and retries, and the API tells its callers to come
back later. Any such failure that reaches the middleware here, whichever handler or check met it, is answered
in the one error shape with status 503, ``Retry-After`` and the store that failed when it is known; the log
gets one warning line naming the request, the store and the driver's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.errors import ApiError
from collector.storage.errors import StoreUnavailable
from collector.storage.history import TRANSIENT_ERRORS

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRY_AFTER_S = 5
"""What ``Retry-After`` tells a caller while a store is away: about the collector's reconnect backoff."""

STORE_ERRORS: tuple[type[BaseException], ...] = (
    StoreUnavailable,
    RedisConnectionError,
    RedisTimeoutError,
    *TRANSIENT_ERRORS,
)
"""Failures that mean a store is unreachable, hung or busy, not that the request was wrong."""


def failed_store(exc: BaseException) -> str | None:
    """Which store ``exc`` came from (``postgres`` or ``redis``), when its type tells."""
    if isinstance(exc, StoreUnavailable):
        return exc.store
    if isinstance(exc, RedisError):
        return "redis"
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return "postgres"
    return None


def store_unavailable(store: str | None) -> ApiError:
    """The 503 for a request that needed ``store`` (None: a store, unnamed)."""
    what = store if store is not None else "a data store"
    return ApiError(
        503,
        f"{what} is unavailable; try again in {RETRY_AFTER_S} s",
        code="store_unavailable",
        details={"store": store, "retry_after_s": RETRY_AFTER_S},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


@web.middleware
async def store_outage_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn a store failure under ``handler`` into a 503 (see the module docstring)."""
    try:
        return await handler(request)
    except STORE_ERRORS as exc:
        store = failed_store(exc)
        log.warning(
            "request failed: store unavailable",
            method=request.method,
            path=request.path,
            store=store,
            error=str(exc) or type(exc).__name__,
        )
        raise store_unavailable(store) from None


async def within(store: str, timeout_s: float, call: Awaitable[T]) -> T:
    """``call``'s result, or :class:`StoreUnavailable` when ``store`` has not answered in ``timeout_s``.

    The call runs as a task of its own that is cancelled and left behind at the deadline: a driver's clean-up
    after a cancelled query (asyncpg waits for the server to confirm the cancel) would otherwise hang the
    caller on the very store that does not answer. What is left behind is bounded by the pool's size: a
    cancelled task still waiting for a connection ends at once.
    """
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_forget)
        raise StoreUnavailable(store, f"no answer within {timeout_s} s")
    return task.result()


def _forget(task: asyncio.Future[T]) -> None:
    """Retrieve an abandoned call's outcome, so that asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()
