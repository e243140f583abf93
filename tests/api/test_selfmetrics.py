"""``GET /metrics`` serves the service's own metrics in both formats."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from api.keys import REGISTRIES
from api.selfmetrics import process_registry, routes


def _app() -> web.Application:
    app = web.Application()
    extra = CollectorRegistry()
    Counter("openmanager_test_events", "Test events.", registry=extra).inc(3)
    app[REGISTRIES] = [process_registry(), extra]
    routes.register(app)
    return app


async def test_text_format_has_process_metrics_and_every_registry() -> None:
    async with TestClient(TestServer(_app())) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    assert "process_cpu_seconds_total" in text and "openmanager_test_events_total 3.0" in text


async def test_openmetrics_page_is_valid_with_one_eof() -> None:
    async with TestClient(TestServer(_app())) as client:
        response = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        text = await response.text()
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert text.count("# EOF") == 1 and text.endswith("# EOF\n")
    names = {family.name for family in text_string_to_metric_families(text)}  # type: ignore[no-untyped-call]
    assert {"process_cpu_seconds", "openmanager_test_events"} <= names
