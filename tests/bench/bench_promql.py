"""PromQL over our PostgreSQL history against Debian's Prometheus over the same samples: panel latency.

Run: ``.venv/bin/python tests/bench/bench_promql.py [--servers 100] [--series 500] [--hours 24] [--repeat 5]``

``--servers`` node_exporter-like hosts with ``--series`` series each (CPU seconds per cpu and mode, memory,
load, network, disk and filesystem families, the rest collector durations), scraped every 15 s for
``--hours``, are

1. backfilled into Prometheus (OpenMetrics files of two hours each, ``promtool tsdb create-blocks-from
   openmetrics`` on each, ``--jobs`` at a time) and
2. written into our history through the collector's write path, then compacted by the maintenance job (all
   hours but the last, as in steady state: chunks plus an hour of raw rows);

then typical "Node Exporter Full" panel queries are asked of both over HTTP as Grafana asks them
(``query_range`` over the last 1 h at 15 s, 24 h at 1 m and 7 d at 10 m), ``--repeat`` times each,
alternating. Each server runs in a process of its own, ours as ``openmanager api``: a server in this script's
process would share its event loop with the client and pay for the client's work too. It prints each
query's median latency on both sides and their ratio, the median ratio per range
and overall, and how many answers agree. It needs the Debian package ``prometheus``, PostgreSQL on
127.0.0.1:5432 (a database of its own, dropped at the end) and Redis on 127.0.0.1:6379 (a free database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from api.app import create_app
from api.auth.apitokens import create_api_token
from api.keys import STORES
from collector.config.settings import load_settings
from collector.result import ScrapeResult, SeriesKey, TargetInfo, server_id_for
from collector.storage.history import HistoryBatch, HistoryStore, SetDigests, batch_from_results
from collector.storage.maintenance import HistoryConfig, run_maintenance
from tests.collector.promql.differential import compare_bodies
from tests.conftest import _claim_redis_db, create_database, drop_database, release_redis_db
from tests.openmanager.running import start_service, wait_healthy
from tests.ports import free_port, wait_port

ADMIN_DSN = os.environ.get("OM_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OM_BENCH_REDIS_URL", "redis://127.0.0.1:6379")
INTERVAL_MS = 15_000
HOUR_MS = 3_600_000
T0_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z: the first scrape."""
MODES = ("idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice")


@dataclass(frozen=True)
class Family:
    """A metric family: its name, each series' extra labels, and how its values move."""

    name: str
    label_sets: tuple[tuple[tuple[str, str], ...], ...]
    kind: str
    """counter (steady growth), cpu (hundredths of seconds), gauge (random walk) or constant."""


def families(n_series: int) -> list[Family]:
    """node_exporter's usual families, then collector durations up to ``n_series`` series."""
    out = [
        Family(
            "node_cpu_seconds_total",
            tuple((("cpu", str(c)), ("mode", m)) for c in range(4) for m in MODES),
            "cpu",
        ),
        *(
            Family(f"node_memory_{name}_bytes", ((),), "gauge")
            for name in ("MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree")
        ),
        *(Family(f"node_load{n}", ((),), "gauge") for n in (1, 5, 15)),
        *(
            Family(
                f"node_network_{name}_total",
                tuple((("device", d),) for d in ("eth0", "eth1", "lo")),
                "counter",
            )
            for name in ("receive_bytes", "transmit_bytes", "receive_packets", "transmit_packets")
        ),
        *(
            Family(f"node_disk_{name}_total", tuple((("device", d),) for d in ("sda", "sdb")), "counter")
            for name in (
                "read_bytes",
                "written_bytes",
                "reads_completed",
                "writes_completed",
                "io_time_seconds",
            )
        ),
        *(
            Family(
                f"node_filesystem_{name}_bytes",
                tuple(
                    (("device", f"/dev/sd{i}"), ("fstype", "ext4"), ("mountpoint", m))
                    for i, m in enumerate(("/", "/var", "/home"))
                ),
                "constant" if name == "size" else "gauge",
            )
            for name in ("size", "avail", "free")
        ),
    ]
    used = sum(len(f.label_sets) for f in out)
    rest = max(0, n_series - used)
    out.append(
        Family(
            "node_scrape_collector_duration_seconds",
            tuple((("collector", f"c{i}"),) for i in range(rest)),
            "gauge",
        )
    )
    return out


def host_labels(host: int) -> tuple[tuple[str, str], ...]:
    return (("instance", f"host-{host}:9100"), ("job", "node"))


def values(host: int, family_index: int, row: int, kind: str, steps: int) -> np.ndarray:
    """One series' values at every scrape: deterministic, so both stores get the same."""
    rng = np.random.default_rng([host, family_index, row])
    if kind == "counter":
        return np.cumsum(rng.integers(0, 10_000, steps)).astype(np.float64) + float(rng.integers(0, 10**9))
    if kind == "cpu":
        return np.round(np.cumsum(rng.integers(0, 1500, steps)) / 100 + rng.integers(0, 10**6), 2)
    if kind == "constant":
        return np.full(steps, float(rng.integers(10**9, 10**12)))
    return np.round(np.abs(np.cumsum(rng.normal(0, 1, steps))) + rng.integers(0, 1000), 2)


def series_keys(host: int, fams: Sequence[Family]) -> tuple[SeriesKey, ...]:
    base = host_labels(host)
    return tuple((f.name, tuple(sorted(base + extra))) for f in fams for extra in f.label_sets)


def host_matrix(host: int, fams: Sequence[Family], steps: int) -> np.ndarray:
    """(series × scrapes) values of one host."""
    return np.vstack(
        [
            values(host, fi, row, f.kind, steps)
            for fi, f in enumerate(fams)
            for row in range(len(f.label_sets))
        ]
    )


# -- Prometheus ----------------------------------------------------------------------------------------------


def write_openmetrics(path: Path, servers: int, fams: Sequence[Family], scrapes: range, steps: int) -> None:
    """The samples of ``scrapes`` (indexes of the ``steps`` scrapes) as OpenMetrics text, family by family (as
    the format wants), streamed to ``path``."""
    stamps = np.array([f"{(T0_MS + k * INTERVAL_MS) // 1000}" for k in scrapes])
    with path.open("w") as out:
        for fi, f in enumerate(fams):
            kind = "counter" if f.kind in ("counter", "cpu") else "gauge"
            out.write(f"# TYPE {f.name.removesuffix('_total') if kind == 'counter' else f.name} {kind}\n")
            for host in range(servers):
                for row, extra in enumerate(f.label_sets):
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(host_labels(host) + extra))
                    prefix = f"{f.name}{{{labels}}} "
                    text = values(host, fi, row, f.kind, steps)[scrapes.start : scrapes.stop].astype(str)
                    out.write(
                        "".join(
                            f"{prefix}{v} {t}\n" for v, t in zip(text.tolist(), stamps.tolist(), strict=True)
                        )
                    )
        out.write("# EOF\n")


SLICE_SCRAPES = 2 * HOUR_MS // INTERVAL_MS
"""Scrapes per OpenMetrics file: two hours, Prometheus's block range (the first scrape is 2 h aligned), so
each ``promtool`` run makes one block, no two blocks overlap, and a run reads a twelfth of a day (promtool
ran out of memory here on a day of 100 servers in one file)."""


def backfill(workdir: Path, servers: int, fams: Sequence[Family], steps: int, jobs: int) -> Path:
    """Every sample into Prometheus blocks under ``workdir / "data"``, two hours per ``promtool`` run,
    ``jobs`` runs at a time; returns the data directory."""
    data = workdir / "data"
    slices = [range(first, min(first + SLICE_SCRAPES, steps)) for first in range(0, steps, SLICE_SCRAPES)]

    def one(index: int) -> None:
        source = workdir / f"samples-{index}.om"
        write_openmetrics(source, servers, fams, slices[index], steps)
        try:
            subprocess.run(
                ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                check=True,
                capture_output=True,
                timeout=7200,
            )
        finally:
            source.unlink()

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, range(len(slices))))
    return data


class Prometheus:
    """Debian's Prometheus on 127.0.0.1 over backfilled blocks."""

    def __init__(self, workdir: Path, data: Path) -> None:
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n")
        self.port = free_port()
        self.log = (workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=100y",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port, 120)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# -- ours ----------------------------------------------------------------------------------------------------


def target(host: int) -> TargetInfo:
    instance = f"host-{host}:9100"
    return TargetInfo(
        f"bench-{host}", server_id_for("node", instance), "node", instance, host_labels(host), "", 15, 10
    )


async def write_history(pool: asyncpg.Pool, servers: int, fams: Sequence[Family], steps: int) -> None:
    """Every scrape through the history write path, host by host, an hour of scrapes per batch."""
    store, digests = HistoryStore(), SetDigests()
    per_hour = HOUR_MS // INTERVAL_MS
    for host in range(servers):
        info, keys, matrix = target(host), series_keys(host, fams), host_matrix(host, fams, steps)
        for first in range(0, steps, per_hour):
            batch = HistoryBatch()
            for k in range(first, min(first + per_hour, steps)):
                result = ScrapeResult(
                    target=info,
                    timestamp_ms=T0_MS + k * INTERVAL_MS,
                    duration_s=0.01,
                    error=None,
                    error_reason=None,
                    series=keys,
                    series_set_id=f"bench-{host}",
                    values=matrix[:, k].tolist(),
                )
                batch.extend(batch_from_results([result], {}, digests))
            async with pool.acquire() as conn:
                await store.write(conn, batch)


# -- queries -------------------------------------------------------------------------------------------------

PANELS = (
    (
        '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle", instance="$host"}[5m])))',
        "CPU busy",
    ),
    ('sum by (mode) (rate(node_cpu_seconds_total{instance="$host", mode!="idle"}[5m]))', "CPU by mode"),
    (
        'node_memory_MemTotal_bytes{instance="$host"} - node_memory_MemAvailable_bytes{instance="$host"}',
        "RAM used",
    ),
    ('node_load1{instance="$host"}', "load1"),
    ('rate(node_network_receive_bytes_total{instance="$host"}[5m]) * 8', "network in"),
    ('rate(node_disk_read_bytes_total{instance="$host"}[5m])', "disk read"),
    (
        '100 - node_filesystem_avail_bytes{instance="$host"}'
        ' / node_filesystem_size_bytes{instance="$host"} * 100',
        "disk used %",
    ),
    ('avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))', "fleet CPU idle"),
)
RANGES = (("1h", HOUR_MS, 15_000), ("24h", 24 * HOUR_MS, 60_000), ("7d", 7 * 24 * HOUR_MS, 600_000))


async def timed(
    http: aiohttp.ClientSession, url: str, params: dict[str, str], headers: dict[str, str]
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    async with http.get(url, params=params, headers=headers) as response:
        body: dict[str, Any] = await response.json()
    return time.perf_counter() - started, body


def p90(ratios: Sequence[float]) -> float:
    """The 90th percentile (linear between the nearest ranks)."""
    return statistics.quantiles(ratios, n=10, method="inclusive")[-1] if len(ratios) > 1 else ratios[0]


async def run_queries(prom_url: str, our_url: str, token: str, end_ms: int, repeat: int, host: int) -> None:
    rows = []
    agree = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
        for query, title in PANELS:
            text = query.replace("$host", f"host-{host}:9100")
            for name, span_ms, step_ms in RANGES:
                params = {
                    "query": text,
                    "start": str((end_ms - span_ms) / 1000),
                    "end": str(end_ms / 1000),
                    "step": str(step_ms / 1000),
                }
                theirs, ours = [], []
                for _ in range(repeat):
                    seconds, their_body = await timed(http, f"{prom_url}/api/v1/query_range", params, {})
                    theirs.append(seconds)
                    seconds, our_body = await timed(http, f"{our_url}/api/v1/query_range", params, headers)
                    ours.append(seconds)
                difference = compare_bodies(their_body, our_body, text)
                agree += difference is None
                if difference is not None:
                    print(f"  DIFFERENT {title} {name}: {difference}")
                rows.append((title, name, statistics.median(theirs), statistics.median(ours)))
    print(f"\n{'panel':<16} {'range':>5} {'prometheus ms':>14} {'ours ms':>9} {'ratio':>6}")
    for title, name, theirs_s, ours_s in rows:
        print(
            f"{title:<16} {name:>5} {theirs_s * 1000:>14.1f} {ours_s * 1000:>9.1f} {ours_s / theirs_s:>6.1f}"
        )
    for name, _, _ in RANGES:
        ratios = [o / t for _, n, t, o in rows if n == name]
        print(f"median ratio over {name}: {statistics.median(ratios):.2f} (p90 {p90(ratios):.2f})")
    ratios = [o / t for _, _, t, o in rows]
    print(f"median ratio overall: {statistics.median(ratios):.2f} (p90 {p90(ratios):.2f})")
    print(f"{agree}/{len(rows)} answers agree")


async def main(args: argparse.Namespace) -> None:
    steps = int(args.hours * HOUR_MS // INTERVAL_MS)
    fams = families(args.series)
    n_series = sum(len(f.label_sets) for f in fams)
    end_ms = T0_MS + (steps - 1) * INTERVAL_MS
    print(
        f"{args.servers} servers x {n_series} series x {steps} scrapes"
        f" = {args.servers * n_series * steps:,} samples"
    )
    db = _claim_redis_db(REDIS_URL)
    if db is None:
        raise SystemExit(f"no Redis at {REDIS_URL}")
    dsn = await create_database(ADMIN_DSN)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        data = await asyncio.to_thread(backfill, workdir, args.servers, fams, steps, args.jobs)
        print(f"OpenMetrics files and promtool create-blocks: {time.monotonic() - started:.0f} s")
        prometheus = await asyncio.to_thread(Prometheus, workdir, data)
        (workdir / "targets.yaml").write_text("scrape_configs: []\n")
        settings = load_settings(
            None,
            {
                "OM_POSTGRES_DSN": dsn,
                "OM_REDIS_URL": f"{REDIS_URL}/{db}",
                "OM_DATA_DIR": str(workdir / "om"),
                "OM_TARGETS": str(workdir / "targets.yaml"),
                "OM_RATE_LIMIT_RPS": "0",
            },
        )
        app = create_app(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            pool = app[STORES].pg
            started = time.monotonic()
            await write_history(pool, args.servers, fams, steps)
            print(f"history write: {time.monotonic() - started:.0f} s")
            started = time.monotonic()
            # A minute after the last scrape: its hour has not closed, so it stays in raw rows, as it would.
            now = datetime.fromtimestamp(end_ms / 1000, UTC) + timedelta(minutes=1)
            config = HistoryConfig(max_hours_per_run=10_000)
            await run_maintenance(pool, config, now=now)
            print(f"compaction: {time.monotonic() - started:.0f} s")
            owner = await pool.fetchval(
                "INSERT INTO users (username, password_hash, role) VALUES ('bench', 'x', 'admin')"
                " RETURNING id"
            )
            _, token = await create_api_token(
                pool, owner, "bench", "admin", datetime.now(UTC) + timedelta(days=1)
            )
            api_port = free_port()
            api = start_service(
                api_port,
                pg_dsn=dsn,
                redis_url=f"{REDIS_URL}/{db}",
                data_dir=workdir / "api",
                targets=workdir / "targets.yaml",
                env={"OM_RATE_LIMIT_RPS": "0"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                command="api",
            )
            try:
                await asyncio.to_thread(wait_healthy, api, api_port)
                ours = f"http://127.0.0.1:{api_port}"
                await run_queries(prometheus.url, ours, token, end_ms, args.repeat, args.servers // 2)
            finally:
                api.terminate()
                api.wait(timeout=60)
        finally:
            await runner.cleanup()
            prometheus.stop()
            await drop_database(ADMIN_DSN, dsn)
            release_redis_db(REDIS_URL, db)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="promtool runs at a time while backfilling")
    return parser.parse_args(argv)


if __name__ == "__main__":
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        raise SystemExit("needs the Debian package prometheus (promtool and prometheus)")
    asyncio.run(main(parse_args()))
