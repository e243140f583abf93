"""The test client the API test modules share: the application served on loopback, Redis emptied first."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.keys import STORES
from tests.api.auth.conftest import Client


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[Client]:
    """A client of ``app`` on 127.0.0.1; live keys and login counters of earlier tests do not leak in."""
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        await app[STORES].redis.flushdb()
        yield test_client
