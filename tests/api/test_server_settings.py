"""A server's monitoring settings through ``/api/servers``: stored and answered, role and grant checks, bad
values named, threshold overrides the engine evaluates, and an interval change a running collector follows
without a restart. No connection leaves loopback."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from collector.alerts import rule_store
from collector.alerts.evaluator import Observation, evaluate
from collector.alerts.rules import Rule
from collector.config.settings import Settings
from collector.runtime import ScrapeService, ScrapeServiceOptions
from collector.storage.servers import registered_targets
from collector.summary import ServerSummary
from tests.api import servers_support
from tests.api.auth.conftest import Client, session
from tests.api.servers_support import address_of, register
from tests.api.test_monitoring import assert_error_shape
from tests.polling import eventually

_loopback_only = servers_support.loopback
resolver = servers_support.resolver
client = servers_support.client
pool = servers_support.pool


async def _rule(pool: asyncpg.Pool) -> Rule:
    """A threshold rule of this test's own (the database is shared by the tests of a run)."""
    name = f"HighCpu_{uuid.uuid4().hex[:8]}"
    rule = Rule(name=name, kind="threshold", metric="cpu", threshold=90, clear_threshold=80)
    return await rule_store.create_rule(pool, rule)


async def _patch(client: Client, auth: dict[str, str], server_id: str, body: dict[str, Any]) -> Any:
    response = await client.patch(f"/api/servers/{server_id}", json=body, headers=auth)
    return response.status, await response.json() if response.status != 204 else None


async def test_settings_are_stored_and_answered(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    rule = await _rule(pool)
    created = await register(
        client, operator, scrape_interval="30s", scrape_timeout="10s", collectors=["cpu"], tags=["db", "eu"]
    )
    assert (created["scrape_timeout"], created["collectors"], created["tags"]) == (
        "10s",
        ["cpu"],
        ["db", "eu"],
    )
    status, patched = await _patch(
        client,
        operator,
        created["id"],
        {
            "collectors": [],
            "tags": ["db"],
            "scrape_timeout": None,
            "thresholds": {rule.name: {"threshold": 70}},
        },
    )
    assert status == 200, patched
    assert (patched["collectors"], patched["tags"], patched["scrape_timeout"]) == (None, ["db"], None)
    (mine,) = [t for t in patched["thresholds"] if t["rule"] == rule.name]
    assert mine == {
        "rule": rule.name,
        "metric": "cpu",
        "op": ">",
        "threshold": 70.0,
        "clear_threshold": 60.0,
        "default_threshold": 90.0,
        "default_clear_threshold": 80.0,
        "overridden": True,
    }
    read = await (await client.get(f"/api/servers/{created['id']}", headers=operator)).json()
    assert [t for t in read["thresholds"] if t["rule"] == rule.name] == [mine]
    listed = await (await client.get("/api/servers", headers=operator)).json()
    assert all(s["thresholds"] is None for s in listed["servers"]), "the listing reads no rules"
    status, removed = await _patch(client, operator, created["id"], {"thresholds": {rule.name: None}})
    (back,) = [t for t in removed["thresholds"] if t["rule"] == rule.name]
    assert status == 200 and (back["threshold"], back["overridden"]) == (90.0, False)


async def test_settings_need_an_operator_with_a_grant(client: Client, pool: asyncpg.Pool) -> None:
    _, viewer = await session(client, pool, "viewer")
    operator, operator_auth = await session(client, pool, "operator")
    _, admin = await session(client, pool, "admin")
    created = await register(client, admin)
    body = {"scrape_interval": "1m", "tags": ["x"]}
    assert (await _patch(client, viewer, created["id"], body))[0] == 403
    assert (await _patch(client, operator_auth, created["id"], body))[0] == 403, "no grant"
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)",
        operator.id,
        uuid.UUID(created["id"]),
    )
    status, patched = await _patch(client, operator_auth, created["id"], body)
    assert status == 200 and (patched["scrape_interval"], patched["tags"]) == ("1m", ["x"])


BAD = [
    ({"scrape_timeout": "20s"}, "scrape_timeout"),
    ({"scrape_interval": "5s"}, "scrape_interval"),
    ({"scrape_interval": "5s", "scrape_timeout": "6s"}, "scrape_timeout"),
    ({"scrape_timeout": "500ms"}, "scrape_timeout"),
    ({"scrape_timeout": "11m"}, "scrape_timeout"),
    ({"collectors": ["CPU"]}, "collectors.0"),
    ({"collectors": ["cpu", "cpu"]}, "collectors"),
    ({"collectors": ["cpu&x=1"]}, "collectors.0"),
    ({"tags": [""]}, "tags.0"),
    ({"tags": ["a,b"]}, "tags.0"),
    ({"tags": None}, "tags"),
    ({"thresholds": {"NoSuchRule": {"threshold": 1}}}, "thresholds.NoSuchRule"),
    ({"thresholds": {"RULE": {"threshold": 150}}}, "thresholds.RULE.threshold"),
    ({"thresholds": {"RULE": {"threshold": 50, "clear_threshold": 60}}}, "thresholds.RULE.clear_threshold"),
    ({"thresholds": {"RULE": {"threshold": "high"}}}, "thresholds.RULE.threshold"),
    ({"thresholds": {"RULE": {"limit": 5}}}, "thresholds.RULE"),
    ({"thresholds": {"not a name": {"threshold": 5}}}, "thresholds.not a name"),
]
"""Bodies refused, and the field the answer must name (``RULE``: the test's rule). One server serves all:
logging in and registering cost more than the checks."""


async def test_bad_settings_are_422_naming_the_field(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    rule = await _rule(pool)
    created = await register(client, operator, scrape_interval="15s", scrape_timeout="10s")
    wrong = []
    for body, field in BAD:
        text = json.dumps(body).replace("RULE", rule.name)
        status, document = await _patch(client, operator, created["id"], json.loads(text))
        named = {detail["field"] for detail in document["error"]["details"]} if status == 422 else set()
        if not any(f.startswith(field.replace("RULE", rule.name)) for f in named):
            wrong.append((text, status, document))
        else:
            assert_error_shape(document, "invalid")
    assert wrong == []
    unchanged = await (await client.get(f"/api/servers/{created['id']}", headers=operator)).json()
    assert (unchanged["scrape_interval"], unchanged["scrape_timeout"]) == ("15s", "10s")
    assert not any(t["overridden"] for t in unchanged["thresholds"]), "nothing stored"


async def test_a_threshold_override_changes_the_alerts_evaluation(client: Client, pool: asyncpg.Pool) -> None:
    _, operator = await session(client, pool, "operator")
    rule = await _rule(pool)
    created = await register(client, operator, labels={"env": "prod"})
    server_id = uuid.UUID(created["id"])
    labels = {
        "env": "prod",
        "job": created["job"],
        "instance": created["address"],
        "server_id": str(server_id),
    }
    observation = Observation(server_id, "web-1", labels, True, ServerSummary(cpu=75.0), 1000.0)

    async def firing() -> bool:
        rules = [r for r in await rule_store.list_rules(pool) if r.name == rule.name]
        return any(c.kind == "firing" for c in evaluate(rules, observation, {}).changes)

    assert not await firing()
    status, _ = await _patch(client, operator, created["id"], {"thresholds": {rule.name: {"threshold": 70}}})
    assert status == 200
    assert await firing()
    _, admin = await session(client, pool, "admin")
    assert (await client.delete(f"/api/servers/{created['id']}", headers=admin)).status == 204
    left = [r for r in await rule_store.list_rules(pool) if r.name == rule.name]
    assert left == [rule], "the server's overrides go with it"


@pytest.mark.slow
async def test_an_interval_change_applies_at_the_next_scrape_without_restart(
    client: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    scrapes: list[tuple[float, list[str]]] = []

    async def metrics(request: web.Request) -> web.Response:
        scrapes.append((time.monotonic(), request.query.getall("collect[]", [])))
        return web.Response(text="node_load1 0.5\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    exporter = TestServer(app, host="127.0.0.1")
    await exporter.start_server()
    _, operator = await session(client, pool, "operator")
    # A day: its scrape phase is almost surely not within this test.
    created = await register(client, operator, address=address_of(exporter), scrape_interval="1d")

    async def this_server() -> list[Any]:
        return [s for s in await registered_targets(pool) if str(s.id) == created["id"]]

    collector = ScrapeService(
        settings.targets,
        ScrapeServiceOptions(watch_interval_s=0.2),
        registered=this_server,
        registration=settings.registration,
    )
    await collector.start()
    try:
        await eventually(lambda: [t.interval_s for t in collector.targets()] == [86400.0])
        status, _ = await _patch(
            client, operator, created["id"], {"scrape_interval": "5s", "collectors": ["cpu", "memory"]}
        )
        assert status == 200
        await eventually(lambda: len(scrapes) >= 2, timeout_s=15.0)
        (view,) = collector.targets()
    finally:
        await collector.stop()
        await exporter.close()
    assert view.interval_s == 5.0
    assert scrapes[0][1] == ["cpu", "memory"], "the collectors are the scrape's collect[] parameters"
    gap = scrapes[1][0] - scrapes[0][0]
    # The scheduler plans each scrape 5 s after the last; only the event loop's latency adds to it.
    assert 4.0 <= gap <= 7.0, gap
