"""Benchmark of the Redis live layer: 1,000 targets x 1,000 series every 15 s of scrape time, flat out.

Run: ``.venv/bin/python -m tests.bench.bench_live`` (options: ``--help``).

It uses database 15 of the local Redis (``redis://127.0.0.1:6379/15`` by default) and FLUSHDBs it before and
after the run, so nothing else may keep data there; it refuses to run while a test run has claimed db 15
(see ``tests/conftest.py``). Each round is one scrape of every target, 15 s of scrape time after the last;
the first round (every series set written, every target seen for the first time) is reported apart from
the steady-state rounds. Results are built before a round starts; each batch is then summarized
(``Summarizer.summarize``, as the collector does once for all its writers) and written
(``LiveWriter.write``), and the two are measured apart.

Printed: results/s and samples/s written, collector CPU seconds per 1,000 samples (this process) of the
summaries and of the writes, each with the share of one core it needs at the real rate of 1,000 targets
every 15 s (67 results/s), the Redis server's CPU (INFO ``used_cpu_sys`` + ``used_cpu_user``, a
server-wide figure: other clients of the same server count too) and its memory.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from collector.result import Labels, ScrapeResult, SeriesKey, TargetInfo, server_id_for
from collector.storage.live import LiveWriter
from collector.summary import Summarizer

INTERVAL_S = 15.0
CLAIM_KEY = "openmanager:test-claim:{db}"


@dataclass
class _Host:
    """One simulated node: its target, its series and which values are counters that grow."""

    target: TargetInfo
    series: tuple[SeriesKey, ...]
    series_set_id: str
    base: list[float]
    counters: list[tuple[int, float]]
    """(position, increase per scrape)."""


def _host(number: int, series_count: int) -> _Host:
    instance = f"node-{number:04d}.dc1.example.net:9100"
    target_labels = {"instance": instance, "job": "node", "env": "prod", "dc": "dc1"}
    samples: list[tuple[str, dict[str, str], float, float]] = []  # name, labels, value, increase

    def add(metric: str, value: float, increase: float = 0.0, labels: dict[str, str] | None = None) -> None:
        samples.append((metric, labels or {}, value, increase))

    add("openmanager_cpu_usage_percent", 35.0)
    add("openmanager_memory_usage_percent", 61.5)
    for cpu in range(8):
        for mode, rate in (("user", 4.0), ("system", 1.5), ("idle", 9.0), ("iowait", 0.2)):
            add("node_cpu_seconds_total", 1e5, rate, {"cpu": str(cpu), "mode": mode})
        for mode in ("nice", "irq", "softirq", "steal"):
            add("node_cpu_seconds_total", 100.0, 0.01, {"cpu": str(cpu), "mode": mode})
    for mount, device in (("/", "sda1"), ("/boot", "sda2"), ("/var", "sdb1"), ("/data", "sdc1")):
        labels = {"device": f"/dev/{device}", "fstype": "ext4", "mountpoint": mount}
        add("openmanager_disk_usage_percent", 40.0, 0.0, {"mountpoint": mount})
        for field in ("avail_bytes", "free_bytes", "size_bytes", "files", "files_free", "readonly"):
            add(f"node_filesystem_{field}", 1e11, 0.0, labels)
    for device in ("lo", "eth0", "eth1", "docker0"):
        for direction in ("receive", "transmit"):
            for field in ("bytes", "packets", "errs", "drop"):
                add(f"node_network_{direction}_{field}_total", 1e9, 1.5e6, {"device": device})
    for field in ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree"):
        add(f"node_memory_{field}_bytes", 16e9)
    add("node_load1", 1.2)
    add("node_load5", 1.0)
    add("node_load15", 0.9)
    add("node_boot_time_seconds", 1.69e9)
    add("node_time_seconds", 1.7e9, INTERVAL_S)
    unit = 0
    while len(samples) < series_count:
        # The long tail of a real target: per-unit states, one series per state.
        for state in ("active", "activating", "deactivating", "failed", "inactive"):
            add(
                "node_systemd_unit_state",
                1.0 if state == "active" else 0.0,
                0.0,
                {"name": f"svc{unit}.service", "state": state},
            )
        unit += 1
    del samples[series_count:]

    series = []
    for name, labels, _, _ in samples:
        merged: Labels = tuple(sorted({**target_labels, **labels}.items()))
        series.append((name, merged))
    all_labels: Labels = tuple(sorted(target_labels.items()))
    identity = hashlib.blake2b(repr(("node", all_labels)).encode(), digest_size=8).hexdigest()
    target = TargetInfo(
        identity=identity,
        server_id=server_id_for("node", instance),
        job="node",
        instance=instance,
        labels=all_labels,
        url=f"http://{instance}/metrics",
        interval_s=INTERVAL_S,
        timeout_s=10.0,
    )
    return _Host(
        target=target,
        series=tuple(series),
        series_set_id=hashlib.blake2b(repr(series).encode(), digest_size=8).hexdigest(),
        base=[value for _, _, value, _ in samples],
        counters=[(i, increase) for i, (_, _, _, increase) in enumerate(samples) if increase],
    )


def _round(hosts: list[_Host], number: int, start_s: float) -> list[ScrapeResult]:
    results = []
    for host in hosts:
        values = list(host.base)
        for position, increase in host.counters:
            values[position] += increase * number
        results.append(
            ScrapeResult(
                target=host.target,
                timestamp_ms=round((start_s + number * INTERVAL_S) * 1000),
                duration_s=0.03,
                error=None,
                error_reason=None,
                series=host.series,
                series_set_id=host.series_set_id,
                values=values,
                samples_scraped=len(values),
            )
        )
    return results


async def _redis_cpu_s(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


@dataclass
class _Measured:
    results: int = 0
    samples: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    summarize_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0


async def _write_rounds(
    summarizer: Summarizer,
    writer: LiveWriter,
    client: aioredis.Redis,
    rounds: list[list[ScrapeResult]],
    batch: int,
) -> _Measured:
    measured = _Measured()
    redis_before = await _redis_cpu_s(client)
    for results in rounds:
        for start in range(0, len(results), batch):
            chunk = results[start : start + batch]
            cpu = time.process_time()
            summaries = summarizer.summarize(chunk)
            measured.summarize_cpu_s += time.process_time() - cpu
            wall, cpu = time.perf_counter(), time.process_time()
            await writer.write(chunk, summaries)
            measured.wall_s += time.perf_counter() - wall
            measured.cpu_s += time.process_time() - cpu
            measured.results += len(chunk)
            measured.samples += sum(len(r.values) for r in chunk)
    measured.redis_cpu_s = await _redis_cpu_s(client) - redis_before
    return measured


def _report(title: str, m: _Measured) -> None:
    real_rate = 1000 / INTERVAL_S
    per_result_redis = m.redis_cpu_s / m.results
    indent = " " * 21
    share = "% of one core at 1,000 targets / 15 s"
    print(f"{title}: {m.results} results, {m.samples} samples written in {m.wall_s:.2f} s")
    print(
        f"  throughput         {m.results / m.wall_s:10.1f} results/s {m.samples / m.wall_s:12,.0f} samples/s"
    )
    for label, cpu_s in (("summarize CPU", m.summarize_cpu_s), ("write CPU", m.cpu_s)):
        print(f"  {label:<18} {cpu_s / m.samples * 1000 * 1000:10.3f} ms per 1,000 samples")
        print(f"{indent}{cpu_s / m.results * real_rate * 100:10.2f} {share}")
    print(f"  Redis server CPU   {m.redis_cpu_s:10.2f} s = {per_result_redis * 1000:.3f} ms per result")
    print(f"{indent}{per_result_redis * real_rate * 100:10.2f} {share}")


async def main() -> None:
    """Run the benchmark with the command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="redis://127.0.0.1:6379/15", help="Redis database to FLUSH and use")
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=6, help="steady-state rounds after the first")
    parser.add_argument("--batch", type=int, default=250, help="results per LiveWriter.write call")
    args = parser.parse_args()

    client = aioredis.Redis.from_url(args.url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    admin = aioredis.Redis.from_url(args.url.rsplit("/", 1)[0] + "/0")
    if await admin.exists(CLAIM_KEY.format(db=db)):
        raise SystemExit(f"Redis db {db} is claimed by a test run; try again later or pass another --url")
    await admin.aclose()
    await client.flushdb()
    try:
        hosts = [_host(n, args.series) for n in range(args.targets)]
        summarizer, writer = Summarizer(), LiveWriter(client)
        memory_before = (await client.info("memory"))["used_memory"]
        start_s = time.time() - (args.rounds + 1) * INTERVAL_S

        first = await _write_rounds(summarizer, writer, client, [_round(hosts, 0, start_s)], args.batch)
        steady_rounds = [_round(hosts, n, start_s) for n in range(1, args.rounds + 1)]
        steady = await _write_rounds(summarizer, writer, client, steady_rounds, args.batch)

        memory = await client.info("memory")
        keys_in_db = await client.dbsize()
        print(f"{args.targets} targets x {args.series} series, batches of {args.batch}, Redis at {args.url}")
        _report("first round (new targets, series sets written)", first)
        _report(f"steady state ({args.rounds} rounds)", steady)
        used = memory["used_memory"] - memory_before
        print(
            f"  Redis memory       {used / 1e6:10.1f} MB for this data ({keys_in_db} keys), "
            f"server total {memory['used_memory_human']}, peak {memory['used_memory_peak_human']}"
        )
    finally:
        await client.flushdb()
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
