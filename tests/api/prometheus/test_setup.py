"""The API's registration: one engine per application from the settings, every route in Prometheus's shape."""

from __future__ import annotations

from api.app import create_app
from api.keys import OPERATIONS
from api.prometheus.context import ENGINE
from api.prometheus.models import PrometheusError
from api.prometheus.paths import is_prometheus_path
from collector.config.api_settings import QuerySettings
from collector.config.settings import Settings


def test_one_engine_with_the_configured_limits(settings: Settings) -> None:
    configured = settings.model_copy(update={"query": QuerySettings(max_samples=123, max_concurrency=4)})
    app = create_app(configured)
    assert app[ENGINE].settings.max_samples == 123
    assert app[ENGINE].settings.max_concurrent_queries == 4


def test_every_route_is_declared_on_a_prometheus_path_with_its_error_shape(settings: Settings) -> None:
    operations = [op for op in create_app(settings)[OPERATIONS] if op.tag == "prometheus"]
    assert {(op.method, op.path) for op in operations} == {
        ("GET", "/api/v1/query"),
        ("POST", "/api/v1/query"),
        ("GET", "/api/v1/query_range"),
        ("POST", "/api/v1/query_range"),
        ("GET", "/api/v1/query_exemplars"),
        ("POST", "/api/v1/query_exemplars"),
        ("GET", "/api/v1/series"),
        ("POST", "/api/v1/series"),
        ("GET", "/api/v1/labels"),
        ("POST", "/api/v1/labels"),
        ("GET", "/api/v1/label/{name}/values"),
        ("GET", "/api/v1/metadata"),
        ("GET", "/api/v1/status/buildinfo"),
        ("GET", "/api/v1/targets"),
        ("GET", "/api/v1/targets/metadata"),
        ("GET", "/api/v1/rules"),
        ("GET", "/api/v1/alerts"),
        ("GET", "/federate"),
    }
    for op in operations:
        assert op.role == "viewer" and op.error_body is PrometheusError and op.form is not None, op.path
        assert is_prometheus_path(op.path.replace("{name}", "job")), op.path
