"""Fetching a target's metrics page over HTTP, the way Prometheus asks for it.

One shared ``aiohttp.ClientSession`` with a bounded connection pool serves every target. The timeout covers
the whole scrape (connect, headers, body). The body limit counts *uncompressed* bytes: a gzip body is
inflated here chunk by chunk, so a gzip bomb stops at the limit instead of filling memory. Any status but 200
fails the scrape; a redirect fails it too when the spec says not to follow redirects (servers registered
through the API). A session made with a :class:`~collector.netpolicy.NetworkPolicy` refuses, at connect
time, every address the policy refuses; such a scrape fails with the reason ``refused``.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass, field
from functools import cached_property

import aiohttp
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDict
from yarl import URL

from collector.netpolicy import NetworkPolicy, refused_by_policy, socket_factory

# OpenMetrics first, then the classic text format, as Prometheus negotiates.
ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,"
    "*/*;q=0.2"
)
USER_AGENT = "OpenManager-Collector/0.1"
_READ_CHUNK_BYTES = 64 * 1024


class FetchError(Exception):
    """A scrape failed before its body could be parsed; ``reason`` is a short, stable label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FetchSpec:
    """Everything needed to fetch one target."""

    url: str
    timeout_s: float
    body_limit_bytes: int = 0
    """0 means no limit."""
    headers: dict[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None
    bearer_token: str | None = None
    ssl_context: ssl.SSLContext | None = None
    server_name: str | None = None
    """Name to verify the server certificate against (and send as SNI) instead of the URL's host."""
    follow_redirects: bool = True
    """Follow up to three redirects; False fails the scrape on a redirect instead."""

    @cached_property
    def request_url(self) -> URL:
        """The URL, parsed once rather than on every scrape."""
        return URL(self.url)

    @cached_property
    def request_headers(self) -> CIMultiDict[str]:
        """The request headers, built once rather than on every scrape."""
        return CIMultiDict(_request_headers(self))


@dataclass(frozen=True)
class FetchedPage:
    """A successful response: the uncompressed body and its content type."""

    body: bytes
    content_type: str


def new_session(
    *,
    max_connections: int = 512,
    max_per_host: int = 4,
    keepalive_s: float = 300.0,
    policy: NetworkPolicy | None = None,
    resolver: AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """The shared client session: bounded pool, no automatic decompression (the limit needs raw bytes).

    Idle connections are kept well past the longest usual scrape interval: reconnecting to every target
    on every scrape would cost more than the scrape itself. Targets set no cookies worth keeping. With a
    ``policy``, every connection is checked against it when it is made (``resolver`` replaces the DNS one).
    """
    connector = aiohttp.TCPConnector(
        socket_factory=socket_factory(policy) if policy is not None else None,
        resolver=resolver,
        limit=max_connections,
        limit_per_host=max_per_host,
        ttl_dns_cache=300,
        keepalive_timeout=keepalive_s,
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        raise_for_status=False,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def _request_headers(spec: FetchSpec) -> dict[str, str]:
    headers = {
        "Accept": ACCEPT,
        "Accept-Encoding": "gzip",
        "User-Agent": USER_AGENT,
        "X-Prometheus-Scrape-Timeout-Seconds": f"{spec.timeout_s:g}",
        **spec.headers,
    }
    if spec.basic_auth is not None:
        headers["Authorization"] = aiohttp.encode_basic_auth(*spec.basic_auth)
    elif spec.bearer_token is not None:
        headers["Authorization"] = f"Bearer {spec.bearer_token}"
    return headers


class _LimitedBody:
    """Accumulates body bytes, inflating gzip on the fly, and fails once past the limit."""

    def __init__(self, gzipped: bool, limit_bytes: int) -> None:
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
        self._limit = limit_bytes
        self._parts: list[bytes] = []
        self._size = 0

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._limit and self._size > self._limit:
            raise FetchError("body_size_limit", f"body exceeds the limit of {self._limit} bytes")
        self._parts.append(data)

    def feed(self, chunk: bytes) -> None:
        if self._inflater is None:
            self._add(chunk)
            return
        try:
            # Inflate at most one byte past the limit per step, so a bomb never expands in memory.
            data = self._inflater.decompress(chunk, self._limit + 1 if self._limit else 0)
            self._add(data)
            while self._inflater.unconsumed_tail:
                data = self._inflater.decompress(
                    self._inflater.unconsumed_tail, self._limit + 1 if self._limit else 0
                )
                self._add(data)
        except zlib.error as exc:
            raise FetchError("decompress", f"invalid gzip body: {exc}") from None

    def finish(self) -> bytes:
        if self._inflater is not None:
            try:
                self._add(self._inflater.flush())
            except zlib.error as exc:
                raise FetchError("decompress", f"invalid gzip body: {exc}") from None
            if not self._inflater.eof:
                raise FetchError("decompress", "gzip body is truncated")
        return b"".join(self._parts)


async def fetch(session: aiohttp.ClientSession, spec: FetchSpec) -> FetchedPage:
    """GET ``spec.url``; raises :class:`FetchError` on any failure, within ``spec.timeout_s`` overall."""
    try:
        async with asyncio.timeout(spec.timeout_s):
            async with session.get(
                spec.request_url,
                headers=spec.request_headers,
                ssl=spec.ssl_context if spec.ssl_context is not None else True,
                server_hostname=spec.server_name,
                allow_redirects=spec.follow_redirects,
                max_redirects=3,
            ) as response:
                if not spec.follow_redirects and 300 <= response.status < 400:
                    raise FetchError(
                        "redirect",
                        f"server redirects (HTTP status {response.status}); redirects are not followed:"
                        " use the final address",
                    )
                if response.status != 200:
                    raise FetchError("http_status", f"server returned HTTP status {response.status}")
                encoding = response.headers.get("Content-Encoding", "").lower()
                if encoding not in ("", "identity", "gzip"):
                    raise FetchError("decompress", f"unsupported Content-Encoding {encoding!r}")
                body = _LimitedBody(encoding == "gzip", spec.body_limit_bytes)
                async for chunk in response.content.iter_chunked(_READ_CHUNK_BYTES):
                    body.feed(chunk)
                return FetchedPage(body.finish(), response.headers.get("Content-Type", ""))
    except TimeoutError:
        raise FetchError("timeout", f"scrape timed out after {spec.timeout_s:g}s") from None
    except aiohttp.ClientConnectorError as exc:
        refused = refused_by_policy(exc)
        if refused is not None:
            raise FetchError("refused", f"connection to {exc.host}:{exc.port} {refused.strerror}") from None
        if isinstance(exc, aiohttp.ClientSSLError):
            raise FetchError("tls", f"TLS error: {exc}") from None
        raise FetchError("connection", f"connection failed: {exc}") from None
    except aiohttp.ClientConnectionError as exc:
        raise FetchError("connection", f"connection failed: {exc}") from None
    except aiohttp.ClientError as exc:
        raise FetchError("http", f"HTTP error: {exc}") from None
