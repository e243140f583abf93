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
from api.auth.sessions import is_access_token_denied
from api.auth.tokens import API_TOKEN_PREFIX, InvalidTokenError, decode_access_token
from api.errors import ApiError
from api.keys import AUTH_CONFIG, AUTH_FAILURES, PRINCIPAL_CACHE, REFUSED_TOKENS, STORES
from api.outage import within
from api.prometheus.paths import FEDERATE, READ_ONLY_POSTS

log = structlog.get_logger(__name__)

STORE_CHECK_TIMEOUT_S = 1.0
"""How long a token check waits for PostgreSQL or Redis: past it the request is a 503, so a hung store
does not hang every request (``api.outage`` answers it)."""

PUBLIC_API_PATHS = frozenset(
    {"/api/health", "/api/auth/login", "/api/auth/refresh", "/api/openapi.json", "/api/docs"}
)
"""Paths under ``/api/`` that anonymous callers may use."""

_PUBLIC_API_PREFIXES = ("/api/docs/",)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHANGES_NO_CALLER = frozenset({"/api/v1/write", "/mcp"})
"""POST paths that change no account, role, grant or token: they keep the principal cache (pushed samples,
the MCP server's read-only tools)."""
_PROTECTED_OUTSIDE_API = frozenset({FEDERATE, "/mcp"})


def needs_principal(path: str) -> bool:
    """Whether a path refuses anonymous callers (also ``/federate`` and ``/mcp``, outside ``/api/``)."""
    if path in _PROTECTED_OUTSIDE_API:
        return True
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

    A caller found recently is taken from the :mod:`~api.auth.principal_cache`, and a token refused recently
    is refused again without a lookup. Each refusal counts against the client address's budget
    (:class:`~api.ratelimit.AuthFailureLimiter`); an address past it gets a 429 before any lookup.
    """
    config = request.app[AUTH_CONFIG]
    cache = request.app[PRINCIPAL_CACHE]
    now = config.clock()
    key = cache.key(token)
    principal = cache.get(key, now)
    if principal is not None:
        return principal
    failures = request.app[AUTH_FAILURES]
    await failures.check(request)
    refused = request.app[REFUSED_TOKENS]
    reason = refused.get(key, now)
    try:
        if reason is not None:
            raise unauthorized(reason, invalid_token=True)
        principal, expires_at = await _check(request, token, now)
    except ApiError as exc:
        if exc.status == 401:
            refused.put(key, exc.message, now)
            await failures.refused(request)
        raise
    cache.put(key, principal, now, expires_at)
    return principal


async def _check(request: web.Request, token: str, now: float) -> tuple[Principal, float | None]:
    """The caller ``token`` stands for and when the token expires (None: not before the cache entry)."""
    config = request.app[AUTH_CONFIG]
    stores = request.app[STORES]
    if token.startswith(API_TOKEN_PREFIX):
        owner = await within(
            "postgres", STORE_CHECK_TIMEOUT_S, authenticate_api_token(stores.pg, token, now=now)
        )
        if owner is None:
            log.info("api token refused", path=request.path)
            raise unauthorized("the API token is unknown, revoked or expired", invalid_token=True)
        principal = Principal(
            owner.user_id, owner.username, owner.role, "api_token", str(owner.token_id), owner.scopes
        )
        return principal, None
    try:
        claims = decode_access_token(config.jwt_secret, token, now=now)
    except InvalidTokenError as exc:
        log.info("access token refused", path=request.path, reason=str(exc))
        raise unauthorized(
            "the access token is invalid or expired; log in again", invalid_token=True
        ) from None
    user = await within("postgres", STORE_CHECK_TIMEOUT_S, session_user(stores.pg, claims.user_id))
    refused = (
        user is None
        or user.disabled
        or (user.tokens_valid_after is not None and claims.issued_at < user.tokens_valid_after.timestamp())
        or await within("redis", STORE_CHECK_TIMEOUT_S, is_access_token_denied(stores.redis, claims.jti))
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
    if (
        request.method in _SAFE_METHODS
        or request.path in _CHANGES_NO_CALLER
        or (request.method == "POST" and request.path in READ_ONLY_POSTS)
    ):
        return await handler(request)
    try:
        return await handler(request)
    finally:
        # Whatever it changed (a logout, a role, a grant, a revoked token), no caller is reused past it, and
        # no refusal either (a user enabled again, a token created).
        request.app[PRINCIPAL_CACHE].clear()
        request.app[REFUSED_TOKENS].clear()
