"""The rows behind :mod:`collector.storage.samples_read`: which series sets a range uses, where the selected
series sit in them, and the bytes of those series in chunk rows and raw rows, in two statements.

A range reads three tiers (`Spans`): chunks by their start hour, raw rows, and the raw rows of the dirty
hours inside the chunk span (late rows for compacted hours). The first statement (:func:`read_layouts`) finds
the series sets the range's rows use (a target whose series change often makes many sets; looking only at
the ones the range uses keeps a query's cost with its range) and the positions of the selected series in
them. The second (:func:`read_pieces`) reads every tier at once (``UNION ALL``): of a chunk row only the
span of the selected columns, of a raw row only the byte runs of the selected positions (consecutive
positions in one run, runs stitched with ``string_agg``), the raw rows of a set gathered into one. Both
statements have a fixed text, so each
connection prepares them once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from collector.storage.column_cache import COLUMNS
from collector.storage.history import datetime_to_ms, ms_to_datetime
from collector.storage.partitions import Connection
from collector.storage.raw_cache import Key, RawCache, RawColumns

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

RUN_GAP = 16
"""Selected positions of a set closer than this are read as one run (the values between cost 8 bytes each)."""
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)
"""PostgreSQL's time resolution: a chunk starting at the watermark is not before it."""
_EMPTY = (_NEVER, _NEVER - timedelta(seconds=1))
"""A span no row is in: the statements take every tier's bounds, an unused tier gets this one."""


class SampleLimitError(Exception):
    """A read would hold more samples than the caller's budget."""


@dataclass(frozen=True)
class Spans:
    """What a range reads: chunks by start hour and raw rows (None: that tier is not read), and the
    (server, hour) pairs of dirty hours in the chunk span, whose raw rows are read too."""

    chunks: tuple[datetime, datetime] | None
    raw: tuple[datetime, datetime] | None
    dirty: tuple[tuple[UUID, datetime], ...] = ()

    @classmethod
    def of(
        cls,
        start: datetime,
        end: datetime,
        chunked_until: datetime,
        dirty: Iterable[tuple[UUID, datetime]] = (),
    ) -> Spans:
        """The spans of ``[start, end]`` with every hour before ``chunked_until`` whole in chunks; ``dirty``
        lists the (server, hour) pairs of ``history_dirty`` (those outside the chunk span are left out).

        Each hour is read from one tier: chunks before the watermark, raw rows from it on (the hour at it
        may be mid-compaction, its chunks not all written yet).
        """
        raw_from = max(start, chunked_until)
        raw = (raw_from, end) if raw_from <= end else None
        if start >= chunked_until:
            return cls(None, raw)
        first_hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        last_chunk = min(end, chunked_until - _TICK)
        hours = tuple(sorted((s, h) for s, h in dirty if first_hour <= h <= last_chunk))
        return cls((first_hour, last_chunk), raw, hours)

    def params(self) -> list[object]:
        """``$2``-``$5`` of the statements (the chunk and raw bounds), then ``$6`` and ``$7`` (the dirty
        servers and hours) when there are dirty hours."""
        bounds: list[object] = [*(self.chunks or _EMPTY), *(self.raw or _EMPTY)]
        if self.dirty:
            bounds += [[s for s, _ in self.dirty], [h for _, h in self.dirty]]
        return bounds


@dataclass(frozen=True)
class _Statements:
    """The statements' texts, without or with the branches of dirty hours (their usual absence keeps the
    plans small: a join on raw rows by hour cannot prune the hourly partitions when planning)."""

    active: str
    layout: str
    pieces: str


_DIRTY = """dirty AS (SELECT * FROM unnest($6::uuid[], $7::timestamptz[]) AS d(server_id, hour)
                 WHERE d.server_id = ANY($1::uuid[])),"""
_DIRTY_SETS = """UNION
           SELECT r.series_set_id FROM dirty d
           JOIN history_raw r
             ON r.server_id = d.server_id AND r.ts >= d.hour AND r.ts < d.hour + interval '1 hour'"""
_DIRTY_ROWS = """UNION ALL
        SELECT r.server_id, r.ts, r.series_set_id, r.vals FROM dirty d
        JOIN history_raw r
          ON r.server_id = d.server_id AND r.ts >= d.hour AND r.ts <= d.hour + interval '1 hour'"""


def _statements(dirty: bool) -> _Statements:
    n = 8 if dirty else 6
    tiers = _DIRTY if dirty else ""
    active = f"""
active AS (SELECT series_set_id AS id FROM history_chunks
           WHERE server_id = ANY($1::uuid[]) AND start_ts >= $2 AND start_ts <= $3
           UNION
           SELECT series_set_id FROM history_raw WHERE server_id = ANY($1::uuid[]) AND ts >= $4 AND ts <= $5
           {_DIRTY_SETS if dirty else ""})"""  # noqa: S608 - constants only
    layout = f"""
WITH {tiers} {active}
SELECT ss.id AS set_id, ss.server_id, p.series_id, p.pos::int AS pos
FROM series_sets ss
CROSS JOIN LATERAL unnest(ss.series_ids) WITH ORDINALITY AS p(series_id, pos)
JOIN unnest(${n}::bigint[], ${n + 1}::uuid[]) AS w(id, server_id)
  ON w.id = p.series_id AND w.server_id = ss.server_id
WHERE ss.id IN (SELECT id FROM active)
ORDER BY ss.id, p.pos"""  # noqa: S608 - constants only
    # Raw rows of a set with one run take its bytes by the set's index in the single-run arrays (no join, no
    # grouping: several times cheaper per row); sets with several runs stitch them with string_agg. Then the
    # raw rows of each set come as one row (their times in order, their bytes one after the other), so
    # Python handles a row per set rather than one per scrape.
    # The raw rows whose columns the process holds already (`collector.storage.raw_cache`: a set's rows from
    # ``lo`` to ``hi`` in ``held``) are left out, their bytes neither decompressed nor sent; instead each held
    # set gets a row with the number of its rows in that stretch (``n_points``, ``server_id`` NULL), so that
    # Python sees whether a row came late into it.
    pieces = f"""
WITH {tiers}
runs AS (SELECT * FROM unnest(${n}::bigint[], ${n + 1}::int[], ${n + 2}::int[]) AS u(set_id, first, last)),
held AS (SELECT * FROM unnest(${n + 7}::bigint[], ${n + 8}::timestamptz[], ${n + 9}::timestamptz[])
         AS h(set_id, lo, hi)),
raw_rows AS (SELECT r.server_id, r.ts, r.series_set_id, r.vals FROM history_raw r
             WHERE r.server_id = ANY($1::uuid[]) AND r.ts >= $4 AND r.ts <= $5
             {_DIRTY_ROWS if dirty else ""}),
raw AS (SELECT r.server_id, r.ts, r.series_set_id, r.vals FROM raw_rows r
        WHERE NOT EXISTS (SELECT FROM held h
                          WHERE h.set_id = r.series_set_id AND r.ts BETWEEN h.lo AND h.hi)),
raw_pieces AS (
  SELECT r.server_id, r.series_set_id, r.ts,
         substring(r.vals FROM 8 * (${n + 4}::int[])[p.i] - 7
                   FOR 8 * ((${n + 5}::int[])[p.i] - (${n + 4}::int[])[p.i] + 1)) AS v
  FROM raw r CROSS JOIN LATERAL (SELECT array_position(${n + 3}::bigint[], r.series_set_id) AS i) p
  WHERE r.series_set_id <> ALL(${n + 6}::bigint[])
  UNION ALL
  SELECT r.server_id, r.series_set_id, r.ts,
         string_agg(substring(r.vals FROM 8 * (u.first - 1) + 1 FOR 8 * (u.last - u.first + 1)), ''::bytea
                    ORDER BY u.first)
  FROM raw r JOIN runs u ON u.set_id = r.series_set_id
  WHERE r.series_set_id = ANY(${n + 6}::bigint[])
  GROUP BY r.server_id, r.ts, r.series_set_id),
raw_ms AS (SELECT server_id, series_set_id, ts, (extract(epoch FROM ts) * 1000)::int8 AS ms, v
           FROM raw_pieces)
SELECT c.server_id, c.series_set_id, NULL::int8[] AS ts_ms, NULL::int8[] AS read_ms, NULL::bytea AS v,
       c.n_points, c.timestamps, u.first, c.offsets[u.first:u.last + 1] AS offs,
       substring(c.payload FROM c.offsets[u.first] + 1 FOR c.offsets[u.last + 1] - c.offsets[u.first]) AS span
FROM history_chunks c LEFT JOIN runs u ON u.set_id = c.series_set_id
WHERE c.server_id = ANY($1::uuid[]) AND c.start_ts >= $2 AND c.start_ts <= $3
UNION ALL
SELECT server_id, series_set_id, array_agg(ms ORDER BY ts),
       array_agg(ms ORDER BY ts) FILTER (WHERE v IS NOT NULL), string_agg(v, ''::bytea ORDER BY ts),
       NULL, NULL, NULL, NULL, NULL
FROM raw_ms
GROUP BY server_id, series_set_id
UNION ALL
SELECT NULL, h.set_id, NULL, NULL, NULL, count(r.ts)::int, NULL, NULL, NULL, NULL
FROM held h LEFT JOIN raw_rows r ON r.series_set_id = h.set_id AND r.ts BETWEEN h.lo AND h.hi
GROUP BY h.set_id"""  # noqa: S608 - constants only
    return _Statements(f"WITH {tiers} {active} SELECT id FROM active", layout, pieces)  # noqa: S608


_SQL = {dirty: _statements(dirty) for dirty in (False, True)}


async def active_sets(conn: Connection, servers: Sequence[UUID], spans: Spans) -> list[int]:
    """The series sets the rows of ``servers`` use in ``spans``."""
    sql = _SQL[bool(spans.dirty)].active
    return [row["id"] for row in await conn.fetch(sql, list(servers), *spans.params())]


@dataclass
class SetLayout:
    """Where the selected series sit in one series set: 1-based positions in order, and their runs."""

    server_id: UUID
    positions: list[int] = field(default_factory=list)
    series_ids: list[int] = field(default_factory=list)

    def runs(self) -> list[tuple[int, int]]:
        """(first, last) positions of the runs read at once, in order."""
        out: list[tuple[int, int]] = []
        for pos in self.positions:
            if out and pos - out[-1][1] <= RUN_GAP:
                out[-1] = (out[-1][0], pos)
            else:
                out.append((pos, pos))
        return out


async def read_layouts(
    conn: Connection, series: Sequence[tuple[int, UUID]], spans: Spans
) -> dict[int, SetLayout]:
    """Where the (series id, server) pairs sit in the series sets their servers' rows use in ``spans``."""
    owners = sorted({server_id for _, server_id in series})
    rows = await conn.fetch(
        _SQL[bool(spans.dirty)].layout,
        owners,
        *spans.params(),
        [series_id for series_id, _ in series],
        [server_id for _, server_id in series],
    )
    return layouts_from_rows((r["set_id"], r["server_id"], r["series_id"], r["pos"]) for r in rows)


LayoutRow = tuple[int, UUID, int, int]
"""(set id, server id, series id, position) of one selected series in one series set."""


def layouts_from_rows(rows: Iterable[LayoutRow]) -> dict[int, SetLayout]:
    """Layouts by set id from layout rows in set and position order."""
    layouts: dict[int, SetLayout] = {}
    for set_id, server_id, series_id, pos in rows:
        layout = layouts.setdefault(set_id, SetLayout(server_id))
        layout.positions.append(pos)
        layout.series_ids.append(series_id)
    return layouts


@dataclass
class Pieces:
    """Samples gathered per series and scrape times per server, clamped to ``[start_ms, end_ms]``."""

    start_ms: int
    end_ms: int
    budget: int
    held: int = 0
    samples: dict[int, list[tuple[Ints, Floats]]] = field(default_factory=dict)
    timeline: dict[UUID, list[Ints]] = field(default_factory=dict)

    def add(self, series_id: int, ts: Ints, values: Floats) -> None:
        """Keep the samples of ``series_id`` in the range (counted against the budget)."""
        if len(ts) and (ts[0] < self.start_ms or ts[-1] > self.end_ms):
            inside = (ts >= self.start_ms) & (ts <= self.end_ms)
            ts, values = ts[inside], values[inside]
        if len(ts) == 0:
            return
        self.held += len(ts)
        if self.held > self.budget:
            raise SampleLimitError("the selected series hold more samples than the query may load")
        self.samples.setdefault(series_id, []).append((ts, values))

    def scrapes(self, server_id: UUID, ts: Ints) -> None:
        """Keep the scrape times of ``server_id`` in the range."""
        self.timeline.setdefault(server_id, []).append(ts[(ts >= self.start_ms) & (ts <= self.end_ms)])


async def read_pieces(
    conn: Connection,
    layouts: dict[int, SetLayout],
    spans: Spans,
    pieces: Pieces,
    raw_cache: RawCache | None = None,
) -> None:
    """Every sample of the laid-out series in ``spans``, and their servers' scrape times, into ``pieces``.
    The raw rows ``raw_cache`` holds columns of are not read (but counted); it keeps what was read."""
    cache = raw_cache if raw_cache is not None else RawCache(max_bytes=0)
    runs: tuple[list[int], list[int], list[int]] = ([], [], [])
    single: tuple[list[int], list[int], list[int]] = ([], [], [])
    several: list[int] = []
    columns: dict[int, dict[int, int]] = {}
    cache_keys: dict[int, Key] = {}
    for set_id, layout in layouts.items():
        # A raw row's bytes are its runs one after the other: each position's column in them.
        column = 0
        where = columns[set_id] = {}
        set_runs = layout.runs()
        cache_keys[set_id] = (set_id, tuple(set_runs))  # the same runs cut the same bytes from a row
        for first, last in set_runs:
            for field_values, value in zip(runs, (set_id, first, last), strict=True):
                field_values.append(value)
            for pos in range(first, last + 1):
                where[pos] = column
                column += 1
        if len(set_runs) == 1:
            for field_values, value in zip(single, (set_id, *set_runs[0]), strict=True):
                field_values.append(value)
        else:
            several.append(set_id)
    servers = sorted({layout.server_id for layout in layouts.values()})
    held = _held(cache, cache_keys, spans)
    sql = _SQL[bool(spans.dirty)].pieces
    held_args = (
        list(held),
        [ms_to_datetime(int(entry.ts[0])) for entry, _ in held.values()],
        [ms_to_datetime(int(entry.ts[-1])) for entry, _ in held.values()],
    )
    rows = await conn.fetch(sql, servers, *spans.params(), *runs, *single, several, *held_args)
    counts = {row["series_set_id"]: row["n_points"] for row in rows if row["server_id"] is None}
    late = [set_id for set_id, (_, inside) in held.items() if counts.get(set_id) != len(inside)]
    if late:
        # A row came into a held stretch after it was read (a replayed spool, a backfill), or left it with
        # its partition: read those sets' rows whole again.
        for set_id in late:
            cache.forget(cache_keys[set_id])
        await read_pieces(conn, layouts, spans, pieces, raw_cache)
        return
    stamps: dict[tuple[UUID, bytes], Ints] = {}
    raw_sets: dict[int, tuple[list[int], list[int] | None, bytes | None]] = {}
    raw_servers: dict[UUID, list[Ints]] = {}
    chunk_columns: list[tuple[int, Ints, bytes]] = []
    for row in rows:
        if row["server_id"] is None:
            continue  # a held set's count
        if row["timestamps"] is None:
            set_stamps = row["ts_ms"]
            raw_servers.setdefault(row["server_id"], []).append(np.asarray(set_stamps, dtype=np.int64))
            if row["series_set_id"] in layouts:  # a set's raw rows: one row, in time order
                raw_sets[row["series_set_id"]] = (set_stamps, row["read_ms"], row["v"])
            continue
        key = (row["server_id"], row["timestamps"])
        ts = stamps.get(key)
        if ts is None:
            ts = stamps[key] = COLUMNS.timestamps(row["timestamps"], row["n_points"])
            pieces.scrapes(row["server_id"], ts)
        if row["span"] is not None:
            layout = layouts[row["series_set_id"]]
            chunk_columns += _run_columns(layout, row["first"], row["offs"], row["span"], ts=ts)
    # Chunks before raw rows: where both hold a scrape, the chunk's sample is the one kept.
    decoded = COLUMNS.values_many([(column, len(ts)) for _, ts, column in chunk_columns])
    for (series_id, ts, _), values in zip(chunk_columns, decoded, strict=True):
        pieces.add(series_id, ts, values)
    for set_id, (_, inside) in held.items():
        raw_servers.setdefault(layouts[set_id].server_id, []).append(inside)  # held rows are scrapes too
    for server_id, server_stamps in raw_servers.items():
        pieces.scrapes(server_id, np.concatenate(server_stamps))
    for set_id in raw_sets.keys() | held.keys():
        raw_stamps, read_stamps, blob = raw_sets.get(set_id, ([], None, None))
        entry, inside = held.get(set_id, (None, _NO_TIMES))
        layout, where = layouts[set_id], columns[set_id]
        read_ts = np.asarray(read_stamps or [], dtype=np.int64)
        read = np.frombuffer(blob or b"", dtype=">f8").reshape(len(read_ts), len(where)).astype(np.float64)
        ts = np.concatenate([inside, np.asarray(raw_stamps, dtype=np.int64)])
        got = cache.assemble(cache_keys[set_id], entry, ts, read_ts, read)
        for pos, series_id in zip(layout.positions, layout.series_ids, strict=True):
            pieces.add(series_id, got.ts, np.ascontiguousarray(got.matrix[:, where[pos]]))


_NO_TIMES: Ints = np.empty(0, dtype=np.int64)


def _held(cache: RawCache, cache_keys: dict[int, Key], spans: Spans) -> dict[int, tuple[RawColumns, Ints]]:
    """By set id, the cache entry of each set whose raw rows the process holds, and its times within the raw
    span: the statement leaves the rows from its first time to its last out. Not with dirty hours (their
    rows are outside the raw span): then every row is read."""
    if spans.raw is None or spans.dirty:
        return {}
    low, high = datetime_to_ms(spans.raw[0]), datetime_to_ms(spans.raw[1])  # whole milliseconds
    held = {}
    for set_id, key in cache_keys.items():
        entry = cache.get(key)
        if entry is not None and len(entry.ts):
            held[set_id] = (entry, entry.ts[(entry.ts >= low) & (entry.ts <= high)])
    return held


def _run_columns(
    layout: SetLayout, first: int, offsets: Sequence[int], payload: bytes, *, ts: Ints
) -> list[tuple[int, Ints, bytes]]:
    """The (series id, timestamps, stored column) of one run of a chunk row: ``offsets`` bound the columns in
    ``payload`` (which starts at ``offsets[0]``)."""
    base = offsets[0]
    last = first + len(offsets) - 2
    out = []
    for pos, series_id in zip(layout.positions, layout.series_ids, strict=True):
        if first <= pos <= last:
            i = pos - first
            out.append((series_id, ts, payload[offsets[i] - base : offsets[i + 1] - base]))
    return out
