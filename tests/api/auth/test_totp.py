"""TOTP: ±1 step accepted, replays refused, enrolment needs a code, and login asks for one."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import asyncpg
import pyotp
import pytest
from aiohttp import web

from api.auth import keys, totp
from api.auth.totp import STEP_S, code_at, matching_step, new_secret, provisioning_uri, spend_step
from api.keys import STORES
from tests.api.auth.conftest import PASSWORD, Client, FakeClock, make_user, session

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_700_000_015.0
STEP = int(NOW // STEP_S)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_code_within_one_step_is_accepted(offset: int) -> None:
    assert matching_step(SECRET, code_at(SECRET, STEP + offset), now=NOW) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_code_two_steps_away_is_refused(offset: int) -> None:
    assert matching_step(SECRET, code_at(SECRET, STEP + offset), now=NOW) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 456"])
def test_malformed_code_is_refused(code: str) -> None:
    assert matching_step(SECRET, code, now=NOW) is None


def test_codes_match_rfc6238_as_pyotp_computes_them() -> None:
    assert code_at(SECRET, STEP) == pyotp.TOTP(SECRET).at(NOW)


def test_provisioning_uri_is_an_otpauth_uri_for_the_user() -> None:
    secret = new_secret()
    uri = urlparse(provisioning_uri(secret, "alice"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert "alice" in uri.path
    assert parse_qs(uri.query)["secret"] == [secret]
    assert parse_qs(uri.query)["issuer"] == ["OpenManager"]


async def test_a_step_is_spent_once_per_user(client: Client, pool: asyncpg.Pool) -> None:
    first, second = await make_user(pool, "viewer"), await make_user(pool, "viewer")
    assert await spend_step(pool, first.id, STEP)
    assert not await spend_step(pool, first.id, STEP)
    assert await spend_step(pool, second.id, STEP)


async def test_enrolment_activates_only_with_a_valid_code(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    _, headers = await session(client, pool, "viewer")
    enroll = {"password": PASSWORD}
    enrolled = await (await client.post("/api/auth/totp/enroll", json=enroll, headers=headers)).json()
    assert enrolled["provisioning_uri"].startswith("otpauth://totp/")
    secret = enrolled["secret"]
    wrong = await client.post("/api/auth/totp/confirm", json={"code": "000000"}, headers=headers)
    if wrong.status != 401:  # 000000 may by chance be the right code
        pytest.skip("the random secret's code was 000000")
    code = code_at(secret, int(clock() // STEP_S))
    assert (await client.post("/api/auth/totp/confirm", json={"code": code}, headers=headers)).status == 204
    me = await (await client.get("/api/auth/me", headers=headers)).json()
    assert me["totp_enabled"] is True
    assert (await client.post("/api/auth/totp/enroll", json=enroll, headers=headers)).status == 409


async def test_a_pending_secret_is_sealed_in_redis(
    client: Client, pool: asyncpg.Pool, app: web.Application
) -> None:
    user, headers = await session(client, pool, "viewer")
    enrolled = await (
        await client.post("/api/auth/totp/enroll", json={"password": PASSWORD}, headers=headers)
    ).json()
    redis = app[STORES].redis
    stored = await redis.get(keys.pending_totp(user.id))
    assert stored is not None and enrolled["secret"].encode() not in stored
    assert await totp.pending(redis, user.id) == enrolled["secret"]
    # Bound to its user: the same bytes under another user's key do not open.
    other = await make_user(pool, "viewer")
    await redis.set(keys.pending_totp(other.id), stored)
    assert await totp.pending(redis, other.id) is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (None, 422, None),
        ({"password": "not the password"}, 403, "invalid_credentials"),
        ({"password": PASSWORD}, 200, None),
    ],
)
async def test_enrolment_asks_for_the_current_password(
    client: Client, pool: asyncpg.Pool, body: dict[str, str] | None, status: int, code: str | None
) -> None:
    # A stolen session must not be able to set a second factor that locks the owner out.
    _, headers = await session(client, pool, "viewer")
    response = await client.post("/api/auth/totp/enroll", json=body, headers=headers)
    assert response.status == status
    if code is not None:
        assert (await response.json())["error"]["code"] == code


async def test_login_requires_a_fresh_totp_code_and_refuses_replay(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user = await make_user(pool, "viewer", totp_secret=SECRET)
    credentials = {"username": user.username, "password": PASSWORD}
    missing = await client.post("/api/auth/login", json=credentials)
    assert (missing.status, (await missing.json())["error"]["code"]) == (401, "totp_required")
    code = code_at(SECRET, int(clock() // STEP_S) - 1)
    assert (await client.post("/api/auth/login", json=credentials | {"totp": code})).status == 200
    replay = await client.post("/api/auth/login", json=credentials | {"totp": code})
    assert (replay.status, (await replay.json())["error"]["code"]) == (401, "invalid_totp")


async def test_totp_guesses_are_rate_limited(client: Client, pool: asyncpg.Pool, clock: FakeClock) -> None:
    user = await make_user(pool, "viewer", totp_secret=SECRET)
    valid = {code_at(SECRET, int(clock() // STEP_S) + offset) for offset in (-1, 0, 1)}
    guesses = [f"{n:06d}" for n in range(20) if f"{n:06d}" not in valid]
    credentials = {"username": user.username, "password": PASSWORD}
    statuses = [
        (await client.post("/api/auth/login", json=credentials | {"totp": guess})).status
        for guess in guesses[:6]
    ]
    assert statuses == [401] * 5 + [429]
    clock.advance(301)
    right = code_at(SECRET, int(clock() // STEP_S))
    assert (await client.post("/api/auth/login", json=credentials | {"totp": right})).status == 200


async def test_disabling_totp_needs_a_current_code(
    client: Client, pool: asyncpg.Pool, clock: FakeClock
) -> None:
    user = await make_user(pool, "viewer", totp_secret=SECRET)
    code = code_at(SECRET, int(clock() // STEP_S))
    login = await client.post(
        "/api/auth/login", json={"username": user.username, "password": PASSWORD, "totp": code}
    )
    headers = {"Authorization": f"Bearer {(await login.json())['access_token']}"}
    replay = await client.post("/api/auth/totp/disable", json={"code": code}, headers=headers)
    assert replay.status == 401
    clock.advance(STEP_S)
    fresh = code_at(SECRET, int(clock() // STEP_S))
    assert (await client.post("/api/auth/totp/disable", json={"code": fresh}, headers=headers)).status == 204
    assert (
        await client.post("/api/auth/login", json={"username": user.username, "password": PASSWORD})
    ).status == 200
