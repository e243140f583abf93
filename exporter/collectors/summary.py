"""Ready-made percentages under the ``openmanager_`` prefix, for the dashboard and simple alert rules.

``openmanager_cpu_usage_percent``
    Busy share of all CPUs between this scrape and the previous one, from the delta of the cumulative
    CPU times (no sleeping, unlike ``psutil.cpu_percent(interval=...)``). Busy is everything but idle and
    iowait. The first scrape measures since boot. Two scrapes within one clock tick repeat the last value.
``openmanager_memory_usage_percent``
    ``(MemTotal - MemAvailable) / MemTotal``, the share of memory that cannot be had without swapping.
``openmanager_disk_usage_percent{mountpoint}``
    ``used / (used + available to users)`` per filesystem, as ``df`` computes it (root's reserve is left
    out of both), for the same filesystems as ``node_filesystem_*``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import psutil
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.collectors.cpu import MODES
from exporter.collectors.filesystem import FilesystemStats
from exporter.collectors.memory import MemoryReader, make_memory_reader

_IDLE_MODES = ("idle", "iowait")


def read_total_cpu_times() -> dict[str, float]:
    """Seconds per mode summed over all CPUs, from psutil."""
    return psutil.cpu_times()._asdict()


def memory_usage_percent(fields: Mapping[str, float]) -> float | None:
    """Used share of memory from node_exporter-named meminfo fields; None without a total."""
    total = fields.get("MemTotal_bytes", 0.0)
    if total <= 0:
        return None
    available = fields.get("MemAvailable_bytes")
    if available is None:
        # Kernels before 3.14 have no MemAvailable: approximate it the way free(1) used to.
        available = sum(fields.get(name, 0.0) for name in ("MemFree_bytes", "Buffers_bytes", "Cached_bytes"))
    return max(0.0, min(100.0, (total - available) / total * 100.0))


def disk_usage_percent(stats: FilesystemStats) -> float | None:
    """df's Use%: used / (used + available); None for a filesystem with no capacity or an error."""
    used = stats.size_bytes - stats.free_bytes
    capacity = used + stats.avail_bytes
    if stats.error or capacity <= 0:
        return None
    return used / capacity * 100.0


class CpuUsage:
    """Turns cumulative CPU times into the busy percentage since the previous call."""

    def __init__(self, read: Callable[[], Mapping[str, float]] = read_total_cpu_times) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._previous: tuple[float, float] | None = None
        self._last_percent = 0.0

    def percent(self) -> float:
        """Busy percent of all CPUs since the previous call (since boot on the first call)."""
        times = self._read()
        total = sum(times.get(mode, 0.0) for mode in MODES)
        busy = total - sum(times.get(mode, 0.0) for mode in _IDLE_MODES)
        with self._lock:
            previous_busy, previous_total = self._previous or (0.0, 0.0)
            delta_total = total - previous_total
            if delta_total > 0:
                delta_busy = busy - previous_busy
                self._last_percent = max(0.0, min(100.0, delta_busy / delta_total * 100.0))
            self._previous = (busy, total)
            return self._last_percent


class SummaryCollector(Collector):
    """CPU, memory and per-filesystem usage percentages."""

    def __init__(
        self,
        filesystems: Callable[[], Sequence[FilesystemStats]],
        memory: MemoryReader | None = None,
        cpu: CpuUsage | None = None,
    ) -> None:
        self._filesystems = filesystems
        self._memory = memory or make_memory_reader()
        self._cpu = cpu or CpuUsage()

    def collect(self) -> Iterator[Metric]:
        """Compute the percentages now."""
        yield GaugeMetricFamily(
            "openmanager_cpu_usage_percent",
            "Busy share of all CPUs since the previous scrape, in percent.",
            round(self._cpu.percent(), 3),
        )
        memory = memory_usage_percent(self._memory())
        if memory is not None:
            yield GaugeMetricFamily(
                "openmanager_memory_usage_percent",
                "Share of memory not available without swapping, in percent.",
                round(memory, 3),
            )
        disk = GaugeMetricFamily(
            "openmanager_disk_usage_percent",
            "Used share of the filesystem's space available to users, in percent (as df shows).",
            labels=["mountpoint"],
        )
        for stats in self._filesystems():
            percent = disk_usage_percent(stats)
            if percent is not None:
                disk.add_metric([stats.mount.mountpoint], round(percent, 3))
        if disk.samples:
            yield disk
