"""``/api/servers``: inventory, roles and grants, validation, conflicts, change events, connection tests."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio.client import PubSub

from api.app import create_app
from api.keys import STORES
from api.servers import address_problem, exporter_kind, split_address
from collector.scrape.result import server_id_for
from collector.settings import Settings
from collector.storage import keys
from tests.api.auth.conftest import Client, session
from tests.api.test_monitoring import assert_error_shape

NODE_PAGE = """# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1.5
node_cpu_seconds_total{cpu="0",mode="user"} 2.5
# TYPE node_exporter_build_info gauge
node_exporter_build_info{version="1.8.0"} 1
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="1"} 1
http_request_duration_seconds_bucket{le="+Inf"} 2
http_request_duration_seconds_sum 1.5
http_request_duration_seconds_count 2
"""


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
        # Live keys and login counters of earlier tests must not leak into this one.
        await test_client.app[STORES].redis.flushdb()
        yield test_client


@pytest.fixture
def pool(client: Client) -> asyncpg.Pool:
    return client.app[STORES].pg


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def target() -> AsyncIterator[TestServer]:
    """A loopback target: a metrics page, an HTML page, a failing page, a redirect elsewhere."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=NODE_PAGE, content_type="text/plain")

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html><body>hello</body></html>", content_type="text/html")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def elsewhere(_: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{free_port()}/metrics")

    target_app = web.Application()
    target_app.router.add_get("/metrics", metrics)
    target_app.router.add_get("/html", html)
    target_app.router.add_get("/broken", broken)
    target_app.router.add_get("/elsewhere", elsewhere)
    server = TestServer(target_app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


def address_of(server: TestServer) -> str:
    return f"127.0.0.1:{server.port}"


def new_job() -> str:
    return f"job-{uuid.uuid4().hex[:8]}"


async def register(client: Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Register a server (asserting 201) and return it."""
    body = {"name": "web-1", "address": "10.0.0.5:9100", "job": new_job(), **fields}
    response = await client.post("/api/servers", json=body, headers=auth)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("10.0.0.5:9100", None),
        ("[2001:db8::1]:9100", None),
        ("web-1.example.org:443", None),
        ("10.0.0.5", "port"),
        ("http://10.0.0.5:9100", "scheme"),
        ("10.0.0.5:9100/metrics", "scheme"),
        ("10.0.0.5:0", "port"),
        ("169.254.169.254:80", "metadata"),
        ("[fd00:ec2::254]:80", "metadata"),
        ("[::ffff:169.254.169.254]:80", "metadata"),
    ],
)
def test_address_problem(address: str, problem: str | None) -> None:
    found = address_problem(address)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_split_address_handles_ipv6_brackets() -> None:
    assert split_address("[::1]:9100") == ("::1", 9100)
    assert split_address("web:80") == ("web", 80)


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (["node_cpu_seconds_total", "node_exporter_build_info"], (True, False)),
        (["node_load1", "openmanager_cpu_usage_percent"], (False, True)),
        (["http_requests_total"], (False, False)),
    ],
)
def test_exporter_kind(names: list[str], kind: tuple[bool, bool]) -> None:
    assert exporter_kind(names) == kind


async def test_roles_viewer_lists_operator_creates_and_edits_admin_deletes(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, viewer = await session(client, pool, "viewer")
    _, operator = await session(client, pool, "operator")
    _, admin = await session(client, pool, "admin")
    denied = await client.post("/api/servers", json={"name": "x", "address": "x:1"}, headers=viewer)
    assert denied.status == 403
    assert_error_shape(await denied.json(), "forbidden")
    job = new_job()
    created = await register(client, operator, job=job, labels={"env": "prod"}, scrape_interval="30s")
    server_id = created["id"]
    assert server_id == str(server_id_for(job, "10.0.0.5:9100"))
    assert (created["source"], created["scrape_interval"], created["live"]) == ("api", "30s", None)
    assert (await client.get("/api/servers", headers=viewer)).status == 200
    edited = await client.patch(
        f"/api/servers/{server_id}", json={"name": "web-one", "scrape_interval": None}, headers=operator
    )
    assert edited.status == 200, await edited.text()
    assert (await edited.json())["name"] == "web-one" and (await edited.json())["scrape_interval"] is None
    assert (await client.delete(f"/api/servers/{server_id}", headers=operator)).status == 403
    deleted = await client.delete(f"/api/servers/{server_id}", headers=admin)
    assert deleted.status == 204
    assert (await client.get(f"/api/servers/{server_id}", headers=admin)).status == 404


async def test_a_viewer_granted_one_server_sees_only_it(client: Client, pool: asyncpg.Pool) -> None:
    viewer, viewer_auth = await session(client, pool, "viewer")
    _, admin = await session(client, pool, "admin")
    first = await register(client, admin, address="10.0.0.1:9100")
    second = await register(client, admin, address="10.0.0.2:9100")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, uuid.UUID(first["id"])
    )
    listed = await (await client.get("/api/servers", headers=viewer_auth)).json()
    assert [s["id"] for s in listed["servers"]] == [first["id"]] and listed["total"] == 1
    assert (await client.get(f"/api/servers/{first['id']}", headers=viewer_auth)).status == 200
    assert (await client.get(f"/api/servers/{second['id']}", headers=viewer_auth)).status == 403


async def test_an_operator_sees_what_they_registered(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    created = await register(client, operator)
    assert (await client.get(f"/api/servers/{created['id']}", headers=operator)).status == 200


async def test_list_shows_the_live_status_from_redis(client: Client, pool: asyncpg.Pool) -> None:
    _, admin = await session(client, pool, "admin")
    created = await register(client, admin)
    status = {
        "server_id": created["id"],
        "status": "up",
        "last_scrape": 1_767_225_600.0,
        "last_error": None,
        "scrape_duration_s": 0.01,
        "job": created["job"],
        "instance": created["address"],
        "labels": {},
        "identity": None,
        "summary": {},
    }
    await client.app[STORES].redis.set(f"server:{created['id']}:status", json.dumps(status))
    listed = await (await client.get("/api/servers", params={"limit": "1000"}, headers=admin)).json()
    mine = next(s for s in listed["servers"] if s["id"] == created["id"])
    assert mine["status"] == "up" and mine["live"]["last_scrape"] == 1_767_225_600.0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"address": "http://10.0.0.5:9100"}, "address"),
        ({"address": "10.0.0.5"}, "address"),
        ({"address": "169.254.169.254:80"}, "address"),
        ({"scheme": "ftp"}, "scheme"),
        ({"metrics_path": "metrics"}, "metrics_path"),
        ({"labels": {"1bad": "x"}}, "labels"),
        ({"labels": {"__meta": "x"}}, "labels"),
        ({"labels": {"instance": "x"}}, "labels"),
        ({"labels": {f"l{i}": "x" for i in range(33)}}, "labels"),
        ({"scrape_interval": "1s"}, "scrape_interval"),
        ({"scrape_interval": "soon"}, "scrape_interval"),
        ({"job": ""}, "job"),
    ],
)
async def test_invalid_bodies_are_422_in_the_one_error_shape(
    client: Client, pool: asyncpg.Pool, fields: dict[str, Any], field: str
) -> None:
    _, operator = await session(client, pool, "operator")
    body = {"name": "web-1", "address": "10.0.0.5:9100", **fields}
    response = await client.post("/api/servers", json=body, headers=operator)
    assert response.status == 422
    document = await response.json()
    assert_error_shape(document, "invalid")
    assert {d["field"].split(".")[0] for d in document["error"]["details"]} == {field}


async def test_the_same_job_and_address_twice_is_409(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    created = await register(client, operator)
    again = await client.post(
        "/api/servers",
        json={"name": "other", "address": created["address"], "job": created["job"]},
        headers=operator,
    )
    assert again.status == 409
    document = await again.json()
    assert_error_shape(document, "conflict")
    assert document["error"]["details"]["server_id"] == created["id"]


async def test_patch_cannot_change_the_identity(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    created = await register(client, operator)
    moved = await client.patch(
        f"/api/servers/{created['id']}", json={"address": "10.9.9.9:9100"}, headers=operator
    )
    assert moved.status == 422
    same = await client.patch(
        f"/api/servers/{created['id']}", json={"address": created["address"]}, headers=operator
    )
    assert same.status == 200


async def _messages(pubsub: PubSub, count: int) -> list[object]:
    seen: list[object] = []
    while len(seen) < count:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
        assert message is not None, seen
        seen.append(json.loads(message["data"]))
    return seen


async def test_create_update_delete_publish_on_the_targets_channel(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, admin = await session(client, pool, "admin")
    async with client.app[STORES].redis.pubsub() as pubsub:
        await pubsub.subscribe(keys.channel(keys.TARGETS_CHANGED, client.app[STORES].redis))
        await pubsub.get_message(timeout=1.0)  # the subscription confirmation
        created = await register(client, admin)
        await client.patch(f"/api/servers/{created['id']}", json={"enabled": False}, headers=admin)
        await client.delete(f"/api/servers/{created['id']}", headers=admin)
        seen = await _messages(pubsub, 3)
    assert seen == [{"action": a, "server_id": created["id"]} for a in ("created", "updated", "deleted")]


async def test_testing_a_valid_page_reports_its_families(
    client: Client, pool: asyncpg.Pool, target: TestServer
) -> None:
    _, operator = await session(client, pool, "operator")
    response = await client.post("/api/servers/test", json={"address": address_of(target)}, headers=operator)
    assert response.status == 200, await response.text()
    report = await response.json()
    assert report["reachable"] and report["ok"] and report["http_status"] == 200
    assert (report["sample_count"], report["series_count"]) == (7, 7)
    assert report["metric_families"] == [
        "node_cpu_seconds_total",
        "node_exporter_build_info",
        "http_request_duration_seconds",
    ]
    assert report["node_exporter"] and not report["openmanager_exporter"]


@pytest.mark.parametrize(
    ("path", "reachable", "status", "reason"),
    [
        ("/html", True, 200, "parse"),
        ("/broken", True, 500, "http_status"),
        ("/elsewhere", True, 302, "refused"),
    ],
)
async def test_testing_a_bad_page_reports_why(
    client: Client,
    pool: asyncpg.Pool,
    target: TestServer,
    path: str,
    reachable: bool,
    status: int,
    reason: str,
) -> None:
    _, operator = await session(client, pool, "operator")
    body = {"address": address_of(target), "metrics_path": path}
    response = await client.post("/api/servers/test", json=body, headers=operator)
    assert response.status == 200, await response.text()
    report = await response.json()
    assert (report["reachable"], report["ok"], report["http_status"], report["error_reason"]) == (
        reachable,
        False,
        status,
        reason,
    )
    assert report["error"]


async def test_testing_a_refused_port_reports_unreachable(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    body = {"address": f"127.0.0.1:{free_port()}"}
    response = await client.post("/api/servers/test", json=body, headers=operator)
    report = await response.json()
    assert response.status == 200 and not report["reachable"] and report["error_reason"] == "connection"


async def test_testing_a_metadata_address_is_refused(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    response = await client.post(
        "/api/servers/test", json={"address": "169.254.169.254:80"}, headers=operator
    )
    assert response.status == 422


async def test_testing_a_registered_server(client: Client, pool: asyncpg.Pool, target: TestServer) -> None:
    _, viewer = await session(client, pool, "viewer")
    _, operator = await session(client, pool, "operator")
    created = await register(client, operator, address=address_of(target))
    assert (await client.post(f"/api/servers/{created['id']}/test", headers=viewer)).status == 403
    response = await client.post(f"/api/servers/{created['id']}/test", headers=operator)
    report = await response.json()
    assert response.status == 200 and report["ok"] and report["url"].endswith("/metrics")
    assert (await client.post(f"/api/servers/{uuid.uuid4()}/test", headers=operator)).status in (403, 404)


async def test_a_test_ends_within_its_timeout(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        response = await client.post(
            "/api/servers/test", json={"address": f"127.0.0.1:{port}"}, headers=operator
        )
        report = await response.json()
    finally:
        server.close()
    assert report["error_reason"] == "timeout" and report["duration_s"] < 6
