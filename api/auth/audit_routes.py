"""``GET /api/audit``: the audit log for administrators, filtered by actor and time, paged."""

from __future__ import annotations

from aiohttp import web

from api.auth.audit import AuditQuery, read_entries
from api.auth.authz import require_role
from api.auth.models import AuditParams
from api.auth.validation import read_query
from api.keys import STORES

routes = web.RouteTableDef()


@routes.get("/api/audit", name="audit.list")
async def list_audit(request: web.Request) -> web.Response:
    """Audit entries, newest first: ``actor``, ``since`` (ISO 8601), ``limit`` (≤ 1000), ``offset``."""
    require_role(request, "admin")
    params = read_query(request, AuditParams)
    query = AuditQuery(params.actor, params.since, params.limit, params.offset)
    entries = await read_entries(request.app[STORES].pg, query)
    return web.json_response({"entries": entries, "limit": params.limit, "offset": params.offset})
