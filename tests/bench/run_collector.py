"""The collector alone, for benchmarks: scrapes a file_sd fleet and serves its own /metrics.

With ``--stores none`` scrape results are consumed and dropped (the scrape engine's cost alone); with
``--stores both`` they go through the storage pipeline into this machine's Redis (db 14, flushed) and a
PostgreSQL database created for the run (dropped at exit).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import uvloop
from aiohttp import web
from prometheus_client import generate_latest

from collector.logs import configure_logging
from collector.runtime import Collector
from collector.scrape.queue import ResultQueue
from collector.settings import LogSettings


async def _drop(queue: ResultQueue) -> None:
    while True:
        await queue.get_batch(1000, wait_s=1.0)


async def run(args: argparse.Namespace) -> None:
    """Start the collector on the fleet; run until SIGTERM."""
    args.targets_file.write_text(
        f"global:\n  scrape_interval: {args.interval}s\n  scrape_timeout: {min(10, args.interval)}s\n"
        f"scrape_configs:\n  - job_name: fleet\n    file_sd_configs:\n      - files: ['{args.file_sd}']\n"
    )
    collector = Collector(args.targets_file)
    await collector.start()
    consumer = asyncio.create_task(_drop(collector.queue))
    app = web.Application()

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(collector.metrics.registry), content_type="text/plain")

    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.metrics_port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    consumer.cancel()
    await collector.stop()
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
