"""Scrape cost side by side: OpenManager's collector and Prometheus scraping the same simulated fleet.

Starts the fleet simulator (``fleet.py``), Debian's Prometheus and the collector (``run_collector.py``) as
separate processes, lets both scrape the fleet every ``--interval`` for a warm-up, then measures over a
window: CPU seconds of each scraper (from /proc), samples each ingested (Prometheus's
``prometheus_tsdb_head_samples_appended_total``, the collector's ``openmanager_samples_ingested_total`` plus
the synthetic series), CPU per sample, resident memory, and the collector's scrape start lag percentiles.

    .venv/bin/python tests/bench/bench_scrape.py --targets 1000 --series 500 --interval 15 --window 90
    .venv/bin/python tests/bench/bench_scrape.py --stores both   # the collector writes both stores too
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (children not included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of several processes (e.g. PostgreSQL backends), skipping those that are gone."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrape_metrics(url: str) -> str:
    """The text of a /metrics page."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text: str = response.read().decode()
        return text


def metric_sum(text: str, name: str) -> float:
    """Sum of every sample of ``name`` (any labels) on a page."""
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.M)
    return sum(float(v) for v in pattern.findall(text))


def lag_buckets(text: str) -> list[tuple[float, float]]:
    """The cumulative buckets of the collector's start-lag histogram."""
    pattern = r'^openmanager_scrape_start_lag_seconds_bucket{le="([^"]+)"} (\S+)$'
    return [(float(le), float(v)) for le, v in re.findall(pattern, text, re.M)]


def lag_quantiles(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> dict[str, float]:
    """p50 and p99 (bucket upper bounds) of the start lags observed between two readings."""
    buckets = [(le, v1 - v0) for (le, v0), (_, v1) in zip(before, after, strict=True)]
    total = buckets[-1][1] if buckets else 0.0
    out = {}
    for q in (0.5, 0.99):
        out[f"p{int(q * 100)}"] = next((le for le, v in buckets if total and v >= q * total), float("nan"))
    return out


_BACKLOG = {
    "scrape queue depth": "openmanager_scrape_queue_depth",
    "scrape results dropped (total)": "openmanager_scrape_results_dropped_total",
    "history samples pending": "openmanager_history_pending_samples",
    "history spool bytes": "openmanager_history_spool_bytes",
    "history rows dropped (total)": "openmanager_history_rows_dropped_total",
    "history batches spooled (total)": "openmanager_history_batches_spooled_total",
    "live batches dropped (total)": "openmanager_live_batches_dropped_total",
}


def backlog(text: str) -> dict[str, float]:
    """What waits in or was dropped by the collector's write path, from its /metrics page."""
    return {label: metric_sum(text, name) for label, name in _BACKLOG.items()}


def wait_http(url: str, timeout_s: float = 60) -> None:
    """Wait until ``url`` answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            scrape_metrics(url)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not come up")


def main() -> None:
    """Run both scrapers against one fleet and print the comparison."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--interval", type=int, default=15)
    parser.add_argument("--warmup", type=float, default=45)
    parser.add_argument("--window", type=float, default=90)
    parser.add_argument("--stores", choices=("none", "both"), default="none")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="om-bench-"))
    file_sd = work / "fleet.json"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fleet = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "fleet.py"),
                "--targets",
                str(args.targets),
                "--series",
                str(args.series),
                "--port",
                "19100",
                "--file-sd",
                str(file_sd),
            ],
            stdout=subprocess.PIPE,
        )
        procs.append(fleet)
        assert fleet.stdout is not None
        fleet.stdout.readline()
        (work / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {args.interval}s\n  scrape_timeout: {min(10, args.interval)}s\n"
            f"scrape_configs:\n  - job_name: fleet\n    file_sd_configs:\n      - files: ['{file_sd}']\n"
        )
        prometheus = subprocess.Popen(
            [
                args.prometheus,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                "--web.listen-address=127.0.0.1:19090",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(prometheus)
        collector = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "run_collector.py"),
                "--targets-file",
                str(work / "targets.yaml"),
                "--file-sd",
                str(file_sd),
                "--interval",
                str(args.interval),
                "--metrics-port",
                "19091",
                "--stores",
                args.stores,
            ],
        )
        procs.append(collector)
        wait_http("http://127.0.0.1:19090/metrics")
        wait_http("http://127.0.0.1:19091/metrics")
        print(
            f"fleet: {args.targets} targets x {args.series} series every {args.interval}s; "
            f"warm-up {args.warmup:.0f}s, window {args.window:.0f}s, collector stores: {args.stores}"
        )
        time.sleep(args.warmup)
        stores: dict[str, list[int]] = {}
        if (work / "store-pids").exists():
            for line in (work / "store-pids").read_text().splitlines():
                name, *pids = line.split()
                stores[name] = [int(p) for p in pids]
        p0, c0 = cpu_seconds(prometheus.pid), cpu_seconds(collector.pid)
        s0 = {name: tree_cpu_seconds(pids) for name, pids in stores.items()}
        pm0 = metric_sum(
            scrape_metrics("http://127.0.0.1:19090/metrics"), "prometheus_tsdb_head_samples_appended_total"
        )
        cm = scrape_metrics("http://127.0.0.1:19091/metrics")
        cs0 = metric_sum(cm, "openmanager_samples_ingested_total") + 5 * metric_sum(
            cm, "openmanager_scrapes_total"
        )
        lag0 = lag_buckets(cm)
        backlog0 = backlog(cm)
        time.sleep(args.window)
        p1, c1 = cpu_seconds(prometheus.pid), cpu_seconds(collector.pid)
        s1 = {name: tree_cpu_seconds(pids) for name, pids in stores.items()}
        pm1 = metric_sum(
            scrape_metrics("http://127.0.0.1:19090/metrics"), "prometheus_tsdb_head_samples_appended_total"
        )
        cm = scrape_metrics("http://127.0.0.1:19091/metrics")
        cs1 = metric_sum(cm, "openmanager_samples_ingested_total") + 5 * metric_sum(
            cm, "openmanager_scrapes_total"
        )
        p_cpu, c_cpu = p1 - p0, c1 - c0
        p_samples, c_samples = pm1 - pm0, cs1 - cs0
        p_us = p_cpu / p_samples * 1e6 if p_samples else float("nan")
        c_us = c_cpu / c_samples * 1e6 if c_samples else float("nan")
        lag = lag_quantiles(lag0, lag_buckets(cm))
        failures = metric_sum(cm, "openmanager_scrape_failures_total")
        print(f"{'':28}{'prometheus':>14}{'openmanager':>14}{'ratio':>8}")
        print(f"{'CPU seconds in window':28}{p_cpu:14.2f}{c_cpu:14.2f}{c_cpu / p_cpu:8.2f}")
        print(f"{'% of one core':28}{100 * p_cpu / args.window:14.1f}{100 * c_cpu / args.window:14.1f}")
        print(f"{'samples ingested':28}{p_samples:14.0f}{c_samples:14.0f}")
        print(f"{'CPU per sample (us)':28}{p_us:14.2f}{c_us:14.2f}{c_us / p_us:8.2f}")
        print(f"{'resident memory (MB)':28}{rss_mb(prometheus.pid):14.0f}{rss_mb(collector.pid):14.0f}")
        for name, label in (("postgres", "PostgreSQL CPU s"), ("redis-server", "Redis CPU s")):
            if name in stores:
                print(f"{label:28}{'':14}{s1[name] - s0[name]:14.2f}   (the collector's store, whole server)")
        if stores:
            backlog1 = backlog(cm)
            print("collector backlog, window start -> end:")
            for key, value in backlog1.items():
                print(f"  {key:40}{backlog0[key]:>14,.0f} -> {value:,.0f}")
        start = lag_quantiles([(le, 0.0) for le, _ in lag0], lag0)
        print(f"collector scrape start lag in the warm-up: p50 <= {start['p50']}s, p99 <= {start['p99']}s")
        print(f"collector scrape start lag in the window: p50 <= {lag['p50']}s, p99 <= {lag['p99']}s")
        print(f"failed scrapes in the collector: {failures:.0f}")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
