"""``/federate``: the latest sample of every series the ``match[]`` selectors select, for another Prometheus.

As Prometheus federates: each series' last sample within the lookback before now, staleness markers left
out (the exposition format cannot carry them), in the text exposition format 0.0.4 with the sample's own
timestamp, every family typed ``untyped``, the ``query.external_labels`` added. A viewer federates the
series of the servers granted to it. A bad selector is a 400 in the JSON envelope of the other Prometheus
paths (Prometheus answers it as plain text; a federating Prometheus reads only the status).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

from aiohttp import web

from api.keys import SETTINGS
from api.openapi import ApiRoutes
from api.prometheus import paths
from api.prometheus.context import now_ms, source_for
from api.prometheus.models import READ_ERRORS, FederateParams, PrometheusError
from api.prometheus.params import read_form, selectors
from collector.promql.types import METRIC_NAME, Series, is_stale, label_key

routes = ApiRoutes()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def format_float(value: float) -> str:
    """A value as the Go exposition writer writes it: ``strconv.FormatFloat(v, 'g', -1, 64)``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"  # the exposition writer has a case for zero, negative zero included
    sign = "-" if value < 0 else ""
    exact = Decimal(repr(abs(value))).as_tuple()
    all_digits = "".join(map(str, exact.digits))
    digits = all_digits.rstrip("0") or "0"
    assert isinstance(exact.exponent, int)
    point = len(all_digits) + exact.exponent
    exponent = point - 1
    # Go's %g with the shortest digits switches to an exponent outside 1e-4 <= |v| < 1e6.
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _line(labels: Mapping[str, str], value: float, ts_ms: int) -> str:
    name = labels.get(METRIC_NAME, "")
    pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()) if k != METRIC_NAME)
    selector = f"{name}{{{pairs}}}" if pairs else name
    return f"{selector} {format_float(value)} {ts_ms}"


def exposition(series: list[Series], external_labels: Mapping[str, str] | None = None) -> str:
    """The last sample of each series as a text exposition, grouped by metric name.

    ``external_labels`` are added to each series as Prometheus adds its ``global.external_labels``: a
    series' own label of the same name wins.
    """
    external = dict(external_labels or {})
    lines: list[str] = []
    current = None
    for item in sorted(series, key=lambda s: (s.labels.get(METRIC_NAME, ""), label_key(s.labels))):
        if len(item.ts) == 0 or is_stale(item.values[-1:])[0]:
            continue
        name = item.labels.get(METRIC_NAME, "")
        if name != current:
            lines.append(f"# TYPE {name} untyped")
            current = name
        labels = {**external, **item.labels} if external else item.labels
        lines.append(_line(labels, float(item.values[-1]), int(item.ts[-1])))
    return "".join(f"{line}\n" for line in lines)


@routes.get(
    paths.FEDERATE,
    summary="Federation: the latest sample of the matched series, as a metrics page",
    tag="prometheus",
    role="viewer",
    form=FederateParams,
    media_type=CONTENT_TYPE,
    error_body=PrometheusError,
    errors=READ_ERRORS,
)
async def federate(request: web.Request) -> web.Response:
    """Each matched series' latest sample within the lookback, for a Prometheus's federation job."""
    form = await read_form(request)
    matcher_sets = selectors(form, required=False)
    settings = request.app[SETTINGS].query
    end_ms = now_ms()
    start_ms = end_ms - round(settings.lookback_delta_s * 1000)
    source = await source_for(request)
    found: dict[tuple[tuple[str, str], ...], Series] = {}
    for matchers in matcher_sets:
        for item in await source.select(matchers, start_ms, end_ms):
            found.setdefault(label_key(item.labels), item)
    body = exposition(list(found.values()), settings.external_labels)
    return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})
