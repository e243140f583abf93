"""``/api/v1/status/buildinfo``: which Prometheus API this server speaks, for clients that check the version.

Grafana reads ``version`` to decide which features it may use. The version is that of the Prometheus whose
query semantics the engine follows (Debian's 2.42, which the differential tests compare against); the
revision names this server and its own version, so nobody mistakes it for a Prometheus.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from api.keys import VERSION
from api.openapi import ApiRoutes
from api.prometheus import paths
from api.prometheus.models import READ_ERRORS, BuildInfoResponse, NoParams, PrometheusError
from api.prometheus.render import success_of

routes = ApiRoutes()

PROMETHEUS_API_VERSION: Final = "2.42.0"
"""The Prometheus release whose API and PromQL semantics this server follows."""


@routes.get(
    paths.BUILDINFO,
    summary="Build information (Prometheus API)",
    tag="prometheus",
    role="viewer",
    form=NoParams,
    response=BuildInfoResponse,
    error_body=PrometheusError,
    errors=READ_ERRORS[1:3],
)
async def buildinfo(request: web.Request) -> web.Response:
    """The Prometheus API version followed (``version``) and this server's own (``revision``)."""
    return success_of(
        {
            "version": PROMETHEUS_API_VERSION,
            "revision": f"openmanager {request.app[VERSION]}",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }
    )
