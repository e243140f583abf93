"""TOTP (RFC 6238): enrolment with a provisioning URI, and verification that accepts ±1 step once only.

A code is tied to its time step; each step a user spends is recorded in ``totp_used``, so an observed code
cannot be replayed within its validity. Pending enrolments wait in Redis until confirmed with a code, sealed
under the process's secrets key like the confirmed secrets in PostgreSQL (a copy of Redis's memory or of
its dump file does not give a second factor away).
"""

from __future__ import annotations

import hmac
from uuid import UUID

import asyncpg
import pyotp
import redis.asyncio as aioredis

from api.auth import keys
from collector.secrets import active
from collector.secrets.keyring import SecretKeyError, place

ISSUER = "OpenManager"
STEP_S = 30
DIGITS = 6
PENDING_TTL_S = 600
ACCEPTED_OFFSETS = (0, -1, 1)
"""The current step and one either side, for clock drift and typing time."""


def new_secret() -> str:
    """A random base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def code_at(secret: str, step: int) -> str:
    """The code for time step ``step``."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).generate_otp(step)


def matching_step(secret: str, code: str, *, now: float) -> int | None:
    """The time step whose code ``code`` is, within ±1 step of ``now``; None when it matches none."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = int(now // STEP_S)
    for offset in ACCEPTED_OFFSETS:
        if hmac.compare_digest(code_at(secret, current + offset), code):
            return current + offset
    return None


async def spend_step(pool: asyncpg.Pool, user_id: UUID, step: int) -> bool:
    """Record ``step`` as used by ``user_id``; False when it already was (a replay)."""
    async with pool.acquire() as conn, conn.transaction():
        # Steps older than the accepted window can never match again, so their rows are dropped.
        await conn.execute(
            "DELETE FROM totp_used WHERE user_id = $1 AND step < $2",
            user_id,
            step - 2 * len(ACCEPTED_OFFSETS),
        )
        inserted = await conn.fetchval(
            "INSERT INTO totp_used (user_id, step) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING step",
            user_id,
            step,
        )
    return inserted is not None


async def verify_once(pool: asyncpg.Pool, user_id: UUID, secret: str, code: str, *, now: float) -> bool:
    """True when ``code`` is valid now and its step was not used before by ``user_id``."""
    step = matching_step(secret, code, now=now)
    return step is not None and await spend_step(pool, user_id, step)


def _pending_place(user_id: UUID) -> bytes:
    """The associated data of a pending secret: it opens only as this user's pending enrolment."""
    return place("redis", "totp:pending", user_id)


async def store_pending(redis: aioredis.Redis, user_id: UUID, secret: str) -> None:
    """Keep an enrolled secret, sealed, until it is confirmed (or abandoned: it expires)."""
    sealed = active.keyring().seal_text(secret, _pending_place(user_id))
    await redis.set(keys.pending_totp(user_id), sealed, ex=PENDING_TTL_S)


async def pending(redis: aioredis.Redis, user_id: UUID) -> str | None:
    """The secret waiting for confirmation, if any.

    One that no longer opens (sealed under a key since dropped from the key file, or not a sealed value)
    counts as none: the user enrols again.
    """
    value = await redis.get(keys.pending_totp(user_id))
    if value is None:
        return None
    blob = value if isinstance(value, bytes) else str(value).encode()
    try:
        return active.keyring().open_text(blob, _pending_place(user_id))
    except SecretKeyError:
        return None


async def drop_pending(redis: aioredis.Redis, user_id: UUID) -> None:
    """Forget a pending secret (confirmed, or replaced)."""
    await redis.delete(keys.pending_totp(user_id))
