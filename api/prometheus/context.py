"""What every Prometheus-compatible handler shares: the one query engine, and a source per caller."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from api.auth.authz import allowed_servers
from api.keys import SETTINGS, STORES
from collector.config.api_settings import QuerySettings
from collector.promql import Engine, EngineSettings
from collector.promql.errors import UnavailableError
from collector.promql.history_source import UNAVAILABLE_ERRORS, StorageSource

log = structlog.get_logger(__name__)

ENGINE: web.AppKey[Engine] = web.AppKey("prometheus.engine", Engine)
"""The application's PromQL engine: its bound on concurrent queries holds across all callers."""


def engine_settings(settings: QuerySettings) -> EngineSettings:
    """The engine's limits from the ``query`` settings."""
    return EngineSettings(
        lookback_delta_ms=round(settings.lookback_delta_s * 1000),
        max_samples=settings.max_samples,
        timeout_s=settings.timeout_s,
        max_concurrent_queries=settings.max_concurrency,
    )


async def source_for(request: web.Request) -> StorageSource:
    """A source reading the series of the servers the caller may see."""
    stores = request.app[STORES]
    return StorageSource(
        stores.pg,
        stores.redis,
        servers=await allowed_servers(request),
        max_samples=request.app[SETTINGS].query.max_samples,
        raw_cache=stores.raw_cache,
    )


def now_ms() -> int:
    """The current time in milliseconds, the default evaluation time."""
    return round(time.time() * 1000)


@contextlib.contextmanager
def history_errors() -> Iterator[None]:
    """Turn PostgreSQL being away into Prometheus's ``unavailable`` (503)."""
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        log.warning("history not readable", error=f"{type(exc).__name__}: {exc}")
        raise UnavailableError("the history store (PostgreSQL) is not available") from None


@contextlib.contextmanager
def live_errors() -> Iterator[None]:
    """Turn Redis being away into Prometheus's ``unavailable`` (503)."""
    try:
        yield
    except (RedisError, OSError) as exc:
        log.warning("live layer not readable", error=f"{type(exc).__name__}: {exc}")
        raise UnavailableError("the live layer (Redis) is not available") from None
