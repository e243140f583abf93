"""``openmanager run`` as a real process: comes up, reloads on SIGHUP, stops cleanly, races safely."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from collector.storage.migrate import available_migrations
from tests.api.auth.conftest import PASSWORD, make_user
from tests.ports import free_port

TARGETS = "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:9110']\n"


def _health(port: int) -> tuple[int, dict[str, object]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None


def _wait_healthy(proc: subprocess.Popen[str], port: int, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"service exited early: {proc.communicate()}"
        result = _health(port)
        if result is not None and result[0] == 200:
            return result[1]
        time.sleep(0.2)
    raise AssertionError("service did not become healthy")


class Service:
    """One ``openmanager run`` process on a free port."""

    def __init__(self, tmp_path: Path, pg_dsn: str, redis_url: str, name: str = "svc") -> None:
        self.port = free_port()
        self.targets = tmp_path / f"{name}-targets.yaml"
        self.targets.write_text(TARGETS)
        env = {
            **os.environ,
            "OM_LISTEN": f"127.0.0.1:{self.port}",
            "OM_POSTGRES_DSN": pg_dsn,
            "OM_REDIS_URL": redis_url,
            "OM_DATA_DIR": str(tmp_path / f"{name}-data"),
            "OM_TARGETS": str(self.targets),
            "OM_LOG_FORMAT": "json",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "openmanager", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[list[Service]]:
    services: list[Service] = []
    yield services
    for service in services:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.communicate()


def test_run_comes_up_healthy_reloads_and_stops_cleanly(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service]
) -> None:
    service = Service(tmp_path, fresh_pg_dsn, redis_url)
    service_factory.append(service)
    body = _wait_healthy(service.proc, service.port)
    components = body["components"]
    assert isinstance(components, dict)
    assert components["postgres"]["status"] == "ok" and components["redis"]["status"] == "ok"
    assert components["scheduler"]["status"] == "ok"

    service.targets.write_text("scrape_configs: [oops\n")
    service.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = _health(service.port)
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
    _wait_healthy(first.proc, first.port)
    _wait_healthy(second.proc, second.port)

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


def _request(
    port: int, method: str, path: str, body: object = None, token: str | None = None
) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_a_server_registered_through_the_api_is_scraped(
    tmp_path: Path, fresh_pg_dsn: str, redis_url: str, service_factory: list[Service], exporter: str
) -> None:
    service = Service(tmp_path, fresh_pg_dsn, redis_url)
    service_factory.append(service)
    _wait_healthy(service.proc, service.port)

    async def admin() -> str:
        pool = await asyncpg.create_pool(fresh_pg_dsn, min_size=1, max_size=1)
        try:
            return (await make_user(pool, "admin")).username
        finally:
            await pool.close()

    username = asyncio.run(admin())
    status, tokens = _request(
        service.port, "POST", "/api/auth/login", {"username": username, "password": PASSWORD}
    )
    assert status == 200 and isinstance(tokens, dict)
    token = tokens["access_token"]
    body = {"name": "web-1", "address": exporter, "job": "servers", "scrape_interval": "5s"}
    status, created = _request(service.port, "POST", "/api/servers", body, token)
    assert status == 201 and isinstance(created, dict), created
    deadline = time.monotonic() + 40
    while True:
        status, listing = _request(service.port, "GET", "/api/monitoring/servers", token=token)
        assert status == 200 and isinstance(listing, dict)
        found = [s for s in listing["servers"] if s["server_id"] == created["id"]]
        if found and found[0]["status"] == "up":
            break
        assert time.monotonic() < deadline, f"registered server not scraped: {listing}"
        time.sleep(0.5)
