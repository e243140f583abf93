"""The audit log: every state-changing API request — who, what, when, with which result.

Only the request line's parts are kept (method, path, route name, the ``id`` in the path), never bodies,
query strings or headers, so no password or token can land in the log. A failed write is logged and the
request goes on: auditing must not take the API down with the database.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth.principal import principal_of
from api.errors import ApiError
from api.keys import STORES

log = structlog.get_logger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WRITE_TIMEOUT_S = 2.0
_CLIENT_GONE = 499
"""Status recorded when the client went away before the answer (nginx's convention)."""


@dataclass(frozen=True)
class AuditEntry:
    """One audited request."""

    actor: str
    actor_name: str | None
    method: str
    path: str
    action: str | None
    target: str | None
    status: int
    remote_addr: str | None
    detail: dict[str, object]


def is_audited(request: web.Request) -> bool:
    """True for state-changing requests under ``/api/``."""
    return request.method in STATE_CHANGING and request.path.startswith("/api/")


def entry_for(request: web.Request, status: int) -> AuditEntry:
    """What the log keeps about ``request`` (read after the handler, so a login names who logged in)."""
    principal = principal_of(request)
    route = request.match_info.route
    return AuditEntry(
        actor=principal.actor if principal else "anonymous",
        actor_name=principal.username if principal else None,
        method=request.method,
        path=request.path,
        action=route.name if route is not None else None,
        target=request.match_info.get("id"),
        status=status,
        remote_addr=request.remote,
        detail={"kind": principal.kind} if principal else {},
    )


async def write_entry(pool: asyncpg.Pool, entry: AuditEntry) -> None:
    """Insert ``entry`` into ``audit_log``."""
    await pool.execute(
        """INSERT INTO audit_log
               (actor, actor_name, method, path, action, target, status, remote_addr, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
        entry.actor,
        entry.actor_name,
        entry.method,
        entry.path,
        entry.action,
        entry.target,
        entry.status,
        entry.remote_addr,
        json.dumps(entry.detail),
    )


async def _record(request: web.Request, status: int) -> None:
    entry = entry_for(request, status)
    try:
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await write_entry(request.app[STORES].pg, entry)
    except Exception as exc:  # any failure: the request's outcome must not depend on the audit log
        log.error(
            "audit write failed",
            error=type(exc).__name__,
            method=entry.method,
            path=entry.path,
            status=entry.status,
            actor=entry.actor,
        )


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record each state-changing request with its final status, whether it succeeded or failed."""
    if not is_audited(request):
        return await handler(request)
    status = _CLIENT_GONE
    try:
        response = await handler(request)
        status = response.status
        return response
    except ApiError as exc:
        status = exc.status
        raise
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception:
        status = 500
        raise
    finally:
        await _record(request, status)


@dataclass(frozen=True)
class AuditQuery:
    """A filter over the audit log."""

    actor: str | None
    since: datetime | None
    limit: int
    offset: int


async def read_entries(pool: asyncpg.Pool, query: AuditQuery) -> list[dict[str, object]]:
    """Entries matching ``query``, newest first, as JSON objects."""
    rows = await pool.fetch(
        """SELECT id, at, actor, actor_name, method, path, action, target, status, remote_addr, detail
           FROM audit_log
           WHERE ($1::text IS NULL OR actor = $1) AND ($2::timestamptz IS NULL OR at >= $2)
           ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4""",
        query.actor,
        query.since,
        query.limit,
        query.offset,
    )
    return [
        {
            "id": row["id"],
            "at": row["at"].isoformat(),
            "actor": row["actor"],
            "actor_name": row["actor_name"],
            "method": row["method"],
            "path": row["path"],
            "action": row["action"],
            "target": row["target"],
            "status": row["status"],
            "remote_addr": row["remote_addr"],
            "detail": json.loads(row["detail"]),
        }
        for row in rows
    ]
