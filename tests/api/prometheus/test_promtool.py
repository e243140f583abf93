"""promtool, a Prometheus client we did not write, against our endpoint: instant, range, series and labels.

promtool 2.42 sends a bearer token only with ``query range --header``; for the other commands a small proxy
on 127.0.0.1 adds it, as Grafana's data source configuration adds it to every request.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.api.auth.conftest import Client, session
from tests.api.prometheus.conftest import STEP_MS, T0_MS, Fleet

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package 'prometheus')"),
]

END_S = (T0_MS + 40 * STEP_MS) / 1000


@pytest.fixture
async def auth(client: Client, pool: asyncpg.Pool) -> dict[str, str]:
    return (await session(client, pool, "admin"))[1]


@pytest.fixture
async def proxy(client: Client, auth: dict[str, str]) -> AsyncIterator[str]:
    """A URL that forwards to the API with the Authorization header added."""
    upstream = str(client.make_url("/"))

    async def forward(request: web.Request) -> web.Response:
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method,
                upstream + request.path_qs.lstrip("/"),
                data=await request.read(),
                headers={**auth, "Content-Type": request.headers.get("Content-Type", "")},
            ) as answer,
        ):
            body = await answer.read()
            return web.Response(body=body, status=answer.status, content_type=answer.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


async def promtool(*args: str) -> Any:
    process = await asyncio.create_subprocess_exec(
        "promtool",
        "query",
        "-o",
        "json",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


async def test_promtool_instant_query(proxy: str, fleet: Fleet) -> None:
    result = await promtool("instant", f"--time={END_S}", proxy, f'node_load1{{job="{fleet.job}"}}')
    assert [(r["metric"]["instance"], r["value"]) for r in result] == [
        ("a:9100", [END_S, "0.9"]),
        ("b:9100", [END_S, "1.9"]),
    ]


async def test_promtool_range_query_with_its_own_header(
    client: Client, auth: dict[str, str], fleet: Fleet
) -> None:
    result = await promtool(
        "range",
        f"--header=Authorization={auth['Authorization']}",
        f"--start={END_S - 120}",
        f"--end={END_S}",
        "--step=1m",
        str(client.make_url("/")),
        f'sum by (instance) (rate(http_requests_total{{job="{fleet.job}"}}[1m]))',
    )
    assert {r["metric"]["instance"]: r["values"] for r in result} == {
        "a:9100": [[END_S - 120 + 60 * i, "0.26666666666666666"] for i in range(3)],
        "b:9100": [[END_S - 120 + 60 * i, "0.5333333333333333"] for i in range(3)],
    }


async def test_promtool_series_and_labels(proxy: str, fleet: Fleet) -> None:
    series = await promtool("series", f'--match=up{{job="{fleet.job}"}}', proxy)
    assert series == [
        {"__name__": "up", "instance": "a:9100", "job": fleet.job},
        {"__name__": "up", "instance": "b:9100", "job": fleet.job},
    ]
    values = await promtool("labels", f'--match=http_requests_total{{job="{fleet.job}"}}', proxy, "method")
    assert values == ["get", "post"]


async def test_promtool_reports_our_errors(proxy: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "promtool",
        "query",
        "instant",
        proxy,
        "sum(",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode != 0
    assert "bad_data" in err.decode() and "parse error" in err.decode()
