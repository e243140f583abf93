"""The full "Node Exporter Full" differential: longer history, Grafana's usual time ranges, both host kinds.

Our exporter and Debian's node_exporter run on loopback, their pages are replayed as ``--hours`` of scrapes
every 15 s (see ``tests/api/prometheus/nef_differential.py``), loaded into Debian's Prometheus (promtool
backfill) and through the collector's write path into our PostgreSQL history (every hour but the last
compacted into chunks, as in steady state); then the dashboard is opened as Grafana opens it for each
``--ranges`` ("Last 1 hour", "Last 6 hours", "Last 24 hours", the dashboard's default) with each host
selected, and every request is asked of both. Prints, per range, "N/M agree" for each host kind side by side
and every difference; exits 1 when any.

    .venv/bin/python tests/bench/nef_diff.py [--hours 25] [--ranges 1h,6h,24h]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from collector.storage.maintenance import HistoryConfig, run_maintenance
from tests.api.prometheus.grafana_requests import TimeRange, asker, parse_interval_ms
from tests.api.prometheus.nef_differential import (
    Outcome,
    compare_dashboard,
    replay,
    running_exporters,
    scrape_hosts,
    scrape_results,
)
from tests.bench.api_service import api_service
from tests.collector.promql.differential import Oracle
from tests.collector.storage.history_helpers import write_results

T0_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z: the first replayed scrapes."""
HOUR_MS = 3_600_000


async def run(workdir: Path, hours: int, ranges: list[str]) -> int:
    now_ms = T0_MS + hours * HOUR_MS + 7_300
    with running_exporters() as addresses:
        hosts = await scrape_hosts(addresses)
    history = {host.job: replay(host, T0_MS, now_ms) for host in hosts}
    started = time.monotonic()
    loaded = [item for series in history.values() for item in series]
    oracle = await asyncio.to_thread(Oracle, workdir / "prometheus", loaded)
    print(f"{sum(len(s.ts) for s in loaded):,} samples of {len(loaded)} series in Prometheus", end=" ")
    print(f"({time.monotonic() - started:.1f} s)")
    try:
        async with api_service(workdir) as service, aiohttp.ClientSession() as http:
            started = time.monotonic()
            for host in hosts:
                await write_results(service.pool, scrape_results(host, history[host.job]))
            last_hour = datetime.fromtimestamp((T0_MS + hours * HOUR_MS) / 1000, UTC)
            await run_maintenance(service.pool, HistoryConfig(), now=last_hour + timedelta(minutes=10))
            print(f"written to our history and compacted ({time.monotonic() - started:.1f} s)")
            theirs, ours = asker(http, oracle.url), asker(http, service.url, service.headers)
            outcomes: list[tuple[str, list[Outcome]]] = []
            for name in ranges:
                time_range = TimeRange(now_ms - parse_interval_ms(name), now_ms)
                outcomes.append(
                    (name, [await compare_dashboard(theirs, ours, time_range, h.job) for h in hosts])
                )
    finally:
        oracle.stop()
    return report(outcomes)


def report(outcomes: list[tuple[str, list[Outcome]]]) -> int:
    """Prints the side-by-side table and every difference; 1 when there is any."""
    jobs = [outcome.job for outcome in outcomes[0][1]]
    print(f"\n{'range':<10}" + "".join(f"{job:>36}" for job in jobs))
    for name, row in outcomes:
        cells = (
            f"{o.requests - len(o.differences)}/{o.requests} agree, {o.with_data} with data" for o in row
        )
        print(f"{'last ' + name:<10}" + "".join(f"{cell:>36}" for cell in cells))
    differences = 0
    for name, row in outcomes:
        for outcome in row:
            for request, difference in outcome.differences:
                differences += 1
                print(f"- last {name}, {outcome.job}: {request}\n    {difference}")
    return 1 if differences else 0


def main() -> int:
    """Run the comparison; exit 1 when any answer differs."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=int, default=25, help="hours of replayed history (default 25)")
    parser.add_argument("--ranges", default="1h,6h,24h", help="dashboard time ranges (default 1h,6h,24h)")
    args = parser.parse_args()
    ranges = args.ranges.split(",")
    if max(parse_interval_ms(r) for r in ranges) + 10 * 60_000 > args.hours * HOUR_MS:
        parser.error("--hours must cover the longest range plus the lookback")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "prometheus").mkdir()
        return asyncio.run(run(Path(tmp), args.hours, ranges))


if __name__ == "__main__":
    raise SystemExit(main())
