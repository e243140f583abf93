"""Exact samples of the series label matchers select, for the PromQL engine: every sample at its scrape time.

PromQL needs the samples themselves (rate extrapolates from the first and last sample of a window, the
lookback takes the last one before a step), so this reads the two lossless tiers of the history and never a
rollup: the chunks of compacted hours and the raw rows of the hours after them (see
:mod:`collector.storage.history_read` for the tiers). Where both may hold an hour (the hour maintenance is
compacting right now, hours that received late rows) both are read and each timestamp kept once.

Reading stays proportional to the selected series, not to a target's whole scrape: positions of the series
in their series sets are found in SQL, and of each row only the bytes of those positions are read (see
:mod:`collector.storage.sample_rows`). Values are decoded with numpy (:mod:`collector.storage.chunk_arrays`),
one call per column of a chunk, never per sample. The selectors of a query are read together
(:func:`read_samples_many`): three statements on one connection, whatever their number.

Staleness: history stores no staleness markers, but it stores which series each scrape had (its set). A
series that a target's scrape no longer has got a staleness marker in Prometheus at that scrape; so here a
marker is put at the first scrape of the target (any set, a failed scrape's too) after a sample of the
series that does not have it. A target that was not scraped at all (removed, collector stopped) leaves no
rows and so no marker, and its series fade after the lookback, as in Prometheus after a restart.

Matchers are applied in Python with the engine's semantics (:class:`collector.matchers.Matcher`);
SQL only narrows the candidates with the matchers it evaluates the same way or more loosely (equality,
inequality, and regular expressions written in the syntax PostgreSQL and Python read alike).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg
import numpy as np
from numpy.typing import NDArray

from collector.matchers import Matcher
from collector.storage import history_read
from collector.storage.history import ms_to_datetime
from collector.storage.partitions import Connection
from collector.storage.raw_cache import RawCache
from collector.storage.sample_rows import Pieces, SampleLimitError, Spans, read_layouts, read_pieces

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

STALE_NAN_BITS = 0x7FF0000000000002
"""Prometheus's staleness marker: a NaN with this bit pattern (``collector.promql.types`` has the same)."""

_PORTABLE_REGEX = re.compile(r"(?:[^\\{}\[]|\\[^A-Za-z0-9]|\[(?![:=.]))*")
"""Regular expressions PostgreSQL reads as RE2 (Go) does: no class escapes (``\\d``), no braces, no POSIX
classes; ``(?`` other than ``(?:`` is refused apart (see :func:`portable_regex`)."""


MIN_MS = -62_135_596_800_000
"""0001-01-01T00:00:00Z: reads clamp their range to what a datetime holds (Prometheus's bounds do not fit)."""
MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z."""


def clamp_ms(ms: int | None, *, low: bool) -> int:
    """``ms`` within the range a read can use; None is the lowest or highest time, as ``low`` says."""
    if ms is None:
        return MIN_MS if low else MAX_MS
    return min(max(ms, MIN_MS), MAX_MS)


def portable_regex(pattern: str) -> bool:
    """Whether PostgreSQL's regular expressions match ``pattern`` as the matchers' RE2 does, or more loosely.

    The languages of such patterns are the same in both engines, anchored at both ends, ``.`` matching a
    newline in both.
    """
    if "(?" in pattern.replace("(?:", ""):
        return False
    return _PORTABLE_REGEX.fullmatch(pattern) is not None


def sql_prefilter(matchers: Iterable[Matcher]) -> list[Matcher]:
    """The matchers SQL can apply without dropping a series that the full matchers would keep."""
    pushed: list[Matcher] = []
    for m in matchers:
        if m.op in ("=", "!=") or (m.op == "=~" and portable_regex(m.value)):
            pushed.append(m)
    return pushed


@dataclass(frozen=True, slots=True)
class SelectedSeries:
    """One stored series: its id, the server whose scrapes hold it, its metric name and labels."""

    series_id: int
    server_id: UUID
    metric: str
    labels: dict[str, str]

    def all_labels(self) -> dict[str, str]:
        """The labels with the metric name as ``__name__``."""
        return {**self.labels, "__name__": self.metric}


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


def _server_filter(servers: Collection[UUID] | None) -> list[UUID] | None:
    return None if servers is None else list(servers)


@dataclass
class Candidates:
    """What :func:`select_series` found: each selector's series, the compaction watermark, the dirty hours."""

    selected: list[list[SelectedSeries]]
    compacted_until: datetime
    dirty: list[tuple[UUID, datetime]]
    """The (server, hour) pairs of ``history_dirty`` in the span asked for."""


async def select_series(
    conn: Connection,
    selectors: Sequence[Sequence[Matcher]],
    *,
    servers: Collection[UUID] | None,
    limit: int,
    span: tuple[datetime, datetime],
) -> Candidates:
    """For each matcher list of ``selectors``, the stored series of ``servers`` (None: all) it selects, by id;
    and, in the same statement, the compaction watermark and the dirty hours within ``span``.

    Raises :class:`SampleLimitError` when a selector has more than ``limit`` candidates.
    """
    pushed = [sql_prefilter(matchers) for matchers in selectors]
    try:
        rows = await _candidates(conn, pushed, servers, limit, span)
    except asyncpg.InvalidRegularExpressionError:
        # A pattern Python accepts but PostgreSQL does not: narrow by the exact matchers only.
        exact = [[m for m in matchers if m.op in ("=", "!=")] for matchers in pushed]
        rows = await _candidates(conn, exact, servers, limit, span)
    found = Candidates([[] for _ in selectors], datetime.min, [])
    counts = [0] * len(selectors)
    for row in sorted(rows, key=lambda row: (row["k"], row["id"] or 0)):
        k = row["k"]
        if k == _WATERMARK:
            found.compacted_until = row["at"]
            continue
        if k == _DIRTY:
            found.dirty.append((row["server_id"], row["at"]))
            continue
        counts[k] += 1
        if counts[k] > limit:
            raise SampleLimitError(f"the selectors match more than {limit} series")
        item = SelectedSeries(row["id"], row["server_id"], row["metric"], json.loads(row["labels"]))
        if all(m.matches(item.all_labels()) for m in selectors[k]):
            found.selected[k].append(item)
    return found


_WATERMARK = -2
"""The ``k`` of the watermark's row in :func:`_candidates`' answer (a selector's rows have its index)."""
_DIRTY = -1
"""The ``k`` of a dirty hour's row."""


async def _candidates(
    conn: Connection,
    pushed: Sequence[Sequence[Matcher]],
    servers: Collection[UUID] | None,
    limit: int,
    span: tuple[datetime, datetime],
) -> list[asyncpg.Record]:
    branches = [
        """SELECT -2 AS k, NULL::bigint AS id, NULL::uuid AS server_id, NULL::text AS metric,
                   NULL::jsonb AS labels, compacted_until AS at FROM history_state""",
        """SELECT -1, NULL, server_id, NULL, NULL, hour FROM history_dirty
            WHERE hour >= $3 AND hour <= $4 AND ($2::uuid[] IS NULL OR server_id = ANY($2::uuid[]))""",
    ]
    first_hour = span[0].replace(minute=0, second=0, microsecond=0)
    params: list[object] = [limit + 1, _server_filter(servers), first_hour, span[1]]
    for k, matchers in enumerate(pushed):
        where, values = "true", list[str]()
        if matchers:
            where, values = history_read.matchers_sql(matchers, first_param=len(params) + 1)
        params.extend(values)
        branches.append(
            f"""(SELECT {k}, s.id, s.server_id, s.metric, s.labels, NULL FROM series s
                 WHERE ($2::uuid[] IS NULL OR s.server_id = ANY($2::uuid[])) AND {where}
                 ORDER BY s.id LIMIT $1)"""  # noqa: S608 - conditions are built from constants, values are parameters
        )
    return list(await conn.fetch("\nUNION ALL\n".join(branches), *params))


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
    spans = Spans.of(start, end, found.compacted_until, found.dirty)
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
        span = (
            ms_to_datetime(min(s.start_ms for s in clamped)),
            ms_to_datetime(max(s.end_ms for s in clamped)),
        )
        found = await select_series(
            conn, [s.matchers for s in clamped], servers=servers, limit=max_samples, span=span
        )
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
