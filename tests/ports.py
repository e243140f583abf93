"""Loopback ports for tests that start real servers, as processes or as aiohttp runners."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import AsyncIterator

from aiohttp import web


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for programs that must be told their port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float = 20) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.asynccontextmanager
async def listening(runner: web.BaseRunner) -> AsyncIterator[int]:
    """``runner`` set up and listening on a free loopback port, which is yielded; cleaned up after."""
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()
