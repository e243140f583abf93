"""``POST /api/mcp/query`` on the real application and the seeded fleet: roles, grants, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.ask.conftest import Seeded, auth_of
from tests.api.ask.fleet import HOSTS

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def post(seeded: Seeded, body: object, role: str = "viewer") -> tuple[int, dict[str, Any]]:
    response = await seeded.client.post("/api/mcp/query", json=body, headers=await auth_of(seeded, role))
    return response.status, await response.json()


async def test_an_admin_gets_the_top_five_by_cpu_with_the_query_used(seeded: Seeded) -> None:
    status, body = await post(seeded, {"query": "CPU 제일 높은 서버 5개"}, "admin")
    assert status == 200
    assert (body["intent"], body["language"], body["entities"]["top_n"]) == ("top_n", "ko", 5)
    (table,) = body["data"]
    up = [h for h in HOSTS if h.down_after is None]
    expected = sorted(up, key=lambda h: -h.cpu)[:5]
    assert [row[1] for row in table["rows"]] == [h.name for h in expected]
    assert [row[2] for row in table["rows"]] == [h.cpu for h in expected]
    assert any("openmanager_cpu_usage_percent" in q for q in body["queries"])
    assert body["suggestions"]


async def test_a_viewer_is_answered_from_its_granted_servers_only(seeded: Seeded) -> None:
    status, body = await post(seeded, {"query": "top 5 servers by cpu", "language": "en"})
    assert status == 200
    (table,) = body["data"]
    assert sorted(row[1] for row in table["rows"]) == ["db-1", "web-1"]
    status, body = await post(seeded, {"query": "is batch-1 down?"})
    assert body["intent"] != "server_status", "a server not granted is not matched"
    assert "batch-1" not in str(body["data"])


async def test_anonymous_callers_get_a_401(seeded: Seeded) -> None:
    response = await seeded.client.post("/api/mcp/query", json={"query": "help"})
    assert response.status == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"query": ""},
        {"query": "   "},
        {"query": "x" * 501},
        {"query": "help", "language": "fr"},
        {"query": "help", "context": {"blob": "x" * 9000}},
        {"query": "help", "extra": 1},
        {"query": 5},
    ],
    ids=["missing", "empty", "blank", "too-long", "language", "big-context", "unknown-field", "not-text"],
)
async def test_bad_input_is_a_4xx_in_the_one_error_shape(seeded: Seeded, body: dict[str, Any]) -> None:
    status, answer = await post(seeded, body)
    assert 400 <= status < 500
    assert set(answer) == {"error"} and answer["error"]["code"]


async def test_invalid_json_is_a_400(seeded: Seeded) -> None:
    auth = await auth_of(seeded, "viewer")
    response = await seeded.client.post(
        "/api/mcp/query", data=b"{", headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status == 400


async def test_the_route_is_in_the_openapi_document_with_its_models(seeded: Seeded) -> None:
    response = await seeded.client.get("/api/openapi.json")
    document = await response.json()
    operation = document["paths"]["/api/mcp/query"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("AskRequest")
    assert "AskAnswer" in document["components"]["schemas"]
