"""A store that goes down or hangs under a running API: 503 with Retry-After, one log line, no traceback.

The app reaches PostgreSQL and Redis through loopback proxies (:mod:`tests.proxy`) that a test cuts (the
store refuses and resets connections) or freezes (the store accepts and never answers).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import aiohttp
import asyncpg
import pytest
import redis.exceptions
import structlog
import structlog.testing
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.auth.keys import PREFIX
from api.errors import error_middleware
from api.keys import AUTH_CONFIG, STORES
from api.outage import RETRY_AFTER_S, store_outage_middleware
from collector.storage.errors import StoreUnavailable
from tests.api.auth.conftest import Client, FakeClock, bearer, login, make_user
from tests.conftest import SettingsFactory
from tests.proxy import (
    TcpProxy,
    postgres_upstream,
    redis_upstream,
    via_proxy_dsn,
    via_proxy_redis_url,
)

Store = Literal["postgres", "redis"]


@dataclasses.dataclass
class Proxies:
    postgres: TcpProxy
    redis: TcpProxy

    def of(self, store: Store) -> TcpProxy:
        return self.postgres if store == "postgres" else self.redis


@pytest.fixture
def proxies(pg_dsn: str, redis_url: str) -> Iterator[Proxies]:
    pair = Proxies(TcpProxy(postgres_upstream(pg_dsn)), TcpProxy(redis_upstream(redis_url)))
    pair.postgres.open()
    pair.redis.open()
    yield pair
    pair.postgres.close()
    pair.redis.close()


@pytest.fixture
async def client(
    make_settings: SettingsFactory, pg_dsn: str, redis_url: str, proxies: Proxies
) -> AsyncIterator[Client]:
    settings = make_settings(
        postgres_dsn=via_proxy_dsn(pg_dsn, proxies.postgres.port),
        redis_url=via_proxy_redis_url(redis_url, proxies.redis.port),
    )
    app = create_app(settings)
    # A clock that stands still: a principal cached by the test stays cached.
    app[AUTH_CONFIG] = dataclasses.replace(app[AUTH_CONFIG], clock=FakeClock())
    timeout = aiohttp.ClientTimeout(total=15)
    async with TestClient(TestServer(app), timeout=timeout) as test_client:
        # Every test logs in from 127.0.0.1: counters left by an earlier test must not lock this one out.
        redis = app[STORES].redis
        async for key in redis.scan_iter(match=f"{PREFIX}*"):
            await redis.delete(key)
        yield test_client
        # Let the pool and client close cleanly through a proxy that forwards again.
        proxies.postgres.thaw()
        proxies.redis.thaw()
        proxies.postgres.open()
        proxies.redis.open()


@pytest.mark.parametrize(
    ("store", "failure", "path", "token_checked"),
    [
        # A token not seen before: the token check itself meets the store.
        ("postgres", "down", "/api/auth/me", True),
        ("postgres", "hung", "/api/auth/me", True),
        ("redis", "down", "/api/auth/me", True),
        ("redis", "hung", "/api/auth/me", True),
        # A caller already checked: the handler meets the store (a hung one is bounded by the pool's command
        # timeout, not by this check's).
        ("postgres", "down", "/api/servers", False),
    ],
)
async def test_a_store_outage_is_a_503_with_retry_after_and_one_log_line(
    client: Client,
    proxies: Proxies,
    store: Store,
    failure: Literal["down", "hung"],
    path: str,
    token_checked: bool,
) -> None:
    pool = client.app[STORES].pg
    user = await make_user(pool, "viewer")
    headers = bearer((await login(client, user))["access_token"])
    if not token_checked:
        assert (await client.get("/api/auth/me", headers=headers)).status == 200
    proxy = proxies.of(store)
    if failure == "down":
        proxy.cut()
    else:
        proxy.freeze()
    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        response = await client.get(path, headers=headers)
    elapsed_s = time.monotonic() - started
    body = await response.json()
    assert response.status == 503, body
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert body["error"]["code"] == "store_unavailable"
    assert body["error"]["details"]["store"] in (store, None)
    warnings = [entry for entry in logs if entry["event"] == "request failed: store unavailable"]
    assert len(warnings) == 1 and warnings[0]["path"] == path
    assert not [entry for entry in logs if entry["log_level"] in ("error", "critical", "exception")]
    assert not [entry for entry in logs if "exc_info" in entry]
    if token_checked:
        # A hung store costs the token check its short timeout, not the client's patience.
        assert elapsed_s < 5


@pytest.mark.parametrize(
    ("error", "store"),
    [
        (redis.exceptions.ConnectionError("Connection refused"), "redis"),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), "redis"),
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), "postgres"),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), "postgres"),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), "postgres"),
        (StoreUnavailable("postgres", "no answer within 1.0 s"), "postgres"),
        (ConnectionRefusedError(111, "Connection refused"), None),
    ],
)
async def test_every_driver_failure_form_is_a_503_naming_its_store(
    error: BaseException, store: str | None
) -> None:
    async def fails(_: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[error_middleware, store_outage_middleware])
    app.router.add_get("/api/thing", fails)
    async with TestClient(TestServer(app)) as client:
        with structlog.testing.capture_logs() as logs:
            response = await client.get("/api/thing")
        body = await response.json()
    assert response.status == 503
    assert body["error"]["details"] == {"store": store, "retry_after_s": RETRY_AFTER_S}
    assert [entry["log_level"] for entry in logs] == ["warning"]


async def test_other_failures_are_still_a_bare_500() -> None:
    async def fails(_: web.Request) -> web.Response:
        raise ValueError("a bug")

    app = web.Application(middlewares=[error_middleware, store_outage_middleware])
    app.router.add_get("/api/thing", fails)
    async with TestClient(TestServer(app)) as client:
        with structlog.testing.capture_logs():
            response = await client.get("/api/thing")
    assert response.status == 500
