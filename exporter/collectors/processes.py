"""The busiest processes: top N by CPU and top N by resident memory, with bounded cardinality.

Metrics::

    openmanager_process_cpu_percent{pid,name}              top N by CPU, percent of one CPU (as top shows it)
    openmanager_process_resident_memory_bytes{pid,name}    top N by resident set size
    openmanager_processes                                  number of processes (for context)

Label design: only ``pid`` and ``name`` (the kernel's 15-character command name), and only N processes per
metric per scrape, so a scrape carries at most 2N + 1 series whatever the host runs. ``pid`` is needed
because names repeat (many ``postgres`` or ``python3``) and a restarted process is another series. There
is deliberately no ``rank`` label: a process trading places with another would end its series and start a
new one at every swap, multiplying series churn and breaking graphs; the order is in the values and
``topk()`` / ``sort_desc()`` give it back in PromQL. No command line or user is exposed: arguments can
hold secrets and would make cardinality unbounded.

CPU percent is measured between two readings of the process table: ``Δ(utime + stime) / Δt``. A process
started since the previous reading counts from its start; on the very first reading every process is
measured over its lifetime (what ``ps`` shows). The table is read from procfs directly (one small
``/proc/<pid>/stat`` read per process, several times cheaper than psutil's per-process objects) and the
collector caches the ranking for a short TTL. Linux only: without procfs the collector reports nothing.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.collectors.cache import TTLCache

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_SIZE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One process from /proc/<pid>/stat."""

    pid: int
    name: str
    start_ticks: int
    cpu_ticks: int
    rss_bytes: int


@dataclass(frozen=True, slots=True)
class ProcessTable:
    """All processes at one moment, with the system uptime at that moment."""

    uptime_s: float
    processes: list[ProcessSample]


@dataclass(frozen=True, slots=True)
class TopProcesses:
    """The ranked result the collector reports."""

    by_cpu: list[tuple[ProcessSample, float]]
    by_memory: list[ProcessSample]
    count: int


def parse_pid_stat(pid: int, data: bytes) -> ProcessSample:
    """Parse /proc/<pid>/stat; the name is between the first "(" and the last ")" and may hold anything."""
    open_paren = data.index(b"(")
    close_paren = data.rindex(b")")
    name = data[open_paren + 1 : close_paren].decode("utf-8", "replace")
    # Fields after the name, numbered from 3 (state) as in proc(5).
    fields = data[close_paren + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return ProcessSample(pid, name, int(fields[19]), utime + stime, int(fields[21]) * PAGE_SIZE_BYTES)


def make_process_table_reader(procfs: str = "/proc") -> Callable[[], ProcessTable]:
    """Read every ``<procfs>/<pid>/stat``; processes that exit while being read are skipped."""

    def read() -> ProcessTable:
        try:
            with open(f"{procfs}/uptime", "rb") as file:
                uptime_s = float(file.read().split()[0])
            entries = os.listdir(procfs)
        except OSError:
            return ProcessTable(0.0, [])
        processes = []
        for entry in entries:
            if not entry.isdigit():
                continue
            try:
                with open(f"{procfs}/{entry}/stat", "rb") as file:
                    data = file.read()
                processes.append(parse_pid_stat(int(entry), data))
            except (OSError, ValueError, IndexError):
                continue
        return ProcessTable(uptime_s, processes)

    return read


class TopProcessTracker:
    """Ranks processes, remembering the previous table to turn CPU ticks into a percentage."""

    def __init__(
        self,
        top_n: int,
        reader: Callable[[], ProcessTable] | None = None,
        ticks_per_s: int = CLOCK_TICKS_PER_S,
    ) -> None:
        self._top_n = top_n
        self._reader = reader or make_process_table_reader()
        self._ticks_per_s = ticks_per_s
        self._lock = threading.Lock()
        self._previous: dict[int, ProcessSample] = {}
        self._previous_uptime_s: float | None = None

    def read(self) -> TopProcesses:
        """Read the process table now and rank it."""
        with self._lock:
            table = self._reader()
            now_uptime = table.uptime_s
            scored = [(self._cpu_percent(sample, now_uptime), sample) for sample in table.processes]
            self._previous = {sample.pid: sample for sample in table.processes}
            self._previous_uptime_s = now_uptime
        by_cpu = heapq.nlargest(self._top_n, scored, key=lambda item: (item[0], -item[1].pid))
        by_memory = heapq.nlargest(
            self._top_n, table.processes, key=lambda sample: (sample.rss_bytes, -sample.pid)
        )
        return TopProcesses(
            [(sample, percent) for percent, sample in by_cpu], by_memory, len(table.processes)
        )

    def _cpu_percent(self, sample: ProcessSample, uptime_s: float) -> float:
        started_s = sample.start_ticks / self._ticks_per_s
        since_s = started_s
        used_ticks = sample.cpu_ticks
        previous = self._previous.get(sample.pid)
        if self._previous_uptime_s is not None and started_s < self._previous_uptime_s:
            if previous is not None and previous.start_ticks == sample.start_ticks:
                used_ticks -= previous.cpu_ticks
            since_s = self._previous_uptime_s
        elapsed_s = uptime_s - since_s
        if elapsed_s <= 0:
            return 0.0
        return max(0.0, used_ticks / self._ticks_per_s / elapsed_s * 100.0)


class ProcessesCollector(Collector):
    """Top processes by CPU and by resident memory, and the process count (see the module docstring)."""

    def __init__(
        self,
        tracker: TopProcessTracker,
        cache_ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._top = TTLCache(tracker.read, cache_ttl_s, clock)

    def collect(self) -> Iterator[Metric]:
        """Report the ranking, re-read at most once per cache TTL."""
        top = self._top.get()
        if top.count == 0:
            return
        cpu = GaugeMetricFamily(
            "openmanager_process_cpu_percent",
            "CPU use of the top processes by CPU, in percent of one CPU, since the previous reading.",
            labels=["pid", "name"],
        )
        for sample, percent in top.by_cpu:
            cpu.add_metric([str(sample.pid), sample.name], round(percent, 2))
        memory = GaugeMetricFamily(
            "openmanager_process_resident_memory_bytes",
            "Resident memory of the top processes by resident memory.",
            labels=["pid", "name"],
        )
        for sample in top.by_memory:
            memory.add_metric([str(sample.pid), sample.name], sample.rss_bytes)
        yield cpu
        yield memory
        yield GaugeMetricFamily("openmanager_processes", "Processes on the host.", top.count)
