"""Benchmark: our scrape parser against prometheus_client's parsers on a node_exporter-like page.

Builds a page of about 500 series (CPU seconds per core and mode, filesystems with awkward mount points,
network and disk counters, memory gauges, a summary, histograms, an info metric whose label values need
escapes) in the text format and in OpenMetrics, in a few variants whose values differ as they do from
scrape to scrape. Then, in this one process, it times:

* prometheus_client's text and OpenMetrics parsers (``text_string_to_metric_families``, fully consumed);
* ours with a fresh ``SeriesCache`` per page (cold: every line is tokenized);
* ours with one cache across pages (warm: the steady state of a scrape loop).

and prints samples per second, microseconds per page and the ratio to prometheus_client's parser of the
same format.

    .venv/bin/python tests/bench/bench_parser.py [--rounds 7] [--pages 200]

Not collected by pytest (tests/bench is in norecursedirs).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as untyped_client_openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as client_text_families

from collector.scrape.parser import parse_format
from collector.scrape.seriescache import SeriesCache

# prometheus_client's OpenMetrics parser has no annotations; this is its documented shape.
client_openmetrics_families = cast(Callable[[str], Iterable[Metric]], untyped_client_openmetrics_families)

VARIANTS = 5
CPUS = 8
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
FILESYSTEMS = (
    ("/dev/sda1", "ext4", "/"),
    ("/dev/sda2", "ext4", "/home"),
    ("tmpfs", "tmpfs", "/run"),
    ("/dev/sdb1", "xfs", "/mnt/My Backups"),
    ("//nas/share", "cifs", 'C:\\data\\"quoted"'),
    ("overlay", "overlay", "/var/lib/docker/overlay2/1f2e3d/merged"),
)
NET_DEVICES = ("lo", "eth0", "eth1", "wlan0")
NET_FIELDS = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
DISKS = ("sda", "sdb", "nvme0n1")
DISK_COUNTERS = (
    "reads_completed_total",
    "reads_merged_total",
    "read_bytes_total",
    "read_time_seconds_total",
    "writes_completed_total",
    "writes_merged_total",
    "written_bytes_total",
    "write_time_seconds_total",
    "io_time_seconds_total",
    "io_time_weighted_seconds_total",
    "discards_completed_total",
    "flush_requests_total",
)
MEMORY_FIELDS = [
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "SwapCached",
    "Active",
    "Inactive",
    "Active_anon",
    "Inactive_anon",
    "Active_file",
    "Inactive_file",
    "Unevictable",
    "Mlocked",
    "SwapTotal",
    "SwapFree",
    "Dirty",
    "Writeback",
    "AnonPages",
    "Mapped",
    "Shmem",
    "KReclaimable",
    "Slab",
    "SReclaimable",
    "SUnreclaim",
    "KernelStack",
    "PageTables",
    "NFS_Unstable",
    "Bounce",
    "WritebackTmp",
    "CommitLimit",
    "Committed_AS",
    "VmallocTotal",
    "VmallocUsed",
    "VmallocChunk",
    "Percpu",
    "HardwareCorrupted",
    "AnonHugePages",
    "ShmemHugePages",
    "HugePages_Total",
]
COLLECTORS = [
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
    "xfs",
    "zfs",
]
HANDLERS = ("/metrics", "/api/v1/query", "/api/v1/query_range")
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf")


@dataclass
class Family:
    """One metric family: name, type, help and its samples as (suffix, labels, value)."""

    name: str
    type: str
    help: str
    samples: list[tuple[str, str, float]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_text(pairs: dict[str, str]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())


def families(rng: random.Random) -> list[Family]:
    """The families of a node_exporter-like page, with values drawn from ``rng``."""
    out: list[Family] = []

    def counter(name: str, help_text: str, rows: list[dict[str, str]]) -> None:
        out.append(
            Family(
                name, "counter", help_text, [("_total", _label_text(r), rng.uniform(0, 1e7)) for r in rows]
            )
        )

    def gauge(name: str, help_text: str, rows: list[dict[str, str]]) -> None:
        out.append(
            Family(name, "gauge", help_text, [("", _label_text(r), rng.uniform(0, 1e10)) for r in rows])
        )

    quantiles = [
        ("", _label_text({"quantile": q}), rng.uniform(0, 1e-3)) for q in ("0", "0.25", "0.5", "0.75", "1")
    ]
    out.append(
        Family(
            "go_gc_duration_seconds",
            "summary",
            "A summary of the pause duration of garbage collection cycles.",
            [*quantiles, ("_sum", "", rng.uniform(0, 10)), ("_count", "", float(rng.randrange(10**6)))],
        )
    )
    gauge("go_goroutines", "Number of goroutines that currently exist.", [{}])
    gauge("go_info", "Information about the Go environment.", [{"version": "go1.22.1"}])
    for stat in (
        "alloc_bytes",
        "heap_alloc_bytes",
        "heap_idle_bytes",
        "heap_inuse_bytes",
        "stack_inuse_bytes",
    ):
        gauge(f"go_memstats_{stat}", f"Number of {stat} in use.", [{}])
    counter(
        "node_cpu_seconds",
        "Seconds the CPUs spent in each mode.",
        [{"cpu": str(c), "mode": m} for c in range(CPUS) for m in CPU_MODES],
    )
    counter(
        "node_cpu_guest_seconds",
        "Seconds the CPUs spent in guests (VMs) for each mode.",
        [{"cpu": str(c), "mode": m} for c in range(CPUS) for m in ("nice", "user")],
    )
    fs_rows = [{"device": d, "fstype": t, "mountpoint": m} for d, t, m in FILESYSTEMS]
    for stat in (
        "avail_bytes",
        "free_bytes",
        "size_bytes",
        "files",
        "files_free",
        "readonly",
        "device_error",
    ):
        gauge(f"node_filesystem_{stat}", f"Filesystem {stat.replace('_', ' ')}.", fs_rows)
    for direction in ("receive", "transmit"):
        for field in NET_FIELDS:
            counter(
                f"node_network_{direction}_{field}",
                f"Network device statistic {direction}_{field}.",
                [{"device": d} for d in NET_DEVICES],
            )
    for stat in DISK_COUNTERS:
        counter(
            f"node_disk_{stat.removesuffix('_total')}",
            f"The total number of {stat}.",
            [{"device": d} for d in DISKS],
        )
    for field in MEMORY_FIELDS:
        gauge(f"node_memory_{field}_bytes", f"Memory information field {field}_bytes.", [{}])
    for stat in ("pgpgin", "pgpgout", "pswpin", "pswpout", "pgfault", "pgmajfault", "oom_kill"):
        gauge(f"node_vmstat_{stat}", f"/proc/vmstat information field {stat}.", [{}])
    for proto in (
        "Tcp_ActiveOpens",
        "Tcp_PassiveOpens",
        "Tcp_RetransSegs",
        "Udp_InDatagrams",
        "Udp_OutDatagrams",
    ):
        gauge(f"node_netstat_{proto}", f"Statistic {proto}.", [{}])
    for minutes in ("1", "5", "15"):
        gauge(f"node_load{minutes}", f"{minutes}m load average.", [{}])
    chips = ("platform_coretemp_0", "pci0000:00_0000:00:1f_3")
    gauge(
        "node_hwmon_temp_celsius",
        "Hardware monitor for temperature (input).",
        [{"chip": chip, "sensor": f"temp{n}"} for chip in chips for n in range(1, 5)],
    )
    units = ("ssh.service", "cron.service", "nginx.service", "openmanager-exporter.service")
    gauge(
        "node_systemd_unit_state",
        "Systemd unit",
        [
            {"name": unit, "state": state, "type": "service"}
            for unit in units
            for state in ("activating", "active", "deactivating", "failed", "inactive")
        ],
    )
    gauge(
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
        [{"device": d} for d in NET_DEVICES],
    )
    gauge(
        "node_network_mtu_bytes", "Network device property: mtu_bytes", [{"device": d} for d in NET_DEVICES]
    )
    gauge(
        "node_scrape_collector_duration_seconds",
        "node_exporter: Duration of a collector scrape.",
        [{"collector": c} for c in COLLECTORS],
    )
    gauge(
        "node_scrape_collector_success",
        "node_exporter: Whether a collector succeeded.",
        [{"collector": c} for c in COLLECTORS],
    )
    gauge(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        [
            {
                "domainname": "(none)",
                "machine": "x86_64",
                "nodename": "web-01",
                "release": "6.1.0-18-amd64",
                "sysname": "Linux",
                "version": '#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) "stable"\nbuild',
            }
        ],
    )
    for name in ("http_request_duration_seconds", "http_response_size_bytes"):
        samples: list[tuple[str, str, float]] = []
        for handler in HANDLERS:
            count = 0.0
            for le in BUCKETS:
                count += rng.randrange(100)
                samples.append(("_bucket", _label_text({"handler": handler, "le": le}), count))
            samples.append(("_sum", _label_text({"handler": handler}), rng.uniform(0, 1e4)))
            samples.append(("_count", _label_text({"handler": handler}), count))
        out.append(Family(name, "histogram", f"A histogram of {name}.", samples))
    return out


def _go_float(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render_text(fams: list[Family]) -> bytes:
    """The page in the text format 0.0.4."""
    lines: list[str] = []
    for fam in fams:
        name = fam.name + ("_total" if fam.type == "counter" else "")
        lines.append(f"# HELP {name} {fam.help}")
        lines.append(f"# TYPE {name} {fam.type}")
        for suffix, labels, value in fam.samples:
            series = fam.name + suffix + (f"{{{labels}}}" if labels else "")
            lines.append(f"{series} {_go_float(value)}")
    return ("\n".join(lines) + "\n").encode()


def render_openmetrics(fams: list[Family]) -> bytes:
    """The page in OpenMetrics 1.0."""
    lines: list[str] = []
    for fam in fams:
        lines.append(f"# TYPE {fam.name} {fam.type}")
        lines.append(f"# HELP {fam.name} {fam.help}")
        for suffix, labels, value in fam.samples:
            series = fam.name + suffix + (f"{{{labels}}}" if labels else "")
            lines.append(f"{series} {_go_float(value)}")
    return ("\n".join(lines) + "\n# EOF\n").encode()


def time_pages(run: Callable[[bytes], int], pages: list[bytes], count: int, rounds: int) -> tuple[float, int]:
    """Median over rounds of the seconds per page, and the samples of one page."""
    samples = run(pages[0])
    per_round: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        for index in range(count):
            run(pages[index % len(pages)])
        per_round.append((time.perf_counter() - start) / count)
    return statistics.median(per_round), samples


def main() -> None:
    """Build the pages, time every parser, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pages", type=int, default=200, help="pages parsed per round (ours)")
    args = parser.parse_args()
    rng = random.Random(42)
    variants = [families(rng) for _ in range(VARIANTS)]
    text_pages = [render_text(v) for v in variants]
    om_pages = [render_openmetrics(v) for v in variants]

    def client_text(page: bytes) -> int:
        return sum(len(f.samples) for f in client_text_families(page.decode()))

    def client_om(page: bytes) -> int:
        return sum(len(f.samples) for f in client_openmetrics_families(page.decode()))

    def ours_cold(fmt: str) -> Callable[[bytes], int]:
        def run(page: bytes) -> int:
            return len(parse_format(page, "openmetrics" if fmt == "openmetrics" else "text").samples)

        return run

    def ours_warm(fmt: str) -> Callable[[bytes], int]:
        cache = SeriesCache()

        def run(page: bytes) -> int:
            return len(parse_format(page, "openmetrics" if fmt == "openmetrics" else "text", cache).samples)

        return run

    client_count = max(args.pages // 10, 5)
    rows: list[tuple[str, float, int, float]] = []
    for fmt, pages, client in (("text", text_pages, client_text), ("openmetrics", om_pages, client_om)):
        baseline, samples = time_pages(client, pages, client_count, args.rounds)
        rows.append((f"prometheus_client {fmt}", baseline, samples, baseline))
        for label, run in (("cold cache", ours_cold(fmt)), ("warm cache", ours_warm(fmt))):
            seconds, ours = time_pages(run, pages, args.pages, args.rounds)
            assert ours == samples, f"{label}: {ours} samples, prometheus_client {samples}"
            rows.append((f"openmanager {fmt}, {label}", seconds, ours, baseline))
    print(
        f"page: {len(text_pages[0])} bytes text, {len(om_pages[0])} bytes OpenMetrics, {rows[0][2]} samples"
    )
    print(f"{'parser':<34} {'samples/s':>12} {'µs/page':>9} {'× client':>9}")
    for label, seconds, samples, baseline in rows:
        print(f"{label:<34} {samples / seconds:>12,.0f} {seconds * 1e6:>9.0f} {baseline / seconds:>8.1f}×")


if __name__ == "__main__":
    main()
