"""Checking a password and a TOTP code under throttling, and issuing the token pair.

A login for an unknown name costs the same argon2 verification as a wrong password (against a dummy hash),
so timing does not tell which names exist. Verification runs in a worker thread: it takes ~50 ms of CPU.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from uuid import UUID

import asyncpg
import redis.asyncio as aioredis

from api.auth import keys
from api.auth.accounts import Credentials, credentials_by_name, set_password_hash
from api.auth.sessions import start_session
from api.auth.state import AuthConfig
from api.auth.throttle import TOTP_CODES, LoginKeys, enforce, forgive, login_attempt, login_succeeded
from api.auth.tokens import issue_access_token
from api.auth.totp import verify_once
from api.client_address import address_bucket
from api.errors import ApiError
from api.passwords import hash_password, needs_rehash, verify_password
from collector.storage.users import Role


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _verify(stored_hash: str | None, password: str) -> bool:
    return verify_password(stored_hash or _dummy_hash(), password) and stored_hash is not None


async def password_matches(stored_hash: str | None, password: str) -> bool:
    """Verify ``password`` off the event loop; with no hash (unknown user) a dummy one costs the same."""
    return await asyncio.to_thread(_verify, stored_hash, password)


async def check_password(
    pool: asyncpg.Pool, redis: aioredis.Redis, *, username: str, password: str, client: str, now: float
) -> Credentials:
    """The account when ``password`` is right; 401 when not, 429 while this name and client address (or the
    address alone) must wait after failures (see :mod:`~api.auth.throttle`)."""
    counters = LoginKeys.of(username, address_bucket(client))
    await login_attempt(redis, counters, now=now)
    user = await credentials_by_name(pool, username)
    if not await password_matches(user.password_hash if user else None, password) or user is None:
        raise ApiError(401, "wrong username or password", code="invalid_credentials")
    await login_succeeded(redis, counters)
    if user.disabled:
        raise ApiError(403, "this account is disabled; ask an administrator", code="account_disabled")
    if needs_rehash(user.password_hash):
        await set_password_hash(pool, user.id, await asyncio.to_thread(hash_password, password))
    return user


async def check_totp(
    pool: asyncpg.Pool, redis: aioredis.Redis, user_id: UUID, secret: str, code: str, *, now: float
) -> None:
    """Accept ``code`` once (±1 step, never a step twice); 401 ``invalid_totp``, 429 after too many tries."""
    key = keys.throttle_totp(user_id)
    await enforce(redis, key, TOTP_CODES, now=now, what="TOTP codes")
    if not await verify_once(pool, user_id, secret, code, now=now):
        raise ApiError(
            401, "the TOTP code is wrong or was already used; wait for the next one", code="invalid_totp"
        )
    await forgive(redis, key, reset=True)


async def issue_tokens(
    pool: asyncpg.Pool, config: AuthConfig, user_id: UUID, role: Role
) -> dict[str, object]:
    """A new session: an access token and the first refresh token of a new family."""
    now = config.clock()
    refresh = await start_session(pool, user_id, now=now, ttl_s=config.refresh_token_ttl_s)
    return token_pair(config, user_id, role, refresh, now=now)


def token_pair(
    config: AuthConfig, user_id: UUID, role: Role, refresh_token: str, *, now: float
) -> dict[str, object]:
    """The login and refresh response body."""
    access = issue_access_token(config.jwt_secret, user_id, role, now=now, ttl_s=config.access_token_ttl_s)
    return {
        "access_token": access,
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": config.access_token_ttl_s,
    }
