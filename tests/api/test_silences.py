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
from api.keys import SILENCE_CLOCK, STORES
from collector.alerts.silence_store import get_silence
from collector.config.settings import Settings
from tests.api.auth.conftest import Client, make_server, session
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


def on_servers(*server_ids: uuid.UUID, name: str = "HighCpu") -> list[dict[str, str]]:
    """Matchers of ``name`` alerts on these servers: an equality for one, a union of ids for several."""
    value = "|".join(str(server_id) for server_id in server_ids)
    return [
        {"name": "alertname", "op": "=", "value": name},
        {"name": "server_id", "op": "=" if len(server_ids) == 1 else "=~", "value": value},
    ]


async def grant(pool: asyncpg.Pool, user_id: uuid.UUID) -> uuid.UUID:
    """A new server granted to ``user_id``."""
    server_id = await make_server(pool)
    await pool.execute("INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user_id, server_id)
    return server_id


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
    admin, auth = await session(client, pool, "admin")
    silence = await create(client, auth, cpu_silence(clock, ends_at=f"{clock.t + HOUR_S:.0f}"))
    assert (silence["starts_at"], silence["ends_at"]) == (clock.t, clock.t + HOUR_S)
    assert (silence["created_by"], silence["state"]) == (admin.username, "active")
    stored = await get_silence(pool, uuid.UUID(silence["id"]))
    assert stored is not None and stored.created_by == admin.username
    await announcements(config_channel, 1)
    read = await client.get(f"/api/alerts/silences/{silence['id']}", headers=auth)
    assert await read.json() == silence


async def test_the_creator_cannot_be_given_in_the_body(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock
) -> None:
    _, auth = await session(client, pool, "admin")
    response = await client.post(
        "/api/alerts/silences", json=cpu_silence(clock, created_by="someone-else"), headers=auth
    )
    assert response.status == 422
    assert [p["field"] for p in (await response.json())["error"]["details"]] == ["created_by"]


async def test_list_by_state_follows_the_clock(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock
) -> None:
    _, auth = await session(client, pool, "admin")
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
    creator, auth = await session(client, pool, "admin")
    silence = await create(client, auth, cpu_silence(clock, starts_at=clock.t - 60))
    _, other = await session(client, pool, "admin")
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
    _, auth = await session(client, pool, "admin")
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
        (
            # Alertmanager's (Go's) regexp has no look-around
            {"matchers": [{"name": "alertname", "op": "=~", "value": "High(?!Memory)"}]},
            "matchers.0",
        ),
        ({"matchers": [{"name": "alertname", "value": "x" * 1025}]}, "matchers.0"),
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
    _, auth = await session(client, pool, "admin")
    response = await client.post("/api/alerts/silences", json=cpu_silence(clock, **change), headers=auth)
    assert response.status == 422, await response.text()
    body = await response.json()
    assert_error_shape(body, "invalid")
    assert field in {problem["field"] for problem in body["error"]["details"]}, body
    assert await pool.fetchval("SELECT count(*) FROM silences") == 0


@pytest.mark.parametrize(
    ("starts_in_s", "ends_in_s"),
    [(0, -1), (HOUR_S, HOUR_S), (HOUR_S, 60), (-2 * HOUR_S, -HOUR_S)],
)
async def test_ends_at_must_be_after_starts_at_and_in_the_future(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock, starts_in_s: float, ends_in_s: float
) -> None:
    _, auth = await session(client, pool, "admin")
    body = cpu_silence(clock, starts_at=clock.t + starts_in_s, ends_at=clock.t + ends_in_s)
    response = await client.post("/api/alerts/silences", json=body, headers=auth)
    assert response.status == 422
    assert [p["field"] for p in (await response.json())["error"]["details"]] == ["ends_at"]


async def test_viewers_read_and_operators_write(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock
) -> None:
    operator_user, operator = await session(client, pool, "operator")
    server = await grant(pool, operator_user.id)
    silence = await create(client, operator, cpu_silence(clock, matchers=on_servers(server)))
    path = f"/api/alerts/silences/{silence['id']}"
    viewer_user, viewer = await session(client, pool, "viewer")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer_user.id, server
    )
    assert (await client.get("/api/alerts/silences", headers=viewer)).status == 200
    assert (await client.get(path, headers=viewer)).status == 200
    refused = await client.post("/api/alerts/silences", json=cpu_silence(clock), headers=viewer)
    assert refused.status == 403
    assert_error_shape(await refused.json(), "forbidden")
    assert (
        await client.put(path, json=cpu_silence(clock, matchers=on_servers(server)), headers=viewer)
    ).status == 403
    assert (await client.delete(path, headers=viewer)).status == 403
    assert (await client.get("/api/alerts/silences")).status == 401
    assert (await client.delete(path)).status == 401
    assert (await (await client.get(path, headers=viewer)).json())["state"] == "active"


@pytest.fixture
async def fleet(pool: asyncpg.Pool) -> dict[str, uuid.UUID]:
    """Two servers: ``own`` and ``own2`` are granted to the operator of each test, ``other`` is not."""
    return {name: await make_server(pool) for name in ("own", "own2", "other")}


def matchers_for(form: str, fleet: dict[str, uuid.UUID]) -> list[dict[str, str]]:
    """The matchers of one form of silence in the grant table."""
    own, own2, other = (str(fleet[name]) for name in ("own", "own2", "other"))
    alertname = {"name": "alertname", "op": "=", "value": "HighCpu"}
    forms: dict[str, list[dict[str, str]]] = {
        "own server": [alertname, {"name": "server_id", "op": "=", "value": own}],
        "union of own servers": [alertname, {"name": "server_id", "op": "=~", "value": f"{own}|{own2}"}],
        "own server, every alert": [
            {"name": "alertname", "op": "=~", "value": ".+"},
            {"name": "server_id", "op": "=", "value": own},
        ],
        "other server": [alertname, {"name": "server_id", "op": "=", "value": other}],
        "union with another server": [
            alertname,
            {"name": "server_id", "op": "=~", "value": f"{own}|{other}"},
        ],
        "whole fleet": [{"name": "alertname", "op": "=~", "value": ".+"}],
        "one alert everywhere": [alertname],
        "server regex": [alertname, {"name": "server_id", "op": "=~", "value": f"{own[:8]}.*"}],
        "all but the other server": [alertname, {"name": "server_id", "op": "!=", "value": other}],
        "upper-case id": [alertname, {"name": "server_id", "op": "=~", "value": own.upper()}],
    }
    return forms[form]


@pytest.mark.parametrize(
    ("role", "form", "status"),
    [
        ("operator", "own server", 201),
        ("operator", "union of own servers", 201),
        ("operator", "own server, every alert", 201),
        ("operator", "other server", 403),
        ("operator", "union with another server", 403),
        ("operator", "whole fleet", 403),
        ("operator", "one alert everywhere", 403),
        ("operator", "server regex", 403),
        ("operator", "all but the other server", 403),
        ("operator", "upper-case id", 403),
        ("admin", "whole fleet", 201),
        ("admin", "other server", 201),
        ("admin", "server regex", 201),
    ],
)
async def test_a_non_admin_silences_only_servers_granted_to_them(
    client: Client,
    pool: asyncpg.Pool,
    clock: SteppedClock,
    fleet: dict[str, uuid.UUID],
    role: str,
    form: str,
    status: int,
) -> None:
    user, auth = await session(client, pool, role)  # type: ignore[arg-type]
    for name in ("own", "own2"):
        await pool.execute(
            "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, fleet[name]
        )
    body = cpu_silence(clock, matchers=matchers_for(form, fleet))
    response = await client.post("/api/alerts/silences", json=body, headers=auth)
    assert response.status == status, await response.text()
    if status == 403:
        answer = await response.json()
        assert_error_shape(answer, "forbidden")
        assert "server_id" in answer["error"]["message"] or "no access" in answer["error"]["message"]
        assert await pool.fetchval("SELECT count(*) FROM silences") == 0


@pytest.mark.parametrize(
    ("creator", "form", "status"),
    [
        ("admin", "whole fleet", 403),
        ("admin", "other server", 403),
        ("admin", "union with another server", 403),
        ("admin", "own server", 204),
        ("another operator", "own server", 204),
        ("another operator", "union of own servers", 204),
        ("the operator, since ungranted", "own server", 403),
    ],
)
async def test_a_non_admin_changes_only_silences_confined_to_their_servers(
    client: Client,
    pool: asyncpg.Pool,
    clock: SteppedClock,
    fleet: dict[str, uuid.UUID],
    creator: str,
    form: str,
    status: int,
) -> None:
    operator, operator_auth = await session(client, pool, "operator")
    colleague, colleague_auth = await session(client, pool, "operator")
    _, admin_auth = await session(client, pool, "admin")
    for user in (operator, colleague):
        for name in ("own", "own2"):
            await pool.execute(
                "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, fleet[name]
            )
    creator_auth = {"admin": admin_auth, "another operator": colleague_auth}.get(creator, operator_auth)
    silence = await create(
        client, creator_auth, cpu_silence(clock, starts_at=clock.t - 60, matchers=matchers_for(form, fleet))
    )
    if creator.startswith("the operator"):
        await pool.execute("DELETE FROM server_grants WHERE user_id = $1", operator.id)
    path = f"/api/alerts/silences/{silence['id']}"
    listed = await (await client.get("/api/alerts/silences", headers=operator_auth)).json()
    editable = {item["id"]: item["editable"] for item in listed["items"]}
    assert editable.get(silence["id"], False) is (status == 204)

    own_only = cpu_silence(clock, ends_at=clock.t + 2 * HOUR_S, matchers=matchers_for("own server", fleet))
    replaced = await client.put(path, json=own_only, headers=operator_auth)
    assert replaced.status == (200 if status == 204 else 403), await replaced.text()
    expired = await client.delete(path, headers=operator_auth)
    assert expired.status == status, await expired.text()
    state = (await (await client.get(path, headers=admin_auth)).json())["state"]
    assert state == ("expired" if status == 204 else "active")
    if status == 403:
        assert_error_shape(await expired.json(), "forbidden")
        # An admin may change any silence.
        assert (await client.delete(path, headers=admin_auth)).status == 204


async def test_a_non_admin_cannot_widen_a_silence_of_their_own(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock, fleet: dict[str, uuid.UUID]
) -> None:
    operator, auth = await session(client, pool, "operator")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", operator.id, fleet["own"]
    )
    silence = await create(client, auth, cpu_silence(clock, matchers=matchers_for("own server", fleet)))
    for form in ("whole fleet", "other server"):
        body = cpu_silence(clock, matchers=matchers_for(form, fleet))
        response = await client.put(f"/api/alerts/silences/{silence['id']}", json=body, headers=auth)
        assert response.status == 403, form
    stored = await get_silence(pool, uuid.UUID(silence["id"]))
    assert stored is not None and [m.value for m in stored.matchers][-1] == str(fleet["own"])


async def test_a_non_admin_sees_silences_that_may_touch_their_servers(
    client: Client, pool: asyncpg.Pool, clock: SteppedClock, fleet: dict[str, uuid.UUID]
) -> None:
    operator, auth = await session(client, pool, "operator")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", operator.id, fleet["own"]
    )
    _, admin = await session(client, pool, "admin")
    made = {
        form: await create(
            client, admin, cpu_silence(clock, comment=form, matchers=matchers_for(form, fleet))
        )
        for form in ("whole fleet", "own server", "other server", "union with another server")
    }
    listed = await (await client.get("/api/alerts/silences", headers=auth)).json()
    assert {item["comment"] for item in listed["items"]} == {
        "whole fleet",
        "own server",
        "union with another server",
    }
    hidden = await client.get(f"/api/alerts/silences/{made['other server']['id']}", headers=auth)
    assert hidden.status == 403
    everything = await (await client.get("/api/alerts/silences", headers=admin)).json()
    assert len(everything["items"]) == 4 and all(item["editable"] for item in everything["items"])


@pytest.mark.parametrize("role", ["operator", "admin"])
@pytest.mark.parametrize(
    ("starts_in_s", "lasts_s", "status"),
    [
        (0, 7 * 86400, 201),
        (0, 7 * 86400 + 1, 422),
        (-HOUR_S, 7 * 86400 + 1, 422),
        (30 * 86400, 8 * 86400, 422),
        (0, 365 * 86400, 422),
    ],
)
async def test_a_silence_lasts_at_most_the_configured_maximum(
    client: Client,
    pool: asyncpg.Pool,
    clock: SteppedClock,
    fleet: dict[str, uuid.UUID],
    role: str,
    starts_in_s: float,
    lasts_s: float,
    status: int,
) -> None:
    user, auth = await session(client, pool, role)  # type: ignore[arg-type]
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", user.id, fleet["own"]
    )
    starts_at = clock.t + starts_in_s
    body = cpu_silence(
        clock, starts_at=starts_at, ends_at=starts_at + lasts_s, matchers=matchers_for("own server", fleet)
    )
    response = await client.post("/api/alerts/silences", json=body, headers=auth)
    assert response.status == status, await response.text()
    if status == 422:
        answer = await response.json()
        assert [p["field"] for p in answer["error"]["details"]] == ["ends_at"]
        assert "alerts.max_silence_s" in answer["error"]["details"][0]["problem"]
        return
    # A replacement is held to the same maximum.
    longer = {**body, "ends_at": starts_at + lasts_s + 1}
    replaced = await client.put(
        f"/api/alerts/silences/{(await response.json())['id']}", json=longer, headers=auth
    )
    assert replaced.status == 422


async def test_the_maximum_comes_from_the_settings(settings: Settings, clock: SteppedClock) -> None:
    shorter = settings.model_copy(
        update={"alerts": settings.alerts.model_copy(update={"max_silence_s": HOUR_S})}
    )
    app = create_app(shorter)
    app[SILENCE_CLOCK] = clock
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        pool = test_client.app[STORES].pg
        _, auth = await session(test_client, pool, "admin")
        ok = await test_client.post("/api/alerts/silences", json=cpu_silence(clock), headers=auth)
        assert ok.status == 201
        too_long = cpu_silence(clock, ends_at=clock.t + HOUR_S + 1)
        assert (await test_client.post("/api/alerts/silences", json=too_long, headers=auth)).status == 422
