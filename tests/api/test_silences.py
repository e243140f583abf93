"""``/api/alerts/silences``: create, list by state, replace, expire; validation, the creator, roles."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio.client import PubSub

from api.app import create_app
from api.keys import STORES
from api.silences import SILENCE_CLOCK
from collector.alerts.store import get_silence
from collector.settings import Settings
from tests.api.auth.conftest import Client, session
from tests.api.test_alerts import announcements, config_channel
from tests.api.test_monitoring import assert_error_shape

__all__ = ["config_channel"]

HOUR_S = 3600.0


class SteppedClock:
    """A clock that stands still until the test moves it (starts at the real time, as tokens need)."""

    def __init__(self) -> None:
        self.t = float(int(time.time()))

    def now(self) -> float:
        return self.t


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
async def client(settings: Settings, clock: SteppedClock) -> AsyncIterator[Client]:
    app = create_app(settings)
    app[SILENCE_CLOCK] = clock
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        await test_client.app[STORES].redis.flushdb()
        yield test_client


@pytest.fixture
async def pool(client: Client) -> asyncpg.Pool:
    pg: asyncpg.Pool = client.app[STORES].pg
    await pg.execute("DELETE FROM silences")
    return pg


def cpu_silence(clock: SteppedClock, **overrides: object) -> dict[str, Any]:
    return {
        "matchers": [{"name": "alertname", "op": "=", "value": "HighCpu"}],
        "ends_at": clock.t + HOUR_S,
        "comment": "kernel upgrade",
        **overrides,
    }


async def create(client: Client, auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/alerts/silences", json=body, headers=auth)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def states(client: Client, auth: dict[str, str], state: str) -> set[str]:
    response = await client.get(f"/api/alerts/silences?state={state}", headers=auth)
    assert response.status == 200, await response.text()
    return {item["comment"] for item in (await response.json())["items"]}


async def test_create_starts_now_by_the_caller_and_tells_the_engine(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock, config_channel: PubSub
) -> None:
    operator, auth = await session(client, pool, "operator")
    silence = await create(client, auth, cpu_silence(clock, ends_at=f"{clock.t + HOUR_S:.0f}"))
    assert (silence["starts_at"], silence["ends_at"]) == (clock.t, clock.t + HOUR_S)
    assert (silence["created_by"], silence["state"]) == (operator.username, "active")
    stored = await get_silence(pool, uuid.UUID(silence["id"]))
    assert stored is not None and stored.created_by == operator.username
    await announcements(config_channel, 1)
    read = await client.get(f"/api/alerts/silences/{silence['id']}", headers=auth)
    assert await read.json() == silence


async def test_the_creator_cannot_be_given_in_the_body(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock
) -> None:
    _, auth = await session(client, pool, "operator")
    response = await client.post(
        "/api/alerts/silences", json=cpu_silence(clock, created_by="someone-else"), headers=auth
    )
    assert response.status == 422
    assert [p["field"] for p in (await response.json())["error"]["details"]] == ["created_by"]


async def test_list_by_state_follows_the_clock(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock
) -> None:
    _, auth = await session(client, pool, "operator")
    await create(client, auth, cpu_silence(clock, comment="now"))
    await create(
        client,
        auth,
        cpu_silence(clock, comment="later", starts_at=clock.t + 2 * HOUR_S, ends_at=clock.t + 3 * HOUR_S),
    )
    assert await states(client, auth, "active") == {"now"}
    assert await states(client, auth, "pending") == {"later"}
    assert await states(client, auth, "expired") == set()
    clock.t += 2.5 * HOUR_S
    assert await states(client, auth, "active") == {"later"}
    assert await states(client, auth, "expired") == {"now"}
    listed = await (await client.get("/api/alerts/silences", headers=auth)).json()
    assert [item["comment"] for item in listed["items"]] == ["later", "now"], "latest end first"


async def test_replace_keeps_the_id_and_the_creator(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock, config_channel: PubSub
) -> None:
    creator, auth = await session(client, pool, "operator")
    silence = await create(client, auth, cpu_silence(clock, starts_at=clock.t - 60))
    _, other = await session(client, pool, "operator")
    body = cpu_silence(clock, ends_at=clock.t + 2 * HOUR_S, comment="longer")
    response = await client.put(f"/api/alerts/silences/{silence['id']}", json=body, headers=other)
    assert response.status == 200, await response.text()
    replaced = await response.json()
    assert replaced == {**silence, "ends_at": clock.t + 2 * HOUR_S, "comment": "longer"}
    assert replaced["created_by"] == creator.username and replaced["starts_at"] == clock.t - 60
    missing = await client.put(f"/api/alerts/silences/{uuid.uuid4()}", json=body, headers=other)
    assert missing.status == 404
    assert_error_shape(await missing.json(), "not_found")
    await announcements(config_channel, 2)


async def test_delete_expires_now_and_removes_one_not_started(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock, config_channel: PubSub
) -> None:
    _, auth = await session(client, pool, "operator")
    current = await create(client, auth, cpu_silence(clock, starts_at=clock.t - 60))
    later = await create(client, auth, cpu_silence(clock, starts_at=clock.t + 60))
    clock.t += 30
    assert (await client.delete(f"/api/alerts/silences/{current['id']}", headers=auth)).status == 204
    expired = await (await client.get(f"/api/alerts/silences/{current['id']}", headers=auth)).json()
    assert (expired["ends_at"], expired["state"]) == (clock.t, "expired")
    assert (await client.delete(f"/api/alerts/silences/{later['id']}", headers=auth)).status == 204
    assert (await client.get(f"/api/alerts/silences/{later['id']}", headers=auth)).status == 404
    assert (await client.delete(f"/api/alerts/silences/{uuid.uuid4()}", headers=auth)).status == 404
    await announcements(config_channel, 4)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"matchers": []}, "matchers"),
        ({"matchers": [{"name": "alertname", "op": "=~", "value": ".*"}]}, "matchers"),
        ({"matchers": [{"name": "alertname", "op": "=~", "value": "(High"}]}, "matchers.0"),
        ({"matchers": [{"name": "alertname", "op": "=", "value": "a\x00b"}]}, "matchers.0.value"),
        ({"comment": "a\x00b"}, "comment"),
        ({"ends_at": "tomorrow"}, "ends_at"),
        ({"ends_at": None}, "ends_at"),
        ({"starts_at": "2030-01-01T00:00:00"}, "starts_at"),
        ({"id": str(uuid.uuid4())}, "id"),
    ],
)
async def test_a_bad_silence_is_422_naming_the_field(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock, change: dict[str, Any], field: str
) -> None:
    _, auth = await session(client, pool, "operator")
    response = await client.post("/api/alerts/silences", json=cpu_silence(clock, **change), headers=auth)
    assert response.status == 422, await response.text()
    body = await response.json()
    assert_error_shape(body, "invalid")
    assert field in {problem["field"] for problem in body["error"]["details"]}
    assert await pool.fetchval("SELECT count(*) FROM silences") == 0


@pytest.mark.parametrize(
    ("starts_in_s", "ends_in_s"),
    [(0, -1), (HOUR_S, HOUR_S), (HOUR_S, 60), (-2 * HOUR_S, -HOUR_S)],
)
async def test_ends_at_must_be_after_starts_at_and_in_the_future(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock, starts_in_s: float, ends_in_s: float
) -> None:
    _, auth = await session(client, pool, "operator")
    body = cpu_silence(clock, starts_at=clock.t + starts_in_s, ends_at=clock.t + ends_in_s)
    response = await client.post("/api/alerts/silences", json=body, headers=auth)
    assert response.status == 422
    assert [p["field"] for p in (await response.json())["error"]["details"]] == ["ends_at"]


async def test_viewers_read_and_operators_write(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock
) -> None:
    _, operator = await session(client, pool, "operator")
    silence = await create(client, operator, cpu_silence(clock))
    path = f"/api/alerts/silences/{silence['id']}"
    _, viewer = await session(client, pool, "viewer")
    assert (await client.get("/api/alerts/silences", headers=viewer)).status == 200
    assert (await client.get(path, headers=viewer)).status == 200
    refused = await client.post("/api/alerts/silences", json=cpu_silence(clock), headers=viewer)
    assert refused.status == 403
    assert_error_shape(await refused.json(), "forbidden")
    assert (await client.put(path, json=cpu_silence(clock), headers=viewer)).status == 403
    assert (await client.delete(path, headers=viewer)).status == 403
    assert (await client.get("/api/alerts/silences")).status == 401
    assert (await client.delete(path)).status == 401
    assert (await (await client.get(path, headers=viewer)).json())["state"] == "active"
