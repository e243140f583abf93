"""Kernel and system facts: boot time, clock, load, context switches, interrupts, processes, uname.

On Linux one read of /proc/stat gives boot time, context switches, interrupts, forks and the running and
blocked process counts (node_exporter's stat collector); elsewhere psutil supplies the first three.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psutil
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(frozen=True, slots=True)
class KernelStats:
    """Counters from /proc/stat; the process counts are None where the platform does not give them."""

    boot_time_s: float
    context_switches: float
    interrupts: float
    forks: float | None = None
    procs_running: float | None = None
    procs_blocked: float | None = None


@dataclass(frozen=True, slots=True)
class Uname:
    """The uname(2) fields node_exporter labels ``node_uname_info`` with."""

    sysname: str
    release: str
    version: str
    machine: str
    nodename: str
    domainname: str


def parse_proc_stat(text: str) -> KernelStats:
    """Parse the non-CPU lines of /proc/stat."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key in ("btime", "ctxt", "intr", "processes", "procs_running", "procs_blocked"):
            values[key] = float(rest.split(maxsplit=1)[0])
    return KernelStats(
        boot_time_s=values["btime"],
        context_switches=values["ctxt"],
        interrupts=values["intr"],
        forks=values.get("processes"),
        procs_running=values.get("procs_running"),
        procs_blocked=values.get("procs_blocked"),
    )


def make_kernel_stats_reader(procfs: str = "/proc") -> Callable[[], KernelStats]:
    """Read ``<procfs>/stat`` when it exists, else fall back to psutil."""
    path = f"{procfs}/stat"

    def read() -> KernelStats:
        try:
            with open(path, encoding="ascii") as file:
                return parse_proc_stat(file.read())
        except FileNotFoundError:
            stats = psutil.cpu_stats()
            return KernelStats(psutil.boot_time(), float(stats.ctx_switches), float(stats.interrupts))

    return read


def make_uname_reader(procfs: str = "/proc") -> Callable[[], Uname]:
    """uname(2) via os.uname(); the NIS domain name (not in os.uname) from procfs, "(none)" if unset."""
    path = f"{procfs}/sys/kernel/domainname"

    def read() -> Uname:
        name = os.uname()
        try:
            with open(path, encoding="utf-8") as file:
                domain = file.read().strip()
        except OSError:
            domain = "(none)"
        return Uname(name.sysname, name.release, name.version, name.machine, name.nodename, domain)

    return read


class SystemCollector(Collector):
    """Boot time, current time, load averages, context switches, interrupts, forks, process counts, uname."""

    def __init__(
        self,
        kernel_stats: Callable[[], KernelStats] | None = None,
        uname: Callable[[], Uname] | None = None,
        loadavg: Callable[[], tuple[float, float, float]] = os.getloadavg,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kernel_stats = kernel_stats or make_kernel_stats_reader()
        self._uname = uname or make_uname_reader()
        self._loadavg = loadavg
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        """Read the system facts now."""
        stats = self._kernel_stats()
        yield GaugeMetricFamily(
            "node_boot_time_seconds", "Boot time, in seconds since the epoch.", stats.boot_time_s
        )
        yield GaugeMetricFamily(
            "node_time_seconds", "System clock, in seconds since the epoch.", self._clock()
        )
        yield CounterMetricFamily(
            "node_context_switches_total", "Context switches since boot.", stats.context_switches
        )
        yield CounterMetricFamily("node_intr_total", "Interrupts serviced since boot.", stats.interrupts)
        if stats.forks is not None:
            yield CounterMetricFamily(
                "node_forks_total", "Processes and threads created since boot.", stats.forks
            )
        if stats.procs_running is not None:
            yield GaugeMetricFamily("node_procs_running", "Threads runnable now.", stats.procs_running)
        if stats.procs_blocked is not None:
            yield GaugeMetricFamily(
                "node_procs_blocked", "Threads blocked waiting for I/O now.", stats.procs_blocked
            )
        load1, load5, load15 = self._loadavg()
        yield GaugeMetricFamily("node_load1", "Load average over 1 minute.", load1)
        yield GaugeMetricFamily("node_load5", "Load average over 5 minutes.", load5)
        yield GaugeMetricFamily("node_load15", "Load average over 15 minutes.", load15)
        name = self._uname()
        info = GaugeMetricFamily(
            "node_uname_info",
            "Always 1; the labels are the uname(2) fields.",
            labels=["sysname", "release", "version", "machine", "nodename", "domainname"],
        )
        info.add_metric(
            [name.sysname, name.release, name.version, name.machine, name.nodename, name.domainname], 1
        )
        yield info
