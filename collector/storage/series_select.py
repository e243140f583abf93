"""The first statement of a sample read: which stored series label matchers select, and where they sit.

:func:`select_series` answers, in one statement, what a read must know before it can ask for bytes:

- for each selector, the stored series its matchers select (SQL narrows the candidates with the matchers
  it evaluates the same way or more loosely, :func:`sql_prefilter`; Python then applies them all with the
  engine's semantics);
- the compaction watermark ``history_state.chunked_until`` and the dirty hours of the span;
- the layouts: the positions of the candidate series in the series sets their servers' rows use in the
  span (:class:`~collector.storage.sample_rows.SetLayout`).

The layouts depend on the watermark (chunks before it, raw rows from it on), which the same statement reads.
So the statement takes the watermark this process last saw as a hint (it moves once an hour) and computes
the layouts with it; when the watermark it reads differs from the hint, the layouts are dropped and the
caller reads them on their own (:func:`collector.storage.sample_rows.read_layouts`). A read is thus two
statements (this one and the bytes), three once an hour.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from collector.matchers import Matcher
from collector.storage import history_read
from collector.storage.history import EPOCH
from collector.storage.partitions import Connection
from collector.storage.sample_rows import LayoutRow, SampleLimitError, SetLayout, layouts_from_rows

_PORTABLE_REGEX = re.compile(r"(?:[^\\{}\[]|\\[^A-Za-z0-9]|\[(?![:=.]))*")
"""Regular expressions PostgreSQL reads as RE2 (Go) does: no class escapes (``\\d``), no braces, no POSIX
classes; ``(?`` other than ``(?:`` is refused apart (see :func:`portable_regex`)."""


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


@dataclass
class Candidates:
    """What :func:`select_series` found: each selector's series, the compaction watermark, the dirty hours,
    and the layouts when they were computed with the right watermark."""

    selected: list[list[SelectedSeries]]
    chunked_until: datetime
    """Every hour before it is whole in chunks (``history_state.chunked_until``)."""
    dirty: list[tuple[UUID, datetime]]
    """The (server, hour) pairs of ``history_dirty`` in the span asked for."""
    layouts: list[LayoutRow] | None = None
    """Every candidate series in every series set its server's rows use in the span, in set and position
    order; None when the watermark hint was wrong (see the module docstring)."""

    def layouts_of(self, series: Collection[int]) -> dict[int, SetLayout] | None:
        """The layouts of ``series`` (ids) by set id, or None when they were not computed."""
        if self.layouts is None:
            return None
        return layouts_from_rows(row for row in self.layouts if row[2] in series)


_HINTS: dict[int, datetime] = {}
"""The watermark each pool (one database) last answered, by the pool's ``id``. Any value is safe: layouts
are used only when the hint turns out right."""
_MAX_HINTS = 64
"""Pools remembered at once (a process has one or two; tests make many)."""


def watermark_hint(pool: object) -> datetime:
    """The watermark ``pool``'s database last answered in this process (the epoch before the first read)."""
    return _HINTS.get(id(pool), EPOCH)


def remember_watermark(pool: object, chunked_until: datetime) -> None:
    """Keep ``chunked_until`` as the next reads' hint."""
    if len(_HINTS) >= _MAX_HINTS and id(pool) not in _HINTS:
        _HINTS.clear()
    _HINTS[id(pool)] = chunked_until


async def select_series(
    conn: Connection,
    selectors: Sequence[Sequence[Matcher]],
    *,
    servers: Collection[UUID] | None,
    limit: int,
    span: tuple[datetime, datetime],
    hint: datetime = EPOCH,
) -> Candidates:
    """For each matcher list of ``selectors``, the stored series of ``servers`` (None: all) it selects, by id;
    and, in the same statement, the watermark, the dirty hours within ``span`` and, computed with the
    watermark ``hint``, the layouts of the candidates.

    Raises :class:`SampleLimitError` when a selector has more than ``limit`` candidates.
    """
    pushed = [sql_prefilter(matchers) for matchers in selectors]
    try:
        rows = await _candidates(conn, pushed, servers, limit=limit, span=span, hint=hint)
    except asyncpg.InvalidRegularExpressionError:
        # A pattern Python accepts but PostgreSQL does not: narrow by the exact matchers only.
        exact = [[m for m in matchers if m.op in ("=", "!=")] for matchers in pushed]
        rows = await _candidates(conn, exact, servers, limit=limit, span=span, hint=hint)
    found = Candidates([[] for _ in selectors], EPOCH, [])
    counts = [0] * len(selectors)
    layouts: list[LayoutRow] = []
    for row in sorted(rows, key=lambda row: (row["k"], row["id"] or 0)):
        k = row["k"]
        if k == _LAYOUT:
            layouts.append((row["set_id"], row["server_id"], row["id"], row["pos"]))
        elif k == _WATERMARK:
            found.chunked_until = row["at"]
        elif k == _DIRTY:
            found.dirty.append((row["server_id"], row["at"]))
        else:
            counts[k] += 1
            if counts[k] > limit:
                raise SampleLimitError(f"the selectors match more than {limit} series")
            item = SelectedSeries(row["id"], row["server_id"], row["metric"], json.loads(row["labels"]))
            if all(m.matches(item.all_labels()) for m in selectors[k]):
                found.selected[k].append(item)
    if found.chunked_until == hint:
        layouts.sort(key=lambda row: (row[0], row[3]))
        found.layouts = layouts
    return found


_LAYOUT = -3
"""The ``k`` of a layout row in :func:`_candidates`' answer (a selector's rows have its index)."""
_WATERMARK = -2
"""The ``k`` of the watermark's row."""
_DIRTY = -1
"""The ``k`` of a dirty hour's row."""


async def _candidates(
    conn: Connection,
    pushed: Sequence[Sequence[Matcher]],
    servers: Collection[UUID] | None,
    *,
    limit: int,
    span: tuple[datetime, datetime],
    hint: datetime,
) -> list[asyncpg.Record]:
    first_hour = span[0].replace(minute=0, second=0, microsecond=0)
    server_filter = None if servers is None else list(servers)
    params: list[object] = [limit + 1, server_filter, first_hour, span[1], span[0], hint]
    branches = []
    for k, matchers in enumerate(pushed):
        where, values = "true", list[str]()
        if matchers:
            where, values = history_read.matchers_sql(matchers, first_param=len(params) + 1)
        params.extend(values)
        branches.append(
            f"""(SELECT {k} AS k, s.id, s.server_id, s.metric, s.labels FROM series s
                 WHERE ($2::uuid[] IS NULL OR s.server_id = ANY($2::uuid[])) AND {where}
                 ORDER BY s.id LIMIT $1)"""  # noqa: S608 - conditions are built from constants, values are parameters
        )
    # The layouts as `sample_rows` computes them, with the hint for the watermark: chunks of the hours
    # before it, raw rows from it on, and the raw rows of the dirty hours before it.
    sql = f"""
WITH cand AS ({" UNION ALL ".join(branches)}),
owners AS (SELECT DISTINCT server_id FROM cand),
dirty AS (SELECT server_id, hour FROM history_dirty
          WHERE hour >= $3 AND hour <= $4 AND ($2::uuid[] IS NULL OR server_id = ANY($2::uuid[]))),
active AS (SELECT series_set_id AS id FROM history_chunks
           WHERE server_id IN (SELECT server_id FROM owners) AND start_ts >= $3 AND start_ts <= $4
             AND start_ts < $6::timestamptz
           UNION
           SELECT series_set_id FROM history_raw
           WHERE server_id IN (SELECT server_id FROM owners)
             AND ts >= greatest($5::timestamptz, $6) AND ts <= $4
)
SELECT k, id, server_id, metric, labels, NULL::timestamptz AS at, NULL::bigint AS set_id, NULL::int AS pos
FROM cand
UNION ALL
SELECT {_WATERMARK}, NULL, NULL, NULL, NULL, chunked_until, NULL, NULL FROM history_state
UNION ALL
SELECT {_DIRTY}, NULL, server_id, NULL, NULL, hour, NULL, NULL FROM dirty
UNION ALL
SELECT {_LAYOUT}, p.series_id, ss.server_id, NULL, NULL, NULL, ss.id, p.pos::int
FROM series_sets ss
CROSS JOIN LATERAL unnest(ss.series_ids) WITH ORDINALITY AS p(series_id, pos)
JOIN (SELECT DISTINCT id, server_id FROM cand) w ON w.id = p.series_id AND w.server_id = ss.server_id
WHERE ss.id IN (SELECT id FROM active)"""  # noqa: S608 - built from constants, values are parameters
    return list(await conn.fetch(sql, *params))
