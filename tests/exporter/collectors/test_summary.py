"""Summary collector: ready-made CPU, memory and disk percentages."""

from __future__ import annotations

import pytest

from exporter.collectors.filesystem import FilesystemStats, Mount
from exporter.collectors.summary import CpuUsage, SummaryCollector, disk_usage_percent, memory_usage_percent

ROOT = Mount("/dev/sda1", "/", "ext4", "rw")


class FakeCpuTimes:
    """Cumulative CPU times that the test advances."""

    def __init__(self) -> None:
        self.times = {"user": 0.0, "nice": 0.0, "system": 0.0, "idle": 0.0, "iowait": 0.0, "guest": 0.0}

    def advance(self, **deltas: float) -> None:
        for mode, delta in deltas.items():
            self.times[mode] += delta

    def __call__(self) -> dict[str, float]:
        return dict(self.times)


def test_cpu_usage_is_the_busy_share_since_the_previous_call() -> None:
    times = FakeCpuTimes()
    usage = CpuUsage(times)
    times.advance(user=30, system=10, idle=50, iowait=10)
    assert usage.percent() == 40.0  # first call: since boot
    times.advance(user=5, idle=15)
    assert usage.percent() == 25.0
    times.advance(idle=10, iowait=10)
    assert usage.percent() == 0.0


def test_guest_time_is_not_counted_twice() -> None:
    times = FakeCpuTimes()
    usage = CpuUsage(times)
    times.advance(user=50, guest=50, idle=50)
    assert usage.percent() == 50.0


def test_two_calls_within_one_tick_repeat_the_last_value() -> None:
    times = FakeCpuTimes()
    usage = CpuUsage(times)
    times.advance(user=1, idle=3)
    assert usage.percent() == 25.0
    assert usage.percent() == 25.0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"MemTotal_bytes": 1000.0, "MemAvailable_bytes": 250.0}, 75.0),
        (
            {"MemTotal_bytes": 1000.0, "MemFree_bytes": 100.0, "Buffers_bytes": 50.0, "Cached_bytes": 350.0},
            50.0,
        ),
        ({"MemTotal_bytes": 0.0}, None),
        ({}, None),
    ],
)
def test_memory_usage_is_the_share_not_available(fields: dict[str, float], expected: float | None) -> None:
    assert memory_usage_percent(fields) == expected


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        # df: used = size - free = 600; capacity for users = used + avail = 600 + 200 (reserve left out)
        (FilesystemStats(ROOT, size_bytes=1000, free_bytes=400, avail_bytes=200), 75.0),
        (FilesystemStats(ROOT, size_bytes=1000, free_bytes=1000, avail_bytes=1000), 0.0),
        (FilesystemStats(ROOT), None),
        (FilesystemStats(ROOT, size_bytes=1000, error=True), None),
    ],
)
def test_disk_usage_matches_df(stats: FilesystemStats, expected: float | None) -> None:
    assert disk_usage_percent(stats) == expected


def test_collector_reports_the_three_percentages() -> None:
    times = FakeCpuTimes()
    times.advance(user=1, idle=1)
    collector = SummaryCollector(
        lambda: [FilesystemStats(ROOT, size_bytes=1000, free_bytes=400, avail_bytes=200)],
        lambda: {"MemTotal_bytes": 1000.0, "MemAvailable_bytes": 900.0},
        CpuUsage(times),
    )
    samples = {
        (sample.name, tuple(sample.labels.items())): (family.type, sample.value)
        for family in collector.collect()
        for sample in family.samples
    }
    assert samples == {
        ("openmanager_cpu_usage_percent", ()): ("gauge", 50.0),
        ("openmanager_memory_usage_percent", ()): ("gauge", 10.0),
        ("openmanager_disk_usage_percent", (("mountpoint", "/"),)): ("gauge", 75.0),
    }


def test_default_readers_give_percentages_between_0_and_100() -> None:
    collector = SummaryCollector(lambda: [])
    for family in collector.collect():
        for sample in family.samples:
            assert 0.0 <= sample.value <= 100.0
