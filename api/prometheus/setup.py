"""Registering the Prometheus-compatible API on the application."""

from __future__ import annotations

from aiohttp import web

from api.keys import SETTINGS
from api.prometheus import federate, metadata, metric_metadata, query, rules, status, targets
from api.prometheus.context import ENGINE, engine_settings
from collector.promql import Engine


def setup_prometheus(app: web.Application) -> None:
    """The engine (one per application, so its concurrency bound holds) and every route of the API.

    Its errors are answered in Prometheus's envelope by :func:`api.prometheus.render.prometheus_errors`,
    which ``create_app`` puts right after the error middleware.
    """
    app[ENGINE] = Engine(settings=engine_settings(app[SETTINGS].query))
    for table in (
        query.routes,
        metadata.routes,
        metric_metadata.routes,
        status.routes,
        targets.routes,
        rules.routes,
        federate.routes,
    ):
        table.register(app)
