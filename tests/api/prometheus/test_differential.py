"""Differential: the PromQL differential data set in our PostgreSQL history, asked through our HTTP API.

The same samples are written through the collector's history write path (the first two hours compacted into
chunks, the rest raw rows), and every query of the differential table's fast set is asked of our
``/api/v1/query`` and ``/api/v1/query_range``; the answers are compared, as JSON, with the engine's over
the same samples in memory (`MemorySource`) and with Debian's Prometheus holding them. Each comparison
prints "N/M queries agree" (``pytest -s`` shows it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.keys import STORES
from api.prometheus.render import result_json
from collector.promql import Engine, PromQLError
from collector.promql.types import Result
from collector.storage.maintenance import HistoryConfig, run_maintenance
from tests.api.auth.conftest import Client, session
from tests.api.prometheus.differential_history import write_dataset
from tests.collector.promql.differential import (
    T0_MS,
    Case,
    Oracle,
    compare_bodies,
    engine,
    fast_cases,
    request_of,
)
from tests.conftest import SettingsFactory

pytestmark = pytest.mark.slow

CASES = fast_cases()
COMPACTED_UNTIL = datetime.fromtimestamp(T0_MS / 1000, UTC) + timedelta(hours=2)


@pytest.fixture
async def client(make_settings: SettingsFactory, fresh_pg_dsn: str) -> AsyncIterator[Client]:
    """Our API on a database of its own holding the data set, the first two hours compacted."""
    settings = make_settings(postgres_dsn=fresh_pg_dsn, rate_limit_rps="0")
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
        pool = test_client.app[STORES].pg
        await test_client.app[STORES].redis.flushdb()
        assert await write_dataset(pool) > 5000
        await run_maintenance(pool, HistoryConfig(), now=COMPACTED_UNTIL + timedelta(minutes=10))
        assert await pool.fetchval("SELECT compacted_until FROM history_state") == COMPACTED_UNTIL
        assert await pool.fetchval("SELECT count(*) FROM history_chunks") > 0
        yield test_client


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.skip("prometheus and promtool are not installed (Debian package 'prometheus')")
    running = Oracle(Path(tmp_path_factory.mktemp("prometheus")))
    yield running
    running.stop()


async def ours(client: Client, auth: dict[str, str], case: Case) -> dict[str, Any]:
    path, params = request_of(case)
    response = await client.get(path, params=params, headers=auth)
    body: dict[str, Any] = await response.json()
    return body


async def in_memory(memory: Engine, case: Case) -> dict[str, Any]:
    """The engine's answer over the samples in memory, rendered as our API renders answers."""
    result: Result
    try:
        if case.step_ms:
            result = await memory.range_query(case.query, case.time_ms, case.end_ms, case.step_ms)
        else:
            result = await memory.instant_query(case.query, case.time_ms)
    except PromQLError as exc:
        return {"status": "error", "errorType": exc.error_type, "error": str(exc)}
    body: dict[str, Any] = json.loads(f'{{"status":"success","data":{result_json(result)}}}')
    return body


def report(title: str, differences: list[tuple[Case, str]]) -> None:
    print(f"\n{title}: {len(CASES) - len(differences)}/{len(CASES)} queries agree")
    for case, difference in differences:
        print(f"- {case.describe()}\n    {difference}")


async def test_history_answers_as_the_same_samples_in_memory(client: Client) -> None:
    _, auth = await session(client, client.app[STORES].pg, "admin")
    memory = engine()
    differences = []
    for case in CASES:
        difference = compare_bodies(await in_memory(memory, case), await ours(client, auth, case), case.query)
        if difference is not None:
            differences.append((case, difference))
    report("our history (PostgreSQL) against the samples in memory", differences)
    assert not differences


async def test_history_answers_as_prometheus(client: Client, oracle: Oracle) -> None:
    _, auth = await session(client, client.app[STORES].pg, "admin")
    differences = []
    for case in CASES:
        path, params = request_of(case)
        theirs = await asyncio.to_thread(oracle.query, params, path)
        difference = compare_bodies(theirs, await ours(client, auth, case), case.query)
        if difference is not None:
            differences.append((case, difference))
    report("our history (PostgreSQL) against Prometheus", differences)
    assert not differences
