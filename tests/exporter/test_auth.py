"""Authentication: basic auth (bcrypt) and bearer tokens, through a real server and at the Authenticator."""

from __future__ import annotations

import base64
import time

import aiohttp
import pytest

from exporter.auth import AUTH_CACHE_TTL_S, Authenticator
from exporter.config import ExporterConfig
from exporter.web_config import WebConfig
from tests.exporter.conftest import Serve, bcrypt_hash

TOKEN = "token-0123456789abcdef"
PASSWORD = "correct horse"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def hashed_password() -> bytes:
    return bcrypt_hash(PASSWORD).encode()


@pytest.fixture
def basic_config(hashed_password: bytes) -> ExporterConfig:
    return ExporterConfig(web=WebConfig(basic_auth_users={"prometheus": hashed_password}))


@pytest.fixture
def bearer_config() -> ExporterConfig:
    return ExporterConfig(web=WebConfig(bearer_token=TOKEN))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def get(
    client: aiohttp.ClientSession, url: str, authorization: str | None = None
) -> aiohttp.ClientResponse:
    headers = {"Authorization": authorization} if authorization else {}
    async with client.get(url, headers=headers) as response:
        await response.read()
        return response


async def test_missing_basic_credentials_get_401_with_www_authenticate(
    serve: Serve, client: aiohttp.ClientSession, basic_config: ExporterConfig
) -> None:
    url = await serve(basic_config)
    response = await get(client, f"{url}/metrics")
    assert response.status == 401
    assert response.headers.getall("WWW-Authenticate") == [
        'Basic realm="openmanager-exporter", charset="UTF-8"'
    ]


async def test_wrong_password_gets_401_with_www_authenticate(
    serve: Serve, client: aiohttp.ClientSession, basic_config: ExporterConfig
) -> None:
    url = await serve(basic_config)
    response = await get(client, f"{url}/metrics", basic("prometheus", "wrong"))
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


async def test_unknown_user_gets_401(
    serve: Serve, client: aiohttp.ClientSession, basic_config: ExporterConfig
) -> None:
    url = await serve(basic_config)
    assert (await get(client, f"{url}/metrics", basic("mallory", PASSWORD))).status == 401


async def test_right_password_gets_metrics(
    serve: Serve, client: aiohttp.ClientSession, basic_config: ExporterConfig
) -> None:
    url = await serve(basic_config)
    assert (await get(client, f"{url}/metrics", basic("prometheus", PASSWORD))).status == 200
    assert (await get(client, f"{url}/", basic("prometheus", PASSWORD))).status == 200


async def test_health_endpoint_needs_no_credentials(
    serve: Serve, client: aiohttp.ClientSession, basic_config: ExporterConfig
) -> None:
    url = await serve(basic_config)
    assert (await get(client, f"{url}/-/healthy")).status == 200


async def test_index_page_needs_credentials(
    serve: Serve, client: aiohttp.ClientSession, basic_config: ExporterConfig
) -> None:
    url = await serve(basic_config)
    assert (await get(client, f"{url}/")).status == 401


async def test_missing_bearer_token_gets_401_with_bearer_challenge(
    serve: Serve, client: aiohttp.ClientSession, bearer_config: ExporterConfig
) -> None:
    url = await serve(bearer_config)
    response = await get(client, f"{url}/metrics")
    assert response.status == 401
    assert response.headers.getall("WWW-Authenticate") == ['Bearer realm="openmanager-exporter"']


async def test_wrong_bearer_token_gets_401(
    serve: Serve, client: aiohttp.ClientSession, bearer_config: ExporterConfig
) -> None:
    url = await serve(bearer_config)
    assert (await get(client, f"{url}/metrics", f"Bearer {TOKEN[:-1]}x")).status == 401
    assert (await get(client, f"{url}/metrics", f"Bearer {TOKEN}{TOKEN}")).status == 401


async def test_right_bearer_token_gets_metrics(
    serve: Serve, client: aiohttp.ClientSession, bearer_config: ExporterConfig
) -> None:
    url = await serve(bearer_config)
    assert (await get(client, f"{url}/metrics", f"Bearer {TOKEN}")).status == 200


async def test_basic_credentials_are_not_accepted_when_only_a_token_is_configured(
    serve: Serve, client: aiohttp.ClientSession, bearer_config: ExporterConfig
) -> None:
    url = await serve(bearer_config)
    assert (await get(client, f"{url}/metrics", basic("prometheus", TOKEN))).status == 401


async def test_either_scheme_works_when_both_are_configured(
    serve: Serve, client: aiohttp.ClientSession, hashed_password: bytes
) -> None:
    url = await serve(
        ExporterConfig(web=WebConfig(basic_auth_users={"p": hashed_password}, bearer_token=TOKEN))
    )
    response = await get(client, f"{url}/metrics")
    assert len(response.headers.getall("WWW-Authenticate")) == 2
    assert (await get(client, f"{url}/metrics", f"Bearer {TOKEN}")).status == 200
    assert (await get(client, f"{url}/metrics", basic("p", PASSWORD))).status == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Digest abc",
        "Bearer",
    ],
)
async def test_malformed_authorization_is_rejected(hashed_password: bytes, header: str) -> None:
    auth = Authenticator(WebConfig(basic_auth_users={"p": hashed_password}))
    try:
        assert not await auth.check(header)
    finally:
        auth.close()


async def test_success_is_cached_for_the_ttl_and_then_checked_again(hashed_password: bytes) -> None:
    clock = FakeClock()
    auth = Authenticator(WebConfig(basic_auth_users={"p": bcrypt_hash(PASSWORD, rounds=12).encode()}), clock)
    header = basic("p", PASSWORD)
    try:
        started = time.perf_counter()
        assert await auth.check(header)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        assert await auth.check(header)
        cached_s = time.perf_counter() - started
        assert cached_s < first_s / 10
        clock.now += AUTH_CACHE_TTL_S + 1
        started = time.perf_counter()
        assert await auth.check(header)
        assert time.perf_counter() - started > first_s / 4
    finally:
        auth.close()


async def test_failures_are_not_cached(hashed_password: bytes) -> None:
    auth = Authenticator(WebConfig(basic_auth_users={"p": hashed_password}))
    try:
        assert not await auth.check(basic("p", "wrong"))
        assert not await auth.check(basic("p", "wrong"))
        assert await auth.check(basic("p", PASSWORD))
    finally:
        auth.close()


async def test_unknown_user_costs_a_bcrypt_check_like_a_wrong_password() -> None:
    auth = Authenticator(WebConfig(basic_auth_users={"p": bcrypt_hash(PASSWORD, rounds=10).encode()}))
    try:
        started = time.perf_counter()
        assert not await auth.check(basic("p", "wrong"))
        wrong_password_s = time.perf_counter() - started
        started = time.perf_counter()
        assert not await auth.check(basic("nobody", "wrong"))
        unknown_user_s = time.perf_counter() - started
        assert unknown_user_s > wrong_password_s / 3
    finally:
        auth.close()


async def test_password_longer_than_bcrypt_allows_is_rejected_not_an_error(hashed_password: bytes) -> None:
    auth = Authenticator(WebConfig(basic_auth_users={"p": hashed_password}))
    try:
        assert not await auth.check(basic("p", "x" * 100))
    finally:
        auth.close()


async def test_failed_attempt_log_never_contains_the_credentials(
    serve: Serve,
    client: aiohttp.ClientSession,
    basic_config: ExporterConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = await serve(basic_config)
    await get(client, f"{url}/metrics", basic("prometheus", "hunter2-guess"))
    assert "authentication failed" in caplog.text
    assert "hunter2" not in caplog.text
    assert base64.b64encode(b"prometheus:hunter2-guess").decode() not in caplog.text
