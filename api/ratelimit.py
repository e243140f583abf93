"""The API's general request rate limit: per caller, with a burst, answered with a 429 and ``Retry-After``.

A caller is the authenticated principal as the audit log names it (a user's sessions share one budget, each
API token has its own), else the client address. Each may send ``burst`` requests at once and
``requests_per_s`` on average: at most ``burst`` requests in a window of ``burst / requests_per_s`` seconds
(rounded up to whole seconds, the granularity of the library). ``requests_per_s: 0`` turns the limit off.
``/api/health`` and ``/metrics`` are exempt: load balancers, probes and Prometheus call them on a schedule.

The middleware runs after :func:`~api.auth.middleware.auth_middleware`, so the principal is known, and before
the audit middleware, so a flood of refused requests writes no audit rows. Requests refused by
authentication never reach it: a wrong bearer token costs one lookup, and password guessing is slowed by the
login throttle (:mod:`api.auth.throttle`), which this does not replace. Behind a reverse proxy every
anonymous caller has the proxy's address; ``X-Forwarded-For`` is not trusted, since any client can write it.

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
from api.errors import ApiError
from collector.settings import RateLimitSettings

EXEMPT_PATHS = frozenset({"/api/health", "/metrics"})
"""Paths never limited: health probes and Prometheus scrapes."""


def window_s(settings: RateLimitSettings) -> int:
    """The window in whole seconds in which a caller may send ``burst`` requests (at least 1)."""
    return max(1, math.ceil(settings.burst / settings.requests_per_s))


def caller_key(request: web.Request) -> str:
    """Whose budget ``request`` spends: its principal's, else its client address's."""
    principal = principal_of(request)
    if principal is not None:
        return f"principal:{principal.actor}"
    return f"address:{request.remote or 'unknown'}"


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
