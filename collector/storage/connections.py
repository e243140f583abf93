"""Opening the PostgreSQL pool and the Redis client, with bounded, logged retries.

``open_stores`` is the one place where the service's store connections are opened and closed: it starts the
embedded servers when no external ones are configured, connects, applies migrations and yields a
:class:`Stores`; on exit it closes the pool and the client, then stops what it started.

A command (``migrate``, ``user add``) needs its stores now and fails when they do not answer. The service
(``degraded_start``) does not wait for them: a restart during an outage must not stop scraping. When
PostgreSQL does not answer at start, the pool is made without connecting (its connections are opened on
demand, each first applying any pending migration under the advisory lock, so nothing touches an old
schema), and a background task retries until PostgreSQL answers, then sets :attr:`Stores.postgres_ready`.
Until then the history writer spools, and requests that need PostgreSQL answer 503. An unreachable Redis is
logged and left to the client, which connects again on each command.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg
import redis.asyncio as aioredis
import structlog
from asyncpg.pool import PoolConnectionProxy
from redis.exceptions import RedisError

from collector import backoff
from collector.backoff import Backoff
from collector.config.settings import Settings
from collector.embedded import embedded_stores
from collector.secrets import active
from collector.secrets.plaintext import seal_plaintext
from collector.storage.migrate import migrate
from collector.storage.raw_cache import RawCache
from collector.storage.redis_cluster import new_client

log = structlog.get_logger(__name__)

T = TypeVar("T")

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)
"""PostgreSQL failures at connect time that say "not now" (down, starting, full), not "never" (a wrong
password, a missing database)."""
DEGRADED_ATTEMPTS = 3
"""Connection attempts at a service's start before it goes on without the store (about half a second)."""
CONNECT_TIMEOUT_S = 10.0
"""How long opening one connection may take: a store that accepts and never answers is given up on."""
REDIS_COMMAND_TIMEOUT_S = 10.0
"""How long a Redis command may wait for its reply: a hung server fails commands instead of hanging them
(nothing here blocks on Redis by design; the event subscriptions poll with their own shorter timeouts)."""
_BACKGROUND_BACKOFF = Backoff(0.5, 5.0)


@dataclass(frozen=True)
class Stores:
    """The open connections to both stores."""

    pg: asyncpg.Pool
    redis: aioredis.Redis
    postgres_embedded: bool
    redis_embedded: bool
    postgres_ready: asyncio.Event = field(default_factory=asyncio.Event, compare=False)
    """Set once PostgreSQL has answered and its schema is current (at once when it answered at start)."""
    postgres_dsn: str = field(default="", repr=False, compare=False)
    """The DSN the pool connects with (the embedded server's too), for tools such as ``pg_dump``; never
    shown (it may hold a password)."""
    raw_cache: RawCache = field(default_factory=RawCache, repr=False, compare=False)
    """The raw-row columns recent queries read from this database (see :mod:`collector.storage.raw_cache`)."""


async def retry(
    what: str, connect: Callable[[], Awaitable[T]], *, attempts: int = 10, first_delay_s: float = 0.2
) -> T:
    """Call ``connect`` until it succeeds, doubling the wait up to 5 s; give up after ``attempts``."""

    def retrying(attempt: int, exc: Exception, _delay_s: float) -> None:
        log.warning("store not reachable, retrying", store=what, attempt=attempt, error=str(exc))

    return await backoff.retry(
        connect,
        Backoff(first_delay_s, max(first_delay_s, 5.0)),
        transient=(TimeoutError, OSError, asyncpg.PostgresError, RedisError),
        attempts=attempts,
        on_retry=retrying,
    )


async def connect_postgres(
    dsn: str, *, min_size: int = 2, max_size: int = 10, attempts: int = 10
) -> asyncpg.Pool:
    """A connection pool to ``dsn``, retried while the server is starting."""

    async def connect() -> asyncpg.Pool:
        return await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, command_timeout=30, timeout=CONNECT_TIMEOUT_S
        )

    return await retry("postgres", connect, attempts=attempts)


async def migrate_and_seal(
    conn: asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record],
) -> None:
    """Apply pending migrations, then seal any secret still stored in clear (a step SQL cannot do)."""
    await migrate(conn)
    await seal_plaintext(conn)


class _MigrateFirst:
    """A pool's connection ``init``: the first connection applies pending migrations before any is used."""

    def __init__(self) -> None:
        self.done = False
        self._lock = asyncio.Lock()

    async def __call__(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        if self.done:
            return
        async with self._lock:
            if not self.done:
                await migrate_and_seal(conn)
                self.done = True


async def _lazy_pool(dsn: str, *, max_size: int, run_migrations: bool) -> asyncpg.Pool:
    """A pool that connects nothing now; its connections migrate the schema first when asked to."""
    # min_size 0: asyncpg would otherwise keep reconnecting its floor with a traceback per failure.
    return await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=30,
        timeout=CONNECT_TIMEOUT_S,
        init=_MigrateFirst() if run_migrations else None,
    )


async def _await_postgres(pool: asyncpg.Pool, ready: asyncio.Event) -> None:
    """Try a connection until PostgreSQL answers (migrating on the way), then set ``ready``."""
    failures = 0
    while True:
        try:
            async with pool.acquire(timeout=CONNECT_TIMEOUT_S) as conn:
                await conn.fetchval("SELECT 1")
        except UNREACHABLE as exc:
            log.warning("postgres not reachable yet, retrying", error=str(exc) or type(exc).__name__)
        except Exception as exc:  # refused (password, database, a migration): retried, an operator may fix it
            log.error("postgres refused the service, retrying", error=str(exc) or type(exc).__name__)
        else:
            break
        failures += 1
        await asyncio.sleep(_BACKGROUND_BACKOFF.delay_s(failures))
    log.info("postgres reachable; schema up to date")
    ready.set()


async def connect_redis(
    url: str,
    *,
    attempts: int = 10,
    required: bool = True,
    command_timeout_s: float = REDIS_COMMAND_TIMEOUT_S,
    cluster: bool = False,
) -> aioredis.Redis:
    """A Redis client for ``url`` whose server answered a PING (unless not ``required``: then the client
    is returned anyway, and connects on its next command). A Redis Cluster when ``cluster`` or the URL's
    scheme says so (:mod:`collector.storage.redis_cluster`)."""
    client = new_client(
        url,
        cluster=cluster,
        decode_responses=False,
        health_check_interval=30,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=command_timeout_s,
    )

    async def ping() -> aioredis.Redis:
        await client.ping()
        return client

    try:
        return await retry("redis", ping, attempts=attempts)
    except (TimeoutError, OSError, RedisError) as exc:
        if required:
            await client.aclose()
            raise
        log.warning("redis not reachable; starting without it", error=str(exc) or type(exc).__name__)
        return client
    except BaseException:
        await client.aclose()
        raise


@contextlib.asynccontextmanager
async def open_stores(
    settings: Settings, *, run_migrations: bool = True, degraded_start: bool = False
) -> AsyncIterator[Stores]:
    """Connect to the configured stores (starting embedded ones where none is configured).

    With ``degraded_start``, stores that do not answer are not waited for (see the module docstring).
    """
    pg_dsn = settings.postgres.dsn.get_secret_value() if settings.postgres.dsn else None
    redis_url = settings.redis.url.get_secret_value() if settings.redis.url else None
    active.install(settings)
    async with embedded_stores(settings.data_dir, postgres=pg_dsn is None, redis=redis_url is None) as emb:
        pg_dsn = pg_dsn or emb.postgres_dsn
        redis_url = redis_url or emb.redis_url
        assert pg_dsn is not None and redis_url is not None
        ready = asyncio.Event()
        waiting: asyncio.Task[None] | None = None
        attempts = DEGRADED_ATTEMPTS if degraded_start else 10
        max_size = settings.postgres.pool_max_size
        try:
            pool = await connect_postgres(
                pg_dsn, min_size=settings.postgres.pool_min_size, max_size=max_size, attempts=attempts
            )
        except UNREACHABLE as exc:
            if not degraded_start:
                raise
            log.warning("postgres not reachable; starting without it", error=str(exc) or type(exc).__name__)
            pool = await _lazy_pool(pg_dsn, max_size=max_size, run_migrations=run_migrations)
            waiting = asyncio.create_task(_await_postgres(pool, ready), name="postgres-connect")
        try:
            if waiting is None:
                if run_migrations:
                    async with pool.acquire() as conn:
                        await migrate_and_seal(conn)
                ready.set()
            client = await connect_redis(
                redis_url, attempts=attempts, required=not degraded_start, cluster=settings.redis.cluster
            )
            try:
                yield Stores(
                    pg=pool,
                    redis=client,
                    postgres_embedded=settings.postgres.dsn is None,
                    redis_embedded=settings.redis.url is None,
                    postgres_ready=ready,
                    postgres_dsn=pg_dsn,
                )
            finally:
                await client.aclose()
        finally:
            if waiting is not None:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            await _close_pool(pool)


async def _close_pool(pool: asyncpg.Pool) -> None:
    """Close ``pool`` gracefully, or at once when its server does not let it (it may be the one away)."""
    try:
        await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT_S)
    except TimeoutError:
        pool.terminate()
