"""The API's HTTP server with slow and idle clients over raw loopback sockets; its ``Server`` header."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.httpserver import (
    SERVER_HEADER,
    GuardedAppRunner,
    ShutdownBudget,
    server_header,
    server_tls_context,
    strict_transport_security,
)
from collector.config.api_settings import TlsSettings
from collector.config.configfile import ConfigError
from tests.ports import free_port

HEADER_TIMEOUT_S = 0.5
IDLE_TIMEOUT_S = 3.0


async def echo(request: web.Request) -> web.Response:
    return web.Response(text=f"{len(await request.read())} bytes")


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.on_response_prepare.append(server_header)
    runner = GuardedAppRunner(app, keepalive_timeout=IDLE_TIMEOUT_S, header_timeout_s=HEADER_TIMEOUT_S)
    await runner.setup()
    listen_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", listen_port).start()
    yield listen_port
    await runner.cleanup()


async def _closed_within(reader: asyncio.StreamReader, timeout_s: float) -> float | None:
    """Seconds until the server closed the connection (reading what it sent), None if it did not."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


async def _trickle(writer: asyncio.StreamWriter, data: bytes, pieces: int, pause_s: float) -> None:
    size = -(-len(data) // pieces)
    for start in range(0, len(data), size):
        writer.write(data[start : start + size])
        await writer.drain()
        await asyncio.sleep(pause_s)


HEAD = b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nAccept: */*\r\nX-Filler: " + b"x" * 40


@pytest.mark.parametrize(
    ("client", "closed_by_s"),
    [
        # One header byte every 0.25 s: the head never completes within its deadline.
        ("slow head", HEADER_TIMEOUT_S + 1.0),
        # Connects and says nothing.
        ("silent", IDLE_TIMEOUT_S + 1.0),
        # One answered request, then nothing.
        ("idle keep-alive", IDLE_TIMEOUT_S + 1.0),
    ],
)
async def test_slow_and_idle_clients_are_disconnected(port: int, client: str, closed_by_s: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if client == "slow head":
            trickling = asyncio.create_task(_trickle(writer, HEAD, len(HEAD), 0.25))
        elif client == "idle keep-alive":
            writer.write(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            assert (await reader.readuntil(b"0 bytes")).startswith(b"HTTP/1.1 200")
        closed_after_s = await _closed_within(reader, closed_by_s + 5)
        assert closed_after_s is not None and closed_after_s < closed_by_s, (client, closed_after_s)
    finally:
        if client == "slow head":
            trickling.cancel()
            with pytest.raises((asyncio.CancelledError, ConnectionError)):
                await trickling
        writer.close()


async def test_a_slow_body_of_a_complete_head_is_not_cut_by_the_head_deadline(port: int) -> None:
    body = b"y" * 600
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 600\r\nConnection: close\r\n\r\n"
        )
        await _trickle(writer, body, 6, HEADER_TIMEOUT_S / 2)
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"600 bytes")


@pytest.mark.parametrize(
    "raw",
    [b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"NOT HTTP AT ALL\r\n\r\n"],
    ids=["answer", "parser error"],
)
async def test_no_answer_names_a_version_in_its_server_header(port: int, raw: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
    assert headers["Server"] == SERVER_HEADER


def _tls_settings(tmp_path: Path, ca: trustme.CA, min_version: Literal["1.2", "1.3"] = "1.2") -> TlsSettings:
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    return TlsSettings(
        cert_file=tmp_path / "server.pem", key_file=tmp_path / "server.key", min_version=min_version
    )


async def _handshake(port: int, context: ssl.SSLContext) -> str | None:
    """The TLS version a client with ``context`` agrees on with the server, or None when refused."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
    except (ssl.SSLError, ConnectionError):
        return None
    ssl_object = writer.get_extra_info("ssl_object")
    version = ssl_object.version() if ssl_object is not None else None
    writer.close()
    return version


@pytest.mark.parametrize(
    ("min_version", "client_max", "agreed"),
    [
        ("1.2", ssl.TLSVersion.TLSv1_1, None),
        ("1.2", ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
        ("1.2", ssl.TLSVersion.TLSv1_3, "TLSv1.3"),
        ("1.3", ssl.TLSVersion.TLSv1_2, None),
    ],
)
async def test_https_refuses_versions_below_the_minimum(
    tmp_path: Path, min_version: Literal["1.2", "1.3"], client_max: ssl.TLSVersion, agreed: str | None
) -> None:
    ca = trustme.CA()
    server_context = server_tls_context(_tls_settings(tmp_path, ca, min_version), "openmanager.yml")
    app = web.Application()
    app.router.add_get("/", echo)
    runner = GuardedAppRunner(app, header_timeout_s=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        client = ssl.create_default_context()
        ca.configure_trust(client)
        with contextlib.suppress(ValueError):  # OpenSSL builds without TLS 1.1 refuse to offer it
            client.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # naming TLS 1.1 is the point here
            client.maximum_version = client_max
        assert await _handshake(port, client) == agreed
    finally:
        await runner.cleanup()


def test_an_unreadable_or_mismatched_certificate_is_a_config_error_naming_the_files(tmp_path: Path) -> None:
    ca = trustme.CA()
    settings = _tls_settings(tmp_path, ca)
    other = ca.issue_cert("127.0.0.1")
    other.private_key_pem.write_to_path(str(tmp_path / "other.key"))
    for broken in (
        TlsSettings(cert_file=tmp_path / "missing.pem", key_file=settings.key_file),
        TlsSettings(cert_file=settings.cert_file, key_file=tmp_path / "other.key"),
    ):
        with pytest.raises(ConfigError) as caught:
            server_tls_context(broken, "openmanager.yml")
        message = str(caught.value)
        assert message.startswith("openmanager.yml: tls.cert_file: ")
        assert broken.cert_file is not None and broken.cert_file.name in message
        assert str(broken.key_file) in message


def test_tls_settings_need_both_files() -> None:
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        TlsSettings(cert_file=Path("server.pem"))


async def test_hsts_hook_sets_the_header_with_its_max_age() -> None:
    app = web.Application()
    app.router.add_get("/", echo)
    app.on_response_prepare.append(strict_transport_security(600))
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/")
        assert response.headers["Strict-Transport-Security"] == "max-age=600"


def test_shutdown_budget_shares_one_bound_between_stages() -> None:
    budget = ShutdownBudget(0.2)
    first = budget.remaining_s()
    assert 0.19 < first <= 0.2
    time.sleep(0.25)
    assert budget.remaining_s() == 0.0
