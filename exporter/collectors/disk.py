"""Block device I/O: node_exporter's ``node_disk_*_total{device}`` counters, from psutil.

Partitions are excluded by default (the same pattern as node_exporter) so a disk is not counted twice.
Times that the kernel reports in milliseconds are converted to seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

import psutil
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

DiskReader = Callable[[], Mapping[str, Mapping[str, float]]]

# (metric name, psutil field, scale to the metric's unit, help)
_FIELDS = (
    ("node_disk_reads_completed_total", "read_count", 1.0, "Reads completed."),
    ("node_disk_reads_merged_total", "read_merged_count", 1.0, "Adjacent reads merged into one."),
    ("node_disk_read_bytes_total", "read_bytes", 1.0, "Bytes read."),
    ("node_disk_read_time_seconds_total", "read_time", 0.001, "Seconds spent on all reads."),
    ("node_disk_writes_completed_total", "write_count", 1.0, "Writes completed."),
    ("node_disk_writes_merged_total", "write_merged_count", 1.0, "Adjacent writes merged into one."),
    ("node_disk_written_bytes_total", "write_bytes", 1.0, "Bytes written."),
    ("node_disk_write_time_seconds_total", "write_time", 0.001, "Seconds spent on all writes."),
    ("node_disk_io_time_seconds_total", "busy_time", 0.001, "Seconds the device spent doing I/O."),
)


def read_disk_counters() -> dict[str, dict[str, float]]:
    """Counters per block device, raw as the kernel gives them (no wrap-around correction)."""
    counters = psutil.disk_io_counters(perdisk=True, nowrap=False) or {}
    return {device: values._asdict() for device, values in counters.items()}


class DiskCollector(Collector):
    """Reads, writes, bytes and time per block device."""

    def __init__(self, device_exclude: re.Pattern[str], reader: DiskReader = read_disk_counters) -> None:
        self._device_exclude = device_exclude
        self._reader = reader

    def collect(self) -> Iterator[Metric]:
        """Read the counters now."""
        families = [
            (CounterMetricFamily(name, text, labels=["device"]), field, scale)
            for name, field, scale, text in _FIELDS
        ]
        for device, values in sorted(self._reader().items()):
            if self._device_exclude.search(device):
                continue
            for family, field, scale in families:
                value = values.get(field)
                if value is not None:
                    family.add_metric([device], value * scale)
        for family, _field, _scale in families:
            if family.samples:
                yield family
