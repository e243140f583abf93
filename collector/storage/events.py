"""The ``events`` table: the event log of scrapes, alerts, actions, API calls and users.

:func:`record_event` writes one event; :func:`query_events` reads a page of them, newest first, with the total
that matched. A level filter is a minimum: ``warning`` also returns ``error`` and ``critical``. Events that
name no server are visible to everyone who may read the log; the others only to those who may see the server.

An event posted through the API carries ``posted_by``, the user who posted it; the service's own events have
none. The sources the service writes under (and the names of its parts) are :data:`SYSTEM_SOURCES`, which
a posted event may not use.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

import asyncpg

Level = Literal["debug", "info", "warning", "error", "critical"]
LEVELS: Final[tuple[Level, ...]] = ("debug", "info", "warning", "error", "critical")
"""Every level, least severe first."""

SYSTEM_SOURCES: Final = frozenset(
    {
        "actions",
        "alerts",
        "audit",
        "auth",
        "collector",
        "exporter",
        "notify",
        "openmanager",
        "scrape",
        "system",
    }
)
"""Sources reserved for the service's own events (the scrape observer's ``scrape``, the alert engine's
``alerts``, remote actions' ``actions``, the notifier's ``notify``, and names of the service's parts), with
their dotted sub-sources."""


def is_system_source(source: str) -> bool:
    """Whether ``source`` is reserved for the service's own events (``alerts``, ``scrape.fake`` …)."""
    return source.split(".", 1)[0] in SYSTEM_SOURCES


@dataclass(frozen=True)
class Event:
    """One row of the event log."""

    id: int
    at: datetime
    level: Level
    source: str
    server_id: UUID | None
    message: str
    detail: dict[str, object] | None
    posted_by: str | None = None
    """The user who posted the event through the API; None for the service's own events."""


_COLUMNS = "id, at, level, source, server_id, message, detail, posted_by"


def levels_at_least(minimum: Level) -> list[Level]:
    """``minimum`` and every level more severe than it."""
    return list(LEVELS[LEVELS.index(minimum) :])


async def record_event(
    pool: asyncpg.Pool,
    level: Level,
    source: str,
    message: str,
    *,
    server_id: UUID | None = None,
    detail: Mapping[str, object] | None = None,
    posted_by: str | None = None,
) -> Event:
    """Append one event; returns it with its id and time. Raises ValueError for an unknown level.

    ``posted_by`` names the user of an event posted through the API.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown event level {level!r}: expected one of {', '.join(LEVELS)}")
    row = await pool.fetchrow(
        f"""INSERT INTO events (level, source, server_id, message, detail, posted_by)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6)
           RETURNING {_COLUMNS}""",  # noqa: S608
        level,
        source,
        server_id,
        message,
        None if detail is None else json.dumps(detail),
        posted_by,
    )
    assert row is not None  # INSERT … RETURNING always answers one row
    return _event(row)


@dataclass(frozen=True)
class PendingEvent:
    """An event not written yet (see :func:`record_events`)."""

    at: datetime
    level: Level
    source: str
    message: str
    server_id: UUID | None = None
    detail: Mapping[str, object] | None = None


async def record_events(pool: asyncpg.Pool, events: Sequence[PendingEvent]) -> None:
    """Append several events in one statement, at their own times.

    A server id with no ``servers`` row (a target the history writer has not registered yet, or a server
    deleted meanwhile) is written as null rather than failing the batch.
    """
    if not events:
        return
    for event in events:
        if event.level not in LEVELS:
            raise ValueError(f"unknown event level {event.level!r}: expected one of {', '.join(LEVELS)}")
    await pool.execute(
        """INSERT INTO events (at, level, source, server_id, message, detail)
           SELECT u.at, u.level, u.source, s.id, u.message, u.detail::jsonb
           FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[])
                WITH ORDINALITY AS u(at, level, source, server_id, message, detail, n)
           LEFT JOIN servers s ON s.id = u.server_id
           ORDER BY u.n""",
        [e.at for e in events],
        [e.level for e in events],
        [e.source for e in events],
        [e.server_id for e in events],
        [e.message for e in events],
        [None if e.detail is None else json.dumps(e.detail) for e in events],
    )


async def query_events(
    pool: asyncpg.Pool,
    *,
    level: Level | None = None,
    source: str | None = None,
    server_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    allowed_servers: Collection[UUID] | None = None,
    posted: bool | None = None,
) -> tuple[list[Event], int]:
    """A page of events, newest first, and how many matched in all.

    ``level`` is a minimum; ``since`` is inclusive and ``until`` exclusive. ``allowed_servers`` None means
    every event; otherwise only events of those servers and events that name no server. ``posted`` True
    keeps only events posted through the API, False only the service's own.
    """
    conditions: list[str] = []
    args: list[object] = []

    def where(sql: str, value: object) -> None:
        args.append(value)
        conditions.append(sql.format(f"${len(args)}"))

    if level is not None:
        where("level = ANY({}::text[])", levels_at_least(level))
    if source is not None:
        where("source = {}", source)
    if server_id is not None:
        where("server_id = {}", server_id)
    if since is not None:
        where("at >= {}", since)
    if until is not None:
        where("at < {}", until)
    if allowed_servers is not None:
        where("(server_id IS NULL OR server_id = ANY({}::uuid[]))", list(allowed_servers))
    if posted is not None:
        conditions.append("posted_by IS NOT NULL" if posted else "posted_by IS NULL")
    # Only fixed condition texts are joined in; every value is a parameter. A WHERE of just the filters given
    # (rather than "$1 IS NULL OR …") lets the planner pick the matching index.
    clause = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    total: int = await pool.fetchval(f"SELECT count(*) FROM events {clause}", *args)  # noqa: S608
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM events {clause}
            ORDER BY at DESC, id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}""",  # noqa: S608
        *args,
        limit,
        offset,
    )
    return [_event(row) for row in rows], total


def _event(row: asyncpg.Record) -> Event:
    detail = row["detail"]
    return Event(
        id=row["id"],
        at=row["at"],
        level=row["level"],
        source=row["source"],
        server_id=row["server_id"],
        message=row["message"],
        detail=None if detail is None else json.loads(detail),
        posted_by=row["posted_by"],
    )
