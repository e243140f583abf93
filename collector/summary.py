"""The server summary of ``server:{id}:status``, derived from one scrape plus the previous one's counters.

Each field comes from the first source found:

``cpu`` (percent of all CPUs)
    ``openmanager_cpu_usage_percent``; else the busy share of the ``node_cpu_seconds_total`` increases
    between two scrapes, summed over CPUs. Busy is everything but ``idle`` and ``iowait``, as in our
    exporter's gauge, so a host shows the same number whichever exporter it runs.
``memory`` (percent)
    ``openmanager_memory_usage_percent``; else ``1 - node_memory_MemAvailable_bytes / MemTotal_bytes``.
``disk`` (percent)
    ``openmanager_disk_usage_percent{mountpoint="/"}``; else ``node_filesystem_*`` of ``/`` (or, with no
    ``/``, the largest filesystem): ``used / (used + avail)`` as df shows it when ``free_bytes`` is there,
    else ``1 - avail / size``.
``network_rx`` / ``network_tx`` (bytes/s)
    Rate of ``node_network_{receive,transmit}_bytes_total`` between two scrapes, summed over every
    interface but ``lo``.
``load1``
    ``node_load1``.
``uptime_s``
    ``node_time_seconds - node_boot_time_seconds``.

Counter resets: a counter that went down restarted (host reboot, interface re-created), so its increase
over the interval is taken to be its new value, as Prometheus's ``rate()`` does. That is what was counted
since the restart, which happened inside the interval: a lower bound of the true increase, never a spike.
The first scrape of a target has no rates yet; a series new since the previous scrape (an interface that
appeared) has none either and is left out of the sums, as with ``sum(rate(...))``.

Speed: which positions of the values list hold the needed series is worked out once per series set
(:func:`index_series`, cached per target by ``series_set_id`` in :class:`SummaryState`); a steady-state scrape
then reads a handful of list positions plus the CPU and network counters.

The collector summarizes each batch once, with one :class:`Summarizer` for the whole fleet, and hands the
summaries to every writer (the Redis live layer, the history's ``server_stats``): no writer computes them
again, and a writer that fails does not lose the rate baselines of the others.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from collector.result import Labels, ScrapeResult, SeriesKey

_CPU_PERCENT = "openmanager_cpu_usage_percent"
_MEMORY_PERCENT = "openmanager_memory_usage_percent"
_DISK_PERCENT = "openmanager_disk_usage_percent"
_CPU_SECONDS = "node_cpu_seconds_total"
_MEM_AVAILABLE = "node_memory_MemAvailable_bytes"
_MEM_TOTAL = "node_memory_MemTotal_bytes"
_FS_SIZE = "node_filesystem_size_bytes"
_FS_AVAIL = "node_filesystem_avail_bytes"
_FS_FREE = "node_filesystem_free_bytes"
_RX = "node_network_receive_bytes_total"
_TX = "node_network_transmit_bytes_total"
_LOAD1 = "node_load1"
_TIME = "node_time_seconds"
_BOOT_TIME = "node_boot_time_seconds"

_SINGLE = frozenset({_CPU_PERCENT, _MEMORY_PERCENT, _MEM_AVAILABLE, _MEM_TOTAL, _LOAD1, _TIME, _BOOT_TIME})
_FILESYSTEM = frozenset({_FS_SIZE, _FS_AVAIL, _FS_FREE})
_WANTED = _SINGLE | _FILESYSTEM | {_DISK_PERCENT, _CPU_SECONDS, _RX, _TX}
_IDLE_MODES = frozenset({"idle", "iowait"})
_ROOT = "/"
_DIGITS = 3
_PRUNE_EVERY_S = 60.0

Status = Literal["up", "down", "warning", "unknown"]
"""A server's status: ``unknown`` is for servers known but not scraped yet; the writer never sets it."""


@dataclass(frozen=True, slots=True)
class ServerSummary:
    """The headline numbers of a server; None where the scrape had no source for one."""

    cpu: float | None = None
    memory: float | None = None
    disk: float | None = None
    network_rx: float | None = None
    network_tx: float | None = None
    load1: float | None = None
    uptime_s: float | None = None

    def items(self) -> list[tuple[str, float]]:
        """The known fields as (name, value), in declaration order."""
        pairs = (
            ("cpu", self.cpu),
            ("memory", self.memory),
            ("disk", self.disk),
            ("network_rx", self.network_rx),
            ("network_tx", self.network_tx),
            ("load1", self.load1),
            ("uptime_s", self.uptime_s),
        )
        return [(name, value) for name, value in pairs if value is not None]

    def to_dict(self) -> dict[str, float]:
        """The known fields, for JSON."""
        return dict(self.items())

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ServerSummary:
        """Read :meth:`to_dict`'s output back; fields that are missing or not numbers stay None."""

        def number(name: str) -> float | None:
            value = data.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            return None

        return cls(
            cpu=number("cpu"),
            memory=number("memory"),
            disk=number("disk"),
            network_rx=number("network_rx"),
            network_tx=number("network_tx"),
            load1=number("load1"),
            uptime_s=number("uptime_s"),
        )


@dataclass(frozen=True, slots=True)
class Thresholds:
    """At or above any of these usage percentages a server that is up counts as ``warning``."""

    cpu_percent: float = 90.0
    memory_percent: float = 90.0
    disk_percent: float = 85.0


def status_of(summary: ServerSummary, thresholds: Thresholds) -> Literal["up", "warning"]:
    """The status of a server whose scrape succeeded."""
    for value, limit in (
        (summary.cpu, thresholds.cpu_percent),
        (summary.memory, thresholds.memory_percent),
        (summary.disk, thresholds.disk_percent),
    ):
        if value is not None and value >= limit:
            return "warning"
    return "up"


@dataclass(frozen=True, slots=True)
class SeriesIndex:
    """Where in a series set the summary's sources are: positions in the values list, None when absent.

    The counters needed for rates are gathered in one vector: ``counter_positions[:cpu_counters]`` are CPU
    seconds (``cpu_idle`` says which of them are idle modes), ``[cpu_counters:rx_end]`` receive bytes and
    ``[rx_end:]`` transmit bytes.
    """

    cpu_percent: int | None = None
    memory_percent: int | None = None
    disk_percent: int | None = None
    memory_available: int | None = None
    memory_total: int | None = None
    fs_size: int | None = None
    fs_avail: int | None = None
    fs_free: int | None = None
    load1: int | None = None
    time: int | None = None
    boot_time: int | None = None
    counter_positions: tuple[int, ...] = ()
    counter_keys: tuple[SeriesKey, ...] = ()
    cpu_counters: int = 0
    cpu_idle: tuple[int, ...] = ()
    rx_end: int = 0


def _label(labels: Labels, name: str) -> str | None:
    for key, value in labels:
        if key == name:
            return value
    return None


def _pick_filesystem(
    filesystems: Mapping[str, Mapping[Labels, int]], values: Sequence[float]
) -> tuple[int | None, int | None, int | None]:
    """Positions of (size, avail, free) of ``/``, else of the largest filesystem."""
    sizes = filesystems.get(_FS_SIZE, {})
    avails = filesystems.get(_FS_AVAIL, {})
    frees = filesystems.get(_FS_FREE, {})
    candidates = [labels for labels in sizes if labels in avails]
    if not candidates:
        return None, None, None
    roots = [labels for labels in candidates if _label(labels, "mountpoint") == _ROOT]
    chosen = roots[0] if roots else max(candidates, key=lambda labels: values[sizes[labels]])
    return sizes[chosen], avails[chosen], frees.get(chosen)


def index_series(series: Sequence[SeriesKey], values: Sequence[float]) -> SeriesIndex:
    """Find the summary's sources in a series set (``values`` only decide which filesystem is largest)."""
    single: dict[str, int] = {}
    filesystems: dict[str, dict[Labels, int]] = {}
    disk_percent: int | None = None
    cpu: list[tuple[int, SeriesKey, bool]] = []
    rx: list[tuple[int, SeriesKey]] = []
    tx: list[tuple[int, SeriesKey]] = []
    for position, key in enumerate(series):
        name, labels = key
        if name not in _WANTED:
            continue
        if name in _SINGLE:
            single.setdefault(name, position)
        elif name in _FILESYSTEM:
            filesystems.setdefault(name, {})[labels] = position
        elif name == _DISK_PERCENT:
            if disk_percent is None and _label(labels, "mountpoint") == _ROOT:
                disk_percent = position
        elif name == _CPU_SECONDS:
            cpu.append((position, key, _label(labels, "mode") in _IDLE_MODES))
        elif _label(labels, "device") != "lo":
            (rx if name == _RX else tx).append((position, key))

    cpu_percent = single.get(_CPU_PERCENT)
    memory_percent = single.get(_MEMORY_PERCENT)
    # A ready-made gauge makes the raw sources unnecessary: skip them so steady-state scrapes read less.
    if cpu_percent is not None:
        cpu = []
    fs_size, fs_avail, fs_free = (None, None, None)
    if disk_percent is None:
        fs_size, fs_avail, fs_free = _pick_filesystem(filesystems, values)
    counters = [(position, key) for position, key, _ in cpu] + rx + tx
    return SeriesIndex(
        cpu_percent=cpu_percent,
        memory_percent=memory_percent,
        disk_percent=disk_percent,
        memory_available=single.get(_MEM_AVAILABLE) if memory_percent is None else None,
        memory_total=single.get(_MEM_TOTAL) if memory_percent is None else None,
        fs_size=fs_size,
        fs_avail=fs_avail,
        fs_free=fs_free,
        load1=single.get(_LOAD1),
        time=single.get(_TIME),
        boot_time=single.get(_BOOT_TIME),
        counter_positions=tuple(position for position, _ in counters),
        counter_keys=tuple(key for _, key in counters),
        cpu_counters=len(cpu),
        cpu_idle=tuple(i for i, (_, _, idle) in enumerate(cpu) if idle),
        rx_end=len(cpu) + len(rx),
    )


@dataclass(frozen=True, slots=True)
class CounterSnapshot:
    """The counters of one scrape that the next one needs for rates, aligned with ``keys``."""

    time_s: float
    keys: tuple[SeriesKey, ...]
    values: tuple[float, ...]


def _at(values: Sequence[float], position: int | None) -> float | None:
    return None if position is None else values[position]


def _clean(value: float | None) -> float | None:
    """Round for display; drop NaN and infinities, which JSON cannot carry."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, _DIGITS)


def _increases(
    counters: tuple[float, ...], keys: tuple[SeriesKey, ...], previous: CounterSnapshot
) -> list[float | None]:
    """Each counter's increase since ``previous``; None for a series new since then (no rate yet)."""
    before: Sequence[float | None]
    if previous.keys == keys:
        before = previous.values
    else:
        # The series set changed: match the previous values by series, not by position.
        by_key = dict(zip(previous.keys, previous.values, strict=True))
        before = [by_key.get(key) for key in keys]
    return [
        None if old is None else (new - old if new >= old else new)
        for new, old in zip(counters, before, strict=True)
    ]


def _sum(increases: Sequence[float | None]) -> float | None:
    """The sum over the series that have an increase, as ``sum(rate(...))`` skips series without one."""
    known = [increase for increase in increases if increase is not None]
    return math.fsum(known) if known else None


def _cpu_busy_percent(increases: list[float | None], index: SeriesIndex) -> float | None:
    total = _sum(increases[: index.cpu_counters])
    if total is None or total <= 0:
        return None
    idle = _sum([increases[i] for i in index.cpu_idle]) or 0.0
    return max(0.0, min(100.0, (1.0 - idle / total) * 100.0))


def _rate(increases: Sequence[float | None], interval_s: float) -> float | None:
    total = _sum(increases)
    return None if total is None else total / interval_s


def _memory_percent(available: float | None, total: float | None) -> float | None:
    if available is None or total is None or total <= 0:
        return None
    return (1.0 - available / total) * 100.0


def _disk_percent(size: float | None, avail: float | None, free: float | None) -> float | None:
    if size is None or avail is None or size <= 0:
        return None
    if free is None:
        return (1.0 - avail / size) * 100.0
    used = size - free
    capacity = used + avail
    return used / capacity * 100.0 if capacity > 0 else None


def _uptime(now: float | None, boot: float | None) -> float | None:
    if now is None or boot is None or now < boot:
        return None
    return now - boot


def summarize(
    values: Sequence[float], time_s: float, index: SeriesIndex, previous: CounterSnapshot | None
) -> tuple[ServerSummary, CounterSnapshot | None]:
    """The summary of one successful scrape, and the counters the next scrape will need.

    ``previous`` is what the last call returned for this target. A scrape no later than ``previous``
    (a duplicate or out-of-order result) gets no rates and leaves ``previous`` as the baseline.
    """
    counters = tuple([values[position] for position in index.counter_positions])
    snapshot: CounterSnapshot | None = CounterSnapshot(time_s, index.counter_keys, counters)
    cpu = _at(values, index.cpu_percent)
    network_rx = network_tx = None
    if previous is not None and time_s <= previous.time_s:
        snapshot = previous
    elif previous is not None and counters:
        increases = _increases(counters, index.counter_keys, previous)
        interval_s = time_s - previous.time_s
        if cpu is None and index.cpu_counters:
            cpu = _cpu_busy_percent(increases, index)
        network_rx = _rate(increases[index.cpu_counters : index.rx_end], interval_s)
        network_tx = _rate(increases[index.rx_end :], interval_s)
    memory = _at(values, index.memory_percent)
    if memory is None:
        memory = _memory_percent(_at(values, index.memory_available), _at(values, index.memory_total))
    disk = _at(values, index.disk_percent)
    if disk is None:
        disk = _disk_percent(
            _at(values, index.fs_size), _at(values, index.fs_avail), _at(values, index.fs_free)
        )
    summary = ServerSummary(
        cpu=_clean(cpu),
        memory=_clean(memory),
        disk=_clean(disk),
        network_rx=_clean(network_rx),
        network_tx=_clean(network_tx),
        load1=_clean(_at(values, index.load1)),
        uptime_s=_clean(_uptime(_at(values, index.time), _at(values, index.boot_time))),
    )
    return summary, snapshot


class SummaryState:
    """One target's memory between scrapes: the index of its current series set and its last counters."""

    __slots__ = ("_index", "_set_id", "previous")

    def __init__(self) -> None:
        self._index: SeriesIndex | None = None
        self._set_id: str | None = None
        self.previous: CounterSnapshot | None = None
        """The counters of the last summarized scrape."""

    def index_for(self, result: ScrapeResult) -> SeriesIndex:
        """The index of ``result``'s series set, built only when the set id changed."""
        if self._index is None or self._set_id != result.series_set_id:
            self._index = index_series(result.series, result.values)
            self._set_id = result.series_set_id
        return self._index

    def update(self, result: ScrapeResult) -> ServerSummary:
        """Summarize a successful scrape and remember its counters for the next one."""
        summary, self.previous = summarize(
            result.values, result.timestamp_ms / 1000.0, self.index_for(result), self.previous
        )
        return summary


@dataclass(slots=True)
class _Tracked:
    state: SummaryState
    seen_s: float


class Summarizer:
    """The summary state of a fleet: one :class:`SummaryState` per target, by target identity.

    ``keep_s`` bounds the memory: the state of a target not seen for that long (by ``clock``, in seconds;
    checked at most once a minute) is dropped, so a target that went away without :meth:`forget` costs
    nothing for long. A target that comes back after that has no rates on its first scrape, as a new one.
    One task summarizes: the state assumes batches arrive one after another, each target's scrapes in order.
    """

    __slots__ = ("_clock", "_keep_s", "_prune_due_s", "_targets")

    def __init__(self, *, keep_s: float = 86400.0, clock: Callable[[], float] = time.monotonic) -> None:
        if keep_s <= 0:
            raise ValueError(f"keep_s must be positive, got {keep_s!r}")
        self._keep_s = keep_s
        self._clock = clock
        self._targets: dict[str, _Tracked] = {}
        self._prune_due_s = -math.inf

    def summarize(self, results: Sequence[ScrapeResult]) -> dict[str, ServerSummary]:
        """The summaries of a batch by target identity: one per target with a successful result.

        Failed results get none (they only count as the target being seen). When the batch holds several
        results of one target, each is summarized in order, so the rates run from one to the next, and
        the entry is the last successful one's summary.
        """
        now_s = self._clock()
        summaries: dict[str, ServerSummary] = {}
        for result in results:
            identity = result.target.identity
            tracked = self._targets.get(identity)
            if result.up:
                if tracked is None:
                    tracked = self._targets[identity] = _Tracked(SummaryState(), now_s)
                summaries[identity] = tracked.state.update(result)
            if tracked is not None:
                tracked.seen_s = now_s
        self._prune(now_s)
        return summaries

    def forget(self, identities: Iterable[str]) -> None:
        """Drop the state of targets that went away (unknown identities are ignored)."""
        for identity in identities:
            self._targets.pop(identity, None)

    def _prune(self, now_s: float) -> None:
        if now_s < self._prune_due_s:
            return
        self._prune_due_s = now_s + _PRUNE_EVERY_S
        cutoff = now_s - self._keep_s
        for identity in [i for i, tracked in self._targets.items() if tracked.seen_s < cutoff]:
            del self._targets[identity]
