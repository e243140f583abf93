"""Instant, range and exemplar queries on the real app, over history written the collector's way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.auth.apitokens import create_api_token
from api.keys import PRINCIPAL_CACHE, STORES
from collector.config.api_settings import QuerySettings
from collector.config.settings import Settings
from tests.api.auth.conftest import Client, make_user, session
from tests.api.prometheus.conftest import STEP_MS, T0_MS, Fleet

END_S = (T0_MS + 40 * STEP_MS) / 1000


async def get(client: Client, path: str, auth: dict[str, str], **params: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(path, params=params, headers=auth)
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_grafana_s_health_check_is_1_plus_1_then_buildinfo(client: Client, pool: asyncpg.Pool) -> None:
    _, auth = await session(client, pool, "viewer")
    status, body = await get(client, "/api/v1/query", auth, query="1+1", time="1700000000.5")
    assert (status, body) == (
        200,
        {"status": "success", "data": {"resultType": "scalar", "result": [1700000000.5, "2"]}},
    )
    status, body = await get(client, "/api/v1/status/buildinfo", auth)
    assert status == 200 and body["data"]["version"] == "2.42.0"
    assert body["data"]["revision"].startswith("openmanager ")


async def test_an_instant_query_answers_a_vector_at_the_requested_time(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    _, auth = await session(client, pool, "admin")
    status, body = await get(
        client, "/api/v1/query", auth, query=f'node_load1{{job="{fleet.job}"}}', time=str(END_S)
    )
    assert status == 200
    assert body["data"] == {
        "resultType": "vector",
        "result": [
            {
                "metric": {"__name__": "node_load1", "instance": "a:9100", "job": fleet.job},
                "value": [END_S, "0.9"],
            },
            {
                "metric": {"__name__": "node_load1", "instance": "b:9100", "job": fleet.job},
                "value": [END_S, "1.9"],
            },
        ],
    }


async def test_get_and_post_forms_give_the_same_answer(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    _, auth = await session(client, pool, "admin")
    params = {
        "query": f'sum by (instance) (rate(http_requests_total{{job="{fleet.job}"}}[2m]))',
        "start": str(END_S - 300),
        "end": "2026-03-02T10:10:00Z",
        "step": "1m",
    }
    by_get = await client.get("/api/v1/query_range", params=params, headers=auth)
    by_post = await client.post("/api/v1/query_range", data=params, headers=auth)
    assert by_get.status == by_post.status == 200
    assert await by_get.text() == await by_post.text()
    body = await by_get.json()
    assert body["data"]["resultType"] == "matrix"
    got = {s["metric"]["instance"]: s["values"] for s in body["data"]["result"]}
    # a: 3 + 1 requests per 15 s scrape; b: twice as many.
    assert got == {
        "a:9100": [[END_S - 300 + 60 * i, "0.26666666666666666"] for i in range(6)],
        "b:9100": [[END_S - 300 + 60 * i, "0.5333333333333333"] for i in range(6)],
    }


async def test_a_range_query_of_stored_values_gives_every_step(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    _, auth = await session(client, pool, "admin")
    status, body = await get(
        client,
        "/api/v1/query_range",
        auth,
        query=f'node_load1{{job="{fleet.job}", instance="a:9100"}}',
        start=str(T0_MS / 1000),
        end=str(T0_MS / 1000 + 60),
        step="15s",
    )
    assert status == 200
    (series,) = body["data"]["result"]
    assert series["values"] == [[T0_MS / 1000 + 15 * k, str(fleet.load(fleet.a, k))] for k in range(5)]


async def test_a_viewer_sees_only_the_series_of_its_granted_servers(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    viewer, auth = await session(client, pool, "viewer")
    query = f'count(up{{job="{fleet.job}"}})'
    _, body = await get(client, "/api/v1/query", auth, query=query, time=str(END_S))
    assert body["data"]["result"] == [], "no grant, no series"
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, fleet.b.server_id
    )
    _, body = await get(client, "/api/v1/query", auth, query=f'up{{job="{fleet.job}"}}', time=str(END_S))
    assert [s["metric"]["instance"] for s in body["data"]["result"]] == ["b:9100"]
    _, admin = await session(client, pool, "admin")
    _, body = await get(client, "/api/v1/query", admin, query=query, time=str(END_S))
    assert body["data"]["result"][0]["value"][1] == "2"


async def test_an_api_token_is_accepted_as_grafana_sends_it(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    owner = await make_user(pool, "viewer")
    for target in (fleet.a, fleet.b):
        await pool.execute(
            "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", owner.id, target.server_id
        )
    _, token = await create_api_token(
        pool, owner.id, "grafana", "viewer", datetime.now(UTC) + timedelta(days=1)
    )
    assert token.startswith("om_")
    status, body = await get(
        client,
        "/api/v1/query",
        {"Authorization": f"Bearer {token}"},
        query=f'count(up{{job="{fleet.job}"}})',
        time=str(END_S),
    )
    assert status == 200 and body["data"]["result"][0]["value"][1] == "2"


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("/api/v1/query", {"query": "sum("}, 'invalid parameter "query": parse error'),
        (
            "/api/v1/query",
            {"query": "up", "time": "yesterday"},
            'invalid parameter "time": cannot parse "yesterday" to a valid timestamp',
        ),
        (
            "/api/v1/query",
            {"query": "up", "timeout": "soon"},
            'invalid parameter "timeout": cannot parse "soon" to a valid duration',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "end": "1", "step": "1"},
            'invalid parameter "start": cannot parse "" to a valid timestamp',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "10", "end": "1", "step": "1"},
            'invalid parameter "end": end timestamp must not be before start time',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "1", "end": "10", "step": "0"},
            'invalid parameter "step": zero or negative query resolution step widths are not accepted',
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "0", "end": "11001", "step": "1"},
            "exceeded maximum resolution of 11,000 points per timeseries",
        ),
        (
            "/api/v1/query_range",
            {"query": "up[5m]", "start": "0", "end": "10", "step": "1"},
            'invalid parameter "query": invalid expression type "range vector" for range query',
        ),
        ("/api/v1/query_exemplars", {"query": "up{"}, 'invalid parameter "query": parse error'),
    ],
)
async def test_bad_parameters_are_bad_data_in_prometheus_s_envelope(
    client: Client, pool: asyncpg.Pool, path: str, params: dict[str, str], error: str
) -> None:
    _, auth = await session(client, pool, "viewer")
    status, body = await get(client, path, auth, **params)
    assert status == 400
    assert set(body) == {"status", "errorType", "error"}
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert body["error"].startswith(error), body["error"]


async def test_a_zero_timeout_times_out_with_503(client: Client, pool: asyncpg.Pool, fleet: Fleet) -> None:
    _, auth = await session(client, pool, "admin")
    status, body = await get(client, "/api/v1/query", auth, query=f'up{{job="{fleet.job}"}}', timeout="0")
    assert (status, body["errorType"]) == (503, "timeout")
    assert body["error"].startswith("query timed out in")


async def test_too_many_samples_is_an_execution_error(settings: Settings, fleet: Fleet) -> None:
    limited = settings.model_copy(update={"query": QuerySettings(max_samples=50)})
    async with TestClient(TestServer(create_app(limited), host="127.0.0.1")) as small:
        _, auth = await session(small, small.app[STORES].pg, "viewer")
        query = f'http_requests_total{{job="{fleet.job}"}}'
        status, body = await get(small, "/api/v1/query", auth, query=query, time=str(END_S))
    assert status == 200 and len(body["data"]["result"]) == 0, "a viewer without grants reads nothing"
    async with TestClient(TestServer(create_app(limited), host="127.0.0.1")) as small:
        _, auth = await session(small, small.app[STORES].pg, "admin")
        status, body = await get(
            small, "/api/v1/query_range", auth, query=query, start=str(END_S - 600), end=str(END_S), step="15"
        )
    assert (status, body["errorType"]) == (422, "execution")
    assert body["error"] == "query processing would load too many samples into memory in query execution"


async def test_anonymous_and_bad_tokens_are_refused_in_prometheus_s_envelope(client: Client) -> None:
    status, body = await get(client, "/api/v1/query", {}, query="1+1")
    assert (status, body["status"], body["errorType"]) == (401, "error", "unauthorized")
    status, body = await get(client, "/api/v1/query", {"Authorization": "Bearer om_nope"}, query="1+1")
    assert (status, body["errorType"]) == (401, "invalid_token")


async def test_other_api_paths_keep_the_one_error_shape(client: Client) -> None:
    response = await client.get("/api/v1/nonexistent")
    assert response.status == 401
    assert set(await response.json()) == {"error"}


async def test_a_posted_query_is_not_audited_and_keeps_the_caller_cached(
    client: Client, pool: asyncpg.Pool, app: web.Application
) -> None:
    _, auth = await session(client, pool, "viewer")
    before = await pool.fetchval("SELECT count(*) FROM audit_log")
    assert (await client.post("/api/v1/query", data={"query": "1+1"}, headers=auth)).status == 200
    assert len(app[PRINCIPAL_CACHE]) == 1, "a query changes nothing: the checked caller stays cached"
    assert (await client.post("/api/v1/series", data={"match[]": "up"}, headers=auth)).status == 200
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == before
    # Any other POST still ends the cache and is audited.
    await client.post("/api/auth/logout", headers=auth)
    assert len(app[PRINCIPAL_CACHE]) == 0
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == before + 1


async def test_exemplars_are_none_for_a_valid_query(client: Client, pool: asyncpg.Pool) -> None:
    _, auth = await session(client, pool, "viewer")
    status, body = await get(client, "/api/v1/query_exemplars", auth, query="up", start="0", end="10")
    assert (status, body) == (200, {"status": "success", "data": []})
