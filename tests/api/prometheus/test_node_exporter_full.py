"""Issue 14: every expression of Grafana's "Node Exporter Full" answers on our API as on Prometheus.

The dashboard's panels and variables (`node_exporter_full`), then the differential (`nef_differential`):
a host running our exporter and one running Debian's node_exporter, their pages replayed as 70 minutes of
history in Prometheus and in our PostgreSQL (the first hour compacted into chunks), and the dashboard's
"Last 1 hour" asked of both as Grafana asks it, once per host kind ("N/M agree" is printed; ``pytest -s``).
Then live (`nef_live`): a real Prometheus scrapes both exporters and remote-writes into ``openmanager run``,
and the dashboard's last 15 seconds are asked of both.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import STORES
from collector.promql import Series
from collector.storage.maintenance import HistoryConfig, run_maintenance
from tests.api.auth.conftest import Client, session
from tests.api.prometheus.grafana_requests import Ask, TimeRange, asker
from tests.api.prometheus.nef_differential import (
    Host,
    compare_dashboard,
    replay,
    running_exporters,
    scrape_hosts,
    scrape_results,
)
from tests.api.prometheus.nef_live import (
    LIVE_SCRAPE_INTERVAL_MS,
    SERVICE_SETTINGS,
    STOPPED_CONFIG,
    scraping_config,
    wait_until_stored,
    write_token,
)
from tests.api.prometheus.node_exporter_full import DASHBOARD, fill, load, panel_queries, template_variables
from tests.collector.promql.differential import Oracle
from tests.collector.storage.history_helpers import write_results
from tests.conftest import SettingsFactory
from tests.openmanager.running import Service, admin_token, wait_healthy
from tests.peers import NODE_EXPORTER

T0_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z: the first replayed scrapes."""
NOW_MS = T0_MS + 70 * 60_000 + 7_300
"""When the dashboard is opened: mid-interval, so alignment matters."""
LAST_HOUR = TimeRange(NOW_MS - 3_600_000, NOW_MS)
LIVE_S = 20
"""How long the live Prometheus scrapes and pushes."""
COMPACTED_UNTIL = datetime.fromtimestamp((T0_MS + 3_600_000) / 1000, UTC)


def test_every_target_of_panels_and_of_rows_panels_is_listed() -> None:
    text = DASHBOARD.read_text(encoding="utf-8")
    queries = panel_queries(load())
    assert len(queries) == text.count('"expr":') == 286
    assert {q.expr for q in queries} >= {'node_memory_MemTotal_bytes{instance="$node",job="$job"}'}
    in_rows = {p["title"] for row in load()["panels"] for p in row.get("panels", [])}
    assert {q.panel for q in queries} & in_rows
    assert all(q.range or q.instant for q in queries)
    assert all(q.max_data_points > 0 for q in queries)


def test_template_variables_are_label_values_calls_in_dependency_order() -> None:
    variables = template_variables(load())
    assert [(v.name, v.label) for v in variables] == [
        ("job", "job"),
        ("nodename", "nodename"),
        ("node", "instance"),
    ]
    assert variables[0].selector == "node_uname_info"
    assert variables[2].selector == 'node_uname_info{job="$job", nodename="$nodename"}'


@pytest.mark.parametrize(
    ("text", "values", "filled"),
    [
        (
            'up{instance="$node",job="$job"}',
            {"node": "a:9100", "job": "node"},
            'up{instance="a:9100",job="node"}',
        ),
        ('up{job="${job}"}', {"job": "node"}, 'up{job="node"}'),
        ("rate(x[$__rate_interval])", {"job": "node"}, "rate(x[$__rate_interval])"),
        ('up{job="$job"}', {"job": "o'k\\"}, 'up{job="o\\\'k\\\\"}'),
        ('up{job="$other"}', {"job": "node"}, 'up{job="$other"}'),
    ],
)
def test_fill_substitutes_dashboard_variables_escaped_and_leaves_builtins(
    text: str, values: dict[str, str], filled: str
) -> None:
    assert fill(text, values) == filled


@pytest.fixture(scope="module")
def hosts() -> list[Host]:
    if NODE_EXPORTER is None:
        pytest.skip("Debian's prometheus-node-exporter is not installed (./dev test installs it)")
    with running_exporters() as addresses:
        return asyncio.run(scrape_hosts(addresses))


@pytest.fixture(scope="module")
def history(hosts: list[Host]) -> dict[str, list[Series]]:
    return {host.job: replay(host, T0_MS, NOW_MS) for host in hosts}


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory, history: dict[str, list[Series]]) -> Iterator[Oracle]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.skip("prometheus and promtool are not installed (Debian package 'prometheus')")
    loaded = [item for series in history.values() for item in series]
    running = Oracle(Path(tmp_path_factory.mktemp("prometheus")), loaded)
    yield running
    running.stop()


@pytest.fixture
async def client(
    make_settings: SettingsFactory, fresh_pg_dsn: str, hosts: list[Host], history: dict[str, list[Series]]
) -> AsyncIterator[Client]:
    """Our API on a database of its own holding both hosts' history, the first hour compacted."""
    settings = make_settings(postgres_dsn=fresh_pg_dsn, rate_limit_rps="0")
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
        pool = test_client.app[STORES].pg
        await test_client.app[STORES].redis.flushdb()
        for host in hosts:
            await write_results(pool, scrape_results(host, history[host.job]))
        await run_maintenance(pool, HistoryConfig(), now=COMPACTED_UNTIL.replace(minute=10))
        assert await pool.fetchval("SELECT compacted_until FROM history_state") == COMPACTED_UNTIL
        yield test_client


@pytest.mark.slow
async def test_every_nef_expression_answers_as_on_prometheus_for_both_host_kinds(
    client: Client, oracle: Oracle, hosts: list[Host]
) -> None:
    # Grafana's data source holds a viewer's token (see the README); the viewer is granted both hosts.
    pool = client.app[STORES].pg
    viewer, auth = await session(client, pool, "viewer")
    for host in hosts:
        grant = "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)"
        await pool.execute(grant, viewer.id, host.target().server_id)
    ours_url = str(client.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        theirs, ours = asker(http, oracle.url), asker(http, ours_url, auth)
        outcomes = [await compare_dashboard(theirs, ours, LAST_HOUR, host.job) for host in hosts]
    print()
    for outcome in outcomes:
        print(f"Node Exporter Full, last hour, {outcome.summary()}")
        for request, difference in outcome.differences:
            print(f"- {request}\n    {difference}")
    for outcome in outcomes:
        # Every target and variable was asked, and many answers carry data (our exporter has two fifths of
        # the dashboard's metrics): agreement on empty answers alone would prove nothing.
        assert outcome.requests > len(panel_queries(load()))
        assert outcome.with_data > outcome.requests // 3, outcome.summary()
    assert not [d for outcome in outcomes for d in outcome.differences]


async def test_compare_dashboard_counts_every_request_and_reports_a_differing_value() -> None:
    def answer(value: str) -> Ask:
        async def ask(path: str, params: Mapping[str, str]) -> dict[str, Any]:
            if path.startswith("/api/v1/label/"):
                return {"status": "success", "data": ["node"]}
            if path == "/api/v1/series":
                return {"status": "success", "data": [{"__name__": "node_uname_info", "job": "node"}]}
            own = value if "node_load1" in params["query"] else "1"
            sample = {"metric": {"job": "node"}, "value": [1, own]}
            return {"status": "success", "data": {"resultType": "vector", "result": [sample]}}

        return ask

    outcome = await compare_dashboard(answer("1"), answer("2"), LAST_HOUR, "node")
    queries = panel_queries(load())
    expected = sum(q.range + q.instant for q in queries) + 6  # three label values and three series requests
    assert (outcome.requests, outcome.with_data) == (expected, expected)
    loads = sum(q.range + q.instant for q in queries if "node_load1" in q.expr)
    assert loads > 0 and len(outcome.differences) == loads
    assert all("node_load1" in request for request, _ in outcome.differences)


@pytest.mark.slow
async def test_a_prometheus_remote_writing_into_openmanager_answers_the_dashboard_alike(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str
) -> None:
    if NODE_EXPORTER is None or shutil.which("prometheus") is None:
        pytest.skip("Debian's prometheus and prometheus-node-exporter are needed (./dev test installs them)")
    settings = tmp_path / "openmanager.yml"
    settings.write_text(SERVICE_SETTINGS)
    env = {"OM_CONFIG": str(settings), "OM_RATE_LIMIT_RPS": "0"}
    service = Service(tmp_path, fresh_pg_dsn, redis_url, targets="scrape_configs: []\n", env=env)
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    try:
        await asyncio.to_thread(wait_healthy, service.proc, service.port)
        secret = await write_token(fresh_pg_dsn)
        with running_exporters() as addresses:
            config = scraping_config(addresses, f"http://127.0.0.1:{service.port}/api/v1/write", secret)
            scraping = await asyncio.to_thread(Oracle, workdir, [], (), config)
            try:
                await asyncio.sleep(LIVE_S)
            finally:
                stopped_ms = int(time.time() * 1000)
                await asyncio.to_thread(scraping.stop)
        oracle = await asyncio.to_thread(Oracle, workdir, [], (), STOPPED_CONFIG)
        try:
            token = await asyncio.to_thread(admin_token, service.port, fresh_pg_dsn)
            async with aiohttp.ClientSession() as http:
                theirs = asker(http, oracle.url)
                ours = asker(http, f"http://127.0.0.1:{service.port}", {"Authorization": f"Bearer {token}"})
                counts = await wait_until_stored(theirs, ours, stopped_ms + 1_000)
                time_range = TimeRange(stopped_ms - (LIVE_S - 5) * 1000, stopped_ms)
                outcomes = [
                    await compare_dashboard(theirs, ours, time_range, job, LIVE_SCRAPE_INTERVAL_MS)
                    for job in sorted(counts)
                ]
        finally:
            oracle.stop()
    finally:
        service.stop()
    print(f"\nsamples pushed per job: {counts}")
    for outcome in outcomes:
        print(f"Node Exporter Full, live Prometheus remote-writing, {outcome.summary()}")
        for request, difference in outcome.differences:
            print(f"- {request}\n    {difference}")
    assert sorted(counts) == ["node", "openmanager"]
    assert all(outcome.with_data > outcome.requests // 3 for outcome in outcomes), outcomes
    assert not [d for outcome in outcomes for d in outcome.differences]
