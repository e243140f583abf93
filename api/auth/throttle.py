"""Slowing down guessing: attempt counters with lock windows that grow, then expire, kept in Redis.

Each counter is a Redis hash (``count``, ``last`` attempt, ``until``). An attempt is counted *before* the
password or code is checked, so parallel guesses cannot slip past the limit; a success forgives it. From
the ``threshold``-th attempt on, each one locks the key for ``base_lock_s`` doubled per extra attempt, up to
``max_lock_s``; after ``window_s`` without attempts the counter starts over. Nothing locks for ever. Time
comes from the caller's clock so tests can move it; Redis expiry only collects keys nobody touches any more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from api.errors import ApiError

_ATTEMPT = """
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local base = tonumber(ARGV[4])
local max_lock = tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'count', 'last', 'until')
local count = tonumber(state[1]) or 0
local last = tonumber(state[2]) or 0
local locked_until = tonumber(state[3]) or 0
if locked_until > now then
  return string.format('%.3f', locked_until - now)
end
if now - last > window then
  count = 0
end
count = count + 1
if count >= threshold then
  locked_until = now + math.min(base * 2 ^ (count - threshold), max_lock)
end
redis.call('HSET', KEYS[1], 'count', count, 'last', string.format('%.3f', now),
  'until', string.format('%.3f', locked_until))
redis.call('EXPIRE', KEYS[1], math.ceil(window + max_lock))
return '0'
"""

_FORGIVE_ONE = """
local count = tonumber(redis.call('HGET', KEYS[1], 'count')) or 0
if count > 0 then
  redis.call('HSET', KEYS[1], 'count', count - 1)
end
return 0
"""


@dataclass(frozen=True)
class Limit:
    """How many attempts a key gets before it is locked, and for how long."""

    threshold: int
    window_s: float
    base_lock_s: float
    max_lock_s: float


LOGIN_ACCOUNT = Limit(threshold=5, window_s=900, base_lock_s=30, max_lock_s=900)
"""Per account name: the 5th attempt in a row locks for 30 s, then 60 s, 120 s … up to 15 minutes."""

LOGIN_ADDRESS = Limit(threshold=20, window_s=900, base_lock_s=30, max_lock_s=900)
"""Per client address: looser, since several people may share one address."""

TOTP_CODES = Limit(threshold=5, window_s=300, base_lock_s=300, max_lock_s=300)
"""Per user: 5 codes, then 5 minutes without trying."""


async def attempt(redis: aioredis.Redis, key: str, limit: Limit, *, now: float) -> float:
    """Count an attempt on ``key``: 0 when it may go ahead, else the seconds until it may be tried again."""
    result = await redis.eval(
        # Milliseconds, written the same way on both sides: Lua's tostring keeps only 14 digits.
        _ATTEMPT,
        1,
        key,
        f"{now:.3f}",
        limit.threshold,
        limit.window_s,
        limit.base_lock_s,
        limit.max_lock_s,
    )
    return float(result)


async def forgive(redis: aioredis.Redis, key: str, *, reset: bool) -> None:
    """Undo the counted attempt after a success; ``reset`` clears the key's whole history instead."""
    if reset:
        await redis.delete(key)
    else:
        await redis.eval(_FORGIVE_ONE, 1, key)


def too_many_attempts(wait_s: float, what: str) -> ApiError:
    """The 429 for a locked key, with ``Retry-After`` in whole seconds."""
    retry_after = max(1, math.ceil(wait_s))
    return ApiError(
        429,
        f"too many {what}; try again in {retry_after} s",
        code="too_many_attempts",
        details={"retry_after_s": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


async def enforce(redis: aioredis.Redis, key: str, limit: Limit, *, now: float, what: str) -> None:
    """Count an attempt on ``key`` or raise the 429 when it is locked."""
    wait_s = await attempt(redis, key, limit, now=now)
    if wait_s > 0:
        raise too_many_attempts(wait_s, what)
