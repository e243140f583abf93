"""``/api/v1/query``, ``/api/v1/query_range`` and ``/api/v1/query_exemplars``: PromQL over the history.

Each query is evaluated by the application's engine over the caller's
:class:`~collector.promql.history_source.StorageSource`: only the series of the servers granted to it (all
for an admin). Parameters, their checks and their error messages are Prometheus's (see
:mod:`api.prometheus.params`); the engine's limits come from the ``query`` settings, a request's
``timeout`` may only shorten them.
"""

from __future__ import annotations

from aiohttp import web

from api.openapi import ApiRoutes
from api.prometheus import paths
from api.prometheus.context import ENGINE, now_ms, source_for
from api.prometheus.models import (
    QUERY_ERRORS,
    READ_ERRORS,
    ExemplarParams,
    ExemplarsResponse,
    InstantQueryParams,
    PrometheusError,
    QueryResponse,
    RangeQueryParams,
)
from api.prometheus.params import (
    Form,
    invalid,
    parse_duration_ns,
    read_form,
    required_duration,
    required_time,
    time_param,
)
from api.prometheus.render import result_json, success, success_of
from collector.promql import parse
from collector.promql.engine import check_range
from collector.promql.errors import BadDataError

routes = ApiRoutes()

_QUERY = {
    "tag": "prometheus",
    "role": "viewer",
    "response": QueryResponse,
    "error_body": PrometheusError,
    "errors": QUERY_ERRORS,
}
MAX_POINTS = 11_000
"""Points per series a range query may ask for, as in Prometheus."""


def _timeout_s(form: Form) -> float | None:
    text = form.get("timeout")
    if text == "":
        return None
    try:
        return parse_duration_ns(text) / 1e9
    except ValueError as exc:
        raise invalid("timeout", str(exc)) from None


@routes.get(
    paths.QUERY, summary="Evaluate an instant query (Prometheus API)", form=InstantQueryParams, **_QUERY
)
@routes.post(
    paths.QUERY, summary="Evaluate an instant query (Prometheus API)", form=InstantQueryParams, **_QUERY
)
async def instant_query(request: web.Request) -> web.Response:
    """PromQL at one time (``time``, now by default), over the series of the servers the caller may see.

    Grafana's health check asks ``1+1`` here. Errors are Prometheus's envelope: ``bad_data`` (400) for a
    bad parameter or query, ``execution`` (422) for a failure while evaluating, ``timeout`` (503).
    """
    form = await read_form(request)
    at_ms = time_param(form, "time", now_ms())
    assert at_ms is not None
    timeout_s = _timeout_s(form)
    source = await source_for(request)
    try:
        result = await request.app[ENGINE].instant_query(
            form.get("query"), at_ms, source=source, timeout_s=timeout_s
        )
    except BadDataError as exc:
        raise invalid("query", str(exc)) from None
    return success(result_json(result), source.warnings)


@routes.get(
    paths.QUERY_RANGE, summary="Evaluate a range query (Prometheus API)", form=RangeQueryParams, **_QUERY
)
@routes.post(
    paths.QUERY_RANGE, summary="Evaluate a range query (Prometheus API)", form=RangeQueryParams, **_QUERY
)
async def range_query(request: web.Request) -> web.Response:
    """PromQL every ``step`` from ``start`` to ``end``, at most 11,000 points per series."""
    form = await read_form(request)
    start_ms = required_time(form, "start")
    end_ms = required_time(form, "end")
    if end_ms < start_ms:
        raise invalid("end", "end timestamp must not be before start time")
    step_ms = required_duration(form, "step")
    if step_ms <= 0:
        raise invalid(
            "step", "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    check_range(start_ms, end_ms, step_ms, MAX_POINTS)
    timeout_s = _timeout_s(form)
    source = await source_for(request)
    try:
        result = await request.app[ENGINE].range_query(
            form.get("query"), start_ms, end_ms, step_ms, source=source, timeout_s=timeout_s
        )
    except BadDataError as exc:
        raise invalid("query", str(exc)) from None
    return success(result_json(result), source.warnings)


_EXEMPLARS = {
    "tag": "prometheus",
    "role": "viewer",
    "form": ExemplarParams,
    "response": ExemplarsResponse,
    "error_body": PrometheusError,
    "errors": READ_ERRORS,
}


@routes.get(paths.QUERY_EXEMPLARS, summary="Exemplars of a query's series (Prometheus API)", **_EXEMPLARS)
@routes.post(paths.QUERY_EXEMPLARS, summary="Exemplars of a query's series (Prometheus API)", **_EXEMPLARS)
async def query_exemplars(request: web.Request) -> web.Response:
    """Exemplars of the series a query selects: always none, since the history keeps no exemplars.

    The parameters are checked as Prometheus checks them, so a client's mistake is still reported.
    """
    form = await read_form(request)
    start_ms = time_param(form, "start", None)
    end_ms = time_param(form, "end", None)
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise invalid("end", "end timestamp must not be before start time")
    try:
        parse.parse(form.get("query"))
    except BadDataError as exc:
        raise invalid("query", str(exc)) from None
    return success_of([])
