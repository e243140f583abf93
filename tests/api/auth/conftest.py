"""Fixtures for the auth tests: the real application on this run's stores, a clock the test moves, users."""

from __future__ import annotations

import dataclasses
import functools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.auth.accounts import set_totp_secret
from api.auth.keys import PREFIX
from api.keys import AUTH_CONFIG, STORES
from api.passwords import hash_password
from collector.config.settings import Settings
from collector.storage.users import Role

PASSWORD = "correct horse battery staple"

Client = TestClient[web.Request, web.Application]


class FakeClock:
    """A clock that stands still until the test moves it (starts at the real time, so stores agree)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@dataclass(frozen=True)
class AuthUser:
    """A user made for a test, with the password it logs in with."""

    id: uuid.UUID
    username: str
    role: Role
    password: str = PASSWORD


@functools.cache
def password_hash() -> str:
    """One argon2 hash of :data:`PASSWORD`, shared by every test user (hashing costs ~50 ms)."""
    return hash_password(PASSWORD)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> web.Application:
    application = create_app(settings)
    application[AUTH_CONFIG] = dataclasses.replace(application[AUTH_CONFIG], clock=clock)
    return application


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app)) as test_client:
        # Every test logs in from 127.0.0.1: counters left by an earlier test must not lock this one out.
        redis = app[STORES].redis
        async for key in redis.scan_iter(match=f"{PREFIX}*"):
            await redis.delete(key)
        yield test_client


@pytest.fixture
def pool(client: Client, app: web.Application) -> asyncpg.Pool:
    return app[STORES].pg


async def make_user(pool: asyncpg.Pool, role: Role, *, totp_secret: str | None = None) -> AuthUser:
    """Insert a user with :data:`PASSWORD` under a unique name."""
    username = f"{role}-{uuid.uuid4().hex[:12]}"
    user_id = await pool.fetchval(
        "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) RETURNING id",
        username,
        password_hash(),
        role,
    )
    if totp_secret is not None:
        await set_totp_secret(pool, user_id, totp_secret)
    return AuthUser(user_id, username, role)


async def login(client: Client, user: AuthUser, **extra: str) -> dict[str, str]:
    """Log ``user`` in; returns the token pair (asserts success)."""
    response = await client.post(
        "/api/auth/login", json={"username": user.username, "password": user.password, **extra}
    )
    assert response.status == 200, await response.text()
    body: dict[str, str] = await response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def session(client: Client, pool: asyncpg.Pool, role: Role) -> tuple[AuthUser, dict[str, str]]:
    """A new user of ``role``, logged in: the user and the Authorization header of its access token."""
    user = await make_user(pool, role)
    tokens = await login(client, user)
    return user, bearer(tokens["access_token"])


async def make_server(pool: asyncpg.Pool) -> uuid.UUID:
    """Insert a server row to grant access to."""
    server_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO servers (name, hostname) VALUES ($1, $1) RETURNING id", f"host-{uuid.uuid4().hex[:8]}"
    )
    return server_id
