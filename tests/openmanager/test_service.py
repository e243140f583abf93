"""``openmanager run`` as a real process: comes up, reloads on SIGHUP, stops cleanly, races safely."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg

from collector.storage.migrate import available_migrations
from tests.api.auth.conftest import PASSWORD, make_user
from tests.openmanager.running import Service, health, request, wait_healthy


def test_run_comes_up_healthy_reloads_and_stops_cleanly(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service]
) -> None:
    service = Service(tmp_path, fresh_pg_dsn, redis_url)
    service_factory.append(service)
    body = wait_healthy(service.proc, service.port)
    components = body["components"]
    assert isinstance(components, dict)
    assert components["postgres"]["status"] == "ok" and components["redis"]["status"] == "ok"
    assert components["scheduler"]["status"] == "ok"
    alerts = components["scheduler"]["alerts"]
    assert alerts["status"] == "ok" and alerts["rules"] >= 6, "the engine runs with the default rules"

    service.targets.write_text("scrape_configs: [oops\n")
    service.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = health(service.port)
        assert result is not None
        if result[1]["components"]["scheduler"]["last_reload_ok"] is False:  # type: ignore[index]
            break
        time.sleep(0.1)
    else:
        raise AssertionError("an invalid target file was not reported by health")

    code, out, err = service.stop()
    assert code == 0, err
    assert "OpenManager is up" in out
    assert "Log in as 'admin' with password:" in out
    password = out.split("with password: ")[1].split()[0]
    assert password not in err, "the generated password leaked into the log"
    assert "target file invalid, keeping the running configuration" in err


def test_two_collectors_on_one_empty_database_both_come_up_and_migrate_once(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service]
) -> None:
    first = Service(tmp_path, fresh_pg_dsn, redis_url, "first")
    second = Service(tmp_path, fresh_pg_dsn, redis_url, "second")
    service_factory.extend([first, second])
    wait_healthy(first.proc, first.port)
    wait_healthy(second.proc, second.port)

    async def migrations_recorded() -> int:
        conn = await asyncpg.connect(fresh_pg_dsn)
        try:
            count: int = await conn.fetchval("SELECT count(*) FROM schema_migrations")
            return count
        finally:
            await conn.close()

    assert asyncio.run(migrations_recorded()) == len(available_migrations())
    outputs = [first.stop(), second.stop()]
    assert [code for code, _, _ in outputs] == [0, 0]
    assert sum("Log in as 'admin'" in out for _, out, _ in outputs) == 1


def test_a_server_registered_through_the_api_is_scraped(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service], exporter: str
) -> None:
    service = Service(tmp_path, fresh_pg_dsn, redis_url)
    service_factory.append(service)
    wait_healthy(service.proc, service.port)

    async def admin() -> str:
        pool = await asyncpg.create_pool(fresh_pg_dsn, min_size=1, max_size=1)
        try:
            return (await make_user(pool, "admin")).username
        finally:
            await pool.close()

    username = asyncio.run(admin())
    status, tokens = request(
        service.port, "POST", "/api/auth/login", {"username": username, "password": PASSWORD}
    )
    assert status == 200 and isinstance(tokens, dict)
    token = tokens["access_token"]
    body = {"name": "web-1", "address": exporter, "job": "servers", "scrape_interval": "5s"}
    status, created = request(service.port, "POST", "/api/servers", body, token)
    assert status == 201 and isinstance(created, dict), created
    deadline = time.monotonic() + 40
    while True:
        status, listing = request(service.port, "GET", "/api/monitoring/servers", token=token)
        assert status == 200 and isinstance(listing, dict)
        found = [s for s in listing["servers"] if s["server_id"] == created["id"]]
        if found and found[0]["status"] == "up":
            break
        assert time.monotonic() < deadline, f"registered server not scraped: {listing}"
        time.sleep(0.5)
