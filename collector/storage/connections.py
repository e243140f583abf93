"""Opening the PostgreSQL pool and the Redis client, with bounded, logged retries.

``open_stores`` is the one place where the service's store connections are opened and closed: it starts the
embedded servers when no external ones are configured, connects, applies migrations and yields a
:class:`Stores`; on exit it closes the pool and the client, then stops what it started.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from collector.embedded import embedded_stores
from collector.settings import Settings
from collector.storage.migrate import migrate

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Stores:
    """The open connections to both stores."""

    pg: asyncpg.Pool
    redis: aioredis.Redis
    postgres_embedded: bool
    redis_embedded: bool


async def retry(
    what: str, connect: Callable[[], Awaitable[T]], *, attempts: int = 10, first_delay_s: float = 0.2
) -> T:
    """Call ``connect`` until it succeeds, doubling the wait up to 5 s; give up after ``attempts``."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return await connect()
        except (TimeoutError, OSError, asyncpg.PostgresError, RedisError) as exc:
            if attempt == attempts:
                raise
            log.warning("store not reachable, retrying", store=what, attempt=attempt, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


async def connect_postgres(
    dsn: str, *, min_size: int = 2, max_size: int = 10, attempts: int = 10
) -> asyncpg.Pool:
    """A connection pool to ``dsn``, retried while the server is starting."""

    async def connect() -> asyncpg.Pool:
        return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=30)

    return await retry("postgres", connect, attempts=attempts)


async def connect_redis(url: str, *, attempts: int = 10) -> aioredis.Redis:
    """A Redis client for ``url`` whose server answered a PING."""
    client = aioredis.Redis.from_url(url, decode_responses=False, health_check_interval=30)

    async def ping() -> aioredis.Redis:
        await client.ping()
        return client

    try:
        return await retry("redis", ping, attempts=attempts)
    except BaseException:
        await client.aclose()
        raise


@contextlib.asynccontextmanager
async def open_stores(settings: Settings, *, run_migrations: bool = True) -> AsyncIterator[Stores]:
    """Connect to the configured stores (starting embedded ones where none is configured)."""
    pg_dsn = settings.postgres.dsn.get_secret_value() if settings.postgres.dsn else None
    redis_url = settings.redis.url.get_secret_value() if settings.redis.url else None
    async with embedded_stores(settings.data_dir, postgres=pg_dsn is None, redis=redis_url is None) as emb:
        pg_dsn = pg_dsn or emb.postgres_dsn
        redis_url = redis_url or emb.redis_url
        assert pg_dsn is not None and redis_url is not None
        pool = await connect_postgres(
            pg_dsn, min_size=settings.postgres.pool_min_size, max_size=settings.postgres.pool_max_size
        )
        try:
            if run_migrations:
                async with pool.acquire() as conn:
                    await migrate(conn)
            client = await connect_redis(redis_url)
            try:
                yield Stores(
                    pg=pool,
                    redis=client,
                    postgres_embedded=settings.postgres.dsn is None,
                    redis_embedded=settings.redis.url is None,
                )
            finally:
                await client.aclose()
        finally:
            await pool.close()
