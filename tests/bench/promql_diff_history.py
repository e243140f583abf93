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
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from api.app import create_app
from api.auth.apitokens import create_api_token
from api.keys import STORES
from collector.config.settings import load_settings
from collector.storage.maintenance import HistoryConfig, run_maintenance
from tests.api.prometheus.differential_history import write_dataset
from tests.collector.promql.differential import (
    DELIBERATE,
    T0_MS,
    Oracle,
    compare_bodies,
    full_cases,
    request_of,
)
from tests.conftest import _claim_redis_db, create_database, drop_database
from tests.ports import free_port

ADMIN_DSN = os.environ.get("OM_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OM_BENCH_REDIS_URL", "redis://127.0.0.1:6379")


async def run(workdir: Path) -> int:
    db = _claim_redis_db(REDIS_URL)
    if db is None:
        raise SystemExit(f"no Redis at {REDIS_URL}")
    dsn = await create_database(ADMIN_DSN)
    (workdir / "targets.yaml").write_text("scrape_configs: []\n")
    env = {
        "OM_POSTGRES_DSN": dsn,
        "OM_REDIS_URL": f"{REDIS_URL}/{db}",
        "OM_DATA_DIR": str(workdir / "om"),
        "OM_TARGETS": str(workdir / "targets.yaml"),
        "OM_RATE_LIMIT_RPS": "0",
    }
    app = create_app(load_settings(None, env))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    oracle = await asyncio.to_thread(Oracle, workdir / "prometheus")
    try:
        pool = app[STORES].pg
        await write_dataset(pool)
        compacted = datetime.fromtimestamp(T0_MS / 1000, UTC) + timedelta(hours=2, minutes=10)
        await run_maintenance(pool, HistoryConfig(), now=compacted)
        owner = await pool.fetchval(
            "INSERT INTO users (username, password_hash, role) VALUES ('diff', 'x', 'admin') RETURNING id"
        )
        _, token = await create_api_token(pool, owner, "diff", "admin", datetime.now(UTC) + timedelta(days=1))
        cases = full_cases()
        started = time.monotonic()
        differences = []
        async with aiohttp.ClientSession() as http:
            for case in cases:
                path, params = request_of(case)
                async with http.get(
                    f"http://127.0.0.1:{port}{path}",
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    ours: dict[str, Any] = await response.json()
                theirs = await asyncio.to_thread(oracle.query, params, path)
                difference = compare_bodies(theirs, ours, case.query)
                if difference is not None:
                    differences.append((case, difference))
    finally:
        oracle.stop()
        await runner.cleanup()
        await drop_database(ADMIN_DSN, dsn)
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
