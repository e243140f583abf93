"""Each metric a question may name as PromQL, per server (``by (job, instance)``), for both exporters.

Our exporter's ready-made percentages come first; a node_exporter target answers through the ``or`` branch
computed from its node_* series, the way :mod:`collector.summary` derives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from api.ask.registry import FleetServer


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def server_matchers(servers: list[FleetServer] | None) -> str:
    """Matchers selecting ``servers`` by job and instance ("" for every server)."""
    if not servers:
        return ""
    if len(servers) == 1:
        only = servers[0]
        return f'job="{_escape(only.job)}",instance="{_escape(only.instance)}"'
    jobs = "|".join(sorted({_regex(s.job) for s in servers}))
    instances = "|".join(sorted({_regex(s.instance) for s in servers}))
    return f'job=~"{_escape(jobs)}",instance=~"{_escape(instances)}"'


def _regex(value: str) -> str:
    return "".join(f"\\{ch}" if ch in r".^$*+?()[]{}|\\" else ch for ch in value)


def selector(name: str, *matchers: str) -> str:
    """``name{m1,m2}``, leaving out empty matchers (and the braces when none is left)."""
    inner = ",".join(m for m in matchers if m)
    return f"{name}{{{inner}}}" if inner else name


@dataclass(frozen=True)
class MetricDef:
    """A metric: its unit and its PromQL for the given server matchers."""

    name: str
    unit: str
    expr: Callable[[str], str]


def _cpu(m: str) -> str:
    idle = selector("node_cpu_seconds_total", 'mode=~"idle|iowait"', m)
    return (
        f"max by (job, instance) ({selector('openmanager_cpu_usage_percent', m)}) or "
        f"100 * (1 - avg by (job, instance) (sum by (job, instance, cpu) (rate({idle}[5m]))))"
    )


def _memory(m: str) -> str:
    available = selector("node_memory_MemAvailable_bytes", m)
    total = selector("node_memory_MemTotal_bytes", m)
    return (
        f"max by (job, instance) ({selector('openmanager_memory_usage_percent', m)}) or "
        f"100 * (1 - max by (job, instance) ({available}) / max by (job, instance) ({total}))"
    )


def _disk(m: str) -> str:
    root = 'mountpoint="/"'
    avail = selector("node_filesystem_avail_bytes", root, m)
    size = selector("node_filesystem_size_bytes", root, m)
    return (
        f"max by (job, instance) ({selector('openmanager_disk_usage_percent', root, m)}) or "
        f"100 * (1 - max by (job, instance) ({avail}) / max by (job, instance) ({size}))"
    )


def _network(m: str) -> str:
    rx = selector("node_network_receive_bytes_total", 'device!="lo"', m)
    tx = selector("node_network_transmit_bytes_total", 'device!="lo"', m)
    return f"sum by (job, instance) (rate({rx}[5m])) + sum by (job, instance) (rate({tx}[5m]))"


def _load(m: str) -> str:
    return f"max by (job, instance) ({selector('node_load1', m)})"


def _swap(m: str) -> str:
    free = selector("node_memory_SwapFree_bytes", m)
    total = selector("node_memory_SwapTotal_bytes", m)
    return f"100 * (1 - max by (job, instance) ({free}) / max by (job, instance) ({total} > 0))"


def _iowait(m: str) -> str:
    iowait = selector("node_cpu_seconds_total", 'mode="iowait"', m)
    return f"100 * avg by (job, instance) (sum by (job, instance, cpu) (rate({iowait}[5m])))"


METRIC_DEFS: dict[str, MetricDef] = {
    d.name: d
    for d in (
        MetricDef("cpu", "%", _cpu),
        MetricDef("memory", "%", _memory),
        MetricDef("disk", "%", _disk),
        MetricDef("network", "B/s", _network),
        MetricDef("load", "", _load),
        MetricDef("swap", "%", _swap),
        MetricDef("iowait", "%", _iowait),
    )
}


def network_errors(m: str) -> str:
    """Receive and transmit errors per second, summed over a server's interfaces."""
    rx = selector("node_network_receive_errs_total", m)
    tx = selector("node_network_transmit_errs_total", m)
    return f"sum by (job, instance) (rate({rx}[5m])) + sum by (job, instance) (rate({tx}[5m]))"


_ROOT = 'mountpoint="/"'


def disk_forecast(m: str, lookback: str, horizon_s: int) -> str:
    """The root filesystem's free bytes ``horizon_s`` ahead, by ``predict_linear`` over ``lookback``."""
    avail = selector("node_filesystem_avail_bytes", _ROOT, m)
    return f"max by (job, instance) (predict_linear({avail}[{lookback}], {horizon_s}))"


def disk_trend(m: str, lookback: str) -> str:
    """How fast the root filesystem's free bytes change, per second (negative: filling)."""
    return f"max by (job, instance) (deriv({selector('node_filesystem_avail_bytes', _ROOT, m)}[{lookback}]))"


def disk_bytes(m: str, which: str) -> str:
    """The root filesystem's ``avail`` or ``size`` bytes now."""
    return f"max by (job, instance) ({selector(f'node_filesystem_{which}_bytes', _ROOT, m)})"
