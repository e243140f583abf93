"""Slowing down guessing: failure counters with delays that grow, then expire, kept in Redis.

Each counter is a Redis hash (``count``, ``last`` attempt, ``until``). An attempt is counted *before* the
password or code is checked, so parallel guesses cannot slip past the limit; a success forgives it. From
the ``threshold``-th attempt on, each one makes the key wait ``base_lock_s`` doubled per extra attempt, up to
``max_lock_s``, before the next; after ``window_s`` without attempts the counter starts over. Nothing locks
for ever. Time comes from the caller's clock so tests can move it; Redis expiry only collects keys nobody
touches any more.

Logins are counted per (account, client address) pair, so guessing from one place delays that place only: the
account's owner, logging in from an address with no failures, is never refused (:func:`login_attempt`). Two
looser counters stop what pairs cannot see: one address guessing many accounts, and many addresses guessing
one account, which makes every failing pair on that account wait much longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from api.auth import keys
from api.errors import ApiError

# KEYS: the counters; ARGV: now, then threshold, window, base and max lock of each key in turn. Either every
# key is counted or, when one of them must still wait, none is.
_ATTEMPT = """
local now = tonumber(ARGV[1])
local states = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'count', 'last', 'until')
  local locked_until = tonumber(state[3]) or 0
  if locked_until - now > wait then
    wait = locked_until - now
  end
  states[i] = state
end
if wait > 0 then
  return string.format('%.3f', wait)
end
for i, key in ipairs(KEYS) do
  local at = 1 + (i - 1) * 4
  local threshold = tonumber(ARGV[at + 1])
  local window = tonumber(ARGV[at + 2])
  local base = tonumber(ARGV[at + 3])
  local max_lock = tonumber(ARGV[at + 4])
  local count = tonumber(states[i][1]) or 0
  local last = tonumber(states[i][2]) or 0
  local locked_until = 0
  if now - last > window then
    count = 0
  end
  count = count + 1
  if count >= threshold then
    locked_until = now + math.min(base * 2 ^ (count - threshold), max_lock)
  end
  redis.call('HSET', key, 'count', count, 'last', string.format('%.3f', now),
    'until', string.format('%.3f', locked_until))
  redis.call('EXPIRE', key, math.ceil(window + max_lock))
end
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
    """How many attempts a key gets before each further one must wait, and how long."""

    threshold: int
    window_s: float
    base_lock_s: float
    max_lock_s: float


LOGIN_PAIR = Limit(threshold=5, window_s=900, base_lock_s=1, max_lock_s=900)
"""Per account and client address: from the 5th failure on, 1 s, then 2 s, 4 s … up to 15 minutes."""

LOGIN_PAIR_UNDER_ATTACK = Limit(threshold=1, window_s=3600, base_lock_s=60, max_lock_s=3600)
"""Per account and address while the account is under attack from many addresses: every failure makes that
pair wait, from a minute up to an hour. A pair without failures still logs in at once."""

LOGIN_ACCOUNT_ATTACK = Limit(threshold=50, window_s=3600, base_lock_s=0, max_lock_s=0)
"""Per account, every address together: 50 failures within an hour mean an attack. Never locks by itself."""

LOGIN_ADDRESS = Limit(threshold=30, window_s=900, base_lock_s=1, max_lock_s=900)
"""Per client address, every account together (one address trying many accounts): looser than a pair,
since several people may share an address."""

REAUTH = Limit(threshold=5, window_s=900, base_lock_s=30, max_lock_s=900)
"""Per user: the current password asked for again in a session (password change, TOTP enrolment)."""

TOTP_CODES = Limit(threshold=5, window_s=300, base_lock_s=300, max_lock_s=300)
"""Per user: 5 codes, then 5 minutes without trying."""


async def attempt_all(redis: aioredis.Redis, limits: list[tuple[str, Limit]], *, now: float) -> float:
    """Count an attempt on every key at once: 0 when it may go ahead, else the seconds until it may."""
    args: list[str | float] = [f"{now:.3f}"]
    for _, limit in limits:
        args.extend([limit.threshold, limit.window_s, limit.base_lock_s, limit.max_lock_s])
    # Milliseconds, written the same way on both sides: Lua's tostring keeps only 14 digits.
    result = await redis.eval(_ATTEMPT, len(limits), *[key for key, _ in limits], *args)
    return float(result)


async def attempt(redis: aioredis.Redis, key: str, limit: Limit, *, now: float) -> float:
    """Count an attempt on ``key``: 0 when it may go ahead, else the seconds until it may be tried again."""
    return await attempt_all(redis, [(key, limit)], now=now)


async def failures(redis: aioredis.Redis, key: str, limit: Limit, *, now: float) -> int:
    """The attempts counted on ``key`` within its window (0 once the window has passed)."""
    count, last = await redis.hmget(key, ["count", "last"])
    if count is None or last is None or now - float(last) > limit.window_s:
        return 0
    return int(count)


async def forgive(redis: aioredis.Redis, key: str, *, reset: bool) -> None:
    """Undo the counted attempt after a success; ``reset`` clears the key's whole history instead."""
    if reset:
        await redis.delete(key)
    else:
        await redis.eval(_FORGIVE_ONE, 1, key)


def too_many_attempts(wait_s: float, what: str) -> ApiError:
    """The 429 for a key that must wait, with ``Retry-After`` in whole seconds."""
    retry_after = max(1, math.ceil(wait_s))
    return ApiError(
        429,
        f"too many {what}; try again in {retry_after} s",
        code="too_many_attempts",
        details={"retry_after_s": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


async def enforce(redis: aioredis.Redis, key: str, limit: Limit, *, now: float, what: str) -> None:
    """Count an attempt on ``key`` or raise the 429 when it must wait."""
    wait_s = await attempt(redis, key, limit, now=now)
    if wait_s > 0:
        raise too_many_attempts(wait_s, what)


@dataclass(frozen=True)
class LoginKeys:
    """The counters one login attempt touches."""

    pair: str
    address: str
    account: str

    @classmethod
    def of(cls, username: str, address: str) -> LoginKeys:
        """The counters of ``username`` tried from ``address`` (as bucketed by ``address_bucket``)."""
        pair = keys.throttle_pair(username, address)
        return cls(pair, keys.throttle_address(address), keys.throttle_account(username))


async def login_attempt(redis: aioredis.Redis, counters: LoginKeys, *, now: float) -> None:
    """Count a login attempt, or raise the 429 while this pair or address must wait.

    Read before counting, the account's failures decide how patient the pair's limit is; a race there only
    lets one attempt in under the gentler limit.
    """
    under_attack = await failures(redis, counters.account, LOGIN_ACCOUNT_ATTACK, now=now) >= (
        LOGIN_ACCOUNT_ATTACK.threshold
    )
    pair_limit = LOGIN_PAIR_UNDER_ATTACK if under_attack else LOGIN_PAIR
    wait_s = await attempt_all(
        redis,
        [
            (counters.pair, pair_limit),
            (counters.address, LOGIN_ADDRESS),
            (counters.account, LOGIN_ACCOUNT_ATTACK),
        ],
        now=now,
    )
    if wait_s > 0:
        raise too_many_attempts(wait_s, "failed logins from your address")


async def login_succeeded(redis: aioredis.Redis, counters: LoginKeys) -> None:
    """Forget this pair's failures; take back the success from the address's and the account's counts."""
    await forgive(redis, counters.pair, reset=True)
    await forgive(redis, counters.address, reset=False)
    await forgive(redis, counters.account, reset=False)
