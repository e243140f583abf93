"""Assembles the exporter's dedicated CollectorRegistry from the configuration.

Nothing is registered in prometheus_client's global registry: the exporter serves exactly what is built
here. The host collectors run inside one ScrapeCollector (per-collector timing and failure isolation);
the exporter's own process and platform metrics and its build info sit beside it.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Collection, Iterator

import psutil
from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from exporter import __version__
from exporter.collectors.cache import TTLCache
from exporter.collectors.cpu import CpuCollector
from exporter.collectors.disk import DiskCollector
from exporter.collectors.filesystem import FilesystemCollector, FilesystemReader
from exporter.collectors.memory import MemoryCollector, make_memory_reader
from exporter.collectors.network import NetworkCollector
from exporter.collectors.processes import ProcessesCollector, TopProcessTracker, make_process_table_reader
from exporter.collectors.scrape import ScrapeCollector
from exporter.collectors.sensors import SensorsCollector, read_hwmon
from exporter.collectors.summary import SummaryCollector
from exporter.collectors.system import SystemCollector, make_kernel_stats_reader, make_uname_reader
from exporter.collectors.systemd import SystemdCollector
from exporter.config import CollectorOptions

# The filesystem and summary collectors both need the filesystem sizes: they share one reading, taken at
# most this long ago, instead of calling statvfs twice per mount and scrape. Shorter than any sane
# scrape interval, so each scrape still gets fresh sizes.
FILESYSTEM_SHARE_S = 1.0


class BuildInfoCollector(Collector):
    """``openmanager_exporter_build_info{version,python_version,psutil_version} 1``."""

    def collect(self) -> Iterator[Metric]:
        """Report the constant build facts."""
        info = GaugeMetricFamily(
            "openmanager_exporter_build_info",
            "Always 1; the labels name the exporter's version and its runtime.",
            labels=["version", "python_version", "psutil_version"],
        )
        info.add_metric([__version__, platform.python_version(), psutil.__version__], 1)
        yield info


class HostCollectors:
    """The enabled host collectors by name, plus the resources they hold (closed with `close`)."""

    def __init__(
        self,
        options: CollectorOptions,
        procfs: str = "/proc",
        sysfs: str = "/sys",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.filesystems = FilesystemReader(
            options.mount_points_exclude, options.fs_types_exclude, options.mount_timeout_s
        )
        shared_filesystems = TTLCache(self.filesystems.read, FILESYSTEM_SHARE_S, clock)
        memory = make_memory_reader(procfs)
        ttl = options.cache_ttl_s
        builders: dict[str, Callable[[], Collector]] = {
            "cpu": CpuCollector,
            "memory": lambda: MemoryCollector(memory),
            "filesystem": lambda: FilesystemCollector(shared_filesystems.get),
            "disk": lambda: DiskCollector(options.disk_device_exclude),
            "network": lambda: NetworkCollector(options.network_device_exclude),
            "system": lambda: SystemCollector(make_kernel_stats_reader(procfs), make_uname_reader(procfs)),
            "sensors": lambda: SensorsCollector(lambda: read_hwmon(sysfs), ttl, clock),
            "processes": lambda: ProcessesCollector(
                TopProcessTracker(options.processes_top_n, make_process_table_reader(procfs)), ttl, clock
            ),
            "systemd": lambda: SystemdCollector(options.systemd_units, cache_ttl_s=ttl, clock=clock),
            "summary": lambda: SummaryCollector(shared_filesystems.get, memory),
        }
        # Keep the documented order of COLLECTOR_NAMES; systemd only runs when units are listed.
        self.collectors = {
            name: build()
            for name, build in builders.items()
            if name in options.enabled and (name != "systemd" or options.systemd_units)
        }

    def close(self) -> None:
        """Release the filesystem reader's worker threads."""
        self.filesystems.close()


class ExporterMetrics(Collector):
    """Everything the exporter serves: the host collectors (selectable by name) and its own metrics."""

    def __init__(self, host: HostCollectors) -> None:
        self.host = ScrapeCollector(host.collectors)
        self._own: tuple[Collector, ...] = (
            BuildInfoCollector(),
            ProcessCollector(registry=None),
            PlatformCollector(registry=None),
        )

    @property
    def names(self) -> frozenset[str]:
        """The host collectors ``collect[]`` may select."""
        return self.host.names

    def collect(self) -> Iterator[Metric]:
        """Every host collector's families, then the exporter's own."""
        return self.collect_only(None)

    def collect_only(self, names: Collection[str] | None) -> Iterator[Metric]:
        """The host collectors in ``names`` (None: all), then the exporter's own metrics, as node_exporter
        keeps its process metrics in a filtered scrape."""
        yield from self.host.collect_only(names)
        for collector in self._own:
            yield from collector.collect()

    def select(self, names: Collection[str] | None) -> Collector:
        """A collector for one scrape of the selection."""
        return _Selected(self, None if names is None else frozenset(names))


class _Selected(Collector):
    def __init__(self, metrics: ExporterMetrics, names: frozenset[str] | None) -> None:
        self._metrics = metrics
        self._names = names

    def collect(self) -> Iterator[Metric]:
        return self._metrics.collect_only(self._names)


def build_registry(host: HostCollectors) -> CollectorRegistry:
    """A fresh registry with the host collectors, the exporter's own process metrics and its build info."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExporterMetrics(host))
    return registry
