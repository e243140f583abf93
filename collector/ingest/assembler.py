"""Pushed samples gathered back into scrapes: one :class:`ScrapeResult` per server and timestamp.

History stores a scrape as one row per server and time (its values against the server's series set), and
live state keeps each target's latest scrape whole. Remote-write senders cut a scrape into batches, spread
over shards and requests, so the samples of one server at one timestamp are gathered here first (a
*group*) and handed to the result queue, like a scrape, once the group is whole:

* **complete**: it has a sample of every series of the server's current set (the previous group's series,
  less those that ended with a staleness marker) and no sample came for ``settle_s``: in steady state a
  group goes as soon as it is whole, plus the settle time that lets a scrape's new series catch up;
* **waited**: no sample came for ``wait_s`` (a server's first group, a set that shrank without markers,
  or a scrape whose tail a sender holds back until its batch deadline, 5 s in Prometheus);
* **overtaken**: a newer group of the server goes, or the server has more than ``max_pending`` groups.

Groups of a server go in timestamp order, so live state never steps back. A sample for a server and
timestamp older than or equal to the server's last group handed on is **late**: it is dropped and
counted, since its row is written (history keeps one row per server and time) — with Prometheus as the
sender this happens only when a scrape's tail arrives more than ``wait_s`` after its head.

A group whose ``up`` sample is 0 is a failed scrape (the sender could not reach the target): its result
carries an error, so the server shows down and the ``down`` alert rule fires as for a scraped target.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from collector.ingest.series import SeriesTable
from collector.ingest.targets import RegisteredAddress, pushed_target
from collector.result import ScrapeResult, SeriesKey, TargetInfo
from collector.scrape.loop import series_set_id

STALE_NAN_BITS: Final = 0x7FF0000000000002
"""Prometheus's staleness marker, a NaN with this bit pattern."""
REMOTE_DOWN: Final = "remote_down"
"""The error reason of a group whose ``up`` is 0."""
_NEVER: Final = -(2**63)


@dataclass(frozen=True)
class AssemblerOptions:
    """When a group is handed on (see the module documentation)."""

    settle_s: float = 1.0
    wait_s: float = 10.0
    max_pending: int = 32


@dataclass(eq=False)
class _Group:
    ts_ms: int
    values: npt.NDArray[np.float64]
    filled: npt.NDArray[np.bool_]
    touched_s: float
    count: int = 0
    extras: dict[int, float] = field(default_factory=dict)
    """Samples of series outside the server's current set, by series id, in arrival order."""


@dataclass(eq=False)
class _Server:
    job: str
    instance: str
    info: TargetInfo
    sids: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    series: tuple[SeriesKey, ...] = ()
    set_id: str = ""
    pending: dict[int, _Group] = field(default_factory=dict)
    last_ms: int = _NEVER
    marks: tuple[str, tuple[int | None, ...]] = ("", ())
    """A set id and the positions of ``up``, ``scrape_duration_seconds`` and ``scrape_samples_scraped``."""


class Assembler:
    """Gathers admitted samples into groups and hands whole groups to ``put`` as scrape results."""

    def __init__(
        self,
        table: SeriesTable,
        put: Callable[[ScrapeResult], None],
        options: AssemblerOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._put = put
        self.options = options or AssemblerOptions()
        self._clock = clock
        self._servers: list[_Server] = []
        self._slots: dict[tuple[str, str], int] = {}
        self._registered: Mapping[str, RegisteredAddress] = {}
        self._pos: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._active: set[int] = set()
        self.late_samples = 0
        """Samples dropped because their server's row for their timestamp was already handed on."""
        self.results = 0
        """Results handed on."""

    @property
    def pending_groups(self) -> int:
        """Groups waiting to be handed on."""
        return sum(len(self._servers[slot].pending) for slot in self._active)

    def slot(self, series: SeriesKey) -> int:
        """The server slot of a series, from its ``job`` and ``instance`` labels (made on first sight)."""
        labels = dict(series[1])
        key = (labels.get("job", ""), labels.get("instance", ""))
        found = self._slots.get(key)
        if found is None:
            found = self._slots[key] = len(self._servers)
            self._servers.append(_Server(key[0], key[1], pushed_target(key[0], key[1], self._registered)))
        return found

    def set_registered(self, registered: Mapping[str, RegisteredAddress]) -> None:
        """Take the servers registered through the API into account for servers seen from now on and since."""
        if registered == self._registered:
            return
        self._registered = registered
        for server in self._servers:
            server.info = pushed_target(server.job, server.instance, registered)

    def add(
        self,
        sids: npt.NDArray[np.int64],
        timestamps_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> int:
        """Put admitted samples into their groups; the count of late samples dropped."""
        if len(sids) == 0:
            return 0
        if len(self._pos) < self._table.capacity:
            grow = max(self._table.capacity, 2 * len(self._pos), 1024) - len(self._pos)
            self._pos = np.concatenate([self._pos, np.full(grow, -1, dtype=np.int64)])
        slots = self._table.server_of[sids]
        order = np.lexsort((timestamps_ms, slots))
        s_sids, s_ts, s_vals, s_slots = sids[order], timestamps_ms[order], values[order], slots[order]
        cuts = np.flatnonzero((s_slots[1:] != s_slots[:-1]) | (s_ts[1:] != s_ts[:-1])) + 1
        bounds = [0, *cuts.tolist(), len(s_sids)]
        now = self._clock()
        late = 0
        for a, b in itertools.pairwise(bounds):
            slot, ts_ms = int(s_slots[a]), int(s_ts[a])
            server = self._servers[slot]
            if ts_ms <= server.last_ms:
                late += b - a
                continue
            group = server.pending.get(ts_ms)
            if group is None:
                size = len(server.sids)
                group = server.pending[ts_ms] = _Group(
                    ts_ms, np.zeros(size, dtype=np.float64), np.zeros(size, dtype=np.bool_), now
                )
            self._fill(group, s_sids[a:b], s_vals[a:b])
            group.touched_s = now
            self._active.add(slot)
        self.late_samples += late
        return late

    def _fill(self, group: _Group, sids: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        pos = self._pos[sids]
        inside = pos >= 0
        at = pos[inside]
        group.count += int(np.count_nonzero(~group.filled[at]))
        group.filled[at] = True
        group.values[at] = values[inside]
        if not inside.all():
            outside = ~inside
            group.extras.update(zip(sids[outside].tolist(), values[outside].tolist(), strict=True))

    def in_use(self) -> npt.NDArray[np.bool_]:
        """By series id: whether a current set or a pending group holds the series (not to be forgotten)."""
        used = self._pos >= 0
        for slot in self._active:
            for group in self._servers[slot].pending.values():
                used[list(group.extras)] = True
        return used

    def emit_due(self) -> int:
        """Hand on every group that is due (see the module documentation); how many went."""
        now = self._clock()
        options = self.options
        emitted = 0
        for slot in list(self._active):
            server = self._servers[slot]
            stamps = sorted(server.pending)
            upto = _NEVER
            whole = len(server.sids)
            for ts_ms in stamps:
                group = server.pending[ts_ms]
                quiet_s = now - group.touched_s
                if quiet_s >= options.wait_s or (
                    whole and group.count == whole and quiet_s >= options.settle_s
                ):
                    upto = ts_ms
            if len(stamps) > options.max_pending:
                upto = max(upto, stamps[len(stamps) - options.max_pending - 1])
            for ts_ms in stamps:
                if ts_ms > upto:
                    break
                self._emit(server, server.pending.pop(ts_ms))
                emitted += 1
            if not server.pending:
                self._active.discard(slot)
        return emitted

    def flush(self) -> int:
        """Hand on every pending group, whole or not (at shutdown); how many went."""
        emitted = 0
        for slot in list(self._active):
            server = self._servers[slot]
            for ts_ms in sorted(server.pending):
                self._emit(server, server.pending.pop(ts_ms))
                emitted += 1
            self._active.discard(slot)
        return emitted

    def _emit(self, server: _Server, group: _Group) -> None:
        if group.count == len(server.sids) and not group.extras:
            sids, series, set_id, values = server.sids, server.series, server.set_id, group.values
        else:
            sids, values = self._samples_of(server, group)
            table = self._table.series
            series = tuple(table[sid] for sid in sids.tolist())
            set_id = series_set_id(series)
        if server.marks[0] != set_id:
            server.marks = (set_id, mark_positions(series))
        self._put(scrape_result(server.info, group.ts_ms, series, set_id, values.tolist(), server.marks[1]))
        self.results += 1
        server.last_ms = group.ts_ms
        stale = values.view(np.uint64) == STALE_NAN_BITS
        if stale.any():
            sids = sids[~stale]
            series = tuple(s for s, gone in zip(series, stale.tolist(), strict=True) if not gone)
            set_id = series_set_id(series)
        if set_id != server.set_id:
            self._adopt(server, sids, series, set_id)

    def _adopt(
        self, server: _Server, sids: npt.NDArray[np.int64], series: tuple[SeriesKey, ...], set_id: str
    ) -> None:
        """Make ``sids`` the server's current set; regroup its pending groups against it."""
        held = [self._samples_of(server, group) for group in server.pending.values()]
        self._pos[server.sids] = -1
        self._pos[sids] = np.arange(len(sids))
        server.sids, server.series, server.set_id = sids, series, set_id
        for group, (group_sids, group_values) in zip(server.pending.values(), held, strict=True):
            group.values = np.zeros(len(sids), dtype=np.float64)
            group.filled = np.zeros(len(sids), dtype=np.bool_)
            group.count = 0
            group.extras = {}
            self._fill(group, group_sids, group_values)

    @staticmethod
    def _samples_of(server: _Server, group: _Group) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        extras_sids = np.fromiter(group.extras, dtype=np.int64, count=len(group.extras))
        extras_values = np.fromiter(group.extras.values(), dtype=np.float64, count=len(group.extras))
        return (
            np.concatenate([server.sids[group.filled], extras_sids]),
            np.concatenate([group.values[group.filled], extras_values]),
        )


_MARKS: Final = ("up", "scrape_duration_seconds", "scrape_samples_scraped")


def mark_positions(series: tuple[SeriesKey, ...]) -> tuple[int | None, ...]:
    """The positions of the first ``up``, ``scrape_duration_seconds`` and ``scrape_samples_scraped``."""
    found: dict[str, int] = {}
    for i, (metric, _) in enumerate(series):
        if metric in _MARKS and metric not in found:
            found[metric] = i
    return tuple(found.get(name) for name in _MARKS)


def scrape_result(  # noqa: PLR0917 - the parts of a result, in its order
    info: TargetInfo,
    ts_ms: int,
    series: tuple[SeriesKey, ...],
    set_id: str,
    values: list[float],
    marks: tuple[int | None, ...] | None = None,
) -> ScrapeResult:
    """The scrape result of pushed or imported samples of one server at one time.

    ``marks`` are :func:`mark_positions` of ``series`` (computed when not given): ``up`` 0 makes a failed
    scrape, and the sender's ``scrape_duration_seconds`` and ``scrape_samples_scraped`` are kept.
    """
    if marks is None:
        marks = mark_positions(series)
    up, duration, scraped = (values[i] if i is not None else None for i in marks)
    failed = up == 0.0
    return ScrapeResult(
        target=info,
        timestamp_ms=ts_ms,
        duration_s=duration if duration is not None and math.isfinite(duration) else 0.0,
        error="the remote-write sender reports the scrape failed (up is 0)" if failed else None,
        error_reason=REMOTE_DOWN if failed else None,
        series=series,
        series_set_id=set_id,
        values=values,
        samples_scraped=int(scraped) if scraped is not None and math.isfinite(scraped) else len(values),
    )
