"""Prometheus's value and time formats, result shapes, and its error envelope on its paths only."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.errors import ApiError, error_middleware
from api.prometheus.render import format_time, format_value, prometheus_errors, result_json, success_of
from collector.promql import InstantVector, Matrix, Sample, Scalar, Series, String
from collector.promql.errors import QueryTimeoutError, TooManySamplesError
from collector.promql.types import STALE_NAN

GO_TEXTS = [
    (1.0, "1"),
    (0.1, "0.1"),
    (-2.5, "-2.5"),
    (1e21, "1000000000000000000000"),
    (1e-7, "0.0000001"),
    (1 / 3, "0.3333333333333333"),
    (-0.0, "-0"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
    (math.nan, "NaN"),
    (STALE_NAN, "NaN"),
]


@pytest.mark.parametrize(("value", "text"), GO_TEXTS)
def test_values_are_written_as_go_writes_them(value: float, text: str) -> None:
    assert format_value(value) == text


def test_a_matrix_writes_every_point_s_value_as_go_writes_it() -> None:
    values = np.array([value for value, _ in GO_TEXTS])
    matrix = Matrix((Series({}, np.arange(len(values)) * 1000, values),))
    written = json.loads(result_json(matrix))["result"][0]["values"]
    assert written == [[i, text] for i, (_, text) in enumerate(GO_TEXTS)]


@pytest.mark.parametrize(
    ("ms", "text"),
    [(1_700_000_000_000, "1700000000"), (1_700_000_000_500, "1700000000.5"), (1, "0.001"), (-1500, "-1.5")],
)
def test_times_are_seconds_with_up_to_three_decimals(ms: int, text: str) -> None:
    assert format_time(ms) == text


def test_result_shapes() -> None:
    assert json.loads(result_json(Scalar(1000, 2.0))) == {"resultType": "scalar", "result": [1, "2"]}
    assert json.loads(result_json(String(1000, 'a "b"'))) == {"resultType": "string", "result": [1, 'a "b"']}
    vector = InstantVector(1500, (Sample({"job": "x", "__name__": "up"}, 1.0),))
    assert json.loads(result_json(vector)) == {
        "resultType": "vector",
        "result": [{"metric": {"__name__": "up", "job": "x"}, "value": [1.5, "1"]}],
    }
    matrix = Matrix((Series({"a": "ü"}, np.array([0, 15_000]), np.array([0.5, math.nan])),))
    assert json.loads(result_json(matrix)) == {
        "resultType": "matrix",
        "result": [{"metric": {"a": "ü"}, "values": [[0, "0.5"], [15, "NaN"]]}],
    }


def test_warnings_are_listed_once() -> None:
    response = success_of([], ["a", "a", "b"])
    assert json.loads(response.text or "") == {"status": "success", "data": [], "warnings": ["a", "b"]}


async def test_errors_on_prometheus_paths_are_prometheus_s_envelope_and_status() -> None:
    async def timeout(_: web.Request) -> web.Response:
        raise QueryTimeoutError("query execution")

    async def samples(_: web.Request) -> web.Response:
        raise TooManySamplesError()

    async def forbidden(_: web.Request) -> web.Response:
        raise ApiError(403, "no access")

    async def boom(_: web.Request) -> web.Response:
        raise RuntimeError("secret detail")

    app = web.Application(middlewares=[error_middleware, prometheus_errors])
    app.router.add_get("/api/v1/query", timeout)
    app.router.add_get("/api/v1/query_range", samples)
    app.router.add_get("/api/v1/series", forbidden)
    app.router.add_get("/api/v1/labels", boom)
    app.router.add_get("/api/other", forbidden)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        expected = {
            "/api/v1/query": (503, "timeout", "query timed out in query execution"),
            "/api/v1/query_range": (
                422,
                "execution",
                "query processing would load too many samples into memory in query execution",
            ),
            "/api/v1/series": (403, "forbidden", "no access"),
            "/api/v1/labels": (500, "internal", "internal error; the server log has the details"),
        }
        for path, (status, error_type, message) in expected.items():
            response = await client.get(path)
            assert (response.status, await response.json()) == (
                status,
                {"status": "error", "errorType": error_type, "error": message},
            ), path
        not_allowed = await client.post("/api/v1/query")
        assert not_allowed.status == 405 and (await not_allowed.json())["errorType"] == "method_not_allowed"
        other = await client.get("/api/other")
        assert other.status == 403 and set(await other.json()) == {"error"}, "other paths keep the one shape"
