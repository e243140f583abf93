"""Every remote action request in the event log, whatever its outcome, from one place.

:func:`action_events_middleware` wraps the run route only: after the handler (or the role check before it)
has answered, it writes one event under the source ``actions`` with who asked what of which server and
how it ended (run, refused here and why, refused by the exporter, exporter unreachable). Handlers add
what they decided with :func:`note`, which also goes into the request's audit entry. A failed write is
logged and the answer goes out anyway, as with the audit log.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth.audit import note_audit_detail
from api.auth.principal import principal_of
from api.errors import Answered, call_noting
from api.keys import STORES
from collector.storage.events import Level, PendingEvent, record_events

log = structlog.get_logger(__name__)

RUN_ROUTE = "servers.actions.run"
"""The aiohttp name of ``POST /api/servers/{id}/actions/{name}``."""
SOURCE = "actions"
WRITE_TIMEOUT_S = 2.0

_NOTES: web.RequestKey[dict[str, object]] = web.RequestKey("actions.notes", dict)


def note(request: web.Request, **detail: object) -> None:
    """What the handler decided about this request (run id, outcome, reason …): for the event and the audit
    entry. Never a secret (no TOTP code)."""
    request.setdefault(_NOTES, {}).update(detail)
    note_audit_detail(request, **detail)


def _level(status: int, outcome: object) -> Level:
    if outcome == "succeeded":
        return "info"
    if outcome == "error" or status >= 500:
        return "error"
    return "warning"


def _server_id(request: web.Request) -> UUID | None:
    try:
        return UUID(request.match_info.get("id", ""))
    except ValueError:
        return None


def event_for(request: web.Request, status: int, code: str | None) -> PendingEvent:
    """The event of one run request that was answered with ``status`` (and error ``code``)."""
    principal = principal_of(request)
    who = principal.username if principal is not None else "anonymous"
    action = request.match_info.get("name", "")
    notes = dict(request.get(_NOTES, {}))
    outcome = notes.get("outcome") or ("refused" if status >= 400 else "unknown")
    detail: dict[str, object] = {
        "action": action,
        "requested_by": who,
        "status": status,
        "outcome": outcome,
        **notes,
    }
    if code is not None and "reason" not in detail:
        detail["reason"] = code
    reason = detail.get("reason")
    ended = f"{outcome}" + (f" ({reason})" if reason else "")
    if notes.get("exit_code") is not None:
        ended += f", exit code {notes['exit_code']}"
    return PendingEvent(
        at=datetime.now(UTC),
        level=_level(status, outcome),
        source=SOURCE,
        message=f"action {action!r} requested by {who}: {ended}",
        server_id=_server_id(request),
        detail=detail,
    )


@web.middleware
async def action_events_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write the event of each remote action request once it is answered."""
    route = request.match_info.route
    if route is None or route.name != RUN_ROUTE:
        return await handler(request)
    answered = Answered()
    try:
        return await call_noting(handler, request, answered)
    finally:
        event = event_for(request, answered.status, answered.code)
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                # record_events writes a server id without a row (an unknown id in the path) as null.
                await record_events(request.app[STORES].pg, [event])
        except Exception as exc:  # the answer must not depend on the event log
            log.error("action event write failed", error=type(exc).__name__, action=event.detail)
