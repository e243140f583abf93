"""``POST /mcp``: the MCP server over streamable HTTP, on the API's aiohttp application.

The SDK's transport is an ASGI application (``mcp.server.streamable_http_manager``'s session manager); this
module bridges one aiohttp request to it: the checked body becomes the ASGI ``receive``, the ASGI
``send`` messages become a :class:`aiohttp.web.StreamResponse`. The manager runs stateless with JSON
answers: each POST carries its JSON-RPC message and gets its answer, so nothing is kept between requests
and any API process can answer any request. There is no ``GET`` stream (405), so the server never pushes.

Before the SDK sees a request: the caller must be an API token with the ``mcp`` scope (401/403); the
``Host`` header must name this service (loopback, the ``listen`` address or ``mcp.allowed_hosts``, else
421) and an ``Origin`` header, when a browser sends one, must be this service's own origin or one of
``mcp.allowed_origins`` (else 403): a page on another site, or one reached through DNS rebinding, cannot
drive it. Bodies larger than ``mcp.max_body_bytes`` are a 413.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from aiohttp import web
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from api.auth.apitokens import MCP_SCOPE
from api.auth.authz import require_role
from api.client_address import client_address
from api.errors import ApiError
from api.keys import SETTINGS, STORES, VERSION
from api.mcp.context import Backend, ToolContext, tool_context
from api.mcp.server import build_server
from api.openapi import ApiRoutes
from api.prometheus.context import ENGINE
from api.remote_write import read_body
from collector.config.settings import Settings
from collector.hostport import split_host_port

MCP_PATH = "/mcp"
CONTEXT_KEY = "openmanager.mcp.context"
"""Where the ASGI scope carries the call's :class:`ToolContext` to the tools."""
MANAGER: web.AppKey[StreamableHTTPSessionManager] = web.AppKey("mcp.manager", StreamableHTTPSessionManager)
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - names to leave out, not to bind

routes = ApiRoutes()


def host_allowed(host_header: str | None, settings: Settings) -> bool:
    """Whether ``Host`` names this service: loopback, the ``listen`` host or ``mcp.allowed_hosts``."""
    if not host_header:
        return False
    value = host_header.strip().casefold()
    allowed = {entry.casefold() for entry in settings.mcp.allowed_hosts}
    if value in allowed:
        return True
    host = split_host_port(value)[0]
    names = set(_LOOPBACK_NAMES) | {split_host_port(entry)[0] for entry in allowed}
    if settings.listen_host not in _ANY_ADDRESS:
        names.add(settings.listen_host.casefold())
    return host in names


def origin_allowed(origin: str | None, scheme: str, host_header: str | None, settings: Settings) -> bool:
    """Whether a request's ``Origin`` may call: absent, this service's own, or in ``mcp.allowed_origins``."""
    if origin is None:
        return True
    value = origin.strip().rstrip("/").casefold()
    if host_header and value == f"{scheme}://{host_header.strip()}".casefold():
        return True
    return value in {entry.rstrip("/").casefold() for entry in settings.mcp.allowed_origins}


def _check_request(request: web.Request) -> None:
    settings = request.app[SETTINGS]
    host = request.headers.get("Host")
    if not host_allowed(host, settings):
        raise ApiError(
            421,
            "this Host is not a name of this service; an administrator may add it to mcp.allowed_hosts",
            code="host_not_allowed",
        )
    if not origin_allowed(request.headers.get("Origin"), request.scheme, host, settings):
        raise ApiError(
            403,
            "requests from this Origin are refused; an administrator may add it to mcp.allowed_origins",
            code="origin_not_allowed",
        )


def _asgi_scope(request: web.Request, ctx: ToolContext) -> dict[str, Any]:
    host, port = request.transport.get_extra_info("sockname")[:2] if request.transport else ("", 0)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.encode(),
        "root_path": "",
        "query_string": request.query_string.encode(),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()],
        "client": (request.remote or "", 0),
        "server": (host, port),
        "state": {},
        CONTEXT_KEY: ctx,
    }


async def bridge(
    request: web.Request, manager: StreamableHTTPSessionManager, body: bytes, ctx: ToolContext
) -> web.StreamResponse:
    """Answer ``request`` (its ``body`` already read) with the SDK's ASGI transport."""
    answered = asyncio.Event()
    body_sent = False
    response: web.StreamResponse | None = None

    async def receive() -> MutableMapping[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            response = web.StreamResponse(status=message["status"])
            for name, value in message.get("headers", []):
                response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
            await response.prepare(request)
        elif message["type"] == "http.response.body" and response is not None:
            await response.write(message.get("body", b""))
            if not message.get("more_body", False):
                await response.write_eof()
                answered.set()

    try:
        await manager.handle_request(_asgi_scope(request, ctx), receive, send)
    finally:
        answered.set()
    if response is None:
        raise ApiError(500, "the MCP transport gave no answer")
    return response


@routes.post(
    MCP_PATH,
    name="mcp",
    summary="The MCP server (streamable HTTP, JSON answers): read-only monitoring tools for AI assistants",
    tag="mcp",
    role="viewer",
    errors=(
        (413, "The body is larger than mcp.max_body_bytes"),
        (421, "The Host header does not name this service"),
    ),
)
async def mcp_endpoint(request: web.Request) -> web.StreamResponse:
    """One JSON-RPC message of the Model Context Protocol (``initialize``, ``tools/list``, ``tools/call``).

    Needs an API token with the ``mcp`` scope; tool results see the token's servers only. The answer is
    JSON (``Accept`` must include ``application/json`` and ``text/event-stream``, as MCP clients send).
    """
    principal = require_role(request, "viewer")
    _check_request(request)
    if principal.kind != "api_token" or MCP_SCOPE not in principal.scopes:
        raise ApiError(
            403,
            "the MCP server needs an API token with the mcp scope (POST /api/tokens with scopes: [mcp])",
            code="scope_required",
        )
    settings = request.app[SETTINGS]
    body = await read_body(request, settings.mcp.max_body_bytes, "mcp.max_body_bytes")
    backend = Backend(request.app[STORES], request.app[ENGINE], settings)
    ctx = await tool_context(backend, principal, transport="http", remote_addr=client_address(request))
    return await bridge(request, request.app[MANAGER], body, ctx)


def setup_mcp(app: web.Application) -> None:
    """``POST /mcp`` and its session manager, run for the application's lifetime in a task of its own."""
    routes.register(app)

    async def manager_ctx(app: web.Application) -> AsyncIterator[None]:
        server: Server[Any, Any] = build_server(
            lambda: _call_context(server), version=app[VERSION], audit_path=MCP_PATH
        )
        manager = StreamableHTTPSessionManager(
            server,
            json_response=True,
            stateless=True,
            max_request_body_size=app[SETTINGS].mcp.max_body_bytes,
        )
        app[MANAGER] = manager
        running = asyncio.Event()
        stop = asyncio.Event()

        async def hold() -> None:
            # The manager's anyio task group must be entered and left in one task; aiohttp's start-up and
            # clean-up may run in different ones.
            async with manager.run():
                running.set()
                await stop.wait()

        task = asyncio.create_task(hold())
        await running.wait()
        try:
            yield
        finally:
            stop.set()
            await task

    app.cleanup_ctx.append(manager_ctx)


async def _call_context(server: Server[Any, Any]) -> ToolContext:
    # The transport hands the tools the Starlette request it made of our ASGI scope.
    request = server.request_context.request
    ctx = request.scope[CONTEXT_KEY] if request is not None else None
    assert isinstance(ctx, ToolContext)
    return ctx
