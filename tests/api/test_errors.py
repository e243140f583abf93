"""Every error, whatever raised it, has the one JSON shape and no traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.errors import ApiError, error_middleware


async def _api_error(_: web.Request) -> web.Response:
    raise ApiError(422, "metric must be one of cpu, memory", details={"field": "metric"})


async def _crash(_: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/invalid", _api_error)
    app.router.add_get("/crash", _crash)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_api_error_has_code_message_and_details(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get("/invalid")
    assert response.status == 422
    assert await response.json() == {
        "error": {
            "code": "invalid",
            "message": "metric must be one of cpu, memory",
            "details": {"field": "metric"},
        }
    }


async def test_unknown_route_is_404_in_the_same_shape(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get("/nope")
    assert response.status == 404
    body = await response.json()
    assert body["error"]["code"] == "not_found" and "/nope" in body["error"]["message"]


async def test_wrong_method_is_405_with_allow(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.post("/invalid")
    assert response.status == 405
    assert response.headers["Allow"] == "GET,HEAD"
    assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_crash_is_a_bare_500_without_internals(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get("/crash")
    assert response.status == 500
    text = await response.text()
    assert "secret internals" not in text and "Traceback" not in text
    assert (await response.json())["error"]["code"] == "internal"
