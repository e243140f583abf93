"""The OWASP table (issue 18): each control proved over the whole API surface, one case per line.

Routes come from the OpenAPI document (:func:`api.openapi.openapi_document`, built from the routes the app
registers), so a route added tomorrow is in these tables without anyone remembering to add it; the hand tables
below only give parameter values, and name the few routes that cannot be driven generically, with why.

1. Grants on every read path: a viewer and an operator granted server A only call every GET route (and the
   reads sent as POST, the SSE stream, MCP) with A's and B's ids; no answer about B carries B's id, name or
   address, while A's equivalent is served wherever an admin's answer shows A.
2. Role on every state-changing route: a viewer gets 403 (anonymous 401), never a 2xx or 5xx, and no table
   changes; an operator granted A is refused on B.
3. Login enumeration: an unknown user and a wrong password get the same status and body, each after one
   argon2 verification.
4. SSRF spellings of metadata and link-local addresses are refused by the connection test and registration,
   and nothing is connected to.
5. Limits: an oversized body is a 413, a slow request head is cut, SSE streams per user are capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, cast

import httpx
import pyotp
import pytest
import pytest_asyncio
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from api.app import create_app
from api.auth import login as login_module
from api.auth.accounts import set_totp_secret
from api.auth.roles import role_at_least
from api.httpserver import guarded_runner
from api.keys import BROKER, SETTINGS, STORES, STREAM_CONFIG
from api.openapi import openapi_document
from api.passwords import verify_password
from collector.alerts.publisher import alert_json
from collector.storage.keys import EVENTS_ALERTS, EVENTS_SCRAPE, EVENTS_STATUS, channel
from collector.storage.users import Role
from tests.api.auth.conftest import bearer, login, make_user
from tests.api.test_events import READ_TIMEOUT_S, firing_alert, next_event_of, read_frame
from tests.loopback import loopback_only
from tests.owasp_world import Side, World, world, world_settings
from tests.ports import listening

__all__ = ["world"]

in_the_world = pytest.mark.asyncio(loop_scope="module")
"""The tests of tables 1 and 2 share the module's world and so its event loop."""

_PARAM = re.compile(r"\{(\w+)\}")


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document of the application (built without connecting to any store)."""
    data = Path(tempfile.mkdtemp(prefix="owasp-doc-"))
    settings = world_settings("postgresql://127.0.0.1:1/unused", "redis://127.0.0.1:1/0", data)
    return openapi_document(create_app(settings))


def operations(*methods: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every documented operation with one of ``methods``."""
    return [
        (method.upper(), path, op)
        for path, item in document()["paths"].items()
        for method, op in item.items()
        if method.upper() in methods
    ]


def minimum_role(op: Mapping[str, Any]) -> Role | None:
    """The role the document says the operation needs; None for a public one."""
    role: Role | None = op.get("x-minimum-role")
    return role


# --- 1. Grants on every read path ---------------------------------------------------------------------------

NOT_GENERIC_GETS = {
    "/api/events": "an endless stream; see test_the_event_stream_carries_only_granted_servers",
}
"""GET routes the generic table does not call, and where they are covered instead."""

SERVER_QUERY = {"serverId", "server_id", "server"}
"""Query parameters that name a server: filled with the side's id."""


def path_value(path: str, param: str, side: Side, w: World) -> str:
    """A value for a path parameter: the side's own object where the route is about one."""
    if param == "run_id":
        return str(side.run_id)
    if param == "name":
        return "instance" if path.startswith("/api/v1/label/") else "restart"
    owned: list[tuple[str, Callable[[], str]]] = [
        ("/api/servers/", lambda: str(side.id)),
        ("/api/alerts/silences/", lambda: side.silence_id),
        ("/api/alerts/rules/", lambda: side.rule_id),
        ("/api/alerts/channels/", lambda: str(uuid.uuid4())),
        ("/api/users/", lambda: str(w.users["operator"].id)),
        ("/api/tokens/", lambda: str(w.token_ids["admin"])),
        ("/api/alerts/", lambda: str(side.alert_id)),
    ]
    for prefix, value in owned:
        if path.startswith(prefix):
            return value()
    raise AssertionError(f"no value for {{{param}}} of {path}: add one to path_value")


def fill(path: str, side: Side, w: World) -> str:
    """``path`` with its parameters filled for ``side``."""
    return _PARAM.sub(lambda m: path_value(path, m.group(1), side, w), path)


def up_of(side: Side) -> str:
    """A selector of the side's ``up`` series."""
    return f'up{{instance="{side.address}"}}'


def query_for(path: str, op: Mapping[str, Any], side: Side | None, w: World) -> dict[str, str]:
    """Query parameters: the side's id for a server filter, a selector of the side for PromQL routes; with
    no side, the whole fleet (no filter, every ``up`` series of the job)."""
    now = time.time()
    selector = f'up{{job="{w.job}"}}' if side is None else up_of(side)
    by_path: dict[str, dict[str, str]] = {
        "/api/monitoring/performance": {"metric": "cpu"},
        "/api/v1/query": {"query": selector},
        "/api/v1/query_range": {"query": selector, "start": str(now - 600), "end": str(now), "step": "60"},
        "/api/v1/query_exemplars": {"query": selector},
        "/api/v1/series": {"match[]": selector},
        "/api/v1/labels": {"match[]": selector},
        "/api/v1/label/{name}/values": {"match[]": selector},
        "/federate": {"match[]": selector.replace("up", "", 1)},
    }
    query = dict(by_path.get(path, {}))
    if side is not None:
        if path == "/api/monitoring/servers":
            query["name"] = side.host
        for param in op["parameters"]:
            if param["in"] == "query" and param["name"] in SERVER_QUERY:
                query[param["name"]] = str(side.id)
    return query


def takes_a_side(path: str, op: Mapping[str, Any]) -> bool:
    """Whether the call differs between A and B (a server's object in the path, a server filter or a
    selector of the server)."""
    queries = {p["name"] for p in op["parameters"] if p["in"] == "query"}
    if queries & SERVER_QUERY or path in PER_SIDE_QUERIES:
        return True
    return "{" in path and not path.startswith(NOT_A_SERVER_PATH)


NOT_A_SERVER_PATH = ("/api/alerts/channels/", "/api/users/", "/api/tokens/", "/api/v1/label/")
"""Paths whose parameters name no server's object: called once, with the same values for A and B."""


PER_SIDE_QUERIES = {
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/query_exemplars",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/{name}/values",
    "/federate",
    "/api/monitoring/servers",
}
NO_SERVER_IN_ANSWER = {
    "/api/v1/query_exemplars": "exemplars are not kept: the answer is empty for anyone",
    "/api/v1/labels": "label names only, no values",
}
"""Routes asked about B whose answer names no server even to an admin."""


def read_cases() -> list[Any]:
    """Every GET route once over the whole fleet (those without path parameters), and about A and about B
    where the call can name a server."""
    cases = []
    for method, path, op in operations("GET"):
        if path in NOT_GENERIC_GETS:
            continue
        sides = ("A", "B") if takes_a_side(path, op) else ()
        if "{" not in path:
            sides = ("-", *sides)
        for caller in ("viewer", "operator"):
            for side in sides:
                cases.append(pytest.param(caller, path, side, id=f"{caller} {method} {path} {side}"))
    return cases


def leaked(w: World, status: int, text: str) -> list[str]:
    """B's marks in an answer; a refusal may repeat B's id, which the caller sent, but nothing more."""
    shown = w.b.shown_in(text)
    return [mark for mark in shown if status < 400 or mark != str(w.b.id)]


async def call_get(w: World, caller: str, path: str, side: Side | None) -> tuple[int, str]:
    op = document()["paths"][path]["get"]
    response = await w.client.get(
        fill(path, side or w.a, w), params=query_for(path, op, side, w), headers=w.headers[caller]
    )
    return response.status, await response.text()


@in_the_world
@pytest.mark.parametrize(("caller", "path", "side"), read_cases())
async def test_every_read_path_hides_the_ungranted_server(
    world: World, caller: str, path: str, side: str
) -> None:
    op = document()["paths"][path]["get"]
    asked = {"A": world.a, "B": world.b}.get(side)
    status, text = await call_get(world, caller, path, asked)
    admin_status, admin_text = await call_get(world, "admin", path, asked)
    assert status < 500 and admin_status < 500, (status, text[:300])
    assert leaked(world, status, text) == [], f"{caller} was shown server B: {text[:500]}"
    role = minimum_role(op)
    allowed = role is None or role_at_least(cast(Role, caller), role)
    if (
        side in ("B", "-")
        and path not in NO_SERVER_IN_ANSWER
        and (side == "B" or world.a.shown_in(admin_text))
    ):
        # An admin is answered about B (asked for, or listed beside A), so the caller's answer was filtered.
        assert world.b.shown_in(admin_text), admin_text[:300]
    if side != "B" and allowed and world.a.shown_in(admin_text):
        assert status == 200, (status, text[:300])
        assert world.a.shown_in(text), f"{caller} was not served A's equivalent: {text[:500]}"
    if not allowed:
        assert status == 403, (status, text[:300])


READ_POSTS: dict[str, Callable[[Side], dict[str, Any]]] = {
    "/api/monitoring/servers": lambda side: {"json": {"name": side.host}},
    "/api/v1/query": lambda side: {"data": {"query": up_of(side)}},
    "/api/v1/query_range": lambda side: {
        "data": {
            "query": up_of(side),
            "start": str(time.time() - 600),
            "end": str(time.time()),
            "step": "60",
        }
    },
    "/api/v1/query_exemplars": lambda side: {"data": {"query": up_of(side)}},
    "/api/v1/series": lambda side: {"data": {"match[]": up_of(side)}},
    "/api/v1/labels": lambda side: {"data": {"match[]": up_of(side)}},
    "/api/mcp/query": lambda side: {"json": {"query": f"what is the cpu of {side.name}?", "language": "en"}},
}
"""Reads sent as POST (a filter body, a PromQL form, a question), with what asks about the side."""


@in_the_world
@pytest.mark.parametrize(
    ("caller", "path", "side"),
    [
        pytest.param(caller, path, side, id=f"{caller} POST {path} {side}")
        for path in READ_POSTS
        for caller in ("viewer", "operator")
        for side in ("A", "B")
    ],
)
async def test_every_read_sent_as_a_post_hides_the_ungranted_server(
    world: World, caller: str, path: str, side: str
) -> None:
    asked = world.side(side)
    answers = {}
    for who in (caller, "admin"):
        response = await world.client.post(path, headers=world.headers[who], **READ_POSTS[path](asked))
        answers[who] = (response.status, await response.text())
    (status, text), (_, admin_text) = answers[caller], answers["admin"]
    assert status == 200, (status, text[:300])
    assert leaked(world, status, text) == [], f"{caller} was shown server B: {text[:500]}"
    if path not in NO_SERVER_IN_ANSWER:
        assert asked.shown_in(admin_text), admin_text[:300]
        if side == "A":
            assert world.a.shown_in(text), f"{caller} was not served A's equivalent: {text[:500]}"


EVENT_KINDS = ("status", "scrape", "alert")


async def publish(w: World, kind: str, server_id: uuid.UUID) -> None:
    """Publish an event about ``server_id`` shaped as the collector and the alert engine publish it."""
    redis = w.app[STORES].redis
    if kind == "alert":
        channel_name, message = EVENTS_ALERTS, alert_json(firing_alert(server_id))
    elif kind == "scrape":
        channel_name = EVENTS_SCRAPE
        message = {"server_id": str(server_id), "ts": time.time(), "up": True, "status": "up", "summary": {}}
    else:
        channel_name = EVENTS_STATUS
        message = {"server_id": str(server_id), "status": "down", "previous": "up", "ts": time.time()}
    await redis.publish(channel(channel_name, redis), json.dumps(message))


@in_the_world
@pytest.mark.parametrize("kind", EVENT_KINDS)
@pytest.mark.parametrize("caller", ["viewer", "operator"])
async def test_the_event_stream_carries_only_granted_servers(world: World, caller: str, kind: str) -> None:
    await asyncio.wait_for(world.app[BROKER].ready.wait(), READ_TIMEOUT_S)
    both = {world.a.id, world.b.id}
    streams = {}
    for who in (caller, "admin"):
        response = await world.client.get("/api/events", headers=world.headers[who])
        assert response.status == 200, await response.text()
        await read_frame(response)
        streams[who] = response
    try:
        await publish(world, kind, world.b.id)
        await publish(world, kind, world.a.id)
        seen = await next_event_of(streams[caller], both)
        admin_seen = await next_event_of(streams["admin"], both)
    finally:
        for response in streams.values():
            response.close()
    assert (seen.event, uuid.UUID(seen.json()["server_id"])) == (kind, world.a.id)
    assert world.b.shown_in(seen.data or "") == []
    assert uuid.UUID(admin_seen.json()["server_id"]) == world.b.id, "B's event was published first"


def mcp_arguments(tool: str, side: Side) -> dict[str, Any]:
    """Arguments of one call of ``tool`` about ``side`` (a hand table of values; the tools come from
    the server's own list)."""
    selector = up_of(side)
    table: dict[str, dict[str, Any]] = {
        "query": {"query": selector},
        "query_range": {"query": selector, "step": "60s"},
        "list_servers": {"name": side.host},
        "server_status": {"server": str(side.id)},
        "list_alerts": {"server": str(side.id)},
        "top_processes": {"server": str(side.id)},
        "list_metrics": {"contains": "process"},
        "label_values": {"label": "instance", "match": selector},
        "ask": {"question": f"what is the cpu of {side.name}?", "language": "en"},
    }
    assert tool in table, f"a new MCP tool {tool!r}: give it arguments about a server here"
    return table[tool]


async def mcp_answers(w: World, role: str, side: Side) -> dict[str, str]:
    """Every tool the MCP server lists, called with ``role``'s ``mcp`` token about ``side``: the JSON text."""
    url = str(w.client.make_url("/mcp"))
    answers = {}
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {w.mcp_tokens[role]}"}) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for tool in (await session.list_tools()).tools:
            result = await session.call_tool(tool.name, mcp_arguments(tool.name, side))
            answers[tool.name] = json.dumps(result.structuredContent)
    return answers


@in_the_world
@pytest.mark.parametrize("side", ["A", "B"])
async def test_every_mcp_tool_hides_the_ungranted_server(world: World, side: str) -> None:
    asked = world.side(side)
    answers = await mcp_answers(world, "viewer", asked)
    admin_answers = await mcp_answers(world, "admin", asked)
    assert set(answers) == set(admin_answers) and len(answers) >= 9
    for tool, text in answers.items():
        assert world.b.shown_in(text) == [], f"{tool} showed B: {text[:500]}"
        if side == "A" and world.a.shown_in(admin_answers[tool]):
            assert world.a.shown_in(text), f"{tool} did not serve A: {text[:500]}"
    shown_to_admin = {tool for tool, text in admin_answers.items() if asked.shown_in(text)}
    assert shown_to_admin >= {"query", "list_servers", "server_status", "list_alerts", "label_values"}


# --- 2. Role on every state-changing route ------------------------------------------------------------------

CHANGES = ("POST", "PUT", "PATCH", "DELETE")
PUBLIC_WRITES = {
    ("POST", "/api/auth/login"): "the way in: takes a password, not a token (see the enumeration table)",
    ("POST", "/api/auth/refresh"): "takes a refresh token in the body, not a bearer token",
}
OWN_ACCOUNT = {
    ("POST", "/api/auth/logout"): "ends the caller's own session",
    ("POST", "/api/auth/password"): "changes the caller's own password, given the current one",
    ("POST", "/api/auth/totp/enroll"): "the caller's own TOTP, given the current password",
    ("POST", "/api/auth/totp/confirm"): "the caller's own TOTP enrolment",
    ("POST", "/api/auth/totp/disable"): "the caller's own TOTP, given a current code",
    ("POST", "/api/tokens"): "a token of the caller's, never above the caller's role",
    ("DELETE", "/api/tokens/{id}"): "revokes the caller's own token; another's is refused (case below)",
}
"""Viewer-level changes that touch only the caller's own account."""
READS_BY_POST = {("POST", path): "a read; see the grants table" for path in READ_POSTS} | {
    ("POST", "/mcp"): "MCP's JSON-RPC transport, read-only tools; see the MCP grants table",
}
WATCHED_TABLES = (
    "servers",
    "server_grants",
    "users",
    "api_tokens",
    "alert_rules",
    "silences",
    "notification_channels",
    "alerts",
    "action_runs",
    "series",
)
"""What a refused change must leave as it was (the audit log and the event log record refusals)."""


def change_body(method: str, path: str, side: Side) -> dict[str, Any]:
    """A body that would do the change if the caller were allowed to (keyword arguments of the request)."""
    on_side = [{"name": "server_id", "op": "=", "value": str(side.id)}]
    silence = {"matchers": on_side, "ends_at": time.time() + 600, "comment": "taken over"}
    rule = {"name": "Owned", "kind": "threshold", "metric": "cpu", "op": ">", "threshold": 1}
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/users"): {
            "username": "intruder",
            "password": "a long unguessable phrase",
            "role": "admin",
        },
        ("PATCH", "/api/users/{id}"): {"role": "admin"},
        ("PUT", "/api/users/{id}/grants"): {"server_ids": [str(side.id)]},
        ("POST", "/api/servers"): {"name": "intruder", "address": "127.0.0.1:1", "job": "owned"},
        ("POST", "/api/servers/test"): {"address": "127.0.0.1:1"},
        ("PATCH", "/api/servers/{id}"): {"description": "taken over"},
        ("POST", "/api/servers/{id}/actions/{name}"): {"params": {}},
        ("POST", "/api/alerts/rules"): rule,
        ("PUT", "/api/alerts/rules/{id}"): {**rule, "matchers": on_side},
        ("POST", "/api/alerts/silences"): silence,
        ("PUT", "/api/alerts/silences/{id}"): silence,
        ("POST", "/api/monitoring/logs"): {
            "level": "info",
            "source": "deploy",
            "message": "taken over",
            "serverId": str(side.id),
        },
    }
    return {"json": bodies.get((method, path), {})}


async def snapshot(w: World) -> dict[str, str]:
    """A digest of each watched table (a token's ``last_used_at`` aside: using a token is not a change)."""
    pool = w.app[STORES].pg
    return {
        table: await pool.fetchval(
            f"SELECT md5(coalesce(string_agg(row, ',' ORDER BY row), '')) "
            f"FROM (SELECT (to_jsonb(t) - 'last_used_at')::text AS row FROM {table} t) rows"
        )
        for table in WATCHED_TABLES
    }


def change_cases() -> list[Any]:
    cases = []
    for method, path, op in operations(*CHANGES):
        role = minimum_role(op)
        if role is not None:
            cases.append(pytest.param("anonymous", method, path, id=f"anonymous {method} {path}"))
        if role is not None and role != "viewer":
            cases.append(pytest.param("viewer", method, path, id=f"viewer {method} {path}"))
        if role == "operator" and (takes_a_side(path, op) or (method, path) in BODY_NAMES_A_SERVER):
            cases.append(pytest.param("operator", method, path, id=f"operator on B {method} {path}"))
    cases.append(pytest.param("viewer", "DELETE", "/api/tokens/{id}", id="viewer DELETE another's token"))
    return cases


BODY_NAMES_A_SERVER = {("POST", "/api/alerts/silences"), ("POST", "/api/monitoring/logs")}
"""Operator routes without a path parameter whose body names the server they act on."""


@in_the_world
@pytest.mark.parametrize(("caller", "method", "path"), change_cases())
async def test_every_state_changing_route_refuses_who_may_not_change(
    world: World, caller: str, method: str, path: str
) -> None:
    before = await snapshot(world)
    headers = {} if caller == "anonymous" else world.headers[caller]
    response = await world.client.request(
        method, fill(path, world.b, world), headers=headers, **change_body(method, path, world.b)
    )
    body = await response.json()
    expected = {"anonymous": {401}, "viewer": {403}, "operator": {403, 404}}[caller]
    if path == "/api/tokens/{id}" and caller == "viewer":
        expected = {403, 404}
    assert response.status in expected, (response.status, body)
    if "error" in body and isinstance(body["error"], dict):
        assert set(body["error"]) == {"code", "message", "details"}
    else:
        assert body.get("status") == "error" and "errorType" in body, body
    assert await snapshot(world) == before


def test_every_change_a_viewer_may_make_is_listed_with_its_reason() -> None:
    """A new viewer-level or public change fails here until it is reviewed and listed."""
    open_changes = {
        (method, path) for method, path, op in operations(*CHANGES) if minimum_role(op) in (None, "viewer")
    }
    listed = PUBLIC_WRITES | OWN_ACCOUNT | READS_BY_POST
    assert open_changes == set(listed)


# --- 3. Login enumeration ---------------------------------------------------------------------------------

LOGIN_CASES = ("wrong password", "wrong password, disabled account", "wrong password, TOTP enrolled", "admin")
"""Failed logins of existing accounts, each compared with a login for a name that does not exist."""


@in_the_world
@pytest.mark.parametrize("case", LOGIN_CASES)
async def test_an_unknown_user_and_a_wrong_password_are_answered_alike(
    world: World, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    pool = world.app[STORES].pg
    user = await make_user(pool, "admin" if case == "admin" else "viewer")
    if "disabled" in case:
        await pool.execute("UPDATE users SET disabled = true WHERE id = $1", user.id)
    if "TOTP" in case:
        await set_totp_secret(pool, user.id, pyotp.random_base32())
    verified: list[str] = []

    def counting(stored_hash: str, password: str) -> bool:
        verified.append(stored_hash)
        return verify_password(stored_hash, password)

    monkeypatch.setattr(login_module, "verify_password", counting)
    answers = []
    for username in (f"nobody-{uuid.uuid4().hex[:12]}", user.username):
        response = await world.client.post(
            "/api/auth/login", json={"username": username, "password": "not the password at all"}
        )
        answers.append((response.status, await response.json(), sorted(response.headers.keys())))
    unknown, existing = answers
    assert unknown == existing
    assert unknown[0] == 401 and unknown[1]["error"]["code"] == "invalid_credentials"
    assert len(verified) == 2, "one argon2 verification for the unknown name too"
    assert all(stored.startswith("$argon2id$") for stored in verified)


# --- 4. SSRF spellings ------------------------------------------------------------------------------------

SSRF_HOSTS = {
    "169.254.169.254": "the metadata address",
    "0xa9fea9fe": "hexadecimal IPv4",
    "2852039166": "decimal IPv4",
    "0251.0376.0251.0376": "octal IPv4",
    "0xa9.0xfe.0xa9.0xfe": "hexadecimal parts",
    "169.254.43518": "three-part IPv4",
    "[::ffff:169.254.169.254]": "IPv4-mapped IPv6",
    "[::ffff:a9fe:a9fe]": "IPv4-mapped IPv6 in hexadecimal",
    "[64:ff9b::a9fe:a9fe]": "NAT64",
    "[2002:a9fe:a9fe::1]": "6to4",
    "[fe80::1]": "IPv6 link-local",
    "[fd00:ec2::254]": "AWS metadata over IPv6",
    "100.100.100.200": "Alibaba Cloud metadata",
    "168.63.129.16": "Azure WireServer",
    "metadata.google.internal": "a metadata name (resolving to the loopback listener here)",
    "link-local.test": "a name resolving to link-local",
    "rebound.test": "a name resolving to loopback and to link-local",
    "nat64.test": "a name resolving to NAT64 of the metadata address",
}
"""Host spellings refused wherever a user names an address, and why each is in the table."""
NAMES = {
    "metadata.google.internal": ["127.0.0.1"],
    "link-local.test": ["169.254.169.254"],
    "rebound.test": ["127.0.0.1", "169.254.169.254"],
    "nat64.test": ["64:ff9b::a9fe:a9fe"],
}
"""What the application's resolver answers for the names of the table."""
SSRF_ROUTES = ("/api/servers/test", "/api/servers")


@pytest_asyncio.fixture(loop_scope="module")
async def listener() -> AsyncIterator[list[str]]:
    """A loopback listener: the port every spelling of the table names, and a record of who connected."""
    connected: list[str] = []

    async def note(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(note, "127.0.0.1", 0)
    connected.append(str(server.sockets[0].getsockname()[1]))
    async with server:
        yield connected


@in_the_world
@pytest.mark.parametrize("route", SSRF_ROUTES)
@pytest.mark.parametrize("host", list(SSRF_HOSTS))
async def test_metadata_and_link_local_addresses_are_refused_in_every_spelling(
    world: World, monkeypatch: pytest.MonkeyPatch, listener: list[str], host: str, route: str
) -> None:
    loopback_only(monkeypatch)
    world.resolver.answers.update(NAMES)
    port = listener[0]
    before = await snapshot(world)
    body: dict[str, Any] = {"address": f"{host}:{port}"}
    if route == "/api/servers":
        body |= {"name": f"probe-{uuid.uuid4().hex[:8]}", "job": "ssrf"}
    response = await world.client.post(route, json=body, headers=world.headers["operator"])
    answer = await response.json()
    assert response.status == 422, answer
    assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message", "details"}
    assert [detail["field"] for detail in answer["error"]["details"]] == ["address"]
    await asyncio.sleep(0.05)
    assert listener[1:] == [], "the refused address was connected to"
    assert await snapshot(world) == before


@in_the_world
async def test_the_listener_records_a_test_that_is_allowed(
    world: World, monkeypatch: pytest.MonkeyPatch, listener: list[str]
) -> None:
    """The control of the table above: an allowed name does reach the listener."""
    loopback_only(monkeypatch)
    world.resolver.answers["allowed.test"] = ["127.0.0.1"]
    body = {"address": f"allowed.test:{listener[0]}"}
    response = await world.client.post("/api/servers/test", json=body, headers=world.headers["operator"])
    assert response.status == 200, await response.text()
    assert len(listener) > 1


# --- 5. Request and body limits, slow clients -----------------------------------------------------------

BODY_LIMIT_BYTES = 1 << 20


UNDESCRIBED_BODIES = {
    ("POST", "/mcp"): "MCP's JSON-RPC message, read by the bridge under mcp.max_body_bytes",
}
"""Routes that take a body the document does not describe (it is not JSON the wrapper reads), and why."""
NOT_GENERIC_BODIES = {
    ("POST", "/api/v1/write"): "the receiver runs in `openmanager run` only (this app answers 503); its 413s "
    "under remote_write.max_body_bytes and max_decoded_bytes are in tests/api/test_remote_write.py",
}


def body_cases() -> list[Any]:
    return [
        pytest.param(method, path, framing, id=f"{method} {path} {framing}")
        for method, path, op in operations(*CHANGES)
        if "requestBody" in op or (method, path) in UNDESCRIBED_BODIES
        for framing in ("content-length", "chunked")
    ]


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 65536):
        yield data[start : start + 65536]


async def oversized_request(w: World, method: str, path: str) -> tuple[bytes, dict[str, str]]:
    """A body one byte over the route's limit, and the headers of a caller the route serves."""
    settings = w.app[SETTINGS]
    headers = w.headers["admin"]
    if path == "/mcp":
        headers = {
            "Authorization": f"Bearer {w.mcp_tokens['admin']}",
            "Accept": "application/json, text/event-stream",
        }
        limit, media_type = settings.mcp.max_body_bytes, "application/json"
    else:
        limit = BODY_LIMIT_BYTES
        (media_type,) = document()["paths"][path][method.lower()]["requestBody"]["content"]
    if media_type == "application/json":
        return json.dumps({"filler": "x" * limit}).encode(), {**headers, "Content-Type": media_type}
    return b"query=" + b"x" * limit, {**headers, "Content-Type": media_type}


@in_the_world
@pytest.mark.parametrize(("method", "path", "framing"), body_cases())
async def test_an_oversized_body_is_a_413_on_every_route_that_takes_one(
    world: World, method: str, path: str, framing: str
) -> None:
    before = await snapshot(world)
    payload, headers = await oversized_request(world, method, path)
    data: bytes | AsyncIterator[bytes] = payload if framing == "content-length" else _chunks(payload)
    response = await world.client.request(method, fill(path, world.b, world), data=data, headers=headers)
    body = await response.json()
    assert response.status == 413, body
    assert await snapshot(world) == before


HEADER_TIMEOUT_S = 0.5
IDLE_TIMEOUT_S = 1.5
SLOW_HEAD = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Filler: " + b"x" * 60


@pytest.fixture
async def guarded_port(pg_dsn: str, redis_url: str, tmp_path: Path) -> AsyncIterator[int]:
    """The application served as the service serves it, with the deadlines set small in its settings file."""
    config = tmp_path / "openmanager.yml"
    config.write_text(f"http:\n  header_timeout_s: {HEADER_TIMEOUT_S}\n  idle_timeout_s: {IDLE_TIMEOUT_S}\n")
    settings = world_settings(pg_dsn, redis_url, tmp_path, OM_CONFIG=str(config))
    assert (settings.http.header_timeout_s, settings.http.idle_timeout_s) == (
        HEADER_TIMEOUT_S,
        IDLE_TIMEOUT_S,
    )
    async with listening(guarded_runner(create_app(settings), settings.http)) as port:
        yield port


async def _trickle(writer: asyncio.StreamWriter, data: bytes, pause_s: float) -> None:
    for byte in data:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(pause_s)


@pytest.mark.parametrize(
    ("client", "deadline_s"),
    [
        pytest.param("prompt", None, id="a prompt request is answered"),
        pytest.param("slow head", HEADER_TIMEOUT_S, id="a head sent a byte every 0.2 s is cut"),
        pytest.param("silent", IDLE_TIMEOUT_S, id="a connection that sends nothing is closed"),
    ],
)
async def test_slow_clients_are_cut_at_the_deadlines_of_the_settings(
    guarded_port: int, client: str, deadline_s: float | None
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", guarded_port)
    trickling = None
    started = time.monotonic()
    try:
        if client == "prompt":
            writer.write(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        elif client == "slow head":
            trickling = asyncio.create_task(_trickle(writer, SLOW_HEAD, 0.2))
        answer = await asyncio.wait_for(reader.read(), 15)
        closed_after_s = time.monotonic() - started
    finally:
        if trickling is not None:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await trickling
        writer.close()
    if deadline_s is None:
        assert answer.startswith(b"HTTP/1.1 200") and b'"status"' in answer
    else:
        assert b"200 OK" not in answer, answer[:200]
        assert deadline_s <= closed_after_s < deadline_s + 1.0, closed_after_s


@in_the_world
@pytest.mark.parametrize("refused_with", ["the same session", "another session of the user"])
async def test_a_user_s_event_streams_are_capped_and_the_next_is_a_429(
    world: World, refused_with: str
) -> None:
    limit = world.app[STREAM_CONFIG].max_streams_per_user
    user = await make_user(world.app[STORES].pg, "viewer")
    sessions = [bearer((await login(world.client, user))["access_token"]) for _ in range(2)]
    opened = []
    try:
        for _ in range(limit):
            response = await world.client.get("/api/events", headers=sessions[0])
            assert response.status == 200, await response.text()
            await read_frame(response)
            opened.append(response)
        headers = sessions[0] if refused_with == "the same session" else sessions[1]
        refused = await world.client.get("/api/events", headers=headers)
        body = await refused.json()
        assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
        assert set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == "too_many_streams"
    finally:
        for response in opened:
            response.close()


def test_the_hand_tables_name_documented_routes() -> None:
    """Every route a hand table names exists: a renamed route cannot leave a table checking nothing."""
    documented = {(method, path) for method, path, _ in operations("GET", *CHANGES)}
    named = (
        {("GET", path) for path in NOT_GENERIC_GETS}
        | {("POST", path) for path in READ_POSTS}
        | set(PUBLIC_WRITES)
        | set(OWN_ACCOUNT)
        | set(READS_BY_POST)
        | BODY_NAMES_A_SERVER
        | set(UNDESCRIBED_BODIES)
        | set(NOT_GENERIC_BODIES)
    )
    assert named <= documented, named - documented
