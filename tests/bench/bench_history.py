"""Benchmark of the PostgreSQL history store: ingest, compaction, bytes per sample, read latency.

Run: ``.venv/bin/python tests/bench/bench_history.py [--targets 1000] [--series 1000] [--waves 20]``

It creates a database of its own on 127.0.0.1:5432 (user postgres, trust auth), drops it at the end, and
prints:

1. ingest: ``--targets`` × ``--series`` every 15 s, written through ``HistoryWriter`` wave after wave as
   fast as it goes (time compressed): per-wave write time against the 15 s budget, samples/s, and the CPU
   seconds of this process and of the PostgreSQL server processes per wave;
2. compaction: one full hour of ``--compact-targets`` targets, compacted by ``run_maintenance``: seconds per
   target-hour and bytes per sample of the chunks on disk;
3. reads: ``server_stats`` seeded with ``generate_series`` (one server over 30 days, 99 more over a day, one
   row per 15 s), rolled up, then ``server_history`` for 24 h at a 1-minute step and 30 days at 1 hour;
4. series reads: one target's 24 h, compacted, read with ``series_range`` from chunks and rollups;
5. ``postgres_stats``: the tables, their sizes and the bytes per sample of each tier.

The fleet is modeled on node_exporter and this project's exporter: 40 % constant series (sizes, limits,
info), 22 % busy integer counters (bytes, packets), 8 % mostly idle counters (errors, drops), 10 % counters
in hundredths (CPU seconds), 10 % integer gauges in pages (memory), 7 % gauges with two decimals (percent,
load), 3 % full-precision floats (durations, ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import secrets
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from collector.matchers import Matcher
from collector.result import ScrapeResult, SeriesKey, TargetInfo, server_id_for
from collector.storage.history import StatsValues
from collector.storage.history_read import series_range, server_history
from collector.storage.history_writer import HistoryWriter, WriterConfig
from collector.storage.maintenance import HistoryConfig, rollup_server_stats, run_maintenance
from collector.storage.migrate import migrate
from collector.storage.partitions import HISTORY_RAW, SERVER_STATS, ensure_partitions
from collector.storage.pgstats import postgres_stats

ADMIN_DSN = os.environ.get("OM_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
INTERVAL_MS = 15_000


class Profile:
    """One simulated host: ~``n`` series whose kinds follow the mix in the module docstring."""

    def __init__(self, seed: int, n: int) -> None:
        r = random.Random(seed)
        self.r = r
        self.kinds: list[str] = []
        self.state: list[float] = []
        self.rates: list[float] = []
        for _ in range(n):
            x = r.random()
            if x < 0.40:
                kind, v = "const", float(r.choice([0, 1, 4096, 1500, r.randrange(10**6, 10**12)]))
            elif x < 0.62:
                kind, v = "counter", float(r.randrange(0, 10**10))
            elif x < 0.70:
                kind, v = "idle_counter", float(r.randrange(0, 1000))
            elif x < 0.80:
                kind, v = "cpu_seconds", round(r.uniform(1000, 10**6), 2)
            elif x < 0.90:
                kind, v = "pages", float(r.randrange(10**6, 10**10) // 4096 * 4096)
            elif x < 0.97:
                kind, v = "percent", round(r.uniform(0, 100), 2)
            else:
                kind, v = "ratio", r.random()
            self.kinds.append(kind)
            self.state.append(v)
            self.rates.append(r.lognormvariate(8, 3))

    def step(self) -> list[float]:
        """The values of the next scrape."""
        r = self.r
        for i, kind in enumerate(self.kinds):
            v = self.state[i]
            if kind == "counter":
                v += float(int(self.rates[i] * 15 * r.uniform(0.5, 1.5)))
            elif kind == "idle_counter":
                v += 1.0 if r.random() < 0.02 else 0.0
            elif kind == "cpu_seconds":
                v = round(v + r.uniform(0, 15), 2)
            elif kind == "pages":
                v = max(0.0, v + 4096.0 * r.randint(-50, 50))
            elif kind == "percent":
                v = round(min(100.0, max(0.0, v + r.uniform(-1, 1))), 2)
            elif kind == "ratio":
                v = r.random()
            self.state[i] = v
        return list(self.state)


def make_target(i: int, n_series: int) -> tuple[TargetInfo, tuple[SeriesKey, ...]]:
    instance = f"host-{i:04d}.bench:9100"
    labels = (("instance", instance), ("job", "node"))
    info = TargetInfo(f"b{i}", server_id_for("node", instance), "node", instance, labels, "", 15, 10)
    series: list[SeriesKey] = []
    for j in range(n_series):
        series.append((f"bench_metric_{j % 50}", (("index", str(j)), *labels)))
    return info, tuple(series)


def scrape(info: TargetInfo, series: tuple[SeriesKey, ...], ts_ms: int, values: list[float]) -> ScrapeResult:
    return ScrapeResult(info, ts_ms, 0.05, None, None, series, f"{info.identity}-v1", values)


def postgres_cpu_s() -> float:
    """CPU seconds used so far by every process named postgres on this machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def hour_floor(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


async def bench_ingest(
    pool: asyncpg.Pool, n_targets: int, n_series: int, waves: int, start: datetime
) -> None:
    print(f"\n== ingest: {n_targets} targets x {n_series} series every 15 s, {waves} waves, time compressed")
    profiles = [Profile(seed, n_series) for seed in range(20)]
    targets = [make_target(i, n_series) for i in range(n_targets)]
    with tempfile.TemporaryDirectory() as spool_dir:
        writer = HistoryWriter(pool, WriterConfig(spool_dir=Path(spool_dir), flush_interval_s=0.2))
        await writer.start()
        times = []
        cpu_own = []
        cpu_pg = []
        start_ms = int(start.timestamp() * 1000)
        for k in range(waves):
            rows = [p.step() for p in profiles]
            ts = start_ms + k * INTERVAL_MS
            results = [scrape(info, series, ts, rows[i % 20]) for i, (info, series) in enumerate(targets)]
            summaries = {info.server_id: StatsValues(12.5, 40.0, 55.0, 1e6, 2e5) for info, _ in targets}
            want = writer.counters.samples_written_total + n_targets * n_series
            c0, p0, t0 = own_cpu_s(), postgres_cpu_s(), time.perf_counter()
            writer.write(results, summaries)
            await writer.flush()  # writes straight to PostgreSQL unless it fails (then the run aborts below)
            assert writer.counters.samples_written_total == want, "a wave was spooled: postgres fell behind"
            times.append(time.perf_counter() - t0)
            cpu_own.append(own_cpu_s() - c0)
            cpu_pg.append(postgres_cpu_s() - p0)
            label = " (registers every series)" if k == 0 else ""
            print(
                f"  wave {k:3d}: {times[-1]:6.3f} s  collector cpu {cpu_own[-1]:5.2f} s"
                f"  postgres cpu {cpu_pg[-1]:5.2f} s{label}"
            )
        await writer.close()
        assert writer.counters.batches_spooled_total == 0, "postgres fell behind: batches were spooled"
    steady = times[1:] or times
    samples = n_targets * n_series
    print(
        f"  steady waves: median {statistics.median(steady):.3f} s,"
        f" max {max(steady):.3f} s of the 15 s budget"
        f" -> {samples / statistics.median(steady):,.0f} samples/s written"
        f" (need {samples / 15:,.0f}/s), headroom x{15 / max(steady):.1f}"
    )
    print(
        f"  cpu per 15 s wave (steady, median): collector {statistics.median(cpu_own[1:] or cpu_own):.2f} s"
        f" ({100 * statistics.median(cpu_own[1:] or cpu_own) / 15:.1f} % of a core),"
        f" postgres {statistics.median(cpu_pg[1:] or cpu_pg):.2f} s"
        f" ({100 * statistics.median(cpu_pg[1:] or cpu_pg) / 15:.1f} % of a core)"
    )


async def bench_compaction(pool: asyncpg.Pool, n_targets: int, n_series: int, hour: datetime) -> None:
    print(f"\n== compaction: one hour (240 scrapes) of {n_targets} targets x {n_series} series")
    profiles = [Profile(1000 + i, n_series) for i in range(n_targets)]
    targets = [make_target(10_000 + i, n_series) for i in range(n_targets)]
    with tempfile.TemporaryDirectory() as spool_dir:
        writer = HistoryWriter(pool, WriterConfig(spool_dir=Path(spool_dir)))
        await writer.start()
        start_ms = int(hour.timestamp() * 1000)
        for k in range(240):
            ts = start_ms + k * INTERVAL_MS
            writer.write(
                [scrape(info, s, ts, p.step()) for (info, s), p in zip(targets, profiles, strict=True)], {}
            )
            await writer.flush()
        await writer.close()
    t0 = time.perf_counter()
    report = await run_maintenance(
        pool, HistoryConfig(max_hours_per_run=1000), now=hour + timedelta(hours=1, minutes=10)
    )
    elapsed = time.perf_counter() - t0
    per = elapsed / max(1, report.target_hours_compacted)
    print(
        f"  run_maintenance: {elapsed:.2f} s for {report.target_hours_compacted} target-hours"
        f" ({per * 1000:.0f} ms each, chunks + 5 m rollups)"
        f" -> {per * 1000 / 3600 * 100:.1f} % of one core for 1,000 targets"
    )
    async with pool.acquire() as conn:
        samples = await conn.fetchval("SELECT sum(n_points::bigint * n_series) FROM history_chunks")
        chunk_bytes = await conn.fetchval(
            """SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
               WHERE inhparent = 'history_chunks'::regclass"""
        )
        payload = await conn.fetchval("SELECT sum(octet_length(payload)) FROM history_chunks")
        r5 = await conn.fetchval(
            """SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
               WHERE inhparent = 'history_rollups_5m'::regclass"""
        )
    print(
        f"  chunks: {samples:,} samples in {chunk_bytes:,} bytes on disk (tables, TOAST, indexes)"
        f" = {chunk_bytes / samples:.2f} bytes/sample (payload alone {payload / samples:.2f})"
    )
    print(f"  5 m rollups of the same hour: {r5:,} bytes = {r5 / samples:.2f} bytes per raw sample")


async def bench_reads(pool: asyncpg.Pool, now: datetime) -> None:
    print("\n== reads: server_stats seeded with generate_series (15 s rows)")
    main_server = server_id_for("node", "reads-main:9100")
    async with pool.acquire() as conn:
        await ensure_partitions(conn, SERVER_STATS, now - timedelta(days=31), now + timedelta(days=1))
        await conn.execute(
            """INSERT INTO servers (id, name, hostname, job, address)
               SELECT CASE WHEN g = 0 THEN $1 ELSE gen_random_uuid() END,
                      'r' || g, 'r' || g, 'reads', 'r' || g
               FROM generate_series(0, 99) g""",
            main_server,
        )
        t0 = time.perf_counter()
        # 99 other servers over the last day, interleaved with the main server in the heap as in production.
        await conn.execute(
            """INSERT INTO server_stats (server_id, cpu_usage, memory_usage, disk_usage,
                                         network_rx, network_tx, "timestamp")
               SELECT s.id, 50 + 40 * sin(extract(epoch FROM t) / 3600), 60, 70, 1e6, 2e5, t
               FROM generate_series($1::timestamptz, $2::timestamptz - interval '15 seconds',
                                    interval '15 seconds') t
               CROSS JOIN (SELECT id FROM servers WHERE job = 'reads') s
               WHERE s.id = $3 OR t >= $2::timestamptz - interval '1 day'
               ORDER BY t""",
            now - timedelta(days=30),
            now,
            main_server,
        )
        rows = await conn.fetchval("SELECT count(*) FROM server_stats")
        await rollup_server_stats(conn, now - timedelta(days=30), now)
        await conn.execute("ANALYZE server_stats; ANALYZE server_stats_5m; ANALYZE server_stats_1h")
        await conn.execute("VACUUM server_stats")
        print(f"  seeded {rows:,} rows and their rollups in {time.perf_counter() - t0:.1f} s")

    async def timed(label: str, start: datetime, step_s: int, budget_ms: float) -> None:
        samples = []
        points = []
        for _ in range(30):
            t = time.perf_counter()
            points = await server_history(pool, main_server, "cpu", start, now, step_s)
            samples.append((time.perf_counter() - t) * 1000)
        samples.sort()
        verdict = "ok" if statistics.median(samples) <= budget_ms else "OVER BUDGET"
        print(
            f"  {label}: {len(points)} points, median {statistics.median(samples):.1f} ms,"
            f" p95 {samples[int(len(samples) * 0.95) - 1]:.1f} ms (budget {budget_ms:.0f} ms: {verdict})"
        )

    await timed("24 h of cpu at 1 min", now - timedelta(days=1), 60, 20)
    await timed("30 d of cpu at 1 h  ", now - timedelta(days=30), 3600, 50)


async def bench_series_reads(pool: asyncpg.Pool, n_series: int, end: datetime) -> None:
    print(f"\n== series_range: one target's {n_series} series over the 24 h before {end:%H:%M}, compacted")
    profile = Profile(77, n_series)
    info, series = make_target(50_000, n_series)
    start = end - timedelta(days=1)
    with tempfile.TemporaryDirectory() as spool_dir:
        writer = HistoryWriter(pool, WriterConfig(spool_dir=Path(spool_dir)))
        await writer.start()
        start_ms = int(start.timestamp() * 1000)
        for k in range(5760):
            writer.write([scrape(info, series, start_ms + k * INTERVAL_MS, profile.step())], {})
            if k % 240 == 239:
                await writer.flush()
        await writer.close()
    # These hours are older than the compaction watermark: the writer marked them dirty, maintenance
    # compacts them again.
    report = await run_maintenance(pool, HistoryConfig(max_hours_per_run=1000), now=end + timedelta(hours=2))
    print(
        f"  maintenance compacted {report.dirty_target_hours} late target-hours in {report.duration_s:.1f} s"
    )
    one = [Matcher(name="instance", op="=", value=info.instance), Matcher(name="index", op="=", value="7")]
    every = [Matcher(name="instance", op="=", value=info.instance)]
    for label, matchers, step in (
        ("1 series, 24 h at 1 min (chunks)   ", one, 60),
        ("1 series, 24 h at 5 min (rollups)  ", one, 300),
        (f"{n_series} series, 24 h at 1 h (rollups)", every, 3600),
    ):
        samples = []
        found = []
        for _ in range(5):
            t = time.perf_counter()
            found = await series_range(pool, matchers, start, end, step)
            samples.append((time.perf_counter() - t) * 1000)
        points = sum(len(s.points) for s in found)
        print(f"  {label}: {len(found)} series, {points} points, median {statistics.median(samples):.1f} ms")


async def print_stats(pool: asyncpg.Pool) -> None:
    stats = await postgres_stats(pool)
    print(
        f"\n== postgres_stats: PostgreSQL {stats['server_version']},"
        f" database {stats['database_bytes']:,} bytes"
    )
    print(f"  connections: {stats['connections']}")
    for table in sorted(stats["tables"], key=lambda t: -t["bytes"])[:12]:
        parts = len(table["partitions"])
        print(
            f"  {table['name']:<22} {table['bytes']:>14,} bytes"
            f"  ~{table['rows_estimate']:>10,} rows  {parts} partitions"
        )
    h = stats["history"]
    raw = h["raw_bytes_per_sample"]
    chunk = h["chunk_bytes_per_sample"]
    print(
        f"  bytes/sample: raw {raw:.2f} (estimate), compacted chunks {chunk:.2f}"
        if raw is not None and chunk is not None
        else f"  history: {h}"
    )


async def main(args: argparse.Namespace) -> None:
    name = f"om_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    try:
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=6)
        async with pool.acquire() as conn:
            await migrate(conn)
        now = hour_floor(datetime.now(UTC))
        await run_maintenance(pool, HistoryConfig(), now=now)
        async with pool.acquire() as conn:
            await ensure_partitions(conn, HISTORY_RAW, now - timedelta(hours=28), now)
        await bench_ingest(pool, args.targets, args.series, args.waves, now + timedelta(minutes=1))
        await bench_compaction(pool, args.compact_targets, args.series, now - timedelta(hours=3))
        await bench_reads(pool, now)
        await bench_series_reads(pool, args.series, now - timedelta(hours=3))
        await print_stats(pool)
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--waves", type=int, default=20, help="15 s scrape waves to write (20 = 5 minutes)")
    parser.add_argument("--compact-targets", type=int, default=25)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
