"""The API's general request rate limit: per caller, with a burst, answered with a 429 and ``Retry-After``.

A caller is the authenticated principal as the audit log names it (a user's sessions share one budget, each
API token has its own), else the client address. Each may send ``burst`` requests at once and
``requests_per_s`` on average: at most ``burst`` requests in a window of ``burst / requests_per_s`` seconds
(rounded up to whole seconds, the granularity of the library). ``requests_per_s: 0`` turns the limit off.
``/api/health`` and ``/metrics`` are exempt: load balancers, probes and Prometheus call them on a schedule;
so is ``/api/v1/write``, where a Prometheus pushes many times a second (bounded by its body limits).

The middleware runs after :func:`~api.auth.middleware.auth_middleware`, so the principal is known, and before
the audit middleware, so a flood of refused requests writes no audit rows. Requests refused by
authentication never reach it; they spend a budget of their own, :class:`AuthFailureLimiter`'s: per client
address, ``auth_failure_burst`` refused tokens at once and ``auth_failures_per_s`` on average, past which
that address's tokens are answered 429 before any lookup (a token already checked, still in the principal
cache, goes through). Together with the short memory of refused tokens
(:class:`~api.auth.principal_cache.RefusedTokens`), a flood of made-up tokens costs at most a burst of
PostgreSQL reads. Password guessing is slowed by the login throttle (:mod:`api.auth.throttle`), which this
does not replace. Behind a reverse proxy every anonymous caller has the proxy's address;
``X-Forwarded-For`` is not trusted, since any client can write it.

The counting is the ``limits`` library's, not our own: its sliding window counter keeps two counters per
caller (a moving window would keep a timestamp per request, which a burst of thousands makes costly) and
approximates the true moving window closely; its async in-memory storage expires idle callers by itself and
makes no network round trip on a request. The count is per process: API processes behind one balancer each
allow the full rate (limits' Redis storage would share it, at one Redis round trip per request).
"""

from __future__ import annotations

import math
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from api.auth.principal import principal_of
from api.client_address import address_bucket, client_address
from api.errors import ApiError
from collector.config.api_settings import RateLimitSettings

EXEMPT_PATHS = frozenset({"/api/health", "/metrics", "/api/v1/write"})
"""Paths never limited: health probes, Prometheus scrapes and remote-write pushes."""


def window_s(settings: RateLimitSettings) -> int:
    """The window in whole seconds in which a caller may send ``burst`` requests (at least 1)."""
    return max(1, math.ceil(settings.burst / settings.requests_per_s))


def auth_failure_window_s(settings: RateLimitSettings) -> int:
    """The window in whole seconds in which an address may have ``auth_failure_burst`` tokens refused."""
    return max(1, math.ceil(settings.auth_failure_burst / settings.auth_failures_per_s))


def caller_key(request: web.Request) -> str:
    """Whose budget ``request`` spends: its principal's, else its client address's."""
    principal = principal_of(request)
    if principal is not None:
        return f"principal:{principal.actor}"
    return f"address:{address_bucket(client_address(request))}"


def rate_limited(retry_after_s: int, limit: RateLimitSettings) -> ApiError:
    """The 429 in the one error shape, with ``Retry-After`` in whole seconds."""
    return ApiError(
        429,
        f"too many requests; try again in {retry_after_s} s "
        f"(the limit is {limit.burst} requests per {window_s(limit)} s)",
        code="rate_limited",
        details={"retry_after_s": retry_after_s, "burst": limit.burst, "window_s": window_s(limit)},
        headers={"Retry-After": str(retry_after_s)},
    )


class AuthFailureLimiter:
    """Refused tokens per client address; past the budget, a 429 before the next token is looked up."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self._settings = settings
        self._item = (
            RateLimitItemPerSecond(settings.auth_failure_burst, auth_failure_window_s(settings))
            if settings.auth_failures_per_s > 0
            else None
        )
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    @staticmethod
    def _key(request: web.Request) -> str:
        return f"address:{address_bucket(client_address(request))}"

    async def check(self, request: web.Request) -> None:
        """Raise a 429 when ``request``'s address has used up its refusals."""
        if self._item is None:
            return
        key = self._key(request)
        if await self._limiter.test(self._item, key):
            return
        stats = await self._limiter.get_window_stats(self._item, key)
        retry_after_s = max(1, math.ceil(stats.reset_time - time.time()))
        window = auth_failure_window_s(self._settings)
        raise ApiError(
            429,
            f"too many refused tokens from this address; try again in {retry_after_s} s "
            f"(at most {self._settings.auth_failure_burst} per {window} s)",
            code="rate_limited",
            details={
                "retry_after_s": retry_after_s,
                "burst": self._settings.auth_failure_burst,
                "window_s": window,
            },
            headers={"Retry-After": str(retry_after_s)},
        )

    async def refused(self, request: web.Request) -> None:
        """Count one refused token against ``request``'s address."""
        if self._item is not None:
            await self._limiter.hit(self._item, self._key(request))


def rate_limit_middleware(settings: RateLimitSettings) -> Middleware:
    """The middleware enforcing ``settings``, with a counter store of its own (one per application)."""
    item = RateLimitItemPerSecond(settings.burst, window_s(settings)) if settings.requests_per_s > 0 else None
    limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if item is None or request.path in EXEMPT_PATHS:
            return await handler(request)
        key = caller_key(request)
        if not await limiter.hit(item, key):
            stats = await limiter.get_window_stats(item, key)
            raise rate_limited(max(1, math.ceil(stats.reset_time - time.time())), settings)
        return await handler(request)

    return rate_limit
