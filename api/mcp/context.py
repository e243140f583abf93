"""What a tool call runs with: the caller, the servers it may see, the stores and the query engine.

The grants are those ``/api/v1/query`` applies (:func:`api.auth.authz.allowed_servers`): an administrator
sees every server, anyone else the servers granted to them, read once per tool call so a changed grant
holds at the next call.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis

from api.auth.accounts import server_grants
from api.auth.principal import Principal
from collector.config.settings import Settings
from collector.promql import Engine
from collector.promql.history_source import StorageSource
from collector.storage.connections import Stores


@dataclass(frozen=True)
class Backend:
    """The shared parts: stores, the one query engine, the settings (one per process)."""

    stores: Stores
    engine: Engine
    settings: Settings

    @property
    def pg(self) -> asyncpg.Pool:
        """The PostgreSQL pool."""
        return self.stores.pg

    @property
    def redis(self) -> aioredis.Redis:
        """The Redis client."""
        return self.stores.redis


@dataclass(frozen=True)
class ToolContext:
    """One tool call's caller and what it may see."""

    backend: Backend
    principal: Principal
    servers: frozenset[UUID] | None
    """The servers the caller may see; None for all (an administrator)."""
    transport: str
    """``http`` or ``stdio``, for the audit log."""
    remote_addr: str | None = None

    def may_see(self, server_id: UUID) -> bool:
        """Whether the caller may see ``server_id``."""
        return self.servers is None or server_id in self.servers

    def source(self) -> StorageSource:
        """The PromQL engine's source over the caller's servers only."""
        return StorageSource(
            self.backend.pg,
            self.backend.redis,
            servers=None if self.servers is None else set(self.servers),
            max_samples=self.backend.settings.query.max_samples,
            raw_cache=self.backend.stores.raw_cache,
        )


async def tool_context(
    backend: Backend, principal: Principal, *, transport: str, remote_addr: str | None = None
) -> ToolContext:
    """The context of a call by ``principal``, its grants read now."""
    servers = (
        None if principal.role == "admin" else frozenset(await server_grants(backend.pg, principal.user_id))
    )
    return ToolContext(backend, principal, servers, transport, remote_addr)
