"""``/api/alerts/rules``: CRUD round trip, 422s naming the field, conflicts, roles, the documented schema."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest
from redis.asyncio.client import PubSub

from api.openapi import openapi_document
from collector.alerts.rule_store import get_rule, seed_rules
from collector.alerts.rules import Rule
from tests.api.auth.conftest import Client, make_server, session
from tests.api.test_alerts import announcements, client, config_channel, pool
from tests.api.test_monitoring import assert_error_shape

__all__ = ["client", "config_channel", "pool"]

HIGH_CPU: dict[str, Any] = {
    "name": "HighCpu",
    "kind": "threshold",
    "metric": "cpu",
    "op": ">",
    "threshold": 90,
    "clear_threshold": 80,
    "severity": "critical",
    "for_s": "5m",
    "labels": {"team": "ops"},
    "annotations": {"title": "CPU of {{ server }} is {{ value | round(1) }}%"},
    "matchers": [{"name": "env", "op": "=", "value": "prod"}],
}


async def test_rule_round_trip_create_read_replace_delete(
    client: Client, pool: asyncpg.Pool, config_channel: PubSub
) -> None:
    _, admin = await session(client, pool, "admin")
    created = await client.post("/api/alerts/rules", json={**HIGH_CPU, "source": "default"}, headers=admin)
    assert created.status == 201, await created.text()
    rule = await created.json()
    assert rule["for_s"] == 300 and rule["source"] == "api", "durations parsed; source set by the server"
    assert rule["id"].startswith("HighCpu-"), "an id derived from the name and scope"
    path = f"/api/alerts/rules/{rule['id']}"
    assert await (await client.get(path, headers=admin)).json() == rule
    listed = await (await client.get("/api/alerts/rules", headers=admin)).json()
    assert listed == {"items": [rule]}

    replaced = await client.put(path, json={**rule, "threshold": 95, "enabled": False}, headers=admin)
    assert replaced.status == 200, await replaced.text()
    assert await replaced.json() == {**rule, "threshold": 95, "enabled": False}
    stored = await get_rule(pool, rule["id"])
    assert stored is not None and stored.threshold == 95 and not stored.enabled

    assert (await client.delete(path, headers=admin)).status == 204
    assert (await client.get(path, headers=admin)).status == 404
    assert (await client.delete(path, headers=admin)).status == 404
    await announcements(config_channel, 3)


async def test_a_given_id_is_kept_and_cannot_change_on_replace(client: Client, pool: asyncpg.Pool) -> None:
    _, admin = await session(client, pool, "admin")
    created = await client.post("/api/alerts/rules", json={**HIGH_CPU, "id": "cpu-prod"}, headers=admin)
    assert (await created.json())["id"] == "cpu-prod"
    moved = await client.put("/api/alerts/rules/cpu-prod", json={**HIGH_CPU, "id": "other"}, headers=admin)
    assert moved.status == 422
    assert [p["field"] for p in (await moved.json())["error"]["details"]] == ["id"]
    without_id = await client.put("/api/alerts/rules/cpu-prod", json=HIGH_CPU, headers=admin)
    assert (await without_id.json())["id"] == "cpu-prod"
    missing = await client.put("/api/alerts/rules/no-such-rule", json=HIGH_CPU, headers=admin)
    assert missing.status == 404
    assert_error_shape(await missing.json(), "not_found")


async def test_replacing_a_default_rule_keeps_its_source(client: Client, pool: asyncpg.Pool) -> None:
    default = Rule(name="ServerDown", kind="down", for_s=60, source="default")
    await seed_rules(pool, [default], [])
    _, admin = await session(client, pool, "admin")
    body = {"name": "ServerDown", "kind": "down", "for_s": "2m", "severity": "critical"}
    response = await client.put(f"/api/alerts/rules/{default.id}", json=body, headers=admin)
    assert response.status == 200, await response.text()
    assert (await response.json())["source"] == "default"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"annotations": {"title": "{{ server"}}, "annotations"),
        ({"annotations": {"title": "{{ server.__class__.__mro__ }}"}}, "annotations"),
        ({"clear_threshold": 95}, "clear_threshold"),
        ({"hours": 12}, "hours"),
        ({"threshold": None}, "threshold"),
        ({"labels": {"severity": "low"}}, "labels"),
        ({"labels": {"team": "a\x00b"}}, "labels.team"),
        ({"matchers": [{"name": "env", "op": "=~", "value": "(prod"}]}, "matchers.0"),
        ({"for_s": "five minutes"}, "for_s"),
        ({"kind": "threshold_plus"}, "kind"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_a_bad_rule_is_422_naming_the_field(
    client: Client, pool: asyncpg.Pool, change: dict[str, Any], field: str
) -> None:
    _, admin = await session(client, pool, "admin")
    response = await client.post("/api/alerts/rules", json={**HIGH_CPU, **change}, headers=admin)
    assert response.status == 422, await response.text()
    body = await response.json()
    assert_error_shape(body, "invalid")
    assert field in {problem["field"] for problem in body["error"]["details"]}
    assert (await client.get("/api/alerts/rules", headers=admin)).status == 200
    assert await pool.fetchval("SELECT count(*) FROM alert_rules") == 0


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
        "{% for i in range(10000) %}{{ 'x' * 16000 }}{% endfor %}",
    ],
)
async def test_a_template_past_a_rendering_limit_is_refused_at_once(
    client: Client, pool: asyncpg.Pool, template: str
) -> None:
    _, admin = await session(client, pool, "admin")
    started = time.monotonic()
    body = {**HIGH_CPU, "annotations": {"message": template}}
    response = await client.post("/api/alerts/rules", json=body, headers=admin)
    assert response.status == 422, await response.text()
    assert time.monotonic() - started < 2.0
    answer = await response.json()
    assert "rendering limit" in answer["error"]["details"][0]["problem"]
    assert await pool.fetchval("SELECT count(*) FROM alert_rules") == 0


async def test_a_taken_id_or_name_and_scope_is_409(
    client: Client, pool: asyncpg.Pool, config_channel: PubSub
) -> None:
    _, admin = await session(client, pool, "admin")
    assert (await client.post("/api/alerts/rules", json=HIGH_CPU, headers=admin)).status == 201
    same_scope = await client.post("/api/alerts/rules", json={**HIGH_CPU, "id": "other"}, headers=admin)
    assert same_scope.status == 409
    assert_error_shape(await same_scope.json(), "conflict")
    unscoped = {**HIGH_CPU, "id": "unscoped", "matchers": []}
    assert (await client.post("/api/alerts/rules", json=unscoped, headers=admin)).status == 201
    taken_id = await client.post("/api/alerts/rules", json={**HIGH_CPU, "id": "unscoped"}, headers=admin)
    assert taken_id.status == 409
    onto_other = await client.put("/api/alerts/rules/unscoped", json=HIGH_CPU, headers=admin)
    assert onto_other.status == 409
    await announcements(config_channel, 2)


async def test_only_admins_write_rules_and_viewers_read_them(client: Client, pool: asyncpg.Pool) -> None:
    _, admin = await session(client, pool, "admin")
    rule = await (await client.post("/api/alerts/rules", json=HIGH_CPU, headers=admin)).json()
    path = f"/api/alerts/rules/{rule['id']}"
    for role in ("viewer", "operator"):
        _, auth = await session(client, pool, role)
        assert (await client.get("/api/alerts/rules", headers=auth)).status == 200
        assert (await client.get(path, headers=auth)).status == 200
        refused = await client.post("/api/alerts/rules", json={**HIGH_CPU, "id": "x"}, headers=auth)
        assert refused.status == 403
        assert_error_shape(await refused.json(), "forbidden")
        assert (await client.put(path, json=HIGH_CPU, headers=auth)).status == 403
        assert (await client.delete(path, headers=auth)).status == 403
    assert (await client.get("/api/alerts/rules")).status == 401
    assert (await client.post("/api/alerts/rules", json=HIGH_CPU)).status == 401
    assert (await client.get(path, headers=admin)).status == 200


async def test_the_documented_body_is_the_rule_model(client: Client) -> None:
    document = openapi_document(client.app)
    operation = document["paths"]["/api/alerts/rules"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body["properties"]) == set(Rule.model_fields)
    assert body["additionalProperties"] is False
    assert document["paths"]["/api/alerts/rules/{id}"]["put"]["requestBody"] == operation["requestBody"]
    assert operation["x-minimum-role"] == "admin" and "201" in operation["responses"]


async def test_a_non_admin_sees_only_rules_not_confined_to_other_servers(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, admin = await session(client, pool, "admin")
    viewer, viewer_auth = await session(client, pool, "viewer")
    mine, theirs = await make_server(pool), await make_server(pool)
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, mine)
    ids = {}
    for server_id in (mine, theirs):
        on_server = [{"name": "server_id", "op": "=", "value": str(server_id)}]
        created = await client.post(
            "/api/alerts/rules", json={**HIGH_CPU, "matchers": on_server}, headers=admin
        )
        assert created.status == 201, await created.text()
        ids[server_id] = (await created.json())["id"]
    listed = {
        rule["id"]
        for rule in (await (await client.get("/api/alerts/rules", headers=viewer_auth)).json())["items"]
    }
    assert ids[mine] in listed and ids[theirs] not in listed
    assert (await client.get(f"/api/alerts/rules/{ids[mine]}", headers=viewer_auth)).status == 200
    hidden = await client.get(f"/api/alerts/rules/{ids[theirs]}", headers=viewer_auth)
    assert hidden.status == 404
    assert (await client.get(f"/api/alerts/rules/{ids[theirs]}", headers=admin)).status == 200
