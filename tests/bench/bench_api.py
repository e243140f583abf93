"""``GET /api/monitoring/servers`` with 1,000 live servers, loaded with Debian's ``wrk`` on loopback.

Seeds a database of its own on 127.0.0.1:5432 (created and dropped here) and Redis db 12 (flushed before and
after) with ``--servers`` live servers, starts ``openmanager api`` as a process, logs in as an admin created
for the run, then runs ``wrk``: at full speed with ``--connections`` connections (the most the API can
serve), paced at ``--rate`` requests/s (the issue's figure: p99 at 500 requests/s) once plain and once asking
for gzip as browsers do, and with a single connection (the latency of one client). Prints requests/s and the
latency percentiles wrk reports. Debian's wrk has no fixed-rate mode; the paced run spreads the rate over
``--connections`` connections, each waiting (wrk's Lua ``delay``) between its requests, so it offers at most
``--rate`` and reports what it reached.

    .venv/bin/python tests/bench/bench_api.py --servers 1000 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from api.passwords import hash_password
from collector.result import ScrapeResult, TargetInfo, server_id_for
from collector.storage.live import LiveWriter
from collector.storage.migrate import migrate
from collector.summary import Summarizer

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/12"
PASSWORD = "benchmark password 1"
PORT = 18808


def _result(index: int, now_s: float) -> ScrapeResult:
    instance = f"host-{index:04d}:9110"
    labels = (("instance", instance), ("job", "node"))
    target = TargetInfo(
        f"bench-{index}", server_id_for("node", instance), "node", instance, labels, "", 15, 10
    )
    series = (
        ("openmanager_cpu_usage_percent", labels),
        ("openmanager_memory_usage_percent", labels),
        (("openmanager_disk_usage_percent", (("instance", instance), ("job", "node"), ("mountpoint", "/")))),
        ("up", labels),
    )
    return ScrapeResult(
        target=target,
        timestamp_ms=int(now_s * 1000),
        duration_s=0.01,
        error=None,
        error_reason=None,
        series=series,
        series_set_id=f"bench-set-{index}",
        values=[float(index % 100), 50.0, 40.0, 1.0],
    )


async def seed(servers: int) -> str:
    """Create the database and the live state; returns the DSN."""
    admin = await asyncpg.connect(ADMIN_DSN)
    database = f"om_bench_api_{os.getpid()}"
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES ('bench', $1, 'admin')",
        hash_password(PASSWORD),
    )
    await conn.close()
    redis = aioredis.Redis.from_url(REDIS_URL)
    await redis.flushdb()
    results = [_result(i, time.time()) for i in range(servers)]
    await LiveWriter(redis).write(results, Summarizer().summarize(results))
    await redis.aclose()
    return dsn


async def cleanup(dsn: str) -> None:
    """Drop the database and flush the Redis db."""
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()
    redis = aioredis.Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()


def login() -> str:
    """An access token for the benchmark's admin."""
    body = json.dumps({"username": "bench", "password": PASSWORD}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}/api/auth/login", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.loads(response.read())["access_token"]
        return token


def wrk(
    token: str, connections: int, duration_s: int, rate: float | None = None, *, gzip: bool = False
) -> str:
    """Run wrk against the servers endpoint, at full speed or paced to ``rate`` requests/s; its report.

    ``gzip``: ask for a gzipped answer, as browsers and Grafana do.
    """
    command = [
        shutil.which("wrk") or "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        *(["-H", "Accept-Encoding: gzip"] if gzip else []),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        if rate is not None:
            # Each connection waits connections/rate seconds between requests (less the typical answer time).
            script = Path(tmp, "pace.lua")
            wait_ms = max(0, round(1000 * connections / rate) - 1)
            script.write_text(f"function delay()\n  return {wait_ms}\nend\n")
            command += ["-s", str(script)]
        command.append(f"http://127.0.0.1:{PORT}/api/monitoring/servers")
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def main() -> None:
    """Seed, serve, load, report, clean up."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s of the paced run")
    args = parser.parse_args()
    dsn = asyncio.run(seed(args.servers))
    data = Path(tempfile.mkdtemp(prefix="om-bench-api-"))
    env = {
        **os.environ,
        "OM_LISTEN": f"127.0.0.1:{PORT}",
        "OM_POSTGRES_DSN": dsn,
        "OM_REDIS_URL": REDIS_URL,
        "OM_DATA_DIR": str(data),
        "OM_LOG_LEVEL": "warning",
        "OM_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        # wrk sends thousands of requests a second with one token: measure the API, not its rate limit.
        "OM_RATE_LIMIT_RPS": "0",
    }
    api = subprocess.Popen([sys.executable, "-m", "openmanager", "api"], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                token = login()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        print(f"GET /api/monitoring/servers with {args.servers} live servers, {args.duration}s per run")
        print(f"--- wrk, {args.connections} connections, full speed")
        print(wrk(token, args.connections, args.duration))
        for gzip in (False, True):
            accept = "gzip" if gzip else "identity"
            print(f"--- wrk, {args.connections} connections paced to at most {args.rate:g} req/s, {accept}")
            print(wrk(token, args.connections, args.duration, rate=args.rate, gzip=gzip))
        print("--- wrk, 1 connection, full speed")
        print(wrk(token, 1, args.duration))
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=30)
        asyncio.run(cleanup(dsn))
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
