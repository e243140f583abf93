"""Access tokens (short-lived HS256 JWTs) and the opaque tokens (refresh and API) stored only as hashes.

Time checks (``exp``, ``nbf``, ``iat``) are made here against the caller's clock rather than inside PyJWT,
so the whole service, and its tests, share one notion of "now". Signature, algorithm, ``aud`` and ``iss`` are
checked by PyJWT with an explicit algorithm allowlist.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import jwt

from collector.storage.users import ROLES, Role

ALGORITHM = "HS256"
ISSUER = "openmanager"
AUDIENCE = "openmanager-api"
ACCESS_TYPE = "access"
API_TOKEN_PREFIX = "om_"  # noqa: S105 - a prefix, not a secret
_REQUIRED_CLAIMS = ["sub", "role", "typ", "iss", "aud", "iat", "nbf", "exp", "jti"]


class InvalidTokenError(Exception):
    """A token that must not be accepted; the message says why, for the log, not for the client."""


@dataclass(frozen=True)
class AccessClaims:
    """The checked claims of an access token."""

    user_id: UUID
    role: Role
    jti: str
    issued_at: float
    expires_at: float


def issue_access_token(secret: bytes, user_id: UUID, role: Role, *, now: float, ttl_s: int) -> str:
    """A signed access token for ``user_id`` valid from ``now`` for ``ttl_s`` seconds.

    ``iat`` keeps microseconds, the precision PostgreSQL keeps ``tokens_valid_after`` in, so a token issued
    just after a password change is not mistaken for one issued before it.
    """
    claims = {
        "sub": str(user_id),
        "role": role,
        "typ": ACCESS_TYPE,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": datetime.fromtimestamp(now, UTC).timestamp(),
        "nbf": math.floor(now),
        "exp": math.floor(now) + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(secret: bytes, token: str, *, now: float) -> AccessClaims:
    """The claims of a valid access token; raises :class:`InvalidTokenError` for anything else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "require": _REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"{type(exc).__name__}: {exc}") from None
    if claims["typ"] != ACCESS_TYPE:
        raise InvalidTokenError(f"token type {claims['typ']!r} is not an access token")
    exp, nbf, iat = claims["exp"], claims["nbf"], claims["iat"]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in (exp, nbf, iat)):
        raise InvalidTokenError("exp, nbf and iat must be numbers")
    if now >= exp:
        raise InvalidTokenError("token expired")
    if now < nbf:
        raise InvalidTokenError("token not yet valid")
    if claims["role"] not in ROLES:
        raise InvalidTokenError("unknown role")
    try:
        user_id = UUID(str(claims["sub"]))
    except ValueError:
        raise InvalidTokenError("sub is not a user id") from None
    return AccessClaims(user_id, claims["role"], str(claims["jti"]), float(iat), float(exp))


def new_refresh_token() -> str:
    """A fresh opaque refresh token (256 random bits)."""
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    """A fresh API token: ``om_`` and 256 random bits; shown to its owner once."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """How an opaque token is stored: SHA-256, enough for 256 random bits (no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
