"""``/api/monitoring/…``: live servers, performance history, store statistics; filters, grants and roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from api.app import create_app
from api.keys import STORES
from api.monitoring import parse_step, parse_time
from collector.config.settings import Settings
from collector.result import ScrapeResult, TargetInfo
from collector.storage.history import HistoryBatch, HistoryStore, SetDigests, batch_from_results
from collector.storage.live import LiveWriter
from tests.api.app_client import serving
from tests.api.auth.conftest import Client, session
from tests.collector.storage.history_helpers import result
from tests.collector.storage.test_live import summarized
from tests.collector.test_summary import (
    exporter_gauges,
    failed_result,
    make_result,
    make_target,
    node_samples,
)

T0 = 1_767_225_600.0
"""2026-01-01T00:00:00Z: a whole minute, so 60 s buckets start on it."""
WEB = make_target("web-1:9100", env="prod", name="web-1")
DB = make_target("db-1:9100", env="prod")
LAB = make_target("lab-7:9100", env="lab")
FLEET = (WEB, DB, LAB)


def host(target: TargetInfo, time_s: float, *, cpu: float = 30.0, disk: float = 50.0) -> ScrapeResult:
    """A successful scrape of our exporter on ``target``."""
    return make_result(
        exporter_gauges(target, cpu=cpu, disk=disk) + node_samples(target=target), time_s, target
    )


async def seed_fleet(redis: aioredis.Redis, pool: asyncpg.Pool) -> None:
    """web-1 up (cpu 30), db-1 warning (disk 91), lab-7 down; each also a ``servers`` row, for grants."""
    await summarized(LiveWriter(redis))(
        [host(WEB, T0), host(DB, T0, disk=91.0), failed_result(T0, LAB, "timeout")]
    )
    for target in FLEET:
        await pool.execute(
            "INSERT INTO servers (id, name, hostname) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING",
            target.server_id,
            target.instance,
        )


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with serving(app) as test_client:
        yield test_client


@pytest.fixture
def pool(client: Client, app: web.Application) -> asyncpg.Pool:
    return app[STORES].pg


@pytest.fixture
async def fleet(client: Client, app: web.Application) -> None:
    await seed_fleet(app[STORES].redis, app[STORES].pg)


def assert_error_shape(body: object, code: str) -> None:
    """``body`` is the one error shape with ``code``."""
    assert isinstance(body, dict) and set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


@pytest.mark.usefixtures("fleet")
async def test_servers_lists_every_live_server_sorted_by_name(client: Client, pool: asyncpg.Pool) -> None:
    _, auth = await session(client, pool, "admin")
    response = await client.get("/api/monitoring/servers", headers=auth)
    assert response.status == 200
    body = await response.json()
    assert [(s["name"], s["status"]) for s in body["servers"]] == [
        ("db-1:9100", "warning"),
        ("lab-7:9100", "down"),
        ("web-1", "up"),
    ]
    assert body["total"] == 3
    web_1 = body["servers"][2]
    assert web_1["server_id"] == str(WEB.server_id) and web_1["summary"]["cpu"] == 30.0
    assert body["servers"][1]["last_error"] == "timeout"


@pytest.mark.usefixtures("fleet")
async def test_the_whole_listing_is_gzipped_for_clients_that_accept_it(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, auth = await session(client, pool, "admin")
    bodies = {}
    for accept, encoding in (("gzip, deflate", "gzip"), ("identity", None), ("br, gzip;q=0", None)):
        response = await client.get("/api/monitoring/servers", headers={**auth, "Accept-Encoding": accept})
        assert response.status == 200 and response.headers.get("Content-Encoding") == encoding, accept
        assert response.headers["Vary"] == "Accept-Encoding"
        bodies[accept] = await response.json()  # the client undoes the gzip
    assert bodies["gzip, deflate"] == bodies["identity"] == bodies["br, gzip;q=0"]
    assert bodies["identity"]["total"] == 3


@pytest.mark.usefixtures("fleet")
@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({"status": "down"}, ["lab-7:9100"]),
        ({"name": "WEB"}, ["web-1"]),
        ({"label": "env=prod"}, ["db-1:9100", "web-1"]),
        ({"label": "env=prod", "status": "warning"}, ["db-1:9100"]),
        ({"label": "rack=a"}, []),
    ],
)
async def test_servers_filter_by_status_name_and_label_in_query_or_body(
    client: Client, pool: asyncpg.Pool, filters: dict[str, str], names: list[str]
) -> None:
    _, admin = await session(client, pool, "admin")
    by_query = await (await client.get("/api/monitoring/servers", params=filters, headers=admin)).json()
    by_body = await (await client.post("/api/monitoring/servers", json=filters, headers=admin)).json()
    assert [s["name"] for s in by_query["servers"]] == names
    assert by_body == by_query


@pytest.mark.usefixtures("fleet")
async def test_a_viewer_sees_only_granted_servers(client: Client, pool: asyncpg.Pool) -> None:
    viewer, auth = await session(client, pool, "viewer")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, DB.server_id
    )
    body = await (await client.get("/api/monitoring/servers", headers=auth)).json()
    assert [s["server_id"] for s in body["servers"]] == [str(DB.server_id)]
    refused = await client.get(
        "/api/monitoring/performance", params={"serverId": str(WEB.server_id), "metric": "cpu"}, headers=auth
    )
    assert refused.status == 403
    assert_error_shape(await refused.json(), "forbidden")


async def test_anonymous_callers_get_401(client: Client) -> None:
    for path in ("/api/monitoring/servers", "/api/monitoring/performance", "/api/stats"):
        response = await client.get(path)
        assert response.status == 401, path
        assert_error_shape(await response.json(), "unauthorized")


@pytest.mark.parametrize(
    "path",
    ["/api/monitoring/redis-stats", "/api/monitoring/postgres-stats", "/api/monitoring/supabase-stats"],
)
async def test_store_stats_need_the_operator_role(client: Client, pool: asyncpg.Pool, path: str) -> None:
    _, viewer = await session(client, pool, "viewer")
    refused = await client.get(path, headers=viewer)
    assert refused.status == 403
    assert_error_shape(await refused.json(), "forbidden")
    _, operator = await session(client, pool, "operator")
    response = await client.get(path, headers=operator)
    assert response.status == 200
    body = await response.json()
    if path.endswith("redis-stats"):
        assert body["connected_clients"] >= 1 and body["version"]
    else:
        assert body["database_bytes"] > 0
        assert "server_stats" in {t["name"] for t in body["tables"]}


async def _insert_cpu(pool: asyncpg.Pool, target: TargetInfo, points: list[tuple[float, float]]) -> None:
    await pool.executemany(
        """INSERT INTO server_stats (server_id, cpu_usage, "timestamp") VALUES ($1, $2, $3)
           ON CONFLICT (server_id, "timestamp") DO UPDATE SET cpu_usage = excluded.cpu_usage""",
        [(target.server_id, value, datetime.fromtimestamp(t, UTC)) for t, value in points],
    )


@pytest.mark.usefixtures("fleet")
async def test_performance_averages_per_step_with_min_max_avg_and_current(
    client: Client, pool: asyncpg.Pool
) -> None:
    await _insert_cpu(pool, WEB, [(T0, 10.0), (T0 + 30, 20.0), (T0 + 60, 30.0), (T0 + 90, 40.0)])
    viewer, auth = await session(client, pool, "viewer")
    await pool.execute(
        "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)", viewer.id, WEB.server_id
    )
    params = {
        "serverId": str(WEB.server_id),
        "metric": "cpu",
        "from": "2026-01-01T00:00:00Z",
        "to": str(int(T0 + 120)),
        "step": "1m",
    }
    response = await client.get("/api/monitoring/performance", params=params, headers=auth)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["serverId"] == str(WEB.server_id) and body["metric"] == "cpu" and body["step"] == 60
    assert parse_time(body["from"]).timestamp() == T0 and parse_time(body["to"]).timestamp() == T0 + 120
    assert body["points"] == [[T0, 15.0], [T0 + 60, 35.0]]
    assert (body["min"], body["max"], body["avg"]) == (15.0, 35.0, 25.0)
    assert body["current"] == 30.0


@pytest.mark.usefixtures("fleet")
async def test_performance_of_load1_reads_the_servers_raw_history(client: Client, pool: asyncpg.Pool) -> None:
    def load(target: TargetInfo, at: float, value: float) -> ScrapeResult:
        return result(target, int(at * 1000), [value], (("node_load1", target.labels),))

    wave = [load(WEB, T0 + 30 * k, float(k)) for k in range(4)] + [load(DB, T0, 99.0)]
    batch = HistoryBatch()
    batch.extend(batch_from_results(wave, {}, SetDigests()))
    async with pool.acquire() as conn:
        await HistoryStore().write(conn, batch)
    _, auth = await session(client, pool, "admin")
    params = {
        "serverId": str(WEB.server_id),
        "metric": "load1",
        "from": str(int(T0)),
        "to": str(int(T0 + 120)),
    }
    response = await client.get("/api/monitoring/performance", params={**params, "step": "60"}, headers=auth)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["metric"] == "load1" and body["points"] == [[T0, 0.5], [T0 + 60, 2.5]], (
        "DB's series not mixed in"
    )
    assert (body["min"], body["max"]) == (0.5, 2.5)


@pytest.mark.usefixtures("fleet")
async def test_performance_of_a_server_without_history_is_empty(client: Client, pool: asyncpg.Pool) -> None:
    _, auth = await session(client, pool, "admin")
    params = {"serverId": str(LAB.server_id), "metric": "disk", "from": "0", "to": "60"}
    body = await (await client.get("/api/monitoring/performance", params=params, headers=auth)).json()
    assert body["points"] == [] and body["min"] is None and body["avg"] is None and body["current"] is None


PERF = {"serverId": str(WEB.server_id), "metric": "cpu"}


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        ("GET", "/api/monitoring/servers", {"status": "sideways"}, "status"),
        ("GET", "/api/monitoring/servers", {"label": "no-equals-sign"}, "label"),
        ("GET", "/api/monitoring/servers", {"colour": "red"}, "colour"),
        ("GET", "/api/monitoring/performance", {"metric": "cpu"}, "serverId"),
        ("GET", "/api/monitoring/performance", {**PERF, "serverId": "x"}, "serverId"),
        ("GET", "/api/monitoring/performance", {**PERF, "metric": "gpu"}, "metric"),
        ("GET", "/api/monitoring/performance", {**PERF, "from": "soon"}, "from"),
        ("GET", "/api/monitoring/performance", {**PERF, "step": "1x"}, "step"),
        ("GET", "/api/monitoring/performance", {**PERF, "step": "2y"}, "step"),
        ("GET", "/api/monitoring/performance", {**PERF, "from": "0", "to": "86400", "step": "1"}, "step"),
        ("GET", "/api/monitoring/performance", {**PERF, "from": "100", "to": "50"}, "to"),
        ("POST", "/api/monitoring/servers", {"status": "hunter2-secret"}, "status"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_without_echoing_it(
    client: Client, pool: asyncpg.Pool, method: str, path: str, params: dict[str, str], field: str
) -> None:
    _, auth = await session(client, pool, "admin")
    if method == "GET":
        response = await client.get(path, params=params, headers=auth)
    else:
        response = await client.post(path, json=params, headers=auth)
    assert response.status == 422
    body = await response.json()
    assert_error_shape(body, "invalid")
    assert field in {problem["field"] for problem in body["error"]["details"]}
    assert "hunter2" not in await response.text()


async def test_a_body_that_is_not_json_is_a_400(client: Client, pool: asyncpg.Pool) -> None:
    _, auth = await session(client, pool, "admin")
    response = await client.post("/api/monitoring/servers", data=b"{not json", headers=auth)
    assert response.status == 400
    assert_error_shape(await response.json(), "bad_request")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1767225600", T0),
        ("1767225600.5", T0 + 0.5),
        ("2026-01-01T00:00:00Z", T0),
        ("2026-01-01T09:00:00+09:00", T0),
    ],
)
def test_parse_time_reads_rfc3339_and_unix_seconds(text: str, expected: float) -> None:
    assert parse_time(text).timestamp() == expected


@pytest.mark.parametrize(
    "text", ["", "soon", "2026-01-01T00:00:00", "nan", "inf", "99999999999999", "0001-01-01T00:00:00+01:00"]
)
def test_parse_time_refuses_what_is_not_an_instant(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60", 60),
        ("30s", 30),
        ("1m", 60),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("1y", 31536000),
        ("2000ms", 2),
    ],
)
def test_parse_step_reads_seconds_and_durations(text: str, seconds: int) -> None:
    assert parse_step(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "2y", "-5", "1.5", "m", "400d", "500ms", "1s500ms", "1x"])
def test_parse_step_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_step(text)
