"""What a remote action request must pass here before anything is signed: the per-user rate limit, the
signing key, and for a destructive action the step-up, a fresh TOTP code of the caller.

Step-up refusals are 403 (``totp_not_enrolled``, ``totp_required``, ``invalid_totp``), never 401: the caller
is authenticated, and a 401 would end the dashboard's session. A code is accepted once (its time step is
spent, as at login) and codes count against the same per-user limit as the login's.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.auth import keys as auth_keys
from api.auth import totp
from api.auth.accounts import credentials_by_id
from api.auth.principal import Principal
from api.auth.throttle import TOTP_CODES, enforce, forgive
from api.errors import ApiError
from collector.actions.signing import SigningKeyError, load_key_file
from collector.config.settings import Settings
from collector.storage.connections import Stores

RATE_WINDOW_S = 60


def rate_key(user_id: UUID, now: float) -> str:
    """The counter of one user's action requests in the minute of ``now``."""
    return f"actions:rate:{user_id}:{int(now // RATE_WINDOW_S)}"


async def spend_rate(redis: aioredis.Redis, user_id: UUID, per_minute: int, *, now: float) -> None:
    """Count a request of ``user_id``; a 429 ``rate_limited`` past ``per_minute`` in this minute.

    The count is in Redis, so every API process shares it; a fixed window, as a limit this small need not
    be smoother.
    """
    key = rate_key(user_id, now)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, RATE_WINDOW_S * 2)
        count, _ = await pipe.execute()
    if int(count) > per_minute:
        retry_after = max(1, RATE_WINDOW_S - int(now) % RATE_WINDOW_S)
        raise ApiError(
            429,
            f"at most {per_minute} actions a minute; try again in {retry_after} s",
            code="rate_limited",
            details={"retry_after_s": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


async def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The signing key, read now; a 409 ``actions_not_configured`` saying how to make it."""
    try:
        return await asyncio.to_thread(load_key_file, settings.actions.key_path(settings.data_dir))
    except SigningKeyError as exc:
        raise ApiError(409, f"remote actions are not set up: {exc}", code="actions_not_configured") from None


async def step_up(stores: Stores, principal: Principal, code: str | None, *, now: float) -> None:
    """Accept a destructive action only with a fresh TOTP code of the caller (of the token's owner)."""
    credentials = await credentials_by_id(stores.pg, principal.user_id)
    if credentials is None or credentials.totp_secret is None:
        raise ApiError(
            403,
            "this action is destructive: it needs a TOTP code, and your account has no TOTP; enrol an"
            " authenticator first (POST /api/auth/totp/enroll)",
            code="totp_not_enrolled",
        )
    if not code:
        raise ApiError(
            403, "this action is destructive: send a current TOTP code as 'totp_code'", code="totp_required"
        )
    key = auth_keys.throttle_totp(principal.user_id)
    await enforce(stores.redis, key, TOTP_CODES, now=now, what="TOTP codes")
    if not await totp.verify_once(stores.pg, principal.user_id, credentials.totp_secret, code, now=now):
        raise ApiError(
            403, "the TOTP code is wrong or was already used; wait for the next one", code="invalid_totp"
        )
    await forgive(stores.redis, key, reset=True)
