"""Who may call what: every route of the application against an explicit table of minimum roles.

:data:`MATRIX` names the minimum role of every route the app serves, and the first test fails when a route
exists that it does not list (or lists one that no longer exists): a new endpoint must be added here. Each
route is then called by five callers, with a valid request where one is needed:

* anonymous: 401, unless the route is public;
* a viewer, an operator and an admin (the viewer and the operator hold a grant to the server the request
  names): 403 below the minimum role; at or above it anything but 401, 403 or a 5xx;
* another server's viewer (granted a different server): what the table says for routes that name a server
  (the API answers 403), else like the viewer.

Requests only ever go to loopback: the server the tests name has the address of a closed port on 127.0.0.1.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.auth.apitokens import create_api_token
from api.auth.keys import PREFIX
from api.auth.login import issue_tokens
from api.auth.roles import role_at_least
from api.keys import AUTH_CONFIG, OPERATIONS, STORES
from collector.config.settings import Settings
from collector.storage.servers import NewServer, create_server
from collector.storage.users import Role
from tests.api.auth.conftest import PASSWORD, Client, bearer, make_server, make_user
from tests.api.test_openapi import routes_of
from tests.ports import free_port

Json = dict[str, object]


RANGE: Json = {"query": "up", "start": "0", "end": "60", "step": "15"}


@dataclass(frozen=True)
class World:
    """What the requests refer to."""

    server: uuid.UUID
    """The server in paths, queries and bodies; its address is a closed port on 127.0.0.1."""
    address: str
    user: uuid.UUID
    """The account ``/api/users/{id}`` acts on."""
    login_name: str
    """An account whose password (:data:`PASSWORD`) any caller may send to the login endpoint."""


@dataclass(frozen=True)
class Caller:
    """One of the five callers, with what its requests need."""

    name: str
    role: Role | None
    """None: anonymous."""
    granted: bool
    """Holds a grant to :attr:`World.server` (admins see every server without one)."""
    headers: dict[str, str]
    refresh_token: str
    token_id: uuid.UUID
    """One of its API tokens (a random id for the anonymous caller)."""


Part = Callable[[World, Caller], Json]
PathId = Callable[[World, Caller], uuid.UUID]


def server_id(world: World, _: Caller) -> uuid.UUID:
    return world.server


def user_id(world: World, _: Caller) -> uuid.UUID:
    return world.user


def own_token(_: World, caller: Caller) -> uuid.UUID:
    return caller.token_id


def unknown_id(*_: object) -> uuid.UUID:
    """An id nothing has: a caller allowed the route gets a 404, one who is not a 401 or 403 first."""
    return uuid.uuid4()


def webhook(world: World, _: Caller) -> Json:
    """A valid channel whose receiver is a closed port on loopback."""
    return {"kind": "webhook", "name": f"roles-{uuid.uuid4().hex[:8]}", "url": f"http://{world.address}/hook"}


def rule(*_: object) -> Json:
    return {
        "name": f"Roles{uuid.uuid4().hex[:8]}",
        "kind": "threshold",
        "metric": "cpu",
        "op": ">",
        "threshold": 90,
        "severity": "warning",
    }


def silence(world: World, _: Caller) -> Json:
    # Confined to the server the operator is granted: a non-admin may silence no other.
    return {
        "matchers": [
            {"name": "alertname", "value": "Roles"},
            {"name": "server_id", "value": str(world.server)},
        ],
        "ends_at": time.time() + 3600,
    }


def on_server(world: World, _: Caller) -> Json:
    return {"serverId": str(world.server)}


@dataclass(frozen=True)
class Rule:
    """The minimum role of one route and how to call it validly."""

    minimum: Role | None
    """None: public."""
    without_grant: int | None = None
    """The status a viewer without a grant to the server the request names gets; None: it names none."""
    path_id: PathId | None = None
    query: Part | None = None
    body: Part | None = None
    scope: str | None = None
    """An API token scope the route needs besides the role: every caller here (sessions) gets a 403."""


MATRIX: dict[tuple[str, str], Rule] = {
    # Probes, Prometheus and the documentation are public.
    ("GET", "/api/health"): Rule(None),
    ("GET", "/metrics"): Rule(None),
    ("GET", "/api/openapi.json"): Rule(None),
    ("GET", "/api/docs"): Rule(None),
    # Authentication: login and refresh are public; the rest is any caller's own account.
    ("POST", "/api/auth/login"): Rule(
        None, body=lambda w, _: {"username": w.login_name, "password": PASSWORD}
    ),
    ("POST", "/api/auth/refresh"): Rule(None, body=lambda _, c: {"refresh_token": c.refresh_token}),
    ("POST", "/api/auth/logout"): Rule("viewer"),
    ("GET", "/api/auth/me"): Rule("viewer"),
    ("POST", "/api/auth/password"): Rule(
        "viewer", body=lambda *_: {"current_password": PASSWORD, "new_password": "another long passphrase"}
    ),
    ("POST", "/api/auth/totp/enroll"): Rule("viewer", body=lambda *_: {"password": PASSWORD}),
    ("POST", "/api/auth/totp/confirm"): Rule("viewer", body=lambda *_: {"code": "000000"}),
    ("POST", "/api/auth/totp/disable"): Rule("viewer", body=lambda *_: {"code": "000000"}),
    ("GET", "/api/tokens"): Rule("viewer"),
    ("POST", "/api/tokens"): Rule("viewer", body=lambda *_: {"name": "roles"}),
    ("DELETE", "/api/tokens/{id}"): Rule("viewer", path_id=own_token),
    # Accounts and the audit log are for administrators.
    ("GET", "/api/users"): Rule("admin"),
    ("POST", "/api/users"): Rule(
        "admin",
        body=lambda *_: {
            "username": f"new-{uuid.uuid4().hex[:8]}",
            "password": "a long enough passphrase",
            "role": "viewer",
        },
    ),
    ("GET", "/api/users/{id}"): Rule("admin", path_id=user_id),
    ("PATCH", "/api/users/{id}"): Rule("admin", path_id=user_id, body=lambda *_: {"email": "a@example.org"}),
    ("DELETE", "/api/users/{id}"): Rule("admin", path_id=user_id),
    ("PUT", "/api/users/{id}/grants"): Rule("admin", path_id=user_id, body=lambda *_: {"server_ids": []}),
    ("GET", "/api/audit"): Rule("admin"),
    # Servers: viewers read the ones granted to them, operators register, edit and test, admins delete.
    ("GET", "/api/servers"): Rule("viewer"),
    ("POST", "/api/servers"): Rule("operator", body=lambda w, _: {"name": "roles", "address": w.address}),
    ("POST", "/api/servers/test"): Rule("operator", body=lambda w, _: {"address": w.address}),
    ("GET", "/api/servers/{id}"): Rule("viewer", without_grant=403, path_id=server_id),
    ("PATCH", "/api/servers/{id}"): Rule("operator", path_id=server_id, body=lambda *_: {"name": "renamed"}),
    ("DELETE", "/api/servers/{id}"): Rule("admin", path_id=server_id),
    ("POST", "/api/servers/{id}/test"): Rule("operator", path_id=server_id),
    # Remote actions: viewers see what a host offers and the history, operators run (no key here: 409).
    ("GET", "/api/servers/{id}/actions"): Rule("viewer", without_grant=403, path_id=server_id),
    ("POST", "/api/servers/{id}/actions/{name}"): Rule(
        "operator", without_grant=403, path_id=server_id, body=lambda *_: {"params": {}}
    ),
    ("GET", "/api/servers/{id}/actions/history"): Rule("viewer", without_grant=403, path_id=server_id),
    ("GET", "/api/servers/{id}/actions/history/{run_id}"): Rule(
        "viewer", without_grant=403, path_id=server_id
    ),
    # Monitoring: viewers see their servers; the stores' internals are for operators.
    ("GET", "/api/monitoring/servers"): Rule("viewer"),
    ("GET", "/api/cluster"): Rule("viewer"),
    ("POST", "/api/monitoring/servers"): Rule("viewer"),
    ("GET", "/api/monitoring/performance"): Rule(
        "viewer", without_grant=403, query=lambda w, c: on_server(w, c) | {"metric": "cpu"}
    ),
    ("GET", "/api/monitoring/processes"): Rule("viewer", without_grant=403, query=on_server),
    ("GET", "/api/monitoring/logs"): Rule("viewer", without_grant=403, query=on_server),
    ("POST", "/api/monitoring/logs"): Rule(
        "operator",
        body=lambda w, c: on_server(w, c) | {"level": "info", "source": "roles", "message": "role matrix"},
    ),
    ("GET", "/api/monitoring/redis-stats"): Rule("operator"),
    ("GET", "/api/monitoring/postgres-stats"): Rule("operator"),
    ("GET", "/api/monitoring/supabase-stats"): Rule("operator"),
    ("GET", "/api/stats"): Rule("viewer"),
    ("GET", "/api/events"): Rule("viewer"),
    # Notification channels hold secrets: operators read them (redacted), admins change and test them.
    ("GET", "/api/alerts/channels"): Rule("operator"),
    ("POST", "/api/alerts/channels"): Rule("admin", body=webhook),
    ("GET", "/api/alerts/channels/{id}"): Rule("operator", path_id=unknown_id),
    ("PUT", "/api/alerts/channels/{id}"): Rule("admin", path_id=unknown_id, body=webhook),
    ("DELETE", "/api/alerts/channels/{id}"): Rule("admin", path_id=unknown_id),
    ("POST", "/api/alerts/channels/{id}/test"): Rule("admin", path_id=unknown_id),
    ("GET", "/api/alerts/notifications"): Rule("operator"),
    # Alerts: viewers read their servers' alerts, rules and silences; operators act on alerts and silence
    # them; admins change the rules.
    ("GET", "/api/alerts"): Rule("viewer"),
    ("GET", "/api/alerts/{id}"): Rule("viewer", path_id=unknown_id),
    ("POST", "/api/alerts/{id}/acknowledge"): Rule("operator", path_id=unknown_id),
    ("POST", "/api/alerts/{id}/resolve"): Rule("operator", path_id=unknown_id),
    ("GET", "/api/alerts/rules"): Rule("viewer"),
    ("POST", "/api/alerts/rules"): Rule("admin", body=rule),
    ("GET", "/api/alerts/rules/{id}"): Rule("viewer", path_id=unknown_id),
    ("PUT", "/api/alerts/rules/{id}"): Rule("admin", path_id=unknown_id, body=rule),
    ("DELETE", "/api/alerts/rules/{id}"): Rule("admin", path_id=unknown_id),
    ("GET", "/api/alerts/silences"): Rule("viewer"),
    ("POST", "/api/alerts/silences"): Rule("operator", body=silence),
    ("GET", "/api/alerts/silences/{id}"): Rule("viewer", path_id=unknown_id),
    ("PUT", "/api/alerts/silences/{id}"): Rule("operator", path_id=unknown_id, body=silence),
    ("DELETE", "/api/alerts/silences/{id}"): Rule("operator", path_id=unknown_id),
    # Remote write: operators' API tokens with the write scope only (tests/api/test_remote_write.py).
    ("POST", "/api/v1/write"): Rule("operator", scope="write"),
    ("POST", "/api/mcp/query"): Rule("viewer", body=lambda *_: {"query": "help"}),
    # The Prometheus-compatible API: any viewer; what it answers is limited to the caller's servers.
    ("GET", "/api/v1/query"): Rule("viewer", query=lambda *_: {"query": "1+1"}),
    ("POST", "/api/v1/query"): Rule("viewer", query=lambda *_: {"query": "1+1"}),
    ("GET", "/api/v1/query_range"): Rule("viewer", query=lambda *_: RANGE),
    ("POST", "/api/v1/query_range"): Rule("viewer", query=lambda *_: RANGE),
    ("GET", "/api/v1/query_exemplars"): Rule("viewer", query=lambda *_: {"query": "up"}),
    ("POST", "/api/v1/query_exemplars"): Rule("viewer", query=lambda *_: {"query": "up"}),
    ("GET", "/api/v1/series"): Rule("viewer", query=lambda *_: {"match[]": "up"}),
    ("POST", "/api/v1/series"): Rule("viewer", query=lambda *_: {"match[]": "up"}),
    ("GET", "/api/v1/labels"): Rule("viewer"),
    ("POST", "/api/v1/labels"): Rule("viewer"),
    ("GET", "/api/v1/label/{name}/values"): Rule("viewer"),
    ("GET", "/api/v1/metadata"): Rule("viewer"),
    ("GET", "/api/v1/status/buildinfo"): Rule("viewer"),
    ("GET", "/api/v1/targets"): Rule("viewer"),
    ("GET", "/api/v1/targets/metadata"): Rule("viewer"),
    ("GET", "/api/v1/rules"): Rule("viewer"),
    ("GET", "/api/v1/alerts"): Rule("viewer"),
    ("GET", "/federate"): Rule("viewer", query=lambda *_: {"match[]": "up"}),
    # The MCP server: API tokens with the mcp scope only, of any role (tests/api/mcp/test_http.py).
    ("POST", "/mcp"): Rule("viewer", scope="mcp"),
}
"""The minimum role of every route of the application, keyed by (method, path as registered)."""


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
        redis = test_client.app[STORES].redis
        async for key in redis.scan_iter(match=f"{PREFIX}*"):
            await redis.delete(key)
        yield test_client


async def test_the_table_lists_every_route_of_the_application(client: Client) -> None:
    served = routes_of(client.app)
    unlisted = served - MATRIX.keys()
    assert not unlisted, f"routes without an expected minimum role; add them to MATRIX: {sorted(unlisted)}"
    assert not MATRIX.keys() - served, f"MATRIX lists routes the app does not serve: {MATRIX.keys() - served}"
    for op in client.app[OPERATIONS]:
        assert MATRIX[(op.method, op.path)].minimum == op.role, (op.method, op.path)


async def _session(client: Client, pool: asyncpg.Pool, role: Role) -> tuple[uuid.UUID, dict[str, str], str]:
    """A new user of ``role`` with a session issued directly (no password hashing, no login throttle)."""
    user = await make_user(pool, role)
    tokens = await issue_tokens(pool, client.app[AUTH_CONFIG], user.id, role)
    return user.id, bearer(str(tokens["access_token"])), str(tokens["refresh_token"])


async def make_world(client: Client) -> tuple[World, list[Caller]]:
    """The server, the accounts and the five callers, anonymous first and the admin last."""
    pool = client.app[STORES].pg
    address = f"127.0.0.1:{free_port()}"
    record = await create_server(
        pool, NewServer(name="roles", address=address, job=f"roles-{uuid.uuid4().hex[:8]}")
    )
    other_server = await make_server(pool)
    login_user = await make_user(pool, "viewer")
    anonymous_refresh = await issue_tokens(pool, client.app[AUTH_CONFIG], login_user.id, "viewer")
    world = World(record.id, address, (await make_user(pool, "viewer")).id, login_user.username)
    callers = [Caller("anonymous", None, False, {}, str(anonymous_refresh["refresh_token"]), uuid.uuid4())]
    granted: list[tuple[str, Role, uuid.UUID | None]] = [
        ("another server's viewer", "viewer", other_server),
        ("viewer", "viewer", record.id),
        ("operator", "operator", record.id),
        ("admin", "admin", None),
    ]
    for name, role, grant in granted:
        user, headers, refresh_token = await _session(client, pool, role)
        if grant is not None:
            await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user, grant)
        token, _ = await create_api_token(pool, user, "roles", role, datetime.now(UTC) + timedelta(days=1))
        callers.append(Caller(name, role, grant == record.id, headers, refresh_token, token.id))
    return world, callers


async def call(client: Client, method: str, path: str, rule: Rule, world: World, caller: Caller) -> int:
    """Send the rule's request as ``caller``; the status (an event stream is closed once it answers)."""
    # Other path parameters: an action name and a run id nobody has.
    url = (
        path.format(id=rule.path_id(world, caller), name="restart", run_id=uuid.uuid4())
        if rule.path_id
        else path
    )
    query = {k: str(v) for k, v in rule.query(world, caller).items()} if rule.query else None
    body = rule.body(world, caller) if rule.body else None
    response = await client.request(method, url, params=query, json=body, headers=caller.headers)
    if response.content_type == "text/event-stream":
        response.close()
    else:
        await response.read()
    return response.status


def verdict(rule: Rule, caller: Caller, status: int) -> str | None:
    """What is wrong with ``status`` for ``caller``, or None."""
    if rule.minimum is not None and caller.role is None:
        return None if status == 401 else "expected 401"
    if rule.minimum is not None and caller.role is not None and not role_at_least(caller.role, rule.minimum):
        return None if status == 403 else "expected 403 (below the minimum role)"
    if rule.scope is not None:
        return None if status == 403 else f"expected 403 (needs a token with the {rule.scope} scope)"
    if rule.without_grant is not None and caller.role != "admin" and not caller.granted:
        return None if status == rule.without_grant else f"expected {rule.without_grant} (no grant)"
    if status in (401, 403) or status >= 500:
        return "expected to be allowed"
    return None


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=[f"{m} {p}" for m, p in sorted(MATRIX)])
async def test_each_caller_gets_what_the_table_says(client: Client, method: str, path: str) -> None:
    rule = MATRIX[(method, path)]
    world, callers = await make_world(client)
    wrong = []
    for caller in callers:
        status = await call(client, method, path, rule, world, caller)
        problem = verdict(rule, caller, status)
        if problem is not None:
            wrong.append(f"{caller.name}: {status}, {problem}")
    assert not wrong, f"{method} {path} (minimum {rule.minimum or 'public'}): {wrong}"
