"""The cluster seen from outside: its members, each one's share of the targets, the leases and their holders.

Any process (a collector or ``openmanager api``) can read it: :func:`read_cluster` takes what the members
wrote into Redis (their heartbeat expiries, the info of their last heartbeat, the leases' values) with Redis's
clock, and :func:`overview` computes each member's share of a target set with
:func:`~collector.cluster.ownership.tally`, the ownership function the collectors scrape by, over the members
whose heartbeat has not expired. A member whose TTL ran out stays listed (``live`` false, no share) until
another member's heartbeat drops it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, cast

import redis.asyncio as aioredis

from collector.cluster.lease import holder_of
from collector.cluster.member import SINGLETON_DUTIES, SINGLETON_LEASE
from collector.cluster.ownership import tally
from collector.storage import keys

LEASES: Final[Mapping[str, tuple[str, ...]]] = {SINGLETON_LEASE: SINGLETON_DUTIES}
"""Every lease of the cluster and what its holder runs."""


@dataclass(frozen=True)
class MemberState:
    """A member as Redis has it: when its heartbeat expires and what it said at its last one."""

    member: str
    expires_at_ms: int
    """On Redis's clock."""
    info: Mapping[str, object]


@dataclass(frozen=True)
class LeaseState:
    """A lease as Redis has it."""

    name: str
    holder: str | None
    """The holder's member id; None when nobody holds it (or its holder named none)."""
    held: bool
    expires_in_ms: int | None
    fence: int | None


@dataclass(frozen=True)
class ClusterState:
    """What :func:`read_cluster` read, at ``now_ms`` on Redis's clock."""

    now_ms: int
    members: tuple[MemberState, ...]
    leases: tuple[LeaseState, ...]


@dataclass(frozen=True)
class MemberRow:
    """One member in the overview."""

    member: str
    host: str | None
    pid: int | None
    role: Literal["leader", "member"]
    """``leader`` while it holds a lease (it runs the singletons)."""
    started_at: float | None
    """Unix time of the member process's start."""
    heartbeat_age_s: float | None
    """Since its last heartbeat; None when its info does not give its TTL (an older member)."""
    ttl_s: float | None
    expires_in_s: float
    """Until its TTL runs out; negative once it has (``live`` is then false)."""
    live: bool
    share: int
    """Targets it owns by the ownership function; 0 when not live."""
    scraping: int | None
    """Targets it said it scrapes at its last heartbeat."""


@dataclass(frozen=True)
class LeaseRow:
    """One lease in the overview."""

    name: str
    runs: tuple[str, ...]
    held: bool
    holder: str | None
    """None while nobody holds it, or while a holder that names none (an older member) does."""
    expires_in_s: float | None
    fence: int | None


@dataclass(frozen=True)
class ClusterOverview:
    """The members and their shares of ``targets``, the leases, the replication factor."""

    members: tuple[MemberRow, ...]
    leases: tuple[LeaseRow, ...]
    replication_factor: int
    targets: int
    unowned: int
    """Targets that no live member owns: all of them while no member is live."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def read_cluster(redis: aioredis.Redis) -> ClusterState:
    """The members and leases as Redis has them (Redis errors are raised to the caller)."""
    seconds, micros = await redis.time()
    scored = cast(
        "list[tuple[bytes | str, float]]", await redis.zrange(keys.CLUSTER_MEMBERS, 0, -1, withscores=True)
    )
    infos: dict[bytes | str, bytes | str] = await redis.hgetall(keys.CLUSTER_INFO)
    by_member = {_text(key): _text(value) for key, value in infos.items()}
    members = tuple(
        MemberState(_text(raw), int(score), _info(by_member.get(_text(raw)))) for raw, score in scored
    )
    leases = tuple([await _read_lease(redis, name) for name in LEASES])
    return ClusterState(int(seconds) * 1000 + int(micros) // 1000, members, leases)


async def _read_lease(redis: aioredis.Redis, name: str) -> LeaseState:
    token: bytes | str | None = await redis.get(keys.lease(name))
    ttl_ms: int = await redis.pttl(keys.lease(name))
    fence: bytes | str | None = await redis.get(keys.fence(name))
    return LeaseState(
        name,
        holder_of(_text(token)) if token is not None else None,
        token is not None,
        ttl_ms if token is not None and ttl_ms >= 0 else None,
        int(fence) if fence is not None else None,
    )


def _info(raw: str | None) -> Mapping[str, object]:
    if raw is None:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _number(info: Mapping[str, object], name: str) -> float | None:
    value = info.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(info: Mapping[str, object], name: str) -> int | None:
    value = info.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def replication_factor(state: ClusterState, default: int) -> int:
    """The factor the live members said they use (the most common one), else ``default``."""
    said = Counter(
        factor
        for member in state.members
        if member.expires_at_ms > state.now_ms
        and (factor := _integer(member.info, "replication_factor")) is not None
    )
    return said.most_common(1)[0][0] if said else default


def overview(state: ClusterState, identities: Iterable[str], default_replicas: int = 1) -> ClusterOverview:
    """Each member's share of the targets ``identities`` and the leases' holders (pure)."""
    replicas = replication_factor(state, default_replicas)
    live = [member.member for member in state.members if member.expires_at_ms > state.now_ms]
    listed = list(identities)
    counted = tally(listed, live, replicas)
    holders = {lease.holder for lease in state.leases if lease.held}
    rows = []
    for member in sorted(state.members, key=lambda m: m.member):
        ttl_s = _number(member.info, "ttl_s")
        expires_in_s = (member.expires_at_ms - state.now_ms) / 1000
        host = member.info.get("host")
        rows.append(
            MemberRow(
                member=member.member,
                host=host if isinstance(host, str) else None,
                pid=_integer(member.info, "pid"),
                role="leader" if member.member in holders else "member",
                started_at=_number(member.info, "started_at"),
                heartbeat_age_s=round(ttl_s - expires_in_s, 3) if ttl_s is not None else None,
                ttl_s=ttl_s,
                expires_in_s=expires_in_s,
                live=expires_in_s > 0,
                share=counted.shares.get(member.member, 0),
                scraping=_integer(member.info, "targets"),
            )
        )
    leases = tuple(
        LeaseRow(
            lease.name,
            LEASES.get(lease.name, ()),
            lease.held,
            lease.holder if lease.held else None,
            lease.expires_in_ms / 1000 if lease.expires_in_ms is not None else None,
            lease.fence,
        )
        for lease in state.leases
    )
    return ClusterOverview(tuple(rows), leases, replicas, len(listed), counted.unowned)
