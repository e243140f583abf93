"""The fixture fleet the questions are asked about: eight hosts with ten minutes of known history.

History is written through the collector's history path, the latest scrapes through the live writer, and a
few alerts into the alert table, so every answer is read the way production reads it. Expected numbers in
the tests are computed from :data:`HOSTS`, never typed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
from aiohttp import web
from redis import asyncio as aioredis

from api.keys import STORES
from collector.result import ScrapeResult, SeriesKey, TargetInfo
from collector.storage.live import LiveWriter
from tests.api.prometheus.conftest import write_history
from tests.collector.storage.test_live import summarized
from tests.collector.test_summary import failed_result, make_result, make_target, series_key

NOW_S = 1_772_446_200.0
"""2026-03-02T10:10:00Z: the clock of every question."""
STEP_S = 15.0
SCRAPES = 41
"""Ten minutes of scrapes, ending at :data:`NOW_S`."""
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Host:
    """One host's numbers; ``cpu_before`` holds until scrape ``cpu_switch`` (a CPU jump for diagnosis)."""

    name: str
    cpu: float
    memory: float
    disk: float
    load: float
    rx_per_s: float
    tx_per_s: float
    cpu_before: float | None = None
    cpu_switch: int = 30
    iowait: float = 0.02
    net_errors_per_s: float = 0.0
    disk_free_drop_per_s: float = 0.0
    node_exporter_only: bool = False
    down_after: int | None = None
    """Scrapes stop after this many (the host went down)."""
    labels: dict[str, str] = field(default_factory=dict)
    processes: tuple[tuple[int, str, float, float], ...] = ()
    """(pid, name, CPU percent, resident bytes)."""

    def cpu_at(self, k: int) -> float:
        """CPU percent at scrape ``k``."""
        return self.cpu_before if self.cpu_before is not None and k < self.cpu_switch else self.cpu

    def free_at(self, k: int) -> float:
        """Free bytes of / at scrape ``k`` (100 GiB filesystem)."""
        return 100 * GIB * (1 - self.disk / 100) + self.disk_free_drop_per_s * STEP_S * (SCRAPES - 1 - k)

    @property
    def target(self) -> TargetInfo:
        """The host's scrape target (job ``node``)."""
        return make_target(f"{self.name}:9100", "node", **self.labels)


HOSTS = (
    Host(
        "web-1",
        95.0,
        72.0,
        55.0,
        6.2,
        2 * MIB,
        0.5 * MIB,
        cpu_before=20.0,
        iowait=0.25,
        net_errors_per_s=0.2,
        processes=(
            (101, "nginx", 45.5, 0.3 * GIB),
            (202, "java", 30.25, 2.5 * GIB),
            (303, "sshd", 0.5, 0.01 * GIB),
        ),
    ),
    Host("web-2", 41.0, 63.0, 48.0, 1.1, 5 * MIB, 1 * MIB),
    Host("web-3", 30.0, 40.0, 50.0, 0.5, 1 * MIB, 1 * MIB, down_after=10),
    Host("db-1", 78.0, 91.0, 80.0, 2.4, 1 * MIB, 1 * MIB, disk_free_drop_per_s=10 * MIB / STEP_S),
    Host("db-2", 12.0, 35.0, 40.0, 0.3, 0.2 * MIB, 0.1 * MIB, node_exporter_only=True),
    Host("cache-1", 55.0, 85.0, 20.0, 0.9, 3 * MIB, 2.5 * MIB, labels={"alias": "캐시서버"}),
    Host("api-1", 67.0, 50.0, 70.0, 1.8, 0.5 * MIB, 0.5 * MIB),
    Host("batch-1", 88.0, 45.0, 62.0, 4.0, 0.1 * MIB, 0.1 * MIB),
)
BY_NAME = {host.name: host for host in HOSTS}


def time_at(k: int, now_s: float = NOW_S) -> float:
    """Unix seconds of scrape ``k`` (the last one at ``now_s``)."""
    return now_s - STEP_S * (SCRAPES - 1 - k)


def status_of(host: Host) -> str:
    """The host's live status after its last scrape, under the default thresholds."""
    if host.down_after is not None:
        return "down"
    return "warning" if host.cpu >= 90 or host.memory >= 90 or host.disk >= 85 else "up"


def samples(host: Host, k: int) -> list[tuple[SeriesKey, float]]:
    """What the host's exporter shows at scrape ``k``."""
    t = host.target
    elapsed = k * STEP_S
    cpu = host.cpu_at(k) / 100
    out: list[tuple[SeriesKey, float]] = [
        (series_key("up", t), 1.0),
        (series_key("node_load1", t), host.load),
        (series_key("node_memory_MemTotal_bytes", t), 16 * GIB),
        (series_key("node_memory_MemAvailable_bytes", t), 16 * GIB * (1 - host.memory / 100)),
        (series_key("node_memory_SwapTotal_bytes", t), 4 * GIB),
        (series_key("node_memory_SwapFree_bytes", t), 3 * GIB),
        (series_key("node_filesystem_size_bytes", t, mountpoint="/"), 100 * GIB),
        (series_key("node_filesystem_avail_bytes", t, mountpoint="/"), host.free_at(k)),
        (series_key("node_network_receive_bytes_total", t, device="eth0"), 1e9 + host.rx_per_s * elapsed),
        (series_key("node_network_transmit_bytes_total", t, device="eth0"), 1e9 + host.tx_per_s * elapsed),
        (series_key("node_network_receive_errs_total", t, device="eth0"), host.net_errors_per_s * elapsed),
        (series_key("node_network_transmit_errs_total", t, device="eth0"), 0.0),
        # One CPU: idle and iowait shares of each interval, as counters.
        (
            series_key("node_cpu_seconds_total", t, cpu="0", mode="idle"),
            1e5 + (1 - cpu - host.iowait) * elapsed,
        ),
        (series_key("node_cpu_seconds_total", t, cpu="0", mode="iowait"), 1e3 + host.iowait * elapsed),
        (series_key("node_cpu_seconds_total", t, cpu="0", mode="user"), 1e4 + cpu * elapsed),
    ]
    if not host.node_exporter_only:
        out += [
            (series_key("openmanager_cpu_usage_percent", t), host.cpu_at(k)),
            (series_key("openmanager_memory_usage_percent", t), host.memory),
            (series_key("openmanager_disk_usage_percent", t, mountpoint="/"), host.disk),
        ]
    for pid, name, cpu_percent, resident in host.processes:
        labels = {"pid": str(pid), "exported_name": name}
        out.append((series_key("openmanager_process_cpu_percent", t, **labels), cpu_percent))
        out.append((series_key("openmanager_process_resident_memory_bytes", t, **labels), resident))
    return out


def scrapes(host: Host, now_s: float = NOW_S) -> list[ScrapeResult]:
    """The host's successful scrapes (the last one at ``now_s``)."""
    last = SCRAPES if host.down_after is None else host.down_after
    return [make_result(samples(host, k), time_at(k, now_s), host.target) for k in range(last)]


ALERTS = (
    ("web-1", "HighCpu", "CPU above 90% on web-1", "critical", "firing", NOW_S - 300, 95.0),
    ("db-1", "HighMemory", "memory above 90% on db-1", "warning", "firing", NOW_S - 3000, 91.0),
    ("db-2", "DiskFull", "disk almost full on db-2", "warning", "resolved", NOW_S - 72000, 96.0),
)
"""(host, rule, title, severity, state, since, value); the resolved one is from yesterday (UTC)."""


async def seed(app: web.Application) -> None:
    """Write the fleet's history, live state and alerts into the application's stores (at :data:`NOW_S`)."""
    stores = app[STORES]
    await stores.redis.flushdb()
    await seed_stores(stores.pg, stores.redis, NOW_S)


async def seed_stores(pg: asyncpg.Pool, redis: aioredis.Redis, now_s: float) -> None:
    """Write the fleet into these stores, its last scrape at ``now_s`` (a running service's clock is real)."""
    await write_history(pg, [result for host in HOSTS for result in scrapes(host, now_s)])
    write = summarized(LiveWriter(redis))
    for k in (SCRAPES - 2, SCRAPES - 1):
        batch = []
        for host in HOSTS:
            if host.down_after is None:
                batch.append(make_result(samples(host, k), time_at(k, now_s), host.target))
            else:
                batch.append(failed_result(time_at(k, now_s), host.target, "connection refused"))
        await write(batch)
    for name, rule, title, severity, state, since, value in ALERTS:
        await pg.execute(
            """INSERT INTO alerts (server_id, type, title, message, severity, state, timestamp, started_at,
                                   value, resolved_at)
               VALUES ($1, $2, $3::text, $3::text, $4, $5, to_timestamp($6), to_timestamp($6), $7,
                       CASE WHEN $5 = 'resolved' THEN to_timestamp($6) END)""",
            BY_NAME[name].target.server_id,
            rule,
            title,
            severity,
            state,
            since - NOW_S + now_s,
            value,
        )
