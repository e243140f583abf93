"""Filesystem collector: node_filesystem_* per mount, exclusions, dedup, errors, stuck mounts."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator

import pytest

from exporter.collectors.filesystem import FilesystemCollector, FilesystemReader, Mount
from exporter.config import DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE

MOUNTS = [
    Mount("/dev/sda1", "/", "ext4", "rw,relatime"),
    Mount("proc", "/proc", "proc", "rw"),
    Mount("sysfs", "/sys", "sysfs", "rw"),
    Mount("tmpfs", "/run/credentials/x.service", "tmpfs", "ro"),
    Mount("overlay", "/var/lib/docker/overlay2/abc/merged", "overlay", "rw"),
    Mount("/dev/sdb1", "/data", "xfs", "ro,noatime"),
    Mount("/dev/sdc1", "/mnt/stack", "ext4", "rw"),
    Mount("/dev/sdd1", "/mnt/stack", "ext4", "rw"),
    Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", "rw"),
]


def fake_statvfs(path: str) -> os.statvfs_result:
    # (bsize, frsize, blocks, bfree, bavail, files, ffree, favail, flag, namemax)
    return os.statvfs_result((4096, 4096, 1000, 400, 300, 500, 200, 200, 0, 255))


def make_reader(
    statvfs: Callable[[str], os.statvfs_result] = fake_statvfs, timeout_s: float = 5.0
) -> FilesystemReader:
    return FilesystemReader(
        re.compile(DEFAULT_MOUNT_POINTS_EXCLUDE),
        re.compile(DEFAULT_FS_TYPES_EXCLUDE),
        timeout_s,
        list_mounts=lambda: MOUNTS,
        statvfs=statvfs,
    )


@pytest.fixture
def reader() -> Iterator[FilesystemReader]:
    reader = make_reader()
    yield reader
    reader.close()


def samples(reader: FilesystemReader) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for family in FilesystemCollector(reader.read).collect():
        assert family.type == "gauge"
        for sample in family.samples:
            assert set(sample.labels) == {"device", "fstype", "mountpoint"}
            result.setdefault(sample.name, {})[sample.labels["mountpoint"]] = sample.value
    return result


def test_pseudo_filesystems_and_excluded_mount_points_are_left_out(reader: FilesystemReader) -> None:
    assert [mount.mountpoint for mount in reader.mounts()] == ["/", "/data", "/mnt/stack"]


def test_a_mount_point_mounted_twice_is_reported_once_with_the_visible_mount(
    reader: FilesystemReader,
) -> None:
    stacked = [mount for mount in reader.mounts() if mount.mountpoint == "/mnt/stack"]
    assert stacked == [Mount("/dev/sdd1", "/mnt/stack", "ext4", "rw")]


def test_sizes_are_blocks_times_fragment_size(reader: FilesystemReader) -> None:
    values = samples(reader)
    assert values["node_filesystem_size_bytes"]["/"] == 1000 * 4096
    assert values["node_filesystem_free_bytes"]["/"] == 400 * 4096
    assert values["node_filesystem_avail_bytes"]["/"] == 300 * 4096
    assert values["node_filesystem_files"]["/"] == 500
    assert values["node_filesystem_files_free"]["/"] == 200
    assert values["node_filesystem_device_error"]["/"] == 0


def test_read_only_mounts_are_flagged(reader: FilesystemReader) -> None:
    values = samples(reader)
    assert values["node_filesystem_readonly"] == {"/": 0, "/data": 1, "/mnt/stack": 0}


def test_unreadable_mount_reports_a_device_error_and_no_sizes() -> None:
    def failing(path: str) -> os.statvfs_result:
        if path == "/data":
            raise PermissionError(13, "Permission denied")
        return fake_statvfs(path)

    reader = make_reader(failing)
    try:
        values = samples(reader)
    finally:
        reader.close()
    assert values["node_filesystem_device_error"]["/data"] == 1
    assert "/data" not in values["node_filesystem_size_bytes"]
    assert values["node_filesystem_readonly"]["/data"] == 1


def test_stuck_mount_times_out_is_skipped_and_comes_back_when_it_answers() -> None:
    release = threading.Event()
    calls: list[str] = []

    def hanging(path: str) -> os.statvfs_result:
        calls.append(path)
        if path == "/data":
            release.wait(timeout=10)
        return fake_statvfs(path)

    reader = make_reader(hanging, timeout_s=0.1)
    try:
        first = {stats.mount.mountpoint: stats.error for stats in reader.read()}
        assert first == {"/": False, "/data": True, "/mnt/stack": False}
        second = {stats.mount.mountpoint: stats.error for stats in reader.read()}
        assert second["/data"] is True
        assert calls.count("/data") == 1  # skipped while stuck: one timeout, not one per scrape
        release.set()
        for _ in range(100):
            third = {stats.mount.mountpoint: stats.error for stats in reader.read()}
            if not third["/data"]:
                break
            threading.Event().wait(0.01)
        assert third["/data"] is False
    finally:
        release.set()
        reader.close()


def test_default_reader_measures_the_root_filesystem() -> None:
    reader = FilesystemReader(re.compile(DEFAULT_MOUNT_POINTS_EXCLUDE), re.compile(DEFAULT_FS_TYPES_EXCLUDE))
    try:
        stats = {s.mount.mountpoint: s for s in reader.read()}
    finally:
        reader.close()
    assert stats["/"].size_bytes > 0
