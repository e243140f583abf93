"""``/api/tokens``: the caller's API tokens; a token is shown once, at creation, and never above its role.

Every token expires: after ``auth.api_token_default_ttl_days`` unless the request asks for another lifetime,
never later than ``auth.api_token_max_ttl_days``. A password change, a reset or disabling the owner revokes
all of the owner's tokens (:func:`~api.auth.sessions.end_all_sessions`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from aiohttp import web

from api.auth.apitokens import create_api_token, list_api_tokens, revoke_api_token
from api.auth.authz import require_principal
from api.auth.models import ApiTokenCreated, ApiTokenList, ApiTokenOut, TokenCreateBody
from api.auth.roles import role_at_least
from api.errors import ApiError
from api.keys import AUTH_CONFIG, STORES
from api.openapi import ApiRoutes, body_of

routes = ApiRoutes()


@routes.get(
    "/api/tokens",
    name="tokens.list",
    summary="List one's API tokens",
    tag="tokens",
    role="viewer",
    response=ApiTokenList,
)
async def list_tokens(request: web.Request) -> ApiTokenList:
    """The caller's live API tokens (without the tokens themselves)."""
    principal = require_principal(request)
    tokens = await list_api_tokens(request.app[STORES].pg, principal.user_id)
    return ApiTokenList(tokens=[ApiTokenOut.model_validate(token, from_attributes=True) for token in tokens])


@routes.post(
    "/api/tokens",
    name="tokens.create",
    summary="Create an API token",
    tag="tokens",
    role="viewer",
    body=TokenCreateBody,
    response=ApiTokenCreated,
    status=201,
)
async def create_token(request: web.Request) -> ApiTokenCreated:
    """Create an API token with at most the caller's role; the answer holds the token, this one time only."""
    principal = require_principal(request)
    if principal.kind != "user":
        # A leaked token must not be able to mint long-lived successors for itself.
        raise ApiError(
            403,
            "API tokens are created from a login session, not with another token",
            code="session_required",
        )
    body = body_of(request, TokenCreateBody)
    role = body.role or principal.role
    if not role_at_least(principal.role, role):
        raise ApiError(
            403, f"a token cannot have more than your role ({principal.role})", code="role_too_high"
        )
    config = request.app[AUTH_CONFIG]
    lifetime_s = config.api_token_default_ttl_s if body.expires_in_s is None else body.expires_in_s
    if lifetime_s > config.api_token_max_ttl_s:
        raise ApiError(
            422,
            f"expires_in_s may be at most {config.api_token_max_ttl_s} s (auth.api_token_max_ttl_days)",
            code="token_lifetime_too_long",
            details={"max_expires_in_s": config.api_token_max_ttl_s},
        )
    expires_at = datetime.fromtimestamp(config.clock(), UTC) + timedelta(seconds=lifetime_s)
    if "write" in body.scopes and not role_at_least(role, "operator"):
        # Pushing samples creates servers and writes their history: an operator's business.
        raise ApiError(403, "a token with the write scope needs the operator role", code="role_too_low")
    record, token = await create_api_token(
        request.app[STORES].pg, principal.user_id, body.name, role, expires_at, body.scopes
    )
    return ApiTokenCreated(**dict(ApiTokenOut.model_validate(record, from_attributes=True)), token=token)


@routes.route(
    "DELETE",
    "/api/tokens/{id}",
    name="tokens.delete",
    summary="Revoke an API token",
    tag="tokens",
    role="viewer",
    status=204,
)
async def delete_token(request: web.Request) -> web.Response:
    """Revoke one of the caller's tokens (an administrator may revoke anyone's)."""
    principal = require_principal(request)
    try:
        token_id = UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, f"no such token: {request.match_info['id']}") from None
    owner = None if principal.role == "admin" else principal.user_id
    if not await revoke_api_token(request.app[STORES].pg, token_id, owner):
        raise ApiError(404, f"no such token: {token_id}")
    return web.Response(status=204)
