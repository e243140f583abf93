"""The full differential run through our HTTP API over PostgreSQL history, against Debian's Prometheus.

The differential data set is written through the collector's history write path (the first two hours
compacted into chunks, the rest raw rows, staleness as series-set changes: see
``tests/api/prometheus/differential_history.py``); every query of the table, at several instants and as
range queries with several steps, is asked of our ``/api/v1/query``/``query_range`` and of Prometheus.
Prints "N/M queries agree", then every difference (deliberate ones, listed in the README, marked).

    .venv/bin/python tests/bench/promql_diff_history.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from collector.storage.maintenance import HistoryConfig, run_maintenance
from tests.api.prometheus.differential_history import write_dataset
from tests.bench.api_service import api_service
from tests.collector.promql.differential import (
    DELIBERATE,
    T0_MS,
    Oracle,
    compare_bodies,
    full_cases,
    request_of,
)


async def run(workdir: Path) -> int:
    oracle = await asyncio.to_thread(Oracle, workdir / "prometheus")
    try:
        async with api_service(workdir) as service:
            await write_dataset(service.pool)
            compacted = datetime.fromtimestamp(T0_MS / 1000, UTC) + timedelta(hours=2, minutes=10)
            await run_maintenance(service.pool, HistoryConfig(), now=compacted)
            cases = full_cases()
            started = time.monotonic()
            differences = []
            async with aiohttp.ClientSession() as http:
                for case in cases:
                    path, params = request_of(case)
                    async with http.get(
                        service.url + path, params=params, headers=service.headers
                    ) as response:
                        ours: dict[str, Any] = await response.json()
                    theirs = await asyncio.to_thread(oracle.query, params, path)
                    difference = compare_bodies(theirs, ours, case.query)
                    if difference is not None:
                        differences.append((case, difference))
    finally:
        oracle.stop()
    print(f"{len(cases) - len(differences)}/{len(cases)} queries agree ({time.monotonic() - started:.1f} s)")
    unexpected = 0
    for case, difference in differences:
        reason = DELIBERATE.get(case.query)
        unexpected += reason is None
        tag = f"deliberate: {reason}" if reason else "DIFFERENT"
        print(f"- {case.describe()}\n    {difference}\n    ({tag})")
    return 1 if unexpected else 0


def main() -> int:
    """Run every case; exit 1 if any difference is not a deliberate one."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "prometheus").mkdir()
        return asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
