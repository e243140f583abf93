"""Account management: passwords are set from an administrator's session only, never with an API token, and
an administrator changes their own password like everyone else (with the current one)."""

from __future__ import annotations

import uuid
from typing import Literal

import asyncpg
import pytest

from tests.api.auth.conftest import PASSWORD, Client, FakeClock, bearer, make_user, session

NEW_PASSWORD = "tulip engine parade 47"

Caller = Literal["session", "api-token"]
Target = Literal["self", "other"]


async def _admin(client: Client, pool: asyncpg.Pool, caller: Caller) -> tuple[uuid.UUID, dict[str, str]]:
    admin, headers = await session(client, pool, "admin")
    if caller == "session":
        return admin.id, headers
    created = await (await client.post("/api/tokens", json={"name": "ci"}, headers=headers)).json()
    return admin.id, bearer(created["token"])


@pytest.mark.parametrize(
    ("caller", "target", "body", "status", "code"),
    [
        # The reported hole: an admin API token resets its owner's password and logs in with it.
        ("api-token", "self", {"password": NEW_PASSWORD}, 403, "session_required"),
        ("api-token", "other", {"password": NEW_PASSWORD}, 403, "session_required"),
        # A session must use POST /api/auth/password, with the current password, for its own.
        ("session", "self", {"password": NEW_PASSWORD}, 403, "own_password"),
        # Resetting someone else's password stays an administrator's (session's) job.
        ("session", "other", {"password": NEW_PASSWORD}, 200, None),
        # What is not a credential, a token may still change.
        ("api-token", "other", {"role": "operator"}, 200, None),
        ("api-token", "other", {"disabled": True}, 200, None),
    ],
)
async def test_passwords_are_set_from_a_session_and_not_ones_own(
    client: Client,
    pool: asyncpg.Pool,
    caller: Caller,
    target: Target,
    body: dict[str, object],
    status: int,
    code: str | None,
) -> None:
    admin_id, headers = await _admin(client, pool, caller)
    other = await make_user(pool, "viewer")
    target_id = admin_id if target == "self" else other.id
    before = await pool.fetchval("SELECT password_hash FROM users WHERE id = $1", target_id)
    response = await client.patch(f"/api/users/{target_id}", json=body, headers=headers)
    assert response.status == status, await response.text()
    if code is not None:
        assert (await response.json())["error"]["code"] == code
        after = await pool.fetchval("SELECT password_hash FROM users WHERE id = $1", target_id)
        assert after == before


@pytest.mark.parametrize(("caller", "status"), [("api-token", 403), ("session", 201)])
async def test_accounts_with_a_password_are_created_from_a_session(
    client: Client, pool: asyncpg.Pool, caller: Caller, status: int
) -> None:
    # Creating an admin with a known password would turn a token into a login just as well.
    _, headers = await _admin(client, pool, caller)
    name = f"made-{uuid.uuid4().hex[:8]}"
    body = {"username": name, "password": NEW_PASSWORD, "role": "admin"}
    response = await client.post("/api/users", json=body, headers=headers)
    assert response.status == status
    login = await client.post("/api/auth/login", json={"username": name, "password": NEW_PASSWORD})
    assert login.status == (200 if status == 201 else 401)


@pytest.mark.parametrize(
    ("password", "status"),
    [("password12", 422), ("Password123!", 422), ("viewer-secret-words", 422), (NEW_PASSWORD, 201)],
)
async def test_a_new_account_needs_a_password_that_is_hard_to_guess(
    client: Client, pool: asyncpg.Pool, password: str, status: int
) -> None:
    _, headers = await session(client, pool, "admin")
    name = f"viewer-{uuid.uuid4().hex[:8]}"
    body = {"username": name, "password": password.replace("viewer", name), "role": "viewer"}
    response = await client.post("/api/users", json=body, headers=headers)
    assert response.status == status
    if status == 422:
        assert (await response.json())["error"]["code"] == "weak_password"


async def test_an_admin_reset_still_works_and_ends_the_users_sessions(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    _, admin = await session(client, pool, "admin")
    user, own = await session(client, pool, "viewer")
    clock.advance(1)  # the clock stands still: a session from this very instant would count as later
    response = await client.patch(f"/api/users/{user.id}", json={"password": NEW_PASSWORD}, headers=admin)
    assert response.status == 200
    assert (await client.get("/api/auth/me", headers=own)).status == 401
    old = await client.post("/api/auth/login", json={"username": user.username, "password": PASSWORD})
    assert old.status == 401
    new = await client.post("/api/auth/login", json={"username": user.username, "password": NEW_PASSWORD})
    assert new.status == 200
