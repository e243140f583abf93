"""Authorization helpers: role order, per-server grants for everyone but admins, API tokens' scope."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest
from aiohttp import web

from api.auth.authz import allowed_servers, require_role, require_server
from api.auth.roles import lower_role, role_at_least
from api.keys import PRINCIPAL_CACHE
from collector.storage.users import Role
from tests.api.auth.conftest import Client, bearer, make_server, session


async def _operate(request: web.Request) -> web.Response:
    principal = require_role(request, "operator")
    return web.json_response({"user": principal.username})


async def _servers(request: web.Request) -> web.Response:
    allowed = await allowed_servers(request)
    again = await allowed_servers(request)
    assert allowed == again
    return web.json_response(None if allowed is None else sorted(str(s) for s in allowed))


async def _server(request: web.Request) -> web.Response:
    await require_server(request, UUID(request.match_info["id"]), "viewer")
    return web.json_response({"ok": True})


@pytest.fixture
def app(app: web.Application) -> web.Application:
    app.router.add_get("/api/test/operate", _operate)
    app.router.add_get("/api/test/servers", _servers)
    app.router.add_get("/api/test/servers/{id}", _server)
    return app


@pytest.mark.parametrize(
    ("role", "minimum", "expected"),
    [
        ("viewer", "viewer", True),
        ("viewer", "operator", False),
        ("operator", "viewer", True),
        ("operator", "admin", False),
        ("admin", "operator", True),
        ("admin", "admin", True),
    ],
)
def test_role_order_is_viewer_operator_admin(role: Role, minimum: Role, expected: bool) -> None:
    assert role_at_least(role, minimum) is expected


def test_lower_role_picks_the_less_powerful() -> None:
    assert lower_role("admin", "viewer") == lower_role("viewer", "admin") == "viewer"


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 200), ("admin", 200)])
async def test_require_role_refuses_lower_roles(
    client: Client, pool: asyncpg.Pool, role: Role, status: int
) -> None:
    _, headers = await session(client, pool, role)
    response = await client.get("/api/test/operate", headers=headers)
    assert response.status == status
    if status == 403:
        assert (await response.json())["error"]["details"] == {"required_role": "operator", "role": role}


async def test_admins_see_every_server(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "admin")
    server = await make_server(pool)
    assert await (await client.get("/api/test/servers", headers=headers)).json() is None
    assert (await client.get(f"/api/test/servers/{server}", headers=headers)).status == 200


async def test_others_see_only_granted_servers(client: Client, pool: asyncpg.Pool) -> None:
    user, headers = await session(client, pool, "operator")
    granted, other = await make_server(pool), await make_server(pool)
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, granted)
    assert await (await client.get("/api/test/servers", headers=headers)).json() == [str(granted)]
    assert (await client.get(f"/api/test/servers/{granted}", headers=headers)).status == 200
    assert (await client.get(f"/api/test/servers/{other}", headers=headers)).status == 403


async def test_api_token_is_scoped_to_its_role_and_its_owners_grants(
    client: Client, pool: asyncpg.Pool
) -> None:
    user, headers = await session(client, pool, "operator")
    granted = await make_server(pool)
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, granted)
    token = (
        await (
            await client.post("/api/tokens", json={"name": "ro", "role": "viewer"}, headers=headers)
        ).json()
    )["token"]
    assert (await client.get("/api/test/operate", headers=bearer(token))).status == 403
    assert await (await client.get("/api/test/servers", headers=bearer(token))).json() == [str(granted)]


async def test_demoting_the_owner_demotes_their_api_tokens(client: Client, pool: asyncpg.Pool) -> None:
    user, headers = await session(client, pool, "operator")
    token = (await (await client.post("/api/tokens", json={"name": "ops"}, headers=headers)).json())["token"]
    assert (await client.get("/api/test/operate", headers=bearer(token))).status == 200
    await pool.execute("UPDATE users SET role = 'viewer' WHERE id = $1", user.id)
    # Changed behind this process's back: seen once the remembered caller expires (test_principal_cache).
    client.app[PRINCIPAL_CACHE].clear()
    assert (await client.get("/api/test/operate", headers=bearer(token))).status == 403
