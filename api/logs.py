"""``/api/monitoring/logs``: read and append to the event log (:mod:`collector.storage.events`).

Viewers read; a non-admin sees the events of the servers granted to it and the events that name no server.
Operators append events (a note on a maintenance window, a deploy marker), for a server they may operate or
for none.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field

from api.auth.authz import allowed_servers, require_server
from api.errors import ApiError
from api.keys import STORES
from api.monitoring import Instant
from api.openapi import ApiRoutes, BodyModel, QueryModel, body_of, query_of
from collector.storage.events import Event, Level, query_events, record_event

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


class LogBody(BodyModel):
    """One event to append."""

    level: Level
    source: Source
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
    """Record one event, for a server the caller may operate or for none; answers the stored event."""
    body = body_of(request, LogBody)
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
        )
    except asyncpg.ForeignKeyViolationError:
        raise ApiError(
            422,
            f"there is no server {body.server_id}; use an id from /api/monitoring/servers",
            details=[{"field": "serverId", "problem": "unknown server"}],
        ) from None
    return _entry(event)
