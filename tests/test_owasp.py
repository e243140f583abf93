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
import json
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from api.app import create_app
from api.auth import login as login_module
from api.auth.accounts import set_totp_secret
from api.auth.roles import role_at_least
from api.keys import BROKER, STORES
from api.openapi import openapi_document
from api.passwords import verify_password
from collector.alerts.publisher import alert_json
from collector.storage.keys import EVENTS_ALERTS, EVENTS_SCRAPE, EVENTS_STATUS, channel
from collector.storage.users import Role
from tests.api.auth.conftest import make_user
from tests.api.test_events import READ_TIMEOUT_S, firing_alert, next_event_of, read_frame
from tests.owasp_world import Side, World, world, world_settings

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


def query_for(path: str, op: Mapping[str, Any], side: Side, w: World) -> dict[str, str]:
    """Query parameters: the side's id for a server filter, a selector of the side for PromQL routes."""
    now = time.time()
    selector = f'up{{instance="{side.address}"}}'
    by_path: dict[str, dict[str, str]] = {
        "/api/monitoring/performance": {"metric": "cpu"},
        "/api/v1/query": {"query": selector},
        "/api/v1/query_range": {"query": selector, "start": str(now - 600), "end": str(now), "step": "60"},
        "/api/v1/query_exemplars": {"query": selector},
        "/api/v1/series": {"match[]": selector},
        "/api/v1/labels": {"match[]": selector},
        "/api/v1/label/{name}/values": {"match[]": selector},
        "/federate": {"match[]": f'{{job="{w.job}",instance="{side.address}"}}'},
        "/api/monitoring/servers": {"name": side.host},
    }
    query = dict(by_path.get(path, {}))
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
    cases = []
    for method, path, op in operations("GET"):
        if path in NOT_GENERIC_GETS:
            continue
        sides = ("A", "B") if takes_a_side(path, op) else ("-",)
        for caller in ("viewer", "operator"):
            for side in sides:
                cases.append(pytest.param(caller, path, side, id=f"{caller} {method} {path} {side}"))
    return cases


def leaked(w: World, status: int, text: str) -> list[str]:
    """B's marks in an answer; a refusal may repeat B's id, which the caller sent, but nothing more."""
    shown = w.b.shown_in(text)
    return [mark for mark in shown if status < 400 or mark != str(w.b.id)]


async def call_get(w: World, caller: str, path: str, side: Side) -> tuple[int, str]:
    op = document()["paths"][path]["get"]
    response = await w.client.get(
        fill(path, side, w), params=query_for(path, op, side, w), headers=w.headers[caller]
    )
    return response.status, await response.text()


@in_the_world
@pytest.mark.parametrize(("caller", "path", "side"), read_cases())
async def test_every_read_path_hides_the_ungranted_server(
    world: World, caller: str, path: str, side: str
) -> None:
    op = document()["paths"][path]["get"]
    asked = world.b if side == "B" else world.a
    status, text = await call_get(world, caller, path, asked)
    admin_status, admin_text = await call_get(world, "admin", path, asked)
    assert status < 500 and admin_status < 500, (status, text[:300])
    assert leaked(world, status, text) == [], f"{caller} was shown server B: {text[:500]}"
    role = minimum_role(op)
    allowed = role is None or role_at_least(caller, role)  # type: ignore[arg-type]
    if side == "B" and path not in NO_SERVER_IN_ANSWER:
        # The call names B: an admin is answered about it, so the caller's answer was filtered.
        assert world.b.shown_in(admin_text), admin_text[:300]
    if side != "B" and allowed and world.a.shown_in(admin_text):
        assert status == 200, (status, text[:300])
        assert world.a.shown_in(text), f"{caller} was not served A's equivalent: {text[:500]}"
    if not allowed:
        assert status == 403, (status, text[:300])


READ_POSTS: dict[str, Callable[[Side], dict[str, Any]]] = {
    "/api/monitoring/servers": lambda side: {"json": {"name": side.host}},
    "/api/v1/query": lambda side: {"data": {"query": f'up{{instance="{side.address}"}}'}},
    "/api/v1/query_range": lambda side: {
        "data": {
            "query": f'up{{instance="{side.address}"}}',
            "start": str(time.time() - 600),
            "end": str(time.time()),
            "step": "60",
        }
    },
    "/api/v1/query_exemplars": lambda side: {"data": {"query": f'up{{instance="{side.address}"}}'}},
    "/api/v1/series": lambda side: {"data": {"match[]": f'up{{instance="{side.address}"}}'}},
    "/api/v1/labels": lambda side: {"data": {"match[]": f'up{{instance="{side.address}"}}'}},
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
    selector = f'up{{instance="{side.address}"}}'
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
    """A digest of each watched table."""
    pool = w.app[STORES].pg
    return {
        table: await pool.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} t"
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
    assert {(method, path) for method, path, _ in operations(*CHANGES)} >= BODY_NAMES_A_SERVER


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
