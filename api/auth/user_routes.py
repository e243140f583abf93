"""``/api/users``: account management for administrators (roles, disabling, password resets, grants).

Setting a password (a new account's, or another account's reset) needs an administrator's login session, never
an API token: a token that could set a password could log in as that account. Administrators change their
own password like everyone else, with ``POST /api/auth/password`` and the current one.
"""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from api.auth.accounts import (
    Account,
    UnknownServerError,
    active_admins,
    create_account,
    delete_account,
    get_account,
    list_accounts,
    replace_grants,
    server_grants,
    update_account,
)
from api.auth.authz import require_session
from api.auth.credentials import hash_new_password, store_new_password
from api.auth.models import (
    AccountList,
    AccountOut,
    AccountWithGrants,
    GrantsBody,
    UserCreateBody,
    UserUpdateBody,
)
from api.auth.sessions import end_all_sessions
from api.bootstrap import FIRST_ADMIN, discard_initial_password
from api.errors import ApiError
from api.keys import AUTH_CONFIG, SETTINGS, STORES
from api.openapi import ApiRoutes, body_of

routes = ApiRoutes()


def _user_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, f"no such user: {request.match_info['id']}") from None


async def _existing(request: web.Request, user_id: UUID) -> Account:
    account = await get_account(request.app[STORES].pg, user_id)
    if account is None:
        raise ApiError(404, f"no such user: {user_id}")
    return account


async def _keep_an_admin(request: web.Request, account: Account) -> None:
    """Refuse a change that would leave no enabled administrator (nobody could manage users any more)."""
    if (
        account.role == "admin"
        and not account.disabled
        and await active_admins(request.app[STORES].pg) == {account.id}
    ):
        raise ApiError(
            409, "this is the last enabled administrator; make another admin first", code="last_admin"
        )


def _out(account: Account) -> AccountOut:
    return AccountOut.model_validate(account, from_attributes=True)


async def _with_grants(request: web.Request, account: Account) -> AccountWithGrants:
    grants = await server_grants(request.app[STORES].pg, account.id)
    return AccountWithGrants(**dict(_out(account)), grants=sorted(grants))


@routes.get(
    "/api/users", name="users.list", summary="List accounts", tag="users", role="admin", response=AccountList
)
async def list_users(request: web.Request) -> AccountList:
    """Every account."""
    accounts = await list_accounts(request.app[STORES].pg)
    return AccountList(users=[_out(account) for account in accounts])


@routes.post(
    "/api/users",
    name="users.create",
    summary="Create an account",
    tag="users",
    role="admin",
    body=UserCreateBody,
    response=AccountOut,
    status=201,
)
async def create_user(request: web.Request) -> AccountOut:
    """Create an account with a password that passes the strength check (from a session only)."""
    require_session(request, "set passwords")
    body = body_of(request, UserCreateBody)
    password_hash = await hash_new_password(body.password, username=body.username)
    account = await create_account(
        request.app[STORES].pg, body.username, password_hash, body.role, body.email
    )
    if account is None:
        raise ApiError(409, f"the username {body.username!r} is taken", code="username_taken")
    return _out(account)


@routes.get(
    "/api/users/{id}",
    name="users.get",
    summary="One account with its grants",
    tag="users",
    role="admin",
    response=AccountWithGrants,
)
async def get_user(request: web.Request) -> AccountWithGrants:
    """One account with its server grants."""
    account = await _existing(request, _user_id(request))
    return await _with_grants(request, account)


@routes.route(
    "PATCH",
    "/api/users/{id}",
    name="users.update",
    summary="Change an account",
    tag="users",
    role="admin",
    body=UserUpdateBody,
    response=AccountWithGrants,
)
async def update_user(request: web.Request) -> AccountWithGrants:
    """Change role, disabled state, e-mail or (reset) password; a reset or disabling ends all sessions and
    revokes the account's API tokens."""
    body = body_of(request, UserUpdateBody)
    stores, config = request.app[STORES], request.app[AUTH_CONFIG]
    account = await _existing(request, _user_id(request))
    if body.password is not None:
        principal = require_session(request, "set passwords")
        if principal.user_id == account.id:
            raise ApiError(
                403,
                "change your own password with POST /api/auth/password, which asks for the current one",
                code="own_password",
            )
    if (body.role is not None and body.role != "admin") or body.disabled:
        await _keep_an_admin(request, account)
    new_hash = (
        None if body.password is None else await hash_new_password(body.password, username=account.username)
    )
    updated = await update_account(
        stores.pg, account.id, role=body.role, disabled=body.disabled, email=body.email
    )
    if updated is None:
        raise ApiError(404, f"no such user: {account.id}")
    if new_hash is not None:
        await store_new_password(request, account.id, account.username, new_hash)
    elif body.disabled:
        await end_all_sessions(stores.pg, account.id, now=config.clock(), password_hash=None)
    return await _with_grants(request, updated)


@routes.route(
    "DELETE",
    "/api/users/{id}",
    name="users.delete",
    summary="Delete an account",
    tag="users",
    role="admin",
    status=204,
)
async def delete_user(request: web.Request) -> web.Response:
    """Delete an account with its tokens and grants."""
    account = await _existing(request, _user_id(request))
    await _keep_an_admin(request, account)
    if not await delete_account(request.app[STORES].pg, account.id):
        raise ApiError(404, f"no such user: {account.id}")
    if account.username == FIRST_ADMIN:
        discard_initial_password(request.app[SETTINGS].data_dir)
    return web.Response(status=204)


@routes.route(
    "PUT",
    "/api/users/{id}/grants",
    name="users.grants",
    summary="Replace an account's server grants",
    tag="users",
    role="admin",
    body=GrantsBody,
    response=AccountWithGrants,
)
async def put_grants(request: web.Request) -> AccountWithGrants:
    """Replace the servers the user may access (admins see all servers regardless)."""
    body = body_of(request, GrantsBody)
    account = await _existing(request, _user_id(request))
    try:
        await replace_grants(request.app[STORES].pg, account.id, set(body.server_ids))
    except UnknownServerError:
        raise ApiError(422, "a server in server_ids does not exist", code="unknown_server") from None
    return await _with_grants(request, account)
