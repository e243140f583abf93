"""``/api/monitoring/logs``: reading with filters and grants, appending with roles and input limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import STORES
from api.logs import MAX_DETAIL_BYTES, MAX_MESSAGE_CHARS
from api.openapi import openapi_document
from collector.config.settings import Settings
from collector.storage.events import record_event
from tests.api.auth.conftest import Client, make_server, session

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        # Login counters of earlier tests must not lock this one out, nor their events be counted here.
        await app[STORES].redis.flushdb()
        await app[STORES].pg.execute("DELETE FROM events")
        yield test_client


@pytest.fixture
def pool(client: Client, app: web.Application) -> asyncpg.Pool:
    return app[STORES].pg


async def grant(pool: asyncpg.Pool, user_id: uuid.UUID, server_id: uuid.UUID) -> None:
    """Give a user access to a server."""
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user_id, server_id)


async def get_logs(client: Client, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    """GET the log (asserts success)."""
    response = await client.get(f"/api/monitoring/logs{query}", headers=headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_anonymous_read_and_write_are_401(client: Client) -> None:
    assert (await client.get("/api/monitoring/logs")).status == 401
    response = await client.post(
        "/api/monitoring/logs", json={"level": "info", "source": "api", "message": "x"}
    )
    assert response.status == 401


async def test_viewer_sees_granted_servers_and_serverless_events_only(
    client: Client, pool: asyncpg.Pool
) -> None:
    viewer, headers = await session(client, pool, "viewer")
    granted, other = await make_server(pool), await make_server(pool)
    await grant(pool, viewer.id, granted)
    await record_event(pool, "error", "scrape", "mine failed", server_id=granted)
    await record_event(pool, "error", "scrape", "theirs failed", server_id=other)
    await record_event(pool, "info", "api", "maintenance tonight")
    body = await get_logs(client, headers)
    assert body["total"] == 2
    assert {e["message"] for e in body["events"]} == {"mine failed", "maintenance tonight"}
    assert {e["serverId"] for e in body["events"]} == {str(granted), None}
    refused = await client.get(f"/api/monitoring/logs?serverId={other}", headers=headers)
    assert refused.status == 403
    only_mine = await get_logs(client, headers, f"?serverId={granted}")
    assert [e["message"] for e in only_mine["events"]] == ["mine failed"]


async def test_admin_filters_by_minimum_level_source_and_time(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "admin")
    for minutes, (level, source) in enumerate(
        [
            ("debug", "scrape"),
            ("info", "api"),
            ("warning", "scrape"),
            ("error", "alert"),
            ("critical", "alert"),
        ]
    ):
        event = await record_event(pool, level, source, f"{level} from {source}")  # type: ignore[arg-type]
        await pool.execute(
            "UPDATE events SET at = $2 WHERE id = $1", event.id, T0 + timedelta(minutes=minutes)
        )

    async def levels(query: str) -> list[str]:
        return [e["level"] for e in (await get_logs(client, headers, query))["events"]]

    assert await levels("") == ["critical", "error", "warning", "info", "debug"]
    assert await levels("?level=warning") == ["critical", "error", "warning"]
    assert await levels("?source=scrape") == ["warning", "debug"]
    assert await levels("?from=2026-01-01T00:01:00Z&to=2026-01-01T00:03:00Z") == ["warning", "info"]
    assert await levels(f"?from={T0.timestamp() + 180:.0f}") == ["critical", "error"]
    page = await get_logs(client, headers, "?limit=2&offset=2")
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 2
    assert [e["level"] for e in page["events"]] == ["warning", "info"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=1001", "limit"),
        ("?limit=0", "limit"),
        ("?offset=-1", "offset"),
        ("?level=fatal", "level"),
        ("?from=yesterday", "from"),
        ("?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("?serverId=nope", "serverId"),
        ("?unknown=1", "unknown"),
    ],
)
async def test_bad_filters_are_422_naming_the_field(
    client: Client, pool: asyncpg.Pool, query: str, field: str
) -> None:
    _, headers = await session(client, pool, "admin")
    response = await client.get(f"/api/monitoring/logs{query}", headers=headers)
    assert response.status == 422, await response.text()
    body = await response.json()
    assert field in {problem["field"] for problem in body["error"]["details"]}


async def test_operator_appends_an_event_that_reads_back(client: Client, pool: asyncpg.Pool) -> None:
    operator, headers = await session(client, pool, "operator")
    server = await make_server(pool)
    await grant(pool, operator.id, server)
    response = await client.post(
        "/api/monitoring/logs",
        headers=headers,
        json={
            "level": "warning",
            "source": "user",
            "message": "rebooting for a kernel update",
            "serverId": str(server),
            "detail": {"ticket": "OPS-12"},
        },
    )
    assert response.status == 200, await response.text()
    created = await response.json()
    assert created["serverId"] == str(server) and created["detail"] == {"ticket": "OPS-12"}
    assert created["postedBy"] == operator.username
    listed = await get_logs(client, headers, "?source=user")
    assert listed["events"] == [created]


async def test_viewer_may_not_append_and_operator_only_for_granted_servers(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, viewer_headers = await session(client, pool, "viewer")
    _, operator_headers = await session(client, pool, "operator")
    event = {"level": "info", "source": "user", "message": "hello"}
    assert (await client.post("/api/monitoring/logs", headers=viewer_headers, json=event)).status == 403
    other = await make_server(pool)
    response = await client.post(
        "/api/monitoring/logs", headers=operator_headers, json={**event, "serverId": str(other)}
    )
    assert response.status == 403
    assert (await client.post("/api/monitoring/logs", headers=operator_headers, json=event)).status == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "message"),
        ({"message": ""}, "message"),
        ({"message": "nul \x00 byte"}, "message"),
        ({"level": "fatal"}, "level"),
        ({"source": "Not A Source"}, "source"),
        ({"detail": ["not", "an", "object"]}, "detail"),
        ({"detail": {"blob": "x" * MAX_DETAIL_BYTES}}, "detail"),
        ({"detail": {"nul": "\x00"}}, "detail"),
        ({"serverId": str(uuid.uuid4())}, "serverId"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_events_are_422_naming_the_field(
    client: Client, pool: asyncpg.Pool, change: dict[str, object], field: str
) -> None:
    _, headers = await session(client, pool, "admin")
    event = {"level": "info", "source": "api", "message": "fine", **change}
    response = await client.post("/api/monitoring/logs", headers=headers, json=event)
    assert response.status == 422, await response.text()
    body = await response.json()
    assert field in {problem["field"] for problem in body["error"]["details"]}
    assert (await get_logs(client, headers))["total"] == 0


async def test_detail_at_the_size_limit_is_accepted(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "admin")
    # {"blob":"…"} is 11 bytes around the string.
    detail = {"blob": "x" * (MAX_DETAIL_BYTES - 11)}
    event = {"level": "debug", "source": "api", "message": "big", "detail": detail}
    response = await client.post("/api/monitoring/logs", headers=headers, json=event)
    assert response.status == 200, await response.text()


def test_logs_are_in_the_openapi_document(settings: Settings) -> None:
    item = openapi_document(create_app(settings))["paths"]["/api/monitoring/logs"]
    assert item["get"]["x-minimum-role"] == "viewer" and item["post"]["x-minimum-role"] == "operator"
    assert {p["name"] for p in item["get"]["parameters"]} == {
        "level",
        "source",
        "serverId",
        "from",
        "to",
        "limit",
        "offset",
        "posted",
    }
    assert item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("LogBody")


@pytest.mark.parametrize(
    ("source", "status"),
    [
        ("scrape", 422),
        ("alerts", 422),
        ("notify", 422),
        ("collector", 422),
        ("alerts.engine", 422),
        ("scrape.fake", 422),
        ("deploy", 200),
        ("api", 200),
        ("alerts-report", 200),
        ("my.alerts", 200),
    ],
)
async def test_a_posted_event_names_its_poster_and_cannot_pass_for_the_services_own(
    client: Client, pool: asyncpg.Pool, source: str, status: int
) -> None:
    operator, headers = await session(client, pool, "operator")
    event = {"level": "critical", "source": source, "message": "server compromised, ignore alerts"}
    response = await client.post("/api/monitoring/logs", headers=headers, json=event)
    assert response.status == status, await response.text()
    if status == 422:
        body = await response.json()
        assert [p["field"] for p in body["error"]["details"]] == ["source"]
        assert "reserved" in body["error"]["details"][0]["problem"]
        assert await pool.fetchval("SELECT count(*) FROM events") == 0
        return
    assert (await response.json())["postedBy"] == operator.username
    stored = await pool.fetchval("SELECT posted_by FROM events WHERE source = $1", source)
    assert stored == operator.username


async def test_the_log_tells_posted_events_from_the_services_own(client: Client, pool: asyncpg.Pool) -> None:
    operator, headers = await session(client, pool, "operator")
    await record_event(pool, "error", "scrape", "web-1 is down")
    event = {"level": "info", "source": "deploy", "message": "release 1.2"}
    assert (await client.post("/api/monitoring/logs", headers=headers, json=event)).status == 200
    every = await get_logs(client, headers)
    assert {(e["source"], e["postedBy"]) for e in every["events"]} == {
        ("scrape", None),
        ("deploy", operator.username),
    }
    posted = await get_logs(client, headers, "?posted=true")
    assert [e["message"] for e in posted["events"]] == ["release 1.2"]
    own = await get_logs(client, headers, "?posted=false")
    assert [e["message"] for e in own["events"]] == ["web-1 is down"]
