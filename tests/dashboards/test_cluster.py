"""The cluster page: the running service and two more members (joined with the real membership code), their
shares as ``GET /api/cluster`` computes them, the lease holder, a refresh dropping members that left."""

from __future__ import annotations

import itertools

import redis as redis_sync
import redis.asyncio as aioredis
from playwright.sync_api import Page, expect

from collector.cluster.membership import Membership
from collector.cluster.ownership import weight
from collector.storage import keys
from collector.storage.live_read import list_servers
from tests.dashboards.conftest import Service, api_call, login, run_async, screenshot


async def _local_identity(redis_url: str) -> str:
    client = aioredis.Redis.from_url(redis_url)
    try:
        [status] = await list_servers(client)
    finally:
        await client.aclose()
    assert status.identity is not None
    return status.identity


async def _join(redis_url: str, members: list[str]) -> None:
    """Each of ``members`` heartbeats once, with a TTL that outlasts the test."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        for member in members:
            await Membership(
                client,
                member,
                heartbeat_s=1.0,
                ttl_s=120.0,
                on_change=lambda _: None,
                describe=lambda: {"targets": 0, "replication_factor": 1},
            ).beat()
    finally:
        await client.aclose()


def _leave(redis_url: str, members: list[str]) -> None:
    client = redis_sync.Redis.from_url(redis_url)
    try:
        client.zrem(keys.CLUSTER_MEMBERS, *members)
        client.hdel(keys.CLUSTER_INFO, *members)
    finally:
        client.close()


def _shares(service: Service) -> dict[str, int]:
    """Each member's share as ``GET /api/cluster`` answers the viewer."""
    body = api_call(service, "viewer", "GET", "/api/cluster")
    assert isinstance(body, dict)
    return {str(m["member"]): int(m["share"]) for m in body["members"]}


def test_members_their_shares_and_the_lease_holder(page: Page, service: Service) -> None:
    [service_member] = _shares(service)
    # Peers ranked below the service for its one target: they join without taking it away from the
    # service, so the scrapes other tests watch go on.
    identity = run_async(_local_identity(service.redis_url))
    top = weight(service_member, identity)
    peers = list(
        itertools.islice((p for i in itertools.count() if weight(p := f"peer-{i}", identity) < top), 2)
    )
    run_async(_join(service.redis_url, peers))
    try:
        shares = _shares(service)
        assert shares == {service_member: 1, peers[0]: 0, peers[1]: 0}
        login(page, service.users["viewer"])
        page.click("nav a:has-text('Cluster')")
        rows = page.locator("#cluster-members tbody tr")
        expect(rows).to_have_count(3)
        for member, share in shares.items():
            row = page.locator(f"#cluster-members tr[data-member='{member}']")
            expect(row.locator(".share-text")).to_have_text(f"{share} ({100 if share else 0}%)")
        leader = page.locator(f"#cluster-members tr[data-member='{service_member}']")
        expect(leader.locator(".role")).to_have_text("Leader")
        expect(page.locator(f"#cluster-members tr[data-member='{peers[0]}'] .role")).to_have_text("Member")
        lease = page.locator(".lease-holder[data-lease='singletons']")
        expect(lease.locator("strong")).to_have_text(service_member)
        expect(lease).to_contain_text("alert engine, maintenance")
        expect(page.locator("#cluster-summary")).to_contain_text("Targets owned by none")
        expect(page.locator("#cluster-summary")).to_contain_text("3 / 3")
        screenshot(page, "cluster")
    finally:
        _leave(service.redis_url, peers)
    # The page reads the cluster again by itself: the peers that left disappear.
    expect(rows).to_have_count(1, timeout=15_000)
    expect(page.locator("#cluster-summary")).to_contain_text("1 / 1")
    page.select_option("#language", "ko")
    expect(page.locator("h1")).to_have_text("클러스터")
    expect(leader.locator(".role")).to_have_text("리더")
    expect(page.locator(".lease-holder")).to_contain_text("알림 엔진")
    screenshot(page, "cluster-ko")
