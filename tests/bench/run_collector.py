"""The collector alone, for benchmarks: scrapes a file_sd fleet and serves its own /metrics.

With ``--stores none`` scrape results are consumed and dropped (the scrape engine's cost alone); with
``--stores both`` they go through the storage pipeline into this machine's Redis (db 14, flushed) and a
PostgreSQL database created for the run (dropped at exit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
import uvloop
from aiohttp import web
from prometheus_client import generate_latest

from collector.config.settings import LogSettings
from collector.logs import configure_logging
from collector.queue import ResultQueue
from collector.runtime import ScrapeService
from collector.storage.history_writer import HistoryWriter, WriterConfig
from collector.storage.live import LiveWriter
from collector.storage.metadata_recorder import MetadataRecorder
from collector.storage.migrate import migrate
from collector.storage.pipeline import StoragePipeline

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/14"


async def _drop(queue: ResultQueue) -> None:
    while True:
        await queue.get_batch(1000, wait_s=1.0)


def _store_pids() -> dict[str, list[int]]:
    """PIDs of this machine's PostgreSQL and Redis server processes, for the benchmark's CPU figures."""
    pids: dict[str, list[int]] = {"postgres": [], "redis-server": []}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name in pids:
                pids[name].append(int(entry.name))
    return pids


@contextlib.asynccontextmanager
async def _pipeline(collector: ScrapeService, work: Path) -> AsyncIterator[None]:
    """The storage pipeline on this machine's stores: a database of its own and Redis db 14."""
    admin = await asyncpg.connect(ADMIN_DSN)
    database = f"om_bench_{os.getpid()}"
    await admin.execute(f'CREATE DATABASE "{database}"')
    redis = aioredis.Redis.from_url(REDIS_URL)
    await redis.flushdb()
    pool = await asyncpg.create_pool(ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}", min_size=2, max_size=10)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        history = HistoryWriter(pool, WriterConfig(spool_dir=work / "spool"))
        # The service's metadata recorder too: its per-wave cost is part of the write path.
        metadata = MetadataRecorder(pool)
        metadata.start()
        pipeline = StoragePipeline(collector.queue, LiveWriter(redis), history, observers=[metadata.observe])
        await pipeline.start()
        pipeline.register(collector.metrics.registry)
        (work / "store-pids").write_text(
            "".join(f"{name} {' '.join(map(str, pids))}\n" for name, pids in _store_pids().items())
        )
        try:
            yield
        finally:
            await pipeline.close(10)
            await metadata.close(5)
    finally:
        await pool.close()
        await redis.flushdb()
        await redis.aclose()
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        await admin.close()


async def run(args: argparse.Namespace) -> None:
    """Start the collector on the fleet; run until SIGTERM."""
    args.targets_file.write_text(
        f"global:\n  scrape_interval: {args.interval}s\n  scrape_timeout: {min(10, args.interval)}s\n"
        f"scrape_configs:\n  - job_name: fleet\n    file_sd_configs:\n      - files: ['{args.file_sd}']\n"
    )
    collector = ScrapeService(args.targets_file)
    async with contextlib.AsyncExitStack() as stack:
        if args.stores == "both":
            await stack.enter_async_context(_pipeline(collector, args.targets_file.parent))
        await collector.start()
        consumer = asyncio.create_task(_drop(collector.queue)) if args.stores == "none" else None
        await _serve(collector, args.metrics_port)
        if consumer is not None:
            consumer.cancel()
        await collector.stop()


async def _serve(collector: ScrapeService, port: int) -> None:
    """Serve the collector's metrics until SIGTERM."""
    app = web.Application()

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(collector.metrics.registry), content_type="text/plain")

    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets-file", type=Path, required=True)
    parser.add_argument("--file-sd", type=Path, required=True)
    parser.add_argument("--interval", type=int, default=15)
    parser.add_argument("--metrics-port", type=int, default=19091)
    parser.add_argument("--stores", choices=("none", "both"), default="none")
    args = parser.parse_args()
    configure_logging(LogSettings(level="warning", format="console"))
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
