"""The auth middleware: public paths, the 401 challenge, access tokens, API tokens and revoked credentials."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web

from api.auth.tokens import issue_access_token
from api.keys import AUTH_CONFIG
from tests.api.auth.conftest import PASSWORD, Client, FakeClock, bearer, login, make_user, session
from tests.api.auth.jwt_attacks import ATTACKS, Forger


async def _assert_unauthorized(client: Client, headers: dict[str, str], path: str = "/api/auth/me") -> None:
    response = await client.get(path, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert set(body["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("path", ["/api/health", "/metrics", "/api/auth/login"])
async def test_public_paths_answer_anonymous_callers(client: Client, path: str) -> None:
    response = await (client.post(path, json={}) if path == "/api/auth/login" else client.get(path))
    assert response.status != 401


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/users", "/api/tokens", "/api/audit", "/api/anything"])
async def test_protected_paths_refuse_anonymous_callers_with_a_bearer_challenge(
    client: Client, path: str
) -> None:
    await _assert_unauthorized(client, {}, path)


async def test_federation_outside_api_authenticates_its_callers(client: Client, pool: asyncpg.Pool) -> None:
    response = await client.get("/federate", params={"match[]": "up"})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    _, headers = await session(client, pool, "viewer")
    assert (await client.get("/federate", params={"match[]": "up"}, headers=headers)).status == 200


async def test_authorization_header_without_bearer_scheme_is_refused(client: Client) -> None:
    await _assert_unauthorized(client, {"Authorization": f"Basic {PASSWORD}"})


@pytest.mark.parametrize("forge", ATTACKS.values(), ids=ATTACKS.keys())
async def test_forged_access_token_is_refused(
    client: Client, app: web.Application, pool: asyncpg.Pool, clock: FakeClock, forge: Forger
) -> None:
    user = await make_user(pool, "admin")
    token = forge(app[AUTH_CONFIG].jwt_secret, user.id, clock())
    await _assert_unauthorized(client, bearer(token))


async def test_refresh_token_used_as_access_token_is_refused(client: Client, pool: asyncpg.Pool) -> None:
    tokens = await login(client, await make_user(pool, "viewer"))
    await _assert_unauthorized(client, bearer(tokens["refresh_token"]))


async def test_access_token_stops_at_its_expiry(client: Client, pool: asyncpg.Pool, clock: FakeClock) -> None:
    _, headers = await session(client, pool, "viewer")
    assert (await client.get("/api/auth/me", headers=headers)).status == 200
    clock.advance(901)
    await _assert_unauthorized(client, headers)


async def test_access_token_is_refused_after_logout(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "viewer")
    assert (await client.post("/api/auth/logout", headers=headers)).status == 204
    await _assert_unauthorized(client, headers)


async def test_access_token_is_refused_after_password_change(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user, headers = await session(client, pool, "viewer")
    other_session = bearer((await login(client, user))["access_token"])
    change = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    clock.advance(1)
    assert (await client.post("/api/auth/password", json=change, headers=headers)).status == 204
    await _assert_unauthorized(client, headers)
    await _assert_unauthorized(client, other_session)


async def test_access_token_of_a_disabled_or_deleted_user_is_refused(
    client: Client, app: web.Application, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user, headers = await session(client, pool, "viewer")
    await pool.execute("UPDATE users SET disabled = true WHERE id = $1", user.id)
    await _assert_unauthorized(client, headers)
    await pool.execute("DELETE FROM users WHERE id = $1", user.id)
    await _assert_unauthorized(client, headers)


async def test_role_comes_from_the_account_not_the_token(
    client: Client, app: web.Application, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user = await make_user(pool, "viewer")
    # Validly signed but claiming admin: the account's own role is what counts.
    token = issue_access_token(app[AUTH_CONFIG].jwt_secret, user.id, "admin", now=clock(), ttl_s=900)
    response = await client.get("/api/auth/me", headers=bearer(token))
    assert (await response.json())["role"] == "viewer"
    assert (await client.get("/api/users", headers=bearer(token))).status == 403


async def test_api_token_authenticates_with_its_own_role(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "admin")
    created = await client.post("/api/tokens", json={"name": "ci", "role": "viewer"}, headers=headers)
    token = (await created.json())["token"]
    me = await (await client.get("/api/auth/me", headers=bearer(token))).json()
    assert (me["kind"], me["role"]) == ("api_token", "viewer")
    assert (await client.get("/api/users", headers=bearer(token))).status == 403


async def test_unknown_or_revoked_api_token_is_refused(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "operator")
    created = await (await client.post("/api/tokens", json={"name": "ci"}, headers=headers)).json()
    await _assert_unauthorized(client, bearer("om_" + "A" * 43))
    assert (await client.delete(f"/api/tokens/{created['id']}", headers=headers)).status == 204
    await _assert_unauthorized(client, bearer(created["token"]))


async def test_expired_api_token_is_refused(client: Client, pool: asyncpg.Pool, clock: FakeClock) -> None:
    _, headers = await session(client, pool, "operator")
    body = {"name": "short", "expires_in_s": 60}
    created = await (await client.post("/api/tokens", json=body, headers=headers)).json()
    assert (await client.get("/api/auth/me", headers=bearer(created["token"]))).status == 200
    clock.advance(61)
    await _assert_unauthorized(client, bearer(created["token"]))


async def test_api_responses_carry_security_headers_and_no_store(client: Client) -> None:
    response = await client.get("/api/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    error = await client.get("/api/users")
    assert error.headers["X-Frame-Options"] == "DENY"
