"""``GET /api/stats``: fleet counts within the caller's grants, usage figures, and the viewer role."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import SCHEDULER_STATE, STORES
from collector.config.settings import Settings
from tests.api.auth.conftest import Client, session
from tests.api.test_monitoring import DB, app, client, fleet, pool

__all__ = ["app", "client", "fleet", "pool"]


@pytest.mark.usefixtures("fleet")
async def test_stats_count_servers_by_status_and_report_usage(client: Client, pool: asyncpg.Pool) -> None:
    _, auth = await session(client, pool, "admin")
    response = await client.get("/api/stats", headers=auth)
    assert response.status == 200
    body = await response.json()
    assert body["servers"] == {"total": 3, "up": 1, "warning": 1, "down": 1, "unknown": 0}
    assert body["users"] >= 1 and body["database_bytes"] > 0 and body["series_estimate"] >= 0
    # Without a collector in this process the scheduler reports nothing to count.
    assert body["targets"] is None and body["samples_ingested"] is None


@pytest.mark.usefixtures("fleet")
async def test_stats_of_a_viewer_count_only_granted_servers(client: Client, pool: asyncpg.Pool) -> None:
    viewer, auth = await session(client, pool, "viewer")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, DB.server_id
    )
    body = await (await client.get("/api/stats", headers=auth)).json()
    assert body["servers"] == {"total": 1, "up": 0, "warning": 1, "down": 0, "unknown": 0}


async def test_stats_take_targets_and_samples_from_the_scheduler(settings: Settings) -> None:
    application = create_app(settings)
    state: dict[str, object] = {"targets": 12, "targets_up": 11, "samples_ingested": 5000}
    application[SCHEDULER_STATE] = lambda: state
    async with TestClient(TestServer(application, host="127.0.0.1")) as own_client:
        _, auth = await session(own_client, application[STORES].pg, "viewer")
        body = await (await own_client.get("/api/stats", headers=auth)).json()
    assert (body["targets"], body["targets_up"], body["samples_ingested"]) == (12, 11, 5000)


async def test_stats_need_a_principal(client: Client) -> None:
    assert (await client.get("/api/stats")).status == 401
