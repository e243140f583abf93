"""``/api/alerts``: filters and paging, per-server access, acknowledging and resolving by hand."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio.client import PubSub

from api.app import create_app
from api.keys import STORES
from collector.alerts.alert_store import apply_changes
from collector.alerts.evaluator import Change
from collector.alerts.model import Alert, Severity, fingerprint
from collector.config.settings import Settings
from collector.storage.keys import ALERTS_CONFIG, channel
from tests.api.auth.conftest import Client, make_server, session
from tests.api.test_monitoring import assert_error_shape

T0 = 1_800_000_000.0


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
        # Login counters of earlier tests must not lock this one out.
        await test_client.app[STORES].redis.flushdb()
        yield test_client


@pytest.fixture
async def pool(client: Client) -> asyncpg.Pool:
    pg: asyncpg.Pool = client.app[STORES].pg
    # The run's database is shared by its tests: each starts with no alert, rule or silence.
    await pg.execute("DELETE FROM alerts; DELETE FROM alert_rules; DELETE FROM silences")
    return pg


@pytest.fixture
async def config_channel(client: Client) -> AsyncIterator[PubSub]:
    """A subscription to the channel that tells the engine to reload."""
    async with client.app[STORES].redis.pubsub() as pubsub:
        await pubsub.subscribe(channel(ALERTS_CONFIG, client.app[STORES].redis))
        await pubsub.get_message(timeout=1.0)  # the subscription confirmation
        yield pubsub


async def announcements(pubsub: PubSub, count: int) -> None:
    """Assert that ``count`` reload messages arrive, and no more right after them."""
    for seen in range(count):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
        assert message is not None, f"only {seen} of {count} announcements"
        assert message["data"] == b"changed"
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2) is None


def make_alert(
    name: str,
    server: uuid.UUID,
    *,
    severity: Severity = "warning",
    message: str = "cpu is 95%",
    at: float = T0,
) -> Alert:
    labels = {"alertname": name, "severity": severity, "server_id": str(server), "job": "node"}
    return Alert(
        fingerprint=fingerprint(labels),
        rule_id=f"{name}-rule",
        server_id=server,
        severity=severity,
        state="firing",
        labels=labels,
        annotations={"title": f"{name} on host", "message": message},
        value=95.0,
        active_since=at - 60,
        fired_at=at,
    )


async def ids_by_name(client: Client, auth: dict[str, str], query: str = "") -> dict[str, str]:
    response = await client.get(f"/api/alerts{query}", headers=auth)
    assert response.status == 200, await response.text()
    return {item["name"]: item["id"] for item in (await response.json())["items"]}


@pytest.fixture
async def fleet(pool: asyncpg.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    """Two servers: HighCpu (firing, T0+100) and DiskFull (critical, firing, T0+200) on the first, HighMemory
    (resolved at T0+300) on the second."""
    first, second = await make_server(pool), await make_server(pool)
    memory = make_alert("HighMemory", second, message="memory is 97%", at=T0)
    await apply_changes(
        pool,
        [
            Change("firing", make_alert("HighCpu", first, at=T0 + 100)),
            Change("firing", make_alert("DiskFull", first, severity="critical", message="disk", at=T0 + 200)),
            Change("firing", memory),
            Change("resolved", replace(memory, state="resolved", resolved_at=T0 + 300)),
        ],
    )
    return first, second


async def test_list_is_newest_change_first_with_paging_and_total(
    client: Client, pool: asyncpg.Pool, fleet: tuple[uuid.UUID, uuid.UUID]
) -> None:
    _, admin = await session(client, pool, "admin")
    response = await client.get("/api/alerts?limit=2&offset=1", headers=admin)
    body = await response.json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 2, 1)
    assert [item["name"] for item in body["items"]] == ["DiskFull", "HighCpu"]
    first = body["items"][1]
    assert first["server_id"] == str(fleet[0]) and first["state"] == "firing"
    assert (first["title"], first["message"], first["severity"]) == (
        "HighCpu on host",
        "cpu is 95%",
        "warning",
    )
    assert (first["fired_at"], first["started_at"], first["updated_at"]) == (T0 + 100, T0 + 40, T0 + 100)
    assert first["read"] is False and first["acknowledged_by"] is None and first["labels"]["job"] == "node"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?state=active", {"HighCpu", "DiskFull"}),
        ("?state=firing", {"HighCpu", "DiskFull"}),
        ("?state=pending", set()),
        ("?state=resolved", {"HighMemory"}),
        ("?severity=critical", {"DiskFull"}),
        ("?q=MEMORY%20is", {"HighMemory"}),
        ("?q=on%20host&severity=warning", {"HighCpu", "HighMemory"}),
        (f"?from={T0 + 100:.0f}", {"HighCpu", "DiskFull", "HighMemory"}),
        (f"?from={T0 + 150:.0f}&to={T0 + 300:.0f}", {"DiskFull"}),
        (f"?to={datetime.fromtimestamp(T0 + 200, UTC):%Y-%m-%dT%H:%M:%SZ}", {"HighCpu"}),
    ],
)
async def test_filters(
    client: Client,
    pool: asyncpg.Pool,
    fleet: tuple[uuid.UUID, uuid.UUID],
    query: str,
    names: set[str],
) -> None:
    _, admin = await session(client, pool, "admin")
    assert set(await ids_by_name(client, admin, query)) == names


async def test_server_filter(client: Client, pool: asyncpg.Pool, fleet: tuple[uuid.UUID, uuid.UUID]) -> None:
    _, admin = await session(client, pool, "admin")
    assert set(await ids_by_name(client, admin, f"?server_id={fleet[1]}")) == {"HighMemory"}


async def test_a_viewer_sees_only_the_alerts_of_granted_servers(
    client: Client, pool: asyncpg.Pool, fleet: tuple[uuid.UUID, uuid.UUID]
) -> None:
    first, second = fleet
    viewer, auth = await session(client, pool, "viewer")
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, second)
    response = await client.get("/api/alerts", headers=auth)
    body = await response.json()
    assert [item["name"] for item in body["items"]] == ["HighMemory"] and body["total"] == 1
    _, admin = await session(client, pool, "admin")
    ids = await ids_by_name(client, admin)
    assert (await client.get(f"/api/alerts/{ids['HighMemory']}", headers=auth)).status == 200
    refused = await client.get(f"/api/alerts/{ids['HighCpu']}", headers=auth)
    assert refused.status == 403
    assert_error_shape(await refused.json(), "forbidden")
    assert (await client.get(f"/api/alerts?server_id={first}", headers=auth)).status == 403


async def test_read_one_alert_and_unknown_ids_are_404(
    client: Client, pool: asyncpg.Pool, fleet: tuple[uuid.UUID, uuid.UUID]
) -> None:
    _, viewer = await session(client, pool, "admin")
    ids = await ids_by_name(client, viewer)
    response = await client.get(f"/api/alerts/{ids['DiskFull']}", headers=viewer)
    assert (await response.json())["severity"] == "critical"
    for missing in (str(uuid.uuid4()), "abc-def"):
        response = await client.get(f"/api/alerts/{missing}", headers=viewer)
        assert response.status == 404
        assert_error_shape(await response.json(), "not_found")


async def test_acknowledge_marks_read_by_the_caller_and_tells_the_engine(
    client: Client, pool: asyncpg.Pool, fleet: tuple[uuid.UUID, uuid.UUID], config_channel: PubSub
) -> None:
    operator, auth = await session(client, pool, "operator")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", operator.id, fleet[0]
    )
    alert_id = (await ids_by_name(client, auth))["HighCpu"]
    response = await client.post(f"/api/alerts/{alert_id}/acknowledge", headers=auth)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["read"] is True and body["acknowledged_by"] == operator.username
    assert body["state"] == "firing", "acknowledging does not resolve"
    await announcements(config_channel, 1)
    stored = await pool.fetchrow(
        "SELECT read, acknowledged_by FROM alerts WHERE id = $1", uuid.UUID(alert_id)
    )
    assert stored is not None and (stored["read"], stored["acknowledged_by"]) == (True, operator.username)


async def test_resolve_by_hand_holds_the_alert_and_twice_is_a_conflict(
    client: Client, pool: asyncpg.Pool, fleet: tuple[uuid.UUID, uuid.UUID], config_channel: PubSub
) -> None:
    admin_user, admin = await session(client, pool, "admin")
    ids = await ids_by_name(client, admin)
    response = await client.post(f"/api/alerts/{ids['HighCpu']}/resolve", headers=admin)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["state"], body["resolved_by"]) == ("resolved", admin_user.username)
    assert body["resolved_at"] is not None
    await announcements(config_channel, 1)
    again = await client.post(f"/api/alerts/{ids['HighCpu']}/resolve", headers=admin)
    assert again.status == 409
    assert_error_shape(await again.json(), "conflict")
    engine_resolved = await client.post(f"/api/alerts/{ids['HighMemory']}/resolve", headers=admin)
    assert engine_resolved.status == 409
    await announcements(config_channel, 0)
    # The engine, not yet reloaded, writes the alert again: held, it stays resolved.
    await apply_changes(pool, [Change("firing", make_alert("HighCpu", fleet[0], at=T0 + 400))])
    assert "HighCpu" not in await ids_by_name(client, admin, "?state=active")


async def test_writes_need_the_operator_role_and_access_to_the_server(
    client: Client, pool: asyncpg.Pool, fleet: tuple[uuid.UUID, uuid.UUID]
) -> None:
    _, admin = await session(client, pool, "admin")
    alert_id = (await ids_by_name(client, admin))["HighCpu"]
    viewer, viewer_auth = await session(client, pool, "viewer")
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, fleet[0])
    stranger, stranger_auth = await session(client, pool, "operator")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", stranger.id, fleet[1]
    )
    for action in ("acknowledge", "resolve"):
        path = f"/api/alerts/{alert_id}/{action}"
        assert (await client.post(path, headers=viewer_auth)).status == 403
        assert (await client.post(path, headers=stranger_auth)).status == 403
        anonymous = await client.post(path)
        assert anonymous.status == 401
        assert_error_shape(await anonymous.json(), "unauthorized")
    assert (await client.get("/api/alerts")).status == 401
    stored = await pool.fetchrow("SELECT read, state FROM alerts WHERE id = $1", uuid.UUID(alert_id))
    assert stored is not None and (stored["read"], stored["state"]) == (False, "firing")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?state=open", "state"),
        ("?severity=fatal", "severity"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?from=yesterday", "from"),
        (f"?from={T0:.0f}&to={T0:.0f}", "to"),
        ("?q=a%00b", "q"),
        ("?server_id=nope", "server_id"),
        ("?page=2", "page"),
    ],
)
async def test_bad_filters_are_422_naming_the_parameter(
    client: Client, pool: asyncpg.Pool, query: str, field: str
) -> None:
    _, admin = await session(client, pool, "admin")
    response = await client.get(f"/api/alerts{query}", headers=admin)
    assert response.status == 422
    body: dict[str, Any] = await response.json()
    assert_error_shape(body, "invalid")
    assert field in {problem["field"] for problem in body["error"]["details"]}


async def test_sibling_routes_are_not_taken_for_an_alert_id(client: Client, pool: asyncpg.Pool) -> None:
    _, admin = await session(client, pool, "admin")
    for path, key in (
        ("/api/alerts/rules", "items"),
        ("/api/alerts/silences", "items"),
        ("/api/alerts/channels", "channels"),
        ("/api/alerts/notifications", "notifications"),
    ):
        response = await client.get(path, headers=admin)
        assert response.status == 200, (path, await response.text())
        assert key in await response.json(), path
