"""Our API for a benchmark: a database and a Redis database of its own, a free port, an admin token."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiohttp import web

from api.app import create_app
from api.auth.apitokens import create_api_token
from api.keys import STORES
from collector.config.settings import load_settings
from tests.conftest import _claim_redis_db, create_database, drop_database, release_redis_db
from tests.ports import free_port

ADMIN_DSN = os.environ.get("OM_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OM_BENCH_REDIS_URL", "redis://127.0.0.1:6379")


@dataclass(frozen=True)
class Service:
    """The running API: its URL, its PostgreSQL pool and an admin's bearer token."""

    url: str
    pool: asyncpg.Pool
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header."""
        return {"Authorization": f"Bearer {self.token}"}


@asynccontextmanager
async def api_service(workdir: Path) -> AsyncIterator[Service]:
    """Our API on 127.0.0.1 over a fresh database (dropped at the end) and a free Redis database."""
    db = _claim_redis_db(REDIS_URL)
    if db is None:
        raise SystemExit(f"no Redis at {REDIS_URL}")
    dsn = await create_database(ADMIN_DSN)
    (workdir / "targets.yaml").write_text("scrape_configs: []\n")
    env = {
        "OM_POSTGRES_DSN": dsn,
        "OM_REDIS_URL": f"{REDIS_URL}/{db}",
        "OM_DATA_DIR": str(workdir / "om"),
        "OM_TARGETS": str(workdir / "targets.yaml"),
        "OM_RATE_LIMIT_RPS": "0",
    }
    app = create_app(load_settings(None, env))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        pool = app[STORES].pg
        owner = await pool.fetchval(
            "INSERT INTO users (username, password_hash, role) VALUES ('bench', 'x', 'admin') RETURNING id"
        )
        _, token = await create_api_token(
            pool, owner, "bench", "admin", datetime.now(UTC) + timedelta(days=1)
        )
        yield Service(f"http://127.0.0.1:{port}", pool, token)
    finally:
        await runner.cleanup()
        await drop_database(ADMIN_DSN, dsn)
        release_redis_db(REDIS_URL, db)
