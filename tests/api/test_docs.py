"""``GET /api/docs``: a public, self-contained page that renders the route list from the OpenAPI document."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.docs import PAGE
from collector.config.settings import Settings


def test_page_loads_nothing_from_another_origin() -> None:
    assert not re.search(r"(src|href)=\"?(https?:)?//", PAGE)
    assert re.findall(r"fetch\(\"([^\"]+)\"", PAGE) == ["/api/openapi.json"]


async def test_docs_page_is_public_html_whose_inline_script_its_policy_allows(settings: Settings) -> None:
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        response = await client.get("/api/docs")
        assert response.status == 200
        assert response.content_type == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert "<script>" in await response.text()
    assert "script-src 'sha256-" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
