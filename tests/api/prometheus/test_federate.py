"""``/federate``: each matched series' latest sample as a metrics page, stale series out, per grants."""

from __future__ import annotations

import math
import time

import asyncpg
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.prometheus.federate import exposition, format_float
from collector.config.settings import Settings
from collector.promql import Series
from collector.promql.types import stale_array
from tests.api.auth.conftest import Client, session
from tests.api.prometheus.conftest import make_target, scrape, write_history


async def test_the_latest_samples_of_the_matched_series_as_a_metrics_page(
    client: Client, pool: asyncpg.Pool, job_name: str
) -> None:
    now_ms = round(time.time() * 1000)
    a, b = make_target(job_name, "a"), make_target(job_name, "b")
    both = [(("up", a.labels), 1.0), (("load", a.labels), 0.25), (("gone", a.labels), 7.0)]
    await write_history(
        pool,
        [
            scrape(a, now_ms - 60_000, both),
            scrape(a, now_ms - 30_000, [(("up", a.labels), 1.0), (("load", a.labels), 1.5e6)]),
            scrape(b, now_ms - 30_000, [(("up", b.labels), 0.0)]),
            scrape(b, now_ms - 600_000, [(("old", b.labels), 3.0)]),
        ],
    )
    viewer, auth = await session(client, pool, "admin")
    response = await client.get(
        "/federate", params=[("match[]", f'{{job="{job_name}", __name__=~"up|load|gone|old"}}')], headers=auth
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert await response.text() == (
        "# TYPE load untyped\n"
        f'load{{instance="a:9100",job="{job_name}"}} 1.5e+06 {now_ms - 30_000}\n'
        "# TYPE up untyped\n"
        f'up{{instance="a:9100",job="{job_name}"}} 1 {now_ms - 30_000}\n'
        f'up{{instance="b:9100",job="{job_name}"}} 0 {now_ms - 30_000}\n'
    ), "gone went stale with the second scrape; old is past the lookback"
    viewer, auth = await session(client, pool, "viewer")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, b.server_id
    )
    mine = await client.get("/federate", params={"match[]": f'up{{job="{job_name}"}}'}, headers=auth)
    assert (await mine.text()).splitlines()[1:] == [
        f'up{{instance="b:9100",job="{job_name}"}} 0 {now_ms - 30_000}'
    ]


async def test_federation_needs_a_token_and_a_valid_selector(client: Client, pool: asyncpg.Pool) -> None:
    assert (await client.get("/federate", params={"match[]": "up"})).status == 401
    _, auth = await session(client, pool, "viewer")
    bad = await client.get("/federate", params={"match[]": "rate(up[5m])"}, headers=auth)
    assert bad.status == 400 and (await bad.json())["errorType"] == "bad_data"
    empty = await client.get("/federate", headers=auth)
    assert (empty.status, await empty.text()) == (200, "")


async def test_external_labels_are_added_to_every_series_but_its_own_labels_win(
    client: Client, pool: asyncpg.Pool, settings: Settings, job_name: str
) -> None:
    now_ms = round(time.time() * 1000)
    a = make_target(job_name, "a")
    await write_history(pool, [scrape(a, now_ms - 30_000, [(("up", a.labels), 1.0)])])
    viewer, auth = await session(client, pool, "viewer")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, a.server_id
    )
    query = settings.query.model_copy(update={"external_labels": {"site": "lab", "job": "outer"}})
    labelled = create_app(settings.model_copy(update={"query": query}))
    async with TestClient(TestServer(labelled, host="127.0.0.1")) as other:
        page = await other.get("/federate", params={"match[]": f'up{{job="{job_name}"}}'}, headers=auth)
        assert (await page.text()).splitlines() == [
            "# TYPE up untyped",
            f'up{{instance="a:9100",job="{job_name}",site="lab"}} 1 {now_ms - 30_000}',
        ]


def test_external_labels_are_written_sorted_with_the_series_own() -> None:
    page = exposition(
        [Series({"__name__": "x", "b": "own"}, np.array([1000]), np.array([2.0]))],
        {"c": "ext", "a": "ext", "b": "ext"},
    )
    assert page == '# TYPE x untyped\nx{a="ext",b="own",c="ext"} 2 1000\n'


def test_label_values_are_escaped_and_markers_left_out() -> None:
    page = exposition(
        [
            Series({"__name__": "x", "path": 'a"b\\c\nd'}, np.array([1000]), np.array([2.0])),
            Series({"__name__": "y"}, np.array([1000, 2000]), np.concatenate([[1.0], stale_array(1)])),
        ]
    )
    assert page == '# TYPE x untyped\nx{path="a\\"b\\\\c\\nd"} 2 1000\n'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.0, "0"),
        (-0.0, "0"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (1e100, "1e+100"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_values_are_written_as_the_go_exposition_writer_writes_them(value: float, text: str) -> None:
    assert format_float(value) == text
