"""A lease in Redis for what runs once in the cluster (history maintenance, the alert engine).

The holder writes its token (its member id, a space and a random part) under
``{openmanager:cluster}:lease:{name}`` with a TTL and renews it well before expiry; whoever finds the key
gone takes it. Each new holder increments the lease's fencing counter and gets its value: work that outlives
a lost lease can be refused downstream by comparing fences
(maintenance is also serialised by its PostgreSQL advisory lock, so a stale holder can at worst repeat an
idempotent round). The holder counts its lease lost ``ttl_s`` after the renewal's request was sent, before
Redis can give it away, and stops claiming to hold it then.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Final

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from collector.storage import keys

log = structlog.get_logger(__name__)

CLAIM_SCRIPT: Final = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""
"""KEYS: lease, fence; ARGV: token, TTL in ms. Answers the fence when this token holds the lease, else 0."""

RELEASE_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def holder_of(token: str) -> str | None:
    """The member named in a lease's value, None when its holder named none."""
    holder, separator, _ = token.rpartition(" ")
    return holder if separator and holder else None


class Lease:
    """One process's claim on the lease ``name``: :attr:`fence` is set while it holds it."""

    def __init__(
        self,
        redis: aioredis.Redis,
        name: str,
        *,
        ttl_s: float = 15.0,
        on_taken: Callable[[], None] | None = None,
        holder: str = "",
    ) -> None:
        """``on_taken`` is called each time this process takes the lease (not at renewals); ``holder``
        names this process in the lease's value, so that anyone can tell who holds it (:func:`holder_of`)."""
        self.name = name
        self.on_taken = on_taken
        self.fence: int | None = None
        self._redis = redis
        self._ttl_s = ttl_s
        self._token = f"{holder} {secrets.token_hex(16)}" if holder else secrets.token_hex(16)
        self._claim = redis.register_script(CLAIM_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        """True while this process holds the lease (and its TTL has not run out since the last renewal)."""
        return self.fence is not None and asyncio.get_running_loop().time() < self._valid_until

    async def claim(self) -> bool:
        """Take or renew the lease; False when another process holds it or Redis does not answer."""
        sent_at = asyncio.get_running_loop().time()
        try:
            fence = int(
                await self._claim(
                    keys=[keys.lease(self.name), keys.fence(self.name)],
                    args=[self._token, int(self._ttl_s * 1000)],
                )
            )
        except (RedisError, OSError) as exc:
            log.warning("lease not renewed", lease=self.name, error=str(exc) or type(exc).__name__)
            return self.held
        if fence == 0:
            if self.fence is not None:
                log.warning("lease lost", lease=self.name, fence=self.fence)
            self.fence = None
            return False
        taken = fence != self.fence
        self.fence, self._valid_until = fence, sent_at + self._ttl_s
        if taken:
            log.info("lease taken", lease=self.name, fence=fence)
            if self.on_taken is not None:
                self.on_taken()
        return True

    async def start(self) -> None:
        """Claim now, then renew (or try to take) every third of the TTL."""
        await self.claim()
        self._task = asyncio.create_task(self._run(), name=f"lease-{self.name}")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            await self.claim()

    async def close(self) -> None:
        """Stop renewing and give the lease up, so another member takes it at its next try."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.fence is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._release(keys=[keys.lease(self.name)], args=[self._token])
        self.fence = None
