"""``openmanager import``: an OpenMetrics file's samples land in history, grouped into scrape rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from collector.config.settings import Settings
from collector.ingest.backfill import BackfillError, backfill, history_batches, results_from_openmetrics
from collector.ingest.targets import RegisteredAddress
from collector.result import server_id_for
from collector.storage.connections import open_stores
from collector.storage.raw_codec import unpack_values

T_S = 1_700_000_000


def openmetrics(instance: str, points: int = 3) -> bytes:
    lines = ["# TYPE node_load1 gauge"]
    lines += [
        f'node_load1{{job="node",instance="{instance}"}} {i / 10} {T_S + 15 * i}' for i in range(points)
    ]
    lines += ["# TYPE requests counter"]
    lines += [
        f'requests_total{{job="app",instance="{instance}",code="200"}} {100 + i} {T_S + 15 * i}.5'
        for i in range(points)
    ]
    lines.append("# EOF")
    return ("\n".join(lines) + "\n").encode()


def test_samples_are_grouped_per_server_and_timestamp_in_time_order() -> None:
    results = results_from_openmetrics(openmetrics("h:1"))
    assert [(r.target.job, r.timestamp_ms) for r in results] == [
        ("node", T_S * 1000),
        ("app", T_S * 1000 + 500),
        ("node", T_S * 1000 + 15_000),
        ("app", T_S * 1000 + 15_500),
        ("node", T_S * 1000 + 30_000),
        ("app", T_S * 1000 + 30_500),
    ]
    node = [r for r in results if r.target.job == "node"]
    assert [r.values for r in node] == [[0.0], [0.1], [0.2]]
    assert node[0].series == (("node_load1", (("instance", "h:1"), ("job", "node"))),)
    assert node[0].series_set_id == node[1].series_set_id
    assert node[0].target.server_id == server_id_for("node", "h:1")


def test_a_registered_address_takes_the_samples() -> None:
    server_id = uuid.uuid4()
    registered = {"h:1": RegisteredAddress(server_id, "servers", "web", {})}
    assert {r.target.server_id for r in results_from_openmetrics(openmetrics("h:1"), registered)} == {
        server_id
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'# TYPE a gauge\na{job="x"} 1\n# EOF\n', "has no timestamp"),
        (b"a 1 1700000000\n", "not a valid OpenMetrics file"),
        (b"# EOF\n", None),
    ],
)
def test_invalid_files(payload: bytes, message: str | None) -> None:
    if message is None:
        assert results_from_openmetrics(payload) == []
        return
    with pytest.raises(BackfillError, match=message):
        results_from_openmetrics(payload)


def test_every_scrape_gets_its_summary() -> None:
    lines = ["# TYPE openmanager_cpu_usage_percent gauge"]
    lines += [f'openmanager_cpu_usage_percent{{job="n",instance="s:1"}} {10 * i} {T_S + i}' for i in range(3)]
    lines.append("# EOF")
    batches = list(history_batches(results_from_openmetrics(("\n".join(lines) + "\n").encode())))
    rows = [row for batch in batches for row in batch.rows]
    assert len(rows) == 3
    assert all(row.stats is not None for row in rows)


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with open_stores(settings) as stores:
        yield stores.pg


async def test_import_writes_history_rows_with_the_files_values_once(pool: asyncpg.Pool) -> None:
    instance = f"import-{uuid.uuid4().hex[:8]}:9100"
    payload = openmetrics(instance, points=4)
    report = await backfill(pool, payload)
    assert (report.samples, report.rows, report.servers) == (8, 8, 2)
    again = await backfill(pool, payload)
    assert again.samples == 8
    rows = await pool.fetch(
        """SELECT r.ts, r.vals, s.series_ids FROM history_raw r JOIN series_sets s ON s.id = r.series_set_id
           WHERE r.server_id = $1 ORDER BY r.ts""",
        server_id_for("node", instance),
    )
    assert [unpack_values(r["vals"]) for r in rows] == [[0.0], [0.1], [0.2], [0.3]]
    assert [round(r["ts"].timestamp()) for r in rows] == [T_S, T_S + 15, T_S + 30, T_S + 45]
    series = await pool.fetchrow("SELECT metric, labels FROM series WHERE id = $1", rows[0]["series_ids"][0])
    assert series is not None
    assert (series["metric"], json.loads(series["labels"])) == (
        "node_load1",
        {"job": "node", "instance": instance},
    )
    server = await pool.fetchrow(
        "SELECT job, address FROM servers WHERE id = $1", server_id_for("app", instance)
    )
    assert server is not None and (server["job"], server["address"]) == ("app", instance)
