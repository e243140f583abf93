"""The HTTP server under the API: how long it waits for slow clients, and what it says about itself.

aiohttp closes a connection that waits for a request longer than its keep-alive timeout (``idle_timeout_s``
here, counted from the connection's start or its last answer), but it has no limit on how long a request's
head may take to arrive: a client trickling header bytes keeps its connection, and a slot of the server, for
as long as that timeout. :class:`GuardedAppRunner` serves the application with aiohttp's protocol extended by
one deadline: once the first byte of a request's head arrives, the whole head must arrive within
``header_timeout_s``, or the connection is closed. A request's body is not under that deadline (a slow
upload of an allowed size is not cut); its size is bounded by the application.

aiohttp names itself and Python with their versions in every ``Server`` header, which tells a scanner which
published flaws to try; every answer, the protocol's own error answers included, says ``openmanager`` only.

With ``tls`` settings the server speaks HTTPS (:func:`server_tls_context`, TLS 1.2 at least) and every answer
carries ``Strict-Transport-Security``. :class:`ShutdownBudget` is the one time bound of a whole shutdown.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from collector.config.api_settings import HttpSettings, TlsSettings
from collector.config.configfile import ConfigError, ConfigProblem

log = structlog.get_logger(__name__)

SERVER_HEADER = "openmanager"
"""The ``Server`` header of every answer: no version of anything."""


async def server_header(_: web.Request, response: web.StreamResponse) -> None:
    """Replace aiohttp's ``Server`` header (set as the response is prepared, before this hook runs)."""
    response.headers["Server"] = SERVER_HEADER


def server_tls_context(tls: TlsSettings, source: str) -> ssl.SSLContext:
    """The server side of HTTPS: the configured chain and key, ``tls.min_version`` at least, Python's default
    cipher choice. A file that cannot be read or does not hold a matching PEM chain and key is a
    :class:`ConfigError` naming it (``source`` is the settings file)."""
    assert tls.cert_file is not None and tls.key_file is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        problem = ConfigProblem(
            source,
            "tls.cert_file",
            f"a readable PEM certificate chain matching the private key in {tls.key_file} ({reason})",
            str(tls.cert_file),
        )
        raise ConfigError([problem]) from None
    return context


def strict_transport_security(max_age_s: int) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An ``on_response_prepare`` hook telling browsers to use HTTPS only, for ``max_age_s`` seconds."""
    value = f"max-age={max_age_s}"

    async def hsts(_: web.Request, response: web.StreamResponse) -> None:
        response.headers["Strict-Transport-Security"] = value

    return hsts


class ShutdownBudget:
    """One time bound for a whole shutdown: the HTTP drain, collector, writers and stores share it.

    Its clock starts with :meth:`start` (or the first :meth:`remaining_s`); each stage gets what is left, so
    the stages together never take longer than ``total_s``.
    """

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self._deadline: float | None = None

    def start(self) -> None:
        """Start the clock (again calls change nothing)."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.total_s

    def remaining_s(self) -> float:
        """Seconds left of the bound; 0 once it is spent."""
        self.start()
        assert self._deadline is not None
        return max(0.0, self._deadline - time.monotonic())

    async def within(self, closing: Awaitable[None]) -> None:
        """Await a close that takes no bound of its own, for what is left of the bound at most."""
        try:
            async with asyncio.timeout(self.remaining_s()):
                await closing
        except TimeoutError:
            log.warning("shutdown bound reached: a close was cut short")


class GuardedRequestHandler(RequestHandler):
    """aiohttp's HTTP protocol with a deadline on each request's head (see the module docstring).

    aiohttp offers no hook for this; it is kept to what its protocol exposes to subclasses: the count of
    request heads parsed, whether a request is being handled and whether parsed requests wait.
    """

    def __init__(self, manager: web.Server, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._head_deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        """Feed the parser; start the head's deadline on its first byte, end it once the head is parsed."""
        heads_before = self._request_count
        super().data_received(data)
        if self._request_count != heads_before:
            self._end_deadline()
        elif (
            data
            and self._head_deadline is None
            and not self._request_in_progress
            and not self._messages
            and not self._upgraded
        ):
            self._head_deadline = asyncio.get_running_loop().call_later(
                self._header_timeout_s, self._head_too_slow, self._request_count
            )

    def _end_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self, heads_then: int) -> None:
        self._head_deadline = None
        if self._request_count == heads_then and self.transport is not None:
            log.info("connection closed: request head too slow", peer=str(self.peername))
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        """Drop the deadline with the connection."""
        self._end_deadline()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse or handle, without its versions."""
        response = super().handle_error(request, status, exc, message)
        response.headers["Server"] = SERVER_HEADER
        return response


class _GuardedServer(web.Server):
    def __init__(self, inner: web.Server, header_timeout_s: float) -> None:
        super().__init__(
            inner.request_handler,
            request_factory=inner.request_factory,
            handler_cancellation=inner.handler_cancellation,
            # aiohttp keeps the protocol's arguments (keep-alive timeout, access log, ...) only here.
            **inner._kwargs,
        )
        self._header_timeout_s = header_timeout_s

    def __call__(self) -> GuardedRequestHandler:
        return GuardedRequestHandler(
            self, loop=self._loop, header_timeout_s=self._header_timeout_s, **self._kwargs
        )


class GuardedAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections have a head deadline; ``keepalive_timeout`` is the idle timeout."""

    def __init__(self, app: web.Application, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout_s = header_timeout_s

    async def _make_server(self) -> web.Server:
        return _GuardedServer(await super()._make_server(), self._header_timeout_s)


def guarded_runner(app: web.Application, http: HttpSettings, **kwargs: Any) -> GuardedAppRunner:
    """The runner the service serves ``app`` with: ``http``'s head deadline and idle timeout."""
    return GuardedAppRunner(
        app, keepalive_timeout=http.idle_timeout_s, header_timeout_s=http.header_timeout_s, **kwargs
    )
