"""``/api/alerts``: the alerts the engine raised, filtered and paged, and acknowledging or resolving one.

Alerts are read from PostgreSQL (:mod:`collector.alerts.alert_store`), one row per episode of an alert
(pending → firing → resolved); the live list in Redis (``alerts:active``) is the engine's, for the SSE
stream. Viewers read the alerts of the servers granted to them (admins see all; an alert whose server has no
row is an admin's only). Operators acknowledge (``read``) and resolve by hand the alerts of servers they may
operate. A server the caller may not see is refused with 403, as the other server-scoped routes do.

A hand resolve holds the alert: the engine does not fire it again until its condition has cleared once. Both
actions record who did them (the caller's username) and tell the engine to reload at once
(:func:`~collector.alerts.config_listener.announce_config_change`).

``{id}`` in these paths only matches hexadecimal digits and dashes, so ``/api/alerts/rules``,
``/api/alerts/silences``, ``/api/alerts/channels`` and ``/api/alerts/notifications`` are never taken for an
alert id.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from uuid import UUID

import redis.asyncio as aioredis
import structlog
from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field

from api.auth.authz import allowed_servers, require_principal, require_server
from api.errors import ApiError
from api.keys import STORES
from api.monitoring import Instant
from api.openapi import ApiRoutes, QueryModel, query_of
from collector.alerts import alert_store
from collector.alerts.config_listener import announce_config_change
from collector.alerts.model import AlertState, Severity, to_seconds

log = structlog.get_logger(__name__)

MAX_LIMIT: Final = 1000
"""The most alerts one page may hold."""
ID_PATTERN: Final = "[0-9a-fA-F-]+"
"""What ``{id}`` matches in a path: a UUID's characters, and no word of a sibling route."""


def _no_nul(text: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it as input instead of failing in the database.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


class AlertQuery(QueryModel):
    """Filters and paging of ``GET /api/alerts``."""

    state: Literal["active", "pending", "firing", "resolved"] | None = Field(
        None, description="active is pending or firing"
    )
    severity: Severity | None = None
    server_id: UUID | None = Field(None, description="only this server's alerts")
    q: Annotated[str, Field(max_length=256), AfterValidator(_no_nul)] | None = Field(
        None, description="case-insensitive text in the title or message"
    )
    from_: Instant | None = Field(None, alias="from", description="last change at or after, inclusive")
    to: Instant | None = Field(None, description="last change before, exclusive")
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description=f"page size, at most {MAX_LIMIT}")
    offset: int = Field(0, ge=0, le=1_000_000, description="alerts to skip, newest change first")


class AlertOut(BaseModel):
    """One episode of an alert; times are Unix seconds."""

    id: UUID
    server_id: UUID | None
    name: str = Field(description="the rule's name")
    rule_id: str | None
    fingerprint: str | None = Field(description="the same for every episode of the same alert")
    severity: Severity
    state: AlertState
    title: str
    message: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None = Field(description="the value that last decided the condition")
    read: bool = Field(description="acknowledged")
    acknowledged_by: str | None
    acknowledged_at: float | None
    resolved_by: str | None = Field(description="who resolved it by hand; null when the engine did")
    started_at: float | None = Field(description="when the condition started to hold")
    fired_at: float | None
    resolved_at: float | None
    updated_at: float = Field(description="the last change")


class AlertPage(BaseModel):
    """A page of alerts, newest change first, and how many matched in all."""

    items: list[AlertOut]
    total: int
    limit: int
    offset: int


def alert_out(record: alert_store.AlertRecord) -> AlertOut:
    """The API's view of a stored alert."""
    return AlertOut(
        id=record.id,
        server_id=record.server_id,
        name=record.type,
        rule_id=record.rule_id,
        fingerprint=record.fingerprint,
        severity=record.severity,
        state=record.state,
        title=record.title,
        message=record.message,
        labels=record.labels,
        annotations=record.annotations,
        value=record.value,
        read=record.read,
        acknowledged_by=record.acknowledged_by,
        acknowledged_at=to_seconds(record.acknowledged_at),
        resolved_by=record.resolved_by,
        started_at=to_seconds(record.started_at),
        fired_at=to_seconds(record.fired_at),
        resolved_at=to_seconds(record.resolved_at),
        updated_at=record.timestamp.timestamp(),
    )


async def announce(redis: aioredis.Redis, action: str) -> None:
    """Tell the engine to reload now; a Redis failure is logged, since the change is stored already."""
    try:
        await announce_config_change(redis)
    except aioredis.RedisError as exc:
        # The engine also rereads rules, silences and holds on its own every few seconds.
        log.warning("could not announce an alert configuration change", action=action, error=str(exc))


async def _accessible(
    request: web.Request, minimum_role: Literal["viewer", "operator"]
) -> alert_store.AlertRecord:
    raw = request.match_info["id"]
    try:
        alert_id = UUID(raw)
    except ValueError:
        raise ApiError(404, f"no such alert: {raw}") from None
    record = await alert_store.get_alert(request.app[STORES].pg, alert_id)
    if record is None:
        raise ApiError(404, f"no such alert: {alert_id}")
    if record.server_id is not None:
        await require_server(request, record.server_id, minimum_role)
    elif await allowed_servers(request) is not None:
        raise ApiError(403, "this alert names no registered server; only admins may see it")
    return record


routes = ApiRoutes()


@routes.get(
    "/api/alerts",
    summary="List alerts",
    tag="alerts",
    role="viewer",
    query=AlertQuery,
    response=AlertPage,
    name="alerts.list",
)
async def alerts_list(request: web.Request) -> AlertPage:
    """Alerts newest change first, by state, severity, server, text and time range, a page at a time."""
    query = query_of(request, AlertQuery)
    if query.from_ is not None and query.to is not None and query.to <= query.from_:
        raise ApiError(
            422, "'to' must be after 'from'", details=[{"field": "to", "problem": "not after from"}]
        )
    allowed = await allowed_servers(request)
    if query.server_id is not None:
        await require_server(request, query.server_id, "viewer")
        allowed = {query.server_id}
    records, total = await alert_store.list_alerts(
        request.app[STORES].pg,
        state=query.state,
        severity=query.severity,
        allowed_servers=allowed,
        search=query.q,
        since=query.from_,
        until=query.to,
        limit=query.limit,
        offset=query.offset,
    )
    return AlertPage(
        items=[alert_out(record) for record in records], total=total, limit=query.limit, offset=query.offset
    )


@routes.get(
    f"/api/alerts/{{id:{ID_PATTERN}}}",
    summary="Read an alert",
    tag="alerts",
    role="viewer",
    response=AlertOut,
    name="alerts.get",
)
async def alert_get(request: web.Request) -> AlertOut:
    """One alert of a server the caller may see."""
    return alert_out(await _accessible(request, "viewer"))


@routes.post(
    f"/api/alerts/{{id:{ID_PATTERN}}}/acknowledge",
    summary="Acknowledge an alert",
    tag="alerts",
    role="operator",
    response=AlertOut,
    name="alerts.acknowledge",
)
async def alert_acknowledge(request: web.Request) -> AlertOut:
    """Mark the alert read by the caller; acknowledging again keeps the first acknowledgement."""
    record = await _accessible(request, "operator")
    principal = require_principal(request)
    stores = request.app[STORES]
    acknowledged = await alert_store.acknowledge_alert(stores.pg, record.id, principal.username)
    if acknowledged is None:
        raise ApiError(404, f"no such alert: {record.id}")
    await announce(stores.redis, "acknowledge")
    return alert_out(acknowledged)


@routes.post(
    f"/api/alerts/{{id:{ID_PATTERN}}}/resolve",
    summary="Resolve an alert by hand",
    tag="alerts",
    role="operator",
    response=AlertOut,
    name="alerts.resolve",
)
async def alert_resolve(request: web.Request) -> AlertOut:
    """Resolve a pending or firing alert now (409 when it is resolved already).

    The engine will not fire it again until its condition has cleared once.
    """
    record = await _accessible(request, "operator")
    principal = require_principal(request)
    stores = request.app[STORES]
    resolved = None
    if record.state != "resolved":
        resolved = await alert_store.resolve_alert(stores.pg, record.id, principal.username)
    if resolved is None:
        raise ApiError(
            409,
            f"alert {record.id} is resolved already",
            details={"alert_id": str(record.id), "state": "resolved"},
        )
    await announce(stores.redis, "resolve")
    return alert_out(resolved)
