"""Memory: every field of /proc/meminfo as node_exporter names it (``node_memory_MemAvailable_bytes`` …).

On Linux /proc/meminfo is read directly: one small file gives ~50 fields, more than psutil exposes. Field
names follow node_exporter: ``Active(anon)`` becomes ``Active_anon``, a value in kB is converted to bytes
and gets the ``_bytes`` suffix, a count (``HugePages_Total``) keeps its name. Where /proc/meminfo does
not exist (other platforms), psutil supplies the main fields under the same names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

import psutil
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MemoryReader = Callable[[], Mapping[str, float]]

_PARENS = re.compile(r"\((.*)\)")


def parse_meminfo(text: str) -> dict[str, float]:
    """Map node_exporter field names (``MemTotal_bytes``) to values, from /proc/meminfo text."""
    fields: dict[str, float] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts:
            continue
        try:
            value = float(parts[0])
        except ValueError:
            continue
        key = _PARENS.sub(r"_\1", key.strip())
        if len(parts) > 1 and parts[1] == "kB":
            fields[f"{key}_bytes"] = value * 1024
        else:
            fields[key] = value
    return fields


def read_memory_psutil() -> dict[str, float]:
    """The main fields, from psutil, under node_exporter's names; for hosts without /proc/meminfo."""
    virtual = psutil.virtual_memory()
    swap = psutil.swap_memory()
    fields = {
        "MemTotal_bytes": float(virtual.total),
        "MemFree_bytes": float(virtual.free),
        "MemAvailable_bytes": float(virtual.available),
        "SwapTotal_bytes": float(swap.total),
        "SwapFree_bytes": float(swap.free),
    }
    for name, attribute in (("Buffers_bytes", "buffers"), ("Cached_bytes", "cached")):
        value = getattr(virtual, attribute, None)
        if value is not None:
            fields[name] = float(value)
    return fields


def make_memory_reader(procfs: str = "/proc") -> MemoryReader:
    """Read ``<procfs>/meminfo`` when it exists, else fall back to psutil."""
    path = f"{procfs}/meminfo"

    def read() -> Mapping[str, float]:
        try:
            with open(path, encoding="ascii") as file:
                return parse_meminfo(file.read())
        except FileNotFoundError:
            return read_memory_psutil()

    return read


class MemoryCollector(Collector):
    """One ``node_memory_<field>`` gauge per memory field."""

    def __init__(self, reader: MemoryReader | None = None) -> None:
        self._reader = reader or make_memory_reader()

    def collect(self) -> Iterator[Metric]:
        """Read the memory fields now."""
        for name, value in self._reader().items():
            yield GaugeMetricFamily(
                f"node_memory_{name}", f"Memory field {name} (from /proc/meminfo on Linux).", value=value
            )
