"""The audit log: every state-changing API request — who, what, when, with which result.

Only the request line's parts are kept (method, path, route name, the ``id`` in the path), never bodies,
query strings or headers, so no password or token can land in the log; the one exception is the username a
login tried, which a handler hands over with :func:`note_attempted_username` so a failed login says whom it
was aimed at. The address is the client's (:mod:`api.client_address`), with the proxy's as ``detail.peer``
when they differ. A failed write is logged and the request goes on: auditing must not take the API down with
the database.
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
from api.client_address import client_address
from api.errors import Answered, call_noting
from api.keys import STORES
from api.prometheus.paths import READ_ONLY_POSTS

log = structlog.get_logger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNAUDITED_PATHS = frozenset({"/api/v1/write"})
"""Sample ingestion, many requests a second: counted by the receiver's metrics instead."""
WRITE_TIMEOUT_S = 2.0


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


_ATTEMPTED_USERNAME: web.RequestKey[str] = web.RequestKey("audit.attempted_username", str)


def note_attempted_username(request: web.Request, username: str) -> None:
    """Record, with ``request``'s entry, the username a login tried (never the password)."""
    request[_ATTEMPTED_USERNAME] = username


_NOTES: web.RequestKey[dict[str, object]] = web.RequestKey("audit.notes", dict)


def note_audit_detail(request: web.Request, **detail: object) -> None:
    """Add ``detail`` to ``request``'s entry: what a handler decided (a remote action's name, run id and
    outcome), never a secret."""
    request.setdefault(_NOTES, {}).update(detail)


def is_audited(request: web.Request) -> bool:
    """True for state-changing requests under ``/api/`` (but remote-write pushes, and Prometheus queries sent
    as a POST form)."""
    return (
        request.method in STATE_CHANGING
        and request.path.startswith("/api/")
        and request.path not in UNAUDITED_PATHS
        and not (request.method == "POST" and request.path in READ_ONLY_POSTS)
    )


def entry_for(request: web.Request, status: int) -> AuditEntry:
    """What the log keeps about ``request`` (read after the handler, so a login names who logged in)."""
    principal = principal_of(request)
    route = request.match_info.route
    detail: dict[str, object] = {"kind": principal.kind} if principal else {}
    attempted = request.get(_ATTEMPTED_USERNAME)
    if principal is None and attempted is not None:
        detail["attempted_username"] = attempted
    client = client_address(request)
    if request.remote is not None and client != request.remote:
        detail["peer"] = request.remote
    detail.update(request.get(_NOTES, {}))
    return AuditEntry(
        actor=principal.actor if principal else "anonymous",
        actor_name=principal.username if principal else None,
        method=request.method,
        path=request.path,
        action=route.name if route is not None else None,
        target=request.match_info.get("id"),
        status=status,
        remote_addr=client,
        detail=detail,
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
    answered = Answered()
    try:
        return await call_noting(handler, request, answered)
    finally:
        await _record(request, answered.status)


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
