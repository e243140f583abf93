"""The remote-write intake of ``openmanager api``: pushes reach live state, history and the alert engine's
relay through a pipeline of the API process's own."""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from api.keys import REGISTRIES, STORES
from collector.config.api_settings import RemoteWriteSettings
from collector.config.settings import Settings
from collector.ingest.targets import identity_of
from collector.result import server_id_for
from collector.storage.live_read import latest_series
from openmanager.ingest import spool_dir
from openmanager.service import build_service
from tests.api.test_remote_write import _history, _relayed_identities, body, labels, push, token

NOW_MS = int(time.time() * 1000) // 1000 * 1000


def test_each_listening_port_spools_apart(settings: Settings) -> None:
    assert spool_dir(settings, 8080) != spool_dir(settings, 8082)
    assert spool_dir(settings, 8080).parent == settings.data_dir / "spool"
    assert spool_dir(settings, 8080) != settings.data_dir / "spool" / "history"  # a collector's, on one host


async def test_an_api_process_stores_pushed_samples_and_relays_their_waves(
    settings: Settings, pg_dsn: str, redis_url: str
) -> None:
    quick = settings.model_copy(update={"remote_write": RemoteWriteSettings(settle_s=0.1, wait_s=0.5)})
    relayed: set[str] = set()
    listening = asyncio.create_task(_relayed_identities(redis_url, relayed))
    try:
        async with TestClient(TestServer(build_service(quick, role="api"), host="127.0.0.1")) as client:
            secret = await token(client.app[STORES].pg)
            for step in range(3):
                ts = NOW_MS - (3 - step) * 15_000
                payload = body((labels("node_load1"), [(ts, 0.5 + step)]), (labels("up"), [(ts, 1.0)]))
                status, text = await push(client, secret, payload)
                assert status == 204, text
            server = server_id_for("node", "pushed:9100")
            deadline = time.monotonic() + 20
            stored: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]] = {}
            while time.monotonic() < deadline:
                stored = await _history(pg_dsn, [server])
                if sum(len(points) for points in stored.values()) >= 6 and relayed:
                    break
                await asyncio.sleep(0.2)
            load = next(points for (metric, _), points in stored.items() if metric == "node_load1")
            assert sorted(load.values()) == [0.5, 1.5, 2.5]
            redis = aioredis.from_url(redis_url)
            try:
                latest = await latest_series(redis, identity_of("node", "pushed:9100"))
                live = {key[0]: value for key, value, _ in latest}
            finally:
                await redis.aclose()
            assert live["node_load1"] == 2.5
            assert identity_of("node", "pushed:9100") in relayed
            exposed = [metric.name for registry in client.app[REGISTRIES] for metric in registry.collect()]
            assert "openmanager_remote_write_samples" in exposed
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
