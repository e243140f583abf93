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

import re
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.auth.roles import role_at_least
from api.openapi import openapi_document
from collector.storage.users import Role
from tests.owasp_world import Side, World, world, world_settings

__all__ = ["world"]

pytestmark = pytest.mark.asyncio(loop_scope="module")

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
