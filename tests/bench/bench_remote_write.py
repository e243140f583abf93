"""Benchmark of the remote-write receiver: samples/s into ``openmanager run`` with both stores writing.

Run: ``.venv/bin/python tests/bench/bench_remote_write.py [--targets 100] [--series 1000] [--waves 30]
[--per-request 2000] [--connections 4]``

It starts ``openmanager run`` on loopback (a PostgreSQL database of its own on 127.0.0.1:5432, dropped at the
end, and Redis db 13, flushed), gives it an API token with the write scope, and pre-encodes the pushes of a
fleet: ``--targets`` hosts × ``--series`` node_exporter-like series, ``--waves`` scrapes 15 s apart (time
compressed: a wave follows the previous as soon as it is sent), cut into snappy-compressed
``prometheus.WriteRequest`` bodies of ``--per-request`` samples as a Prometheus shard sends them. A client in
this script then sends them over ``--connections`` keep-alive connections as fast as the service answers,
and prints:

* samples/s accepted (wall clock), and the service's CPU seconds per million samples, so samples/s on one
  core (the service is one process on one event loop);
* the history writer's samples written and the live writer's dropped batches at the end, after the
  pipeline drained (both stores write everything the receiver accepted), and PostgreSQL's and Redis's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import redis

from api.auth.apitokens import create_api_token
from collector.ingest.wire import encode_v1, snappy_encode

ADMIN_DSN = os.environ.get("OM_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/13"
INTERVAL_MS = 15_000
NAMES = (
    "node_cpu_seconds_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_filesystem_avail_bytes",
    "node_memory_Active_bytes",
    "node_hwmon_temp_celsius",
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _labels(target: int, series: int) -> list[tuple[str, str]]:
    return sorted(
        {
            "__name__": NAMES[series % len(NAMES)],
            "job": "bench",
            "instance": f"host-{target:04d}:9100",
            "device": f"dev{series // len(NAMES)}",
        }.items()
    )


def _label_bytes(labels: list[tuple[str, str]]) -> bytes:
    """The encoded label fields of a series (what ``encode_v1`` writes before the samples)."""
    out = b""
    for name, value in labels:
        pair = b"\x0a" + _varint(len(name)) + name.encode() + b"\x12" + _varint(len(value)) + value.encode()
        out += b"\x0a" + _varint(len(pair)) + pair
    return out


def _series(prefix: bytes, ts_ms: int, value: float) -> bytes:
    sample = (b"\x09" + struct.pack("<d", value) if value != 0 else b"") + b"\x10" + _varint(ts_ms)
    entry = prefix + b"\x12" + _varint(len(sample)) + sample
    return b"\x0a" + _varint(len(entry)) + entry


def bodies(targets: int, series: int, waves: int, per_request: int, start_ms: int) -> list[bytes]:
    """The snappy-compressed requests of every wave, in sending order."""
    rng = random.Random(14)
    prefixes = [[_label_bytes(_labels(t, s)) for s in range(series)] for t in range(targets)]
    values = [[rng.random() * 1e6 for _ in range(series)] for _ in range(targets)]
    out: list[bytes] = []
    for wave in range(waves):
        ts_ms = start_ms + wave * INTERVAL_MS
        pending: list[bytes] = []
        for t in range(targets):
            row = values[t]
            for s in range(series):
                row[s] += rng.random() * 100
                pending.append(_series(prefixes[t][s], ts_ms, row[s]))
                if len(pending) == per_request:
                    out.append(snappy_encode(b"".join(pending)))
                    pending = []
        if pending:
            out.append(snappy_encode(b"".join(pending)))
    return out


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _store_cpu_s() -> dict[str, float]:
    totals = {"postgres": 0.0, "redis-server": 0.0}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
                if name in totals:
                    totals[name] += _cpu_s(int(entry.name))
            except (OSError, IndexError):
                continue
    return totals


def _metric(port: int, series: str) -> float:
    """The value of one series (``name`` or ``name{label="value"}``) on the service's ``/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(series + " "))


async def _send(port: int, token: str, payloads: list[bytes], connections: int) -> tuple[int, float]:
    """Send every body; the count refused and the wall seconds."""
    url = f"http://127.0.0.1:{port}/api/v1/write"
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    refused = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal refused
        while not queue.empty():
            payload = queue.get_nowait()
            while True:
                async with session.post(url, data=payload, headers=headers) as response:
                    if response.status == 503:  # storage behind: retry, as Prometheus does
                        await asyncio.sleep(0.05)
                        continue
                    if response.status != 204:
                        refused += 1
                        print("refused:", response.status, (await response.text())[:200])
                    break

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return refused, time.perf_counter() - started


async def _token(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval(
            "INSERT INTO users (username, password_hash, role) VALUES ('bench', 'x', 'operator') RETURNING id"
        )
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        _, token = await create_api_token(
            pool, user_id, "bench", "operator", datetime.now(UTC) + timedelta(days=1), ["write"]
        )
    finally:
        await pool.close()
    return token


def main() -> None:
    """Start the service, push the fleet, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--waves", type=int, default=30)
    parser.add_argument("--per-request", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    start_ms = int(time.time() * 1000) - 2 * 3_600_000
    print(f"encoding {args.targets} targets x {args.series} series x {args.waves} waves ...", flush=True)
    payloads = bodies(args.targets, args.series, args.waves, args.per_request, start_ms)
    sample = _series(_label_bytes(_labels(0, 0)), start_ms, 1.5)
    assert sample == encode_v1([(_labels(0, 0), [(start_ms, 1.5)])]), "the bench's encoding drifted"
    total = args.targets * args.series * args.waves
    database = f"om_bench_rw_{os.getpid()}"
    admin_dsn = ADMIN_DSN
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{database}"
    asyncio.run(_admin(admin_dsn, f"CREATE DATABASE {database}"))
    redis.Redis.from_url(REDIS_URL).flushdb()
    work = Path(tempfile.mkdtemp(prefix="om-bench-rw-"))
    (work / "targets.yaml").write_text("scrape_configs: []\n")
    (work / "openmanager.yml").write_text("remote_write:\n  settle_s: 0.5\n  wait_s: 5\n")
    port = free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "openmanager", "run"],
        env={
            **os.environ,
            "OM_CONFIG": str(work / "openmanager.yml"),
            "OM_LISTEN": f"127.0.0.1:{port}",
            "OM_POSTGRES_DSN": dsn,
            "OM_REDIS_URL": REDIS_URL,
            "OM_DATA_DIR": str(work / "data"),
            "OM_TARGETS": str(work / "targets.yaml"),
            "OM_LOG_LEVEL": "warning",
            "OM_LOG_FORMAT": "json",
        },
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        token = asyncio.run(_token(dsn))
        cpu0, stores0 = _cpu_s(service.pid), _store_cpu_s()
        refused, wall_s = asyncio.run(_send(port, token, payloads, args.connections))
        cpu1 = _cpu_s(service.pid)
        sent_mb = sum(map(len, payloads)) / 1e6
        print(
            f"pushed {total:,} samples in {len(payloads):,} requests ({sent_mb:.1f} MB snappy); "
            f"refused: {refused}"
        )
        print(f"accepted: {total / wall_s:,.0f} samples/s over {wall_s:.2f} s (wall clock)")
        cpu = cpu1 - cpu0
        print(
            f"service CPU while pushing: {cpu:.2f} s = {cpu / total * 1e6:.2f} us/sample "
            f"-> {total / cpu:,.0f} samples/s on one core"
        )
        deadline = time.monotonic() + 300
        written = 0.0
        while time.monotonic() < deadline:
            written = _metric(port, "openmanager_history_samples_written_total")
            if written >= total:
                break
            time.sleep(1)
        cpu2, stores1 = _cpu_s(service.pid), _store_cpu_s()
        outcome = 'openmanager_remote_write_samples_total{outcome="%s"}'
        print(
            f"receiver: {_metric(port, outcome % 'written'):,.0f} samples taken, "
            f"{_metric(port, outcome % 'late'):,.0f} late; history: {written:,.0f} of {total:,} samples "
            f"written; live batches dropped: {_metric(port, 'openmanager_live_batches_dropped_total'):.0f}"
        )
        print(
            f"until drained: service CPU {cpu2 - cpu0:.2f} s ({total / (cpu2 - cpu0):,.0f} samples per CPU "
            f"second), PostgreSQL CPU {stores1['postgres'] - stores0['postgres']:.2f} s, "
            f"Redis CPU {stores1['redis-server'] - stores0['redis-server']:.2f} s"
        )
    finally:
        service.terminate()
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
        asyncio.run(_admin(admin_dsn, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        shutil.rmtree(work, ignore_errors=True)


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
