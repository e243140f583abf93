"""A fleet simulator for benchmarks: N node_exporter-like targets served from one process on loopback.

Target i listens on 127.0.X.Y:PORT (X, Y from i), so every target is a distinct host to its scraper. Each
page holds about ``--series`` series shaped like node_exporter's (CPU seconds per core and mode, memory,
filesystems, disks, network, a histogram and a summary) whose values change on every scrape: counters grow,
gauges wander. Writes a file_sd JSON list of the targets for Prometheus and the collector.

    python tests/bench/fleet.py --targets 1000 --series 500 --port 19100 --file-sd /tmp/fleet.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
from pathlib import Path

from aiohttp import web

_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def address(index: int) -> str:
    """The loopback address of target ``index`` (127.0.1.1 onwards, skipping .0 and .255)."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def _series_template(series: int) -> tuple[list[str], list[str], list[bool]]:
    """Metadata lines, sample prefixes (``name{labels} ``) and whether each sample is a counter."""
    meta: list[str] = []
    prefixes: list[str] = []
    counters: list[bool] = []

    def family(name: str, kind: str, help_text: str, label_sets: list[str], counter: bool) -> None:
        meta.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}")
        for labels in label_sets:
            prefixes.append(f"{name}{{{labels}}} " if labels else f"{name} ")
            counters.append(counter)

    cpus = 8
    family(
        "node_cpu_seconds_total",
        "counter",
        "Seconds the CPUs spent in each mode.",
        [f'cpu="{c}",mode="{m}"' for c in range(cpus) for m in _MODES],
        True,
    )
    for name in ("load1", "load5", "load15"):
        family(f"node_{name}", "gauge", f"{name} load average.", [""], False)
    memory = ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree", "Active")
    for field in memory:
        family(f"node_memory_{field}_bytes", "gauge", f"Memory information field {field}.", [""], False)
    mounts = [("/dev/sda1", "ext4", "/"), ("/dev/sda2", "ext4", "/var"), ("tmpfs", "tmpfs", "/run")]
    fs_labels = [f'device="{d}",fstype="{t}",mountpoint="{m}"' for d, t, m in mounts]
    for name in ("size_bytes", "free_bytes", "avail_bytes", "files", "files_free", "readonly"):
        family(f"node_filesystem_{name}", "gauge", f"Filesystem {name}.", fs_labels, False)
    disks = [f'device="{d}"' for d in ("sda", "sdb", "nvme0n1")]
    for name in (
        "read_bytes_total",
        "written_bytes_total",
        "reads_completed_total",
        "writes_completed_total",
    ):
        family(f"node_disk_{name}", "counter", f"Disk {name}.", disks, True)
    nics = [f'device="{d}"' for d in ("eth0", "eth1", "lo", "docker0")]
    for name in (
        "receive_bytes_total",
        "transmit_bytes_total",
        "receive_packets_total",
        "transmit_packets_total",
    ):
        family(f"node_network_{name}", "counter", f"Network {name}.", nics, True)
    family("node_boot_time_seconds", "gauge", "Node boot time.", [""], False)
    family("node_time_seconds", "gauge", "System time.", [""], False)
    buckets = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")
    handlers = [f'handler="/api/v{i}"' for i in range(4)]
    meta.append(
        "# HELP http_request_duration_seconds Request latency.\n"
        "# TYPE http_request_duration_seconds histogram"
    )
    for handler in handlers:
        for le in buckets:
            prefixes.append(f'http_request_duration_seconds_bucket{{{handler},le="{le}"}} ')
            counters.append(True)
        prefixes.append(f"http_request_duration_seconds_sum{{{handler}}} ")
        counters.append(True)
        prefixes.append(f"http_request_duration_seconds_count{{{handler}}} ")
        counters.append(True)
    index = 0
    while len(prefixes) < series:
        family(
            f"app_worker_queue_depth_{index}",
            "gauge",
            "Items waiting (escaped \\\\ and \\n in help).",
            [f'queue="q{q}",path="C:\\\\data\\"{q}\\""' for q in range(min(10, series - len(prefixes)))],
            False,
        )
        index += 1
    return meta, prefixes[:series], counters[:series]


class Fleet:
    """The pages of every simulated target, values advancing on each scrape."""

    def __init__(self, series: int, seed: int = 1) -> None:
        self.meta, self.prefixes, self.counters = _series_template(series)
        self._rng = random.Random(seed)
        self._values: dict[str, list[float]] = {}

    def page(self, host: str) -> bytes:
        """The next page of ``host``."""
        values = self._values.get(host)
        if values is None:
            values = [self._rng.uniform(1, 1e6) for _ in self.prefixes]
            self._values[host] = values
        rng = self._rng.random
        for i, counter in enumerate(self.counters):
            values[i] = values[i] + rng() * 100 if counter else values[i] * (0.9 + rng() * 0.2)
        body = (
            "\n".join(self.meta)
            + "\n"
            + "".join(p + repr(v) + "\n" for p, v in zip(self.prefixes, values, strict=True))
        )
        return body.encode()


async def serve(targets: int, series: int, port: int) -> list[web.AppRunner]:
    """Start one listener per target address; returns the runners."""
    fleet = Fleet(series)

    async def metrics(request: web.Request) -> web.Response:
        host = request.transport.get_extra_info("sockname")[0] if request.transport else "?"
        return web.Response(body=fleet.page(host), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for index in range(targets):
        await web.TCPSite(runner, address(index), port, backlog=64).start()
    return [runner]


def main() -> None:
    """Serve the fleet until SIGTERM/SIGINT; prints ``ready`` once every listener is up."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--port", type=int, default=19100)
    parser.add_argument("--file-sd", type=Path, help="write the targets as a file_sd JSON file")
    args = parser.parse_args()
    if args.file_sd:
        group = [{"targets": [f"{address(i)}:{args.port}" for i in range(args.targets)], "labels": {}}]
        args.file_sd.write_text(json.dumps(group))

    async def run() -> None:
        runners = await serve(args.targets, args.series, args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await stop.wait()
        for runner in runners:
            await runner.cleanup()

    asyncio.run(run())


if __name__ == "__main__":
    main()
