"""Authorization helpers for handlers: role checks and per-server grants.

Roles are ordered viewer < operator < admin. Admins see every server; everyone else sees the servers granted
to them in ``server_grants`` (an API token sees its owner's grants). Typical use in a handler::

    require_role(request, "operator")
    await require_server(request, server_id, "operator")
    servers = await allowed_servers(request)   # None means all
"""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from api.auth.accounts import server_grants
from api.auth.principal import Principal, principal_of
from api.auth.roles import role_at_least
from api.errors import ApiError
from api.keys import STORES
from collector.storage.users import Role

_GRANTS_CACHE: web.RequestKey[frozenset[UUID]] = web.RequestKey("auth.allowed_servers")


def require_principal(request: web.Request) -> Principal:
    """The request's principal; a 401 :class:`ApiError` when the request is anonymous."""
    principal = principal_of(request)
    if principal is None:
        raise ApiError(
            401, "authentication required", headers={"WWW-Authenticate": 'Bearer realm="openmanager"'}
        )
    return principal


def require_session(request: web.Request, what: str = "do this") -> Principal:
    """The caller when it is a person with a login session; a 403 ``session_required`` for an API token.

    Credentials (passwords, TOTP, accounts, tokens) are changed from a session only: a leaked API token must
    not be able to turn itself into a login.
    """
    principal = require_principal(request)
    if principal.kind != "user":
        raise ApiError(403, f"an API token cannot {what}; log in as the user", code="session_required")
    return principal


def require_role(request: web.Request, minimum: Role) -> Principal:
    """The principal when its role is at least ``minimum``; else a 403 (401 when anonymous)."""
    principal = require_principal(request)
    if not role_at_least(principal.role, minimum):
        raise ApiError(
            403,
            f"this needs the {minimum} role; you have {principal.role}",
            details={"required_role": minimum, "role": principal.role},
        )
    return principal


async def allowed_servers(request: web.Request) -> set[UUID] | None:
    """The server ids the principal may see: None for all (admins), else its grants (read once per request).

    A coroutine, since grants come from PostgreSQL. Anonymous requests get a 401.
    """
    principal = require_principal(request)
    if principal.role == "admin":
        return None
    cached = request.get(_GRANTS_CACHE)
    if cached is not None:
        return set(cached)
    grants = await server_grants(request.app[STORES].pg, principal.user_id)
    request[_GRANTS_CACHE] = frozenset(grants)
    return set(grants)


async def require_server(request: web.Request, server_id: UUID, minimum_role: Role) -> Principal:
    """The principal when it holds ``minimum_role`` and may access ``server_id``; else a 403 (a coroutine)."""
    principal = require_role(request, minimum_role)
    allowed = await allowed_servers(request)
    if allowed is not None and server_id not in allowed:
        raise ApiError(
            403, f"you have no access to server {server_id}", details={"server_id": str(server_id)}
        )
    return principal
