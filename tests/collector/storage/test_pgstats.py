"""postgres_stats: version, connections, table and partition sizes, bytes per sample of the history."""

from __future__ import annotations

from datetime import timedelta

from collector.storage.maintenance import HistoryConfig, run_maintenance
from collector.storage.pgstats import postgres_stats
from tests.collector.storage.history_helpers import T0, T0_MS, migrated_pool, target, write_hours


async def test_stats_report_sizes_partitions_and_bytes_per_sample(fresh_pg_dsn: str) -> None:
    async with migrated_pool(fresh_pg_dsn) as pool:
        empty = await postgres_stats(pool)
        assert empty["history"]["chunk_bytes_per_sample"] is None
        await write_hours(pool, [target(1)], T0_MS, 1, n_series=200)
        await run_maintenance(pool, HistoryConfig(), now=T0 + timedelta(hours=1, minutes=10))
        await pool.execute("ANALYZE")  # row counts are estimates: make them current
        stats = await postgres_stats(pool)
    assert stats["server_version"].split(".")[0].isdigit()
    assert stats["database_bytes"] > 0
    assert sum(stats["connections"].values()) >= 1
    tables = {t["name"]: t for t in stats["tables"]}
    assert {"servers", "series", "history_raw", "history_chunks", "server_stats"} <= set(tables)
    raw = tables["history_raw"]
    assert "history_raw_p2026030210" in {p["name"] for p in raw["partitions"]}
    assert raw["rows_estimate"] == 240
    assert raw["bytes"] == sum(p["bytes"] for p in raw["partitions"])
    assert "history_raw_p2026030210" not in tables  # partitions are listed under their table only
    history = stats["history"]
    assert history["chunk_samples"] == 240 * 200
    assert history["chunk_bytes_per_sample"] is not None
    assert history["raw_samples_estimate"] == 240 * 200
