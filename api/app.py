"""The aiohttp application factory.

``create_app`` builds the API: every long-lived resource is opened in ``app.cleanup_ctx`` (stores first) and
stored under a typed key from :mod:`api.keys`. ``openmanager run`` adds the collector's own context after the
stores; ``openmanager api`` serves the same application alone against the same stores.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web

from api import (
    actions,
    alert_rules,
    alerts,
    channels,
    cluster,
    docs,
    events,
    logs,
    monitoring,
    probe,
    processes,
    remote_write,
    servers,
    silences,
    stats,
)
from api.action_log import action_events_middleware
from api.ask import route as ask_route
from api.auth import audit_routes, setup_auth, token_routes, user_routes
from api.auth import routes as auth_routes
from api.auth.audit import audit_middleware
from api.auth.middleware import auth_middleware
from api.errors import error_middleware
from api.health import routes as health_routes
from api.httpserver import server_header, strict_transport_security
from api.keys import AUTH_FAILURES, CONNECTION_TESTS, REGISTRIES, SCHEDULER_STATE, SETTINGS, STORES, VERSION
from api.mcp.http import setup_mcp
from api.openapi import setup_openapi
from api.outage import store_outage_middleware
from api.prometheus.render import prometheus_errors
from api.prometheus.setup import setup_prometheus
from api.ratelimit import AuthFailureLimiter, rate_limit_middleware
from api.selfmetrics import process_registry
from api.selfmetrics import routes as metrics_routes
from collector.config.settings import Settings
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
        middlewares=[
            error_middleware,
            store_outage_middleware,
            prometheus_errors,
            auth_middleware,
            rate_limit_middleware(settings.rate_limit),
            audit_middleware,
            action_events_middleware,
        ],
        client_max_size=1 << 20,
    )
    app[SETTINGS] = settings
    app[AUTH_FAILURES] = AuthFailureLimiter(settings.rate_limit)
    app[CONNECTION_TESTS] = asyncio.Semaphore(probe.MAX_CONCURRENT_TESTS)
    app[VERSION] = package_version()
    app[SCHEDULER_STATE] = _absent_scheduler
    app[REGISTRIES] = [process_registry()]

    async def stores_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_stores(settings, degraded_start=True) as stores:
            app[STORES] = stores
            yield

    app.cleanup_ctx.append(stores_ctx)
    app.on_response_prepare.append(server_header)
    if settings.tls.enabled and settings.tls.hsts_max_age_s:
        app.on_response_prepare.append(strict_transport_security(settings.tls.hsts_max_age_s))
    health_routes.register(app)
    metrics_routes.register(app)
    setup_auth(app)
    for auth_table in (auth_routes.routes, user_routes.routes, token_routes.routes, audit_routes.routes):
        auth_table.register(app)
    monitoring.setup_fleet(app)
    for table in (
        docs.routes,
        monitoring.routes,
        processes.routes,
        servers.routes,
        stats.routes,
        cluster.routes,
        channels.routes,
        alert_rules.routes,
        silences.routes,
        alerts.routes,
        remote_write.routes,
        ask_route.routes,
    ):
        table.register(app)
    logs.routes.register(app)
    actions.setup_actions(app)
    events.setup_events(app)
    setup_prometheus(app)
    setup_mcp(app)
    setup_openapi(app)
    if dashboard_dir is not None and (dashboard_dir / "index.html").is_file():
        serve_dashboard(app, dashboard_dir)
    return app


DASHBOARD_ASSET_DIRS = ("js", "css", "img")
"""The dashboard's own folders served under ``/static/``; ``node_modules/`` and the npm files never are."""
UPLOT_DIST = Path("node_modules", "uplot", "dist")
"""uPlot's built files (``npm ci`` in ``dashboards/``), served at ``/static/vendor/uplot/``."""


async def _revalidate(request: web.Request, response: web.StreamResponse) -> None:
    # No build step means no content-hashed names: let browsers keep files but ask (If-Modified-Since) each
    # time, so a new version is seen on the next load and an unchanged file costs a 304.
    if not request.path.startswith("/api/") and request.path != "/metrics":
        response.headers.setdefault("Cache-Control", "no-cache")


def serve_dashboard(app: web.Application, dashboard_dir: Path) -> None:
    """Serve ``index.html`` at ``/``, the dashboard's folders and uPlot under ``/static/``."""
    index = dashboard_dir / "index.html"

    async def dashboard_index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(index)

    app.router.add_get("/", dashboard_index)
    for name in DASHBOARD_ASSET_DIRS:
        if (dashboard_dir / name).is_dir():
            app.router.add_static(f"/static/{name}/", dashboard_dir / name, follow_symlinks=False)
    if (dashboard_dir / UPLOT_DIST).is_dir():
        app.router.add_static("/static/vendor/uplot/", dashboard_dir / UPLOT_DIST, follow_symlinks=False)
    app.on_response_prepare.append(_revalidate)
