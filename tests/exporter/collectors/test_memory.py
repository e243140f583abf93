"""Memory collector: /proc/meminfo fields under node_exporter's names."""

from __future__ import annotations

from pathlib import Path

import psutil

from exporter.collectors.memory import MemoryCollector, make_memory_reader, parse_meminfo, read_memory_psutil
from tests.exporter.conftest import FIXTURES


def test_kb_fields_become_bytes_with_the_bytes_suffix() -> None:
    fields = parse_meminfo("MemTotal:       16384000 kB\nMemAvailable:    8192000 kB\n")
    assert fields == {"MemTotal_bytes": 16384000 * 1024, "MemAvailable_bytes": 8192000 * 1024}


def test_parenthesised_names_follow_node_exporter() -> None:
    assert parse_meminfo("Active(anon):      26132 kB\n") == {"Active_anon_bytes": 26132 * 1024}


def test_counts_keep_their_name_and_value() -> None:
    assert parse_meminfo("HugePages_Total:       4\n") == {"HugePages_Total": 4.0}


def test_malformed_lines_are_skipped() -> None:
    assert parse_meminfo("garbage\nMemFree: lots kB\nMemTotal: 1 kB\n") == {"MemTotal_bytes": 1024.0}


def test_collector_reads_the_procfs_fixture_as_gauges() -> None:
    collector = MemoryCollector(make_memory_reader(str(FIXTURES / "proc")))
    families = {family.name: family for family in collector.collect()}
    assert families["node_memory_MemTotal_bytes"].type == "gauge"
    assert families["node_memory_MemTotal_bytes"].samples[0].value == 16384000 * 1024
    assert families["node_memory_SwapFree_bytes"].samples[0].value == 524288 * 1024
    assert families["node_memory_Inactive_file_bytes"].samples[0].value == 677264 * 1024
    assert families["node_memory_HugePages_Total"].samples[0].value == 4


def test_without_meminfo_psutil_supplies_the_main_fields(tmp_path: Path) -> None:
    fields = make_memory_reader(str(tmp_path))()
    assert set(fields) >= {
        "MemTotal_bytes",
        "MemFree_bytes",
        "MemAvailable_bytes",
        "SwapTotal_bytes",
        "SwapFree_bytes",
    }
    assert fields["MemTotal_bytes"] == psutil.virtual_memory().total


def test_psutil_fields_use_node_exporter_names() -> None:
    assert "Buffers_bytes" in read_memory_psutil()  # Linux has buffers and cached
