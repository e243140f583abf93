"""A loopback TCP proxy in front of a real store, which a test cuts (refused and reset) or freezes (hung).

It runs its own event loop in a thread, so it serves an app in the test's loop and a service process alike.
``store_dsn`` / ``redis_url`` rewrite a store's address to the proxy's, for TCP and Unix-socket upstreams.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.parse
from collections.abc import Coroutine
from typing import Any

from tests.ports import free_port

Upstream = tuple[str, int] | str
"""A TCP (host, port), or the path of a Unix socket."""


class TcpProxy:
    """127.0.0.1:``port`` forwarding each connection to ``upstream`` until cut or frozen."""

    def __init__(self, upstream: Upstream, port: int | None = None) -> None:
        self.upstream = upstream
        self.port = port if port is not None else free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        # Bound to the proxy's loop on first use; set and cleared only from that loop afterwards.
        self._flowing = asyncio.Event()
        self._flowing.set()

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def open(self) -> None:
        """Accept and forward connections (again)."""
        self._run(self._open())

    def cut(self) -> None:
        """Refuse new connections and reset the open ones: the store is down."""
        self._run(self._cut())

    def freeze(self) -> None:
        """Keep accepting but forward nothing more, either way: the store hangs."""
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def thaw(self) -> None:
        """Forward again what was held and what comes next."""
        self._loop.call_soon_threadsafe(self._flowing.set)

    def close(self) -> None:
        """Cut and stop the proxy's thread."""
        self.thaw()
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _open(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            if isinstance(self.upstream, str):
                up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, up_writer))
        await asyncio.gather(self._pipe(client_reader, up_writer), self._pipe(up_reader, client_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        self._writers.discard(writer)
        writer.transport.abort()


def _unix_or_tcp(host: str | None, port: int | None, default_port: int, socket_dir: str | None) -> Upstream:
    if socket_dir is not None:
        return f"{socket_dir}/.s.PGSQL.{port or default_port}"
    return (host or "127.0.0.1", port or default_port)


def postgres_upstream(dsn: str) -> Upstream:
    """Where a PostgreSQL DSN connects (``?host=/dir`` is a Unix socket in that directory)."""
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qs(parts.query)
    socket_dir = query.get("host", [None])[0]
    return _unix_or_tcp(parts.hostname, parts.port, 5432, socket_dir)


def via_proxy_dsn(dsn: str, port: int) -> str:
    """``dsn`` connecting to 127.0.0.1:``port`` instead, same user, password and database."""
    parts = urllib.parse.urlsplit(dsn)
    userinfo = parts.netloc.rpartition("@")[0]
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in ("host", "port")]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(query), parts.fragment)
    )


def redis_upstream(url: str) -> Upstream:
    """Where a Redis URL connects (``unix://path`` is a Unix socket)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return (parts.hostname or "127.0.0.1", parts.port or 6379)


def via_proxy_redis_url(url: str, port: int) -> str:
    """``url``'s database on 127.0.0.1:``port``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        db = urllib.parse.parse_qs(parts.query).get("db", ["0"])[0]
    else:
        db = parts.path.strip("/") or "0"
    return f"redis://127.0.0.1:{port}/{db}"
