"""``GET /api/health``: liveness and readiness of the service and its stores.

Anyone may ask, without a token and without a rate limit: load balancers and probes call it on a schedule.
An anonymous caller learns only ``{"status": "ok"}`` (200) or ``{"status": "degraded"}`` (503). A caller
with a valid bearer token also gets the version and each component's state (store latency, the error's
class, the collector's and the history spool's state). While a store is away the token cannot be fully
checked (its revocation lives in the stores), and that is when the details matter: an access token whose
signature and expiry check is then enough to see them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from api.auth.middleware import authenticate, bearer_token
from api.auth.tokens import API_TOKEN_PREFIX, InvalidTokenError, decode_access_token
from api.errors import ApiError
from api.keys import AUTH_CONFIG, ROLE, SCHEDULER_STATE, STORES, VERSION
from api.openapi import ApiRoutes
from api.outage import STORE_ERRORS, within
from collector.cluster.membership import read_members

_PROBE_TIMEOUT_S = 2.0

routes = ApiRoutes()


class HealthOut(BaseModel):
    """The service's state: ``status`` for anyone, the rest only for a caller with a valid token."""

    status: Literal["ok", "degraded"]
    version: str | None = None
    role: str | None = None
    """What this process runs: ``run`` (collector, API and dashboard), ``api`` or ``collector``."""
    components: dict[str, Any] | None = None
    """``postgres`` and ``redis`` (status, latency, embedded or not) and ``scheduler`` (the collector)."""
    cluster: dict[str, Any] | None = None
    """The collectors sharing the fleet and each one's share."""


async def _probe_postgres(request: web.Request) -> dict[str, object]:
    stores = request.app[STORES]
    started = time.perf_counter()
    try:
        await within("postgres", _PROBE_TIMEOUT_S, stores.pg.fetchval("SELECT 1"))
    except Exception as exc:  # any failure means "not ok"; the reason is reported
        return {"status": "error", "error": type(exc).__name__, "embedded": stores.postgres_embedded}
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return {"status": "ok", "latency_ms": elapsed_ms, "embedded": stores.postgres_embedded}


async def _probe_redis(request: web.Request) -> dict[str, object]:
    stores = request.app[STORES]
    started = time.perf_counter()
    try:
        await within("redis", _PROBE_TIMEOUT_S, stores.redis.ping())
    except Exception as exc:  # any failure means "not ok"; the reason is reported
        return {"status": "error", "error": type(exc).__name__, "embedded": stores.redis_embedded}
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return {"status": "ok", "latency_ms": elapsed_ms, "embedded": stores.redis_embedded}


async def _cluster(request: web.Request) -> dict[str, object]:
    """The collectors sharing the fleet and each one's share, as their heartbeats last said."""
    try:
        members = await within("redis", _PROBE_TIMEOUT_S, read_members(request.app[STORES].redis))
    except Exception as exc:  # the members are a detail; a failure is reported, not raised
        return {"status": "error", "error": type(exc).__name__}
    return {"status": "ok", "members": members}


async def may_see_details(request: web.Request) -> bool:
    """True when the caller sends a valid token (see the module docstring for a store outage)."""
    try:
        token = bearer_token(request)
    except ApiError:
        return False
    if token is None:
        return False
    try:
        await authenticate(request, token)
    except ApiError:
        return False
    except STORE_ERRORS:
        if token.startswith(API_TOKEN_PREFIX):
            return False
        config = request.app[AUTH_CONFIG]
        try:
            decode_access_token(config.jwt_secret, token, now=config.clock())
        except InvalidTokenError:
            return False
    return True


@routes.get(
    "/api/health",
    summary="Liveness and readiness of the service and its stores",
    tag="health",
    role=None,
    response=HealthOut,
    also=((503, "A store does not answer: the same body, status degraded"),),
)
async def health(request: web.Request) -> web.Response:
    """Report each component; 200 when every store answers, 503 (``degraded``) when one does not. Anyone
    may ask; the version and the components are shown to a caller with a valid bearer token only."""
    postgres, redis = await asyncio.gather(_probe_postgres(request), _probe_redis(request))
    ok = postgres["status"] == "ok" and redis["status"] == "ok"
    status = 200 if ok else 503
    if not await may_see_details(request):
        return web.json_response({"status": "ok" if ok else "degraded"}, status=status)
    body = {
        "status": "ok" if ok else "degraded",
        "version": request.app[VERSION],
        "role": request.app[ROLE],
        "components": {"postgres": postgres, "redis": redis, "scheduler": request.app[SCHEDULER_STATE]()},
        "cluster": await _cluster(request),
    }
    return web.json_response(body, status=status)
