"""Reading history for the API: a server's summary metrics, and any series selected by label matchers.

``server_history`` reads ``server_stats`` (per scrape) or its rollups: a step of a whole number of hours
uses the 1-hour rollups, of 5 minutes the 5-minute rollups, for the hours maintenance has rolled up; the
rest (the hour or two not compacted yet, or any step finer than 5 minutes) comes from the rows themselves.

``series_range`` picks its source per stretch of time in the same way. Hours that are compacted are read
from chunks (step under 5 minutes), 5-minute rollups (step of 5 minutes or more) or 1-hour rollups (step of
an hour or more, for days that are closed); the recent hours that are not compacted yet come from the raw
rows. Reading one series from a chunk fetches only that series' bytes (``substring`` on the payload), while
a raw row holds every series of its target, so chunks are preferred as soon as they exist; the raw tier's
retention is the window in which late rows can still be compacted again.

Every source goes through the same bucketing (``collector.storage.rollups``), so the same samples give the
same points whichever tier they are read from: exactly for chunks, 5-minute rollups at a 5-minute step and
1-hour rollups at a 1-hour step; to float rounding when 5-minute sums are added up into coarser steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

import asyncpg

from collector.matchers import Matcher
from collector.storage.compaction import decode_chunk_column, decode_rolled, read_timestamps
from collector.storage.history import datetime_to_ms, ms_to_datetime
from collector.storage.partitions import Connection
from collector.storage.raw_codec import unpack_one
from collector.storage.rollups import Aggregate, Bucket, bucket_of, bucket_points

Metric = Literal["cpu", "memory", "disk", "network_rx", "network_tx"]
_STATS_COLUMNS: dict[Metric, str] = {
    "cpu": "cpu_usage",
    "memory": "memory_usage",
    "disk": "disk_usage",
    "network_rx": "network_rx",
    "network_tx": "network_tx",
}
Point = tuple[datetime, float]


def _check_range(start: datetime, end: datetime, step_s: float) -> None:
    if step_s <= 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    if end <= start:
        raise ValueError(f"end must be after start, got {start.isoformat()} .. {end.isoformat()}")
    if (end - start).total_seconds() / step_s > 11_000:
        raise ValueError("more than 11,000 points per series: use a larger step")


async def _watermarks(conn: Connection) -> tuple[datetime, datetime]:
    row = await conn.fetchrow("SELECT chunked_until, rollup_1h_until FROM history_state")
    assert row is not None
    return row["chunked_until"], row["rollup_1h_until"]


async def server_history(  # noqa: PLR0917 - the API's documented positional form
    pool: asyncpg.Pool, server_id: UUID, metric: Metric, start: datetime, end: datetime, step_s: float
) -> list[Point]:
    """Average of ``metric`` of a server per ``step_s`` bucket in [start, end).

    Buckets start at multiples of the step since the epoch; buckets without data have no point.
    """
    _check_range(start, end, step_s)
    column = _STATS_COLUMNS[metric]
    step = timedelta(seconds=step_s)
    async with pool.acquire() as conn:
        chunked_until, _ = await _watermarks(conn)
        rollup = "server_stats_1h" if step_s % 3600 == 0 else "server_stats_5m" if step_s % 300 == 0 else None
        raw = f"""SELECT "timestamp" AS t, {column} AS s, 1 AS n FROM server_stats
                  WHERE server_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3 AND {column} IS NOT NULL"""  # noqa: S608
        if rollup is None:
            sql = raw
            args: tuple[object, ...] = (server_id, start, end, step)
        else:
            split = min(max(start, chunked_until), end)
            sql = f"""SELECT bucket AS t, {metric}_sum AS s, {metric}_count AS n FROM {rollup}
                      WHERE server_id = $1 AND bucket >= $2 AND bucket < $5
                      UNION ALL {raw.replace("$2", "$5")}"""  # noqa: S608 - constant names
            args = (server_id, start, end, step, split)
        rows = await conn.fetch(
            f"""SELECT date_bin($4, t, 'epoch') AS b, sum(s) / sum(n) AS v FROM ({sql}) pts
                GROUP BY b HAVING sum(n) > 0 ORDER BY b""",  # noqa: S608 - built from constants above
            *args,
        )
    return [(r["b"], r["v"]) for r in rows]


@dataclass(frozen=True)
class SeriesPoints:
    """One series and its points over the requested range."""

    series_id: int
    metric: str
    labels: dict[str, str]
    points: list[Point]


class TooManySeriesError(ValueError):
    """The matchers select more series than one query may return."""


def matchers_sql(matchers: Sequence[Matcher], first_param: int = 1) -> tuple[str, list[str]]:
    """A WHERE condition on ``series`` (aliased ``s``) for ``matchers``, and its parameters."""
    if not matchers:
        raise ValueError("at least one matcher is needed")
    conditions = []
    params: list[str] = []
    for m in matchers:
        n = first_param + len(params)
        value = m.value if m.op in ("=", "!=") else f"^(?:{m.value})$"
        if m.name == "__name__":
            target = "s.metric"
        elif m.name == "instance" and m.op == "=" and m.value:
            # The form of the index on (metric, instance): see migration 0019.
            params.append(value)
            conditions.append(f"(s.labels ->> 'instance') = ${n}")
            continue
        elif m.op == "=" and m.value:
            # Containment can use the GIN index on labels.
            params.extend([m.name, m.value])
            conditions.append(f"s.labels @> jsonb_build_object(${n}::text, ${n + 1}::text)")
            continue
        else:
            params.append(m.name)
            target = f"coalesce(s.labels ->> ${n}, '')"
            n += 1
        operator = {"=": "=", "!=": "<>", "=~": "~", "!~": "!~"}[m.op]
        params.append(value)
        conditions.append(f"{target} {operator} ${n}")
    return " AND ".join(conditions), params


@dataclass(frozen=True)
class _Selected:
    series_id: int
    server_id: UUID
    metric: str
    labels: dict[str, str]


@dataclass
class _Positions:
    set_ids: list[int]
    series_ids: list[int]
    positions: list[int]
    """1-based positions of the series in their set's array."""


async def _select(
    conn: Connection, matchers: Sequence[Matcher], max_series: int, server_id: UUID | None = None
) -> list[_Selected]:
    where, params = matchers_sql(matchers, first_param=3)
    rows = await conn.fetch(
        f"""SELECT s.id, s.server_id, s.metric, s.labels FROM series s
            WHERE ($2::uuid IS NULL OR s.server_id = $2) AND {where} ORDER BY s.id LIMIT $1""",  # noqa: S608
        max_series + 1,
        server_id,
        *params,
    )
    if len(rows) > max_series:
        raise TooManySeriesError(f"the matchers select more than {max_series} series; narrow them down")
    return [_Selected(r["id"], r["server_id"], r["metric"], json.loads(r["labels"])) for r in rows]


async def _positions(conn: Connection, selected: Sequence[_Selected]) -> _Positions:
    wanted = {s.series_id for s in selected}
    out = _Positions([], [], [])
    rows = await conn.fetch(
        "SELECT id, series_ids FROM series_sets WHERE server_id = ANY($1::uuid[])",
        list({s.server_id for s in selected}),
    )
    for row in rows:
        for pos, series_id in enumerate(row["series_ids"], start=1):
            if series_id in wanted:
                out.set_ids.append(row["id"])
                out.series_ids.append(series_id)
                out.positions.append(pos)
    return out


_JOIN = "unnest($1::bigint[], $2::bigint[], $3::int[]) AS p(set_id, series_id, pos)"


async def _raw_points(
    conn: Connection, p: _Positions, servers: list[UUID], start: datetime, end: datetime
) -> dict[int, list[tuple[int, float]]]:
    rows = await conn.fetch(
        f"""SELECT r.ts, p.series_id, substring(r.vals FROM 8 * (p.pos - 1) + 1 FOR 8) AS v FROM {_JOIN}
            JOIN history_raw r ON r.series_set_id = p.set_id
            WHERE r.server_id = ANY($4::uuid[]) AND r.ts >= $5 AND r.ts < $6 ORDER BY r.ts""",  # noqa: S608
        p.set_ids,
        p.series_ids,
        p.positions,
        servers,
        start,
        end,
    )
    out: dict[int, list[tuple[int, float]]] = {}
    for r in rows:
        value = unpack_one(r["v"])
        if value is not None:
            out.setdefault(r["series_id"], []).append((datetime_to_ms(r["ts"]), value))
    return out


async def _matrix_columns(
    conn: Connection, table: str, p: _Positions, servers: list[UUID], *, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT c.start_ts, c.series_set_id, c.n_points, c.timestamps, p.series_id,
                   substring(c.payload FROM c.offsets[p.pos] + 1
                             FOR c.offsets[p.pos + 1] - c.offsets[p.pos]) AS col
            FROM {_JOIN} JOIN {table} c ON c.series_set_id = p.set_id
            WHERE c.server_id = ANY($4::uuid[]) AND c.start_ts >= $5 AND c.start_ts < $6
            ORDER BY c.start_ts""",  # noqa: S608 - table names are constants
        p.set_ids,
        p.series_ids,
        p.positions,
        servers,
        start,
        end,
    )


class _Timestamps:
    """Decodes each stored row's timestamps once, however many of its series are read."""

    def __init__(self) -> None:
        self._cache: dict[tuple[datetime, int], list[int]] = {}

    def of(self, row: asyncpg.Record) -> list[int]:
        key = (row["start_ts"], row["series_set_id"])
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = read_timestamps(row["timestamps"], row["n_points"])
        return found


async def _chunk_points(
    conn: Connection, p: _Positions, servers: list[UUID], start: datetime, end: datetime
) -> dict[int, list[tuple[int, float]]]:
    first_row = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    rows = await _matrix_columns(conn, "history_chunks", p, servers, start=first_row, end=end)
    lo, hi = datetime_to_ms(start), datetime_to_ms(end)
    stamps = _Timestamps()
    out: dict[int, list[tuple[int, float]]] = {}
    for r in rows:
        values = decode_chunk_column(r["col"], r["n_points"])
        points = out.setdefault(r["series_id"], [])
        points.extend((t, v) for t, v in zip(stamps.of(r), values, strict=True) if lo <= t < hi)
    return out


async def _rollup_buckets(
    conn: Connection,
    table: str,
    row_span: timedelta,
    p: _Positions,
    servers: list[UUID],
    *,
    start: datetime,
    end: datetime,
) -> dict[int, list[tuple[int, Bucket]]]:
    first_row = datetime.fromtimestamp(start.timestamp() - start.timestamp() % row_span.total_seconds(), UTC)
    rows = await _matrix_columns(conn, table, p, servers, start=first_row, end=end)
    lo, hi = datetime_to_ms(start), datetime_to_ms(end)
    stamps = _Timestamps()
    out: dict[int, list[tuple[int, Bucket]]] = {}
    for r in rows:
        buckets = decode_rolled(r["col"], r["n_points"]).buckets()
        target = out.setdefault(r["series_id"], [])
        target.extend(
            (t, b) for t, b in zip(stamps.of(r), buckets, strict=True) if b is not None and lo <= t < hi
        )
    return out


def _segments(
    step_s: float, start: datetime, end: datetime, chunked_until: datetime, rollup_1h_until: datetime
) -> list[tuple[str, datetime, datetime]]:
    def clip(a: datetime, b: datetime) -> tuple[datetime, datetime]:
        return max(a, start), min(b, end)

    far_past = datetime(1970, 1, 1, tzinfo=UTC)
    far_future = datetime(9999, 1, 1, tzinfo=UTC)
    if step_s >= 3600:
        plan = [
            ("rollup_1h", far_past, rollup_1h_until),
            ("rollup_5m", rollup_1h_until, chunked_until),
            ("raw", chunked_until, far_future),
        ]
    elif step_s >= 300:
        plan = [("rollup_5m", far_past, chunked_until), ("raw", chunked_until, far_future)]
    else:
        plan = [("chunks", far_past, chunked_until), ("raw", chunked_until, far_future)]
    out = []
    for tier, a, b in plan:
        lo, hi = clip(a, b)
        if lo < hi:
            out.append((tier, lo, hi))
    return out


async def series_range(
    pool: asyncpg.Pool,
    matchers: Sequence[Matcher],
    start: datetime,
    end: datetime,
    step_s: float,
    *,
    aggregate: Aggregate = "avg",
    max_series: int = 10_000,
    server_id: UUID | None = None,
) -> list[SeriesPoints]:
    """The series selected by ``matchers`` (of ``server_id`` only, if given), a point per ``step_s`` bucket.

    The range is [start, end). A point is the ``aggregate`` of the samples in its bucket (buckets start at
    multiples of the step since the epoch); buckets without samples have no point.
    """
    _check_range(start, end, step_s)
    step_ms = round(step_s * 1000)
    async with pool.acquire() as conn:
        selected = await _select(conn, matchers, max_series, server_id)
        if not selected:
            return []
        positions = await _positions(conn, selected)
        servers = list({s.server_id for s in selected})
        chunked_until, rollup_1h_until = await _watermarks(conn)
        merged: dict[int, dict[int, Bucket]] = {s.series_id: {} for s in selected}
        for tier, lo, hi in _segments(step_s, start, end, chunked_until, rollup_1h_until):
            if tier in ("raw", "chunks"):
                fetch = _raw_points if tier == "raw" else _chunk_points
                points = await fetch(conn, positions, servers, lo, hi)
                for series_id, pts in points.items():
                    _merge_into(merged[series_id], bucket_points(pts, step_ms).items(), step_ms)
            else:
                table, span = (
                    ("history_rollups_1h", timedelta(days=1))
                    if tier == "rollup_1h"
                    else ("history_rollups_5m", timedelta(hours=1))
                )
                buckets = await _rollup_buckets(conn, table, span, positions, servers, start=lo, end=hi)
                for series_id, items in buckets.items():
                    _merge_into(merged[series_id], items, step_ms)
    return [
        SeriesPoints(
            s.series_id,
            s.metric,
            s.labels,
            [(ms_to_datetime(t), b.value(aggregate)) for t, b in sorted(merged[s.series_id].items())],
        )
        for s in selected
    ]


def _merge_into(into: dict[int, Bucket], items: Iterable[tuple[int, Bucket]], step_ms: int) -> None:
    """Fold buckets (time-ordered, any width dividing into the step) into the step's buckets."""
    for start, bucket in items:
        key = bucket_of(start, step_ms)
        found = into.get(key)
        if found is None:
            into[key] = Bucket(bucket.min, bucket.max, bucket.sum, bucket.count, bucket.last)
        else:
            found.merge(bucket)
