"""``/api/v1/series``, ``/api/v1/labels`` and ``/api/v1/label/<name>/values``.

What series exist, read from the series index of the history (:mod:`collector.storage.series_index`): with
``start``/``end``, only series a scrape in that range held; with ``match[]``, only series some selector
matches; always only the series of the servers the caller may see. ``limit`` cuts a list and says so in a
warning, as Prometheus does.
"""

from __future__ import annotations

from aiohttp import web

from api.auth.authz import allowed_servers
from api.keys import STORES
from api.openapi import ApiRoutes
from api.prometheus import paths
from api.prometheus.context import history_errors
from api.prometheus.models import (
    READ_ERRORS,
    LabelsParams,
    NamesResponse,
    PrometheusError,
    SeriesParams,
    SeriesResponse,
)
from api.prometheus.params import Form, label_name, limit_param, read_form, selectors, time_param
from api.prometheus.render import success_of
from collector.promql.types import label_key
from collector.storage import series_index
from collector.storage.series_index import Window

routes = ApiRoutes()

TRUNCATED = "results truncated due to limit"
_READ = {"tag": "prometheus", "role": "viewer", "error_body": PrometheusError, "errors": READ_ERRORS}


def _window(form: Form) -> Window:
    return Window(time_param(form, "start", None), time_param(form, "end", None))


def _cut(items: list[str], limit: int | None) -> tuple[list[str], list[str]]:
    if limit is not None and len(items) > limit:
        return items[:limit], [TRUNCATED]
    return items, []


@routes.get(
    paths.SERIES,
    summary="Series matching selectors (Prometheus API)",
    form=SeriesParams,
    response=SeriesResponse,
    **_READ,
)
@routes.post(
    paths.SERIES,
    summary="Series matching selectors (Prometheus API)",
    form=SeriesParams,
    response=SeriesResponse,
    **_READ,
)
async def series(request: web.Request) -> web.Response:
    """The label sets of the series the ``match[]`` selectors select, sorted."""
    form = await read_form(request)
    matcher_sets = selectors(form, required=True)
    window = _window(form)
    limit = limit_param(form)
    with history_errors():
        found = await series_index.find_series(
            request.app[STORES].pg,
            matcher_sets,
            servers=await allowed_servers(request),
            window=window,
            limit=limit,
        )
    label_sets = [dict(key) for key in sorted(label_key(item.all_labels()) for item in found)]
    warnings: list[str] = []
    if limit is not None and len(label_sets) > limit:
        label_sets, warnings = label_sets[:limit], [TRUNCATED]
    return success_of(label_sets, warnings)


@routes.get(
    paths.LABELS, summary="Label names (Prometheus API)", form=LabelsParams, response=NamesResponse, **_READ
)
@routes.post(
    paths.LABELS, summary="Label names (Prometheus API)", form=LabelsParams, response=NamesResponse, **_READ
)
async def labels(request: web.Request) -> web.Response:
    """The label names of the series (those ``match[]`` selects, when given), ``__name__`` included."""
    form = await read_form(request)
    matcher_sets = selectors(form, required=False)
    window = _window(form)
    limit = limit_param(form)
    with history_errors():
        names = await series_index.label_names(
            request.app[STORES].pg, matcher_sets, servers=await allowed_servers(request), window=window
        )
    return success_of(*_cut(names, limit))


@routes.get(
    paths.LABEL_VALUES,
    summary="Values of a label (Prometheus API)",
    form=LabelsParams,
    response=NamesResponse,
    **_READ,
)
async def label_values(request: web.Request) -> web.Response:
    """The values of label ``name`` (``__name__``: the metric names) among the series, sorted."""
    name = label_name(request.match_info["name"])
    form = await read_form(request)
    matcher_sets = selectors(form, required=False)
    window = _window(form)
    limit = limit_param(form)
    with history_errors():
        values = await series_index.label_values(
            request.app[STORES].pg, name, matcher_sets, servers=await allowed_servers(request), window=window
        )
    return success_of(*_cut(values, limit))
