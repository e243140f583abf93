"""``GET /api/cluster`` on the real stores: members registered by the membership code, their shares of the
target file's targets by the ownership function, the lease holder, grants, the viewer role and an outage."""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import STORES
from api.prometheus.targets import build_all, server_of
from collector.cluster.lease import Lease
from collector.cluster.member import SINGLETON_LEASE, ClusterMember
from collector.cluster.membership import Membership
from collector.cluster.ownership import owners
from collector.config.settings import ClusterSettings, Settings
from collector.config.targets import load_targets
from collector.runtime import ScrapeService
from tests.api.app_client import serving
from tests.api.auth.conftest import Client, session
from tests.api.test_monitoring import assert_error_shape
from tests.conftest import SettingsFactory
from tests.polling import eventually
from tests.ports import free_port
from tests.proxy import TcpProxy, redis_upstream, via_proxy_redis_url

TARGETS = 30
MEMBERS = ("a", "b", "c")


@pytest.fixture
def targets_file(tmp_path: Path) -> Path:
    # Nothing is scraped here: the targets only need identities.
    port = free_port()
    listed = ", ".join(f"'127.0.0.{i + 1}:{port}'" for i in range(TARGETS))
    path = tmp_path / "targets.yaml"
    path.write_text(f"scrape_configs:\n  - job_name: sim\n    static_configs:\n      - targets: [{listed}]\n")
    return path


@pytest.fixture
def cluster_settings(make_settings: SettingsFactory, targets_file: Path, fresh_pg_dsn: str) -> Settings:
    # A database of its own: servers registered by other tests of the run would be targets too.
    return make_settings(targets=str(targets_file), postgres_dsn=fresh_pg_dsn)


@pytest.fixture
async def client(cluster_settings: Settings) -> AsyncIterator[Client]:
    async with serving(create_app(cluster_settings)) as test_client:
        yield test_client


def _identities(targets_file: Path) -> list[str]:
    return [target.identity for target in build_all(load_targets(targets_file), targets_file.parent).active]


async def _join(redis: aioredis.Redis, member: str, replicas: int = 1) -> Membership:
    """``member`` heartbeats once, as a collector's first heartbeat does (a TTL long enough for the test)."""
    membership = Membership(
        redis,
        member,
        heartbeat_s=1.0,
        ttl_s=30.0,
        on_change=lambda _: None,
        describe=lambda: {"targets": 7, "replication_factor": replicas},
    )
    await membership.beat()
    return membership


@pytest.mark.parametrize("replicas", [1, 2])
async def test_shares_follow_the_ownership_function_and_the_lease_holder_is_named(
    client: Client, targets_file: Path, replicas: int
) -> None:
    redis = client.app[STORES].redis
    for member in MEMBERS:
        await _join(redis, member, replicas)
    lease = Lease(redis, SINGLETON_LEASE, holder="b")
    assert await lease.claim()
    _, auth = await session(client, client.app[STORES].pg, "admin")
    response = await client.get("/api/cluster", headers=auth)
    assert response.status == 200, await response.text()
    body = await response.json()
    expected = Counter(
        owner for identity in _identities(targets_file) for owner in owners(identity, MEMBERS, replicas)
    )
    assert {m["member"]: m["share"] for m in body["members"]} == dict(expected)
    assert sum(m["share"] for m in body["members"]) == TARGETS * replicas
    assert all(m["share"] > 0 for m in body["members"])
    assert (body["targets"], body["unowned"], body["replication_factor"], body["scope"]) == (
        TARGETS,
        0,
        replicas,
        "all",
    )
    assert [(m["member"], m["role"]) for m in body["members"]] == [
        ("a", "member"),
        ("b", "leader"),
        ("c", "member"),
    ]
    first = body["members"][0]
    assert (first["host"], first["pid"], first["ttl_s"], first["live"], first["scraping"]) == (
        socket.gethostname(),
        os.getpid(),
        30.0,
        True,
        7,
    )
    assert 0 <= first["heartbeat_age_s"] < 10 and first["started_at"] > 0
    [singletons] = body["leases"]
    assert singletons["name"] == SINGLETON_LEASE and singletons["holder"] == "b"
    assert set(singletons["runs"]) == {"alert_engine", "maintenance"}
    assert singletons["fence"] == lease.fence and 0 < singletons["expires_in_s"] <= 15
    await lease.close()


async def test_shares_are_what_running_collectors_scrape(client: Client, targets_file: Path) -> None:
    redis = client.app[STORES].redis
    settings = ClusterSettings(heartbeat_interval_s=0.05, member_ttl_s=0.5)
    collectors = {name: ScrapeService(targets_file) for name in ("a", "b")}
    members = {
        name: ClusterMember(redis, collector, settings.model_copy(update={"member_id": name}), listen_port=0)
        for name, collector in collectors.items()
    }
    _, auth = await session(client, client.app[STORES].pg, "admin")
    body: dict[str, list[dict[str, object]]] = {}

    async def agrees() -> bool:
        nonlocal body
        body = await (await client.get("/api/cluster", headers=auth)).json()
        scraped = {name: len(collector.targets()) for name, collector in collectors.items()}
        return {str(m["member"]): m["share"] for m in body["members"]} == scraped and all(
            m["scraping"] == m["share"] for m in body["members"]
        )

    try:
        for name, collector in collectors.items():
            await members[name].start()
            await collector.start()
        await eventually(agrees, timeout_s=15, interval_s=0.1)
        assert sum(len(collector.targets()) for collector in collectors.values()) == TARGETS
        leaders = {name for name, member in members.items() if member.lease.held}
        assert {str(m["member"]) for m in body["members"] if m["role"] == "leader"} == leaders
        assert len(leaders) == 1
    finally:
        for name, collector in collectors.items():
            await members[name].close()
            await collector.stop()


async def test_without_members_every_target_is_unowned_and_no_lease_is_held(client: Client) -> None:
    _, auth = await session(client, client.app[STORES].pg, "viewer")
    _, admin = await session(client, client.app[STORES].pg, "admin")
    body = await (await client.get("/api/cluster", headers=admin)).json()
    assert (body["members"], body["targets"], body["unowned"]) == ([], TARGETS, TARGETS)
    assert [(lease["held"], lease["holder"]) for lease in body["leases"]] == [(False, None)]
    assert (await client.get("/api/cluster", headers=auth)).status == 200


async def test_a_viewer_counts_only_the_targets_of_its_granted_servers(
    client: Client, targets_file: Path
) -> None:
    redis, pool = client.app[STORES].redis, client.app[STORES].pg
    for member in MEMBERS:
        await _join(redis, member)
    granted = build_all(load_targets(targets_file), targets_file.parent).active[0]
    server = server_of(granted)
    await pool.execute("INSERT INTO servers (id, name, hostname) VALUES ($1, $2, $2)", server, "granted-1")
    viewer, auth = await session(client, pool, "viewer")
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, server)
    response = await client.get("/api/cluster", headers=auth)
    assert response.status == 200
    body = await response.json()
    assert (body["targets"], body["scope"]) == (1, "granted")
    [owner] = owners(granted.identity, MEMBERS)
    assert {m["member"]: m["share"] for m in body["members"]} == {m: int(m == owner) for m in MEMBERS}
    assert all(m["scraping"] is None for m in body["members"])


async def test_an_anonymous_caller_is_refused(client: Client) -> None:
    response = await client.get("/api/cluster")
    assert response.status == 401
    assert_error_shape(await response.json(), "unauthorized")


async def test_redis_away_is_a_503_in_the_error_shape(
    make_settings: SettingsFactory, targets_file: Path, redis_url: str
) -> None:
    proxy = TcpProxy(redis_upstream(redis_url))
    proxy.open()
    try:
        settings = make_settings(
            targets=str(targets_file), redis_url=via_proxy_redis_url(redis_url, proxy.port)
        )
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
            _, auth = await session(test_client, test_client.app[STORES].pg, "viewer")
            assert (await test_client.get("/api/cluster", headers=auth)).status == 200
            proxy.cut()
            response = await test_client.get("/api/cluster", headers=auth)
            assert response.status == 503
            assert response.headers["Retry-After"]
            body = await response.json()
            assert_error_shape(body, "store_unavailable")
            assert body["error"]["details"]["store"] == "redis"
            proxy.open()
    finally:
        proxy.close()
