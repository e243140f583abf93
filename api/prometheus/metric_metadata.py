"""``/api/v1/metadata`` and ``/api/v1/targets/metadata``: what servers' HELP, TYPE and UNIT lines say.

Read from the ``metric_metadata`` table the collector keeps (:mod:`collector.storage.metric_metadata`),
only of the servers the caller may see. The parameters and their edge cases are Prometheus's: ``limit``
counts families (``/metadata``) or entries (``/targets/metadata``, checked before each target, so a target's
entries are never split), a negative one is no limit and 0 answers nothing; ``limit_per_metric`` counts a
family's entries, 0 or a negative one being no limit. Where Prometheus keeps whichever families and entries
its maps hand it first, these keep the first by name, and by type, help and unit.
"""

from __future__ import annotations

import re

from aiohttp import web

from api.auth.authz import allowed_servers
from api.keys import STORES
from api.openapi import ApiRoutes
from api.prometheus import paths
from api.prometheus.context import history_errors
from api.prometheus.models import (
    READ_ERRORS,
    MetadataParams,
    MetadataResponse,
    PrometheusError,
    TargetMetadataParams,
    TargetMetadataResponse,
)
from api.prometheus.params import Form, read_form
from api.prometheus.render import success_of
from collector.matchers import Matcher, matches_all
from collector.promql import parse
from collector.promql.errors import BadDataError
from collector.storage.metric_metadata import read_metadata, read_target_metadata

routes = ApiRoutes()

_READ = {"tag": "prometheus", "role": "viewer", "error_body": PrometheusError, "errors": READ_ERRORS}
_GO_INT = re.compile(r"([+-]?)([0-9]+)")
_INT64_MAX = (1 << 63) - 1


def number(form: Form, name: str) -> int:
    """An integer parameter read as Go's ``strconv.Atoi`` reads it; -1 when absent."""
    text = form.get(name)
    if text == "":
        return -1
    match = _GO_INT.fullmatch(text)
    # Leading zeros are dropped before converting: a long string of them is a number to Go.
    digits = match.group(2).lstrip("0") if match else ""
    if match is None or len(digits) > 19:
        raise BadDataError(f"{name} must be a number")
    value = int(digits or "0") * (-1 if match.group(1) == "-" else 1)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise BadDataError(f"{name} must be a number")
    return value


def target_matchers(text: str) -> list[Matcher]:
    """The matchers of ``match_target``, a selector of target labels (``{job="node"}``)."""
    expr = parse.parse(text)
    if not isinstance(expr, parse.VectorSelector) or expr.offset_ms or expr.at is not None:
        raise BadDataError(f'{text!r} is not a label selector (expected e.g. {{job="node"}})')
    return list(expr.matchers)


@routes.get(
    paths.METADATA,
    summary="Metric metadata (Prometheus API)",
    form=MetadataParams,
    response=MetadataResponse,
    **_READ,
)
async def metadata(request: web.Request) -> web.Response:
    """HELP, TYPE and UNIT per metric: the distinct entries the caller's servers' pages carry."""
    form = await read_form(request)
    limit = number(form, "limit")
    per_metric = number(form, "limit_per_metric")
    with history_errors():
        found = await read_metadata(
            request.app[STORES].pg,
            servers=await allowed_servers(request),
            metric=form.get("metric") or None,
            limit=limit if limit >= 0 else None,
        )
    return success_of(
        {
            name: [
                {"type": type_, "help": help_, "unit": unit}
                for type_, help_, unit in (entries[:per_metric] if per_metric > 0 else entries)
            ]
            for name, entries in found.items()
        }
    )


@routes.get(
    paths.TARGETS_METADATA,
    summary="Metric metadata per target (Prometheus API)",
    form=TargetMetadataParams,
    response=TargetMetadataResponse,
    **_READ,
)
async def target_metadata(request: web.Request) -> web.Response:
    """Each target's entries, with the target's labels; ``metric`` given, without the metric's name."""
    form = await read_form(request)
    limit = number(form, "limit")
    match_target = form.get("match_target")
    matchers = target_matchers(match_target) if match_target else []
    metric = form.get("metric") or None
    with history_errors():
        entries = await read_target_metadata(
            request.app[STORES].pg,
            servers=await allowed_servers(request),
            metric=metric,
            target_filter=(lambda labels: matches_all(matchers, labels)) if matchers else None,
        )
    out: list[dict[str, object]] = []
    server = None
    for entry in entries:
        if entry.server_id != server:
            server = entry.server_id
            if 0 <= limit <= len(out):
                break
        item: dict[str, object] = {"target": entry.target}
        if metric is None:
            item["metric"] = entry.metric
        item.update(type=entry.type, help=entry.help, unit=entry.unit)
        out.append(item)
    return success_of(out)
