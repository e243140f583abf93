"""Exact samples of the series label matchers select, for the PromQL engine: every sample at its scrape time.

PromQL needs the samples themselves (rate extrapolates from the first and last sample of a window, the
lookback takes the last one before a step), so this reads the two lossless tiers of the history and never a
rollup: the chunks of the hours compacted whole (before ``history_state.chunked_until``) and the raw rows
of the hours after them, the hour maintenance may be compacting right now included (see
:mod:`collector.storage.history_read` for the tiers). Where both hold an hour (hours that received late
rows after their compaction) both are read and each timestamp kept once.

Reading stays proportional to the selected series, not to a target's whole scrape: positions of the series
in their series sets are found in SQL, and of each row only the bytes of those positions are read (see
:mod:`collector.storage.sample_rows`). Values are decoded with numpy (:mod:`collector.storage.chunk_arrays`),
one call per column of a chunk, never per sample. The selectors of a query are read together
(:func:`read_samples_many`): two statements on one connection, whatever their number (the series with
their layouts, :mod:`collector.storage.series_select`, then their bytes).

Staleness: history stores no staleness markers, but it stores which series each scrape had (its set). A
series that a target's scrape no longer has got a staleness marker in Prometheus at that scrape; so here a
marker is put at the first scrape of the target (any set, a failed scrape's too) after a sample of the
series that does not have it. A target that was not scraped at all (removed, collector stopped) leaves no
rows and so no marker, and its series fade after the lookback, as in Prometheus after a restart.

Matchers are applied in Python with the engine's semantics (:class:`collector.matchers.Matcher`);
SQL only narrows the candidates (see :mod:`collector.storage.series_select`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
import numpy as np
from numpy.typing import NDArray

from collector.matchers import Matcher
from collector.storage.history import ms_to_datetime
from collector.storage.partitions import Connection
from collector.storage.raw_cache import RawCache
from collector.storage.sample_rows import Pieces, Spans, read_layouts, read_pieces
from collector.storage.series_select import (
    Candidates,
    SelectedSeries,
    remember_watermark,
    select_series,
    watermark_hint,
)

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

STALE_NAN_BITS = 0x7FF0000000000002
"""Prometheus's staleness marker: a NaN with this bit pattern (``collector.promql.types`` has the same)."""

GENERIC_PLANS = "SET plan_cache_mode = force_generic_plan"
"""Sent first on a read's connection: its statements are planned once per connection, not per execution.

PostgreSQL plans a prepared statement anew at each execution (a custom plan) while that looks cheaper than
its generic plan, which it does for ours: a generic plan cannot prune the time partitions while planning.
But it prunes them when execution starts, and planning the custom plan cost a read about as much as
running it (0.9 ms of 2.6 in ``bench_promql``'s one-series hour). The setting lasts until the connection
goes back to the pool, whose reset (asyncpg's default, ``RESET ALL``) restores it for other statements.
"""

MIN_MS = -62_135_596_800_000
"""0001-01-01T00:00:00Z: reads clamp their range to what a datetime holds (Prometheus's bounds do not fit)."""
MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z."""


def clamp_ms(ms: int | None, *, low: bool) -> int:
    """``ms`` within the range a read can use; None is the lowest or highest time, as ``low`` says."""
    if ms is None:
        return MIN_MS if low else MAX_MS
    return min(max(ms, MIN_MS), MAX_MS)


@dataclass(frozen=True, slots=True)
class SeriesSamples:
    """A series and its samples in time order (staleness markers included)."""

    series: SelectedSeries
    ts: Ints
    values: Floats


@dataclass
class SampleRead:
    """What :func:`read_samples` found: the series with samples, and each server's last scrape read."""

    series: list[SeriesSamples]
    selected: list[SelectedSeries] = field(default_factory=list)
    """Every series the matchers selected, with samples in the range or not."""
    last_scrape_ms: dict[UUID, int] = field(default_factory=dict)
    """Per server, the time of its last row in the range (any set): the live layer may hold a later one."""


def with_staleness(ts: Ints, values: Floats, scrapes: Ints) -> tuple[Ints, Floats]:
    """A series' samples plus a staleness marker at each scrape (of ``scrapes``) right after one it missed.

    ``ts`` must be sorted and a subset of the sorted, unique ``scrapes``.
    """
    if len(ts) == 0:
        return ts, values
    index = np.searchsorted(scrapes, ts)
    after = index + 1
    missed = np.append(np.diff(index) > 1, after[-1] < len(scrapes))
    marks = scrapes[after[missed]]
    if len(marks) == 0:
        return ts, values
    stale = np.full(len(marks), STALE_NAN_BITS, dtype=np.uint64).view(np.float64)
    merged_ts = np.concatenate([ts, marks])
    order = np.argsort(merged_ts, kind="stable")
    return merged_ts[order], np.concatenate([values, stale])[order]


def _merge(pieces: list[tuple[Ints, Floats]]) -> tuple[Ints, Floats]:
    if len(pieces) == 1:
        return pieces[0]
    ts = np.concatenate([p[0] for p in pieces])
    values = np.concatenate([p[1] for p in pieces])
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    # The same scrape read from a chunk and from its raw row: keep it once.
    keep = np.append(True, np.diff(ts) > 0)
    return ts[keep], values[keep]


def _sorted_unique(parts: list[Ints]) -> Ints:
    # Rows come in no promised order (the statement is a UNION ALL of tiers): sort whatever the parts.
    ts = np.sort(np.concatenate(parts))
    if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        ts = ts[np.append(True, np.diff(ts) > 0)]
    return ts


@dataclass(frozen=True, slots=True)
class Selection:
    """One read of :func:`read_samples_many`: matchers and an inclusive range in milliseconds."""

    matchers: Sequence[Matcher]
    start_ms: int
    end_ms: int


@dataclass
class _Group:
    """Selections whose ranges overlap, read as one range: each series once, each row once."""

    start_ms: int
    end_ms: int
    members: list[int] = field(default_factory=list)
    samples: dict[int, tuple[Ints, Floats]] = field(default_factory=dict)
    scrapes: dict[UUID, Ints] = field(default_factory=dict)


def _groups(selections: Sequence[Selection]) -> list[_Group]:
    order = sorted(range(len(selections)), key=lambda i: selections[i].start_ms)
    groups: list[_Group] = []
    for i in order:
        sel = selections[i]
        if groups and sel.start_ms <= groups[-1].end_ms:
            groups[-1].end_ms = max(groups[-1].end_ms, sel.end_ms)
        else:
            groups.append(_Group(sel.start_ms, sel.end_ms))
        groups[-1].members.append(i)
    return groups


async def _read_group(
    conn: Connection,
    group: _Group,
    series: list[SelectedSeries],
    found: Candidates,
    budget: int,
    *,
    raw_cache: RawCache | None,
) -> int:
    """Read ``series`` over the group's range into it; returns the samples held."""
    pieces = Pieces(group.start_ms, group.end_ms, budget)
    start, end = ms_to_datetime(group.start_ms), ms_to_datetime(group.end_ms)
    spans = Spans.of(start, end, found.chunked_until, found.dirty)
    layouts = found.layouts_of({s.series_id for s in series})
    if layouts is None:
        layouts = await read_layouts(conn, [(s.series_id, s.server_id) for s in series], spans)
    if layouts:
        await read_pieces(conn, layouts, spans, pieces, raw_cache)
    group.scrapes = {server_id: _sorted_unique(parts) for server_id, parts in pieces.timeline.items()}
    group.samples = {series_id: _merge(parts) for series_id, parts in pieces.samples.items()}
    return pieces.held


def _cut(ts: Ints, start_ms: int, end_ms: int) -> slice:
    return slice(int(np.searchsorted(ts, start_ms, "left")), int(np.searchsorted(ts, end_ms, "right")))


def _sample_read(group: _Group, selection: Selection, selected: list[SelectedSeries]) -> SampleRead:
    """One selection's answer from its group's rows: samples, markers and last scrapes within its range."""
    start_ms, end_ms = selection.start_ms, selection.end_ms
    scrapes: dict[UUID, Ints] = {}
    for server_id in {item.server_id for item in selected}:
        timeline = group.scrapes.get(server_id)
        if timeline is not None:
            scrapes[server_id] = timeline[_cut(timeline, start_ms, end_ms)]
    found = []
    for item in selected:
        samples = group.samples.get(item.series_id)
        if samples is None:
            continue
        inside = _cut(samples[0], start_ms, end_ms)
        if inside.stop > inside.start:
            ts, values = with_staleness(samples[0][inside], samples[1][inside], scrapes[item.server_id])
            found.append(SeriesSamples(item, ts, values))
    last = {server_id: int(timeline[-1]) for server_id, timeline in scrapes.items() if len(timeline)}
    return SampleRead(found, selected, last)


async def read_samples_many(
    pool: asyncpg.Pool,
    selections: Sequence[Selection],
    *,
    servers: Collection[UUID] | None = None,
    max_samples: int = 50_000_000,
    raw_cache: RawCache | None = None,
) -> list[SampleRead]:
    """What :func:`read_samples` answers for each selection, read together on one connection.

    Selections whose ranges overlap are read as one range (their union), so a query's selectors cost three
    statements whatever their number: the candidate series of all (with the compaction watermark), where the
    selected series sit in the series sets, and their rows. ``max_samples`` bounds the series of each
    selection and the samples of all. ``raw_cache`` keeps the raw-row columns read for the next reads of
    the same database (None: every row is read whole).
    """
    clamped = [
        Selection(s.matchers, clamp_ms(s.start_ms, low=True), clamp_ms(s.end_ms, low=False))
        for s in selections
    ]
    reads = [SampleRead([]) for _ in clamped]
    if not clamped:
        return reads
    async with pool.acquire() as conn:
        await conn.execute(GENERIC_PLANS)
        span = (
            ms_to_datetime(min(s.start_ms for s in clamped)),
            ms_to_datetime(max(s.end_ms for s in clamped)),
        )
        found = await select_series(
            conn,
            [s.matchers for s in clamped],
            servers=servers,
            limit=max_samples,
            span=span,
            hint=watermark_hint(pool),
        )
        remember_watermark(pool, found.chunked_until)
        budget = max_samples
        for group in _groups(clamped):
            series = {item.series_id: item for i in group.members for item in found.selected[i]}
            if not series:
                continue
            members = list(series.values())
            budget -= await _read_group(conn, group, members, found, budget, raw_cache=raw_cache)
            for i in group.members:
                if found.selected[i]:
                    reads[i] = _sample_read(group, clamped[i], found.selected[i])
    return reads


async def read_samples(
    pool: asyncpg.Pool,
    matchers: Sequence[Matcher],
    start_ms: int,
    end_ms: int,
    *,
    servers: Collection[UUID] | None = None,
    max_samples: int = 50_000_000,
) -> SampleRead:
    """The samples in ``[start_ms, end_ms]`` of every series of ``servers`` (None: all) ``matchers`` select.

    Series without a sample in the range are left out; staleness markers are added as the module docstring
    says. Raises :class:`SampleLimitError` when the series or their samples pass ``max_samples``.
    """
    selection = Selection(matchers, start_ms, end_ms)
    (read,) = await read_samples_many(pool, [selection], servers=servers, max_samples=max_samples)
    return read
