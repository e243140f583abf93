"""Where answers are read from: the engine and stores of an application, and the caller's grants.

The endpoint passes its ``web.Application``; the MCP server (over HTTP or stdio) may build an :class:`AskEnv`
itself from the same engine and stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from aiohttp import web

from api.auth.accounts import server_grants
from api.auth.principal import Principal
from api.keys import SETTINGS, STORES
from api.prometheus.context import ENGINE
from collector.promql import Engine
from collector.promql.history_source import StorageSource
from collector.storage.connections import Stores


def wall_clock_s() -> float:
    """The current Unix time in seconds."""
    return time.time()


@dataclass(frozen=True)
class AskEnv:
    """The engine (the application's one, so its concurrency bound holds), the stores and the clock."""

    engine: Engine
    stores: Stores
    max_samples: int
    clock: Callable[[], float] = field(default=wall_clock_s)

    @classmethod
    def from_app(cls, app: web.Application) -> AskEnv:
        """The environment of an application made by ``create_app`` (its Prometheus engine and stores)."""
        clock = app.get(ASK_CLOCK, wall_clock_s)
        return cls(app[ENGINE], app[STORES], app[SETTINGS].query.max_samples, clock)


ASK_CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("ask.clock")
"""Where the endpoint reads "now" (the wall clock when unset): tests pin it to their fixture history."""


async def allowed_for(env: AskEnv, principal: Principal) -> set[UUID] | None:
    """The servers ``principal`` may see, None for all: what ``api.auth.authz.allowed_servers`` decides."""
    if principal.role == "admin":
        return None
    return await server_grants(env.stores.pg, principal.user_id)


def source_for(env: AskEnv, allowed: set[UUID] | None) -> StorageSource:
    """A PromQL source over the allowed servers' series only, as ``/api/v1/query`` reads."""
    return StorageSource(
        env.stores.pg,
        env.stores.redis,
        servers=allowed,
        max_samples=env.max_samples,
        clock=env.clock,
        raw_cache=env.stores.raw_cache,
    )
