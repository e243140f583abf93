"""The OpenAPI document and the declared routes: validation before handlers, a complete and valid document.

The last test runs schemathesis against the real application on 127.0.0.1 (admin token, a few examples per
operation): no answer may be a 5xx, and every answer must match its declared status, type and schema.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from pydantic import Field
from schemathesis import Case
from schemathesis import openapi as schemathesis_openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.auth.login import issue_tokens
from api.errors import error_middleware
from api.keys import AUTH_CONFIG, OPERATIONS, STORES
from api.openapi import ApiRoutes, BodyModel, QueryModel, body_of, openapi_document, query_of
from collector.config.settings import Settings
from tests.api.auth.conftest import PASSWORD, make_user
from tests.api.test_monitoring import seed_fleet
from tests.conftest import SettingsFactory

NOT_FUZZED = {
    "events.events_stream.get": "an endless stream that schemathesis would read forever (see test_events.py)",
    "servers.target_test.post": "contacts the address it is given (tested on loopback in test_probe.py)",
    "servers.server_test.post": "contacts the server's address (tested on loopback in test_servers.py)",
    "channels.channel_test.post": "contacts the channel's address (tested on loopback in test_channels.py)",
}
"""Operations the fuzzer must not drive, and why: test traffic may only go to 127.0.0.0/8."""
ENDS_THE_SESSION = {"routes.logout.post"}
"""Operations fuzzed with a new session for each case: they revoke the access token they are called with."""


def routes_of(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route of ``app`` except the HEAD twins aiohttp adds to GET routes."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def test_every_route_is_declared_in_the_document(settings: Settings) -> None:
    app = create_app(settings)
    document = openapi_document(app)
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    undeclared = routes_of(app) - documented
    assert not undeclared, (
        f"routes registered without a declaration (use api.openapi.ApiRoutes): {undeclared}"
    )
    declared = {(op.method, op.path) for op in app[OPERATIONS]}
    assert declared <= documented
    assert {
        ("GET", "/api/openapi.json"),
        ("GET", "/api/docs"),
        ("GET", "/api/monitoring/servers"),
        ("POST", "/api/monitoring/servers"),
        ("GET", "/api/monitoring/performance"),
        ("GET", "/api/monitoring/redis-stats"),
        ("GET", "/api/monitoring/postgres-stats"),
        ("GET", "/api/monitoring/supabase-stats"),
        ("GET", "/api/stats"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
        ("GET", "/api/users"),
        ("PUT", "/api/users/{id}/grants"),
        ("POST", "/api/tokens"),
        ("GET", "/api/audit"),
    } <= declared


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_document_is_openapi_3_1_with_bearer_auth_and_error_schemas(settings: Settings) -> None:
    document = openapi_document(create_app(settings))
    if importlib.util.find_spec("openapi_spec_validator") is not None:
        validator = importlib.import_module("openapi_spec_validator")
        validator.validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    schemas = document["components"]["schemas"]
    assert "$defs" not in str(document)
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert op["summary"] and op["tags"] and op["operationId"], (method, path)
            assert {"200", "201", "204"} & set(op["responses"]), "every operation documents its success"
            error = op["responses"]["4XX"]["content"]["application/json"]["schema"]
            # The Prometheus-compatible API answers in Prometheus's envelope, by design (see README).
            shape = "PrometheusError" if op["tags"] == ["prometheus"] else "ErrorBody"
            assert error == {"$ref": f"#/components/schemas/{shape}"}, (method, path)
    for path in ("/api/openapi.json", "/api/auth/login", "/api/auth/refresh"):
        public = next(iter(document["paths"][path].values()))
        assert public["security"] == [] and "401" not in public["responses"], path
    assert document["paths"]["/api/users"]["get"]["x-minimum-role"] == "admin"
    servers = document["paths"]["/api/monitoring/servers"]
    assert {p["name"] for p in servers["get"]["parameters"]} == {"status", "name", "label"}
    assert servers["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ServerBody"
    )
    performance = {
        p["name"]: p for p in document["paths"]["/api/monitoring/performance"]["get"]["parameters"]
    }
    assert performance["serverId"]["required"] and not performance["from"]["required"]
    metrics = ["cpu", "memory", "disk", "network_rx", "network_tx", "load1"]
    assert performance["metric"]["schema"]["enum"] == metrics
    query = document["paths"]["/api/v1/query"]
    assert {p["name"]: p["required"] for p in query["get"]["parameters"]} == {
        "query": True,
        "time": False,
        "timeout": False,
    }
    form = query["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form == {"$ref": "#/components/schemas/InstantQueryParams"}
    assert {"400", "401", "403", "422", "503"} <= set(query["post"]["responses"])
    series = {p["name"] for p in document["paths"]["/api/v1/series"]["get"]["parameters"]}
    assert series == {"match[]", "start", "end", "limit"}
    assert "text/plain" in next(iter(document["paths"]["/federate"]["get"]["responses"]["200"]["content"]))


class EchoQuery(QueryModel):
    count: int = Field(ge=1)
    password: str | None = None


class EchoBody(BodyModel):
    password: str = Field(min_length=12)


def echo_app() -> web.Application:
    """A small app with one public declared route, to try the wrapper without stores or auth."""
    table = ApiRoutes()

    @table.post("/echo", summary="Echo", tag="test", role=None, query=EchoQuery, body=EchoBody)
    async def echo(request: web.Request) -> EchoQuery:
        """Answer the validated query."""
        body_of(request, EchoBody)
        return query_of(request, EchoQuery)

    app = web.Application(middlewares=[error_middleware])
    table.register(app)
    return app


@pytest.mark.parametrize(
    ("query", "body", "status", "fields"),
    [
        ("count=2", b'{"password": "long enough secret"}', 200, set()),
        ("count=0", b'{"password": "long enough secret"}', 422, {"count"}),
        ("count=2&extra=1", b'{"password": "long enough secret"}', 422, {"extra"}),
        ("count=2", b'{"password": "secret"}', 422, {"password"}),
        ("count=2", b'{"password": "long enough secret", "x": 1}', 422, {"x"}),
        ("count=2", b"{nope", 400, set()),
    ],
)
async def test_declared_inputs_are_validated_before_the_handler(
    query: str, body: bytes, status: int, fields: set[str]
) -> None:
    async with TestClient(TestServer(echo_app(), host="127.0.0.1")) as client:
        response = await client.post(f"/echo?{query}", data=body)
        text = await response.text()
        assert response.status == status, text
        document: dict[str, Any] = await response.json()
    if status == 200:
        assert document == {"count": 2, "password": None}
        return
    assert set(document["error"]) == {"code", "message", "details"}
    assert "secret" not in text
    if fields:
        assert {problem["field"] for problem in document["error"]["details"]} == fields


async def test_openapi_json_is_public(settings: Settings) -> None:
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        response = await client.get("/api/openapi.json")
        assert response.status == 200
        document = await response.json()
    assert "/api/monitoring/performance" in document["paths"]


class ThreadedServer:
    """The application served from a thread of its own, for blocking clients (schemathesis uses requests)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.base_url = ""

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        self.run(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.run(site.start())
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    def __exit__(self, *_: object) -> None:
        self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def served(make_settings: SettingsFactory) -> Iterator[ThreadedServer]:
    # The fuzzer sends a few thousand requests as one admin, more than any burst: the rate limit is off here
    # (test_ratelimit.py tests it).
    with ThreadedServer(create_app(make_settings(rate_limit_rps="0"))) as server:
        yield server


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(served: ThreadedServer) -> None:
    stores = served.app[STORES]
    served.run(stores.redis.flushdb())
    served.run(seed_fleet(stores.redis, stores.pg))
    admin = served.run(make_user(stores.pg, "admin"))
    login = requests.post(
        f"{served.base_url}/api/auth/login",
        json={"username": admin.username, "password": PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    def new_session() -> dict[str, str]:
        # Issued directly: the fuzzed login endpoint may have locked logins from 127.0.0.1 by then.
        tokens = served.run(issue_tokens(stores.pg, served.app[AUTH_CONFIG], admin.id, "admin"))
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    document = requests.get(f"{served.base_url}/api/openapi.json", timeout=10).json()
    schema = schemathesis_openapi.from_dict(document)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in document["paths"].values())
    for operation in operations:
        if operation.definition.raw["operationId"] in NOT_FUZZED:
            continue

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=20,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Case) -> None:
            ends_the_session = case.operation.definition.raw["operationId"] in ENDS_THE_SESSION
            response = case.call(
                base_url=served.base_url, headers=new_session() if ends_the_session else headers
            )
            case.validate_response(response, checks=checks)
            # A 429 conforms to the document, but the rate limit must not silently end the fuzzing.
            assert response.status_code != 429 or response.json()["error"]["code"] != "rate_limited"

        exercise()


def test_creation_and_deletion_document_201_and_204(settings: Settings) -> None:
    document = openapi_document(create_app(settings))
    servers = document["paths"]["/api/servers"]["post"]["responses"]
    assert "201" in servers and "200" not in servers
    deleted = document["paths"]["/api/servers/{id}"]["delete"]["responses"]
    assert "204" in deleted and "content" not in deleted["204"]
