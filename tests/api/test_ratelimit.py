"""The API rate limit: a burst per caller, then 429 with Retry-After; exempt probes; separate budgets.

``limits`` reads ``time.time()`` itself, so the clock is replaced in its modules (and ours): time stands still
unless a test moves it, and no window boundary can fall in the middle of a test.
"""

from __future__ import annotations

import base64
import secrets
import types
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import api.ratelimit
from api.app import create_app
from api.auth.accounts import session_user
from api.auth.apitokens import authenticate_api_token
from api.auth.keys import PREFIX
from api.errors import error_middleware
from api.keys import SETTINGS, STORES
from api.ratelimit import rate_limit_middleware, window_s
from collector.config.api_settings import RateLimitSettings
from tests.api.auth.conftest import Client, FakeClock, bearer, login, make_user
from tests.conftest import SettingsFactory


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    frozen = types.SimpleNamespace(time=fake)
    for module in ("limits.aio.storage.memory", "limits.aio.strategies"):
        monkeypatch.setattr(f"{module}.time", frozen)
    monkeypatch.setattr(api.ratelimit, "time", frozen)
    return fake


async def ok(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def small_app(requests_per_s: float, burst: int) -> web.Application:
    """The middleware alone in front of a few routes: every caller is anonymous, keyed by address."""
    limit = RateLimitSettings(requests_per_s=requests_per_s, burst=burst)
    app = web.Application(middlewares=[error_middleware, rate_limit_middleware(limit)])
    for path in ("/api/things", "/api/health", "/metrics"):
        app.router.add_get(path, ok)
    return app


@pytest.fixture
async def small_client() -> AsyncIterator[Client]:
    async with TestClient(TestServer(small_app(requests_per_s=1, burst=3), host="127.0.0.1")) as client:
        yield client


@pytest.mark.parametrize(
    ("requests_per_s", "burst", "expected_s"), [(50, 1000, 20), (3, 10, 4), (100, 10, 1), (0.5, 3, 6)]
)
def test_window_holds_the_burst_at_the_average_rate(
    requests_per_s: float, burst: int, expected_s: int
) -> None:
    assert window_s(RateLimitSettings(requests_per_s=requests_per_s, burst=burst)) == expected_s


async def test_a_burst_passes_and_the_next_request_is_a_429_with_retry_after(small_client: Client) -> None:
    for _ in range(3):
        assert (await small_client.get("/api/things")).status == 200
    refused = await small_client.get("/api/things")
    body = await refused.json()
    assert refused.status == 429
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 3
    assert body["error"]["details"] == {"retry_after_s": retry_after, "burst": 3, "window_s": 3}


async def test_the_budget_comes_back_with_time(small_client: Client, clock: FakeClock) -> None:
    for _ in range(3):
        await small_client.get("/api/things")
    refused = await small_client.get("/api/things")
    assert refused.status == 429
    clock.advance(int(refused.headers["Retry-After"]))
    assert (await small_client.get("/api/things")).status == 200
    clock.advance(2 * 3)
    for _ in range(3):
        assert (await small_client.get("/api/things")).status == 200


async def test_health_and_metrics_are_never_limited(small_client: Client) -> None:
    for _ in range(4):
        await small_client.get("/api/things")
    for _ in range(10):
        assert (await small_client.get("/api/health")).status == 200
        assert (await small_client.get("/metrics")).status == 200
    assert (await small_client.get("/api/things")).status == 429


async def test_a_zero_rate_turns_the_limit_off() -> None:
    async with TestClient(TestServer(small_app(requests_per_s=0, burst=1), host="127.0.0.1")) as client:
        for _ in range(20):
            assert (await client.get("/api/things")).status == 200


@pytest.fixture
async def limited_client(make_settings: SettingsFactory) -> AsyncIterator[Client]:
    app = create_app(make_settings(rate_limit_rps="1", rate_limit_burst="3"))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        redis = app[STORES].redis
        async for key in redis.scan_iter(match=f"{PREFIX}*"):
            await redis.delete(key)
        yield client


async def test_each_principal_and_the_anonymous_address_have_budgets_of_their_own(
    limited_client: Client,
) -> None:
    pool = limited_client.app[STORES].pg
    # Two logins: anonymous requests, spending two of the address's three.
    first = bearer((await login(limited_client, await make_user(pool, "viewer")))["access_token"])
    second = bearer((await login(limited_client, await make_user(pool, "viewer")))["access_token"])
    for _ in range(3):
        assert (await limited_client.get("/api/auth/me", headers=first)).status == 200
    assert (await limited_client.get("/api/auth/me", headers=first)).status == 429
    assert (await limited_client.get("/api/auth/me", headers=second)).status == 200
    assert (await limited_client.get("/api/openapi.json")).status == 200
    assert (await limited_client.get("/api/openapi.json")).status == 429
    assert (await limited_client.get("/api/health")).status == 200


async def test_a_refused_request_reaches_neither_the_handler_nor_the_audit_log(
    limited_client: Client, clock: FakeClock
) -> None:
    pool = limited_client.app[STORES].pg
    user = await make_user(pool, "viewer")
    headers = bearer((await login(limited_client, user))["access_token"])
    for _ in range(3):
        await limited_client.get("/api/auth/me", headers=headers)
    refused = await limited_client.post("/api/auth/logout", headers=headers)
    assert refused.status == 429
    audited = "SELECT count(*) FROM audit_log WHERE path = '/api/auth/logout' AND actor_name = $1"
    assert await pool.fetchval(audited, user.username) == 0
    # The logout did not happen: the session still works once the budget is back.
    clock.advance(3)
    assert (await limited_client.get("/api/auth/me", headers=headers)).status == 200


@pytest.fixture
async def guarded_client(make_settings: SettingsFactory) -> AsyncIterator[Client]:
    """The app with the general limit off and an address allowed 10 refused tokens per 10 s."""
    settings = make_settings()
    limits = RateLimitSettings(requests_per_s=0, auth_failures_per_s=1, auth_failure_burst=10)
    app = create_app(settings.model_copy(update={"rate_limit": limits}))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        redis = app[STORES].redis
        async for key in redis.scan_iter(match=f"{PREFIX}*"):
            await redis.delete(key)
        yield client


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often the middleware looked a token up in PostgreSQL, by kind."""
    counts: Counter[str] = Counter()

    def counting(kind: str, lookup: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
        async def counted(*args: object, **kwargs: object) -> object:
            counts[kind] += 1
            return await lookup(*args, **kwargs)

        return counted

    monkeypatch.setattr(
        "api.auth.middleware.authenticate_api_token", counting("api_token", authenticate_api_token)
    )
    monkeypatch.setattr("api.auth.middleware.session_user", counting("session_user", session_user))
    return counts


def _forged_access_token(_: int) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(f'{{"sub":"{uuid.uuid4()}"}}'.encode()).rstrip(b"=").decode()
    return f"{header}.{claims}.{secrets.token_urlsafe(32)}"


@pytest.mark.parametrize(
    ("form", "make_token", "max_lookups"),
    [
        ("random API tokens", lambda _: f"om_{secrets.token_urlsafe(32)}", 10),
        ("forged access tokens", _forged_access_token, 0),
        ("one unknown API token repeated", lambda _: "om_" + "u" * 43, 1),
    ],
)
async def test_refused_tokens_cost_at_most_a_burst_of_lookups_then_a_429(
    guarded_client: Client,
    lookups: Counter[str],
    form: str,
    make_token: Callable[[int], str],
    max_lookups: int,
) -> None:
    statuses: Counter[int] = Counter()
    for n in range(30):
        response = await guarded_client.get("/api/auth/me", headers=bearer(make_token(n)))
        statuses[response.status] += 1
        if response.status == 429:
            assert 1 <= int(response.headers["Retry-After"]) <= 10
            assert (await response.json())["error"]["code"] == "rate_limited"
    assert statuses == {401: 10, 429: 20}, form
    assert sum(lookups.values()) <= max_lookups, (form, lookups)


async def test_an_address_past_its_refusals_keeps_its_checked_callers_and_gets_its_budget_back(
    guarded_client: Client, lookups: Counter[str], clock: FakeClock
) -> None:
    pool = guarded_client.app[STORES].pg
    headers = bearer((await login(guarded_client, await make_user(pool, "viewer")))["access_token"])
    assert (await guarded_client.get("/api/auth/me", headers=headers)).status == 200
    for _ in range(11):
        await guarded_client.get("/api/auth/me", headers=bearer(f"om_{secrets.token_urlsafe(32)}"))
    assert (await guarded_client.get("/api/auth/me", headers=bearer("om_x"))).status == 429
    # Checked a moment ago: the principal cache answers, no lookup is refused.
    assert (await guarded_client.get("/api/auth/me", headers=headers)).status == 200
    clock.advance(2 * 10)
    assert (await guarded_client.get("/api/auth/me", headers=bearer("om_y"))).status == 401


@pytest.mark.parametrize(
    ("trusted", "same_budget"),
    [("", True), ("127.0.0.1/32", False)],
    ids=["untrusted-proxy-header-ignored", "trusted-proxy-clients-apart"],
)
async def test_clients_behind_a_trusted_proxy_have_budgets_of_their_own(
    make_settings: SettingsFactory, trusted: str, same_budget: bool
) -> None:
    settings = make_settings(trusted_proxies=trusted)
    app = small_app(requests_per_s=1, burst=2)
    app[SETTINGS] = settings

    async def status(client_ip: str) -> int:
        return (await client.get("/api/things", headers={"X-Forwarded-For": client_ip})).status

    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        first = [await status("198.51.100.7") for _ in range(3)]
        other = await status("198.51.100.8")
    assert first == [200, 200, 429]
    assert other == (429 if same_budget else 200)
