"""``POST /api/v1/write``: who may push, what is refused with which status, and a real Prometheus pushing.

The refusal table runs against the application in-process with a receiver on a result queue of its own.
The end-to-end test runs ``openmanager run`` and Debian's Prometheus (loopback only) scraping our exporter
and remote-writing to the service with an API token of the write scope, then compares every raw sample
Prometheus stored with what landed in history, and each series' latest value with live state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from api.app import create_app
from api.auth.apitokens import create_api_token
from api.keys import AUTH_CONFIG, PRINCIPAL_CACHE, RECEIVER, STORES
from api.openapi import openapi_document
from api.remote_write import protocol_version
from collector.cluster.waves import CHANNEL as WAVES_CHANNEL
from collector.cluster.waves import decode_wave
from collector.config.settings import Settings
from collector.ingest.assembler import AssemblerOptions
from collector.ingest.receiver import ReceiverOptions, RemoteWriteReceiver
from collector.ingest.targets import identity_of
from collector.ingest.wire import encode_v1, encode_v2, snappy_encode
from collector.queue import ResultQueue
from collector.result import server_id_for
from collector.scrape.metrics import ScrapeMetrics
from collector.storage import keys
from collector.storage.live_read import latest_series
from collector.storage.raw_codec import unpack_values
from tests.api.auth.conftest import Client, bearer, make_user, session
from tests.openmanager.running import Service, start_exporter, wait_healthy
from tests.ports import free_port

NOW_MS = int(time.time() * 1000)
V2_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"


def labels(name: str, **extra: str) -> list[tuple[str, str]]:
    return sorted({"__name__": name, "job": "node", "instance": "pushed:9100", **extra}.items())


def body(*series: tuple[list[tuple[str, str]], list[tuple[int, float]]], version: int = 1) -> bytes:
    return snappy_encode(encode_v1(list(series)) if version == 1 else encode_v2(list(series)))


@pytest.fixture
def queue() -> ResultQueue:
    return ResultQueue(1000, ScrapeMetrics())


@pytest.fixture
async def client(settings: Settings, queue: ResultQueue) -> AsyncIterator[Client]:
    app = create_app(settings)
    options = ReceiverOptions(AssemblerOptions(settle_s=0, wait_s=0))
    app[RECEIVER] = RemoteWriteReceiver(queue, CollectorRegistry(), options)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        await test_client.app[STORES].redis.flushdb()
        yield test_client


@pytest.fixture
def pool(client: Client) -> asyncpg.Pool:
    pg: asyncpg.Pool = client.app[STORES].pg
    return pg


async def token(pool: asyncpg.Pool, role: str = "operator", scopes: tuple[str, ...] = ("write",)) -> str:
    user = await make_user(pool, role)  # type: ignore[arg-type]
    expires_at = datetime.now(UTC) + timedelta(days=1)
    _, secret = await create_api_token(pool, user.id, "push", role, expires_at, scopes)  # type: ignore[arg-type]
    return secret


async def push(client: Client, secret: str | None, payload: bytes, **headers: str) -> tuple[int, str]:
    sent = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", **headers}
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    response = await client.post("/api/v1/write", data=payload, headers=sent)
    return response.status, await response.text()


async def test_pushed_samples_become_a_scrape_result_of_their_server(
    client: Client, pool: asyncpg.Pool, queue: ResultQueue
) -> None:
    secret = await token(pool)
    status, text = await push(
        client, secret, body((labels("up"), [(NOW_MS, 1.0)]), (labels("load1"), [(NOW_MS, 0.5)]))
    )
    assert (status, text) == (204, "")
    client.app[RECEIVER].assembler.emit_due()
    [result] = await queue.get_batch(10, 0)
    assert (result.target.job, result.target.instance, result.timestamp_ms) == ("node", "pushed:9100", NOW_MS)
    assert dict(zip((name for name, _ in result.series), result.values, strict=True)) == {
        "up": 1.0,
        "load1": 0.5,
    }


@pytest.mark.parametrize(
    ("case", "status", "needle"),
    [
        ("no token", 401, "authentication required"),
        ("login session", 403, "write scope"),
        ("read-only token", 403, "write scope"),
        ("viewer token", 403, "operator role"),
        ("bad snappy", 400, "snappy"),
        ("not protobuf", 400, "not a valid prometheus.WriteRequest"),
        ("oversize body", 413, "larger than the limit"),
        ("oversize decoded", 413, "decompresses to"),
        ("gzip encoding", 415, "snappy"),
        ("other message", 415, "unknown remote-write message"),
        ("out of order", 400, "out of order sample"),
        ("duplicate", 400, "duplicate sample for timestamp"),
        ("far future", 400, "out of bounds"),
        ("v2 out of order", 400, "out of order sample"),
        ("resend", 204, ""),
    ],
)
async def test_refusals(
    client: Client, pool: asyncpg.Pool, make_settings: Any, case: str, status: int, needle: str
) -> None:
    secret: str | None = await token(pool)
    first = body((labels("load1"), [(NOW_MS, 1.0)]))
    assert (await push(client, secret, first))[0] == 204
    headers: dict[str, str] = {}
    payload = body((labels("load1"), [(NOW_MS + 15_000, 2.0)]))
    if case == "no token":
        secret = None
    elif case == "login session":
        _, auth = await session(client, pool, "admin")
        secret = auth["Authorization"].removeprefix("Bearer ")
    elif case == "read-only token":
        secret = await token(pool, "admin", ())
    elif case == "viewer token":
        secret = await token(pool, "viewer")
    elif case == "bad snappy":
        payload = b"\x05abc"
    elif case == "not protobuf":
        payload = snappy_encode(b"\xff" * 40)
    elif case == "oversize body":
        payload = b"\x00" * (8 << 20) + b"\x00"
    elif case == "oversize decoded":
        payload = snappy_encode(b"\x00" * ((64 << 20) + 1))
    elif case == "gzip encoding":
        headers["Content-Encoding"] = "gzip"
    elif case == "other message":
        headers["Content-Type"] = "application/x-protobuf;proto=example.Other"
    elif case == "out of order":
        payload = body((labels("load1"), [(NOW_MS - 15_000, 2.0)]))
    elif case == "duplicate":
        payload = body((labels("load1"), [(NOW_MS, 3.0)]))
    elif case == "far future":
        payload = body((labels("load1"), [(NOW_MS + 3_600_000, 2.0)]))
    elif case == "v2 out of order":
        payload = body((labels("load1"), [(NOW_MS - 15_000, 2.0)]), version=2)
        headers["Content-Type"] = V2_TYPE
    elif case == "resend":
        payload = first
    got, text = await push(client, secret, payload, **headers)
    assert got == status, text
    assert needle in text
    if status >= 400:
        assert set(json.loads(text)["error"]) == {"code", "message", "details"}


async def test_refused_version_1_request_stores_none_of_its_samples(
    client: Client, pool: asyncpg.Pool, queue: ResultQueue
) -> None:
    secret = await token(pool)
    assert (await push(client, secret, body((labels("a"), [(NOW_MS, 1.0)]))))[0] == 204
    mixed = body((labels("b"), [(NOW_MS + 1, 1.0)]), (labels("a"), [(NOW_MS - 1, 1.0)]))
    assert (await push(client, secret, mixed))[0] == 400
    # The good sample of the refused request was not recorded: sent again alone it is new, not a resend.
    assert (await push(client, secret, body((labels("b"), [(NOW_MS + 1, 2.0)]))))[0] == 204


async def test_version_2_writes_the_good_samples_and_reports_the_bad(
    client: Client, pool: asyncpg.Pool
) -> None:
    secret = await token(pool)
    assert (await push(client, secret, body((labels("a"), [(NOW_MS, 1.0)]))))[0] == 204
    payload = body((labels("a"), [(NOW_MS - 1, 1.0)]), (labels("b"), [(NOW_MS, 1.0)]), version=2)
    response = await client.post(
        "/api/v1/write",
        data=payload,
        headers={"Content-Type": V2_TYPE, "Content-Encoding": "snappy", **bearer(secret)},
    )
    assert response.status == 400
    assert response.headers["X-Prometheus-Remote-Write-Samples-Written"] == "1"
    ok = await client.post(
        "/api/v1/write",
        data=body((labels("c"), [(NOW_MS, 1.0)]), version=2),
        headers={"Content-Type": V2_TYPE, **bearer(secret)},
    )
    assert ok.status == 204
    assert ok.headers["X-Prometheus-Remote-Write-Samples-Written"] == "1"


async def test_api_process_without_collector_answers_503(settings: Settings) -> None:
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        secret = await token(client.app[STORES].pg)
        assert (await push(client, secret, body((labels("a"), [(NOW_MS, 1.0)]))))[0] == 503


async def test_pushes_are_not_audited_nor_rate_limited(make_settings: Any, queue: ResultQueue) -> None:
    app = create_app(make_settings(rate_limit_rps="1", rate_limit_burst="2"))
    app[RECEIVER] = RemoteWriteReceiver(queue, CollectorRegistry())
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        pg = client.app[STORES].pg
        secret = await token(pg)
        before = await pg.fetchval("SELECT count(*) FROM audit_log WHERE path = '/api/v1/write'")
        for i in range(5):
            assert (await push(client, secret, body((labels("a"), [(NOW_MS + i, 1.0)]))))[0] == 204
        assert await pg.fetchval("SELECT count(*) FROM audit_log WHERE path = '/api/v1/write'") == before


async def test_pushes_keep_the_callers_already_checked(client: Client, pool: asyncpg.Pool) -> None:
    # A push changes no account, role or token: it must not make every caller be looked up again.
    secret = await token(pool)
    _, viewer = await session(client, pool, "viewer")
    assert (await client.get("/api/tokens", headers=viewer)).status == 200
    assert (await push(client, secret, body((labels("a"), [(NOW_MS, 1.0)]))))[0] == 204
    cache = client.app[PRINCIPAL_CACHE]
    now = client.app[AUTH_CONFIG].clock()
    viewer_token = viewer["Authorization"].removeprefix("Bearer ")
    assert cache.get(cache.key(viewer_token), now) is not None
    assert cache.get(cache.key(secret), now) is not None


@pytest.mark.parametrize(
    ("content_type", "version"),
    [
        (None, 1),
        ("application/x-protobuf", 1),
        ("application/x-protobuf;proto=prometheus.WriteRequest", 1),
        ("application/x-protobuf; proto=io.prometheus.write.v2.Request", 2),
    ],
)
def test_protocol_version_from_content_type(content_type: str | None, version: int) -> None:
    assert protocol_version(content_type) == version


def test_route_is_in_the_openapi_document(settings: Settings) -> None:
    document = openapi_document(create_app(settings))
    operation = document["paths"]["/api/v1/write"]["post"]
    assert operation["x-minimum-role"] == "operator"
    assert "204" in operation["responses"]


# --- A real Prometheus pushing into a real service --------------------------------------------------------


def _prometheus_raw(
    port: int, selector: str, at_s: float
) -> dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]]:
    """Every raw sample of ``selector`` in the hour before ``at_s``, by series and timestamp."""
    query = urllib.parse.urlencode({"query": f"{selector}[1h]", "time": f"{at_s:.3f}"})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{query}", timeout=10) as response:
        data = json.loads(response.read())["data"]["result"]
    out: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]] = {}
    for entry in data:
        metric = dict(entry["metric"])
        name = metric.pop("__name__")
        key = (name, tuple(sorted(metric.items())))
        out[key] = {round(float(t) * 1000): float(v) for t, v in entry["values"]}
    return out


async def _history(
    dsn: str, server_ids: list[Any]
) -> dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]]:
    """Every sample in ``history_raw`` of these servers, by series and timestamp."""
    conn = await asyncpg.connect(dsn)
    try:
        series = {
            r["id"]: (r["metric"], tuple(sorted(json.loads(r["labels"]).items())))
            for r in await conn.fetch(
                "SELECT id, metric, labels FROM series WHERE server_id = ANY($1::uuid[])", server_ids
            )
        }
        rows = await conn.fetch(
            """SELECT r.ts, s.series_ids, r.vals
               FROM history_raw r JOIN series_sets s ON s.id = r.series_set_id
               WHERE r.server_id = ANY($1::uuid[])""",
            server_ids,
        )
    finally:
        await conn.close()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]] = {}
    for row in rows:
        ts_ms = round(row["ts"].timestamp() * 1000)
        for series_id, value in zip(row["series_ids"], unpack_values(row["vals"]), strict=True):
            out.setdefault(series[series_id], {})[ts_ms] = value
    return out


def _start_prometheus(
    prometheus: str, config: Path, tsdb: Path, port: int, log: BinaryIO
) -> subprocess.Popen[bytes]:
    """Debian's Prometheus on loopback ``port`` with ``config`` and its storage in ``tsdb``."""
    return subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
    )


def _wait_ready(port: int, timeout_s: float = 60) -> None:
    """Wait until Prometheus on ``port`` answers ``/-/ready`` (its storage is open)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


async def _relayed_identities(redis_url: str, seen: set[str]) -> None:
    """Collect the targets of every wave relayed to the alert engine, until cancelled."""
    redis = aioredis.from_url(redis_url)
    try:
        async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(keys.channel(WAVES_CHANNEL, redis))
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    results, _ = decode_wave(message["data"])
                    seen.update(result.target.identity for result in results)
    finally:
        await redis.aclose()


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "api"])
async def test_prometheus_remote_write_lands_in_history_and_live_as_prometheus_stored_it(
    tmp_path: Path, pg_dsn: str, redis_url: str, command: str
) -> None:
    """Into ``openmanager run`` (its collector's queue) and ``openmanager api`` (a pipeline of its own, whose
    waves go to the lease holder's alert engine over Redis)."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("Debian's prometheus package is not installed")
    exporter, address = start_exporter()
    settings_file = tmp_path / "openmanager.yml"
    settings_file.write_text("remote_write:\n  settle_s: 0.2\n  wait_s: 2\n")
    service = Service(
        tmp_path,
        pg_dsn,
        redis_url,
        targets="scrape_configs: []\n",
        env={"OM_CONFIG": str(settings_file)},
        command=command,
    )
    prom_proc: subprocess.Popen[bytes] | None = None
    log = (tmp_path / "prometheus.log").open("wb")
    relayed: set[str] = set()
    listening = asyncio.create_task(_relayed_identities(redis_url, relayed))
    try:
        wait_healthy(service.proc, service.port)
        pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=2)
        try:
            secret = await token(pool)
        finally:
            await pool.close()
        prom_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            f"""global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ['{address}']}}]
remote_write:
  - url: http://127.0.0.1:{service.port}/api/v1/write
    authorization: {{credentials: {secret}}}
    queue_config:
      {{batch_send_deadline: 500ms, max_samples_per_send: 200, min_backoff: 50ms, max_backoff: 500ms}}
"""
        )
        prom_proc = _start_prometheus(prometheus, config, tmp_path / "tsdb", prom_port, log)
        await asyncio.to_thread(_wait_ready, prom_port)
        await asyncio.sleep(8)
        prom_proc.terminate()  # Prometheus flushes its remote-write queue on the way out
        prom_proc.wait(timeout=60)
        # Started again on its storage, without scraping or pushing, to read what it stored.
        empty = tmp_path / "empty.yml"
        empty.write_text("global: {scrape_interval: 1m}\n")
        prom_proc = _start_prometheus(prometheus, empty, tmp_path / "tsdb", prom_port, log)
        await asyncio.to_thread(_wait_ready, prom_port)
        theirs = _prometheus_raw(prom_port, '{job="node"}', time.time())
        assert sum(len(v) for v in theirs.values()) > 500
        server_id = server_id_for("node", address)
        ours: dict[Any, dict[int, float]] = {}
        first_ts = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ours = await _history(pg_dsn, [server_id])
            if ours:
                # Prometheus sends what its write-ahead log holds from the queue's start on.
                first_ts = min(min(points) for points in ours.values())
                expected = sum(1 for points in theirs.values() for t in points if t >= first_ts)
                if sum(len(points) for points in ours.values()) >= expected:
                    break
            await asyncio.sleep(0.5)
        total = agree = 0
        for key, points in theirs.items():
            for t, value in points.items():
                if t < first_ts:
                    continue
                total += 1
                got = ours.get(key, {}).get(t)
                agree += got is not None and _same(got, value)
        print(f"{agree}/{total} samples agree")
        assert total > 300
        assert agree == total
        redis = aioredis.from_url(redis_url)
        try:
            latest = await latest_series(redis, identity_of("node", address))
        finally:
            await redis.aclose()
        live = {key: value for key, value, _ in latest}
        final_ts = max(max(points) for points in theirs.values())
        last = {key: points[final_ts] for key, points in theirs.items() if final_ts in points}
        assert len(last) > 50
        assert {key: live.get(key) for key in last}.keys() == last.keys()
        assert all(_same(live[key], value) for key, value in last.items())
        if command == "api":
            # The one process of this test holds no lease, so an API process relays its waves; a run
            # process holds the lease and evaluates its own.
            assert identity_of("node", address) in relayed
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        if prom_proc is not None and prom_proc.poll() is None:
            prom_proc.terminate()
            prom_proc.wait(timeout=30)
        service.stop()
        exporter.terminate()
        exporter.wait(timeout=10)
