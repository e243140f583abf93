"""A tool call's context: the grants read when the call starts, the source limited to them."""

from __future__ import annotations

import uuid

from api.mcp.context import Backend
from tests.api.mcp.conftest import Fleet, context_for


async def test_an_admin_sees_every_server(backend: Backend) -> None:
    ctx = await context_for(backend, "admin")
    assert ctx.servers is None and ctx.may_see(uuid.uuid4())
    assert ctx.source().servers is None


async def test_a_viewer_sees_its_grants_only(backend: Backend, fleet: Fleet) -> None:
    ctx = await context_for(backend, "viewer", grants=[fleet.web.server_id])
    assert ctx.servers == frozenset({fleet.web.server_id})
    assert ctx.may_see(fleet.web.server_id) and not ctx.may_see(fleet.db.server_id)
    assert ctx.source().servers == frozenset({fleet.web.server_id})


async def test_a_viewer_without_grants_sees_nothing(backend: Backend) -> None:
    ctx = await context_for(backend, "operator")
    assert ctx.servers == frozenset() and not ctx.may_see(uuid.uuid4())
