"""The audit log: state-changing requests are recorded with who and the result, never bodies or secrets."""

from __future__ import annotations

import json
from collections.abc import Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.auth import audit
from api.auth.audit import AuditEntry
from api.keys import STORES
from tests.api.auth.conftest import PASSWORD, AuthUser, Client, login, make_user, session
from tests.conftest import SettingsFactory


async def _rows_for(pool: asyncpg.Pool, path: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM audit_log WHERE path = $1 ORDER BY id", path)


async def test_login_is_recorded_with_the_user_and_no_secret(client: Client, pool: asyncpg.Pool) -> None:
    user = await make_user(pool, "viewer")
    tokens = await login(client, user)
    await client.post("/api/auth/login", json={"username": user.username, "password": "wrong wrong wrong"})
    rows = [
        row for row in await _rows_for(pool, "/api/auth/login") if row["actor_name"] in (user.username, None)
    ]
    ok = next(row for row in rows if row["actor"] == str(user.id))
    assert (ok["method"], ok["action"], ok["status"], ok["remote_addr"]) == (
        "POST",
        "auth.login",
        200,
        "127.0.0.1",
    )
    assert any(row["actor"] == "anonymous" and row["status"] == 401 for row in rows)
    dump = str([dict(row) for row in await pool.fetch("SELECT * FROM audit_log")])
    for secret in (PASSWORD, "wrong wrong wrong", tokens["access_token"], tokens["refresh_token"]):
        assert secret not in dump


@pytest.mark.parametrize(
    ("username_of", "password", "status"),
    [
        (lambda user: user.username, "wrong wrong wrong", 401),
        (lambda _: "no-such-user-here", "wrong wrong wrong", 401),
        (lambda user: user.username, PASSWORD, 200),
    ],
    ids=["wrong-password", "unknown-user", "success"],
)
async def test_a_login_names_the_username_it_tried_never_the_password(
    client: Client,
    pool: asyncpg.Pool,
    username_of: Callable[[AuthUser], str],
    password: str,
    status: int,
) -> None:
    user = await make_user(pool, "viewer")
    username = username_of(user)
    response = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status == status
    row = (await _rows_for(pool, "/api/auth/login"))[-1]
    detail = json.loads(row["detail"])
    if status == 200:
        assert (row["actor"], row["actor_name"], detail) == (str(user.id), user.username, {"kind": "user"})
    else:
        assert (row["actor"], row["actor_name"], row["status"]) == ("anonymous", None, 401)
        assert detail == {"attempted_username": username}
    assert password not in str(dict(row))


async def test_behind_a_trusted_proxy_the_client_address_is_recorded_with_the_peer(
    make_settings: SettingsFactory,
) -> None:
    app = create_app(make_settings(trusted_proxies="127.0.0.1"))
    async with TestClient(TestServer(app)) as proxied:
        response = await proxied.post(
            "/api/auth/login",
            json={"username": "no-such-user-here", "password": "wrong wrong wrong"},
            headers={"X-Forwarded-For": "203.0.113.5"},
        )
        assert response.status == 401
        row = (await _rows_for(app[STORES].pg, "/api/auth/login"))[-1]
    assert row["remote_addr"] == "203.0.113.5"
    assert json.loads(row["detail"])["peer"] == "127.0.0.1"


async def test_user_changes_are_recorded_with_target_and_status(client: Client, pool: asyncpg.Pool) -> None:
    admin, headers = await session(client, pool, "admin")
    target = await make_user(pool, "viewer")
    await client.patch(
        f"/api/users/{target.id}", json={"password": "a new reset passphrase"}, headers=headers
    )
    await client.patch(f"/api/users/{target.id}", json={"role": "root"}, headers=headers)
    rows = await _rows_for(pool, f"/api/users/{target.id}")
    assert [(r["actor"], r["actor_name"], r["action"], r["target"], r["status"]) for r in rows] == [
        (str(admin.id), admin.username, "users.update", str(target.id), 200),
        (str(admin.id), admin.username, "users.update", str(target.id), 422),
    ]
    assert "a new reset passphrase" not in str([dict(r) for r in rows])


async def test_api_token_requests_are_recorded_under_the_token(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "operator")
    created = await (await client.post("/api/tokens", json={"name": "ci"}, headers=headers)).json()
    await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {created['token']}"})
    row = (await _rows_for(pool, "/api/auth/logout"))[-1]
    assert row["actor"] == created["id"]
    assert row["detail"] == '{"kind": "api_token"}'


async def test_reads_are_not_recorded(client: Client, pool: asyncpg.Pool) -> None:
    _, headers = await session(client, pool, "viewer")
    await client.get("/api/auth/me", headers=headers)
    assert await _rows_for(pool, "/api/auth/me") == []


async def test_prometheus_queries_posted_as_forms_are_not_recorded(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, headers = await session(client, pool, "viewer")
    response = await client.post("/api/v1/query", data={"query": "1+1"}, headers=headers)
    assert response.status == 200
    assert await _rows_for(pool, "/api/v1/query") == []


async def test_a_failing_audit_write_does_not_fail_the_request(
    client: Client, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(pool: asyncpg.Pool, entry: AuditEntry) -> None:
        raise asyncpg.PostgresConnectionError("database went away")

    monkeypatch.setattr(audit, "write_entry", broken)
    _, headers = await session(client, pool, "viewer")
    assert (await client.post("/api/auth/logout", headers=headers)).status == 204
