"""Which series exist: the series, label names and label values of the Prometheus metadata endpoints.

Series are the rows of ``series``. A time range narrows them to the series that a scrape in the range held:
the series sets of the raw rows and chunk rows in the range (the same tiers the samples are read from, see
:mod:`collector.storage.samples_read`), unnested in SQL. Matcher sets are ORed, the matchers of one set
ANDed, with the engine's semantics: SQL narrows, :class:`collector.matchers.Matcher` decides.
Without matchers, names and values are computed by PostgreSQL alone (``DISTINCT`` over the label keys or one
key's values), so listing the metric names of a large fleet does not bring every series to Python.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from collector.matchers import Matcher
from collector.storage import history_read
from collector.storage.history import ms_to_datetime
from collector.storage.partitions import Connection
from collector.storage.sample_rows import Spans
from collector.storage.samples_read import clamp_ms
from collector.storage.series_select import SelectedSeries, sql_prefilter


@dataclass(frozen=True)
class Window:
    """An inclusive time range in milliseconds; None for no bound on that side."""

    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def bounded(self) -> bool:
        """Whether the range excludes anything."""
        return self.start_ms is not None or self.end_ms is not None


async def _active_sets_sql(conn: Connection, window: Window, first_param: int) -> tuple[str, list[object]]:
    """A query listing the series-set ids scraped in ``window``, and its parameters (``$1``: the servers)."""
    start = ms_to_datetime(clamp_ms(window.start_ms, low=True))
    end = ms_to_datetime(clamp_ms(window.end_ms, low=False))
    chunked_until: datetime = await conn.fetchval("SELECT chunked_until FROM history_state")
    # As for samples: chunks before the watermark, raw rows from it on; an unused tier's bounds hold no row.
    n = first_param
    sql = f"""SELECT DISTINCT series_set_id AS id FROM history_chunks
              WHERE start_ts >= ${n} AND start_ts <= ${n + 1}
                AND ($1::uuid[] IS NULL OR server_id = ANY($1::uuid[]))
              UNION
              SELECT DISTINCT series_set_id FROM history_raw
              WHERE ts >= ${n + 2} AND ts <= ${n + 3}
                AND ($1::uuid[] IS NULL OR server_id = ANY($1::uuid[]))"""  # noqa: S608 - numbers only
    return sql, Spans.of(start, end, chunked_until).params()


async def _scoped(
    conn: Connection,
    select: str,
    where: str,
    params: Sequence[object],
    *,
    servers: Collection[UUID] | None,
    window: Window,
    tail: str = "",
) -> list[asyncpg.Record]:
    """Run ``SELECT {select} FROM series s WHERE {where}`` for ``servers`` and, when bounded, ``window``.

    ``where`` numbers its parameters from 2; ``$1`` is the server filter.
    """
    server_list = None if servers is None else list(servers)
    if not window.bounded:
        sql = f"""SELECT {select} FROM series s
                  WHERE ($1::uuid[] IS NULL OR s.server_id = ANY($1::uuid[])) AND {where} {tail}"""  # noqa: S608
        return list(await conn.fetch(sql, server_list, *params))
    first = 2 + len(params)
    active, active_params = await _active_sets_sql(conn, window, first)
    sql = f"""WITH active_sets AS ({active}),
                   active AS (SELECT DISTINCT x.id FROM series_sets ss JOIN active_sets a ON a.id = ss.id,
                              unnest(ss.series_ids) AS x(id))
              SELECT {select} FROM series s JOIN active USING (id)
              WHERE ($1::uuid[] IS NULL OR s.server_id = ANY($1::uuid[])) AND {where} {tail}"""  # noqa: S608
    return list(await conn.fetch(sql, server_list, *params, *active_params))


async def _matching(
    conn: Connection,
    matchers: Sequence[Matcher],
    *,
    servers: Collection[UUID] | None,
    window: Window,
    limit: int | None,
) -> list[SelectedSeries]:
    pushed = sql_prefilter(matchers)
    tail = "ORDER BY s.id" + (
        f" LIMIT {int(limit) + 1}" if limit is not None and len(pushed) == len(matchers) else ""
    )

    async def fetch(conditions: Sequence[Matcher]) -> list[asyncpg.Record]:
        where, params = history_read.matchers_sql(conditions, first_param=2) if conditions else ("true", [])
        select = "s.id, s.server_id, s.metric, s.labels"
        return await _scoped(conn, select, where, params, servers=servers, window=window, tail=tail)

    try:
        rows = await fetch(pushed)
    except asyncpg.InvalidRegularExpressionError:
        rows = await fetch([m for m in pushed if m.op in ("=", "!=")])
    found = []
    for row in rows:
        item = SelectedSeries(row["id"], row["server_id"], row["metric"], json.loads(row["labels"]))
        if all(m.matches(item.all_labels()) for m in matchers):
            found.append(item)
    return found


async def find_series(
    pool: asyncpg.Pool,
    matcher_sets: Sequence[Sequence[Matcher]],
    *,
    servers: Collection[UUID] | None = None,
    window: Window = Window(),
    limit: int | None = None,
) -> list[SelectedSeries]:
    """The series of ``servers`` (None: all) any matcher set selects, scraped in ``window``, by id.

    With ``limit``, at most ``limit + 1`` series are returned, so the caller can tell it cut the list.
    """
    found: dict[int, SelectedSeries] = {}
    async with pool.acquire() as conn:
        for matchers in matcher_sets:
            for item in await _matching(conn, matchers, servers=servers, window=window, limit=limit):
                found.setdefault(item.series_id, item)
    ordered = [found[key] for key in sorted(found)]
    return ordered if limit is None else ordered[: limit + 1]


async def label_names(
    pool: asyncpg.Pool,
    matcher_sets: Sequence[Sequence[Matcher]],
    *,
    servers: Collection[UUID] | None = None,
    window: Window = Window(),
) -> list[str]:
    """The label names (``__name__`` included) of the series the matcher sets select (all without any)."""
    if matcher_sets:
        series = await find_series(pool, matcher_sets, servers=servers, window=window)
        return sorted({name for item in series for name in item.all_labels()})
    async with pool.acquire() as conn:
        rows = await _scoped(
            conn, "DISTINCT jsonb_object_keys(s.labels) AS name", "true", [], servers=servers, window=window
        )
        anything = await _scoped(conn, "1", "true", [], servers=servers, window=window, tail="LIMIT 1")
    names = {row["name"] for row in rows}
    if anything:
        names.add("__name__")
    return sorted(names)


async def label_values(
    pool: asyncpg.Pool,
    name: str,
    matcher_sets: Sequence[Sequence[Matcher]],
    *,
    servers: Collection[UUID] | None = None,
    window: Window = Window(),
) -> list[str]:
    """The values of label ``name`` among the series the matcher sets select (all series without any)."""
    if matcher_sets:
        series = await find_series(pool, matcher_sets, servers=servers, window=window)
        return sorted({v for item in series if (v := item.all_labels().get(name, ""))})
    async with pool.acquire() as conn:
        if name == "__name__":
            rows = await _scoped(conn, "DISTINCT s.metric AS v", "true", [], servers=servers, window=window)
        else:
            rows = await _scoped(
                conn, "DISTINCT s.labels ->> $2 AS v", "s.labels ? $2", [name], servers=servers, window=window
            )
    return sorted(row["v"] for row in rows if row["v"])
