"""The authentication middleware: ``Authorization: Bearer`` with an access token or an ``om_`` API token.

It puts a :class:`~api.auth.principal.Principal` on the request, or nothing for an anonymous one. Every
path under ``/api/`` needs a principal except the public ones below; paths outside ``/api/`` (the dashboard's
files, ``/metrics``) are left alone.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth.accounts import session_user
from api.auth.apitokens import authenticate_api_token
from api.auth.principal import PRINCIPAL, Principal
from api.auth.principal_cache import PRINCIPAL_CACHE
from api.auth.sessions import is_access_token_denied
from api.auth.state import AUTH_CONFIG
from api.auth.tokens import API_TOKEN_PREFIX, InvalidTokenError, decode_access_token
from api.errors import ApiError
from api.keys import STORES

log = structlog.get_logger(__name__)

PUBLIC_API_PATHS = frozenset(
    {"/api/health", "/api/auth/login", "/api/auth/refresh", "/api/openapi.json", "/api/docs"}
)
"""Paths under ``/api/`` that anonymous callers may use."""

_PUBLIC_API_PREFIXES = ("/api/docs/",)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def needs_principal(path: str) -> bool:
    """True for the paths that refuse anonymous callers."""
    if path != "/api" and not path.startswith("/api/"):
        return False
    return path not in PUBLIC_API_PATHS and not path.startswith(_PUBLIC_API_PREFIXES)


def unauthorized(message: str, *, invalid_token: bool) -> ApiError:
    """A 401 in the one error shape, with the ``WWW-Authenticate`` challenge RFC 6750 asks for."""
    challenge = 'Bearer realm="openmanager"' + (', error="invalid_token"' if invalid_token else "")
    return ApiError(
        401,
        message,
        code="invalid_token" if invalid_token else "unauthorized",
        headers={"WWW-Authenticate": challenge},
    )


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when there is no such header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be 'Bearer <token>'", invalid_token=True)
    return token.strip()


async def authenticate(request: web.Request, token: str) -> Principal:
    """The principal ``token`` stands for; raises a 401 :class:`ApiError` when it stands for nobody.

    A caller found recently is taken from the :mod:`~api.auth.principal_cache`.
    """
    config = request.app[AUTH_CONFIG]
    cache = request.app[PRINCIPAL_CACHE]
    now = config.clock()
    key = cache.key(token)
    principal = cache.get(key, now)
    if principal is None:
        principal, expires_at = await _check(request, token, now)
        cache.put(key, principal, now, expires_at)
    return principal


async def _check(request: web.Request, token: str, now: float) -> tuple[Principal, float | None]:
    """The caller ``token`` stands for and when the token expires (None: not before the cache entry)."""
    config = request.app[AUTH_CONFIG]
    stores = request.app[STORES]
    if token.startswith(API_TOKEN_PREFIX):
        owner = await authenticate_api_token(stores.pg, token, now=now)
        if owner is None:
            log.info("api token refused", path=request.path)
            raise unauthorized("the API token is unknown, revoked or expired", invalid_token=True)
        return Principal(owner.user_id, owner.username, owner.role, "api_token", str(owner.token_id)), None
    try:
        claims = decode_access_token(config.jwt_secret, token, now=now)
    except InvalidTokenError as exc:
        log.info("access token refused", path=request.path, reason=str(exc))
        raise unauthorized(
            "the access token is invalid or expired; log in again", invalid_token=True
        ) from None
    user = await session_user(stores.pg, claims.user_id)
    refused = (
        user is None
        or user.disabled
        or (user.tokens_valid_after is not None and claims.issued_at < user.tokens_valid_after.timestamp())
        or await is_access_token_denied(stores.redis, claims.jti)
    )
    if refused or user is None:
        log.info("access token refused", path=request.path, reason="revoked", user_id=str(claims.user_id))
        raise unauthorized("the access token was revoked; log in again", invalid_token=True)
    return Principal(claims.user_id, user.username, user.role, "user", claims.jti), claims.expires_at


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate requests to protected paths; answer 401 when they carry no valid credential."""
    if needs_principal(request.path):
        token = bearer_token(request)
        if token is None:
            raise unauthorized(
                "authentication required: send 'Authorization: Bearer <token>'", invalid_token=False
            )
        request[PRINCIPAL] = await authenticate(request, token)
    if request.method in _SAFE_METHODS:
        return await handler(request)
    try:
        return await handler(request)
    finally:
        # Whatever it changed (a logout, a role, a grant, a revoked token), no caller is reused past it.
        request.app[PRINCIPAL_CACHE].clear()
