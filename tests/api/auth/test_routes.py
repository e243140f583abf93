"""The auth endpoints: login, refresh rotation, logout, password change, users, API tokens, the audit log."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.bootstrap import FIRST_ADMIN, ensure_first_admin
from api.keys import STORES
from collector.storage.users import Role
from tests.api.auth.conftest import (
    PASSWORD,
    Client,
    FakeClock,
    bearer,
    login,
    make_server,
    make_user,
    session,
)
from tests.conftest import SettingsFactory


async def test_login_returns_a_bearer_pair(client: Client, pool: asyncpg.Pool) -> None:
    user = await make_user(pool, "viewer")
    response = await client.post("/api/auth/login", json={"username": user.username, "password": PASSWORD})
    body = await response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: Client, pool: asyncpg.Pool
) -> None:
    user = await make_user(pool, "viewer")
    wrong = await client.post(
        "/api/auth/login", json={"username": user.username, "password": "nope nope nope"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"username": "nobody-here", "password": "nope nope nope"}
    )
    assert wrong.status == unknown.status == 401
    assert (await wrong.json()) == (await unknown.json())


async def test_login_of_a_disabled_account_is_refused(client: Client, pool: asyncpg.Pool) -> None:
    user = await make_user(pool, "viewer")
    await pool.execute("UPDATE users SET disabled = true WHERE id = $1", user.id)
    response = await client.post("/api/auth/login", json={"username": user.username, "password": PASSWORD})
    assert response.status == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"username": "a"}', 422),
        (b'{"username": "a", "password": "b", "admin": true}', 422),
        (b'{"username": 1, "password": "b"}', 422),
        (b"[]", 422),
    ],
)
async def test_bad_login_bodies_are_client_errors_in_the_error_shape(
    client: Client, body: bytes, status: int
) -> None:
    response = await client.post("/api/auth/login", data=body, headers={"Content-Type": "application/json"})
    assert response.status == status
    assert set((await response.json())["error"]) == {"code", "message", "details"}


async def test_validation_errors_never_echo_the_rejected_value(client: Client) -> None:
    response = await client.post("/api/auth/login", json={"username": "a", "password": 12345678901})
    assert response.status == 422
    assert "12345678901" not in await response.text()


async def test_refresh_rotates_and_the_new_pair_works(client: Client, pool: asyncpg.Pool) -> None:
    first = await login(client, await make_user(pool, "viewer"))
    response = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status == 200
    second = await response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/auth/me", headers=bearer(second["access_token"]))).status == 200


async def test_reusing_a_spent_refresh_token_revokes_the_whole_family(
    client: Client, pool: asyncpg.Pool
) -> None:
    first = await login(client, await make_user(pool, "viewer"))
    rotated = await (
        await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status == 401
    assert (await reuse.json())["error"]["code"] == "refresh_reused"
    # The thief's (or the victim's) successor token is dead too.
    successor = await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert successor.status == 401


async def test_refresh_token_expires(client: Client, pool: asyncpg.Pool, clock: FakeClock) -> None:
    tokens = await login(client, await make_user(pool, "viewer"))
    clock.advance(14 * 86400 + 1)
    response = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert (response.status, (await response.json())["error"]["code"]) == (401, "refresh_expired")


async def test_logout_revokes_the_refresh_family(client: Client, pool: asyncpg.Pool) -> None:
    tokens = await login(client, await make_user(pool, "viewer"))
    body = {"refresh_token": tokens["refresh_token"]}
    assert (
        await client.post("/api/auth/logout", json=body, headers=bearer(tokens["access_token"]))
    ).status == 204
    assert (await client.post("/api/auth/refresh", json=body)).status == 401


async def test_me_reports_role_totp_and_grants(client: Client, pool: asyncpg.Pool) -> None:
    user, headers = await session(client, pool, "operator")
    server = await make_server(pool)
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, server)
    me = await (await client.get("/api/auth/me", headers=headers)).json()
    assert me == {
        "id": str(user.id),
        "username": user.username,
        "role": "operator",
        "kind": "user",
        "totp_enabled": False,
        "grants": [str(server)],
    }


async def test_password_change_checks_strength_and_current_password(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user, headers = await session(client, pool, "viewer")
    weak = await client.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=headers
    )
    assert (weak.status, (await weak.json())["error"]["code"]) == (422, "weak_password")
    wrong = await client.post(
        "/api/auth/password",
        json={"current_password": "not my password", "new_password": "a long new passphrase"},
        headers=headers,
    )
    assert wrong.status == 403
    clock.advance(1)
    changed = await client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "a long new passphrase"},
        headers=headers,
    )
    assert changed.status == 204
    relogin = await client.post(
        "/api/auth/login", json={"username": user.username, "password": "a long new passphrase"}
    )
    assert relogin.status == 200
    assert (
        await client.get("/api/auth/me", headers=bearer((await relogin.json())["access_token"]))
    ).status == 200


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403), ("admin", 200)])
async def test_users_list_is_for_admins(client: Client, pool: asyncpg.Pool, role: Role, status: int) -> None:
    _, headers = await session(client, pool, role)
    assert (await client.get("/api/users", headers=headers)).status == status


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/users"),
        ("GET", "/api/users/{id}"),
        ("PATCH", "/api/users/{id}"),
        ("DELETE", "/api/users/{id}"),
        ("PUT", "/api/users/{id}/grants"),
    ],
)
async def test_user_management_refuses_operators_and_anonymous_callers(
    client: Client, pool: asyncpg.Pool, method: str, path: str
) -> None:
    target = await make_user(pool, "viewer")
    _, headers = await session(client, pool, "operator")
    url = path.format(id=target.id)
    assert (await client.request(method, url, json={}, headers=headers)).status == 403
    assert (await client.request(method, url, json={})).status == 401


async def test_admin_creates_updates_resets_and_deletes_a_user(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    _, admin = await session(client, pool, "admin")
    name = f"new-{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/api/users", json={"username": name, "password": "first passphrase", "role": "viewer"}, headers=admin
    )
    assert created.status == 201
    user = await created.json()
    assert "password" not in str(user) and "hash" not in str(user)
    duplicate = await client.post(
        "/api/users", json={"username": name, "password": "first passphrase", "role": "viewer"}, headers=admin
    )
    assert duplicate.status == 409
    old = await login_as(client, name, "first passphrase")
    clock.advance(1)
    patched = await client.patch(
        f"/api/users/{user['id']}", json={"role": "operator", "password": "reset passphrase"}, headers=admin
    )
    assert patched.status == 200
    assert (await patched.json())["role"] == "operator"
    assert (await client.get("/api/auth/me", headers=bearer(old))).status == 401
    await login_as(client, name, "reset passphrase")
    assert (await client.delete(f"/api/users/{user['id']}", headers=admin)).status == 204
    assert (await client.get(f"/api/users/{user['id']}", headers=admin)).status == 404


async def login_as(client: Client, username: str, password: str) -> str:
    response = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status == 200
    token: str = (await response.json())["access_token"]
    return token


async def test_the_last_enabled_admin_cannot_be_demoted(client: Client, pool: asyncpg.Pool) -> None:
    admin, headers = await session(client, pool, "admin")
    # Leave exactly one enabled admin in this run's database.
    await pool.execute("UPDATE users SET disabled = true WHERE role = 'admin' AND id <> $1", admin.id)
    response = await client.patch(f"/api/users/{admin.id}", json={"role": "viewer"}, headers=headers)
    assert (response.status, (await response.json())["error"]["code"]) == (409, "last_admin")
    assert (await client.delete(f"/api/users/{admin.id}", headers=headers)).status == 409


async def test_grants_are_replaced_and_unknown_servers_refused(client: Client, pool: asyncpg.Pool) -> None:
    _, admin = await session(client, pool, "admin")
    viewer = await make_user(pool, "viewer")
    servers = [await make_server(pool), await make_server(pool)]
    url = f"/api/users/{viewer.id}/grants"
    response = await client.put(url, json={"server_ids": [str(s) for s in servers]}, headers=admin)
    assert sorted((await response.json())["grants"]) == sorted(str(s) for s in servers)
    response = await client.put(url, json={"server_ids": [str(servers[0])]}, headers=admin)
    assert (await response.json())["grants"] == [str(servers[0])]
    unknown = await client.put(url, json={"server_ids": [str(uuid.uuid4())]}, headers=admin)
    assert unknown.status == 422


@pytest.mark.parametrize(
    ("role", "token_role", "status"),
    [
        ("viewer", "viewer", 201),
        ("viewer", "operator", 403),
        ("operator", "admin", 403),
        ("operator", "viewer", 201),
        ("admin", "admin", 201),
    ],
)
async def test_api_token_role_is_at_most_the_callers_role(
    client: Client, pool: asyncpg.Pool, role: Role, token_role: Role, status: int
) -> None:
    _, headers = await session(client, pool, role)
    response = await client.post("/api/tokens", json={"name": "t", "role": token_role}, headers=headers)
    assert response.status == status


@pytest.mark.parametrize(
    ("role", "body", "status", "scopes"),
    [
        ("operator", {"scopes": ["write"]}, 201, ["write"]),
        ("admin", {"role": "operator", "scopes": ["write"]}, 201, ["write"]),
        ("operator", {}, 201, []),
        ("viewer", {"scopes": ["write"]}, 403, None),
        ("admin", {"role": "viewer", "scopes": ["write"]}, 403, None),
        ("admin", {"scopes": ["delete"]}, 422, None),
        ("viewer", {"scopes": ["mcp"]}, 201, ["mcp"]),
        ("operator", {"scopes": ["mcp", "write"]}, 201, ["mcp", "write"]),
    ],
)
async def test_api_token_scopes(
    client: Client, pool: asyncpg.Pool, role: Role, body: dict[str, object], status: int, scopes: object
) -> None:
    _, headers = await session(client, pool, role)
    response = await client.post("/api/tokens", json={"name": "push", **body}, headers=headers)
    assert response.status == status
    if status == 201:
        created = await response.json()
        assert created["scopes"] == scopes
        listed = await (await client.get("/api/tokens", headers=headers)).json()
        assert [t["scopes"] for t in listed["tokens"]] == [scopes]


async def test_tokens_made_before_scopes_have_none(client: Client, pool: asyncpg.Pool) -> None:
    user, headers = await session(client, pool, "operator")
    await pool.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash, role, expires_at) "
        "VALUES ($1, 'old', 'x', 'operator', now() + interval '1 day')",
        user.id,
    )
    listed = await (await client.get("/api/tokens", headers=headers)).json()
    assert [t["scopes"] for t in listed["tokens"]] == [[]]


async def test_api_tokens_are_listed_without_secrets_and_cannot_mint_more(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, headers = await session(client, pool, "operator")
    created = await (await client.post("/api/tokens", json={"name": "ci"}, headers=headers)).json()
    assert created["token"].startswith("om_") and created["role"] == "operator"
    listed = await (await client.get("/api/tokens", headers=headers)).json()
    assert [t["id"] for t in listed["tokens"]] == [created["id"]]
    assert created["token"] not in str(listed)
    minted = await client.post("/api/tokens", json={"name": "more"}, headers=bearer(created["token"]))
    assert minted.status == 403
    assert (await client.get("/api/tokens")).status == 401


async def test_a_user_cannot_revoke_someone_elses_token(client: Client, pool: asyncpg.Pool) -> None:
    _, owner = await session(client, pool, "operator")
    _, other = await session(client, pool, "operator")
    created = await (await client.post("/api/tokens", json={"name": "mine"}, headers=owner)).json()
    assert (await client.delete(f"/api/tokens/{created['id']}", headers=other)).status == 404
    assert (await client.delete(f"/api/tokens/{created['id']}", headers=owner)).status == 204


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403), ("admin", 200)])
async def test_audit_log_is_for_admins(client: Client, pool: asyncpg.Pool, role: Role, status: int) -> None:
    _, headers = await session(client, pool, role)
    assert (await client.get("/api/audit", headers=headers)).status == status


async def test_audit_log_filters_by_actor_and_pages(client: Client, pool: asyncpg.Pool) -> None:
    admin, headers = await session(client, pool, "admin")
    for name in ("a", "b", "c"):
        await client.post("/api/tokens", json={"name": name}, headers=headers)
    response = await client.get(f"/api/audit?actor={admin.id}&limit=2", headers=headers)
    entries = (await response.json())["entries"]
    assert len(entries) == 2
    assert {e["actor"] for e in entries} == {str(admin.id)}
    assert [e["action"] for e in entries] == ["tokens.create", "tokens.create"]
    assert (await client.get("/api/audit?limit=0", headers=headers)).status == 422
    assert (await client.get("/api/audit?since=yesterday", headers=headers)).status == 422


STRONG = "tulip engine parade 47"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 403, "password_change_required"),
        ({"password": "not the password", "new_password": STRONG}, 401, "invalid_credentials"),
        ({"new_password": "password12"}, 422, "weak_password"),
        ({"new_password": PASSWORD}, 422, "password_unchanged"),
        ({"new_password": STRONG}, 200, None),
    ],
    ids=["no-new-password", "wrong-password", "weak", "unchanged", "changed"],
)
async def test_an_account_that_must_change_its_password_gets_a_session_only_with_a_new_one(
    client: Client, pool: asyncpg.Pool, body: dict[str, str], status: int, code: str | None
) -> None:
    user = await make_user(pool, "admin")
    await pool.execute("UPDATE users SET must_change_password = true WHERE id = $1", user.id)
    response = await client.post(
        "/api/auth/login", json={"username": user.username, "password": PASSWORD} | body
    )
    answer = await response.json()
    assert response.status == status, answer
    if code is not None:
        assert answer["error"]["code"] == code
        assert "access_token" not in answer
        assert await pool.fetchval("SELECT must_change_password FROM users WHERE id = $1", user.id)
        return
    assert (await client.get("/api/users", headers=bearer(answer["access_token"]))).status == 200
    assert not await pool.fetchval("SELECT must_change_password FROM users WHERE id = $1", user.id)
    old = await client.post("/api/auth/login", json={"username": user.username, "password": PASSWORD})
    assert old.status == 401


async def test_a_new_password_at_login_is_refused_when_no_change_is_required(
    client: Client, pool: asyncpg.Pool
) -> None:
    user = await make_user(pool, "viewer")
    response = await client.post(
        "/api/auth/login", json={"username": user.username, "password": PASSWORD, "new_password": STRONG}
    )
    assert (response.status, (await response.json())["error"]["code"]) == (
        409,
        "password_change_not_required",
    )


@pytest.mark.parametrize(
    ("new_password", "code"),
    [("password12", "weak_password"), ("Password123!", "weak_password"), (PASSWORD, "password_unchanged")],
)
async def test_a_password_change_refuses_a_guessable_or_unchanged_password(
    client: Client, pool: asyncpg.Pool, new_password: str, code: str
) -> None:
    _, headers = await session(client, pool, "viewer")
    response = await client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=headers,
    )
    assert (response.status, (await response.json())["error"]["code"]) == (422, code)


async def test_a_password_change_from_an_api_token_is_refused(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "admin")
    created = await (await client.post("/api/tokens", json={"name": "ci"}, headers=headers)).json()
    response = await client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": STRONG},
        headers=bearer(created["token"]),
    )
    assert (response.status, (await response.json())["error"]["code"]) == (403, "session_required")


async def test_the_first_admin_changes_the_generated_password_at_first_login_and_the_file_goes(
    make_settings: SettingsFactory, fresh_pg_dsn: str
) -> None:
    settings = make_settings(postgres_dsn=fresh_pg_dsn)
    async with TestClient(TestServer(create_app(settings))) as fresh:
        password_file = await ensure_first_admin(fresh.app[STORES].pg, settings.data_dir)
        assert password_file is not None
        generated = password_file.read_text().strip()
        credentials = {"username": FIRST_ADMIN, "password": generated}
        refused = await fresh.post("/api/auth/login", json=credentials)
        assert (refused.status, (await refused.json())["error"]["code"]) == (403, "password_change_required")
        assert password_file.exists()
        changed = await fresh.post("/api/auth/login", json=credentials | {"new_password": STRONG})
        assert changed.status == 200
        assert not password_file.exists()
        again = await fresh.post("/api/auth/login", json={"username": FIRST_ADMIN, "password": STRONG})
        assert again.status == 200
