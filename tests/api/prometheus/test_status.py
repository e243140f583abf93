"""``/api/v1/status/buildinfo``: the Prometheus API version Grafana checks, and who really answers."""

from __future__ import annotations

import asyncpg

from tests.api.auth.conftest import Client, session


async def test_buildinfo_names_the_prometheus_api_version_and_this_server(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, auth = await session(client, pool, "viewer")
    response = await client.get("/api/v1/status/buildinfo", params={"ignored": "1"}, headers=auth)
    assert response.status == 200
    data = (await response.json())["data"]
    assert data["version"] == "2.42.0"
    assert data["revision"].startswith("openmanager ")
    assert set(data) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}


async def test_buildinfo_needs_a_caller(client: Client) -> None:
    response = await client.get("/api/v1/status/buildinfo")
    assert response.status == 401 and (await response.json())["status"] == "error"
