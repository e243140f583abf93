"""Membership: each collector heartbeats into Redis; the live members are those whose heartbeat is fresh.

A heartbeat is one script call on keys under one hash tag (so it runs on a Redis Cluster too): it sets the
member's expiry in ``{openmanager:cluster}:members`` (score = now + TTL, on Redis's clock, so the members'
clocks need not agree), stores its info, drops members whose expiry passed and answers the live ones. A sorted
set of expiries is a heartbeat key with a TTL that can be listed in one command: TTL'd keys per member would
need a ``SCAN`` of every node of a cluster to be found.

A member that stops cleanly leaves at once; one that dies is dropped by the first heartbeat of another member
after its TTL (two heartbeat intervals by default). Every member applies a change of the live set to its
scrape managers as a diff (:mod:`collector.cluster.ownership`). While Redis does not answer, the last view
stays in force: a target is then scraped twice rather than not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from collector.storage import keys

log = structlog.get_logger(__name__)

HEARTBEAT_SCRIPT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, member in ipairs(gone) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
"""KEYS: the members set and the info hash; ARGV: member id, TTL in ms, info JSON. Answers the live ids."""


def default_member_id(listen_port: int) -> str:
    """``<hostname>:<port>``: stable across restarts, so a restarted member gets back the same share."""
    return f"{socket.gethostname()}:{listen_port}"


@dataclass(frozen=True)
class MemberInfo:
    """What a member says about itself at each heartbeat."""

    member: str
    targets: int
    wanted: int
    leader: bool
    pid: int
    started_at: float


class Membership:
    """This process's heartbeat and its view of the live members.

    ``on_change`` gets the new set of live member ids whenever it changes (the first heartbeat included);
    ``describe`` gives the info published with each heartbeat.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        member: str,
        *,
        heartbeat_s: float,
        ttl_s: float,
        on_change: Callable[[frozenset[str]], None],
        describe: Callable[[], dict[str, object]],
    ) -> None:
        if ttl_s <= heartbeat_s:
            raise ValueError("ttl_s must be longer than heartbeat_s")
        self.member = member
        self.members: frozenset[str] = frozenset()
        self._redis = redis
        self._script = redis.register_script(HEARTBEAT_SCRIPT)
        self._heartbeat_s = heartbeat_s
        self._ttl_ms = int(ttl_s * 1000)
        self._on_change = on_change
        self._describe = describe
        self._started_at = time.time()
        self._task: asyncio.Task[None] | None = None
        self.last_beat_at: float | None = None
        self.last_error: str | None = None

    async def start(self) -> None:
        """Heartbeat once now (so this member takes its share at once), then every interval."""
        await self.beat()
        self._task = asyncio.create_task(self._run(), name="cluster-heartbeat")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            # A fixed cadence: a slow heartbeat does not push the next ones later.
            next_at += self._heartbeat_s
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = max(next_at, loop.time() - self._heartbeat_s)
            await self.beat()

    async def beat(self) -> None:
        """One heartbeat; applies a change of the live set. A Redis failure keeps the last view (logged)."""
        info = {
            **self._describe(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self._started_at,
            "ttl_s": self._ttl_ms / 1000,
        }
        try:
            reply = await self._script(
                keys=[keys.CLUSTER_MEMBERS, keys.CLUSTER_INFO],
                args=[self.member, self._ttl_ms, json.dumps(info, separators=(",", ":"))],
            )
        except (RedisError, OSError) as exc:
            if self.last_error is None:
                log.warning(
                    "cluster heartbeat failed, keeping the last view", error=str(exc) or type(exc).__name__
                )
            self.last_error = str(exc) or type(exc).__name__
            return
        self.last_error = None
        self.last_beat_at = time.time()
        members = frozenset(m.decode() if isinstance(m, bytes) else str(m) for m in reply)
        if members != self.members:
            joined, left = sorted(members - self.members), sorted(self.members - members)
            self.members = members
            log.info("cluster members changed", members=len(members), joined=joined, left=left)
            self._on_change(members)

    async def close(self) -> None:
        """Stop heartbeating and leave now, so the others take this member's targets at their next beat."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self._redis.zrem(keys.CLUSTER_MEMBERS, self.member)
            await self._redis.hdel(keys.CLUSTER_INFO, self.member)

    def health(self) -> dict[str, object]:
        """This member's view for ``/api/health``."""
        return {
            "member": self.member,
            "members": sorted(self.members),
            "last_heartbeat_at": self.last_beat_at,
            "error": self.last_error,
        }


async def read_members(redis: aioredis.Redis) -> list[dict[str, object]]:
    """Every live member and what it said at its last heartbeat (for ``/api/health`` on any process)."""
    live, infos = await asyncio.gather(
        redis.zrange(keys.CLUSTER_MEMBERS, 0, -1), redis.hgetall(keys.CLUSTER_INFO)
    )
    out: list[dict[str, object]] = []
    by_member = {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in infos.items()}
    for raw in live:
        member = raw.decode() if isinstance(raw, bytes) else str(raw)
        info = by_member.get(member)
        doc: dict[str, object] = json.loads(info) if info else {}
        out.append({"member": member, **doc})
    return sorted(out, key=lambda doc: str(doc["member"]))
