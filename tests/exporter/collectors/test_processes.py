"""Processes collector: top N by CPU and memory from a procfs fixture tree, bounded labels."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter.collectors.processes import (
    PAGE_SIZE_BYTES,
    ProcessesCollector,
    TopProcessTracker,
    make_process_table_reader,
    parse_pid_stat,
)

HZ = 100


def write_procfs(root: Path, uptime_s: float, processes: list[tuple[int, str, int, int, int]]) -> None:
    """processes: (pid, name, cpu ticks, start ticks, rss pages); replaces what was there."""
    root.mkdir(exist_ok=True)
    for entry in root.iterdir():
        if entry.name.isdigit():
            (entry / "stat").unlink()
            entry.rmdir()
    (root / "uptime").write_text(f"{uptime_s:.2f} 12345.67\n")
    for pid, name, cpu_ticks, start_ticks, rss_pages in processes:
        (root / str(pid)).mkdir()
        utime, stime = cpu_ticks - cpu_ticks // 4, cpu_ticks // 4
        (root / str(pid) / "stat").write_text(
            f"{pid} ({name}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 1 0 "
            f"{start_ticks} 1000000 {rss_pages} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n"
        )


def tracker(root: Path, top_n: int = 3) -> TopProcessTracker:
    return TopProcessTracker(top_n, make_process_table_reader(str(root)), ticks_per_s=HZ)


def cpu_by_pid(tracker: TopProcessTracker) -> dict[int, float]:
    return {sample.pid: round(percent, 3) for sample, percent in tracker.read().by_cpu}


def test_stat_line_with_spaces_and_parentheses_in_the_name_parses() -> None:
    line = b"42 (my (odd) proc) R 1 42 42 0 -1 0 0 0 0 0 300 100 0 0 20 0 1 0 5000 1000 25 0\n"
    sample = parse_pid_stat(42, line)
    assert (sample.name, sample.cpu_ticks, sample.start_ticks, sample.rss_bytes) == (
        "my (odd) proc",
        400,
        5000,
        25 * PAGE_SIZE_BYTES,
    )


def test_first_reading_measures_each_process_over_its_lifetime(tmp_path: Path) -> None:
    write_procfs(tmp_path, 100.0, [(1, "init", 1000, 0, 10), (50, "worker", 2500, 5000, 10)])
    # init: 10 s of CPU in 100 s; worker: 25 s of CPU since it started at 50 s.
    assert cpu_by_pid(tracker(tmp_path)) == {50: 50.0, 1: 10.0}


def test_later_readings_measure_the_interval_since_the_previous_reading(tmp_path: Path) -> None:
    top = tracker(tmp_path)
    write_procfs(tmp_path, 100.0, [(1, "init", 1000, 0, 10), (50, "worker", 2500, 5000, 10)])
    top.read()
    write_procfs(tmp_path, 110.0, [(1, "init", 1000 + 100, 0, 10), (50, "worker", 2500 + 1500, 5000, 10)])
    assert cpu_by_pid(top) == {50: 150.0, 1: 10.0}  # percent of one CPU: 1.5 CPUs is 150


def test_process_started_since_the_previous_reading_counts_from_its_start(tmp_path: Path) -> None:
    top = tracker(tmp_path)
    write_procfs(tmp_path, 100.0, [(1, "init", 1000, 0, 10)])
    top.read()
    write_procfs(tmp_path, 110.0, [(1, "init", 1000, 0, 10), (77, "new", 250, 10500, 10)])
    assert cpu_by_pid(top)[77] == 50.0  # 2.5 s of CPU in the 5 s since it started


def test_reused_pid_is_not_charged_the_old_process_cpu(tmp_path: Path) -> None:
    top = tracker(tmp_path)
    write_procfs(tmp_path, 100.0, [(9, "old", 5000, 0, 10)])
    top.read()
    write_procfs(tmp_path, 110.0, [(9, "new", 100, 10000, 10)])
    assert cpu_by_pid(top) == {9: 10.0}


def test_only_top_n_by_cpu_and_by_memory_are_reported(tmp_path: Path) -> None:
    processes = [(pid, f"p{pid}", pid * 10, 0, 1000 - pid) for pid in range(1, 8)]
    write_procfs(tmp_path, 100.0, processes)
    result = tracker(tmp_path, top_n=3).read()
    assert [sample.pid for sample, _ in result.by_cpu] == [7, 6, 5]
    assert [sample.pid for sample in result.by_memory] == [1, 2, 3]
    assert result.count == 7


def test_collector_series_carry_only_pid_and_name(tmp_path: Path) -> None:
    write_procfs(tmp_path, 100.0, [(pid, "postgres", pid * 10, 0, pid) for pid in range(1, 20)])
    families = {family.name: family for family in ProcessesCollector(tracker(tmp_path, top_n=5)).collect()}
    cpu = families["openmanager_process_cpu_percent"]
    memory = families["openmanager_process_resident_memory_bytes"]
    assert cpu.type == memory.type == "gauge"
    assert len(cpu.samples) == len(memory.samples) == 5
    assert {frozenset(sample.labels) for sample in cpu.samples + memory.samples} == {
        frozenset({"pid", "name"})
    }
    assert memory.samples[0].labels == {"pid": "19", "name": "postgres"}
    assert memory.samples[0].value == 19 * PAGE_SIZE_BYTES
    assert families["openmanager_processes"].samples[0].value == 19


def test_process_table_is_read_at_most_once_per_ttl(tmp_path: Path) -> None:
    write_procfs(tmp_path, 100.0, [(1, "init", 1000, 0, 10)])
    now = [0.0]
    collector = ProcessesCollector(tracker(tmp_path), cache_ttl_s=5.0, clock=lambda: now[0])
    first = list(collector.collect())
    write_procfs(tmp_path, 101.0, [(1, "init", 1000, 0, 10), (2, "new", 10, 10050, 10)])
    now[0] = 4.0
    assert list(collector.collect())[2].samples[0].value == first[2].samples[0].value == 1
    now[0] = 5.0
    assert list(collector.collect())[2].samples[0].value == 2


def test_without_procfs_nothing_is_reported(tmp_path: Path) -> None:
    assert list(ProcessesCollector(tracker(tmp_path / "absent")).collect()) == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux procfs")
def test_default_reader_sees_this_process() -> None:
    table = make_process_table_reader()()
    assert os.getpid() in {sample.pid for sample in table.processes}
    assert table.uptime_s > 0
