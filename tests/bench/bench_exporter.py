"""Benchmark: openmanager-exporter against Debian's prometheus-node-exporter, side by side.

Starts both exporters on loopback ports, scrapes them alternately N times each over one keep-alive
connection per exporter with the headers Prometheus sends, and prints per exporter: CPU time per scrape
(utime + stime of the whole process, all threads, from /proc/<pid>/stat), median and p99 latency, RSS
before the first and after the last scrape, the number of series, and our figures as a ratio of
node_exporter's.

    .venv/bin/python tests/bench/bench_exporter.py [--scrapes 2000] [--cache-ttl 5]

``--cache-ttl 0`` makes every scrape re-read the process table (what a 15 s scrape interval sees, since
the cache TTL is shorter than the interval); the default measures the configured cache. Not collected
by pytest (tests/bench is in norecursedirs). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_SIZE_BYTES = os.sysconf("SC_PAGE_SIZE")
WARMUP_SCRAPES = 20


@dataclass
class Result:
    """What one exporter measured."""

    name: str
    cpu_ms_per_scrape: float
    median_ms: float
    p99_ms: float
    rss_start_mb: float
    rss_end_mb: float
    series: int


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads) in seconds."""
    data = Path(f"/proc/{pid}/stat").read_bytes()
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def rss_mb(pid: int) -> float:
    """Resident set size in MB (10^6 bytes)."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_SIZE_BYTES / 1e6


def wait_ready(port: int, timeout_s: float = 15.0) -> None:
    """Wait until something answers HTTP on the port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/metrics")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answered on 127.0.0.1:{port} within {timeout_s}s")


class Target:
    """One running exporter and a keep-alive connection to it."""

    def __init__(self, name: str, argv: list[str], port: int) -> None:
        self.name = name
        self.port = port
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(port)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.latencies_s: list[float] = []

    def scrape(self, headers: dict[str, str]) -> bytes:
        """One GET /metrics; returns the decoded body."""
        self.connection.request("GET", "/metrics", headers=headers)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"{self.name} answered {response.status}")
        return gzip.decompress(body) if response.getheader("Content-Encoding") == "gzip" else body

    def timed_scrape(self) -> None:
        """One scrape as Prometheus sends it, timed from request to last byte."""
        start = time.perf_counter()
        self.scrape({"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
        self.latencies_s.append(time.perf_counter() - start)

    def series(self) -> int:
        """Sample lines in a plain text scrape."""
        text = self.scrape({"Accept": "text/plain"}).decode()
        return sum(1 for line in text.splitlines() if line and not line.startswith("#"))

    def stop(self) -> None:
        """Close the connection and terminate the exporter."""
        self.connection.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def measure(targets: list[Target], scrapes: int) -> list[Result]:
    """Scrape the targets alternately, `scrapes` times each."""
    for target in targets:
        for _ in range(WARMUP_SCRAPES):
            target.timed_scrape()
        target.latencies_s.clear()
    rss_start = {t.name: rss_mb(t.process.pid) for t in targets}
    cpu_start = {t.name: cpu_seconds(t.process.pid) for t in targets}
    for _ in range(scrapes):
        for target in targets:
            target.timed_scrape()
    results = []
    for target in targets:
        cpu_used_s = cpu_seconds(target.process.pid) - cpu_start[target.name]
        latencies = sorted(target.latencies_s)
        results.append(
            Result(
                name=target.name,
                cpu_ms_per_scrape=cpu_used_s * 1000 / scrapes,
                median_ms=statistics.median(latencies) * 1000,
                p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
                rss_start_mb=rss_start[target.name],
                rss_end_mb=rss_mb(target.process.pid),
                series=target.series(),
            )
        )
    return results


def table(reference: Result, ours: Result) -> str:
    """The side-by-side table with ratios (ours / node_exporter)."""
    rows = [
        ("CPU ms per scrape", reference.cpu_ms_per_scrape, ours.cpu_ms_per_scrape, "{:.3f}"),
        ("median latency ms", reference.median_ms, ours.median_ms, "{:.3f}"),
        ("p99 latency ms", reference.p99_ms, ours.p99_ms, "{:.3f}"),
        ("RSS at start MB", reference.rss_start_mb, ours.rss_start_mb, "{:.1f}"),
        ("RSS at end MB", reference.rss_end_mb, ours.rss_end_mb, "{:.1f}"),
        ("series", float(reference.series), float(ours.series), "{:.0f}"),
    ]
    lines = [f"{'':<20}{reference.name:>16}{ours.name:>16}{'ratio':>10}"]
    for label, theirs, mine, fmt in rows:
        ratio = f"{mine / theirs:.2f}" if theirs else "-"
        lines.append(f"{label:<20}{fmt.format(theirs):>16}{fmt.format(mine):>16}{ratio:>10}")
    return "\n".join(lines)


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scrapes", type=int, default=2000, help="scrapes per exporter (default 2000)")
    parser.add_argument("--cache-ttl", type=float, default=5.0, help="our collectors' cache_ttl_seconds")
    parser.add_argument("--node-exporter", default="prometheus-node-exporter", help="node_exporter binary")
    args = parser.parse_args()
    node_exporter = shutil.which(args.node_exporter)
    if node_exporter is None:
        print(f"{args.node_exporter} not found; install it with: apt-get install prometheus-node-exporter")
        return 1
    ours_binary = Path(sys.executable).with_name("openmanager-exporter")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "exporter.yml"
        config.write_text(f"collectors:\n  cache_ttl_seconds: {args.cache_ttl}\n")
        node_port, our_port = free_port(), free_port()
        reference = Target(
            "node_exporter", [node_exporter, f"--web.listen-address=127.0.0.1:{node_port}"], node_port
        )
        try:
            ours = Target(
                "openmanager",
                [
                    str(ours_binary),
                    "--listen",
                    f"127.0.0.1:{our_port}",
                    "--config",
                    str(config),
                    "--log-level",
                    "error",
                ],
                our_port,
            )
            try:
                print(
                    f"{args.scrapes} scrapes each, alternating, keep-alive, Prometheus's Accept headers, gzip"
                )
                print(f"openmanager cache_ttl_seconds={args.cache_ttl:g}")
                theirs, mine = measure([reference, ours], args.scrapes)
                print(table(theirs, mine))
            finally:
                ours.stop()
        finally:
            reference.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
