"""``openmanager mcp``: the SDK's client spawns the command and talks to it over stdin/stdout."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from api.auth.apitokens import revoke_api_token
from api.mcp.server import TOOLS
from api.mcp.stdio import TokenError, read_token
from collector.config.settings import Settings
from tests.api.mcp.conftest import Fleet, McpToken, make_token
from tests.api.mcp.test_http import data_of, tool_calls


@pytest.fixture
def environment(settings: Settings, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of an ``openmanager mcp`` on the test's database and this run's Redis."""
    assert settings.postgres.dsn is not None
    pg_dsn = settings.postgres.dsn.get_secret_value()
    targets = tmp_path / "targets.yaml"
    targets.write_text("scrape_configs: []\n")
    return {
        "PATH": os.environ.get("PATH", ""),
        "OM_POSTGRES_DSN": pg_dsn,
        "OM_REDIS_URL": redis_url,
        "OM_DATA_DIR": str(tmp_path / "data"),
        "OM_TARGETS": str(targets),
        "OM_LOG_LEVEL": "warning",
    }


@asynccontextmanager
async def stdio_session(environment: dict[str, str], token: McpToken) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with a spawned ``openmanager mcp`` acting for ``token``."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "openmanager", "mcp"],
        env={**environment, "OM_MCP_TOKEN": token.token},
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_the_sdk_client_spawns_the_command_lists_every_tool_and_calls_each(
    environment: dict[str, str], pool: asyncpg.Pool, fleet: Fleet
) -> None:
    token = await make_token(pool, "viewer", grants=[fleet.web.server_id, fleet.db.server_id])
    async with stdio_session(environment, token) as session:
        listed = await session.list_tools()
        results = {name: await session.call_tool(name, args) for name, args in tool_calls(fleet).items()}
    assert {tool.name for tool in listed.tools} == {tool.name for tool in TOOLS}
    for name, result in results.items():
        assert not result.isError, (name, result.content)
    vector = data_of(results["query"])["data"]["result"]
    assert sorted(s["value"][1] for s in vector) == ["0.75", "2.5"]
    assert data_of(results["server_status"])["data"]["id"] == str(fleet.db.server_id)
    audited = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE path = 'openmanager mcp' AND actor_name = "
        "(SELECT username FROM users WHERE id = $1) AND detail->>'transport' = 'stdio'",
        token.user_id,
    )
    assert audited == len(results)


async def test_a_viewer_sees_only_its_servers_and_a_revoked_token_stops_at_once(
    environment: dict[str, str], pool: asyncpg.Pool, fleet: Fleet
) -> None:
    token = await make_token(pool, "viewer", grants=[fleet.db.server_id])
    async with stdio_session(environment, token) as session:
        listed = data_of(await session.call_tool("list_servers", {}))
        assert [s["name"] for s in listed["data"]["servers"]] == ["db-1"]
        hidden = await session.call_tool("top_processes", {"server": "web-1"})
        assert hidden.isError
        token_id = await pool.fetchval("SELECT id FROM api_tokens WHERE user_id = $1", token.user_id)
        assert await revoke_api_token(pool, token_id, None)
        refused = await session.call_tool("list_servers", {})
    assert refused.isError


@pytest.mark.parametrize("scopes", [(), ("write",)])
async def test_a_token_without_the_mcp_scope_does_not_start(
    environment: dict[str, str], pool: asyncpg.Pool, scopes: tuple[str, ...]
) -> None:
    token = await make_token(pool, "operator", scopes=scopes)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openmanager",
        "mcp",
        env={**environment, "OM_MCP_TOKEN": token.token},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 2
    assert stdout == b""
    assert b"lacks the mcp scope" in stderr and token.token.encode() not in stderr


def test_the_token_comes_from_the_environment_else_the_file(tmp_path: Path) -> None:
    file = tmp_path / "token"
    file.write_text("om_from_file\n")
    assert read_token(file, {"OM_MCP_TOKEN": "om_from_env"}) == "om_from_env"
    assert read_token(file, {}) == "om_from_file"
    with pytest.raises(TokenError, match="OM_MCP_TOKEN"):
        read_token(None, {})
    with pytest.raises(TokenError, match="cannot be read"):
        read_token(tmp_path / "absent", {})
    file.write_text("\n")
    with pytest.raises(TokenError, match="holds no token"):
        read_token(file, {})
