"""Prometheus's JSON envelope and value formats, and the middleware that answers errors in that envelope.

Success is ``{"status": "success", "data": …, "warnings": […]}``; failure is ``{"status": "error",
"errorType": …, "error": …}`` with Prometheus's status per type (400 ``bad_data``, 422 ``execution``, 503
``timeout`` and ``unavailable``). Sample values are strings in Go's shortest decimal form (``"0.1"``,
``"+Inf"``, ``"NaN"``), timestamps Unix seconds as JSON numbers with up to three decimals. Results are
written as text directly: a range query's answer can hold millions of points, and pydantic would build an
object per point.

The middleware is this API's deliberate exception to the one error shape of :mod:`api.errors`: Prometheus
clients (Grafana, promtool) read ``errorType`` and ``error``, so on these paths every failure, the auth and
rate-limit middlewares' ones included, is answered in Prometheus's envelope.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping

import numpy as np
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import ApiError
from api.prometheus.paths import is_prometheus_path
from collector.promql import InstantVector, Matrix, Scalar, String
from collector.promql.errors import PromQLError
from collector.promql.types import Result

log = structlog.get_logger(__name__)

_API_ERROR_TYPES = {
    400: "bad_data",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    422: "bad_data",
    503: "unavailable",
}
"""Our error codes in Prometheus's words where it has them (a 422 of ours is invalid input: ``bad_data``)."""


def format_value(value: float) -> str:
    """A sample value as Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` writes it (Prometheus's JSON form)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    if "e" in text:
        return str(np.format_float_positional(value, unique=True, trim="-"))
    return text[:-2] if text.endswith(".0") else text


def format_time(ms: int) -> str:
    """A timestamp in milliseconds as Unix seconds with up to three decimals, trailing zeros dropped."""
    sign = "-" if ms < 0 else ""
    whole, frac = divmod(abs(ms), 1000)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:03d}".rstrip("0")


def _labels(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), ensure_ascii=False, separators=(",", ":"))


def _value_texts(values: list[float]) -> list[str]:
    """`format_value` of every value: ``repr`` is Go's shortest form but for ``.0``, exponents and NaN/Inf."""
    texts = list(map(repr, values))
    for i, text in enumerate(texts):
        if text[-2:] == ".0":
            texts[i] = text[:-2]
        elif "e" in text or "n" in text:  # exponent, nan, inf
            texts[i] = format_value(values[i])
    return texts


def _points(ts: list[int], values: list[float], times: dict[int, str]) -> str:
    stamps = [times.get(t) or times.setdefault(t, format_time(t)) for t in ts]
    return ",".join([f'[{stamp},"{text}"]' for stamp, text in zip(stamps, _value_texts(values), strict=True)])


def result_json(result: Result) -> str:
    """The ``data`` of a query answer: ``resultType`` and ``result``."""
    if isinstance(result, Scalar):
        point = f'[{format_time(result.time_ms)},"{format_value(result.value)}"]'
        return f'{{"resultType":"scalar","result":{point}}}'
    if isinstance(result, String):
        text = json.dumps(result.value, ensure_ascii=False)
        return f'{{"resultType":"string","result":[{format_time(result.time_ms)},{text}]}}'
    if isinstance(result, InstantVector):
        stamp = format_time(result.time_ms)
        samples = ",".join(
            f'{{"metric":{_labels(s.labels)},"value":[{stamp},"{format_value(s.value)}"]}}'
            for s in result.samples
        )
        return f'{{"resultType":"vector","result":[{samples}]}}'
    assert isinstance(result, Matrix)
    times: dict[int, str] = {}
    series = ",".join(
        f'{{"metric":{_labels(s.labels)},"values":[{_points(s.ts.tolist(), s.values.tolist(), times)}]}}'
        for s in result.series
    )
    return f'{{"resultType":"matrix","result":[{series}]}}'


def success(data_json: str, warnings: Iterable[str] = ()) -> web.Response:
    """A success envelope around ``data_json`` (already JSON text)."""
    notes = list(dict.fromkeys(warnings))
    tail = f',"warnings":{json.dumps(notes, ensure_ascii=False)}' if notes else ""
    return web.Response(
        text=f'{{"status":"success","data":{data_json}{tail}}}', content_type="application/json"
    )


def success_of(data: object, warnings: Iterable[str] = ()) -> web.Response:
    """A success envelope around a JSON-serialisable ``data``."""
    return success(json.dumps(data, ensure_ascii=False, separators=(",", ":")), warnings)


def error_response(
    error_type: str, message: str, status: int, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Prometheus's error envelope."""
    body = {"status": "error", "errorType": error_type, "error": message}
    return web.Response(
        text=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json",
    )


@web.middleware
async def prometheus_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure on the Prometheus paths in Prometheus's envelope (see the module docstring)."""
    if not is_prometheus_path(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except PromQLError as exc:
        return error_response(exc.error_type, str(exc), exc.status)
    except ApiError as exc:
        return error_response(
            _API_ERROR_TYPES.get(exc.status, exc.code), exc.message, exc.status, exc.headers
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        code = _API_ERROR_TYPES.get(exc.status, "bad_data" if exc.status < 500 else "internal")
        return error_response(code, exc.reason, exc.status, headers)
    except Exception:
        log.exception("unhandled error", method=request.method, path=request.path)
        return error_response("internal", "internal error; the server log has the details", 500)
