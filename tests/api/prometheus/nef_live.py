"""The live "Node Exporter Full" differential: a real Prometheus scraping both exporters pushes into us.

Debian's Prometheus scrapes our exporter and node_exporter every second and remote-writes every sample to a
real ``openmanager run`` (its receiver, the collector's result queue, history in PostgreSQL). Then it is
stopped (it flushes its remote-write queue on the way out) and started again on its storage without
scraping, so both hold the same samples and neither changes while the dashboard is asked of both; the data
source's scrape interval is then 1 s, as Grafana should be told.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from api.auth.apitokens import create_api_token
from tests.api.auth.conftest import make_user
from tests.api.prometheus.grafana_requests import Ask, seconds

LIVE_SCRAPE_INTERVAL_MS = 1_000
SERVICE_SETTINGS = "remote_write:\n  settle_s: 0.2\n  wait_s: 2\n"
"""The receiver hands a pushed scrape on 0.2 s after its last sample (2 s at the most)."""
STOPPED_CONFIG = "global:\n  scrape_interval: 1m\n"
_EVERY_SAMPLE = '{job=~"node|openmanager"}[1h]'


def scraping_config(addresses: dict[str, str], write_url: str, token: str) -> str:
    """Prometheus's configuration: each exporter under its job every second, everything pushed to us."""
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs: [{{targets: ['{address}']}}]\n"
        for job, address in sorted(addresses.items())
    )
    return (
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        f"scrape_configs:\n{jobs}"
        "remote_write:\n"
        f"  - url: {write_url}\n"
        f"    authorization: {{credentials: {token}}}\n"
        "    queue_config: {batch_send_deadline: 500ms, min_backoff: 50ms, max_backoff: 500ms}\n"
    )


async def write_token(dsn: str) -> str:
    """An operator's API token with the ``write`` scope, for Prometheus's remote write."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        user = await make_user(pool, "operator")
        expires_at = datetime.now(UTC) + timedelta(hours=1)
        _, secret = await create_api_token(pool, user.id, "prometheus", "operator", expires_at, ("write",))
    finally:
        await pool.close()
    return secret


async def _counts(ask: Ask, at_ms: int) -> dict[str, int]:
    """How many samples of each job the last hour holds (counted here: ``count_over_time`` would drop the
    names and meet duplicate label sets)."""
    body = await ask("/api/v1/query", {"query": _EVERY_SAMPLE, "time": seconds(at_ms)})
    assert body.get("status") == "success", body
    counts: dict[str, int] = {}
    for item in body["data"]["result"]:
        job = item["metric"]["job"]
        counts[job] = counts.get(job, 0) + len(item["values"])
    return counts


async def wait_until_stored(theirs: Ask, ours: Ask, at_ms: int, timeout_s: float = 30) -> dict[str, int]:
    """Wait until our history holds as many samples of each job as Prometheus; returns those counts."""
    expected = await _counts(theirs, at_ms)
    deadline = time.monotonic() + timeout_s
    while (got := await _counts(ours, at_ms)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"our history has {got} samples per job, Prometheus {expected}")
        await asyncio.sleep(0.5)
    return expected
