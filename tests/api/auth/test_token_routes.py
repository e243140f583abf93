"""API tokens: every token expires (a default lifetime, a maximum), and credential events revoke them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg
import pytest

from api.keys import AUTH_CONFIG
from tests.api.auth.conftest import PASSWORD, AuthUser, Client, FakeClock, bearer, session

DAY_S = 86400
NEW_PASSWORD = "tulip engine parade 47"


async def _token(client: Client, headers: dict[str, str], **body: object) -> dict[str, str]:
    response = await client.post("/api/tokens", json={"name": "script", **body}, headers=headers)
    assert response.status == 201, await response.text()
    created: dict[str, str] = await response.json()
    return created


async def _works(client: Client, token: str) -> bool:
    status = (await client.get("/api/auth/me", headers=bearer(token))).status
    assert status in (200, 401)
    return status == 200


async def test_a_token_made_without_a_lifetime_expires_after_the_default(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    _, headers = await session(client, pool, "operator")
    created = await _token(client, headers)
    expires_in_s = datetime.fromisoformat(created["expires_at"]).timestamp() - clock()
    default_s = client.app[AUTH_CONFIG].api_token_default_ttl_s
    assert default_s == 90 * DAY_S
    assert expires_in_s == pytest.approx(default_s, abs=1)
    assert await _works(client, created["token"])
    clock.advance(default_s + 1)
    assert not await _works(client, created["token"])


@pytest.mark.parametrize(
    ("expires_in_s", "status"),
    [(60, 201), (365 * DAY_S, 201), (365 * DAY_S + 1, 422), (5 * 366 * DAY_S + 1, 422)],
)
async def test_a_lifetime_above_the_maximum_is_refused(
    client: Client, pool: asyncpg.Pool, expires_in_s: int, status: int
) -> None:
    _, headers = await session(client, pool, "viewer")
    response = await client.post(
        "/api/tokens", json={"name": "long", "expires_in_s": expires_in_s}, headers=headers
    )
    assert response.status == status
    if status == 422 and expires_in_s <= 5 * 366 * DAY_S:
        assert (await response.json())["error"]["code"] == "token_lifetime_too_long"


Event = Callable[[Client, AuthUser, dict[str, str], dict[str, str]], Awaitable[None]]


async def _own_password_change(client: Client, _: AuthUser, own: dict[str, str], __: dict[str, str]) -> None:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await client.post("/api/auth/password", json=body, headers=own)).status == 204


async def _admin_reset(client: Client, user: AuthUser, _: dict[str, str], admin: dict[str, str]) -> None:
    response = await client.patch(f"/api/users/{user.id}", json={"password": NEW_PASSWORD}, headers=admin)
    assert response.status == 200


async def _disable(client: Client, user: AuthUser, _: dict[str, str], admin: dict[str, str]) -> None:
    response = await client.patch(f"/api/users/{user.id}", json={"disabled": True}, headers=admin)
    assert response.status == 200


async def _disable_and_enable(
    client: Client, user: AuthUser, own: dict[str, str], admin: dict[str, str]
) -> None:
    await _disable(client, user, own, admin)
    response = await client.patch(f"/api/users/{user.id}", json={"disabled": False}, headers=admin)
    assert response.status == 200


@pytest.mark.parametrize(
    "event",
    [_own_password_change, _admin_reset, _disable, _disable_and_enable],
    ids=["own-password-change", "admin-reset", "disable", "disable-then-enable"],
)
async def test_credential_events_revoke_the_owners_api_tokens(
    client: Client, pool: asyncpg.Pool, event: Event
) -> None:
    user, own = await session(client, pool, "operator")
    _, admin = await session(client, pool, "admin")
    created = await _token(client, own)
    assert await _works(client, created["token"])
    await event(client, user, own, admin)
    assert not await _works(client, created["token"])
    listed = await pool.fetchval(
        "SELECT count(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL", user.id
    )
    assert listed == 0


async def test_a_role_change_keeps_the_tokens_but_caps_their_role(client: Client, pool: asyncpg.Pool) -> None:
    user, own = await session(client, pool, "operator")
    _, admin = await session(client, pool, "admin")
    created = await _token(client, own)
    assert (await client.patch(f"/api/users/{user.id}", json={"role": "viewer"}, headers=admin)).status == 200
    me = await (await client.get("/api/auth/me", headers=bearer(created["token"]))).json()
    assert me["role"] == "viewer"
