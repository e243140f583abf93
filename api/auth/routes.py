"""``/api/auth/…``: login, refresh, logout, the caller's own account, password change and TOTP.

Login and refresh are public; every other route here is open to any authenticated caller (role viewer), and
the ones that manage credentials refuse API tokens in the handler (``session_required``).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from api.auth import keys, totp
from api.auth.accounts import credentials_by_id, session_user, set_totp_secret
from api.auth.authz import allowed_servers, require_principal
from api.auth.login import check_password, check_totp, issue_tokens, password_matches, token_pair
from api.auth.models import (
    LoginBody,
    LogoutBody,
    Me,
    PasswordChangeBody,
    RefreshBody,
    TokenPair,
    TotpCodeBody,
    TotpEnrolment,
)
from api.auth.principal import PRINCIPAL, Principal
from api.auth.sessions import (
    RefreshFailure,
    RefreshRefusedError,
    deny_access_token,
    end_all_sessions,
    revoke_family_of,
    rotate,
)
from api.auth.state import AUTH_CONFIG
from api.auth.throttle import LOGIN_ACCOUNT, enforce, forgive
from api.errors import ApiError
from api.keys import STORES
from api.openapi import ApiRoutes, body_of
from api.passwords import check_password_strength, hash_password

routes = ApiRoutes()

_REFRESH_MESSAGES = {
    RefreshFailure.UNKNOWN: "the refresh token is not valid; log in again",
    RefreshFailure.REUSED: (
        "the refresh token was already used; every session of this login is ended, log in again"
    ),
    RefreshFailure.EXPIRED: "the refresh token expired; log in again",
    RefreshFailure.USER_DISABLED: "the account is disabled",
}


def _session_principal(request: web.Request) -> Principal:
    """The caller, who must be a person with a session: API tokens cannot manage credentials."""
    principal = require_principal(request)
    if principal.kind != "user":
        raise ApiError(403, "an API token cannot do this; log in as the user", code="session_required")
    return principal


@routes.post(
    "/api/auth/login",
    name="auth.login",
    summary="Log in",
    tag="auth",
    role=None,
    body=LoginBody,
    response=TokenPair,
)
async def login(request: web.Request) -> TokenPair:
    """Password (and TOTP when enabled) → access token and refresh token."""
    body = body_of(request, LoginBody)
    stores, config = request.app[STORES], request.app[AUTH_CONFIG]
    user = await check_password(
        stores.pg,
        stores.redis,
        username=body.username,
        password=body.password,
        remote_addr=request.remote or "unknown",
        now=config.clock(),
    )
    if user.totp_secret is not None:
        if body.totp is None:
            raise ApiError(401, "this account needs a TOTP code: send it as 'totp'", code="totp_required")
        await check_totp(stores.pg, stores.redis, user.id, user.totp_secret, body.totp, now=config.clock())
    # The audit log names who logged in.
    request[PRINCIPAL] = Principal(user.id, user.username, user.role, "user", "login")
    return TokenPair.model_validate(await issue_tokens(stores.pg, config, user.id, user.role))


@routes.post(
    "/api/auth/refresh",
    name="auth.refresh",
    summary="Spend a refresh token for a new token pair",
    tag="auth",
    role=None,
    body=RefreshBody,
    response=TokenPair,
)
async def refresh(request: web.Request) -> TokenPair:
    """Spend a refresh token for a new pair; reuse of a spent one ends its whole family."""
    body = body_of(request, RefreshBody)
    stores, config = request.app[STORES], request.app[AUTH_CONFIG]
    now = config.clock()
    try:
        refreshed = await rotate(stores.pg, body.refresh_token, now=now, ttl_s=config.refresh_token_ttl_s)
    except RefreshRefusedError as exc:
        raise ApiError(401, _REFRESH_MESSAGES[exc.reason], code=f"refresh_{exc.reason.value}") from None
    user = await session_user(stores.pg, refreshed.user_id)
    if user is None:
        raise ApiError(401, _REFRESH_MESSAGES[RefreshFailure.UNKNOWN], code="refresh_unknown")
    # The audit log names whose session was refreshed.
    request[PRINCIPAL] = Principal(refreshed.user_id, user.username, user.role, "user", "refresh")
    return TokenPair.model_validate(
        token_pair(config, refreshed.user_id, user.role, refreshed.refresh_token, now=now)
    )


@routes.post(
    "/api/auth/logout",
    name="auth.logout",
    summary="End this session",
    tag="auth",
    role="viewer",
    body=LogoutBody,
    status=204,
)
async def logout(request: web.Request) -> web.Response:
    """End this session: the access token stops working, and the refresh token's family if one is sent."""
    principal = require_principal(request)
    body = body_of(request, LogoutBody)
    stores, config = request.app[STORES], request.app[AUTH_CONFIG]
    if principal.kind == "user":
        await deny_access_token(stores.redis, principal.token_id, ttl_s=config.access_token_ttl_s)
        if body.refresh_token is not None:
            await revoke_family_of(stores.pg, body.refresh_token, principal.user_id, now=config.clock())
    return web.Response(status=204)


@routes.get("/api/auth/me", name="auth.me", summary="Who is calling", tag="auth", role="viewer", response=Me)
async def me(request: web.Request) -> Me:
    """The caller: id, name, role in force, TOTP state and server grants (null = all servers)."""
    principal = require_principal(request)
    credentials = await credentials_by_id(request.app[STORES].pg, principal.user_id)
    grants = await allowed_servers(request)
    return Me(
        id=principal.user_id,
        username=principal.username,
        role=principal.role,
        kind=principal.kind,
        totp_enabled=credentials is not None and credentials.totp_secret is not None,
        grants=None if grants is None else sorted(grants),
    )


@routes.post(
    "/api/auth/password",
    name="auth.password",
    summary="Change one's own password",
    tag="auth",
    role="viewer",
    body=PasswordChangeBody,
    status=204,
)
async def change_password(request: web.Request) -> web.Response:
    """Change one's own password; every session of the account ends (log in again)."""
    principal = _session_principal(request)
    body = body_of(request, PasswordChangeBody)
    stores, config = request.app[STORES], request.app[AUTH_CONFIG]
    problem = check_password_strength(body.new_password)
    if problem is not None:
        raise ApiError(422, problem, code="weak_password")
    account_key = keys.throttle_account(principal.username)
    await enforce(stores.redis, account_key, LOGIN_ACCOUNT, now=config.clock(), what="password attempts")
    credentials = await credentials_by_id(stores.pg, principal.user_id)
    if credentials is None or not await password_matches(credentials.password_hash, body.current_password):
        raise ApiError(403, "the current password is wrong", code="invalid_credentials")
    await forgive(stores.redis, account_key, reset=True)
    new_hash = await asyncio.to_thread(hash_password, body.new_password)
    await end_all_sessions(stores.pg, principal.user_id, now=config.clock(), password_hash=new_hash)
    return web.Response(status=204)


@routes.post(
    "/api/auth/totp/enroll",
    name="auth.totp.enroll",
    summary="Start TOTP enrolment",
    tag="auth",
    role="viewer",
    response=TotpEnrolment,
)
async def totp_enroll(request: web.Request) -> TotpEnrolment:
    """Start TOTP enrolment: a new secret and its ``otpauth://`` URI, active once confirmed with a code."""
    principal = _session_principal(request)
    stores = request.app[STORES]
    credentials = await credentials_by_id(stores.pg, principal.user_id)
    if credentials is not None and credentials.totp_secret is not None:
        raise ApiError(
            409, "TOTP is already enabled; disable it first to enrol a new device", code="totp_enabled"
        )
    secret = totp.new_secret()
    await totp.store_pending(stores.redis, principal.user_id, secret)
    return TotpEnrolment(
        secret=secret,
        provisioning_uri=totp.provisioning_uri(secret, principal.username),
        confirm_within_s=totp.PENDING_TTL_S,
    )


@routes.post(
    "/api/auth/totp/confirm",
    name="auth.totp.confirm",
    summary="Activate TOTP with a code",
    tag="auth",
    role="viewer",
    body=TotpCodeBody,
    status=204,
)
async def totp_confirm(request: web.Request) -> web.Response:
    """Activate the pending TOTP secret with a code from the authenticator."""
    principal = _session_principal(request)
    body = body_of(request, TotpCodeBody)
    stores, config = request.app[STORES], request.app[AUTH_CONFIG]
    secret = await totp.pending(stores.redis, principal.user_id)
    if secret is None:
        raise ApiError(
            409, "no TOTP enrolment is pending; start with /api/auth/totp/enroll", code="no_enrolment"
        )
    await check_totp(stores.pg, stores.redis, principal.user_id, secret, body.code, now=config.clock())
    await set_totp_secret(stores.pg, principal.user_id, secret)
    await totp.drop_pending(stores.redis, principal.user_id)
    return web.Response(status=204)


@routes.post(
    "/api/auth/totp/disable",
    name="auth.totp.disable",
    summary="Turn TOTP off with a code",
    tag="auth",
    role="viewer",
    body=TotpCodeBody,
    status=204,
)
async def totp_disable(request: web.Request) -> web.Response:
    """Turn TOTP off, proven with a current code."""
    principal = _session_principal(request)
    body = body_of(request, TotpCodeBody)
    stores, config = request.app[STORES], request.app[AUTH_CONFIG]
    credentials = await credentials_by_id(stores.pg, principal.user_id)
    if credentials is None or credentials.totp_secret is None:
        raise ApiError(409, "TOTP is not enabled", code="totp_disabled")
    await check_totp(
        stores.pg, stores.redis, principal.user_id, credentials.totp_secret, body.code, now=config.clock()
    )
    await set_totp_secret(stores.pg, principal.user_id, None)
    return web.Response(status=204)
