"""``GET /metrics``: the service's own metrics in the Prometheus text format (or OpenMetrics on request)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

from api.keys import REGISTRIES
from api.openapi import ApiRoutes

routes = ApiRoutes()


def process_registry() -> CollectorRegistry:
    """A registry with this process's CPU, memory and file descriptors, and the Python platform."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


@routes.get(
    "/metrics",
    summary="The service's own metrics (Prometheus text, or OpenMetrics when the Accept header asks)",
    tag="health",
    role=None,
    media_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    """Every registered registry, encoded as the scraper asked for: the process, the collector, the
    pipeline, the notifier. Not rate limited; scrape it with any Prometheus."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = b"".join(encoder(registry) for registry in request.app[REGISTRIES])
    if content_type.startswith("application/openmetrics-text"):
        # Each encoded registry ends with its own "# EOF"; a page has exactly one, at its end.
        body = body.replace(b"# EOF\n", b"") + b"# EOF\n"
    return web.Response(body=body, headers={"Content-Type": content_type})
