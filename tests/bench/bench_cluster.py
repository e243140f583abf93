"""Collectors sharing the simulated fleet: 1, 2 and 3 ``openmanager run`` processes, samples/s per core.

Each round starts a Redis Cluster of three masters (Debian's ``redis-server``), a fresh PostgreSQL database
and the fleet (``fleet.py``), then N collectors on one target file; once their shares cover the fleet it
measures, over ``--window`` seconds, the samples stored in history per second and the CPU the collector
processes used (from ``/proc``), and prints one row per N: samples/s in all, per collector, and per collector
core (samples/s divided by the cores the collectors used). On this 2-core machine the stores and the fleet
share the cores with the collectors, so the shape matters more than the figures.

    python tests/bench/bench_cluster.py --targets 300 --series 200 --interval 5 --window 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import redis as redis_sync

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collector.storage import keys  # noqa: E402
from tests.bench.fleet import address  # noqa: E402
from tests.conftest import PG_ADMIN_DSN, create_database, drop_database  # noqa: E402
from tests.openmanager.running import start_service, wait_healthy  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.rediscluster import cluster_url, redis_cluster  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _covered(client: redis_sync.RedisCluster, members: int, targets: int) -> bool:
    infos = {k: json.loads(v) for k, v in client.hgetall(keys.CLUSTER_INFO).items()}
    return (
        len(infos) == members
        and all(i.get("members") == members for i in infos.values())
        and sum(int(i["targets"]) for i in infos.values()) == targets
    )


async def _stored_samples(dsn: str, since: float, until: float, per_scrape: int) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetchval(
            "SELECT count(*) FROM history_raw WHERE ts >= to_timestamp($1) AND ts < to_timestamp($2)",
            since,
            until,
        )
    finally:
        await conn.close()
    return int(rows) * per_scrape


def round_of(n: int, args: argparse.Namespace, work: Path) -> tuple[float, float]:
    """N collectors on the fleet: (samples/s stored, collector cores used)."""
    fleet_port = free_port()
    sd = work / "fleet.json"
    fleet = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/bench/fleet.py"), "--targets", str(args.targets),
         "--series", str(args.series), "--port", str(fleet_port), "--file-sd", str(sd)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert fleet.stdout is not None and fleet.stdout.readline().strip() == "ready"
    targets = work / "targets.yaml"
    listed = ", ".join(f"'{address(i)}:{fleet_port}'" for i in range(args.targets))
    targets.write_text(
        f"global:\n  scrape_interval: {args.interval}s\n  scrape_timeout: {args.interval}s\n"
        f"scrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: [{listed}]\n"
    )
    dsn = asyncio.run(create_database(PG_ADMIN_DSN))
    procs: list[subprocess.Popen[str]] = []
    try:
        with redis_cluster(work / f"redis-{n}") as ports:
            client = redis_sync.RedisCluster(host="127.0.0.1", port=ports[0])
            for i in range(n):
                port = free_port()
                proc = start_service(
                    port, pg_dsn=dsn, redis_url=cluster_url(ports), data_dir=work / f"c{n}-{i}",
                    targets=targets, env={"OM_CLUSTER_MEMBER_ID": f"c{i}", "OM_LOG_LEVEL": "warning"},
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                procs.append(proc)
                wait_healthy(proc, port)
            deadline = time.monotonic() + 60
            while not _covered(client, n, args.targets):
                assert time.monotonic() < deadline, "the collectors never covered the fleet"
                time.sleep(0.2)
            time.sleep(2 * args.interval)  # first scrapes, series registration
            start, cpu_start = time.time(), sum(_cpu_s(p.pid) for p in procs)
            time.sleep(args.window)
            end, cpu_end = time.time(), sum(_cpu_s(p.pid) for p in procs)
            time.sleep(3)  # the history writers' last flush
            client.close()
            per_scrape = args.series + 5  # the page's series and the synthetic ones (up, durations …)
            samples = asyncio.run(_stored_samples(dsn, start, end, per_scrape))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        fleet.terminate()
        fleet.wait(timeout=10)
        asyncio.run(drop_database(PG_ADMIN_DSN, dsn))
    return samples / (end - start), (cpu_end - cpu_start) / (end - start)


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=300)
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--window", type=float, default=20)
    parser.add_argument("--collectors", default="1,2,3")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.collectors.split(",")):
            rate, cores = round_of(n, args, Path(tmp))
            rows.append((n, rate, cores))
    sys.stdout.write(f"{args.targets} targets x {args.series} series every {args.interval}s\n")
    sys.stdout.write("collectors  samples/s  per collector  collector cores  samples/s per core\n")
    for n, rate, cores in rows:
        per_core = rate / cores if cores else float("nan")
        sys.stdout.write(f"{n:>10}  {rate:>9.0f}  {rate / n:>13.0f}  {cores:>15.2f}  {per_core:>18.0f}\n")


if __name__ == "__main__":
    main()
