"""Which OpenMetrics pages a scrape accepts: our parser against a real Prometheus, on the OpenMetrics suite.

Every page of the OpenMetrics project's parser suite is served as ``application/openmetrics-text`` on
loopback; a Prometheus scrapes each (one target per page) and its ``health`` says whether it took the page.
A scrape here must take exactly the pages Prometheus takes, whatever the specification says of them
(``check-metrics`` is where the specification is enforced, see test_checkmetrics.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from collector.scrape.parser import ParseError, parse_format
from tests.collector.scrape.openmetrics_cases import SuiteCase, suite_cases
from tests.peers import prometheus_process
from tests.polling import eventually
from tests.ports import listening

OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@asynccontextmanager
async def serving(cases: list[SuiteCase]) -> AsyncIterator[int]:
    """Each case's page at ``/case/<name>`` on a loopback port; yields the port."""
    pages = {case.name: case.page for case in cases}

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            body=pages[request.match_info["name"]],
            content_type=None,
            headers={"Content-Type": OPENMETRICS_CONTENT_TYPE},
        )

    app = web.Application()
    app.router.add_get("/case/{name}", page)
    async with listening(web.AppRunner(app)) as port:
        yield port


async def prometheus_verdicts(tmp_path: Path, cases: list[SuiteCase], port: int) -> dict[str, bool]:
    """Whether a real Prometheus's scrape of each case's page succeeded (``health`` up)."""
    targets = "".join(
        f"      - targets: ['127.0.0.1:{port}']\n"
        f"        labels: {{__metrics_path__: /case/{case.name}, case: {case.name}}}\n"
        for case in cases
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        f"scrape_configs:\n  - job_name: suite\n    static_configs:\n{targets}"
    )
    verdicts: dict[str, bool] = {}
    async with prometheus_process(tmp_path, config) as url, aiohttp.ClientSession() as session:

        async def all_scraped() -> bool:
            try:
                async with session.get(f"{url}/api/v1/targets") as response:
                    body = await response.json()
            except aiohttp.ClientError:
                return False
            active = body["data"]["activeTargets"]
            if len(active) < len(cases) or any(t["health"] == "unknown" for t in active):
                return False
            verdicts.update({t["labels"]["case"]: t["health"] == "up" for t in active})
            return True

        await eventually(all_scraped, timeout_s=60, interval_s=0.5)
    return verdicts


def accepted_here(case: SuiteCase) -> bool:
    try:
        parse_format(case.page, "openmetrics")
    except ParseError:
        return False
    return True


@pytest.mark.slow
async def test_a_scrape_accepts_exactly_the_openmetrics_pages_prometheus_accepts(tmp_path: Path) -> None:
    cases = suite_cases()
    async with serving(cases) as port:
        theirs = await prometheus_verdicts(tmp_path, cases, port)
    disagree = {case.name: theirs[case.name] for case in cases if accepted_here(case) != theirs[case.name]}
    agree = len(cases) - len(disagree)
    print(f"OpenMetrics suite, pages a scrape accepts: {agree}/{len(cases)} agree with Prometheus")
    assert disagree == {}
