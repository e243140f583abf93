"""CPU time per CPU and mode: node_exporter's ``node_cpu_seconds_total`` and ``node_cpu_guest_seconds_total``.

psutil reads /proc/stat; the values are cumulative seconds since boot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import psutil
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

# The modes node_exporter reports, in its order; a platform that lacks one simply does not report it.
MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# Guest time is already counted in user and nice (as in /proc/stat); node_exporter reports it apart too.
GUEST_MODES = (("guest", "user"), ("guest_nice", "nice"))

CpuTimesReader = Callable[[], Sequence[Mapping[str, float]]]


def read_cpu_times() -> list[dict[str, float]]:
    """Seconds per mode for each CPU, from psutil."""
    return [times._asdict() for times in psutil.cpu_times(percpu=True)]


class CpuCollector(Collector):
    """``node_cpu_seconds_total{cpu,mode}`` and ``node_cpu_guest_seconds_total{cpu,mode}``."""

    def __init__(self, reader: CpuTimesReader = read_cpu_times) -> None:
        self._reader = reader

    def collect(self) -> Iterator[Metric]:
        """Read the CPU times now."""
        seconds = CounterMetricFamily(
            "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", labels=["cpu", "mode"]
        )
        guest = CounterMetricFamily(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent running guests, in each mode.",
            labels=["cpu", "mode"],
        )
        for index, times in enumerate(self._reader()):
            cpu = str(index)
            for mode in MODES:
                value = times.get(mode)
                if value is not None:
                    seconds.add_metric([cpu, mode], value)
            for field, mode in GUEST_MODES:
                value = times.get(field)
                if value is not None:
                    guest.add_metric([cpu, mode], value)
        yield seconds
        if guest.samples:
            yield guest
