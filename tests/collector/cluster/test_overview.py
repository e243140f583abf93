"""The cluster overview: shares by the ownership function over the live members, roles from the leases'
holders, ages on Redis's clock (pure), and what :func:`read_cluster` reads from the real Redis."""

from __future__ import annotations

from collections import Counter

import pytest
import redis.asyncio as aioredis

from collector.cluster.lease import Lease
from collector.cluster.member import SINGLETON_LEASE
from collector.cluster.membership import Membership
from collector.cluster.overview import (
    ClusterState,
    LeaseState,
    MemberState,
    overview,
    read_cluster,
    replication_factor,
)
from collector.cluster.ownership import owners

NOW_MS = 1_700_000_000_000
TARGETS = [f"{i:064x}" for i in range(200)]


def _member(name: str, expires_in_ms: int, **info: object) -> MemberState:
    return MemberState(name, NOW_MS + expires_in_ms, {"ttl_s": 2.0, **info})


def _state(*members: MemberState, holder: str | None = None) -> ClusterState:
    lease = LeaseState(
        SINGLETON_LEASE, holder, holder is not None, 9000 if holder else None, 3 if holder else None
    )
    return ClusterState(NOW_MS, members, (lease,))


def test_shares_are_the_ownership_function_over_the_live_members() -> None:
    state = _state(_member("a", 1500), _member("b", 500), _member("c", 1900))
    seen = overview(state, TARGETS)
    expected = Counter(owners(t, ["a", "b", "c"])[0] for t in TARGETS)
    assert {row.member: row.share for row in seen.members} == dict(expected)
    assert sum(row.share for row in seen.members) == seen.targets == len(TARGETS)
    assert seen.unowned == 0


def test_an_expired_member_is_listed_without_a_share_and_its_targets_go_to_the_others() -> None:
    state = _state(_member("a", 1500), _member("dead", -300))
    seen = overview(state, TARGETS)
    rows = {row.member: row for row in seen.members}
    assert (rows["dead"].live, rows["dead"].share) == (False, 0)
    assert (rows["a"].live, rows["a"].share) == (True, len(TARGETS))
    assert rows["dead"].heartbeat_age_s == pytest.approx(2.3)


def test_without_a_live_member_every_target_is_unowned() -> None:
    seen = overview(_state(_member("dead", -1)), TARGETS)
    assert (seen.unowned, [row.share for row in seen.members]) == (len(TARGETS), [0])


def test_heartbeat_age_comes_from_the_ttl_and_the_expiry_on_redis_clock() -> None:
    row = overview(_state(_member("a", 1250, host="h1", pid=42, started_at=1.5, targets=9)), []).members[0]
    assert (row.heartbeat_age_s, row.expires_in_s, row.ttl_s) == (0.75, 1.25, 2.0)
    assert (row.host, row.pid, row.started_at, row.scraping) == ("h1", 42, 1.5, 9)


def test_an_older_member_without_ttl_or_host_has_unknown_fields() -> None:
    state = ClusterState(NOW_MS, (MemberState("old", NOW_MS + 1000, {"pid": True, "host": 5}),), ())
    row = overview(state, TARGETS).members[0]
    assert (row.heartbeat_age_s, row.ttl_s, row.host, row.pid, row.share) == (None, None, None, None, 200)


def test_the_lease_holder_is_the_leader() -> None:
    seen = overview(_state(_member("a", 1000), _member("b", 1000), holder="b"), TARGETS)
    assert [(row.member, row.role) for row in seen.members] == [("a", "member"), ("b", "leader")]
    [lease] = seen.leases
    assert (lease.name, lease.held, lease.holder, lease.expires_in_s, lease.fence) == (
        SINGLETON_LEASE,
        True,
        "b",
        9.0,
        3,
    )
    assert lease.runs == ("alert_engine", "maintenance")


def test_a_lease_held_by_a_member_naming_none_is_held_without_a_leader() -> None:
    lease = LeaseState(SINGLETON_LEASE, None, True, 4000, 7)
    seen = overview(ClusterState(NOW_MS, (_member("a", 1000),), (lease,)), TARGETS)
    assert [(row.held, row.holder) for row in seen.leases] == [(True, None)]
    assert [row.role for row in seen.members] == ["member"]


@pytest.mark.parametrize(
    ("factors", "default", "expected"),
    [((), 1, 1), ((), 2, 2), ((2, 2), 1, 2), ((1, 2, 2), 1, 2), ((None,), 2, 2)],
)
def test_replication_factor_is_what_the_live_members_say(
    factors: tuple[int | None, ...], default: int, expected: int
) -> None:
    members = [
        _member(f"m{i}", 1000, **({} if f is None else {"replication_factor": f}))
        for i, f in enumerate(factors)
    ]
    members.append(_member("dead", -1, replication_factor=3))
    assert replication_factor(_state(*members), default) == expected


def test_with_two_replicas_every_target_counts_for_two_members() -> None:
    state = _state(*(_member(m, 1000, replication_factor=2) for m in ("a", "b", "c")))
    seen = overview(state, TARGETS, default_replicas=1)
    assert seen.replication_factor == 2
    assert sum(row.share for row in seen.members) == 2 * len(TARGETS)


async def test_read_cluster_reads_members_and_the_lease_holder_from_redis(
    flushed_redis: aioredis.Redis,
) -> None:
    memberships = [
        Membership(
            flushed_redis,
            name,
            heartbeat_s=1.0,
            ttl_s=5.0,
            on_change=lambda _: None,
            describe=lambda: {"targets": 4},
        )
        for name in ("x", "y")
    ]
    for membership in memberships:
        await membership.beat()
    lease = Lease(flushed_redis, SINGLETON_LEASE, holder="y")
    await lease.claim()
    state = await read_cluster(flushed_redis)
    assert [m.member for m in state.members] == ["x", "y"]
    assert all(0 < m.expires_at_ms - state.now_ms <= 5000 for m in state.members)
    assert state.members[0].info["targets"] == 4 and state.members[0].info["ttl_s"] == 5.0
    [held] = state.leases
    assert (held.name, held.holder, held.held, held.fence) == (SINGLETON_LEASE, "y", True, 1)
    assert held.expires_in_ms is not None and 0 < held.expires_in_ms <= 15_000
    await lease.close()
    [released] = (await read_cluster(flushed_redis)).leases
    assert (released.holder, released.held, released.expires_in_ms, released.fence) == (None, False, None, 1)
