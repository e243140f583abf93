"""Filesystems: node_exporter's ``node_filesystem_*{device,fstype,mountpoint}`` gauges.

Mounts come from psutil (all of them, pseudo filesystems included), are filtered by the configured
mount point and filesystem type regexes (unanchored searches, as in node_exporter), and are deduplicated
by mount point keeping the last entry, which is the mount that is visible there. Duplicate label sets
would make the exposition invalid.

A ``statvfs`` on a dead network mount can block forever, so each one runs in a small worker pool and is
waited for at most ``mount_timeout_s``. A mount that timed out is marked stuck and skipped (reported with
``node_filesystem_device_error 1``) until its pending call returns, so a hung NFS server costs one timeout,
not one per scrape.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial

import psutil
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

STATVFS_WORKERS = 4


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of the mount table."""

    device: str
    mountpoint: str
    fstype: str
    options: str


@dataclass(frozen=True, slots=True)
class FilesystemStats:
    """Sizes of one mounted filesystem; ``error`` is True when they could not be read (all zero then)."""

    mount: Mount
    size_bytes: float = 0.0
    free_bytes: float = 0.0
    avail_bytes: float = 0.0
    files: float = 0.0
    files_free: float = 0.0
    error: bool = False

    @property
    def readonly(self) -> bool:
        """True when mounted read-only."""
        return "ro" in self.mount.options.split(",")


def read_mounts() -> list[Mount]:
    """Every mounted filesystem, from psutil."""
    return [Mount(p.device, p.mountpoint, p.fstype, p.opts) for p in psutil.disk_partitions(all=True)]


class FilesystemReader:
    """Lists, filters and measures the mounted filesystems (for the filesystem and summary collectors)."""

    def __init__(
        self,
        mount_points_exclude: re.Pattern[str],
        fs_types_exclude: re.Pattern[str],
        mount_timeout_s: float = 5.0,
        list_mounts: Callable[[], Sequence[Mount]] = read_mounts,
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
    ) -> None:
        self._mount_points_exclude = mount_points_exclude
        self._fs_types_exclude = fs_types_exclude
        self._timeout_s = mount_timeout_s
        self._list_mounts = list_mounts
        self._statvfs = statvfs
        self._pool = ThreadPoolExecutor(max_workers=STATVFS_WORKERS, thread_name_prefix="statvfs")
        self._stuck: set[str] = set()
        self._stuck_lock = threading.Lock()

    def mounts(self) -> list[Mount]:
        """The mounts left after the exclude patterns, one per mount point."""
        by_mountpoint: dict[str, Mount] = {}
        for mount in self._list_mounts():
            if self._mount_points_exclude.search(mount.mountpoint) or self._fs_types_exclude.search(
                mount.fstype
            ):
                continue
            by_mountpoint.pop(mount.mountpoint, None)
            by_mountpoint[mount.mountpoint] = mount
        return list(by_mountpoint.values())

    def read(self) -> list[FilesystemStats]:
        """Measure every selected mount now."""
        return [self._measure(mount) for mount in self.mounts()]

    def close(self) -> None:
        """Stop the worker pool without waiting for a call stuck on a dead mount."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _measure(self, mount: Mount) -> FilesystemStats:
        with self._stuck_lock:
            if mount.mountpoint in self._stuck:
                return FilesystemStats(mount, error=True)
        future = self._pool.submit(self._statvfs, mount.mountpoint)
        try:
            st = future.result(timeout=self._timeout_s)
        except FutureTimeout:
            log.warning(
                "statvfs(%s) did not answer within %gs; skipping this mount until it does",
                mount.mountpoint,
                self._timeout_s,
            )
            with self._stuck_lock:
                self._stuck.add(mount.mountpoint)
            future.add_done_callback(partial(self._unstick, mount.mountpoint))
            return FilesystemStats(mount, error=True)
        except OSError as exc:
            log.debug("statvfs(%s) failed: %s", mount.mountpoint, exc)
            return FilesystemStats(mount, error=True)
        block = st.f_frsize or st.f_bsize
        return FilesystemStats(
            mount,
            size_bytes=float(st.f_blocks * block),
            free_bytes=float(st.f_bfree * block),
            avail_bytes=float(st.f_bavail * block),
            files=float(st.f_files),
            files_free=float(st.f_ffree),
        )

    def _unstick(self, mountpoint: str, _done: Future[os.statvfs_result]) -> None:
        with self._stuck_lock:
            self._stuck.discard(mountpoint)
        log.info("statvfs(%s) answered again", mountpoint)


class FilesystemCollector(Collector):
    """Size, free and available bytes, inodes, read-only flag and read errors per mounted filesystem."""

    def __init__(self, read: Callable[[], Sequence[FilesystemStats]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        """Measure the filesystems now."""
        labels = ["device", "fstype", "mountpoint"]
        families = {
            "size": GaugeMetricFamily(
                "node_filesystem_size_bytes", "Filesystem size in bytes.", labels=labels
            ),
            "free": GaugeMetricFamily(
                "node_filesystem_free_bytes",
                "Filesystem free space in bytes, root's reserve included.",
                labels=labels,
            ),
            "avail": GaugeMetricFamily(
                "node_filesystem_avail_bytes",
                "Filesystem space available to unprivileged users.",
                labels=labels,
            ),
            "files": GaugeMetricFamily("node_filesystem_files", "Filesystem inodes in total.", labels=labels),
            "files_free": GaugeMetricFamily(
                "node_filesystem_files_free", "Filesystem free inodes.", labels=labels
            ),
            "readonly": GaugeMetricFamily(
                "node_filesystem_readonly", "1 if the filesystem is mounted read-only.", labels=labels
            ),
            "error": GaugeMetricFamily(
                "node_filesystem_device_error",
                "1 if the filesystem's sizes could not be read.",
                labels=labels,
            ),
        }
        for stats in self._read():
            values = [stats.mount.device, stats.mount.fstype, stats.mount.mountpoint]
            families["readonly"].add_metric(values, float(stats.readonly))
            families["error"].add_metric(values, float(stats.error))
            if stats.error:
                continue
            families["size"].add_metric(values, stats.size_bytes)
            families["free"].add_metric(values, stats.free_bytes)
            families["avail"].add_metric(values, stats.avail_bytes)
            families["files"].add_metric(values, stats.files)
            families["files_free"].add_metric(values, stats.files_free)
        yield from families.values()
