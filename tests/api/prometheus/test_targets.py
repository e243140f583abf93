"""``/api/v1/targets``: configured and registered targets, live health, dropped targets, grants."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import STORES
from collector.result import server_id_for
from collector.storage.live import LiveWriter
from collector.storage.servers import NewServer, create_server
from tests.api.auth.conftest import Client, session
from tests.api.prometheus.conftest import make_target, scrape
from tests.collector.storage.test_live import summarized
from tests.collector.test_summary import failed_result
from tests.conftest import SettingsFactory


@pytest.fixture
async def served(tmp_path: Path, make_settings: SettingsFactory, job_name: str) -> AsyncIterator[Client]:
    (tmp_path / "targets.yaml").write_text(
        f"""scrape_configs:
  - job_name: {job_name}
    scrape_interval: 30s
    scrape_timeout: 5s
    static_configs:
      - targets: ["a:9100", "b:9100", "dropped:9100"]
        labels: {{env: prod}}
    relabel_configs:
      - source_labels: [__address__]
        regex: "dropped:.*"
        action: drop
"""
    )
    async with TestClient(TestServer(create_app(make_settings()), host="127.0.0.1")) as client:
        await client.app[STORES].redis.flushdb()
        yield client


async def targets(client: Client, auth: dict[str, str], **params: str) -> dict[str, Any]:
    response = await client.get("/api/v1/targets", params=params, headers=auth)
    assert response.status == 200, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def test_targets_show_the_configuration_with_live_health(served: Client, job_name: str) -> None:
    stores = served.app[STORES]
    now = time.time()
    a, b = make_target(job_name, "a"), make_target(job_name, "b")
    await summarized(LiveWriter(stores.redis))(
        [scrape(a, round(now * 1000), [(("up", a.labels), 1.0)]), failed_result(now, b, "connection refused")]
    )
    _, auth = await session(served, stores.pg, "admin")
    data = await targets(served, auth)
    active = {t["labels"]["instance"]: t for t in data["activeTargets"] if t["scrapePool"] == job_name}
    assert set(active) == {"a:9100", "b:9100"}
    assert active["a:9100"]["health"] == "up" and active["a:9100"]["lastError"] == ""
    assert active["b:9100"]["health"] == "down" and active["b:9100"]["lastError"] == "connection refused"
    assert active["a:9100"]["labels"] == {"env": "prod", "instance": "a:9100", "job": job_name}
    assert active["a:9100"]["scrapeUrl"] == "http://a:9100/metrics"
    assert (active["a:9100"]["scrapeInterval"], active["a:9100"]["scrapeTimeout"]) == ("30s", "5s")
    assert active["a:9100"]["lastScrape"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(now)))
    assert active["a:9100"]["discoveredLabels"]["__address__"] == "a:9100"
    dropped = [t["discoveredLabels"]["__address__"] for t in data["droppedTargets"]]
    assert dropped == ["dropped:9100"]
    only_dropped = await targets(served, auth, state="dropped")
    assert only_dropped["activeTargets"] == [] and len(only_dropped["droppedTargets"]) == 1


async def test_a_target_never_scraped_is_unknown_and_registered_servers_are_listed(
    served: Client, job_name: str
) -> None:
    stores = served.app[STORES]
    await create_server(stores.pg, NewServer(name="web", address="web-7:9100", job=f"{job_name}-api"))
    _, auth = await session(served, stores.pg, "admin")
    data = await targets(served, auth, scrapePool=f"{job_name}-api")
    (registered,) = data["activeTargets"]
    assert registered["labels"]["instance"] == "web-7:9100" and registered["labels"]["name"] == "web"
    assert (registered["health"], registered["lastScrape"]) == ("unknown", "0001-01-01T00:00:00Z")


async def test_a_viewer_sees_its_servers_targets_and_no_dropped_ones(served: Client, job_name: str) -> None:
    stores = served.app[STORES]
    viewer, auth = await session(served, stores.pg, "viewer")
    granted = server_id_for(job_name, "b:9100")
    await stores.pg.execute(
        "INSERT INTO servers (id, name, hostname) VALUES ($1, 'b', 'b') ON CONFLICT DO NOTHING", granted
    )
    await stores.pg.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, granted
    )
    data = await targets(served, auth)
    assert [t["labels"]["instance"] for t in data["activeTargets"]] == ["b:9100"]
    assert data["droppedTargets"] == []


async def test_without_a_readable_target_file_the_live_layer_lists_the_targets(
    make_settings: SettingsFactory, tmp_path: Path, job_name: str
) -> None:
    settings = make_settings(targets=str(tmp_path / "missing.yaml"))
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        stores = client.app[STORES]
        await stores.redis.flushdb()
        a = make_target(job_name, "a")
        await summarized(LiveWriter(stores.redis))(
            [scrape(a, round(time.time() * 1000), [(("up", a.labels), 1.0)])]
        )
        _, auth = await session(client, stores.pg, "admin")
        data = await targets(client, auth)
    (only,) = data["activeTargets"]
    assert (only["scrapePool"], only["health"], only["scrapeUrl"]) == (job_name, "up", "")


async def test_an_unknown_state_is_bad_data(served: Client) -> None:
    _, auth = await session(served, served.app[STORES].pg, "viewer")
    response = await served.get("/api/v1/targets", params={"state": "sleeping"}, headers=auth)
    assert response.status == 400 and (await response.json())["errorType"] == "bad_data"
