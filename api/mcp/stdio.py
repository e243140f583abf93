"""``openmanager mcp``: the MCP server over standard input and output, for an assistant that starts it.

It connects to the stores the settings name (as ``openmanager api`` does) and acts for one API token, read
from ``$OM_MCP_TOKEN`` or the file given with ``--token-file``: the token must carry the ``mcp`` scope, and
is checked again at every tool call, so a revoked or expired token stops working at once. The grants and
the audit log are those of ``/mcp``. Logs go to standard error; standard output carries only the protocol.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import structlog
from mcp.server.stdio import stdio_server

from api.auth.apitokens import MCP_SCOPE, authenticate_api_token
from api.auth.principal import Principal
from api.mcp.context import Backend, ToolContext, tool_context
from api.mcp.server import build_server
from api.mcp.spec import ToolError
from api.prometheus.context import engine_settings
from collector.config.settings import Settings
from collector.promql import Engine
from collector.storage.connections import open_stores

log = structlog.get_logger(__name__)

TOKEN_ENV = "OM_MCP_TOKEN"  # noqa: S105 - the variable's name, not a token
AUDIT_PATH = "openmanager mcp"


class TokenError(Exception):
    """No usable API token: missing, unreadable, unknown, expired or without the ``mcp`` scope."""


def read_token(token_file: Path | None, environ: dict[str, str] | None = None) -> str:
    """The API token: from ``$OM_MCP_TOKEN``, else the first line of ``token_file``."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if token:
        return token
    if token_file is None:
        raise TokenError(f"no API token: set {TOKEN_ENV} or pass --token-file FILE")
    try:
        lines = token_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TokenError(f"{token_file}: cannot be read: {exc.strerror}") from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise TokenError(f"{token_file}: holds no token")
    return token


async def _principal(backend: Backend, token: str) -> Principal:
    owner = await authenticate_api_token(backend.pg, token, now=time.time())
    if owner is None:
        raise TokenError("the API token is unknown, revoked or expired")
    if MCP_SCOPE not in owner.scopes:
        raise TokenError("the API token lacks the mcp scope (create one with scopes: [mcp])")
    return Principal(
        owner.user_id, owner.username, owner.role, "api_token", str(owner.token_id), owner.scopes
    )


async def serve_stdio(settings: Settings, token: str, version: str) -> None:
    """Serve MCP on stdin/stdout until the client closes it; raises :class:`TokenError` at start."""
    async with open_stores(settings) as stores:
        backend = Backend(stores, Engine(settings=engine_settings(settings.query)), settings)
        principal = await _principal(backend, token)
        log.info("mcp over stdio", user=principal.username, role=principal.role, token=principal.token_id)

        async def context_of() -> ToolContext:
            try:
                current = await _principal(backend, token)
            except TokenError as exc:
                raise ToolError(str(exc), 401) from None
            return await tool_context(backend, current, transport="stdio")

        server = build_server(context_of, version=version, audit_path=AUDIT_PATH)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    sys.stderr.flush()
