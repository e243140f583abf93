"""The ``metric_metadata`` table: what each server's HELP, TYPE and UNIT lines say, per metric family.

A server has at most one entry per family (a page describes a family once): :func:`replace_metadata` makes a
server's rows what its latest page said, writing only the rows that changed, and
:func:`read_metadata` answers the distinct entries of the servers a caller may see, as
``/api/v1/metadata`` lists them. The collector calls the writer only when a server's metadata changed (see
:mod:`collector.storage.metadata_recorder`), so steady scrapes cost the database nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from collector.storage.server_rows import TargetRow, ensure_server_rows

Entry = tuple[str, str, str]
"""A family's (type, help, unit); type in Prometheus's words (``unknown`` for untyped)."""


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    """The families one server's latest page described, by family name."""

    target: TargetRow
    families: Mapping[str, Entry]


@dataclass(frozen=True, slots=True)
class TargetEntry:
    """One family's entry as one server exposes it (``/api/v1/targets/metadata``)."""

    server_id: UUID
    target: dict[str, str]
    """The labels of the server's target."""
    metric: str
    type: str
    help: str
    unit: str


async def replace_metadata(pool: asyncpg.Pool, updates: Sequence[ServerMetadata]) -> set[UUID]:
    """Make each server's rows its ``families``: changed entries updated, new ones added, gone ones deleted.

    One transaction; the servers' ``servers`` rows are made first where missing (see
    :func:`ensure_server_rows`). Returns the ids of the servers written: a target whose job and address
    another server row holds has no row of its own and is left out.
    """
    if not updates:
        return set()
    server_ids: list[UUID] = []
    metrics: list[str] = []
    types: list[str] = []
    helps: list[str] = []
    units: list[str] = []
    for update in updates:
        for metric, (type_, help_, unit) in update.families.items():
            server_ids.append(update.target.server_id)
            metrics.append(metric)
            types.append(type_)
            helps.append(help_)
            units.append(unit)
    async with pool.acquire() as conn, conn.transaction():
        written = await ensure_server_rows(conn, [update.target for update in updates])
        await conn.execute(
            """WITH given AS (
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
                       AS g(server_id, metric, type, help, unit)
                   WHERE g.server_id = ANY($6::uuid[])
               ), gone AS (
                   DELETE FROM metric_metadata m
                   WHERE m.server_id = ANY($6::uuid[])
                     AND NOT EXISTS (SELECT 1 FROM given g
                                     WHERE g.server_id = m.server_id AND g.metric = m.metric)
               )
               INSERT INTO metric_metadata AS m (server_id, metric, type, help, unit)
               SELECT server_id, metric, type, help, unit FROM given
               ON CONFLICT (server_id, metric) DO UPDATE
                   SET type = excluded.type, help = excluded.help, unit = excluded.unit, updated_at = now()
                   WHERE (m.type, m.help, m.unit)
                         IS DISTINCT FROM (excluded.type, excluded.help, excluded.unit)""",
            server_ids,
            metrics,
            types,
            helps,
            units,
            list(written),
        )
        await conn.execute(
            """INSERT INTO metric_metadata_targets AS t (server_id, labels)
               SELECT id, labels::jsonb FROM unnest($1::uuid[], $2::text[]) AS u(id, labels)
               WHERE id = ANY($3::uuid[])
               ON CONFLICT (server_id) DO UPDATE SET labels = excluded.labels
                   WHERE t.labels IS DISTINCT FROM excluded.labels""",
            [update.target.server_id for update in updates],
            [json.dumps(dict(update.target.labels)) for update in updates],
            list(written),
        )
    return written


async def read_metadata(
    pool: asyncpg.Pool, *, servers: set[UUID] | None, metric: str | None, limit: int | None
) -> dict[str, list[Entry]]:
    """The distinct entries of each family among ``servers`` (None: all), by family name.

    ``metric`` keeps that family only; ``limit`` keeps the first ``limit`` families by name. Entries come
    sorted by type, help and unit (by code point, as Go sorts).
    """
    if metric is not None and "\x00" in metric:
        return {}  # PostgreSQL text holds no NUL, so no stored family has one
    rows = await pool.fetch(
        """SELECT DISTINCT metric COLLATE "C" AS metric, type COLLATE "C" AS type,
                  help COLLATE "C" AS help, unit COLLATE "C" AS unit
           FROM metric_metadata
           WHERE ($1::uuid[] IS NULL OR server_id = ANY($1::uuid[]))
             AND ($2::text IS NULL OR metric = $2::text)
             AND ($3::bigint IS NULL OR metric IN (
                     SELECT DISTINCT metric COLLATE "C" AS metric FROM metric_metadata
                     WHERE ($1::uuid[] IS NULL OR server_id = ANY($1::uuid[]))
                       AND ($2::text IS NULL OR metric = $2::text)
                     ORDER BY metric LIMIT $3::bigint))
           ORDER BY metric, type, help, unit""",
        None if servers is None else list(servers),
        metric,
        limit,
    )
    out: dict[str, list[Entry]] = {}
    for row in rows:
        out.setdefault(row["metric"], []).append((row["type"], row["help"], row["unit"]))
    return out


async def read_target_metadata(
    pool: asyncpg.Pool,
    *,
    servers: set[UUID] | None,
    metric: str | None,
    target_filter: Callable[[dict[str, str]], bool] | None = None,
) -> list[TargetEntry]:
    """Every entry of the ``servers`` (None: all) whose target's labels pass ``target_filter`` (when given),
    ``metric``'s only when given; ordered by server, then family name. A server's labels are read once,
    one dict shared by its entries, and filtered before its entries are read."""
    if metric is not None and "\x00" in metric:
        return []  # PostgreSQL text holds no NUL, so no stored family has one
    async with pool.acquire() as conn:
        targets: dict[UUID, dict[str, str]] = {}
        for row in await conn.fetch(
            """SELECT server_id, labels::text AS labels FROM metric_metadata_targets
               WHERE $1::uuid[] IS NULL OR server_id = ANY($1::uuid[])""",
            None if servers is None else list(servers),
        ):
            labels = json.loads(row["labels"])
            if target_filter is None or target_filter(labels):
                targets[row["server_id"]] = labels
        if not targets:
            return []
        rows = await conn.fetch(
            """SELECT server_id, metric, type, help, unit FROM metric_metadata
               WHERE server_id = ANY($1::uuid[]) AND ($2::text IS NULL OR metric = $2::text)
               ORDER BY server_id, metric COLLATE "C"
            """,
            list(targets),
            metric,
        )
    return [
        TargetEntry(r["server_id"], targets[r["server_id"]], r["metric"], r["type"], r["help"], r["unit"])
        for r in rows
    ]
