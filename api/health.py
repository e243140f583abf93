"""``GET /api/health``: liveness and readiness of the service and its stores."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from api.keys import SCHEDULER_STATE, STORES, VERSION

_PROBE_TIMEOUT_S = 2.0


async def _probe_postgres(request: web.Request) -> dict[str, object]:
    stores = request.app[STORES]
    started = time.perf_counter()
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_S):
            await stores.pg.fetchval("SELECT 1")
    except Exception as exc:  # any failure means "not ok"; the reason is reported
        return {"status": "error", "error": type(exc).__name__, "embedded": stores.postgres_embedded}
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return {"status": "ok", "latency_ms": elapsed_ms, "embedded": stores.postgres_embedded}


async def _probe_redis(request: web.Request) -> dict[str, object]:
    stores = request.app[STORES]
    started = time.perf_counter()
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_S):
            await stores.redis.ping()
    except Exception as exc:  # any failure means "not ok"; the reason is reported
        return {"status": "error", "error": type(exc).__name__, "embedded": stores.redis_embedded}
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return {"status": "ok", "latency_ms": elapsed_ms, "embedded": stores.redis_embedded}


async def health(request: web.Request) -> web.Response:
    """Report each component; 200 when every store answers, 503 (``degraded``) when one does not."""
    postgres, redis = await asyncio.gather(_probe_postgres(request), _probe_redis(request))
    scheduler = request.app[SCHEDULER_STATE]()
    ok = postgres["status"] == "ok" and redis["status"] == "ok"
    body = {
        "status": "ok" if ok else "degraded",
        "version": request.app[VERSION],
        "components": {"postgres": postgres, "redis": redis, "scheduler": scheduler},
    }
    return web.json_response(body, status=200 if ok else 503)
