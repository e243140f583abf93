"""``/api/v1/rules`` and ``/api/v1/alerts``: our rules and active alerts in Prometheus's shape, per grants."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from api.prometheus.rules import format_alert_value, rule_query
from collector.alerts.alert_store import apply_changes
from collector.alerts.evaluator import Change
from collector.alerts.model import Alert, fingerprint
from collector.alerts.rule_store import create_rule
from collector.alerts.rules import Rule
from collector.matchers import Matcher
from tests.api.auth.conftest import Client, make_server, session

T0 = 1_800_000_000.0
HIGH_CPU = Rule(
    name="HighCpu",
    kind="threshold",
    metric="cpu",
    op=">",
    threshold=90,
    clear_threshold=80,
    for_s=300,
    severity="critical",
    matchers=(Matcher(name="env", op="=", value="prod"),),
    labels={"team": "ops"},
    source="file",
)
DOWN = Rule(name="Down", kind="down", source="default")
DISK = Rule(name="DiskFull", kind="disk_full_prediction", lookback_s=21600, hours=12, source="api")
OFF = Rule(name="Off", kind="down", enabled=False, source="api")


def alert(rule: Rule, server: uuid.UUID, state: str, value: float) -> Alert:
    labels = {"alertname": rule.name, "severity": rule.severity, "server_id": str(server)}
    return Alert(
        fingerprint=fingerprint(labels),
        rule_id=rule.id,
        server_id=server,
        severity=rule.severity,
        state=state,  # type: ignore[arg-type]
        labels=labels,
        annotations={"title": f"{rule.name} on host", "message": "m"},
        value=value,
        active_since=T0,
        fired_at=T0 + 300 if state == "firing" else None,
    )


@pytest.fixture
async def alerting(client: Client, pool: asyncpg.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    # The run's database is shared: each test starts without alerts or rules.
    await pool.execute("DELETE FROM alerts; DELETE FROM alert_rules")
    for rule in (HIGH_CPU, DOWN, DISK, OFF):
        await create_rule(pool, rule)
    first, second = await make_server(pool), await make_server(pool)
    await apply_changes(
        pool,
        [
            Change("firing", alert(HIGH_CPU, first, "firing", 95.5)),
            Change("pending", alert(DOWN, second, "pending", 0.0)),
        ],
    )
    return first, second


async def data(client: Client, path: str, auth: dict[str, str], **params: str) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=auth)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = (await response.json())["data"]
    return body


async def test_rules_are_grouped_by_origin_with_their_alerts(
    client: Client, pool: asyncpg.Pool, alerting: tuple[uuid.UUID, uuid.UUID]
) -> None:
    _, auth = await session(client, pool, "admin")
    groups = (await data(client, "/api/v1/rules", auth))["groups"]
    assert [(g["name"], [r["name"] for r in g["rules"]]) for g in groups] == [
        ("default", ["Down"]),
        ("file", ["HighCpu"]),
        ("api", ["DiskFull"]),
    ], "disabled rules are not evaluated and not listed"
    cpu = groups[1]["rules"][0]
    assert cpu["type"] == "alerting" and cpu["query"] == 'cpu{env="prod"} > 90'
    assert (cpu["duration"], cpu["labels"], cpu["state"], cpu["health"]) == (
        300,
        {"team": "ops", "severity": "critical"},
        "firing",
        "ok",
    )
    (firing,) = cpu["alerts"]
    assert (firing["state"], firing["value"], firing["labels"]["alertname"]) == (
        "firing",
        "9.55e+01",
        "HighCpu",
    )
    assert firing["activeAt"] == "2027-01-15T08:00:00Z"
    assert groups[0]["rules"][0]["state"] == "pending"
    assert groups[2]["rules"][0]["state"] == "inactive"
    only_cpu = (await data(client, "/api/v1/rules", auth, **{"rule_name[]": "HighCpu"}))["groups"]
    assert [g["name"] for g in only_cpu] == ["file"]
    assert (await data(client, "/api/v1/rules", auth, type="record"))["groups"] == []


async def test_alerts_are_the_active_ones_of_the_callers_servers(
    client: Client, pool: asyncpg.Pool, alerting: tuple[uuid.UUID, uuid.UUID]
) -> None:
    _, second = alerting
    _, admin = await session(client, pool, "admin")
    everything = (await data(client, "/api/v1/alerts", admin))["alerts"]
    assert sorted((a["labels"]["alertname"], a["state"]) for a in everything) == [
        ("Down", "pending"),
        ("HighCpu", "firing"),
    ]
    viewer, auth = await session(client, pool, "viewer")
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, second)
    assert [a["labels"]["alertname"] for a in (await data(client, "/api/v1/alerts", auth))["alerts"]] == [
        "Down"
    ]
    groups = (await data(client, "/api/v1/rules", auth))["groups"]
    assert {g["name"]: [len(r["alerts"]) for r in g["rules"]] for g in groups} == {
        "default": [1],
        "file": [0],
        "api": [0],
    }, "rules are listed for everyone, their alerts per grants"


@pytest.mark.parametrize(
    ("rule", "query"),
    [
        (HIGH_CPU, 'cpu{env="prod"} > 90'),
        (DOWN, "up == 0"),
        (DISK, "predict_linear(disk[6h], 12h) >= 100"),
        (Rule(name="Load", kind="threshold", metric="load1", op="<=", threshold=0.5), "load1 <= 0.5"),
    ],
)
def test_rule_conditions_in_promql_notation(rule: Rule, query: str) -> None:
    assert rule_query(rule) == query


@pytest.mark.parametrize(
    ("value", "text"),
    [(95.5, "9.55e+01"), (1.0, "1e+00"), (0.0, "0e+00"), (None, "NaN"), (float("inf"), "+Inf")],
)
def test_alert_values_as_prometheus_writes_them(value: float | None, text: str) -> None:
    assert format_alert_value(value) == text
