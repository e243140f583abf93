"""Series, label names and label values on the real app: grants, time ranges, limits."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.api.auth.conftest import Client, session
from tests.api.prometheus.conftest import T0_MS, Fleet, make_target, scrape, write_history


async def get(
    client: Client, path: str, auth: dict[str, str], params: Any = None
) -> tuple[int, dict[str, Any]]:
    response = await client.get(path, params=params, headers=auth)
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_series_lists_the_label_sets_of_every_selector_sorted(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    _, auth = await session(client, pool, "admin")
    params = [
        ("match[]", f'up{{job="{fleet.job}"}}'),
        ("match[]", f'http_requests_total{{job="{fleet.job}", instance="b:9100"}}'),
    ]
    status, body = await get(client, "/api/v1/series", auth, params)
    assert status == 200
    assert body["data"] == [
        {"__name__": "http_requests_total", "instance": "b:9100", "job": fleet.job, "method": "get"},
        {"__name__": "http_requests_total", "instance": "b:9100", "job": fleet.job, "method": "post"},
        {"__name__": "up", "instance": "a:9100", "job": fleet.job},
        {"__name__": "up", "instance": "b:9100", "job": fleet.job},
    ]
    by_post = await client.post("/api/v1/series", data=params, headers=auth)
    assert (await by_post.json())["data"] == body["data"]


async def test_a_limit_cuts_the_list_and_says_so(client: Client, pool: asyncpg.Pool, fleet: Fleet) -> None:
    _, auth = await session(client, pool, "admin")
    status, body = await get(
        client, "/api/v1/series", auth, {"match[]": f'{{job="{fleet.job}"}}', "limit": "2"}
    )
    assert status == 200 and len(body["data"]) == 2
    assert body["warnings"] == ["results truncated due to limit"]
    status, body = await get(
        client, "/api/v1/label/method/values", auth, {"match[]": f'{{job="{fleet.job}"}}', "limit": "1"}
    )
    assert (body["data"], body["warnings"]) == (["get"], ["results truncated due to limit"])
    status, body = await get(
        client, "/api/v1/label/method/values", auth, {"match[]": f'{{job="{fleet.job}"}}', "limit": "5"}
    )
    assert body == {"status": "success", "data": ["get", "post"]}


async def test_labels_and_values_of_the_selected_series(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    _, auth = await session(client, pool, "admin")
    match = {"match[]": f'http_requests_total{{job="{fleet.job}"}}'}
    assert (await get(client, "/api/v1/labels", auth, match))[1]["data"] == [
        "__name__",
        "instance",
        "job",
        "method",
    ]
    assert (await get(client, "/api/v1/label/instance/values", auth, match))[1]["data"] == [
        "a:9100",
        "b:9100",
    ]
    names = (await get(client, "/api/v1/label/__name__/values", auth, {"match[]": f'{{job="{fleet.job}"}}'}))[
        1
    ]
    assert names["data"] == ["http_requests_total", "node_load1", "up"]
    status, body = await get(client, "/api/v1/label/not-a-name/values", auth)
    assert (status, body["errorType"], body["error"]) == (400, "bad_data", 'invalid label name: "not-a-name"')
    status, body = await get(client, "/api/v1/series", auth)
    assert (status, body["error"]) == (400, "no match[] parameter provided")


async def test_a_time_range_keeps_the_series_scraped_in_it(
    client: Client, pool: asyncpg.Pool, job_name: str
) -> None:
    t = make_target(job_name, "c")
    await write_history(
        pool,
        [
            scrape(t, T0_MS, [(("gone_metric", t.labels), 1.0)]),
            scrape(t, T0_MS + 7_200_000, [(("new_metric", t.labels), 1.0)]),
        ],
    )
    _, auth = await session(client, pool, "admin")
    match = {"match[]": f'{{job="{job_name}"}}'}
    everything = (await get(client, "/api/v1/label/__name__/values", auth, match))[1]["data"]
    assert everything == ["gone_metric", "new_metric"]
    late = {**match, "start": str((T0_MS + 3_600_000) / 1000), "end": "2026-03-02T13:00:00Z"}
    assert (await get(client, "/api/v1/label/__name__/values", auth, late))[1]["data"] == ["new_metric"]
    assert [s["__name__"] for s in (await get(client, "/api/v1/series", auth, late))[1]["data"]] == [
        "new_metric"
    ]


async def test_a_viewer_lists_only_its_servers_series(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    viewer, auth = await session(client, pool, "viewer")
    match = {"match[]": f'up{{job="{fleet.job}"}}'}
    assert (await get(client, "/api/v1/series", auth, match))[1]["data"] == []
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, fleet.a.server_id
    )
    assert [s["instance"] for s in (await get(client, "/api/v1/series", auth, match))[1]["data"]] == [
        "a:9100"
    ]
    assert (await get(client, "/api/v1/label/instance/values", auth, match))[1]["data"] == ["a:9100"]
    values = (await get(client, "/api/v1/label/job/values", auth))[1]["data"]
    assert values == [fleet.job], "without a selector too, only the granted server's labels"
