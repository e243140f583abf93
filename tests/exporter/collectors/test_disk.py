"""Disk collector: node_disk_* counters per device, partitions excluded, times in seconds."""

from __future__ import annotations

import re

from exporter.collectors.disk import DiskCollector
from exporter.config import DEFAULT_DISK_DEVICE_EXCLUDE

COUNTERS = {
    "read_count": 100.0,
    "write_count": 50.0,
    "read_bytes": 4096.0,
    "write_bytes": 8192.0,
    "read_time": 1500.0,
    "write_time": 250.0,
    "read_merged_count": 3.0,
    "write_merged_count": 4.0,
    "busy_time": 2000.0,
}


def reader() -> dict[str, dict[str, float]]:
    return {"sda": COUNTERS, "sda1": COUNTERS, "nvme0n1": COUNTERS, "nvme0n1p2": COUNTERS, "loop0": COUNTERS}


def collect(exclude: str = DEFAULT_DISK_DEVICE_EXCLUDE) -> dict[str, dict[str, float]]:
    collector = DiskCollector(re.compile(exclude), reader)
    result: dict[str, dict[str, float]] = {}
    for family in collector.collect():
        assert family.type == "counter"
        for sample in family.samples:
            result.setdefault(sample.name, {})[sample.labels["device"]] = sample.value
    return result


def test_node_exporter_names_and_units() -> None:
    values = collect()
    assert values["node_disk_reads_completed_total"]["sda"] == 100
    assert values["node_disk_writes_completed_total"]["sda"] == 50
    assert values["node_disk_read_bytes_total"]["sda"] == 4096
    assert values["node_disk_written_bytes_total"]["sda"] == 8192
    assert values["node_disk_read_time_seconds_total"]["sda"] == 1.5
    assert values["node_disk_write_time_seconds_total"]["sda"] == 0.25
    assert values["node_disk_io_time_seconds_total"]["sda"] == 2.0
    assert values["node_disk_reads_merged_total"]["sda"] == 3
    assert values["node_disk_writes_merged_total"]["sda"] == 4


def test_default_pattern_excludes_partitions_and_loop_devices() -> None:
    assert set(collect()["node_disk_read_bytes_total"]) == {"sda", "nvme0n1"}


def test_exclude_pattern_is_configurable() -> None:
    assert set(collect("^nvme")["node_disk_read_bytes_total"]) == {"sda", "sda1", "loop0"}


def test_fields_the_platform_lacks_are_left_out() -> None:
    collector = DiskCollector(re.compile("(?!)"), lambda: {"disk0": {"read_count": 1.0, "write_count": 2.0}})
    names = {family.name for family in collector.collect()}
    assert names == {"node_disk_reads_completed", "node_disk_writes_completed"}
