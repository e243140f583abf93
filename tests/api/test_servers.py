"""``/api/servers``: inventory, roles and grants, validation, the address policy, jobs of the target file,
addresses already monitored, change events, the connection test routes. Names are resolved by a fake
resolver, and no connection leaves loopback."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio.client import PubSub

from api.keys import STORES
from collector.config.api_settings import RegistrationSettings
from collector.config.settings import Settings
from collector.result import server_id_for
from collector.runtime import ScrapeService, ScrapeServiceOptions
from collector.storage import keys
from collector.storage.servers import RegisteredServer, registered_targets
from tests.api import servers_support
from tests.api.auth.conftest import Client, session
from tests.api.servers_support import address_of, new_address, new_job, open_client, register
from tests.api.test_monitoring import assert_error_shape
from tests.loopback import FakeResolver

# The fixtures of servers_support, bound here so that pytest finds them by name.
_loopback_only = servers_support.loopback
resolver = servers_support.resolver
client = servers_support.client
pool = servers_support.pool
target = servers_support.target


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
    address = new_address()
    created = await register(
        client, operator, job=job, address=address, labels={"env": "prod"}, scrape_interval="30s"
    )
    server_id = created["id"]
    assert server_id == str(server_id_for(job, address))
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
    first = await register(client, admin)
    second = await register(client, admin)
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
    await client.app[STORES].redis.set(keys.server_status(created["id"]), json.dumps(status))
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
    body = {"name": "web-1", "address": new_address(), **fields}
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
        f"/api/servers/{created['id']}", json={"address": new_address()}, headers=operator
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


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254:80",
        "0xa9.0xfe.0xa9.0xfe:80",
        "2852039166:80",
        "0251.0376.0251.0376:80",
        "169.254.43518:80",
        "[::ffff:169.254.169.254]:80",
        "[64:ff9b::a9fe:a9fe]:80",
        "[fe80::1]:80",
        "[fd00:ec2::254]:80",
        "100.100.100.200:80",
        "metadata.google.internal:80",
        "instance-data:80",
        "rebound.test:80",
        "mixed.test:80",
    ],
)
async def test_registering_a_metadata_address_in_any_form_is_422(
    client: Client, pool: asyncpg.Pool, resolver: FakeResolver, address: str
) -> None:
    resolver.answers["rebound.test"] = ["169.254.169.254"]
    resolver.answers["mixed.test"] = ["10.0.0.5", "::ffff:a9fe:a9fe"]
    _, admin = await session(client, pool, "admin")
    response = await client.post("/api/servers", json={"name": "m", "address": address}, headers=admin)
    assert response.status == 422, await response.text()
    document = await response.json()
    assert document["error"]["details"][0]["field"].startswith("address")
    assert "metadata" in json.dumps(document["error"])


@pytest.mark.parametrize(
    ("registration", "address", "allowed"),
    [
        ({"deny_networks": ["10.0.0.0/8"]}, "10.1.2.3:9100", False),
        ({"deny_networks": ["10.0.0.0/8"]}, "[::ffff:10.1.2.3]:9100", False),
        ({"deny_networks": ["10.0.0.0/8"]}, "192.168.7.7:9100", True),
        ({"allow_networks": ["192.168.0.0/16"]}, "10.1.2.3:9100", False),
        ({"allow_networks": ["192.168.0.0/16"]}, "192.168.7.8:9100", True),
        ({"allow_networks": ["192.168.0.0/16"]}, "exporter.test:9100", False),
        ({"deny_networks": ["127.0.0.0/8"]}, "exporter.test:9100", False),
    ],
)
async def test_the_administrators_networks_decide_what_may_be_registered(
    settings: Settings, resolver: FakeResolver, registration: dict[str, Any], address: str, allowed: bool
) -> None:
    limited = settings.model_copy(update={"registration": RegistrationSettings.model_validate(registration)})
    async for client in open_client(limited, resolver):
        pool = client.app[STORES].pg
        await pool.execute("DELETE FROM servers WHERE address = $1", address)
        _, operator = await session(client, pool, "operator")
        response = await client.post(
            "/api/servers", json={"name": "n", "address": address, "job": new_job()}, headers=operator
        )
        assert response.status == (201 if allowed else 422), await response.text()
        if not allowed:
            assert "administrator" in (await response.json())["error"]["message"]


async def only(pool: asyncpg.Pool, server_id: str) -> list[RegisteredServer]:
    """The registered servers as the collector reads them, but only this test's (the database is shared)."""
    return [s for s in await registered_targets(pool) if str(s.id) == server_id]


FILE_JOB = """\
scrape_configs:
  - job_name: node
    authorization:
      credentials: s3cr3t
    static_configs:
      - targets: ['{address}']
"""


async def test_a_job_of_the_target_file_is_refused_unless_an_admin_asks_for_it(
    client: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    settings.targets.write_text(FILE_JOB.format(address=new_address()))
    _, operator = await session(client, pool, "operator")
    _, admin = await session(client, pool, "admin")
    address = new_address()
    body = {"name": "n", "address": address, "job": "node"}
    refused = await client.post("/api/servers", json=body, headers=operator)
    assert refused.status == 403 and "target file" in (await refused.json())["error"]["message"]
    flagged = await client.post("/api/servers", json={**body, "join_target_file_job": True}, headers=operator)
    assert flagged.status == 403
    unflagged = await client.post("/api/servers", json=body, headers=admin)
    assert unflagged.status == 422
    assert (await unflagged.json())["error"]["details"] == [
        {"field": "job", "problem": "a job of the target file"}
    ]
    joined = await client.post("/api/servers", json={**body, "join_target_file_job": True}, headers=admin)
    assert joined.status == 201, await joined.text()
    assert (await joined.json())["job"] == "node"
    other = await client.post(
        "/api/servers", json={**body, "address": new_address(), "job": new_job()}, headers=operator
    )
    assert other.status == 201, "another job is fine"


async def test_a_server_an_admin_joins_to_a_file_job_is_scraped_without_that_jobs_credentials(
    client: Client, pool: asyncpg.Pool, settings: Settings, target: TestServer
) -> None:
    seen: list[str | None] = []

    async def metrics(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(text="up_total 1\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    exporter = TestServer(app, host="127.0.0.1")
    await exporter.start_server()
    settings.targets.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n" + FILE_JOB.format(address=address_of(target))
    )
    _, admin = await session(client, pool, "admin")
    created = await register(
        client, admin, address=address_of(exporter), job="node", join_target_file_job=True
    )
    collector = ScrapeService(
        settings.targets,
        ScrapeServiceOptions(watch_interval_s=0.2),
        registered=lambda: only(pool, created["id"]),
        registration=settings.registration,
    )
    await collector.start()
    try:
        await asyncio.sleep(2.5)
        views = [t for t in collector.targets() if dict(t.labels).get("instance") == created["address"]]
    finally:
        await collector.stop()
        await exporter.close()
    assert views and views[0].state.health == "up" and views[0].job == "node"
    assert seen and set(seen) == {None}, "the file job's token was sent to a registered server"


async def _conflict(client: Client, auth: dict[str, str], address: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/servers", json={"name": "again", "address": address, "job": new_job(), **fields}, headers=auth
    )
    assert response.status == 409, await response.text()
    document: dict[str, Any] = await response.json()
    assert_error_shape(document, "conflict")
    return document


@pytest.mark.parametrize(
    "spelling",
    [
        "127.0.0.1:{port}",
        "localhost:{port}",
        "exporter.test:{port}",
        "[::ffff:127.0.0.1]:{port}",
        "0x7f.1:{port}",
    ],
)
async def test_an_address_already_monitored_is_refused_whatever_the_job_and_spelling(
    client: Client, pool: asyncpg.Pool, target: TestServer, spelling: str
) -> None:
    _, owner_auth = await session(client, pool, "operator")
    _, intruder = await session(client, pool, "operator")
    _, admin = await session(client, pool, "admin")
    created = await register(client, owner_auth, address=address_of(target))
    address = spelling.format(port=target.port)
    hidden = await _conflict(client, intruder, address)
    assert hidden["error"]["details"] == {"address": address}
    assert created["id"] not in json.dumps(hidden) and created["job"] not in json.dumps(hidden)
    shown = await _conflict(client, admin, address)
    assert (shown["error"]["details"]["server_id"], shown["error"]["details"]["job"]) == (
        created["id"],
        created["job"],
    )
    assert (await _conflict(client, owner_auth, address))["error"]["details"]["server_id"] == created["id"]


async def test_an_address_of_the_target_file_is_refused_and_named_only_to_admins(
    client: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    address = new_address()
    settings.targets.write_text(FILE_JOB.format(address=address))
    _, operator = await session(client, pool, "operator")
    _, admin = await session(client, pool, "admin")
    hidden = await _conflict(client, operator, address)
    assert hidden["error"]["details"] == {"address": address} and "node" not in hidden["error"]["message"]
    shown = await _conflict(client, admin, address)
    assert shown["error"]["details"]["job"] == "node"
    assert shown["error"]["details"]["server_id"] == str(server_id_for("node", address))


async def test_a_name_registered_as_loopback_and_rebound_to_metadata_is_refused_at_scrape_time(
    client: Client, pool: asyncpg.Pool, settings: Settings, resolver: FakeResolver, target: TestServer
) -> None:
    settings.targets.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs: []\n")
    _, operator = await session(client, pool, "operator")
    created = await register(client, operator, address=f"exporter.test:{target.port}")
    scrape_dns = FakeResolver({"exporter.test": ["169.254.169.254"]})
    collector = ScrapeService(
        settings.targets,
        ScrapeServiceOptions(watch_interval_s=0.2),
        registered=lambda: only(pool, created["id"]),
        registration=settings.registration,
        resolver=scrape_dns,
    )
    await collector.start()
    try:
        deadline = time.monotonic() + 5
        view = None
        while time.monotonic() < deadline:
            views = [t for t in collector.targets() if dict(t.labels).get("instance") == created["address"]]
            view = views[0] if views else None
            if view is not None and view.state.health != "unknown":
                break
            await asyncio.sleep(0.1)
    finally:
        await collector.stop()
    assert view is not None and view.state.health == "down"
    assert view.state.last_error == (
        f"connection to exporter.test:{target.port} refused by the address policy:"
        " a link-local or cloud metadata address"
    )
    assert "exporter.test" in scrape_dns.asked
