"""The exporter's HTTP server: ``/metrics``, ``/`` and ``/-/healthy``.

Scrapes are collected and encoded in one dedicated worker thread, never on the event loop: a slow
reading (a statvfs on a sick mount, systemctl) then cannot stall other requests, and scrapes run one at
a time, so collectors that keep state between scrapes need no more locking than they have.

The one request parameter is ``collect[]`` on ``/metrics``, as node_exporter takes it: repeated, each naming
a collector this exporter runs, it restricts the scrape to those (the exporter's own process and build
metrics stay). Any other parameter, an unknown collector name, or a query string on another path is refused
with 400, so no request can make it contact another host, read another path or run anything. Every path
except ``/-/healthy`` requires credentials when authentication is configured.
"""

from __future__ import annotations

import asyncio
import html
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from concurrent.futures import ThreadPoolExecutor

from aiohttp import hdrs, web
from multidict import CIMultiDict

from exporter import __version__
from exporter.auth import Authenticator
from exporter.config import ExporterConfig
from exporter.exposition import Exposition, render
from exporter.registry import ExporterMetrics, HostCollectors

log = logging.getLogger(__name__)

HEALTH_PATH = "/-/healthy"
METRICS_PATH = "/metrics"
# Requests carry no body; anything larger than a few headers' worth is not a scrape.
CLIENT_MAX_SIZE_BYTES = 4096
COLLECT_PARAM = "collect[]"
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
    """Renders scrapes of the exporter's metrics in a single worker thread."""

    def __init__(self, metrics: ExporterMetrics) -> None:
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrape")

    async def scrape(
        self, accept: str, accept_encoding: str, collectors: Collection[str] | None = None
    ) -> Exposition:
        """Collect and encode one scrape for the given Accept and Accept-Encoding headers; ``collectors``
        restricts it to those host collectors."""
        loop = asyncio.get_running_loop()
        selection = self.metrics.select(collectors)
        return await loop.run_in_executor(self._executor, render, selection, accept, accept_encoding)

    def close(self) -> None:
        """Wait for a scrape in progress, then stop the worker."""
        self._executor.shutdown(wait=True, cancel_futures=True)


CONFIG_KEY = web.AppKey("config", ExporterConfig)
SCRAPER_KEY = web.AppKey("scraper", Scraper)
AUTH_KEY = web.AppKey("authenticator", Authenticator)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG_KEY]
    host = HostCollectors(config.collectors)
    app[SCRAPER_KEY] = Scraper(ExporterMetrics(host))
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
    """Refuse query parameters (but ``collect[]`` on ``/metrics``), then require credentials where
    configured."""
    if request.query_string and (request.path != METRICS_PATH or set(request.query) != {COLLECT_PARAM}):
        raise web.HTTPBadRequest(text="This exporter takes no query parameters but collect[] on /metrics.\n")
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
    """Serve a scrape, negotiated on Accept and Accept-Encoding, of the ``collect[]`` collectors if given."""
    scraper = request.app[SCRAPER_KEY]
    collectors = request.query.getall(COLLECT_PARAM, None)
    if collectors is not None:
        unknown = sorted(set(collectors) - scraper.metrics.names)
        if unknown:
            # The names are echoed only as this exporter's own collector names, never the caller's text.
            available = ", ".join(sorted(scraper.metrics.names))
            raise web.HTTPBadRequest(
                text=f"collect[]: {len(unknown)} unknown collector name(s); available: {available}\n"
            )
    exposition = await scraper.scrape(
        request.headers.get(hdrs.ACCEPT, ""), request.headers.get(hdrs.ACCEPT_ENCODING, ""), collectors
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
