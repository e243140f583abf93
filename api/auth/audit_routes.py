"""``GET /api/audit``: the audit log for administrators, filtered by actor and time, paged."""

from __future__ import annotations

from aiohttp import web

from api.auth.audit import AuditQuery, read_entries
from api.auth.models import AuditPage, AuditParams, AuditRecord
from api.keys import STORES
from api.openapi import ApiRoutes, query_of

routes = ApiRoutes()


@routes.get(
    "/api/audit",
    name="audit.list",
    summary="Read the audit log",
    tag="users",
    role="admin",
    query=AuditParams,
    response=AuditPage,
)
async def list_audit(request: web.Request) -> AuditPage:
    """Audit entries, newest first: ``actor``, ``since`` (ISO 8601), ``limit`` (≤ 1000), ``offset``."""
    params = query_of(request, AuditParams)
    query = AuditQuery(params.actor, params.since, params.limit, params.offset)
    entries = await read_entries(request.app[STORES].pg, query)
    return AuditPage(
        entries=[AuditRecord.model_validate(entry) for entry in entries],
        limit=params.limit,
        offset=params.offset,
    )
