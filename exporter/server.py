"""The exporter's HTTP server: ``/metrics``, ``/`` and ``/-/healthy``.

Scrapes are collected and encoded in one dedicated worker thread, never on the event loop: a slow
reading (a statvfs on a sick mount, systemctl) then cannot stall other requests, and scrapes run one at
a time, so collectors that keep state between scrapes need no more locking than they have.

The exporter takes no request parameters at all: a request with a query string is refused with 400, so
no request can make it contact another host, read another path or run anything. Every path except
``/-/healthy`` requires credentials when authentication is configured.
"""

from __future__ import annotations

import asyncio
import html
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import hdrs, web
from multidict import CIMultiDict
from prometheus_client.registry import CollectorRegistry

from exporter import __version__
from exporter.auth import Authenticator
from exporter.config import ExporterConfig
from exporter.exposition import Exposition, render
from exporter.registry import HostCollectors, build_registry

log = logging.getLogger(__name__)

HEALTH_PATH = "/-/healthy"
METRICS_PATH = "/metrics"
# Requests carry no body; anything larger than a few headers' worth is not a scrape.
CLIENT_MAX_SIZE_BYTES = 4096
SHUTDOWN_TIMEOUT_S = 5.0

_INDEX = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>OpenManager exporter</title></head>
<body>
<h1>OpenManager exporter</h1>
<p>Version {version}</p>
<p><a href="{metrics}">Metrics</a></p>
</body>
</html>
"""


class Scraper:
    """Renders scrapes of a registry in a single worker thread."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrape")

    async def scrape(self, accept: str, accept_encoding: str) -> Exposition:
        """Collect and encode one scrape for the given Accept and Accept-Encoding headers."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, render, self._registry, accept, accept_encoding)

    def close(self) -> None:
        """Wait for a scrape in progress, then stop the worker."""
        self._executor.shutdown(wait=True, cancel_futures=True)


CONFIG_KEY = web.AppKey("config", ExporterConfig)
SCRAPER_KEY = web.AppKey("scraper", Scraper)
AUTH_KEY = web.AppKey("authenticator", Authenticator)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG_KEY]
    host = HostCollectors(config.collectors)
    app[SCRAPER_KEY] = Scraper(build_registry(host))
    app[AUTH_KEY] = Authenticator(config.web)
    try:
        yield
    finally:
        app[SCRAPER_KEY].close()
        app[AUTH_KEY].close()
        host.close()


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse query parameters, then require credentials where configured."""
    if request.query_string:
        raise web.HTTPBadRequest(text="This exporter takes no query parameters.\n")
    auth = request.app[AUTH_KEY]
    if (
        auth.required
        and request.path != HEALTH_PATH
        and not await auth.check(request.headers.get(hdrs.AUTHORIZATION))
    ):
        # Never log the header itself: it holds the credentials.
        log.warning("authentication failed for %r from %s", request.path, request.remote)
        headers: CIMultiDict[str] = CIMultiDict()
        for challenge in auth.challenges:
            headers.add(hdrs.WWW_AUTHENTICATE, challenge)
        return web.Response(status=401, text="Unauthorized\n", headers=headers)
    return await handler(request)


async def metrics(request: web.Request) -> web.Response:
    """Serve a scrape, negotiated on Accept and Accept-Encoding."""
    exposition = await request.app[SCRAPER_KEY].scrape(
        request.headers.get(hdrs.ACCEPT, ""), request.headers.get(hdrs.ACCEPT_ENCODING, "")
    )
    headers = {hdrs.CONTENT_TYPE: exposition.content_type, hdrs.VARY: "Accept, Accept-Encoding"}
    if exposition.content_encoding:
        headers[hdrs.CONTENT_ENCODING] = exposition.content_encoding
    return web.Response(body=exposition.body, headers=headers)


async def index(_request: web.Request) -> web.Response:
    """A small page naming the version and linking the metrics."""
    page = _INDEX.format(version=html.escape(__version__), metrics=METRICS_PATH)
    return web.Response(text=page, content_type="text/html")


async def healthy(_request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP."""
    return web.Response(text="OK")


def create_app(config: ExporterConfig) -> web.Application:
    """The exporter application; its registry, worker threads and authenticator live in cleanup_ctx."""
    app = web.Application(middlewares=[_guard], client_max_size=CLIENT_MAX_SIZE_BYTES)
    app[CONFIG_KEY] = config
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/", index)
    app.router.add_get(METRICS_PATH, metrics)
    app.router.add_get(HEALTH_PATH, healthy)
    return app


async def start(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, list[tuple[str, int]]]:
    """Start serving `app`; returns the runner (to clean up) and the bound addresses (port 0 resolved)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, [(str(address[0]), int(address[1])) for address in runner.addresses]
