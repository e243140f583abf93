"""Calling a tool: validation, refusals and failures as error results, and the audit entry of each."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from mcp import types

from api.mcp.context import Backend, ToolContext
from api.mcp.output import Answer
from api.mcp.server import TOOLS, call, tool_list
from api.mcp.spec import ToolArgs, ToolSpec
from tests.api.mcp.conftest import context_for


def _payload(result: types.CallToolResult) -> dict[str, Any]:
    assert result.structuredContent is not None
    return result.structuredContent


async def _audit_rows(pool: asyncpg.Pool, ctx: ToolContext) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT action, status, detail FROM audit_log WHERE actor_name = $1 ORDER BY id",
        ctx.principal.username,
    )


async def test_an_unknown_tool_and_bad_arguments_are_refused_and_audited(backend: Backend) -> None:
    ctx = await context_for(backend, "viewer")
    unknown = await call(TOOLS, ctx, "restart_server", {"server": "web-1"}, audit_path="/mcp")
    extra = await call(TOOLS, ctx, "list_servers", {"status": "up", "sudo": True}, audit_path="/mcp")
    wrong = await call(TOOLS, ctx, "top_processes", {"server": "web-1", "limit": 0}, audit_path="/mcp")
    assert unknown.isError and _payload(unknown)["error"] == "no tool named 'restart_server'"
    assert extra.isError and "sudo: Extra inputs are not permitted" in _payload(extra)["error"]
    assert wrong.isError and "limit: Input should be greater than or equal to 1" in _payload(wrong)["error"]
    rows = await _audit_rows(backend.pg, ctx)
    assert [(r["action"], r["status"]) for r in rows] == [
        ("mcp.restart_server", 404),
        ("mcp.list_servers", 422),
        ("mcp.top_processes", 422),
    ]
    assert json.loads(rows[0]["detail"]) == {
        "kind": "api_token",
        "transport": "http",
        "arguments": '{"server": "web-1"}',
    }


async def test_a_failing_tool_answers_an_internal_error_without_its_details(backend: Backend) -> None:
    async def broken(_: ToolContext, __: ToolArgs) -> Answer:
        raise RuntimeError("secret detail")

    ctx = await context_for(backend, "admin")
    result = await call([ToolSpec("broken", "fails", ToolArgs, broken)], ctx, "broken", {}, audit_path="/mcp")
    assert result.isError
    assert _payload(result) == {"tool": "broken", "error": "internal error; see the server's log"}
    assert [(r["action"], r["status"]) for r in await _audit_rows(backend.pg, ctx)] == [("mcp.broken", 500)]


def test_every_tool_is_declared_read_only() -> None:
    declared = tool_list(TOOLS)
    assert [tool.name for tool in declared] == [tool.name for tool in TOOLS]
    for tool in declared:
        assert tool.annotations is not None
        assert tool.annotations.readOnlyHint is True and tool.annotations.destructiveHint is False
