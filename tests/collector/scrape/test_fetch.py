"""Fetching targets over real loopback HTTP servers: negotiation, limits, gzip bombs, failures."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from collector.netpolicy import BASE_POLICY, NetworkPolicy
from collector.scrape.fetch import ACCEPT, FetchError, FetchSpec, fetch, new_session
from tests.loopback import FakeResolver, loopback_only

PAGE = b"# TYPE up gauge\nup 1\n"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with new_session() as session:
        yield session


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_get("/metrics", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/metrics"))

    yield start
    for server in servers:
        await server.close()


async def test_plain_page_is_returned_with_its_content_type(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.Response(body=PAGE, content_type="text/plain", charset="utf-8")

    page = await fetch(session, FetchSpec(url=await serve(handler), timeout_s=5))
    assert page.body == PAGE and page.content_type.startswith("text/plain")
    assert seen["Accept"] == ACCEPT and seen["Accept"].startswith("application/openmetrics-text")
    assert seen["X-Prometheus-Scrape-Timeout-Seconds"] == "5"
    assert seen["Accept-Encoding"] == "gzip" and seen["User-Agent"].startswith("OpenManager")


async def test_gzip_body_is_inflated(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(PAGE), headers={"Content-Encoding": "gzip"})

    page = await fetch(session, FetchSpec(url=await serve(handler), timeout_s=5))
    assert page.body == PAGE


async def test_gzip_bomb_stops_at_the_uncompressed_limit(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    bomb = gzip.compress(b"0" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(FetchError) as caught:
        await fetch(session, FetchSpec(url=await serve(handler), timeout_s=10, body_limit_bytes=1024 * 1024))
    assert caught.value.reason == "body_size_limit"


async def test_plain_body_over_the_limit_fails(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    with pytest.raises(FetchError, match="exceeds the limit of 4096 bytes"):
        await fetch(session, FetchSpec(url=await serve(handler), timeout_s=5, body_limit_bytes=4096))


@pytest.mark.parametrize("status", [204, 301, 404, 500, 503])
async def test_any_status_but_200_fails(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]], status: int
) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "/elsewhere"} if status == 301 else {})

    with pytest.raises(FetchError) as caught:
        await fetch(session, FetchSpec(url=await serve(handler), timeout_s=5))
    assert caught.value.reason in ("http_status", "http")


async def test_slow_target_times_out_within_the_scrape_timeout(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"# TYPE up gauge\n")
        await asyncio.sleep(5)
        return response

    started = asyncio.get_running_loop().time()
    with pytest.raises(FetchError) as caught:
        await fetch(session, FetchSpec(url=await serve(handler), timeout_s=0.3))
    assert caught.value.reason == "timeout"
    assert asyncio.get_running_loop().time() - started < 2


async def test_refused_connection_is_a_connection_failure(session: aiohttp.ClientSession) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch(session, FetchSpec(url="http://127.0.0.1:1/metrics", timeout_s=2))
    assert caught.value.reason == "connection"


async def test_truncated_gzip_fails(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(PAGE * 100)[:30], headers={"Content-Encoding": "gzip"})

    with pytest.raises(FetchError) as caught:
        await fetch(session, FetchSpec(url=await serve(handler), timeout_s=5))
    assert caught.value.reason == "decompress"


async def test_basic_auth_and_bearer_token_are_sent(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(body=PAGE)

    url = await serve(handler)
    await fetch(session, FetchSpec(url=url, timeout_s=5, basic_auth=("prom", "s3cret")))
    await fetch(session, FetchSpec(url=url, timeout_s=5, bearer_token="tok"))
    assert seen == [aiohttp.encode_basic_auth("prom", "s3cret"), "Bearer tok"]


async def test_tls_target_is_verified_against_the_configured_ca(session: aiohttp.ClientSession) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    app = web.Application()

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=PAGE)

    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"https://127.0.0.1:{port}/metrics"
    try:
        with pytest.raises(FetchError) as caught:
            await fetch(session, FetchSpec(url=url, timeout_s=5))
        assert caught.value.reason in ("tls", "connection")
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        page = await fetch(session, FetchSpec(url=url, timeout_s=5, ssl_context=client_ctx))
        assert page.body == PAGE
    finally:
        await runner.cleanup()


async def test_redirects_are_followed_unless_the_spec_says_not_to(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def page(_: web.Request) -> web.Response:
        return web.Response(body=PAGE)

    final = await serve(page)

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPFound(final)

    url = await serve(moved)
    assert (await fetch(session, FetchSpec(url=url, timeout_s=5))).body == PAGE
    with pytest.raises(FetchError) as caught:
        await fetch(session, FetchSpec(url=url, timeout_s=5, follow_redirects=False))
    assert caught.value.reason == "redirect" and "302" in str(caught.value)


async def test_a_policy_session_refuses_a_name_that_rebinds_to_a_metadata_address(
    serve: Callable[[Handler], Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    loopback_only(monkeypatch)

    async def handler(_: web.Request) -> web.Response:
        response = web.Response(body=PAGE)
        response.force_close()  # every scrape makes a new connection, as after an idle timeout
        return response

    port = URL(await serve(handler)).port
    resolver = FakeResolver({"exporter.test": ["127.0.0.1"]})
    spec = FetchSpec(url=f"http://exporter.test:{port}/metrics", timeout_s=5)
    async with new_session(policy=BASE_POLICY, resolver=resolver) as guarded:
        assert (await fetch(guarded, spec)).body == PAGE
        resolver.answers["exporter.test"] = ["169.254.169.254"]
        assert isinstance(guarded.connector, aiohttp.TCPConnector)
        guarded.connector.clear_dns_cache()  # the DNS cache entry expired
        with pytest.raises(FetchError) as caught:
            await fetch(guarded, spec)
    assert caught.value.reason == "refused"
    assert str(caught.value) == (
        f"connection to exporter.test:{port} refused by the address policy:"
        " a link-local or cloud metadata address"
    )


async def test_a_session_without_a_policy_is_not_restricted(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[str]]
) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=PAGE)

    url = await serve(handler)
    denied = NetworkPolicy(deny=(ipaddress.ip_network("127.0.0.0/8"),))
    async with new_session(policy=denied) as guarded:
        with pytest.raises(FetchError) as caught:
            await fetch(guarded, FetchSpec(url=url, timeout_s=5))
    assert caught.value.reason == "refused"
    assert (await fetch(session, FetchSpec(url=url, timeout_s=5))).body == PAGE
