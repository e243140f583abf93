"""Sessions: rotating refresh tokens in families, the access-token denylist, and ending every session.

A login starts a family. Each refresh spends the presented token and issues the next one in the same family.
A spent or revoked token presented again means two parties hold the family's tokens (one of them a thief),
so the whole family is revoked and both must log in again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis
import structlog

from api.auth import keys
from api.auth.tokens import new_refresh_token, token_hash

log = structlog.get_logger(__name__)


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


class RefreshFailure(Enum):
    """Why a refresh token was refused."""

    UNKNOWN = "unknown"
    REUSED = "reused"
    EXPIRED = "expired"
    USER_DISABLED = "user_disabled"


class RefreshRefusedError(Exception):
    """A refresh token that does not give a new pair."""

    def __init__(self, reason: RefreshFailure) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class Refreshed:
    """The outcome of a successful rotation."""

    user_id: UUID
    refresh_token: str


async def _insert(
    conn: asyncpg.Connection[asyncpg.Record]
    | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
    | asyncpg.Pool,
    user_id: UUID,
    family_id: UUID,
    *,
    now: float,
    ttl_s: int,
) -> str:
    token = new_refresh_token()
    await conn.execute(
        """INSERT INTO refresh_tokens (user_id, family_id, token_hash, issued_at, expires_at)
           VALUES ($1, $2, $3, $4, $5)""",
        user_id,
        family_id,
        token_hash(token),
        _at(now),
        _at(now + ttl_s),
    )
    return token


async def start_session(pool: asyncpg.Pool, user_id: UUID, *, now: float, ttl_s: int) -> str:
    """The first refresh token of a new family for ``user_id``."""
    return await _insert(pool, user_id, uuid.uuid4(), now=now, ttl_s=ttl_s)


async def rotate(pool: asyncpg.Pool, token: str, *, now: float, ttl_s: int) -> Refreshed:
    """Spend ``token`` and issue its successor; raises :class:`RefreshRefusedError`.

    Reuse of a spent or revoked token revokes its whole family before refusing.
    """
    async with pool.acquire() as conn, conn.transaction():
        # FOR UPDATE: of two concurrent uses of one token, the second sees it spent and treats it as reuse.
        row = await conn.fetchrow(
            """SELECT t.id, t.user_id, t.family_id, t.expires_at, t.used_at, t.revoked_at, u.disabled
               FROM refresh_tokens t JOIN users u ON u.id = t.user_id
               WHERE t.token_hash = $1 FOR UPDATE OF t""",
            token_hash(token),
        )
        if row is None:
            raise RefreshRefusedError(RefreshFailure.UNKNOWN)
        if row["used_at"] is not None or row["revoked_at"] is not None:
            await _revoke_family(conn, row["family_id"], now)
            log.warning("refresh token reused; family revoked", user_id=str(row["user_id"]))
            failure = RefreshRefusedError(RefreshFailure.REUSED)
        elif row["expires_at"] <= _at(now):
            failure = RefreshRefusedError(RefreshFailure.EXPIRED)
        elif row["disabled"]:
            failure = RefreshRefusedError(RefreshFailure.USER_DISABLED)
        else:
            await conn.execute("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1", row["id"], _at(now))
            successor = await _insert(conn, row["user_id"], row["family_id"], now=now, ttl_s=ttl_s)
            return Refreshed(row["user_id"], successor)
    # Raised after the transaction commits, so the family's revocation is kept.
    raise failure


async def _revoke_family(
    conn: asyncpg.Connection[asyncpg.Record]
    | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
    | asyncpg.Pool,
    family_id: UUID,
    now: float,
) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        _at(now),
    )


async def revoke_family_of(pool: asyncpg.Pool, token: str, user_id: UUID, *, now: float) -> None:
    """Revoke the family of ``token`` when it belongs to ``user_id`` (logout); anything else is ignored."""
    family = await pool.fetchval(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2",
        token_hash(token),
        user_id,
    )
    if family is not None:
        await _revoke_family(pool, family, now)


async def end_all_sessions(
    pool: asyncpg.Pool, user_id: UUID, *, now: float, password_hash: str | None
) -> None:
    """Revoke every refresh family and API token of ``user_id``; refuse access tokens issued before ``now``.

    With ``password_hash``, the new hash is stored in the same transaction (password change or reset) and
    the account no longer has to change its password. API tokens go too: a token made under the old
    password, or before the account was disabled, must not outlive it (re-enabling brings none back).
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """UPDATE users SET tokens_valid_after = $2, password_hash = coalesce($3, password_hash),
                                must_change_password = must_change_password AND $3::text IS NULL,
                                updated_at = now()
               WHERE id = $1""",
            user_id,
            _at(now),
            password_hash,
        )
        for table in ("refresh_tokens", "api_tokens"):
            await conn.execute(
                f"UPDATE {table} SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",  # noqa: S608
                user_id,
                _at(now),
            )


async def deny_access_token(redis: aioredis.Redis, jti: str, *, ttl_s: int) -> None:
    """Refuse the access token ``jti`` from now on; the entry outlives the token (``ttl_s`` ≥ its life)."""
    await redis.set(keys.revoked_jti(jti), b"1", ex=max(ttl_s, 1))


async def is_access_token_denied(redis: aioredis.Redis, jti: str) -> bool:
    """True when ``jti`` was logged out."""
    return bool(await redis.exists(keys.revoked_jti(jti)))
