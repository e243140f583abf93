"""``/api/v1/metadata`` and ``/api/v1/targets/metadata`` against Debian's Prometheus, both scraping the same
exporters: openmanager-exporter, node_exporter (where installed) and loopback pages with the edge cases
(untyped and HELP-only families, histograms and summaries, escapes, a family two targets describe
differently, OpenMetrics units, info, stateset, gaugehistogram).

The collector scrapes the same target file the Prometheus reads; its results go through the metadata
recorder into PostgreSQL, and the API answers a viewer granted exactly those servers. Where Prometheus keeps
whichever families or entries its maps hand it first (``limit``, ``limit_per_metric``), an answer agrees when
it is one Prometheus could give: as many families, as many entries, each of them in the full answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from collector.result import ScrapeResult, server_id_for
from collector.runtime import ScrapeService
from collector.storage.metadata_recorder import MetadataRecorder
from tests.api.auth.conftest import Client, session
from tests.peers import exporter_processes, prometheus_process, target_file
from tests.polling import eventually
from tests.ports import listening

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

EDGE_TEXT = """\
# HELP edge_requests_total Requests served.
# TYPE edge_requests_total counter
edge_requests_total{code="200"} 10
# TYPE edge_untyped untyped
edge_untyped 1
# HELP edge_help_only Only a HELP line.
edge_help_only 2
# TYPE edge_type_only gauge
edge_type_only 3
# HELP edge_latency_seconds Latency.
# TYPE edge_latency_seconds histogram
edge_latency_seconds_bucket{le="0.1"} 1
edge_latency_seconds_bucket{le="+Inf"} 2
edge_latency_seconds_sum 0.3
edge_latency_seconds_count 2
# HELP edge_size_bytes Sizes.
# TYPE edge_size_bytes summary
edge_size_bytes{quantile="0.5"} 10
edge_size_bytes_sum 30
edge_size_bytes_count 3
# HELP edge_escaped A backslash \\\\ and a newline \\n in help.
# TYPE edge_escaped gauge
edge_escaped 4
edge_no_metadata 5
"""

EDGE_TEXT_B = """\
# HELP edge_requests_total Requests, as b counts them.
# TYPE edge_requests_total counter
edge_requests_total{code="500"} 1
# TYPE edge_type_only gauge
edge_type_only 7
"""

EDGE_OPENMETRICS = """\
# TYPE om_requests counter
# HELP om_requests Requests.
om_requests_total 1
# TYPE om_uptime_seconds gauge
# UNIT om_uptime_seconds seconds
# HELP om_uptime_seconds Uptime.
om_uptime_seconds 5
# TYPE om_build info
# HELP om_build Build.
om_build_info{version="1"} 1
# TYPE om_state stateset
om_state{om_state="a"} 1
om_state{om_state="b"} 0
# TYPE om_queue gaugehistogram
om_queue_bucket{le="1"} 1
om_queue_bucket{le="+Inf"} 2
om_queue_gcount 2
om_queue_gsum 3
# TYPE om_unknown unknown
om_unknown 1
# EOF
"""


@asynccontextmanager
async def pages() -> AsyncIterator[dict[str, str]]:
    """Each edge-case page on a loopback port of its own; job name to address."""
    addresses = {}
    async with AsyncExitStack() as stack:
        for job, (text, content_type) in {
            "edge_text": (EDGE_TEXT, "text/plain; version=0.0.4"),
            "edge_text_b": (EDGE_TEXT_B, "text/plain; version=0.0.4"),
            "edge_openmetrics": (EDGE_OPENMETRICS, OPENMETRICS),
        }.items():

            async def page(
                _: web.Request, body: bytes = text.encode(), kind: str = content_type
            ) -> web.Response:
                return web.Response(body=body, headers={"Content-Type": kind})

            app = web.Application()
            app.router.add_get("/metrics", page)
            addresses[job] = f"127.0.0.1:{await stack.enter_async_context(listening(web.AppRunner(app)))}"
        yield addresses


@asynccontextmanager
async def prometheus(tmp_path: Path, config: Path, targets: int) -> AsyncIterator[str]:
    """Debian's Prometheus reading ``config``, once every target was scraped; yields its URL."""
    async with prometheus_process(tmp_path, config) as url, aiohttp.ClientSession() as client:

        async def all_up() -> bool:
            try:
                async with client.get(f"{url}/api/v1/targets") as response:
                    active = (await response.json())["data"]["activeTargets"]
            except (aiohttp.ClientError, KeyError, ValueError):
                return False
            return len(active) == targets and all(t["health"] == "up" for t in active)

        await eventually(all_up, timeout_s=60, interval_s=0.5)
        yield url


async def our_results(collector: ScrapeService, jobs: set[str]) -> list[ScrapeResult]:
    """Results until every job has had two successful scrapes."""
    results: list[ScrapeResult] = []

    async def enough() -> bool:
        results.extend(await collector.queue.get_batch(10_000, wait_s=0))
        return all(sum(1 for r in results if r.up and r.target.job == job) >= 2 for job in jobs)

    await eventually(enough, timeout_s=60, interval_s=0.2)
    return results


Answer = tuple[int, Any]
Agreement = Callable[[Answer, Answer], bool]
Case = tuple[str, dict[str, str], Agreement]


def entries(data: dict[str, list[dict[str, str]]]) -> dict[str, list[str]]:
    return {name: sorted(json.dumps(e, sort_keys=True) for e in items) for name, items in data.items()}


def same(ours: Answer, theirs: Answer) -> bool:
    if ours[0] != theirs[0]:
        return False
    if ours[0] != 200:
        return bool(ours[1] == theirs[1])
    data_ours, data_theirs = ours[1]["data"], theirs[1]["data"]
    if isinstance(data_ours, list):
        return sorted(json.dumps(i, sort_keys=True) for i in data_ours) == sorted(
            json.dumps(i, sort_keys=True) for i in data_theirs
        )
    return entries(data_ours) == entries(data_theirs)


def one_of(
    full_ours: dict[str, list[str]], full_theirs: dict[str, list[str]], per_metric: int = 0
) -> Agreement:
    """Both answers cut as Prometheus may cut them: as many families, each entry from the full answer.

    Ours must keep ``min(per_metric, n)`` of a family's ``n`` entries (all with no ``per_metric``), as
    Prometheus 2.45 and later do; Debian's 2.42 predates ``limit_per_metric`` and keeps them all.
    """

    def agree(ours: Answer, theirs: Answer) -> bool:
        a, b = entries(ours[1]["data"]), entries(theirs[1]["data"])
        kept = all(
            len(v)
            == (
                min(per_metric, len(full_theirs.get(k, ())))
                if per_metric > 0
                else len(full_theirs.get(k, ()))
            )
            for k, v in a.items()
        )
        within = all(set(v) <= set(full_theirs.get(k, ())) for k, v in a.items()) and all(
            set(v) <= set(full_ours.get(k, ())) for k, v in b.items()
        )
        return ours[0] == theirs[0] == 200 and len(a) == len(b) and kept and within

    return agree


def cases_of(suffix: str, full_ours: dict[str, list[str]], full_theirs: dict[str, list[str]]) -> list[Case]:
    """The table: every parameter alone and together, edge values, bad values."""
    cut = one_of(full_ours, full_theirs)
    one_each = one_of(full_ours, full_theirs, per_metric=1)
    some = sorted(full_theirs)[:: max(1, len(full_theirs) // 12)]
    return [
        ("/api/v1/metadata", {}, same),
        ("/api/v1/metadata", {"metric": ""}, same),
        ("/api/v1/metadata", {"metric": "absent_metric"}, same),
        ("/api/v1/metadata", {"metric": "edge_requests_total"}, same),
        ("/api/v1/metadata", {"metric": "edge_untyped"}, same),
        ("/api/v1/metadata", {"metric": "om_uptime_seconds"}, same),
        ("/api/v1/metadata", {"metric": "node_load1"}, same),
        *(("/api/v1/metadata", {"metric": name}, same) for name in some),
        ("/api/v1/metadata", {"limit": "-1"}, same),
        ("/api/v1/metadata", {"limit": "0"}, same),
        ("/api/v1/metadata", {"limit": "1"}, cut),
        ("/api/v1/metadata", {"limit": "5"}, cut),
        ("/api/v1/metadata", {"limit": str(len(full_theirs))}, same),
        ("/api/v1/metadata", {"limit_per_metric": "0"}, same),
        ("/api/v1/metadata", {"limit_per_metric": "-1"}, same),
        ("/api/v1/metadata", {"limit_per_metric": "1"}, one_each),
        ("/api/v1/metadata", {"limit_per_metric": "2"}, one_of(full_ours, full_theirs, per_metric=2)),
        ("/api/v1/metadata", {"limit": "3", "limit_per_metric": "1"}, one_each),
        ("/api/v1/metadata", {"metric": "edge_requests_total", "limit_per_metric": "1"}, one_each),
        ("/api/v1/metadata", {"limit": "x"}, same),
        ("/api/v1/metadata", {"limit": "+2"}, cut),
        ("/api/v1/targets/metadata", {"match_target": f'{{job="edge_text_{suffix}"}}'}, same),
        ("/api/v1/targets/metadata", {"match_target": f'{{job=~"edge_.*_{suffix}"}}'}, same),
        ("/api/v1/targets/metadata", {"metric": "edge_requests_total"}, same),
        ("/api/v1/targets/metadata", {"metric": "om_build"}, same),
        ("/api/v1/targets/metadata", {"limit": "0"}, same),
        ("/api/v1/targets/metadata", {"limit": "x"}, same),
    ]


async def record_our_scrapes(pool: asyncpg.Pool, config: Path, jobs: set[str]) -> None:
    """The collector scrapes ``config``'s targets; the metadata recorder writes what their pages said."""
    collector = ScrapeService(config)
    await collector.start()
    try:
        results = await our_results(collector, jobs)
    finally:
        await collector.stop()
    recorder = MetadataRecorder(pool)
    recorder.observe(results, {})
    await recorder.flush()


@pytest.mark.slow
async def test_metadata_answers_as_prometheus_does(
    client: Client, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    with exporter_processes() as exporters:
        async with pages() as edge:
            addresses = {f"{job}_{suffix}": address for job, address in {**exporters, **edge}.items()}
            config = tmp_path / "targets.yaml"
            config.write_text(target_file(addresses))
            await record_our_scrapes(pool, config, set(addresses))
            viewer, auth = await session(client, pool, "viewer")
            for job, address in addresses.items():
                await pool.execute(
                    "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)",
                    viewer.id,
                    server_id_for(job, address),
                )
            async with prometheus(tmp_path, config, len(addresses)) as url, aiohttp.ClientSession() as http:

                async def theirs(path: str, params: dict[str, str]) -> Answer:
                    async with http.get(url + path, params=params) as response:
                        return response.status, await response.json()

                async def ours(path: str, params: dict[str, str]) -> Answer:
                    response = await client.get(path, params=params, headers=auth)
                    return response.status, await response.json()

                full_theirs = entries((await theirs("/api/v1/metadata", {}))[1]["data"])
                full_ours = entries((await ours("/api/v1/metadata", {}))[1]["data"])
                cases = cases_of(suffix, full_ours, full_theirs)
                differ = []
                for path, params, agree in cases:
                    answers = await ours(path, params), await theirs(path, params)
                    if not agree(*answers):
                        differ.append((path, params, answers))
    agreeing = len(cases) - len(differ)
    print(f"/api/v1/metadata and /api/v1/targets/metadata: {agreeing}/{len(cases)} agree with Prometheus")
    for path, params, (mine_answer, their_answer) in differ:
        print(
            f"  {path} {params}:\n    ours   {str(mine_answer)[:600]}\n    theirs {str(their_answer)[:600]}"
        )
    assert len(full_theirs) > 20 and differ == []
