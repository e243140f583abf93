"""``/api/monitoring/logs``: read and append to the event log (:mod:`collector.storage.events`).

Viewers read; a non-admin sees the events of the servers granted to it and the events that name no server.
Operators append events (a note on a maintenance window, a deploy marker), for a server they may operate or
for none. A posted event is marked as such: it carries ``postedBy``, the caller's username (the service's own
events have none), and its ``source`` may not be one the service writes under (``scrape``, ``alerts``,
``notify``, … see :data:`~collector.storage.events.SYSTEM_SOURCES`), so a posted event can never pass for a
system one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field

from api.auth.authz import allowed_servers, require_principal, require_server
from api.errors import ApiError
from api.keys import STORES
from api.monitoring import Instant
from api.openapi import ApiRoutes, BodyModel, QueryModel, body_of, query_of
from collector.storage.events import (
    SYSTEM_SOURCES,
    Event,
    Level,
    is_system_source,
    query_events,
    record_event,
)

MAX_LIMIT = 1000
"""The most events one page may hold."""
MAX_MESSAGE_CHARS = 4000
MAX_DETAIL_BYTES = 16 * 1024
"""The largest ``detail`` object, counted as compact JSON."""
SOURCE_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"


def _no_nul(text: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it as input instead of failing in the database.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _small_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    if detail is None:
        return None
    try:
        size = len(json.dumps(detail, separators=(",", ":"), allow_nan=False).encode())
    except ValueError:
        raise ValueError("must not contain NaN or Infinity") from None
    if size > MAX_DETAIL_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_DETAIL_BYTES} bytes are allowed")
    if _has_nul(detail):
        raise ValueError("must not contain NUL characters")
    return detail


def _not_system(source: str) -> str:
    if is_system_source(source):
        raise ValueError(
            f"{source!r} is reserved for the service's own events; name where yours comes from (e.g. deploy)"
        )
    return source


Source = Annotated[
    str, Field(pattern=SOURCE_PATTERN, description="where the event comes from, e.g. api, user")
]


class LogQuery(QueryModel):
    """Filters of ``GET /api/monitoring/logs``."""

    level: Level | None = Field(None, description="minimum level: warning also returns error and critical")
    source: Source | None = None
    server_id: UUID | None = Field(None, alias="serverId", description="only events of this server")
    from_: Instant | None = Field(None, alias="from", description="start, inclusive")
    to: Instant | None = Field(None, description="end, exclusive")
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description=f"page size, at most {MAX_LIMIT}")
    offset: int = Field(0, ge=0, le=1_000_000, description="events to skip, newest first")
    posted: bool | None = Field(
        None, description="true: only events posted through the API; false: only the service's own"
    )


class LogBody(BodyModel):
    """One event to append."""

    level: Level
    source: Annotated[
        str,
        Field(
            pattern=SOURCE_PATTERN,
            description="where the event comes from, e.g. deploy, user; not a source the service writes "
            f"under ({', '.join(sorted(SYSTEM_SOURCES))}, or one of theirs with a dot)",
        ),
        AfterValidator(_not_system),
    ]
    message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS), AfterValidator(_no_nul)]
    server_id: UUID | None = Field(None, alias="serverId")
    detail: Annotated[dict[str, Any] | None, AfterValidator(_small_detail)] = Field(
        None, description=f"free-form JSON object, at most {MAX_DETAIL_BYTES} bytes"
    )


class LogEntry(BaseModel):
    """One event."""

    id: int
    at: datetime
    level: Level
    source: str
    server_id: UUID | None = Field(serialization_alias="serverId")
    message: str
    detail: dict[str, Any] | None
    posted_by: str | None = Field(
        serialization_alias="postedBy",
        description="who posted the event through the API; null for the service's own events",
    )


class LogPage(BaseModel):
    """A page of events, newest first, with how many matched in all."""

    events: list[LogEntry]
    total: int
    limit: int
    offset: int


def _entry(event: Event) -> LogEntry:
    return LogEntry(
        id=event.id,
        at=event.at,
        level=event.level,
        source=event.source,
        server_id=event.server_id,
        message=event.message,
        detail=event.detail,
        posted_by=event.posted_by,
    )


routes = ApiRoutes()


@routes.get(
    "/api/monitoring/logs",
    summary="The event log",
    tag="monitoring",
    role="viewer",
    query=LogQuery,
    response=LogPage,
)
async def logs_get(request: web.Request) -> LogPage:
    """Events newest first, filtered by minimum level, source, server and time range, a page at a time."""
    query = query_of(request, LogQuery)
    if query.server_id is not None:
        await require_server(request, query.server_id, "viewer")
    if query.from_ is not None and query.to is not None and query.to <= query.from_:
        raise ApiError(
            422, "'to' must be after 'from'", details=[{"field": "to", "problem": "not after from"}]
        )
    events, total = await query_events(
        request.app[STORES].pg,
        level=query.level,
        source=query.source,
        server_id=query.server_id,
        since=query.from_,
        until=query.to,
        limit=query.limit,
        offset=query.offset,
        allowed_servers=await allowed_servers(request),
        posted=query.posted,
    )
    return LogPage(events=[_entry(e) for e in events], total=total, limit=query.limit, offset=query.offset)


@routes.post(
    "/api/monitoring/logs",
    summary="Append an event to the log",
    tag="monitoring",
    role="operator",
    body=LogBody,
    response=LogEntry,
)
async def logs_post(request: web.Request) -> LogEntry:
    """Record one event, for a server the caller may operate or for none, marked as posted by the caller;
    answers the stored event."""
    body = body_of(request, LogBody)
    principal = require_principal(request)
    if body.server_id is not None:
        await require_server(request, body.server_id, "operator")
    try:
        event = await record_event(
            request.app[STORES].pg,
            body.level,
            body.source,
            body.message,
            server_id=body.server_id,
            detail=body.detail,
            posted_by=principal.username,
        )
    except asyncpg.ForeignKeyViolationError:
        raise ApiError(
            422,
            f"there is no server {body.server_id}; use an id from /api/monitoring/servers",
            details=[{"field": "serverId", "problem": "unknown server"}],
        ) from None
    return _entry(event)
