"""``/api/v1/metadata`` and ``/api/v1/targets/metadata`` on the real app: what servers' pages said, under
grants, with Prometheus's ``metric``, ``limit``, ``limit_per_metric`` and ``match_target``."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from collector.storage.metric_metadata import Entry, ServerMetadata, replace_metadata
from collector.storage.server_rows import TargetRow
from tests.api.auth.conftest import AuthUser, Client, session
from tests.api.prometheus.conftest import make_target

LOAD = ("gauge", "1m load average.", "")
REQUESTS = ("counter", "Requests served.", "")
REQUESTS_B = ("counter", "Requests, as b counts them.", "")
UPTIME = ("gauge", "Time since boot.", "seconds")


def entry(value: Entry) -> dict[str, str]:
    return {"type": value[0], "help": value[1], "unit": value[2]}


class Fleet:
    """Two servers of one job whose pages describe ``<job>_load``, ``<job>_requests`` and (b) an uptime."""

    def __init__(self, job: str) -> None:
        self.job = job
        self.a = make_target(job, "a")
        self.b = make_target(job, "b")
        self.load, self.requests, self.uptime = f"{job}_load", f"{job}_requests", f"{job}_uptime_seconds"

    def updates(self) -> list[ServerMetadata]:
        def row(t: Any) -> TargetRow:
            return TargetRow(t.server_id, t.job, t.instance, t.labels)

        return [
            ServerMetadata(row(self.a), {self.load: LOAD, self.requests: REQUESTS}),
            ServerMetadata(row(self.b), {self.load: LOAD, self.requests: REQUESTS_B, self.uptime: UPTIME}),
        ]


@pytest.fixture
async def fleet(pool: asyncpg.Pool, job_name: str) -> Fleet:
    written = Fleet(job_name)
    await replace_metadata(pool, written.updates())
    return written


async def grant(pool: asyncpg.Pool, user: AuthUser, *servers: Any) -> None:
    for server in servers:
        await pool.execute(
            "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, server.server_id
        )


async def get(client: Client, path: str, auth: dict[str, str], params: Any = None) -> tuple[int, Any]:
    response = await client.get(path, params=params, headers=auth)
    body = await response.json()
    return response.status, body


async def test_metadata_lists_the_distinct_entries_of_each_metric(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    viewer, auth = await session(client, pool, "viewer")
    await grant(pool, viewer, fleet.a, fleet.b)
    status, body = await get(client, "/api/v1/metadata", auth)
    assert status == 200 and body["status"] == "success"
    assert body["data"] == {
        fleet.load: [entry(LOAD)],
        fleet.requests: [entry(REQUESTS), entry(REQUESTS_B)],
        fleet.uptime: [entry(UPTIME)],
    }
    _, admin = await session(client, pool, "admin")
    status, body = await get(client, "/api/v1/metadata", admin, {"metric": fleet.uptime})
    assert body["data"] == {fleet.uptime: [entry(UPTIME)]}


async def test_a_viewer_sees_only_the_metadata_of_its_servers(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    viewer, auth = await session(client, pool, "viewer")
    assert await get(client, "/api/v1/metadata", auth) == (200, {"status": "success", "data": {}})
    await grant(pool, viewer, fleet.a)
    _, body = await get(client, "/api/v1/metadata", auth)
    assert body["data"] == {fleet.load: [entry(LOAD)], fleet.requests: [entry(REQUESTS)]}
    _, body = await get(client, "/api/v1/metadata", auth, {"metric": fleet.uptime})
    assert body["data"] == {}
    _, body = await get(client, "/api/v1/targets/metadata", auth)
    assert {item["target"]["instance"] for item in body["data"]} == {"a:9100"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": "2"}, {"load": 1, "requests": 2}),
        ({"limit": "0"}, {}),
        ({"limit": "-1"}, {"load": 1, "requests": 2, "uptime": 1}),
        ({"limit_per_metric": "1"}, {"load": 1, "requests": 1, "uptime": 1}),
        ({"limit_per_metric": "0"}, {"load": 1, "requests": 2, "uptime": 1}),
        ({"limit_per_metric": "-3"}, {"load": 1, "requests": 2, "uptime": 1}),
        ({"limit": "1", "limit_per_metric": "1"}, {"load": 1}),
        ({"limit": "0" * 5000 + "1"}, {"load": 1}),
        ({"limit": "-9223372036854775808"}, {"load": 1, "requests": 2, "uptime": 1}),
        ({"metric": "absent"}, {}),
    ],
)
async def test_limits_follow_prometheus(
    client: Client, pool: asyncpg.Pool, fleet: Fleet, params: dict[str, str], expected: dict[str, int]
) -> None:
    viewer, auth = await session(client, pool, "viewer")
    await grant(pool, viewer, fleet.a, fleet.b)
    status, body = await get(client, "/api/v1/metadata", auth, params)
    assert status == 200
    assert {
        name.removeprefix(fleet.job + "_").removesuffix("_seconds"): len(entries)
        for name, entries in body["data"].items()
    } == expected


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v1/metadata", {"limit": "x"}, "limit must be a number"),
        ("/api/v1/metadata", {"limit": "1.5"}, "limit must be a number"),
        ("/api/v1/metadata", {"limit_per_metric": "few"}, "limit_per_metric must be a number"),
        ("/api/v1/metadata", {"limit": "9223372036854775808"}, "limit must be a number"),
        ("/api/v1/metadata", {"limit": "1_000"}, "limit must be a number"),
        ("/api/v1/metadata", {"limit": "9" * 5000}, "limit must be a number"),
        ("/api/v1/targets/metadata", {"limit": " 1"}, "limit must be a number"),
    ],
)
async def test_a_limit_that_is_not_a_number_is_bad_data(
    client: Client, pool: asyncpg.Pool, path: str, params: dict[str, str], message: str
) -> None:
    _, auth = await session(client, pool, "viewer")
    status, body = await get(client, path, auth, params)
    assert (status, body) == (400, {"status": "error", "errorType": "bad_data", "error": message})


async def test_targets_metadata_names_each_targets_entries(
    client: Client, pool: asyncpg.Pool, fleet: Fleet
) -> None:
    viewer, auth = await session(client, pool, "viewer")
    await grant(pool, viewer, fleet.a, fleet.b)
    status, body = await get(
        client, "/api/v1/targets/metadata", auth, {"match_target": '{instance="b:9100"}'}
    )
    assert status == 200
    target = {"instance": "b:9100", "job": fleet.job}
    assert sorted(body["data"], key=lambda item: item["metric"]) == [
        {"target": target, "metric": fleet.load, **entry(LOAD)},
        {"target": target, "metric": fleet.requests, **entry(REQUESTS_B)},
        {"target": target, "metric": fleet.uptime, **entry(UPTIME)},
    ]
    _, body = await get(client, "/api/v1/targets/metadata", auth, {"metric": fleet.requests})
    assert sorted(body["data"], key=lambda item: item["target"]["instance"]) == [
        {"target": {"instance": "a:9100", "job": fleet.job}, **entry(REQUESTS)},
        {"target": target, **entry(REQUESTS_B)},
    ]
    # A limit is checked before each target: the first target's entries all come, then no more.
    _, body = await get(client, "/api/v1/targets/metadata", auth, {"limit": "1"})
    assert len({item["target"]["instance"] for item in body["data"]}) == 1
    assert len(body["data"]) in (2, 3)
    assert (await get(client, "/api/v1/targets/metadata", auth, {"limit": "0"}))[1]["data"] == []
    status, body = await get(client, "/api/v1/targets/metadata", auth, {"match_target": "up{"})
    assert (status, body["errorType"]) == (400, "bad_data")


async def test_metadata_needs_a_login(client: Client) -> None:
    for path in ("/api/v1/metadata", "/api/v1/targets/metadata"):
        response = await client.get(path)
        assert response.status == 401
