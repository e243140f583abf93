"""The aiohttp application factory.

``create_app`` builds the API: every long-lived resource is opened in ``app.cleanup_ctx`` (stores first) and
stored under a typed key from :mod:`api.keys`. ``openmanager run`` adds the collector's own context after the
stores; ``openmanager api`` serves the same application alone against the same stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web

from api import docs, events, logs, monitoring, servers, stats
from api.auth import setup_auth
from api.auth.audit import audit_middleware
from api.auth.middleware import auth_middleware
from api.errors import error_middleware
from api.health import health
from api.keys import REGISTRIES, SCHEDULER_STATE, SETTINGS, STORES, VERSION
from api.openapi import setup_openapi
from api.selfmetrics import metrics, process_registry
from collector.settings import Settings
from collector.storage.connections import open_stores


def package_version() -> str:
    """The installed OpenManager version."""
    try:
        return version("openmanager")
    except PackageNotFoundError:
        return "0+unknown"


def _absent_scheduler() -> dict[str, object]:
    return {"status": "absent"}


def create_app(settings: Settings, *, dashboard_dir: Path | None = None) -> web.Application:
    """Build the API application for ``settings``; stores are opened when the app starts."""
    app = web.Application(
        middlewares=[error_middleware, auth_middleware, audit_middleware], client_max_size=1 << 20
    )
    app[SETTINGS] = settings
    app[VERSION] = package_version()
    app[SCHEDULER_STATE] = _absent_scheduler
    app[REGISTRIES] = [process_registry()]

    async def stores_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_stores(settings) as stores:
            app[STORES] = stores
            yield

    app.cleanup_ctx.append(stores_ctx)
    app.router.add_get("/api/health", health)
    app.router.add_get("/metrics", metrics)
    setup_auth(app)
    for table in (docs.routes, monitoring.routes, servers.routes, stats.routes):
        table.register(app)
    logs.routes.register(app)
    events.setup_events(app)
    setup_openapi(app)
    if dashboard_dir is not None and (dashboard_dir / "index.html").is_file():
        index = dashboard_dir / "index.html"

        async def dashboard_index(_: web.Request) -> web.FileResponse:
            return web.FileResponse(index)

        app.router.add_get("/", dashboard_index)
        app.router.add_static("/static/", dashboard_dir, follow_symlinks=False)
    return app
