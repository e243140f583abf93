"""``/api/auth/…``: login, refresh, logout, the caller's own account, password change and TOTP.

Login and refresh are public; every other route here is open to any authenticated caller (role viewer), and
the ones that manage credentials refuse API tokens in the handler (``session_required``) and ask for the
current password again (or, to turn TOTP off, a current code).

An account that must change its password (the first administrator, whose password was generated) gets no
session: its login answers 403 ``password_change_required`` until it is repeated with ``new_password``,
which replaces the password and then logs in.
"""

from __future__ import annotations

from aiohttp import web

from api.auth import keys, totp
from api.auth.accounts import credentials_by_id, session_user, set_totp_secret
from api.auth.audit import note_attempted_username
from api.auth.authz import allowed_servers, require_principal, require_session
from api.auth.credentials import hash_new_password, store_new_password
from api.auth.login import check_password, check_totp, issue_tokens, password_matches, token_pair
from api.auth.models import (
    LoginBody,
    LogoutBody,
    Me,
    PasswordChangeBody,
    RefreshBody,
    TokenPair,
    TotpCodeBody,
    TotpEnrollBody,
    TotpEnrolment,
)
from api.auth.principal import PRINCIPAL, Principal
from api.auth.sessions import (
    RefreshFailure,
    RefreshRefusedError,
    deny_access_token,
    revoke_family_of,
    rotate,
)
from api.auth.throttle import REAUTH, enforce, forgive
from api.client_address import client_address
from api.errors import ApiError
from api.keys import AUTH_CONFIG, STORES
from api.openapi import ApiRoutes, body_of

routes = ApiRoutes()

_REFRESH_MESSAGES = {
    RefreshFailure.UNKNOWN: "the refresh token is not valid; log in again",
    RefreshFailure.REUSED: (
        "the refresh token was already used; every session of this login is ended, log in again"
    ),
    RefreshFailure.EXPIRED: "the refresh token expired; log in again",
    RefreshFailure.USER_DISABLED: "the account is disabled",
}


async def _check_current_password(request: web.Request, principal: Principal, password: str) -> None:
    """A 403 unless ``password`` is the caller's current one; throttled per user."""
    stores, config = request.app[STORES], request.app[AUTH_CONFIG]
    key = keys.throttle_reauth(principal.user_id)
    await enforce(stores.redis, key, REAUTH, now=config.clock(), what="password attempts")
    credentials = await credentials_by_id(stores.pg, principal.user_id)
    if credentials is None or not await password_matches(credentials.password_hash, password):
        raise ApiError(403, "the current password is wrong", code="invalid_credentials")
    await forgive(stores.redis, key, reset=True)


def _must_differ(new_password: str, current_password: str) -> None:
    if new_password == current_password:
        raise ApiError(422, "the new password must differ from the current one", code="password_unchanged")


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
    note_attempted_username(request, body.username)
    user = await check_password(
        stores.pg,
        stores.redis,
        username=body.username,
        password=body.password,
        client=client_address(request),
        now=config.clock(),
    )
    if user.totp_secret is not None:
        if body.totp is None:
            raise ApiError(401, "this account needs a TOTP code: send it as 'totp'", code="totp_required")
        await check_totp(stores.pg, stores.redis, user.id, user.totp_secret, body.totp, now=config.clock())
    if user.must_change_password:
        if body.new_password is None:
            raise ApiError(
                403,
                "this account's password must be changed before it can be used: "
                "log in again with the new one as 'new_password'",
                code="password_change_required",
            )
        _must_differ(body.new_password, body.password)
        new_hash = await hash_new_password(body.new_password, username=user.username)
        await store_new_password(request, user.id, user.username, new_hash)
    elif body.new_password is not None:
        raise ApiError(
            409,
            "this account's password need not be changed at login; use POST /api/auth/password",
            code="password_change_not_required",
        )
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
    """Change one's own password; every session and API token of the account ends (log in again)."""
    principal = require_session(request)
    body = body_of(request, PasswordChangeBody)
    await _check_current_password(request, principal, body.current_password)
    _must_differ(body.new_password, body.current_password)
    new_hash = await hash_new_password(body.new_password, username=principal.username)
    await store_new_password(request, principal.user_id, principal.username, new_hash)
    return web.Response(status=204)


@routes.post(
    "/api/auth/totp/enroll",
    name="auth.totp.enroll",
    summary="Start TOTP enrolment",
    tag="auth",
    role="viewer",
    body=TotpEnrollBody,
    response=TotpEnrolment,
)
async def totp_enroll(request: web.Request) -> TotpEnrolment:
    """Start TOTP enrolment: a new secret and its ``otpauth://`` URI, active once confirmed with a code.

    The current password is asked first: a stolen session must not be able to set a second factor that
    would lock the owner out.
    """
    principal = require_session(request)
    body = body_of(request, TotpEnrollBody)
    await _check_current_password(request, principal, body.password)
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
    principal = require_session(request)
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
    principal = require_session(request)
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
