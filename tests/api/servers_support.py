"""What the tests of ``/api/servers`` and of the connection test share: the application under test with
a fake resolver, a loopback target, registering a server. Modules bind the fixtures by name."""

from __future__ import annotations

import random
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient, TestServer

from api.app import create_app
from api.keys import RESOLVER, STORES
from collector.config.settings import Settings
from collector.hostport import split_host_port
from tests.api.auth.conftest import Client
from tests.loopback import FakeResolver, loopback_only

NODE_PAGE = """# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1.5
node_cpu_seconds_total{cpu="0",mode="user"} 2.5
# TYPE node_exporter_build_info gauge
node_exporter_build_info{version="1.8.0"} 1
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="1"} 1
http_request_duration_seconds_bucket{le="+Inf"} 2
http_request_duration_seconds_sum 1.5
http_request_duration_seconds_count 2
"""


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection of the test leaves loopback."""
    loopback_only(monkeypatch)


@pytest.fixture
def resolver() -> FakeResolver:
    """DNS of the API under test: ``exporter.test`` and ``localhost`` are loopback; tests add names."""
    return FakeResolver({"exporter.test": ["127.0.0.1"], "localhost": ["127.0.0.1", "::1"]})


async def open_client(settings: Settings, resolver: FakeResolver) -> AsyncIterator[Client]:
    """The application under test on ``settings``, its DNS answered by ``resolver``, with a clean Redis."""
    app = create_app(settings)
    app[RESOLVER] = resolver
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        # Live keys and login counters of earlier tests must not leak into this one.
        await test_client.app[STORES].redis.flushdb()
        yield test_client


@pytest.fixture
async def client(settings: Settings, resolver: FakeResolver) -> AsyncIterator[Client]:
    async for test_client in open_client(settings, resolver):
        yield test_client


@pytest.fixture
def pool(client: Client) -> asyncpg.Pool:
    """The PostgreSQL pool of the application under test."""
    return client.app[STORES].pg


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def target() -> AsyncIterator[TestServer]:
    """A loopback target: a metrics page, an HTML page, a failing page, a redirect elsewhere."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=NODE_PAGE, content_type="text/plain")

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html><body>hello</body></html>", content_type="text/html")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def elsewhere(_: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{free_port()}/metrics")

    target_app = web.Application()
    target_app.router.add_get("/metrics", metrics)
    target_app.router.add_get("/html", html)
    target_app.router.add_get("/broken", broken)
    target_app.router.add_get("/elsewhere", elsewhere)
    server = TestServer(target_app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


def address_of(server: BaseTestServer) -> str:
    return f"127.0.0.1:{server.port}"


def new_job() -> str:
    return f"job-{uuid.uuid4().hex[:8]}"


def new_address() -> str:
    """An address no other test registers (the database is shared by the tests of a run)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}:9100"


async def forget(client: Client, address: str) -> None:
    """Remove what earlier tests of the run left at this loopback address (ports are reused)."""
    _, port = split_host_port(address)
    await client.app[STORES].pg.execute(
        "DELETE FROM servers WHERE address = ANY($1::text[])",
        [address, f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"],
    )


async def register(client: Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Register a server (asserting 201) and return it."""
    body = {"name": "web-1", "address": new_address(), "job": new_job(), **fields}
    if body["address"].startswith(("127.", "localhost", "exporter.test")):
        await forget(client, body["address"])
    response = await client.post("/api/servers", json=body, headers=auth)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created
